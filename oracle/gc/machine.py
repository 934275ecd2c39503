"""A Hypothesis state machine for concurrent collection cycles: model, fast and the invariants.

`make_machine(barrier, check_tricolor)` builds a RuleBasedStateMachine that
drives a model world (model.gc.cycle.GcWorld) with 2 goroutines of 3 stack
slots and 2 globals: it allocates objects of a few layouts (small scan and
noscan objects, one over 512 bytes with a malloc header, one large enough
for oblets), links them, moves pointers between stacks, globals and the
heap, sets finalizers, and runs collection cycles whose collector steps
(gc_start, one root job, one scan) interleave with the mutator's. Every
step is also written as a GC trace line (oracle.gc.trace), so a failure
can be shown, and replayed, as a trace.

Checked after every step: the heap's bookkeeping, no noscan object queued
or scanned, and (if `check_tricolor`) the weak tricolor invariant. At
gc_start, the model's stop-the-world cycle on a snapshot of the heap
equals fast's (marked, freed, finalize and scan counts). At mark
termination, no reachable object is unmarked (the model's own check, and
fast's mark of the heap at that moment must be contained in the model's),
and nothing is marked that was neither reachable at gc_start nor allocated
since. After sweep, sweep freed exactly the unmarked objects.

With the hybrid barrier every check holds. With either half of the
barrier removed, Hypothesis finds a cycle that loses an object and shrinks
it; `last_failure()` is then the shrunk trace.
"""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Sequence
from typing import Any

import attrs
from hypothesis import HealthCheck, Phase, seed, settings, target
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    get_state_machine_test,
    initialize,
    invariant,
    precondition,
    rule,
)

from fast.gc.mark import collect_snapshot as fast_collect
from model.gc import invariants as inv
from model.gc.barrier import HYBRID, Barrier
from model.gc.cycle import PHASE_MARK, PHASE_OFF, PHASE_TERMINATION, GcWorld, collect_snapshot
from model.gc.heap import GcHeap
from model.gc.results import HeapSpec, ObjectId, ObjectSpec
from model.geometry import Geometry
from oracle.gc.shrink import loses_object, shrink_trace
from oracle.gc.trace import GcParams, dumps

GOROUTINES, STACK_SLOTS, GLOBALS = 2, 3, 2
PARAMS = GcParams(GOROUTINES, STACK_SLOTS, GLOBALS)

# name -> (size, noscan, pointer slot offsets)
LAYOUTS: dict[str, tuple[int, bool, list[int]]] = {
    "pair": (16, False, [0, 8]),
    "one": (8, False, [0]),
    "leaf": (16, True, []),
    "headed": (640, False, [0, 632]),
    "big": (270336, False, [0, 131072, 262144]),
}
LAYOUT_CHOICES = ["pair", "pair", "one", "leaf", "leaf", "headed", "big"]

MUTATOR_RULES = frozenset({"alloc", "load", "store", "take", "put", "copy", "gload", "gstore", "set_finalizer"})
FINISH_AFTER = 3  # steps into a cycle before the machine may finish it in one go
MACHINE_GEOMETRY = Geometry(chunk_pages=64)  # cheap page summaries; marking does not depend on page numbers

_last_failure: list[str] = [""]


def last_failure() -> str:
    """The GC trace of the last failing run (after shrinking, the minimal one)."""
    return _last_failure[0]


def heap_spec(heap: GcHeap) -> HeapSpec:
    """The heap as a snapshot: roots are every pointer in globals, stacks and the finalizer queue."""
    objects = tuple(
        ObjectSpec(o.id, o.size, o.noscan, tuple(sorted(o.slots.items())))
        for o in sorted(heap.objects.values(), key=lambda o: str(o.id).zfill(12))
    )
    return HeapSpec(objects, tuple(heap.root_pointers()), tuple(sorted(heap.finalizers, key=str)))


def lose_object(world: GcWorld) -> tuple[list[dict[str, Any]], list[str]]:
    """From a state that breaks the weak tricolor invariant, let the mutator and collector finish adversarially.

    On a copy of the world: every goroutine whose stack is still grey clears
    each stack slot that holds a white object (a stack write, no barrier),
    then the collector runs every root job left, drains, and terminates.
    Returns those steps as trace lines and the objects lost at termination.
    """
    w = copy.deepcopy(world)
    marker = w.marker
    assert marker is not None
    steps: list[dict[str, Any]] = []
    for g, stack in enumerate(w.heap.stacks):
        if not marker.stack_is_grey(g):
            continue
        for slot, oid in enumerate(stack):
            if oid is not None and not w.heap.is_marked(oid):
                w.copy(g, slot, None)
                steps.append({"op": "copy", "g": g, "dst": slot, "src": None})
    steps += finish_steps(w)
    return steps, inv.lost_objects(w.heap)


