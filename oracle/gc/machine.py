"""A Hypothesis state machine for concurrent collection cycles: model, fast and the invariants.

`GcCycles` drives a model world (model.gc.cycle.GcWorld), by default of 2
goroutines with 3 stack slots and 2 globals: it allocates objects of a few
layouts (small scan and noscan objects, one over 512 bytes with a malloc
header, one large enough for oblets), links them, moves pointers between
stacks, globals and the heap, sets finalizers, and runs collection cycles
whose collector steps (gc_start, one root job, one scan) interleave with
the mutator's. Every step is also written as a GC trace line
(oracle.gc.trace), so a failure can be shown, and replayed, as a trace.

What a run checks and in which world is a MachineConfig (the barrier,
whether the weak tricolor invariant fails a run at once, the world's size,
the layouts, finalizers, which mutator rules run); `machine_class(config)`
makes the subclass bound to one. Its RunLog counts the examples and keeps
the trace of the last failure, which a failure also carries
(MachineFailure.trace).

Checked after every step: the heap's bookkeeping, no noscan object queued
or scanned, and (if `check_tricolor`) the weak tricolor invariant. At
gc_start, the model's stop-the-world cycle on a snapshot of the heap
equals fast's (marked, freed, finalize and scan counts). At mark
termination, no reachable object is unmarked (the model's own check, and
fast's mark of the heap at that moment must be contained in the model's),
and nothing is marked that was neither reachable at gc_start nor allocated
since. After sweep, sweep freed exactly the unmarked objects.

With the hybrid barrier every check holds. With either half of the barrier
removed, `hunt` finds a cycle that loses an object and shrinks its trace.

The module is one piece: the rules, their declaration per configuration
(_world_rules, which must keep the rules' names and arguments in step with
the methods) and the runs that use them (hunt, check_hybrid) are one state
machine; apart, each would only be read with the others open.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import attrs
from hypothesis import HealthCheck, Phase, seed, settings, target
from hypothesis import strategies as st
from hypothesis.database import ExampleDatabase
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
from oracle.common.machine import run_quietly
from oracle.gc.shrink import loses_object, shrink_trace
from oracle.gc.trace import GcParams, dumps

PARAMS = GcParams(goroutines=2, stack_slots=3, globals=2)

# name -> (size, noscan, pointer slot offsets)
LAYOUTS: dict[str, tuple[int, bool, list[int]]] = {
    "pair": (16, False, [0, 8]),
    "one": (8, False, [0]),
    "leaf": (16, True, []),
    "headed": (640, False, [0, 632]),
    "big": (270336, False, [0, 131072, 262144]),
}
LAYOUT_CHOICES = ("pair", "pair", "one", "leaf", "leaf", "headed", "big")  # repeated for weight

MUTATOR_RULES = frozenset({"alloc", "load", "store", "take", "put", "copy", "gload", "gstore", "set_finalizer"})
FINISH_AFTER = 3  # steps into a cycle before the machine may finish it in one go
MACHINE_GEOMETRY = Geometry(chunk_pages=64)  # cheap page summaries; marking does not depend on page numbers


@attrs.define
class RunLog:
    """What the machines of one configuration share: examples started, and the last failure's GC trace."""

    examples: int = 0
    last_failure: str = ""  # empty until an example fails; each example clears it when it starts


@attrs.frozen
class MachineConfig:
    """One machine's world and checks.

    check_tricolor: fail at the first weak tricolor violation; else only
    when the adversarial ending (lose_object) turns one into a lost object.
    `layouts` are LAYOUTS names (repeated for weight); `mutators` which
    mutator rules run (MUTATOR_RULES; take and put are the pop and push
    idioms). A small world (one goroutine, two slots, one global, two
    layouts, no finalizers) finds a broken barrier's lost object sooner.
    """

    barrier: Barrier = HYBRID
    check_tricolor: bool = True
    params: GcParams = PARAMS
    layouts: tuple[str, ...] = LAYOUT_CHOICES
    finalizers: bool = True
    mutators: frozenset[str] = MUTATOR_RULES
    log: RunLog = attrs.field(factory=RunLog, eq=False)


