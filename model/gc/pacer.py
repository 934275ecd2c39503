"""When a collection starts: the heap goal, the memory limit, the trigger, and a small state machine of cycles.

Go decides *when* to collect in its pacer (`gcControllerState`, mgcpacer.go),
in the trigger test (`gcTrigger.test`, mgc.go) and in sysmon's periodic check
(`forcegcperiod`, proc.go). This module mirrors those decisions; the
scavenger's goals, which the same commit computes, are in model.gc.scavgoal.

Pure functions, one per Go rule, each citing the Go function it mirrors:

  heap_minimum(gc_percent)                      setGCPercent's heap minimum
  gc_percent_heap_goal(marked, stack, globals, gc_percent, minimum)
                                                commit's GOGC goal
  sweep_distance_trigger(heap_live, sweep_done) commit's sweep-distance bound
  runway_bytes(cons_mark, heap, stack, globals) commit's runway
  memory_limit_heap_goal(limit, stats..., marked)
                                                memoryLimitHeapGoal
  heap_goal_and_min_trigger(...)                heapGoalInternal
  trigger_bounds(goal, min_trigger, marked)     trigger's minimum and maximum
  trigger_point(goal, min_trigger, marked, runway)
                                                trigger

Every byte count is a Go uint64: an int in [0, 2**64). Where Go's arithmetic
can wrap (a huge heap times a huge GOGC, GOGC=off's heap minimum), the model
wraps the same way (model.words.wrap). The functions also run on Z3 integer
terms (proofs/gc/pacer.py): comparisons are plain `if`s the proofs' explorer
decides, divisions go through `udiv`, and wrap leaves a symbolic value as it
is (the proofs assume no wrap-around, and say so).

The state machine (`Pacer`) holds what gcControllerState holds between
decisions: GOGC, the memory limit, the last cycle's marked heap and scan
sizes, the live heap, the committed goal, sweep distance and runway, and the
memory statistics the memory limit reads (MemStats). Its steps:

  commit(sweep_done)          gcControllerCommit: goal, runway, scavenger goals
  set_gc_percent / set_memory_limit
                              debug.SetGCPercent / debug.SetMemoryLimit
  allocate(n)                 heapLive grows; the heap trigger is tested
  tick(since_gc_ns)           sysmon's periodic test
  start_cycle(kind)           gcStart: the phase becomes mark, `triggered` is set
  end_cycle(...)              endCycle + resetLive + commit at mark termination

The module is one piece: the rules are the state machine's arithmetic and
the state machine is only the order in which Go applies them; the proofs
and the seeded pacing bugs address both through this one file.

Invariants (checked by oracle/pacer/machine.py after every step, proved where
Z3 reaches them in proofs/gc/pacer.py):
  * the goal is never below the marked heap, and never below the heap
    minimum unless the memory limit lowers it;
  * when the memory-limit goal is below the GOGC goal, it is the goal (the
    limit is applied after the heap minimum, and nothing raises it back);
  * the memory-limit goal plus non-heap memory and overage fits in the limit,
    whenever the limit leaves room for the marked heap and 1 MiB;
  * with GOGC on and no memory limit in force, the goal covers GOGC percent of
    everything the collector scans: marked heap, stacks and globals;
  * min trigger <= trigger <= max trigger <= goal;
  * after an allocation with no cycle running, the live heap is below the
    trigger (a cycle starts no later than the goal).
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from model.errors import InvalidOperation
from model.gc import scavgoal
from model.gc.scavgoal import NO_GOAL, ScavengeGoals, uint64_of_float
from model.words import MASK64, wrap

# Go 1.27's constants (mgcpacer.go, mgc.go, proc.go), amd64.
MAX_INT64 = (1 << 63) - 1  # GOMEMLIMIT=off is math.MaxInt64
GOGC_OFF = -1  # gcPercent < 0 means no GOGC goal (GOGC=off)
DEFAULT_GC_PERCENT = 100
DEFAULT_HEAP_MINIMUM = 4 << 20  # defaultHeapMinimum, with the 512 KiB experiment off (its default)
SWEEP_MIN_HEAP_DISTANCE = 1 << 20  # sweepMinHeapDistance: heap growth left for concurrent sweep
MIN_RUNWAY = 64 << 10  # heapGoalInternal's minimum distance from the trigger point to the goal
MEMORY_LIMIT_MIN_HEADROOM = 1 << 20  # memoryLimitMinHeapGoalHeadroom
MEMORY_LIMIT_HEADROOM_PERCENT = 3  # memoryLimitHeapGoalHeadroomPercent
TRIGGER_RATIO_DEN = 64  # triggerRatioDen
MIN_TRIGGER_RATIO_NUM = 45  # minTriggerRatioNum: the trigger is at least ~0.7 of the way to the goal
MAX_TRIGGER_RATIO_NUM = 61  # maxTriggerRatioNum: and at most ~0.95 of it (for small heaps)
GC_GOAL_UTILIZATION = 0.25  # gcGoalUtilization = gcBackgroundUtilization
FORCE_GC_PERIOD_NS = 2 * 60 * 10**9  # forcegcperiod: two minutes without a collection
NOT_TRIGGERED = MASK64  # Go's ^uint64(0) in `triggered`: no cycle is marking

PHASE_OFF = "off"
PHASE_MARK = "mark"
TRIGGER_KINDS = ("heap", "time", "manual")  # gcTriggerHeap, gcTriggerTime, gcTriggerCycle (runtime.GC)


def udiv(a: Any, b: Any) -> Any:
    """Go's unsigned division for non-negative operands; on a Z3 integer term, Z3's integer division
    (the floor, for a non-negative dividend and a positive divisor)."""
    if isinstance(a, int) and isinstance(b, int):
        return a // b
    return a / b


# ---- the pure rules ----


def heap_minimum(gc_percent: int) -> int:
    """The heap minimum for a GOGC value (setGCPercent): the default minimum scaled by GOGC/100.

    GOGC=off is stored as -1, which Go converts to uint64 before multiplying,
    so the product wraps: the result is a meaningless huge number, but only
    ever compared with an infinite GOGC goal, so it never matters."""
    as_uint64 = gc_percent & MASK64 if isinstance(gc_percent, int) else gc_percent  # Go's uint64(int32)
    return udiv(wrap(DEFAULT_HEAP_MINIMUM * as_uint64), 100)


def gc_percent_heap_goal(heap_marked: Any, stack_scan: Any, globals_scan: Any, gc_percent: Any, minimum: Any) -> Any:
    """The GOGC goal (commit): the marked heap plus GOGC percent of everything the next cycle scans
    (marked heap, goroutine stacks, globals), at least the heap minimum; NO_GOAL when GOGC is off."""
    goal = NO_GOAL
    if gc_percent >= 0:
        roots = wrap(heap_marked + stack_scan + globals_scan)
        goal = wrap(heap_marked + udiv(wrap(roots * gc_percent), 100))
    if goal < minimum:
        goal = minimum
    return goal


def sweep_distance_trigger(heap_live: Any, sweep_done: Any) -> Any:
    """The sweep-distance bound (commit): with sweeping still to do, the trigger and the goal stay
    at least SWEEP_MIN_HEAP_DISTANCE above the live heap of the commit; 0 once sweeping is done."""
    if sweep_done:
        return 0
    return wrap(heap_live + SWEEP_MIN_HEAP_DISTANCE)


def runway_bytes(cons_mark: float, last_heap_scan: int, last_stack_scan: int, globals_scan: int) -> int:
    """The runway (commit): bytes the mutator may allocate while the collector does the next cycle's
    expected scan work, from the cons/mark estimate weighted by the 25% goal utilization. Go evaluates it
    in float64 and converts to uint64 (as amd64 does: scavgoal.uint64_of_float)."""
    scan = last_heap_scan + last_stack_scan + globals_scan
    return uint64_of_float((cons_mark * (1 - GC_GOAL_UTILIZATION) / GC_GOAL_UTILIZATION) * float(wrap(scan)))


def memory_limit_heap_goal(
    memory_limit: Any, mapped_ready: Any, heap_free: Any, heap_alloc: Any, heap_marked: Any
) -> Any:
    """The goal the memory limit allows (memoryLimitHeapGoal).

    Non-heap memory is what counts against the limit and holds no heap
    objects: mapped and ready memory less free-unscavenged memory and object
    bytes. The goal is the limit less that and less any overage (mapped memory
    above the limit), less headroom (3%, at least 1 MiB; the goal is the
    headroom itself when less than twice it would be left), and never below
    the marked heap. When non-heap memory and overage alone reach the limit,
    the goal is the marked heap."""
    non_heap = mapped_ready - heap_free - heap_alloc
    overage = 0
    if mapped_ready > memory_limit:
        overage = mapped_ready - memory_limit
    if wrap(non_heap + overage) >= memory_limit:
        return heap_marked
    goal = memory_limit - (non_heap + overage)
    headroom = udiv(goal, 100) * MEMORY_LIMIT_HEADROOM_PERCENT
    if headroom < MEMORY_LIMIT_MIN_HEADROOM:
        headroom = MEMORY_LIMIT_MIN_HEADROOM
    if goal < headroom or goal - headroom < headroom:
        goal = headroom
    else:
        goal = goal - headroom
    if goal < heap_marked:
        goal = heap_marked
    return goal


def heap_goal_and_min_trigger(
    gc_percent_goal: Any, memory_limit_goal: Any, sweep_distance: Any, triggered: Any
) -> tuple[Any, Any]:
    """The heap goal and the lowest trigger it allows (heapGoalInternal).

    The smaller of the GOGC goal and the memory-limit goal. Only when the
    memory limit does not lower it: the sweep distance raises it (and bounds
    the trigger from below), and during a cycle it is at least MIN_RUNWAY
    above the live heap at which the cycle started."""
    goal = gc_percent_goal
    min_trigger = 0
    if memory_limit_goal < goal:
        goal = memory_limit_goal
    else:
        if sweep_distance > goal:
            goal = sweep_distance
        min_trigger = sweep_distance
        if triggered != NOT_TRIGGERED and goal < triggered + MIN_RUNWAY:
            goal = triggered + MIN_RUNWAY
    return goal, min_trigger


def trigger_bounds(goal: Any, min_trigger: Any, heap_marked: Any) -> tuple[Any, Any]:
    """The lowest and highest trigger (trigger): at least the marked heap, the sweep distance and
    45/64 of the way from the marked heap to the goal; at most 61/64 of the way, or the goal less the
    default heap minimum when that is higher (large heaps), and never below the lowest."""
    if heap_marked >= goal:
        return goal, goal
    low = min_trigger
    if low < heap_marked:
        low = heap_marked
    step = udiv(goal - heap_marked, TRIGGER_RATIO_DEN)
    if low < step * MIN_TRIGGER_RATIO_NUM + heap_marked:
        low = step * MIN_TRIGGER_RATIO_NUM + heap_marked
    high = step * MAX_TRIGGER_RATIO_NUM + heap_marked
    if goal > DEFAULT_HEAP_MINIMUM and goal - DEFAULT_HEAP_MINIMUM > high:
        high = goal - DEFAULT_HEAP_MINIMUM
    if high < low:
        high = low
    return low, high


def trigger_point(goal: Any, min_trigger: Any, heap_marked: Any, runway: Any) -> Any:
    """The trigger (trigger): the goal less the runway, kept within trigger_bounds."""
    low, high = trigger_bounds(goal, min_trigger, heap_marked)
    if heap_marked >= goal:
        return goal
    point = low
    if runway <= goal:
        point = goal - runway
    if point < low:
        point = low
    if point > high:
        point = high
    return point


# ---- the state machine ----


@attrs.define
class MemStats:
    """The memory statistics the memory limit and the scavenger read (gcController's heapInUse,
    heapFree, heapReleased, totalAlloc - totalFree, mappedReady), and heapLive.

    Invariant: heap_free + heap_alloc <= mapped_ready (Go re-reads until its
    snapshot holds it; a trace line that breaks it is refused)."""

    heap_live: int = 0  # heapLive: retained by the last cycle plus allocated since (whole spans)
    heap_in_use: int = 0  # bytes in in-use spans
    heap_free: int = 0  # free and not released
    heap_released: int = 0  # released to the OS
    heap_alloc: int = 0  # bytes of heap objects
    mapped_ready: int = 0  # every mapped byte in the Ready state (the memory limit's measure)

    FIELDS = ("heap_live", "heap_in_use", "heap_free", "heap_released", "heap_alloc", "mapped_ready")

    @property
    def heap_retained(self) -> int:
        """heapRetained: the heap's share of RSS, in-use plus free-unreleased bytes."""
        return self.heap_in_use + self.heap_free

    def check(self) -> None:
        for name in self.FIELDS:
            value = getattr(self, name)
            if not 0 <= value <= MASK64:
                raise InvalidOperation(f"stats: {name} {value} is not a uint64")
        if self.heap_free + self.heap_alloc > self.mapped_ready:
            raise InvalidOperation(
                f"stats: heap_free {self.heap_free} + heap_alloc {self.heap_alloc} exceed "
                f"mapped_ready {self.mapped_ready}"
            )

    def to_json(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.FIELDS}