def finish_steps(world: GcWorld) -> list[dict[str, Any]]:
    """Run every root job left, drain, mark_done; the steps as trace lines."""
    marker = world.marker
    assert marker is not None
    steps: list[dict[str, Any]] = []
    for root in marker.roots_left():
        marker.markroot(root)
        if root.startswith("stack:"):
            steps.append({"op": "markroot", "root": "stack", "g": int(root.split(":")[1])})
        else:
            steps.append({"op": "markroot", "root": root})
    if marker.queue:
        world.drain()
        steps.append({"op": "drain"})
    world.mark_done()
    steps.append({"op": "mark_done"})
    return steps


Start = tuple[HeapSpec, list[list[ObjectId | None]]]


@st.composite
def _start(draw: st.DrawFn, layouts: tuple[str, ...], params: GcParams, finalizers: bool) -> Start:
    n = draw(st.integers(1, 4))
    kinds = [LAYOUTS[draw(st.sampled_from(layouts))] for _ in range(n)]
    objects = []
    for i, (size, noscan, offsets) in enumerate(kinds):
        ptrs = tuple((off, draw(st.none() | st.integers(1, n))) for off in offsets)
        objects.append(ObjectSpec(i + 1, size, noscan, ptrs))
    ref = st.none() | st.integers(1, n) if n else st.none()
    roots = [r for r in draw(st.lists(ref, max_size=params.globals)) if r is not None]
    fins = draw(st.lists(st.integers(1, n), max_size=2, unique=True)) if n and finalizers else []
    stacks = [draw(st.lists(ref, min_size=params.stack_slots, max_size=params.stack_slots))
              for _ in range(params.goroutines)]
    return HeapSpec(tuple(objects), tuple(roots), tuple(fins)), stacks


def starts(layouts: tuple[str, ...], params: GcParams, finalizers: bool = True) -> st.SearchStrategy[Start]:
    """Where a machine run starts: a small heap (up to 4 objects), its roots in globals, and stack contents."""
    return _start(layouts, params, finalizers)


