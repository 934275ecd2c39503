"""A Hypothesis state machine for the pacer: settings, allocation, cycles and the scavenger, invariants after each step.

`PacerMachine` drives a model pacer (model.gc.pacer.Pacer) through a world
whose memory statistics move the way the runtime's do:

  * allocation takes free unreleased memory first and maps the rest
    (heap_alloc and heap_in_use grow by its size, heap_free shrinks or
    mapped_ready grows), then the heap trigger is tested;
  * a cycle ends with part of the live heap marked, new stack and heap scan
    sizes and a cons/mark estimate; sweeping then frees the rest (heap_alloc
    drops to what was marked, the freed bytes become free memory);
  * the background scavenger releases what the goals ask for, as far as free
    memory allows; non-heap memory (stacks, metadata) grows and shrinks;
  * GOGC takes values from off and 0 to 2**31-1, the memory limit values from
    below the live heap to none, absolute or relative to mapped memory;
  * sysmon ticks at any time since the last cycle ended.

Worlds come in scales (1 MiB to 4 GiB heaps), so limits below the heap
minimum, heaps far above it, stacks larger than the heap and overage all
occur. After every step every invariant of oracle.pacer.invariants is
checked; a failure carries the steps as a pacing trace (oracle.pacer.trace,
without expects), which `python -m oracle pacer-replay` replays to the same
broken invariant.

`campaign(seconds)` runs the machine seed after seed until the time is up;
each seed is one deterministic Hypothesis run.
"""

from __future__ import annotations

import copy
import functools
import time
from collections.abc import Callable
from typing import Any

import attrs
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, get_state_machine_test, initialize, precondition, rule

from model.gc.pacer import MAX_INT64, PHASE_MARK, PHASE_OFF, MemStats, Pacer
from oracle.common.machine import run_quietly
from oracle.pacer.invariants import violations
from oracle.pacer.trace import Header, PacerParams, dumps

KIB = 1 << 10
MIB = 1 << 20
SCALES = (1 * MIB, 16 * MIB, 256 * MIB, 4096 * MIB)
PERCENTS = (-1, 0, 1, 10, 25, 50, 100, 200, 400, 1000, (1 << 31) - 1)
ABSOLUTE_LIMITS = (0, 512 * KIB, 1 * MIB, 2 * MIB, 3 * MIB, 4 * MIB, 8 * MIB, 64 * MIB, 1024 * MIB)
LIMIT_FACTORS = (0.5, 0.9, 0.97, 1.0, 1.05, 1.5, 3.0)
PERIOD_NS = 10**9
PHYS_PAGE_BYTES = 4096
QUANTUM = 64 * KIB


class MachineFailure(AssertionError):
    """An invariant broke: the violations and the pacing trace that leads there."""

    def __init__(self, violations: list[str], trace: str) -> None:
        self.violations = violations
        self.trace = trace
        super().__init__("; ".join(violations[:3]) + "\ntrace:\n" + trace)

    @property
    def summary(self) -> str:
        return str(self).split("\ntrace:")[0]


fraction = st.floats(0.0, 1.0, allow_nan=False)


def guarded(step: Callable[..., None]) -> Callable[..., None]:
    """A step whose model raises (a refusal of a valid step, a crash) fails like a broken invariant,
    with the steps so far as its trace."""

    @functools.wraps(step)
    def run(self: PacerMachine, *args: Any, **kwargs: Any) -> None:
        try:
            step(self, *args, **kwargs)
        except MachineFailure:
            raise
        except Exception as e:
            assert self.header is not None or step.__name__ == "start"
            header = self.header or Header(PacerParams(PHYS_PAGE_BYTES, PERIOD_NS), {}, MemStats())
            raise MachineFailure([f"the model raised {type(e).__name__}: {e}"], dumps(header, self.ops)) from e

    return run


