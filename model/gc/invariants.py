"""The collector's invariants, as functions returning violations (empty when they hold).

Weak tricolor invariant (checked after every step of a marking phase):
every white object a black node points to is *grey-protected*: reachable
from a grey heap node through a path of white objects. Nodes are

  * scan regions of objects: an object, or each 128 KiB oblet of a larger
    one. Grey while a scan of it is pending, black once the object is
    marked and the region scanned (or, for an object with a finalizer that
    the specials root has scanned, once that scan is done), else white;
  * the globals, the finalizer queue, and the finalizer specials: grey
    until their root job has run, black after;
  * stacks: grey until scanned, black after.

Grey stacks protect nothing: a goroutine may drop a pointer from its
stack without any barrier, so a white object that only a grey stack holds
can vanish from it at any step. This is the form of the invariant the
hybrid barrier maintains step by step (a black stack's pointers, and
pointers written into the heap, are protected by the heap); it implies the
textbook form in which grey stacks count as grey nodes.

Mark termination: every object reachable from a root (globals, stacks,
queued finalizers) or from an object with a finalizer (through its slots,
not counting a pointer to itself from its first 128 KiB, which Go's scan
skips) is marked. A reachable unmarked object is *lost*: sweep would free
it while the program can still reach it.

Noscan: no noscan object was ever queued or scanned.

Sweep: sweep frees exactly the allocated objects that were unmarked and
had no finalizer, queues exactly the finalizers of the unmarked objects
that had one, leaves no span empty, and every span's pages are in use in
the page allocator.
"""

from __future__ import annotations

from collections import deque

import attrs

from model.gc.cycle import PHASE_MARK, GcWorld
from model.gc.heap import GcHeap, HeapObject
from model.gc.mark import ROOT_FINQ, ROOT_GLOBALS, ROOT_SPECIALS, Marker, stack_root
from model.gc.results import ObjectId
from model.gc.spanclass import MAX_OBLET_BYTES
from model.gc.sweep import SweepResult

Edge = tuple[str, ObjectId]  # (a description of where the pointer is, the object it points to)


def region_of(obj: HeapObject, off: int) -> int:
    """The start (from the object's base) of the scan region holding slot `off`."""
    if obj.span.slot_bytes <= MAX_OBLET_BYTES:
        return 0
    return (obj.slot_addr(off) - obj.base) // MAX_OBLET_BYTES * MAX_OBLET_BYTES


def self_filtered(obj: HeapObject, off: int, target: ObjectId | None) -> bool:
    """A pointer to the object itself from its first region: a scan of the object skips it."""
    return target == obj.id and region_of(obj, off) == 0


def region_color(marker: Marker, obj: HeapObject, region: int) -> str:
    if (obj.id, region) in marker.pending:
        return "grey"
    if marker.is_marked(obj) or obj.id in marker.root_scanned:
        return "black"
    return "white"


def _edges(marker: Marker) -> tuple[list[Edge], list[Edge]]:
    """(edges from grey heap nodes, edges from black nodes) of the current state."""
    heap = marker.heap
    grey: list[Edge] = []
    black: list[Edge] = []
    for obj in heap.objects.values():
        for off, target in obj.slots.items():
            if target is None:
                continue
            if target == obj.id:
                continue  # a pointer to itself never protects or needs protecting the object's own colour
            color = region_color(marker, obj, region_of(obj, off))
            where = f"object {obj.id!r} slot {off}"
            if color == "grey":
                grey.append((where, target))
            elif color == "black":
                black.append((where, target))
    roots: list[tuple[str, list[Edge]]] = [
        (ROOT_GLOBALS, [(f"global {i}", p) for i, p in enumerate(heap.globals) if p is not None]),
        (ROOT_FINQ, [("finalizer queue", p) for p in heap.finq]),
    ]
    for root, edges in roots:
        (black if root in marker.roots_done else grey).extend(edges)
    if ROOT_SPECIALS not in marker.roots_done:
        for oid in heap.finalizers:
            obj = heap.objects[oid]
            grey.extend(
                (f"finalizer special of {oid!r}, slot {off}", t)
                for off, t in obj.slots.items()
                if t is not None and not self_filtered(obj, off, t)
            )
    for g, stack in enumerate(heap.stacks):
        if stack_root(g) in marker.roots_done:
            black.extend((f"stack {g} slot {i}", p) for i, p in enumerate(stack) if p is not None)
    return grey, black


def grey_protected(marker: Marker, grey: list[Edge]) -> set[ObjectId]:
    """White objects reachable from a grey heap node through white objects only."""
    heap = marker.heap
    seen: set[ObjectId] = set()
    work = deque(t for _, t in grey)
    while work:
        oid = work.popleft()
        obj = heap.objects[oid]
        if oid in seen or marker.is_marked(obj):
            continue
        seen.add(oid)
        work.extend(t for t in obj.slots.values() if t is not None)
    return seen


def weak_tricolor_violations(world: GcWorld) -> list[str]:
    if world.phase != PHASE_MARK or world.marker is None:
        return []
    marker = world.marker
    grey, black = _edges(marker)
    protected = grey_protected(marker, grey)
    out = []
    for where, target in black:
        obj = world.heap.objects[target]
        if not marker.is_marked(obj) and target not in protected:
            out.append(f"{where} (black) points to white object {target!r}, which no grey object protects")
    return out


