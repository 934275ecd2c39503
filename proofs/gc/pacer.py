"""Proofs of the pacer's rules (model/gc/pacer.py), run on the model's own functions with Z3 integers.

The pacer's rules are arithmetic on byte counts: the GOGC goal, the heap
minimum, the memory-limit goal, heapGoalInternal's choice between them and
the trigger's clamping. Each proof builds a model Pacer whose inputs are Z3
integer terms (the marked heap, stack and globals scan sizes, GOGC, the
limit, mapped-ready, free and object bytes, the live heap at the last
commit, whether sweeping was done and whether a cycle is marking), derives
the committed goal and sweep distance with the model's own functions, and
explores every path of Pacer.goal_and_min_trigger, trigger_bounds and
trigger_point (proofs.symbolic); the claim is checked on each path.

Reduction, stated once for all of them: the model's integers are Go's
uint64 values, and Go's arithmetic wraps modulo 2**64 where these proofs'
unbounded integers do not. Every input is assumed below 2**40 (1 TiB) and
GOGC below 2**22 (4 million percent), so that no sum or product of the rules
reaches 2**64: under those bounds wrap-around never happens and the
integers are exact. GOGC takes each value of GOGC_VALUES in turn (one
exploration each): with GOGC a constant every rule is linear arithmetic,
which Z3 decides quickly, where a symbolic GOGC times a symbolic heap is
not; the values cover 0 (no heap minimum), 1, the default and its
neighbours, large ones and the largest under the bound, and monotonicity in
GOGC is proved for each consecutive pair. Outside them (a terabyte heap with GOGC in the millions)
the model wraps as Go does, which the unit tests check concretely. The
cons/mark estimate and the runway are floats in Go; the runway enters here
as an arbitrary integer >= 0, so the trigger claims hold for every estimate.

  pacer_goal_covers_roots   GOGC on, the limit not binding: goal >= marked +
                            (marked + stacks + globals) * GOGC / 100, >= the heap
                            minimum, >= the sweep distance
  pacer_limit_binds         the memory-limit goal below the GOGC goal is the goal
  pacer_limit_goal_fits     the memory-limit goal is at least the marked heap, and
                            with room for the marked heap and 1 MiB, goal +
                            non-heap + overage <= limit
  pacer_trigger_order       min trigger <= trigger <= max trigger <= goal, for any runway
  pacer_goal_monotone       the goal never falls when GOGC, the marked heap, the
                            stacks or the globals rise, the limit's regime unchanged

Each control is a seeded pacing bug (MUTANTS here; oracle/pacer/mutants.py
runs the same bugs against the Go conformance traces and the state machine).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import z3

from model.gc import pacer
from model.gc.pacer import NOT_TRIGGERED, MemStats, Pacer
from proofs.core import Claim, Obligation, Proof
from proofs.mutation import Mutant
from proofs.symbolic import explore, path_claims

BOUND = 1 << 40  # every byte count below 1 TiB
GOGC_VALUES = (0, 1, 10, 50, 99, 100, 101, 200, 1000, (1 << 22) - 1)  # below 2**22: no product reaches 2**64
MIB = 1 << 20
PACER = "model/gc/pacer.py"


class Inputs:
    """One symbolic pacer state: its input terms and the facts they meet."""

    def __init__(self, percent: int, tag: str = "") -> None:
        def var(name: str) -> Any:
            return z3.Int(f"{name}{tag}")

        self.marked, self.stack, self.globals = var("marked"), var("stack"), var("globals")
        self.percent, self.limit = percent, var("limit")
        self.mapped, self.free, self.alloc = var("mapped"), var("free"), var("alloc")
        self.live, self.started, self.runway = var("live"), var("started"), var("runway")
        self.sweep_done, self.marking = z3.Bool(f"sweep_done{tag}"), z3.Bool(f"marking{tag}")

    def byte_counts(self) -> list[Any]:
        return [self.marked, self.stack, self.globals, self.limit, self.mapped, self.free, self.alloc,
                self.live, self.started, self.runway]

    def facts(self) -> list[Any]:
        out = [z3.And(v >= 0, v < BOUND) for v in self.byte_counts()]
        out.append(self.free + self.alloc <= self.mapped)
        return out

    def show(self) -> list[tuple[str, Any]]:
        names = ("marked", "stack", "globals", "limit", "mapped", "free", "alloc", "live", "started", "runway")
        return [(n, v) for n, v in zip(names, self.byte_counts(), strict=True)] + [
            ("sweep_done", self.sweep_done), ("marking", self.marking)]

    def pacer(self) -> Pacer:
        """A model Pacer holding these inputs, committed with the model's own rule functions."""
        minimum = pacer.heap_minimum(self.percent)
        p = Pacer(
            gc_percent=self.percent, memory_limit=self.limit, heap_minimum=minimum, heap_marked=self.marked,
            last_stack_scan=self.stack, globals_scan=self.globals,
            stats=MemStats(heap_live=self.live, heap_free=self.free, heap_alloc=self.alloc,
                           mapped_ready=self.mapped),
        )
        p.gc_percent_goal = pacer.gc_percent_heap_goal(self.marked, self.stack, self.globals, self.percent, minimum)
        p.sweep_dist_min_trigger = pacer.sweep_distance_trigger(self.live, self.sweep_done)
        p.triggered = z3.If(self.marking, self.started, z3.IntVal(NOT_TRIGGERED))
        p.runway = self.runway
        return p