class MachineFailure(AssertionError):
    """A check failed: what, the first violations, and the GC trace that leads there."""

    def __init__(self, what: str, violations: list[str], trace: str) -> None:
        self.what = what
        self.violations = violations
        self.trace = trace
        super().__init__(f"{what}: " + "; ".join(violations[:3]) + "\ntrace:\n" + trace)

    @property
    def summary(self) -> str:
        """The message without the trace."""
        return str(self).split("\ntrace:")[0]


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


class GcCycles(RuleBasedStateMachine):
    """The machine; a subclass made by machine_class sets `config` (and the rules that range over its world).

    The mutator rules start, alloc, load, store, take, put, copy, gload and
    gstore are plain methods here: their arguments are goroutines, stack
    slots and globals of the configured world, so machine_class declares
    them as rules per configuration (_world_rules). The other rules and the
    invariants are declared here.
    """

    config: ClassVar[MachineConfig]

    def __init__(self) -> None:
        super().__init__()
        self.cfg = type(self).config
        self.cfg.log.examples += 1
        p = self.cfg.params
        self.world = GcWorld.create(p.goroutines, p.stack_slots, p.globals, self.cfg.barrier,
                                    geometry=MACHINE_GEOMETRY)
        self.ops: list[dict[str, Any]] = []
        self.next_id = 1
        self.start_marked: set[ObjectId] = set()
        self.initial: HeapSpec | None = None
        self.initial_stacks: list[list[ObjectId | None]] | None = None
        self.cycle_began = 0
        self.exposure = 0  # the most black-to-white pointers seen at once (Hypothesis targets it)

    # Recording and failing.

    def record(self, op: dict[str, Any]) -> None:
        self.ops.append(op)

    def check(self, violations: list[str], what: str) -> None:
        if violations:
            trace = dumps(self.cfg.params, self.initial, self.ops, self.initial_stacks)
            self.cfg.log.last_failure = trace
            raise MachineFailure(what, violations, trace)

    # Queries the preconditions use.

    @property
    def heap(self) -> GcHeap:
        return self.world.heap

    def filled(self) -> list[tuple[int, int]]:
        p = self.cfg.params
        return [(g, s) for g in range(p.goroutines) for s in range(p.stack_slots) if self.heap.stacks[g][s] is not None]

    def with_slots(self) -> list[tuple[int, int]]:
        return [(g, s) for g, s in self.filled() if self.heap.objects[self.heap.stacks[g][s]].slots]

    def can_move(self) -> bool:
        return self.cfg.params.stack_slots > 1 and bool(self.with_slots())

    def running(self) -> bool:
        return self.world.phase != PHASE_TERMINATION

    def may(self, mutator: str) -> bool:
        """The mutator rule is switched on and mutators run (not during mark termination)."""
        return mutator in self.cfg.mutators and self.running()

    def slot_offset(self, g: int, slot: int, k: int) -> int:
        """The k-th pointer slot (wrapping around) of the object in stack slot `slot`."""
        offs = sorted(self.heap.objects[self.heap.stacks[g][slot]].slots)
        return offs[k % len(offs)]

    # Mutator steps (declared as rules per configuration by _world_rules).

    def start(self, begin: Start) -> None:
        self.cfg.log.last_failure = ""
        self.initial, self.initial_stacks = begin
        p = self.cfg.params
        self.world = GcWorld.create(p.goroutines, p.stack_slots, p.globals, self.cfg.barrier, *begin,
                                    geometry=MACHINE_GEOMETRY)
        self.next_id = len(self.initial.objects) + 1

    def alloc(self, g: int, slot: int, layout: str) -> None:
        size, noscan, offsets = LAYOUTS[layout]
        oid = self.next_id
        self.next_id += 1
        self.world.alloc(g, slot, oid, size, noscan, offsets)
        self.record({"op": "alloc", "g": g, "slot": slot, "id": oid, "size": size, "noscan": noscan, "ptrs": offsets})

    def load(self, data: st.DataObject, dst: int, k: int) -> None:
        g, src = data.draw(st.sampled_from(self.with_slots()))
        off = self.slot_offset(g, src, k)
        self.world.load(g, dst, src, off)
        self.record({"op": "load", "g": g, "dst": dst, "src": src, "off": off})

    def store(self, data: st.DataObject, k: int, src: int | None) -> None:
        g, dst = data.draw(st.sampled_from(self.with_slots()))
        off = self.slot_offset(g, dst, k)
        self.world.store(g, dst, off, src)
        self.record({"op": "store", "g": g, "dst": dst, "off": off, "src": src})

    def take(self, data: st.DataObject, other: int, k: int) -> None:
        """Move a pointer from the heap to the stack: load it into another slot, clear the heap slot (a pop)."""
        g, src = data.draw(st.sampled_from(self.with_slots()))
        dst = (src + 1 + other) % self.cfg.params.stack_slots
        off = self.slot_offset(g, src, k)
        self.world.load(g, dst, src, off)
        self.record({"op": "load", "g": g, "dst": dst, "src": src, "off": off})
        self.world.store(g, src, off, None)
        self.record({"op": "store", "g": g, "dst": src, "off": off, "src": None})

    def put(self, data: st.DataObject, k: int, other: int) -> None:
        """Move a pointer from another stack slot into the heap, then clear that slot (a push)."""
        g, dst = data.draw(st.sampled_from(self.with_slots()))
        src = (dst + 1 + other) % self.cfg.params.stack_slots
        off = self.slot_offset(g, dst, k)
        self.world.store(g, dst, off, src)
        self.record({"op": "store", "g": g, "dst": dst, "off": off, "src": src})
        self.world.copy(g, src, None)
        self.record({"op": "copy", "g": g, "dst": src, "src": None})

    def copy(self, g: int, dst: int, src: int | None) -> None:
        self.world.copy(g, dst, src)
        self.record({"op": "copy", "g": g, "dst": dst, "src": src})

    def gload(self, g: int, dst: int, index: int) -> None:
        self.world.gload(g, dst, index)
        self.record({"op": "gload", "g": g, "dst": dst, "global": index})

    def gstore(self, g: int, index: int, src: int | None) -> None:
        self.world.gstore(g, index, src)
        self.record({"op": "gstore", "g": g, "global": index, "src": src})

    # Finalizers.

    def finalizer_candidates(self) -> list[tuple[int, int]]:
        return [(g, s) for g, s in self.filled() if self.heap.stacks[g][s] not in self.heap.finalizers]

    @precondition(lambda self: self.may("set_finalizer") and self.cfg.finalizers and bool(self.finalizer_candidates()))
    @rule(data=st.data())
    def set_finalizer(self, data: st.DataObject) -> None:
        g, slot = data.draw(st.sampled_from(self.finalizer_candidates()))
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
            for g in range(self.cfg.params.goroutines):
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

    @precondition(lambda self: self.world.phase == PHASE_MARK and bool(self.world.marker and self.world.marker.queue))
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
        if self.cfg.check_tricolor:
            self.check(violations, "weak tricolor invariant")
        steps, lost = lose_object(self.world)
        if lost:
            self.ops.extend(steps)
            self.check(lost, f"lost object (after: {violations[0]})")


