"""A Hypothesis state machine for the small-object path: allocation on Ps, lazy sweep, cycles, tiny blocks.

`SpanPath` drives a model world (model.gc.cycle.GcWorld) of PROCS Ps, one
goroutine with two stack slots and GLOBALS globals, with tiny objects
allowed. Its steps: allocations of sizes from every path (zero, tiny, small
noscan and scan, headed, multi-page classes, large) on any P into a
global; bursts of garbage allocations of one size (they fill spans, so
caches refill, unswept spans get swept by allocation and the reclaimer
runs); drops and links; finalizers; whole cycles (gc) and cycles in steps
with allocation while marking; background sweeper steps and sweep
termination. Every step is recorded as a version 2 GC trace line, so a
failure comes with a trace that `python -m oracle gc-replay` replays.

Checked after every step: the heap's bookkeeping and tiny blocks
(model.gc.invariants.heap_violations), the span sets and caches
(span_set_violations: every in-use span in exactly one live set entry of
its class for the current sweepgen, a cached span in none, nothing unswept
once sweeping is done, swept spans without mark bits); right after mark
termination, every P's cache empty (flush_violations); from mark
termination to sweep termination, no step freeing a marked object and all
of them together freeing every unmarked one (LazySweep); at mark
termination, no reachable object unmarked (lost_objects).

`check(seeds, examples)` runs it; oracle.gc.seeded runs it against seeded
bugs of the model, each of which it must catch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, get_state_machine_test, invariant, precondition, rule

from model.gc import invariants as inv
from model.gc.cycle import PHASE_MARK, PHASE_OFF, PHASE_TERMINATION, GcWorld
from model.gc.results import ObjectId
from model.geometry import Geometry
from oracle.common.machine import run_quietly
from oracle.gc.machine import MachineFailure, finish_steps
from oracle.gc.trace import GcParams, dumps

PROCS = 2
GLOBALS = 6
SCRATCH = GLOBALS - 1  # the global bursts of garbage go through
PARAMS = GcParams(goroutines=1, stack_slots=2, globals=GLOBALS, procs=PROCS)
GEOMETRY = Geometry(chunk_pages=64)  # cheap page summaries; nothing checked depends on page numbers
# (size, noscan): every allocation path, and classes whose spans fill after a few objects.
SIZES: tuple[tuple[int, bool], ...] = (
    (0, True), (1, True), (3, True), (4, True), (8, True), (12, True), (15, True),
    (16, True), (48, True), (16, False), (24, False), (640, False), (3072, True), (9472, False),
    (40_000, True), (70_000, False),
)


class SpanPath(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        p = PARAMS
        self.world = GcWorld.create(p.goroutines, p.stack_slots, p.globals, procs=p.procs, tiny=True,
                                    geometry=GEOMETRY)
        self.ops: list[dict[str, Any]] = []
        self.next_id = 1
        self.held: dict[int, ObjectId] = {}  # global -> object, as the steps left them
        self.lazy: inv.LazySweep | None = None
        self.pending: list[str] = []  # violations found inside a step, reported by the invariant

    # Recording and failing.

    def check(self, violations: list[str], what: str) -> None:
        if violations:
            raise MachineFailure(what, violations, dumps(PARAMS, None, self.ops, version=2))

    def step(self, op: dict[str, Any]) -> None:
        self.ops.append(op)
        swept = self.world.take_sweeps()
        if self.lazy is not None:
            self.pending += [f"lazy sweep: {v}" for v in self.lazy.add(swept)]
            if self.world.heap.sweep_drained:
                self.pending += [f"sweep termination: {v}" for v in self.lazy.finish()]
                self.lazy = None

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    # Mutator steps.

    def running(self) -> bool:
        return self.world.phase != PHASE_TERMINATION

    @precondition(lambda self: self.running())
    @rule(p=st.integers(0, PROCS - 1), index=st.integers(0, GLOBALS - 2), kind=st.sampled_from(SIZES))
    def alloc(self, p: int, index: int, kind: tuple[int, bool]) -> None:
        size, noscan = kind
        ptrs = [] if noscan else [0, 8] if size >= 16 else [0]
        oid = self.new_id()
        self.world.alloc_global(index, oid, size, noscan, ptrs, p)
        self.held[index] = oid
        self.step({"op": "alloc", "global": index, "p": p, "id": oid, "size": size, "noscan": noscan, "ptrs": ptrs})

    @precondition(lambda self: self.running())
    @rule(p=st.integers(0, PROCS - 1), kind=st.sampled_from(SIZES), n=st.integers(1, 40))
    def burst(self, p: int, kind: tuple[int, bool], n: int) -> None:
        """n objects of one size, each dropped by the next: garbage that fills spans."""
        size, noscan = kind
        for _ in range(n if size <= 4096 else min(n, 3)):
            oid = self.new_id()
            self.world.alloc_global(SCRATCH, oid, size, noscan, [] if noscan else [0], p)
            self.step({"op": "alloc", "global": SCRATCH, "p": p, "id": oid, "size": size, "noscan": noscan,
                       "ptrs": [] if noscan else [0]})
        self.world.gstore(0, SCRATCH, None)
        self.step({"op": "gstore", "g": 0, "global": SCRATCH, "src": None})

    @precondition(lambda self: self.running() and bool(self.held))
    @rule(data=st.data())
    def drop(self, data: st.DataObject) -> None:
        index = data.draw(st.sampled_from(sorted(self.held)))
        del self.held[index]
        self.world.gstore(0, index, None)
        self.step({"op": "gstore", "g": 0, "global": index, "src": None})

    def holders(self) -> list[int]:
        return sorted(i for i, oid in self.held.items() if self.world.heap.objects[oid].slots)

    @precondition(lambda self: self.running() and bool(self.holders()))
    @rule(data=st.data(), clear=st.booleans())
    def link(self, data: st.DataObject, clear: bool) -> None:
        a = data.draw(st.sampled_from(self.holders()))
        b = data.draw(st.sampled_from(sorted(self.held)))
        off = data.draw(st.sampled_from(sorted(self.world.heap.objects[self.held[a]].slots)))
        steps: list[dict[str, Any]] = [{"op": "gload", "g": 0, "dst": 0, "global": a}]
        if not clear:
            steps.append({"op": "gload", "g": 0, "dst": 1, "global": b})
        steps += [{"op": "store", "g": 0, "dst": 0, "off": off, "src": None if clear else 1},
                  {"op": "copy", "g": 0, "dst": 0, "src": None}, {"op": "copy", "g": 0, "dst": 1, "src": None}]
        for op in steps:
            match op["op"]:
                case "gload":
                    self.world.gload(0, op["dst"], op["global"])
                case "store":
                    self.world.store(0, 0, off, op["src"])
                case "copy":
                    self.world.copy(0, op["dst"], None)
            self.step(op)

    def finalizable(self) -> list[int]:
        return sorted(i for i, oid in self.held.items()
                      if oid not in self.world.heap.finalizers and self.world.heap.objects[oid].size > 0)

    @precondition(lambda self: self.running() and bool(self.finalizable()))
    @rule(data=st.data())
    def set_finalizer(self, data: st.DataObject) -> None:
        index = data.draw(st.sampled_from(self.finalizable()))
        for op in ({"op": "gload", "g": 0, "dst": 0, "global": index}, {"op": "set_finalizer", "g": 0, "slot": 0},
                   {"op": "copy", "g": 0, "dst": 0, "src": None}):
            match op["op"]:
                case "gload":
                    self.world.gload(0, 0, index)
                case "set_finalizer":
                    self.world.set_finalizer(0, 0)
                case "copy":
                    self.world.copy(0, 0, None)
            self.step(op)

    @precondition(lambda self: self.world.phase == PHASE_OFF and bool(self.world.heap.finq))
    @rule()
    def run_finalizers(self) -> None:
        self.world.run_finalizers()
        self.step({"op": "run_finalizers"})

    # Collector steps.


    @precondition(lambda self: self.world.phase == PHASE_OFF)
    @rule()
    def gc(self) -> None:
        self.world.gc_start()
        self.step({"op": "gc_start"})
        self.mark_done()
        self.mark_termination()

    @precondition(lambda self: self.world.phase == PHASE_OFF)
    @rule()
    def gc_start(self) -> None:
        self.world.gc_start()
        self.step({"op": "gc_start"})

    @precondition(lambda self: self.world.phase == PHASE_MARK)
    @rule()
    def mark_done(self) -> None:
        """The collector's remaining root jobs, drain and mark_done."""
        for op in finish_steps(self.world):
            self.step(op)

    @precondition(lambda self: self.world.phase == PHASE_TERMINATION)
    @rule()
    def mark_termination(self) -> None:
        """Nothing reachable unmarked; then mark termination, after which every P's cache must be empty."""
        self.check(inv.lost_objects(self.world.heap), "lost object at mark termination")
        self.lazy = inv.LazySweep(inv.BeforeSweep.of(self.world.heap))
        self.world.mark_termination()
        self.step({"op": "mark_termination"})
        self.check(inv.flush_violations(self.world.heap), "caches not flushed at mark termination")

    @precondition(lambda self: self.world.phase == PHASE_OFF)
    @rule()
    def sweep_one(self) -> None:
        self.world.sweep_one()
        self.step({"op": "sweep_one"})

    @precondition(lambda self: self.world.phase == PHASE_OFF)
    @rule()
    def finish_sweep(self) -> None:
        self.world.finish_sweep()
        self.step({"op": "finish_sweep"})

    # Invariants after every step.

    @invariant()
    def consistent(self) -> None:
        heap = self.world.heap
        self.check(inv.heap_violations(heap), "heap")
        self.check(inv.span_set_violations(heap, self.world.phase != PHASE_OFF), "span sets")
        pending, self.pending = self.pending, []
        self.check(pending, "sweep")


def run_seed(s: int, examples: int, steps: int) -> MachineFailure | None:
    """One deterministic Hypothesis run (generation only); the failure it ends with, if any."""
    config = settings(max_examples=examples, stateful_step_count=steps, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck), print_blob=False, phases=[Phase.generate])
    return run_quietly(seed(s)(get_state_machine_test(SpanPath, settings=config)), MachineFailure)


def check(seeds: Sequence[int] = (0,), examples: int = 40, steps: int = 40) -> MachineFailure | None:
    """The machine over the seeds; the first failure, or None when every check held."""
    for s in seeds:
        failure = run_seed(s, examples, steps)
        if failure is not None:
            return failure
    return None