def _goals(p: Pacer) -> tuple[Any, ...]:
    """The heap goal, the memory-limit goal and the GOGC goal, as the model computes them."""
    return p.goal_and_min_trigger()[0], p.memory_limit_goal(), p.gc_percent_goal


def _term(v: Any) -> Any:
    return z3.IntVal(v) if isinstance(v, int) else v


def _claim(label: str, inputs: list[Inputs], run: Callable[[], Any], holds: Callable[..., Any]) -> Claim:
    """Explore `run` on every path; on each, holds(*values) must follow from the path's condition."""
    facts = [f for i in inputs for f in i.facts()]
    paths = explore(run, facts)
    claims = path_claims(paths, lambda value: holds(*[_term(v) for v in value]))
    show = [s for i in inputs for s in i.show()]
    return Claim(f"{label} ({len(paths)} paths)", z3.And(claims), facts, show)


def goal_covers_roots() -> Iterator[Obligation]:
    """With GOGC on and the memory-limit goal not below the GOGC goal, the heap goal
    (Pacer.goal_and_min_trigger on a pacer committed by gc_percent_heap_goal and
    sweep_distance_trigger) is at least marked + (marked + stacks + globals) * GOGC / 100,
    at least the heap minimum (heap_minimum(GOGC)), and at least the sweep distance: the
    collector's headroom covers GOGC percent of everything it scans, stacks and globals
    included. For every input below the module's bounds, marking or not, and every GOGC of GOGC_VALUES."""
    for percent in GOGC_VALUES:
        i = Inputs(percent)
        roots = (i.marked + i.stack + i.globals) * percent / 100

        def holds(goal: Any, limit_goal: Any, gogc_goal: Any, *_: Any, i: Inputs = i, roots: Any = roots,
                  percent: int = percent) -> Any:
            minimum = 4 * MIB * percent // 100
            sweep = z3.If(i.sweep_done, 0, i.live + MIB)
            covered = z3.And(goal >= i.marked + roots, goal >= minimum, goal >= sweep)
            return z3.Implies(limit_goal >= gogc_goal, covered)

        yield _claim(f"GOGC {percent}: goal covers marked heap, stacks and globals", [i],
                     lambda i=i: _goals(i.pacer()), holds)


def limit_binds() -> Iterator[Obligation]:
    """When the memory-limit goal (memory_limit_heap_goal) is below the GOGC goal, the heap goal
    (Pacer.goal_and_min_trigger) is exactly the memory-limit goal: the limit is applied after the
    heap minimum and nothing (minimum, sweep distance, minimum runway) raises the goal back over it.
    For every GOGC of GOGC_VALUES."""

    def holds(goal: Any, limit_goal: Any, gogc_goal: Any, *_: Any) -> Any:
        return z3.Implies(limit_goal < gogc_goal, goal == limit_goal)

    for percent in GOGC_VALUES:
        i = Inputs(percent)
        yield _claim(f"GOGC {percent}: a binding memory-limit goal is the goal", [i],
                     lambda i=i: _goals(i.pacer()), holds)


def limit_goal_fits() -> Iterator[Obligation]:
    """memory_limit_heap_goal is never below the marked heap, and whenever the limit leaves room for
    the marked heap and 1 MiB after non-heap memory (mapped-ready less free and object bytes) and
    overage (mapped-ready above the limit), goal + non-heap + overage <= limit: under a memory limit,
    the memory the runtime plans to hold is within the limit."""
    i = Inputs(100)  # GOGC plays no part in the memory-limit goal
    non_heap = i.mapped - i.free - i.alloc
    overage = z3.If(i.mapped > i.limit, i.mapped - i.limit, 0)
    room = i.limit - non_heap - overage

    def run() -> Any:
        return (pacer.memory_limit_heap_goal(i.limit, i.mapped, i.free, i.alloc, i.marked),)

    def holds(goal: Any) -> Any:
        fits = z3.Implies(z3.And(room >= i.marked, room >= MIB), goal + non_heap + overage <= i.limit)
        return z3.And(goal >= i.marked, fits)

    yield _claim("memory-limit goal within the limit", [i], run, holds)


