"""Proof: a pointer write under the hybrid barrier keeps the weak tricolor invariant (write_barrier).

Both sides are the model's own code: the write is model.gc.cycle.GcWorld's
`store` or `gstore` (which runs the barrier, model.gc.barrier.shades, and
shades through Marker.shade and greyobject, as every trace step does), and
the invariant is model.gc.invariants.weak_tricolor_violations, the check the
oracle runs after every step. The proof is an exhaustive enumeration of a
bounded world: every state of it in which the invariant holds, every write
the mutator can make in it.

Worlds (one goroutine, one global; objects of 16 bytes or less):
  * two objects, each noscan or with one pointer slot; the goroutine's
    stack has two slots;
  * two objects, each noscan or with two pointer slots; one stack slot.
A state gives every object a colour (white, grey = marked with its scan
pending, black = marked and scanned; a noscan object is never grey) and
every slot, the global and the stack slots a target (nil or any object,
itself included); the global's root job and the stack scan are done
(black) or not (grey). A write is `store` of a stack slot's pointer (or
nil) into a slot of an object the goroutine holds, or `gstore` of one into
the global, exactly as trace steps do them.

Why the bound carries (written): a write changes one slot and shades at
most two objects; whether a black node then points to an unprotected
white object depends on the written slot, the two shaded objects, and the
paths of white objects from grey nodes to them. Two objects with two slots
give every local shape of that (a grey object holding the only path to a
white one, a black holder, a cycle, a noscan target, the target the holder
itself); more objects only lengthen the white paths, which the barrier
neither breaks nor needs. Finalizers, oblets and more goroutines do not
enter a write.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import attrs

from model.gc.cycle import GcWorld
from model.gc.invariants import weak_tricolor_violations
from model.gc.mark import ROOT_FINQ, ROOT_GLOBALS, ROOT_SPECIALS, WorkItem, stack_root
from model.gc.results import HeapSpec, ObjectSpec
from model.geometry import Geometry
from proofs.core import Check, Obligation, Proof

GEOMETRY = Geometry(chunk_pages=64, levels=1, root_bits=4, level_bits=0)  # pages only number the spans
IDS = (1, 2)
COLOURS = ("white", "grey", "black")


@attrs.frozen
class World:
    """A bounded world: how many pointer slots a scan object has, and how many stack slots."""

    slots: int
    stack_slots: int

    @property
    def offsets(self) -> tuple[int, ...]:
        return tuple(8 * k for k in range(self.slots))


WORLDS = (World(slots=1, stack_slots=2), World(slots=2, stack_slots=1))


@attrs.frozen
class State:
    objects: tuple[tuple[str, tuple[int | None, ...]], ...]  # per object: colour, slot targets
    global_target: int | None
    global_black: bool
    stack: tuple[int | None, ...]
    stack_black: bool

    def describe(self, kinds: Sequence[str]) -> str:
        parts = []
        for oid, kind, (colour, targets) in zip(IDS, kinds, self.objects, strict=True):
            slots = ", ".join(f"slot {8 * k} -> {t}" for k, t in enumerate(targets))
            parts.append(f"object {oid} ({kind}, {colour}{', ' + slots if slots else ''})")
        parts.append(f"global -> {self.global_target} ({'black' if self.global_black else 'grey'})")
        parts.append(f"stack {list(self.stack)} ({'black' if self.stack_black else 'grey'})")
        return "; ".join(parts)


def _world(kinds: Sequence[str], world: World) -> GcWorld:
    objects = tuple(
        ObjectSpec(oid, 8 * world.slots, False, tuple((off, None) for off in world.offsets))
        if kind == "scan"
        else ObjectSpec(oid, 16, True)
        for oid, kind in zip(IDS, kinds, strict=True)
    )
    gc = GcWorld.create(1, world.stack_slots, 1, spec=HeapSpec(objects), geometry=GEOMETRY)
    gc.gc_start()
    return gc


def _set(gc: GcWorld, state: State) -> None:
    """Put the world in `state`: slots, colours (mark bits, pending scans), roots, stack."""
    marker, heap = gc.marker, gc.heap
    assert marker is not None
    for oid, (colour, targets) in zip(IDS, state.objects, strict=True):
        obj = heap.objects[oid]
        for off, target in zip(sorted(obj.slots), targets, strict=True):
            obj.slots[off] = target
        if colour == "white":
            obj.span.mark_bits &= ~(1 << obj.index)
        else:
            obj.span.mark_bits |= 1 << obj.index
    grey = [oid for oid, (colour, _) in zip(IDS, state.objects, strict=True) if colour == "grey"]
    marker.pending = {(oid, 0) for oid in grey}
    marker.queue = [WorkItem(oid) for oid in grey]
    heap.globals[0] = state.global_target
    heap.stacks[0] = list(state.stack)
    marker.roots_done = {ROOT_FINQ, ROOT_SPECIALS}
    if state.global_black:
        marker.roots_done.add(ROOT_GLOBALS)
    if state.stack_black:
        marker.roots_done.add(stack_root(0))


def _states(kinds: Sequence[str], world: World) -> Iterator[State]:
    targets = (None, *IDS)
    per_object = [
        [(c, t) for c in COLOURS for t in itertools.product(targets, repeat=world.slots)]
        if kind == "scan"
        else [("white", ()), ("black", ())]
        for kind in kinds
    ]
    for objects in itertools.product(*per_object):
        for global_target, global_black in itertools.product(targets, (False, True)):
            for stack in itertools.product(targets, repeat=world.stack_slots):
                for stack_black in (False, True):
                    yield State(tuple(objects), global_target, global_black, stack, stack_black)


def _writes(gc: GcWorld, state: State, world: World) -> list[tuple[str, tuple[Any, ...]]]:
    sources = (*range(world.stack_slots), None)
    out: list[tuple[str, tuple[Any, ...]]] = [("gstore", (0, 0, src)) for src in sources]
    for dst, held in enumerate(state.stack):
        if held is not None and gc.heap.objects[held].slots:
            out += [("store", (0, dst, off, src)) for off in world.offsets for src in sources]
    return out


def _check(world: World) -> Check:
    def run() -> str | None:
        for kinds in itertools.product(("scan", "noscan"), repeat=len(IDS)):
            gc = _world(kinds, world)
            for state in _states(kinds, world):
                _set(gc, state)
                if weak_tricolor_violations(gc):
                    continue
                for op, args in _writes(gc, state, world):
                    _set(gc, state)
                    getattr(gc, op)(*args)
                    broken = weak_tricolor_violations(gc)
                    if broken:
                        return f"{state.describe(kinds)}; {op}{args}: {broken[0]}"
        return None

    label = (
        f"every write in every state of 2 objects with {world.slots} slot(s), one global and "
        f"{world.stack_slots} stack slot(s) keeps the weak tricolor invariant"
    )
    return Check(label, run)


def write_barrier() -> Iterator[Obligation]:
    """After any pointer write a mutator can make while marking (GcWorld.store into a slot of an
    object it holds, GcWorld.gstore into a global, of a pointer from its stack or nil), the
    weak tricolor invariant (model.gc.invariants.weak_tricolor_violations) still holds, in every
    state of the bounded worlds of this module where it held before (see the module docstring
    for the worlds and why the bound carries)."""
    for world in WORLDS:
        yield _check(world)


STATEMENT = (
    "a pointer write (GcWorld.store/gstore, under the hybrid barrier) keeps model.gc.invariants' weak tricolor "
    "invariant, in every state of bounded worlds"
)

WRITE_BARRIER = Proof("write_barrier", STATEMENT, write_barrier, "barrier_without_deletion", expected_seconds=3.0)

PROOFS = (WRITE_BARRIER,)