def make_machine(
    barrier: Barrier = HYBRID,
    check_tricolor: bool = True,
    params: GcParams = PARAMS,
    layouts: tuple[str, ...] = tuple(LAYOUT_CHOICES),
    finalizers: bool = True,
    mutators: frozenset[str] = MUTATOR_RULES,
) -> type[RuleBasedStateMachine]:
    """check_tricolor: fail at the first weak tricolor violation; else only when it leads to a lost object.

    `params` sets the goroutines, stack slots and globals; `layouts` the
    object layouts allocation draws from (LAYOUTS, repeated for weight);
    `finalizers` whether finalizers are set; `mutators` which mutator rules
    run (MUTATOR_RULES; take and put are the pop and push idioms). A small world (one goroutine,
    two slots, one global, two layouts, no finalizers) finds a broken
    barrier's lost object sooner.
    """
    GOROUTINES, STACK_SLOTS, GLOBALS = params.goroutines, params.stack_slots, params.globals
    PARAMS = params
    class GcCycles(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.world = GcWorld.create(GOROUTINES, STACK_SLOTS, GLOBALS, barrier, geometry=MACHINE_GEOMETRY)
            self.ops: list[dict[str, Any]] = []
            self.next_id = 1
            self.start_marked: set[ObjectId] = set()
            self.before_sweep: inv.BeforeSweep | None = None
            self.initial: HeapSpec | None = None
            self.initial_stacks: list[list[ObjectId | None]] | None = None
            self.cycle_began = 0
            self.exposure = 0

        # Recording and failing.

        def record(self, op: dict[str, Any]) -> None:
            self.ops.append(op)

        def check(self, violations: list[str], what: str) -> None:
            if violations:
                _last_failure[0] = dumps(PARAMS, self.initial, self.ops, self.initial_stacks)
                raise AssertionError(f"{what}: " + "; ".join(violations[:3]) + "\ntrace:\n" + _last_failure[0])

        @property
        def heap(self) -> GcHeap:
            return self.world.heap

        def filled(self) -> list[tuple[int, int]]:
            return [(g, s) for g in range(GOROUTINES) for s in range(STACK_SLOTS) if self.heap.stacks[g][s] is not None]

        def with_slots(self) -> list[tuple[int, int]]:
            return [(g, s) for g, s in self.filled() if self.heap.objects[self.heap.stacks[g][s]].slots]

        def can_move(self) -> bool:
            return STACK_SLOTS > 1 and bool(self.with_slots())

        def running(self) -> bool:
            return self.world.phase != PHASE_TERMINATION

        @initialize(begin=starts(layouts, params, finalizers))
        def start(self, begin: Start) -> None:
            _last_failure[0] = ""
            self.initial, self.initial_stacks = begin
            self.world = GcWorld.create(GOROUTINES, STACK_SLOTS, GLOBALS, barrier, *begin, geometry=MACHINE_GEOMETRY)
            self.next_id = len(self.initial.objects) + 1

        # Mutator steps.

        @precondition(lambda self: "alloc" in mutators and self.running())
        @rule(g=st.integers(0, GOROUTINES - 1), slot=st.integers(0, STACK_SLOTS - 1),
              layout=st.sampled_from(layouts))
        def alloc(self, g: int, slot: int, layout: str) -> None:
            size, noscan, offsets = LAYOUTS[layout]
            oid = self.next_id
            self.next_id += 1
            self.world.alloc(g, slot, oid, size, noscan, offsets)
            self.record({"op": "alloc", "g": g, "slot": slot, "id": oid, "size": size, "noscan": noscan,
                         "ptrs": offsets})

        @precondition(lambda self: "load" in mutators and self.running() and bool(self.with_slots()))
        @rule(data=st.data(), dst=st.integers(0, STACK_SLOTS - 1), k=st.integers(0, 2))
        def load(self, data: st.DataObject, dst: int, k: int) -> None:
            g, src = data.draw(st.sampled_from(self.with_slots()))
            offs = sorted(self.heap.objects[self.heap.stacks[g][src]].slots)
            off = offs[k % len(offs)]
            self.world.load(g, dst, src, off)
            self.record({"op": "load", "g": g, "dst": dst, "src": src, "off": off})

        @precondition(lambda self: "store" in mutators and self.running() and bool(self.with_slots()))
        @rule(data=st.data(), k=st.integers(0, 2), src=st.none() | st.integers(0, STACK_SLOTS - 1))
        def store(self, data: st.DataObject, k: int, src: int | None) -> None:
            g, dst = data.draw(st.sampled_from(self.with_slots()))
            offs = sorted(self.heap.objects[self.heap.stacks[g][dst]].slots)
            off = offs[k % len(offs)]
            self.world.store(g, dst, off, src)
            self.record({"op": "store", "g": g, "dst": dst, "off": off, "src": src})

        @precondition(lambda self: "take" in mutators and self.running() and self.can_move())
        @rule(data=st.data(), other=st.integers(0, STACK_SLOTS - 2), k=st.integers(0, 2))
        def take(self, data: st.DataObject, other: int, k: int) -> None:
            """Move a pointer from the heap to the stack: load it into another slot, clear the heap slot (a pop)."""
            g, src = data.draw(st.sampled_from(self.with_slots()))
            dst = (src + 1 + other) % STACK_SLOTS
            offs = sorted(self.heap.objects[self.heap.stacks[g][src]].slots)
            off = offs[k % len(offs)]
            self.world.load(g, dst, src, off)
            self.record({"op": "load", "g": g, "dst": dst, "src": src, "off": off})
            self.world.store(g, src, off, None)
            self.record({"op": "store", "g": g, "dst": src, "off": off, "src": None})

        @precondition(lambda self: "put" in mutators and self.running() and self.can_move())
        @rule(data=st.data(), k=st.integers(0, 2), other=st.integers(0, STACK_SLOTS - 2))
        def put(self, data: st.DataObject, k: int, other: int) -> None:
            """Move a pointer from another stack slot into the heap, then clear that slot (a push)."""
            g, dst = data.draw(st.sampled_from(self.with_slots()))
            src = (dst + 1 + other) % STACK_SLOTS
            offs = sorted(self.heap.objects[self.heap.stacks[g][dst]].slots)
            off = offs[k % len(offs)]
            self.world.store(g, dst, off, src)
            self.record({"op": "store", "g": g, "dst": dst, "off": off, "src": src})
            self.world.copy(g, src, None)
            self.record({"op": "copy", "g": g, "dst": src, "src": None})

        @precondition(lambda self: "copy" in mutators and self.running())
        @rule(g=st.integers(0, GOROUTINES - 1), dst=st.integers(0, STACK_SLOTS - 1),
              src=st.none() | st.integers(0, STACK_SLOTS - 1))
        def copy(self, g: int, dst: int, src: int | None) -> None:
            self.world.copy(g, dst, src)
            self.record({"op": "copy", "g": g, "dst": dst, "src": src})

        @precondition(lambda self: "gload" in mutators and self.running())
        @rule(g=st.integers(0, GOROUTINES - 1), dst=st.integers(0, STACK_SLOTS - 1), index=st.integers(0, GLOBALS - 1))
        def gload(self, g: int, dst: int, index: int) -> None:
            self.world.gload(g, dst, index)
            self.record({"op": "gload", "g": g, "dst": dst, "global": index})

        @precondition(lambda self: "gstore" in mutators and self.running())
        @rule(g=st.integers(0, GOROUTINES - 1), index=st.integers(0, GLOBALS - 1),
              src=st.none() | st.integers(0, STACK_SLOTS - 1))
        def gstore(self, g: int, index: int, src: int | None) -> None:
            self.world.gstore(g, index, src)
            self.record({"op": "gstore", "g": g, "global": index, "src": src})

        @precondition(lambda self: "set_finalizer" in mutators and finalizers and self.running() and any(
            self.heap.stacks[g][s] not in self.heap.finalizers for g, s in self.filled()))
        @rule(data=st.data())
        def set_finalizer(self, data: st.DataObject) -> None:
            choices = [(g, s) for g, s in self.filled() if self.heap.stacks[g][s] not in self.heap.finalizers]
            g, slot = data.draw(st.sampled_from(choices))
            self.world.set_finalizer(g, slot)
            self.record({"op": "set_finalizer", "g": g, "slot": slot})

        @precondition(lambda self: self.world.phase == PHASE_OFF and bool(self.heap.finq))
        @rule()
        def run_finalizers(self) -> None:
            self.world.run_finalizers()
            self.record({"op": "run_finalizers"})

        # Collector steps.

        @precondition(lambda self: self.world.phase == PHASE_OFF)
        @rule(scan_stacks=st.booleans())
        def gc_start(self, scan_stacks: bool) -> None:
            """Start a cycle; with scan_stacks, the collector scans every stack right away."""
            spec = heap_spec(self.heap)
            model_result = collect_snapshot(spec, MACHINE_GEOMETRY)
            fast_result = fast_collect(spec)
            if model_result != fast_result:
                self.check([f"model {model_result} != fast {fast_result}"], "model and fast disagree")
            self.start_marked = set(fast_result.marked)
            self.world.gc_start()
            self.record({"op": "gc_start"})
            self.cycle_began = len(self.ops)
            if scan_stacks:
                for g in range(GOROUTINES):
                    self.world.scan_stack(g)
                    self.record({"op": "markroot", "root": "stack", "g": g})

        def roots_left(self, stacks: bool) -> list[str]:
            if self.world.phase != PHASE_MARK or self.world.marker is None:
                return []
            return [r for r in self.world.marker.roots_left() if r.startswith("stack:") == stacks]

        @precondition(lambda self: bool(self.roots_left(stacks=False)))
        @rule(data=st.data())
        def markroot(self, data: st.DataObject) -> None:
            root = data.draw(st.sampled_from(self.roots_left(stacks=False)))
            self.world.markroot(root)
            self.record({"op": "markroot", "root": root})

        @precondition(lambda self: bool(self.roots_left(stacks=True)))
        @rule(data=st.data())
        def scan_stack(self, data: st.DataObject) -> None:
            root = data.draw(st.sampled_from(self.roots_left(stacks=True)))
            g = int(root.split(":")[1])
            self.world.scan_stack(g)
            self.record({"op": "markroot", "root": "stack", "g": g})

        @precondition(lambda self: self.world.phase == PHASE_MARK and bool(self.world.marker
                                                                           and self.world.marker.queue))
        @rule()
        def drain_one(self) -> None:
            self.world.drain(1)
            self.record({"op": "drain", "n": 1})

        @precondition(lambda self: self.world.phase == PHASE_MARK and len(self.ops) - self.cycle_began >= FINISH_AFTER)
        @rule()
        def finish_cycle(self) -> None:
            """The collector's remaining steps at once (offered once the cycle has had a few steps)."""
            for step in finish_steps(self.world):
                self.record(step)
            marked = self.heap.marked_ids()
            self.check(inv.lost_objects(self.heap), "lost object at mark termination")
            end = fast_collect(heap_spec(self.heap))
            self.check([f"fast marks {sorted(set(end.marked) - marked)} that the model left white"]
                       if not set(end.marked) <= marked else [], "lost object (fast)")
            extra = marked - self.start_marked - self.world.allocated_in_cycle
            self.check([f"marked {sorted(extra)}, unreachable at gc_start"] if extra else [], "marked too much")
            before = inv.BeforeSweep.of(self.heap)
            result = self.world.sweep()
            self.record({"op": "sweep"})
            self.check(inv.sweep_violations(before, result, self.heap), "sweep")

        def teardown(self) -> None:
            # Guide the search towards states where black nodes point to white objects: one
            # unshaded deletion away from a lost object when the barrier is broken.
            target(float(self.exposure), label="black-to-white pointers")

        # Invariants after every step.

        @invariant()
        def heap_consistent(self) -> None:
            self.check(inv.heap_violations(self.heap), "heap")

        @invariant()
        def noscan_never_scanned(self) -> None:
            if self.world.marker is not None:
                self.check(inv.noscan_violations(self.world.marker), "noscan")

        @invariant()
        def weak_tricolor(self) -> None:
            violations = inv.weak_tricolor_violations(self.world)
            self.exposure = max(self.exposure, inv.black_to_white_edges(self.world))
            if not violations:
                return
            if check_tricolor:
                self.check(violations, "weak tricolor invariant")
            steps, lost = lose_object(self.world)
            if lost:
                self.ops.extend(steps)
                self.check(lost, f"lost object (after: {violations[0]})")

    GcCycles.__name__ = f"GcCycles_{barrier.name.replace('-', '_')}"
    return GcCycles


# Hunting a broken barrier's lost object.

SMALL_WORLD = GcParams(goroutines=1, stack_slots=2, globals=1)
SMALL_LAYOUTS = ("pair", "leaf")
SMALL_MUTATORS = frozenset({"take", "put", "copy", "gload", "gstore"})


@attrs.frozen
class Hunt:
    """A lost object the machine found: the seed, the message, the trace as found and shrunk."""

    seed: int
    message: str
    found: str
    trace: str

    @property
    def steps(self) -> int:
        return self.trace.count("\n") - 1


def hunt(
    barrier: Barrier,
    seeds: Sequence[int] = tuple(range(20)),
    examples: int = 200,
    params: GcParams = SMALL_WORLD,
) -> Hunt | None:
    """Run the machine in a small world until it loses an object; one Hypothesis run per seed.

    The machine fails only on a lost object: a weak tricolor violation from
    which the adversarial ending (lose_object) loses one. Hypothesis only
    generates here; the failing trace is then shrunk by oracle.gc.shrink to
    a 1-minimal trace that still loses an object. Each run is deterministic
    for its seed. Returns None if no seed finds a lost object.
    """
    machine = make_machine(barrier, False, params, SMALL_LAYOUTS, finalizers=False, mutators=SMALL_MUTATORS)
    config = settings(
        max_examples=examples,
        stateful_step_count=30,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
        phases=[Phase.generate],
    )
    for s in seeds:
        test = seed(s)(get_state_machine_test(machine, settings=config))
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                test()
        except AssertionError as e:
            found = last_failure()
            shrunk = shrink_trace(found, loses_object(barrier))
            return Hunt(s, str(e).split("\ntrace:")[0], found, shrunk)
    return None


def check_hybrid(seeds: Sequence[int] = (0,), examples: int = 100, params: GcParams = PARAMS) -> str | None:
    """Run the full machine (every rule, finalizers, the tricolor check) with the hybrid barrier.

    Returns None when every run passes, else the failure and its trace.
    """
    machine = make_machine(HYBRID, True, params)
    config = settings(
        max_examples=examples,
        stateful_step_count=40,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    for s in seeds:
        test = seed(s)(get_state_machine_test(machine, settings=config))
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                test()
        except AssertionError as e:
            return f"seed {s}: {e}"
    return None