def trigger_order() -> Iterator[Obligation]:
    """For every committed state and every runway, the trigger and its bounds are ordered:
    min trigger <= trigger <= max trigger <= goal (Go throws if the trigger passes the goal).

    Proved in two steps, each on the model's own function: heap_goal_and_min_trigger, for every
    GOGC goal, memory-limit goal, sweep distance and cycle start, gives a lowest trigger at most the
    goal; and trigger_bounds and trigger_point, for every goal, lowest trigger at most the goal,
    marked heap and runway, give bounds and a trigger in that order. Together: the order holds
    for whatever heapGoalInternal hands the trigger (a single exploration of both has thousands of
    paths; apart, each has a few dozen)."""
    gogc_goal, limit_goal, sweep, started = (z3.Int(n) for n in ("gogc_goal", "limit_goal", "sweep", "started"))
    marking = z3.Bool("marking")
    facts = [z3.And(v >= 0, v < BOUND) for v in (gogc_goal, limit_goal, sweep, started)]

    def goal_step() -> Any:
        triggered = z3.If(marking, started, z3.IntVal(NOT_TRIGGERED))
        return pacer.heap_goal_and_min_trigger(gogc_goal, limit_goal, sweep, triggered)

    paths = explore(goal_step, facts)
    claims = [z3.Not(p.when()) if p.raised is not None else
              z3.Implies(p.when(), _term(p.value[1]) <= _term(p.value[0])) for p in paths]
    yield Claim(f"the lowest trigger is at most the goal ({len(paths)} paths)", z3.And(claims), facts,
                [("gogc_goal", gogc_goal), ("limit_goal", limit_goal), ("sweep", sweep), ("started", started)])

    goal, lowest, marked, runway = (z3.Int(n) for n in ("goal", "lowest", "marked", "runway"))
    facts = [z3.And(v >= 0, v < BOUND) for v in (goal, lowest, marked, runway)] + [lowest <= goal]

    def trigger_step() -> Any:
        low, high = pacer.trigger_bounds(goal, lowest, marked)
        return low, pacer.trigger_point(goal, lowest, marked, runway), high

    paths = explore(trigger_step, facts)
    claims = []
    for p in paths:
        if p.raised is not None:
            claims.append(z3.Not(p.when()))
            continue
        low, point, high = (_term(v) for v in p.value)
        claims.append(z3.Implies(p.when(), z3.And(low <= point, point <= high, high <= goal)))
    yield Claim(f"min trigger <= trigger <= max trigger <= goal ({len(paths)} paths)", z3.And(claims), facts,
                [("goal", goal), ("lowest", lowest), ("marked", marked), ("runway", runway)])


def _monotone(label: str, run: Callable[[], tuple[Any, Any]], facts: list[Any], show: list[Any]) -> Claim:
    paths = explore(run, facts)
    claims = [z3.Not(p.when()) if p.raised is not None else
              z3.Implies(p.when(), _term(p.value[0]) <= _term(p.value[1])) for p in paths]
    return Claim(f"{label} ({len(paths)} paths)", z3.And(claims), facts, show)