def black_to_white_edges(world: GcWorld) -> int:
    """How many pointers from black nodes to white objects there are (protected or not)."""
    if world.phase != PHASE_MARK or world.marker is None:
        return 0
    marker = world.marker
    _, black = _edges(marker)
    return sum(1 for _, t in black if not marker.is_marked(world.heap.objects[t]))


def reachable(heap: GcHeap) -> dict[ObjectId, str]:
    """Every object that must survive this cycle, each with how it is reached."""
    how: dict[ObjectId, str] = {}
    work: deque[ObjectId] = deque()

    def reach(oid: ObjectId, why: str) -> None:
        if oid not in how:
            how[oid] = why
            work.append(oid)

    for i, p in enumerate(heap.globals):
        if p is not None:
            reach(p, f"global {i}")
    for g, stack in enumerate(heap.stacks):
        for i, p in enumerate(stack):
            if p is not None:
                reach(p, f"stack {g} slot {i}")
    for p in heap.finq:
        reach(p, "the finalizer queue")
    for oid in sorted(heap.finalizers, key=str):
        obj = heap.objects[oid]
        for off, t in obj.slots.items():
            if t is not None and not self_filtered(obj, off, t):
                reach(t, f"slot {off} of {oid!r}, which has a finalizer")
    while work:
        oid = work.popleft()
        for off, t in heap.objects[oid].slots.items():
            if t is not None:
                reach(t, f"slot {off} of {oid!r}, {how[oid]}" if len(how[oid]) < 200 else f"slot {off} of {oid!r}")
    return how


def lost_objects(heap: GcHeap) -> list[str]:
    """At mark termination: reachable objects that are not marked."""
    out = []
    for oid, why in reachable(heap).items():
        if not heap.is_marked(oid):
            out.append(f"object {oid!r} is reachable ({why}) but not marked: sweep would free it")
    return out


def noscan_violations(marker: Marker) -> list[str]:
    heap = marker.heap
    out = []
    for what, ids in (("queued", marker.queued_ever), ("scanned", marker.scanned_ever)):
        for oid in sorted(ids, key=str):
            obj = heap.objects.get(oid)
            if obj is not None and obj.noscan:
                out.append(f"noscan object {oid!r} was {what}")
    return out


@attrs.frozen
class BeforeSweep:
    """What sweep's result is checked against, taken at mark termination."""

    allocated: frozenset[ObjectId]
    marked: frozenset[ObjectId]
    finalizers: frozenset[ObjectId]

    @staticmethod
    def of(heap: GcHeap) -> BeforeSweep:
        return BeforeSweep(frozenset(heap.objects), frozenset(heap.marked_ids()), frozenset(heap.finalizers))


def sweep_violations(before: BeforeSweep, result: SweepResult, heap: GcHeap) -> list[str]:
    out = []
    unmarked = before.allocated - before.marked
    want_freed = unmarked - before.finalizers
    want_finalize = unmarked & before.finalizers
    if set(result.freed) != want_freed:
        out.append(f"sweep freed {sorted(map(str, result.freed))}, the unmarked objects without finalizer are "
                   f"{sorted(map(str, want_freed))}")
    if set(result.finalize) != want_finalize:
        out.append(f"sweep queued finalizers of {sorted(map(str, result.finalize))}, expected "
                   f"{sorted(map(str, want_finalize))}")
    if set(heap.objects) != (before.allocated - want_freed):
        out.append("the objects left after sweep are not the marked ones and the finalized ones")
    for span in heap.spans.values():
        if span.alloc_bits == 0:
            out.append(f"span at page {span.base_page} is empty after sweep but still in use")
        if span.mark_bits:
            out.append(f"span at page {span.base_page} still has mark bits after sweep")
        for p in range(span.base_page, span.base_page + span.npages):
            if not heap.pages.alloc_state.in_use(p):
                out.append(f"span at page {span.base_page}: page {p} is free in the page allocator")
    for obj in heap.objects.values():
        for off, t in obj.slots.items():
            if t is not None and t not in heap.objects:
                out.append(f"object {obj.id!r} slot {off} points to freed object {t!r}")
    return out


def heap_violations(heap: GcHeap) -> list[str]:
    """Every object in exactly the slot that names it; span bookkeeping consistent."""
    out = []
    held: dict[int, int] = {}
    for oid, obj in heap.objects.items():
        if obj.span.objects[obj.index] != oid or not obj.span.is_allocated(obj.index):
            out.append(f"object {oid!r} is not in its span slot {obj.index}")
        if heap.spans.get(obj.span.base_page) is not obj.span:
            out.append(f"object {oid!r} is in a span that is not in use")
        held[obj.span.base_page] = held.get(obj.span.base_page, 0) + 1
    for base, span in heap.spans.items():
        if span.alloc_count() != held.get(base, 0):
            out.append(f"span at page {base}: {span.alloc_count()} slots allocated, {held.get(base, 0)} objects in it")
        if heap.span_of_page.get(base) is not span or heap.span_of_page.get(base + span.npages - 1) is not span:
            out.append(f"the pages of the span at page {base} do not map to it")
    return out