@attrs.frozen
class Pacing:
    """What the pacer has decided at one moment: every output the trace format can expect."""

    heap_minimum: int
    gc_percent_heap_goal: int
    memory_limit_heap_goal: int
    heap_goal: int
    trigger_min: int
    trigger_max: int
    trigger: int
    runway: int
    sweep_dist_min_trigger: int

    def to_json(self) -> dict[str, int]:
        return attrs.asdict(self)


@attrs.define
class Pacer:
    """gcControllerState between decisions (see the module comment)."""

    gc_percent: int = DEFAULT_GC_PERCENT  # -1: GOGC=off
    memory_limit: int = MAX_INT64  # in [0, MAX_INT64]; MAX_INT64 is no limit
    heap_minimum: int = DEFAULT_HEAP_MINIMUM  # heap_minimum(gc_percent) since the last set_gc_percent
    heap_marked: int = 0  # marked by the last cycle
    last_heap_scan: int = 0  # scannable bytes of heap the last cycle scanned
    last_stack_scan: int = 0  # stack bytes the last cycle scanned
    globals_scan: int = 0  # scannable bytes of globals
    cons_mark: float = 0.0  # the cons/mark estimate (endCycle's, from measured CPU time)
    triggered: int = NOT_TRIGGERED  # heap_live when the running cycle started; NOT_TRIGGERED when off
    last_heap_goal: int = 0  # the heap goal when the last cycle ended (the scavenger's reference)
    last_heap_in_use: int = 0  # heap_in_use at the last mark termination
    stats: MemStats = attrs.Factory(MemStats)
    force_gc_period_ns: int = FORCE_GC_PERIOD_NS
    phys_page_bytes: int = 4096
    # Committed by the last commit (gcControllerCommit):
    gc_percent_goal: int = NO_GOAL  # gcPercentHeapGoal
    sweep_dist_min_trigger: int = 0  # sweepDistMinTrigger
    runway: int = 0  # runway
    scavenge: ScavengeGoals | None = None  # the scavenger's goals; None before the first commit paces it
    phase: str = PHASE_OFF
    cycle_kind: str | None = None  # what started the running cycle
    cycles: int = 0  # cycles ended

    @staticmethod
    def create(
        gc_percent: int = DEFAULT_GC_PERCENT,
        memory_limit: int = MAX_INT64,
        phys_page_bytes: int = 4096,
        force_gc_period_ns: int = FORCE_GC_PERIOD_NS,
    ) -> Pacer:
        """The pacer at start-up (gcControllerState.init): default heap minimum, GOGC and the limit set,
        committed with sweeping done (the first cycle has nothing to sweep), the scavenger not yet paced."""
        pacer = Pacer(force_gc_period_ns=force_gc_period_ns, phys_page_bytes=phys_page_bytes)
        pacer._set_gc_percent(gc_percent)
        pacer._set_memory_limit(memory_limit)
        pacer._commit(sweep_done=True, pace_scavenger=False)
        return pacer

    @staticmethod
    def restore(
        state: dict[str, Any], stats: MemStats, phys_page_bytes: int = 4096,
        force_gc_period_ns: int = FORCE_GC_PERIOD_NS,
    ) -> Pacer:
        """A pacer holding a runtime's inputs as a trace header gives them (settings, the last cycle's
        measurements, statistics), committed once with sweeping done to derive the rest."""
        pacer = Pacer.create(state["gc_percent"], state["memory_limit"], phys_page_bytes, force_gc_period_ns)
        for name in ("heap_marked", "last_heap_scan", "last_stack_scan", "globals_scan", "cons_mark",
                     "last_heap_goal", "last_heap_in_use", "cycles"):
            setattr(pacer, name, state[name])
        pacer.set_stats(stats)
        pacer._commit(sweep_done=True)
        return pacer

    # The decisions, read at any moment.

    def memory_limit_goal(self) -> int:
        s = self.stats
        return memory_limit_heap_goal(self.memory_limit, s.mapped_ready, s.heap_free, s.heap_alloc, self.heap_marked)

    def goal_and_min_trigger(self) -> tuple[int, int]:
        """heapGoalInternal on the committed state and the statistics now."""
        goal, min_trigger = heap_goal_and_min_trigger(
            self.gc_percent_goal, self.memory_limit_goal(), self.sweep_dist_min_trigger, self.triggered
        )
        return goal, min_trigger

    def heap_goal(self) -> int:
        """heapGoal: what /gc/heap/goal:bytes reads."""
        return self.goal_and_min_trigger()[0]

    def trigger(self) -> int:
        goal, min_trigger = self.goal_and_min_trigger()
        return trigger_point(goal, min_trigger, self.heap_marked, self.runway)

    def pacing(self) -> Pacing:
        goal, min_trigger = self.goal_and_min_trigger()
        low, high = trigger_bounds(goal, min_trigger, self.heap_marked)
        return Pacing(
            heap_minimum=self.heap_minimum,
            gc_percent_heap_goal=self.gc_percent_goal,
            memory_limit_heap_goal=self.memory_limit_goal(),
            heap_goal=goal,
            trigger_min=low,
            trigger_max=high,
            trigger=trigger_point(goal, min_trigger, self.heap_marked, self.runway),
            runway=self.runway,
            sweep_dist_min_trigger=self.sweep_dist_min_trigger,
        )

    def scavenge_need(self) -> int:
        """Bytes the background scavenger is asked to release now (model.gc.scavgoal.need_bytes)."""
        if self.scavenge is None:
            return 0
        return scavgoal.need_bytes(self.scavenge, self.stats.heap_retained, self.stats.mapped_ready)

    # Steps.

    def set_stats(self, stats: MemStats) -> None:
        """The runtime's statistics moved (allocation, sweeping, scavenging): take them as given."""
        stats.check()
        self.stats = stats

    def commit(self, sweep_done: bool) -> None:
        """gcControllerCommit: recompute the goal, the sweep distance and the runway, then pace the scavenger."""
        self._commit(sweep_done)

    def set_gc_percent(self, gc_percent: int, sweep_done: bool) -> int:
        """debug.SetGCPercent: any negative value is GOGC=off (-1); recommits. Returns the old value."""
        if not -(1 << 31) <= gc_percent < (1 << 31):
            raise InvalidOperation(f"GOGC {gc_percent} is not an int32")
        old = self.gc_percent
        self._set_gc_percent(gc_percent)
        self._commit(sweep_done)
        return old

    def set_memory_limit(self, limit: int, sweep_done: bool) -> int:
        """debug.SetMemoryLimit: a negative value only reads the limit; an unchanged one commits nothing.
        Returns the old value."""
        if not -(1 << 63) <= limit <= MAX_INT64:
            raise InvalidOperation(f"memory limit {limit} is not an int64")
        old = self.memory_limit
        self._set_memory_limit(limit)
        if limit >= 0 and limit != old:
            self._commit(sweep_done)
        return old

    def heap_trigger_fires(self) -> bool:
        """gcTrigger{kind: gcTriggerHeap}.test: no cycle running and the live heap at the trigger."""
        return self.phase == PHASE_OFF and self.stats.heap_live >= self.trigger()

    def time_trigger_fires(self, since_gc_ns: int) -> bool:
        """gcTrigger{kind: gcTriggerTime}.test: GOGC on, some cycle has ended, and more than the
        period has passed since it did. (GOGC=off with a memory limit has no periodic cycles.)"""
        return (
            self.phase == PHASE_OFF
            and self.gc_percent >= 0
            and self.cycles > 0
            and since_gc_ns > self.force_gc_period_ns
        )

    def allocate(self, nbytes: int) -> bool:
        """The mutator allocates: heapLive grows by nbytes (the spans' bytes), then the heap trigger
        is tested, as mallocgc does after an allocation that took a new span. True if a cycle started."""
        if nbytes < 0:
            raise InvalidOperation(f"allocate {nbytes} bytes")
        self.stats.heap_live = wrap(self.stats.heap_live + nbytes)
        if self.heap_trigger_fires():
            self.start_cycle("heap")
            return True
        return False

    def tick(self, since_gc_ns: int) -> bool:
        """sysmon's periodic check, since_gc_ns after the last cycle ended. True if a cycle started."""
        if since_gc_ns < 0:
            raise InvalidOperation(f"tick at {since_gc_ns} ns")
        if self.time_trigger_fires(since_gc_ns):
            self.start_cycle("time")
            return True
        return False

    def start_cycle(self, kind: str) -> None:
        """gcStart: the mark phase begins at the current live heap (startCycle's `triggered`)."""
        if kind not in TRIGGER_KINDS:
            raise InvalidOperation(f"unknown trigger kind {kind!r}")
        if self.phase != PHASE_OFF:
            raise InvalidOperation("a cycle is already running")
        self.phase = PHASE_MARK
        self.cycle_kind = kind
        self.triggered = self.stats.heap_live

    def end_cycle(
        self,
        marked: int,
        heap_scan: int,
        stack_scan: int,
        heap_in_use: int,
        cons_mark: float,
        globals_scan: int | None = None,
    ) -> int:
        """Mark termination: remember the goal (endCycle's lastHeapGoal), take the cons/mark estimate,
        reset the live heap to what was marked (resetLive), record heap_in_use for the scavenger, and
        commit with sweeping still to do. Returns the remembered goal."""
        if self.phase != PHASE_MARK:
            raise InvalidOperation("no cycle is running")
        for name, value in (("marked", marked), ("heap_scan", heap_scan), ("stack_scan", stack_scan),
                            ("heap_in_use", heap_in_use)):
            if not 0 <= value <= MASK64:
                raise InvalidOperation(f"{name} {value} is not a uint64")
        if not math.isfinite(cons_mark) or cons_mark < 0:
            raise InvalidOperation(f"cons/mark {cons_mark!r} is not a finite number >= 0")
        self.last_heap_goal = self.heap_goal()
        self.cons_mark = cons_mark
        self.heap_marked = marked
        self.stats.heap_live = marked
        self.last_heap_scan = heap_scan
        self.last_stack_scan = stack_scan
        if globals_scan is not None:
            self.globals_scan = globals_scan
        self.triggered = NOT_TRIGGERED
        self.phase = PHASE_OFF
        self.cycle_kind = None
        self.last_heap_in_use = heap_in_use
        self.cycles += 1
        self._commit(sweep_done=False)
        return self.last_heap_goal

    # Internals.

    def _set_gc_percent(self, gc_percent: int) -> None:
        # setGCPercent: negative means off; the heap minimum scales with GOGC.
        value = GOGC_OFF if gc_percent < 0 else gc_percent
        self.heap_minimum = heap_minimum(value)
        self.gc_percent = value

    def _set_memory_limit(self, limit: int) -> None:
        # setMemoryLimit: a negative value leaves the limit as it is.
        if limit >= 0:
            self.memory_limit = limit

    def _commit(self, sweep_done: bool, pace_scavenger: bool = True) -> None:
        # commit, then gcPaceScavenger with the goal trigger() returns (gcControllerCommit); at start-up
        # (gcControllerState.init) only commit runs.
        self.sweep_dist_min_trigger = sweep_distance_trigger(self.stats.heap_live, sweep_done)
        self.gc_percent_goal = gc_percent_heap_goal(
            self.heap_marked, self.last_stack_scan, self.globals_scan, self.gc_percent, self.heap_minimum
        )
        self.runway = runway_bytes(self.cons_mark, self.last_heap_scan, self.last_stack_scan, self.globals_scan)
        if not pace_scavenger:
            return
        self.scavenge = scavgoal.pace(
            self.memory_limit,
            self.heap_goal(),
            self.last_heap_goal,
            self.last_heap_in_use,
            self.stats.heap_retained,
            self.stats.mapped_ready,
            self.phys_page_bytes,
        )