def goal_monotone() -> Iterator[Obligation]:
    """Raising GOGC, the marked heap, the stack scan or the globals scan, all else equal, never
    lowers the heap goal, as long as the memory limit binds at both ends or at neither.

    Proved in steps, each on two evaluations of one model function with inputs a <= b:
      * gc_percent_heap_goal (with heap_minimum) is monotone in GOGC, from each value of
        GOGC_VALUES to the next, and in the marked heap, stacks and globals at each GOGC;
      * memory_limit_heap_goal is monotone in the marked heap (its only input above);
      * heap_goal_and_min_trigger is monotone in the GOGC goal and the memory-limit goal
        together, the sweep distance and cycle start equal, when the limit binds at both ends
        (memory-limit goal below the GOGC goal) or at neither.
    Together they give the statement. Across the point where the limit starts to bind it is
    false in Go, and Z3 finds it so: outside the memory-limit regime the sweep distance raises the
    goal (up to the live heap + 1 MiB), inside it nothing does, so a higher GOGC that makes the
    limit bind can lower the goal by up to that distance. Nor is the goal monotone in the limit:
    the 3% headroom is taken as goal / 100 * 3 in integers, so one byte more of limit at a
    multiple of 100 lowers the memory-limit goal by 2 bytes."""
    m, stack, glob = z3.Int("marked"), z3.Int("stack"), z3.Int("globals")
    base = [z3.And(v >= 0, v < BOUND) for v in (m, stack, glob)]
    show: list[Any] = [("marked", m), ("stack", stack), ("globals", glob)]
    for a, b in itertools.pairwise(GOGC_VALUES):
        def gogc_pair(a: int = a, b: int = b) -> tuple[Any, Any]:
            return (pacer.gc_percent_heap_goal(m, stack, glob, a, pacer.heap_minimum(a)),
                    pacer.gc_percent_heap_goal(m, stack, glob, b, pacer.heap_minimum(b)))

        yield _monotone(f"GOGC goal monotone in GOGC {a} -> {b}", gogc_pair, base, show)

    m2, stack2, glob2 = z3.Int("marked_b"), z3.Int("stack_b"), z3.Int("globals_b")
    ordered = [*base, *[z3.And(v >= 0, v < BOUND) for v in (m2, stack2, glob2)], m <= m2, stack <= stack2,
               glob <= glob2]
    for percent in GOGC_VALUES:
        def sizes_pair(percent: int = percent) -> tuple[Any, Any]:
            minimum = pacer.heap_minimum(percent)
            return (pacer.gc_percent_heap_goal(m, stack, glob, percent, minimum),
                    pacer.gc_percent_heap_goal(m2, stack2, glob2, percent, minimum))

        yield _monotone(f"GOGC {percent}: GOGC goal monotone in marked heap, stacks and globals", sizes_pair,
                        ordered, [*show, ("marked_b", m2), ("stack_b", stack2), ("globals_b", glob2)])

    limit, mapped, free, alloc = (z3.Int(n) for n in ("limit", "mapped", "free", "alloc"))
    memory = [z3.And(v >= 0, v < BOUND) for v in (limit, mapped, free, alloc, m, m2)]
    memory += [free + alloc <= mapped, m <= m2]

    def limit_pair() -> tuple[Any, Any]:
        return (pacer.memory_limit_heap_goal(limit, mapped, free, alloc, m),
                pacer.memory_limit_heap_goal(limit, mapped, free, alloc, m2))

    yield _monotone("memory-limit goal monotone in the marked heap", limit_pair, memory,
                    [("limit", limit), ("mapped", mapped), ("free", free), ("alloc", alloc), ("marked", m),
                     ("marked_b", m2)])

    goals = [z3.Int(n) for n in ("gogc_a", "gogc_b", "limit_a", "limit_b", "sweep", "started")]
    gogc_a, gogc_b, limit_a, limit_b, sweep, started = goals
    marking = z3.Bool("marking")
    same_regime = (limit_a < gogc_a) == (limit_b < gogc_b)
    facts = [*[z3.And(v >= 0, v < BOUND) for v in goals], gogc_a <= gogc_b, limit_a <= limit_b, same_regime]

    def choice_pair() -> tuple[Any, Any]:
        triggered = z3.If(marking, started, z3.IntVal(NOT_TRIGGERED))
        return (pacer.heap_goal_and_min_trigger(gogc_a, limit_a, sweep, triggered)[0],
                pacer.heap_goal_and_min_trigger(gogc_b, limit_b, sweep, triggered)[0])

    yield _monotone("heap goal monotone in its two goals, the limit's regime unchanged", choice_pair, facts,
                    [(str(v), v) for v in goals])