def _world_rules(config: MachineConfig) -> dict[str, Callable[..., Any]]:
    """GcCycles' mutator methods declared as rules whose arguments range over `config`'s world.

    Hypothesis fixes a rule's argument strategies where the rule is
    declared, so these are declared per configuration. The rule names (which
    set Hypothesis's rule order) and each rule's arguments, in order, are
    fixed, so a seed generates the same steps for the same configuration.
    """
    p = config.params
    goroutine = st.integers(0, p.goroutines - 1)
    slot = st.integers(0, p.stack_slots - 1)
    slot_or_nil = st.none() | st.integers(0, p.stack_slots - 1)
    other = st.integers(0, p.stack_slots - 2)  # another stack slot, as a distance from the first
    k = st.integers(0, 2)
    index = st.integers(0, p.globals - 1)
    machine = GcCycles
    rules: dict[str, tuple[Callable[[GcCycles], bool], Callable[..., Any]]] = {
        "alloc": (lambda m: m.may("alloc"),
                  rule(g=goroutine, slot=slot, layout=st.sampled_from(config.layouts))(machine.alloc)),
        "load": (lambda m: m.may("load") and bool(m.with_slots()),
                 rule(data=st.data(), dst=slot, k=k)(machine.load)),
        "store": (lambda m: m.may("store") and bool(m.with_slots()),
                  rule(data=st.data(), k=k, src=slot_or_nil)(machine.store)),
        "take": (lambda m: m.may("take") and m.can_move(), rule(data=st.data(), other=other, k=k)(machine.take)),
        "put": (lambda m: m.may("put") and m.can_move(), rule(data=st.data(), k=k, other=other)(machine.put)),
        "copy": (lambda m: m.may("copy"), rule(g=goroutine, dst=slot, src=slot_or_nil)(machine.copy)),
        "gload": (lambda m: m.may("gload"), rule(g=goroutine, dst=slot, index=index)(machine.gload)),
        "gstore": (lambda m: m.may("gstore"), rule(g=goroutine, index=index, src=slot_or_nil)(machine.gstore)),
    }
    bound = {name: precondition(condition)(declared) for name, (condition, declared) in rules.items()}
    bound["start"] = initialize(begin=starts(config.layouts, p, config.finalizers))(machine.start)
    return bound