class PacerMachine(RuleBasedStateMachine):
    """The model pacer in a moving world (see the module comment)."""

    def __init__(self) -> None:
        super().__init__()
        self.pacer = Pacer.create()
        self.scale = MIB
        self.header: Header | None = None
        self.ops: list[dict[str, Any]] = []

    # Recording and checking.

    def record(self, op: dict[str, Any]) -> None:
        self.ops.append(op)

    def stats(self) -> MemStats:
        return copy.deepcopy(self.pacer.stats)

    def check(self, after: str, started: bool | None = None, since: int | None = None) -> None:
        broken = violations(self.pacer, after, started, since)
        if broken:
            assert self.header is not None
            raise MachineFailure(broken, dumps(self.header, self.ops))

    # The world.

    @initialize(
        scale=st.sampled_from(SCALES),
        percent=st.sampled_from(PERCENTS),
        marked=fraction, stack=fraction, globals_=fraction, free=fraction, non_heap=fraction,
        cons_mark=st.floats(0.0, 2.0, allow_nan=False),
    )
    @guarded
    def start(
        self, scale: int, percent: int, marked: float, stack: float, globals_: float, free: float,
        non_heap: float, cons_mark: float,
    ) -> None:
        self.scale = scale
        heap = int(marked * scale)
        state = {
            "gc_percent": percent, "memory_limit": MAX_INT64, "heap_marked": heap,
            "last_heap_scan": heap // 2, "last_stack_scan": int(stack * scale // 4),
            "globals_scan": int(globals_ * MIB), "cons_mark": cons_mark, "last_heap_goal": 0,
            "last_heap_in_use": 0, "cycles": 1,
        }
        heap_free = int(free * scale)
        stats = MemStats(
            heap_live=heap, heap_in_use=heap, heap_free=heap_free, heap_released=0, heap_alloc=heap,
            mapped_ready=heap + heap_free + int(non_heap * scale // 2),
        )
        params = PacerParams(PHYS_PAGE_BYTES, PERIOD_NS)
        self.header = Header(params, state, copy.deepcopy(stats))
        self.pacer = Pacer.restore(state, stats, PHYS_PAGE_BYTES, PERIOD_NS)
        self.record({"op": "commit", "sweep_done": True, "stats": stats.to_json()})
        self.pacer.commit(True)
        self.check("commit")

    @rule(percent=st.sampled_from(PERCENTS), sweep_done=st.booleans())
    @guarded
    def set_gogc(self, percent: int, sweep_done: bool) -> None:
        self.record({"op": "set_gogc", "percent": percent, "sweep_done": sweep_done})
        self.pacer.set_gc_percent(percent, sweep_done)
        self.check("set_gogc")

    @rule(
        how=st.sampled_from(("none", "read", "absolute", "relative")),
        absolute=st.sampled_from(ABSOLUTE_LIMITS), factor=st.sampled_from(LIMIT_FACTORS), sweep_done=st.booleans(),
    )
    @guarded
    def set_memory_limit(self, how: str, absolute: int, factor: float, sweep_done: bool) -> None:
        limit = {"none": MAX_INT64, "read": -1, "absolute": absolute,
                 "relative": int(self.pacer.stats.mapped_ready * factor)}[how]
        self.record({"op": "set_memory_limit", "bytes": limit, "sweep_done": sweep_done})
        self.pacer.set_memory_limit(limit, sweep_done)
        self.check("set_memory_limit")

    @rule(sweep_done=st.booleans())
    @guarded
    def commit(self, sweep_done: bool) -> None:
        self.record({"op": "commit", "sweep_done": sweep_done, "stats": self.pacer.stats.to_json()})
        self.pacer.commit(sweep_done)
        self.check("commit")

    @precondition(lambda m: m.pacer.phase == PHASE_OFF)
    @rule(size=fraction)
    @guarded
    def allocate(self, size: float) -> None:
        nbytes = max(8 * KIB, int(size * self.scale / 4)) // (8 * KIB) * (8 * KIB)
        s = self.pacer.stats
        reuse = min(nbytes, s.heap_free)
        moved = attrs.evolve(
            s, heap_free=s.heap_free - reuse, mapped_ready=s.mapped_ready + nbytes - reuse,
            heap_in_use=s.heap_in_use + nbytes, heap_alloc=s.heap_alloc + nbytes,
        )
        self.record({"op": "observe", "stats": moved.to_json()})
        self.pacer.set_stats(moved)
        self.record({"op": "alloc", "bytes": nbytes})
        started = self.pacer.allocate(nbytes)
        self.check("alloc", started)

    @precondition(lambda m: m.pacer.phase == PHASE_MARK)
    @rule(marked=fraction, stack=fraction, cons_mark=st.floats(0.0, 2.0, allow_nan=False))
    @guarded
    def finish_cycle(self, marked: float, stack: float, cons_mark: float) -> None:
        self._finish(marked, stack, cons_mark)

    @precondition(lambda m: m.pacer.phase == PHASE_OFF)
    @rule(marked=fraction, stack=fraction, cons_mark=st.floats(0.0, 2.0, allow_nan=False))
    @guarded
    def gc(self, marked: float, stack: float, cons_mark: float) -> None:
        self.record({"op": "gc_start", "kind": "manual"})
        self.pacer.start_cycle("manual")
        self.check("gc_start")
        self._finish(marked, stack, cons_mark)

    def _finish(self, marked: float, stack: float, cons_mark: float) -> None:
        s = self.pacer.stats
        kept = int(s.heap_alloc * marked)
        stack_scan = int(stack * self.scale // 4)
        line = {"op": "gc_end", "marked": kept, "heap_scan": kept // 2, "stack_scan": stack_scan,
                "heap_in_use": s.heap_in_use, "cons_mark": cons_mark}
        self.pacer.end_cycle(kept, kept // 2, stack_scan, s.heap_in_use, cons_mark)
        freed = s.heap_alloc - kept
        swept = attrs.evolve(
            self.pacer.stats, heap_live=kept, heap_alloc=kept, heap_in_use=s.heap_in_use - freed,
            heap_free=s.heap_free + freed,
        )
        self.pacer.set_stats(swept)
        self.record({**line, "stats": swept.to_json()})
        self.check("gc_end")

    @rule(since=st.integers(0, 3 * PERIOD_NS))
    @guarded
    def tick(self, since: int) -> None:
        self.record({"op": "tick", "since_gc_ns": since})
        started = self.pacer.tick(since)
        self.check("tick", started, since)

    @rule()
    @guarded
    def scavenge_background(self) -> None:
        need = self.pacer.scavenge_need()
        s = self.pacer.stats
        released = min(s.heap_free, -(-need // QUANTUM) * QUANTUM)
        moved = attrs.evolve(s, heap_free=s.heap_free - released, mapped_ready=s.mapped_ready - released,
                             heap_released=s.heap_released + released)
        self.record({"op": "observe", "stats": moved.to_json()})
        self.pacer.set_stats(moved)
        self.check("observe")

    @rule(change=st.floats(-1.0, 1.0, allow_nan=False))
    @guarded
    def non_heap(self, change: float) -> None:
        s = self.pacer.stats
        delta = int(change * self.scale / 8)
        mapped = max(s.heap_free + s.heap_alloc, s.mapped_ready + delta)
        moved = attrs.evolve(s, mapped_ready=mapped)
        self.record({"op": "observe", "stats": moved.to_json()})
        self.pacer.set_stats(moved)
        self.check("observe")


def run_settings(examples: int, steps: int = 40) -> settings:
    return settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
        phases=[Phase.generate, Phase.shrink],
        report_multiple_bugs=False,  # one failure, the first found, shrunk: MachineFailure, never a group
    )


def run_seed(s: int, examples: int = 50, steps: int = 40) -> MachineFailure | None:
    """One deterministic Hypothesis run; the (shrunk) failure it ends with, if any."""
    return run_quietly(seed(s)(get_state_machine_test(PacerMachine, settings=run_settings(examples, steps))),
                       MachineFailure)


@attrs.frozen
class Campaign:
    seconds: float
    seeds: int
    examples: int
    failure: MachineFailure | None
    failed_seed: int | None = None


def campaign(seconds: float, first_seed: int = 0, examples: int = 50) -> Campaign:
    """Seed after seed until `seconds` have passed (at least one run); stops at the first failure."""
    began = time.monotonic()
    s = first_seed
    runs = 0
    while True:
        failure = run_seed(s, examples)
        runs += 1
        if failure is not None:
            return Campaign(time.monotonic() - began, runs, runs * examples, failure, s)
        s += 1
        if time.monotonic() - began >= seconds:
            return Campaign(time.monotonic() - began, runs, runs * examples, None)