MUTANTS: tuple[Mutant, ...] = (
    # pacer_goal_covers_roots
    Mutant(
        "goal_without_stacks", PACER, "gc_percent_heap_goal",
        "roots = wrap(heap_marked + stack_scan + globals_scan)", "roots = wrap(heap_marked + globals_scan)",
        "pacer_goal_covers_roots", "goroutine stacks are left out of the GOGC goal",
    ),
    Mutant(
        "goal_without_globals", PACER, "gc_percent_heap_goal",
        "roots = wrap(heap_marked + stack_scan + globals_scan)", "roots = wrap(heap_marked + stack_scan)",
        "pacer_goal_covers_roots", "globals are left out of the GOGC goal",
    ),
    Mutant(
        "heap_minimum_not_applied", PACER, "gc_percent_heap_goal", "    if goal < minimum:\n        goal = minimum\n",
        "", "pacer_goal_covers_roots", "the heap minimum is never applied: small heaps collect continuously",
    ),
    Mutant(
        "sweep_distance_ignored", PACER, "heap_goal_and_min_trigger",
        "        if sweep_distance > goal:\n            goal = sweep_distance\n", "",
        "pacer_goal_covers_roots", "the goal is not raised to the sweep distance (only the trigger is)",
    ),
    # pacer_limit_binds
    Mutant(
        "minimum_after_limit", PACER, "Pacer.goal_and_min_trigger",
        "return goal, min_trigger", "return max(goal, self.heap_minimum), min_trigger",
        "pacer_limit_binds", "the heap minimum is applied after the memory limit, raising a binding limit's goal",
    ),
    Mutant(
        "sweep_distance_after_limit", PACER, "Pacer.goal_and_min_trigger",
        "return goal, min_trigger", "return max(goal, self.sweep_dist_min_trigger), min_trigger",
        "pacer_limit_binds", "the sweep distance raises the goal in the memory-limit regime too",
    ),
    Mutant(
        "limit_comparison_inverted", PACER, "heap_goal_and_min_trigger",
        "if memory_limit_goal < goal:", "if memory_limit_goal > goal:",
        "pacer_limit_binds", "the larger of the GOGC and memory-limit goals wins",
    ),
    # pacer_limit_goal_fits
    Mutant(
        "overage_ignored", PACER, "memory_limit_heap_goal",
        "overage = mapped_ready - memory_limit", "overage = 0",
        "pacer_limit_goal_fits", "mapped memory over the limit is not taken off the memory-limit goal",
    ),
    Mutant(
        "headroom_added", PACER, "memory_limit_heap_goal", "goal = goal - headroom", "goal = goal + headroom",
        "pacer_limit_goal_fits", "the 3% headroom is added to the memory-limit goal instead of taken off",
    ),
    Mutant(
        "limit_goal_below_live_heap", PACER, "memory_limit_heap_goal",
        "    if goal < heap_marked:\n        goal = heap_marked\n", "",
        "pacer_limit_goal_fits", "the memory-limit goal may fall below the marked heap",
    ),
    # pacer_trigger_order
    Mutant(
        "trigger_not_capped", PACER, "trigger_point",
        "    if point > high:\n        point = high\n", "",
        "pacer_trigger_order", "the trigger is not capped at the maximum trigger when the runway is short",
    ),
    Mutant(
        "trigger_not_raised", PACER, "trigger_point",
        "    if point < low:\n        point = low\n", "",
        "pacer_trigger_order", "the trigger is not raised to the minimum trigger when the runway is long",
    ),
    Mutant(
        "max_trigger_below_min", PACER, "trigger_bounds",
        "    if high < low:\n        high = low\n", "",
        "pacer_trigger_order", "the maximum trigger is not raised to the minimum trigger (a high sweep distance)",
    ),
    # pacer_goal_monotone
    Mutant(
        "gogc_zero_is_off", PACER, "gc_percent_heap_goal", "if gc_percent >= 0:", "if gc_percent > 0:",
        "pacer_goal_monotone", "GOGC=0 is taken for GOGC=off: no GOGC goal at all",
    ),
    Mutant(
        "gogc_ratio_inverted", PACER, "gc_percent_heap_goal",
        "udiv(wrap(roots * gc_percent), 100)", "udiv(wrap(roots * 100), gc_percent)",
        "pacer_goal_monotone", "the scanned bytes are scaled by 100/GOGC instead of GOGC/100",
    ),
    Mutant(
        "min_runway_from_goal", PACER, "heap_goal_and_min_trigger",
        "goal = triggered + MIN_RUNWAY", "goal = goal + MIN_RUNWAY",
        "pacer_goal_monotone", "the minimum runway is added to the goal instead of to where the cycle started",
    ),
)

PROOFS = (
    Proof("pacer_goal_covers_roots", "with GOGC on and the limit not binding, the goal covers GOGC% of marked "
          "heap, stacks and globals, the heap minimum and the sweep distance", goal_covers_roots,
          "goal_without_stacks", expected_seconds=12.0),
    Proof("pacer_limit_binds", "a memory-limit goal below the GOGC goal is the heap goal", limit_binds,
          "minimum_after_limit", expected_seconds=6.0),
    Proof("pacer_limit_goal_fits", "the memory-limit goal is at least the marked heap and, with room, fits in the "
          "limit with non-heap memory and overage", limit_goal_fits, "overage_ignored", expected_seconds=2.0),
    Proof("pacer_trigger_order", "min trigger <= trigger <= max trigger <= goal, for every runway", trigger_order,
          "trigger_not_capped", expected_seconds=3.0),
    Proof("pacer_goal_monotone", "the goal never falls when GOGC, the marked heap, stacks or globals rise, the "
          "memory limit binding at both ends or neither", goal_monotone, "gogc_zero_is_off", expected_seconds=5.0),
)