def machine_class(config: MachineConfig) -> type[GcCycles]:
    """The machine bound to a configuration, named after its barrier."""
    name = f"GcCycles_{config.barrier.name.replace('-', '_')}"
    return type(name, (GcCycles,), {"config": config, **_world_rules(config)})


# Running it: the hybrid barrier's check, and hunting a broken barrier's lost object.

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


def run_seed(machine: type[GcCycles], config: settings, s: int) -> MachineFailure | None:
    """One deterministic Hypothesis run of the machine; the failure it ends with, if any.

    Hypothesis reports a failing example on stdout; the report is swallowed
    (the failure, and its trace, come back as the exception). With a
    database in config, the run replays what it holds first and saves what
    fails: the seed is then set as @seed sets it, but without @seed's
    switching the database off.
    """
    test = get_state_machine_test(machine, settings=config)
    if config.database is None:
        test = seed(s)(test)
    else:
        test._hypothesis_internal_use_seed = s  # type: ignore[attr-defined]  # what @seed sets
    return run_quietly(test, MachineFailure)


def hunt(
    barrier: Barrier,
    seeds: Sequence[int] = tuple(range(20)),
    examples: int = 200,
    params: GcParams = SMALL_WORLD,
    database: ExampleDatabase | None = None,
) -> Hunt | None:
    """Run the machine in a small world until it loses an object; one Hypothesis run per seed.

    The machine fails only on a lost object: a weak tricolor violation from
    which the adversarial ending (lose_object) loses one. Hypothesis only
    generates here; the failing trace is then shrunk by oracle.gc.shrink to
    a 1-minimal trace that still loses an object. Each run is deterministic
    for its seed. Returns None if no seed finds a lost object.

    With a database (a folder or a Redis server, shared by other processes
    or machines), each run first replays the failing examples saved there
    and saves the one it finds, so a lost object one campaign found is found
    again at once by the next.
    """
    config = MachineConfig(barrier, False, params, SMALL_LAYOUTS, finalizers=False, mutators=SMALL_MUTATORS)
    machine = machine_class(config)
    run = settings(
        max_examples=examples,
        stateful_step_count=30,
        deadline=None,
        database=database,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
        phases=[Phase.generate] if database is None else [Phase.reuse, Phase.generate],
    )
    for s in seeds:
        failure = run_seed(machine, run, s)
        if failure is not None:
            return Hunt(s, failure.summary, failure.trace, shrink_trace(failure.trace, loses_object(barrier)))
    return None


def check_hybrid(
    seeds: Sequence[int] = (0,),
    examples: int = 100,
    params: GcParams = PARAMS,
    database: ExampleDatabase | None = None,
) -> str | None:
    """Run the full machine (every rule, finalizers, the tricolor check) with the hybrid barrier.

    Returns None when every run passes, else the failure and its trace. A
    database (see hunt) is replayed first and keeps what fails.
    """
    machine = machine_class(MachineConfig(HYBRID, True, params))
    run = settings(
        max_examples=examples,
        stateful_step_count=40,
        deadline=None,
        database=database,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    for s in seeds:
        failure = run_seed(machine, run, s)
        if failure is not None:
            return f"seed {s}: {failure}"
    return None
