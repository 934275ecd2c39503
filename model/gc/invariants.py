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
the page allocator. With lazy sweeping the same holds of everything swept
from mark termination to sweep termination, and no step frees a marked
object (LazySweep).

Span sets (span_set_violations): every in-use span is cached by one P or
has exactly one live entry in the central sets of its class, in the set
its sweep state and free slots call for; after sweep termination nothing
is unswept; tiny blocks are allocated slots of the tiny class.
"""

from __future__ import annotations

from collections import deque

import attrs

from model.gc.cycle import PHASE_MARK, GcWorld
from model.gc.heap import GcHeap, HeapObject
from model.gc.mark import ROOT_FINQ, ROOT_GLOBALS, ROOT_SPECIALS, Marker, stack_root
from model.gc.mheap import SpanHeap
from model.gc.results import ObjectId
from model.gc.span import Span, bit_indices
from model.gc.spanclass import MAX_OBLET_BYTES, TINY_SIZE, TINY_SPAN_CLASS
from model.gc.spanset import FULL, PARTIAL, SWEPT, UNSWEPT
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
        if span.live_bits() == 0:
            out.append(f"span at page {span.base_page} is empty after sweep but still in use")
        if span.mark_bits:
            out.append(f"span at page {span.base_page} still has mark bits after sweep")
        if heap.recorded is None:
            for p in range(span.base_page, span.base_page + span.npages):
                if not heap.pages.alloc_state.in_use(p):
                    out.append(f"span at page {span.base_page}: page {p} is free in the page allocator")
    for obj in heap.objects.values():
        for off, t in obj.slots.items():
            if t is not None and t not in heap.objects:
                out.append(f"object {obj.id!r} slot {off} points to freed object {t!r}")
    return out


def heap_violations(heap: GcHeap) -> list[str]:
    """Every object in exactly the slot that lists it; span bookkeeping consistent.

    Worked out from the objects and bitmaps, not slot by slot, so that it is cheap to run after every step.
    """
    out = []
    occupied: dict[int, int] = {}  # id(span) -> the slots objects say they are in
    placed: dict[int, int] = {}  # id(span) -> how many objects are in it
    for oid, obj in heap.objects.items():
        if obj.span is heap.zero_span:
            if not obj.place.zero:
                out.append(f"object {oid!r} of {obj.size} bytes is at the zero base")
            continue
        if oid not in obj.span.objects[obj.index] or not obj.span.is_allocated(obj.index):
            out.append(f"object {oid!r} is not in its span slot {obj.index}")
        if heap.spans.get(obj.span.base_page) is not obj.span:
            out.append(f"object {oid!r} is in a span that is not in use")
        occupied[id(obj.span)] = occupied.get(id(obj.span), 0) | 1 << obj.index
        placed[id(obj.span)] = placed.get(id(obj.span), 0) + 1
    for base, span in heap.spans.items():
        where = f"span at page {base}"
        live = span.live_bits()
        if span.alloc_count != live.bit_count():
            out.append(f"{where}: alloc_count {span.alloc_count}, but {live.bit_count()} slots are allocated")
        held = occupied.get(id(span), 0)
        for index in bit_indices(held ^ live)[:5]:
            state = "allocated" if span.is_allocated(index) else "free"
            out.append(f"{where}: slot {index} is {state} but holds {span.objects[index]}")
        if sum(map(len, span.objects)) != placed.get(id(span), 0):
            out.append(f"{where}: its slots list objects that are not there")
        if span.mark_bits & ~live:
            out.append(f"{where}: a free slot is marked")
        if span.span_class == TINY_SPAN_CLASS:
            out += tiny_block_violations(heap, span)
        if not span.in_use:
            out.append(f"{where} is dead but listed in use")
        if heap.span_of_page.get(base) is not span or heap.span_of_page.get(base + span.npages - 1) is not span:
            out.append(f"the pages of the {where} do not map to it")
        if heap.recorded is None and not all(heap.pages.alloc_state.in_use(p) for p in (base, base + span.npages - 1)):
            out.append(f"{where}: its pages are free in the page allocator")
    return out


def tiny_block_violations(heap: GcHeap, span: Span) -> list[str]:
    """The objects packed into each block of a tiny span lie inside its 16 bytes without overlapping."""
    out = []
    for index in bit_indices(span.live_bits()):
        members = span.objects[index]
        end = 0
        for oid in members:
            obj = heap.objects.get(oid)
            if obj is None:
                continue
            if obj.offset < end or obj.offset + obj.size > TINY_SIZE:
                out.append(f"tiny block at page {span.base_page} slot {index}: object {oid!r} at offset {obj.offset} "
                           f"({obj.size} bytes) overlaps its neighbour or leaves the block")
            end = max(end, obj.offset + obj.size)
    return out


def flush_violations(heap: SpanHeap) -> list[str]:
    """Right after mark termination every P's cache is empty: no span cached, no tiny block (Go: releaseAll)."""
    out = []
    for cache in heap.mcaches:
        if cache.alloc:
            out.append(f"P {cache.p} still caches spans of classes {sorted(cache.alloc)} after mark termination")
        if cache.tiny_span is not None:
            out.append(f"P {cache.p} still has a tiny block after mark termination")
    return out


def span_set_violations(heap: SpanHeap, marking: bool = False) -> list[str]:
    """The central lists and the caches (model.gc.spanset, model.gc.mcache).

    Every in-use span a P does not cache has exactly one live entry in the
    sets, in its own class's set whose role matches its sweep state (swept:
    sweepgen sg; unswept: sg-2) and whose kind matches its slots (full: none
    free; a large span is always full). A cached span is swept (sg+3), of
    the class it is cached under, cached once, and in no set. Swept sets
    hold only in-use spans. Once sweeping is done no span is unswept. Each
    tiny block is an allocated slot of a span of the tiny class.
    """
    out: list[str] = []
    sg = heap.sweepgen
    cached: dict[int, str] = {}
    for cache in heap.mcaches:
        for value, span in cache.alloc.items():
            where = f"P {cache.p}'s cached span of class {value} (page {span.base_page})"
            if span.span_class.value != value:
                out.append(f"{where} is of class {span.span_class.value}")
            if not span.in_use or heap.spans.get(span.base_page) is not span:
                out.append(f"{where} is not in use")
            if span.sweepgen != sg + 3:
                out.append(f"{where} has sweepgen {span.sweepgen - sg:+d}, not +3 (cached and swept)")
            if id(span) in cached:
                out.append(f"{where} is also {cached[id(span)]}")
            cached[id(span)] = where
        if cache.tiny_span is not None:
            block = f"P {cache.p}'s tiny block (page {cache.tiny_span.base_page} slot {cache.tiny_index})"
            if cache.tiny_span.span_class != TINY_SPAN_CLASS or not cache.tiny_span.in_use:
                out.append(f"{block} is not in an in-use span of the tiny class")
            elif not cache.tiny_span.is_allocated(cache.tiny_index):
                out.append(f"{block} is a free slot")
            if not 0 < cache.tiny_offset <= TINY_SIZE:
                out.append(f"{block} has offset {cache.tiny_offset}")
    entries: dict[int, list[str]] = {}
    for value, central in heap.centrals.items():
        for kind, role, _entries in central.sets(sg):
            live = central.live(kind, role, sg)
            for span in live:
                name = f"the {kind} {role} set of class {value}"
                entries.setdefault(id(span), []).append(name)
                if span.span_class.value != value:
                    out.append(f"span at page {span.base_page} of class {span.span_class.value} is in {name}")
                if role == SWEPT and (not span.in_use or heap.spans.get(span.base_page) is not span):
                    out.append(f"{name} holds the span at page {span.base_page}, which is not in use")
    for base, span in heap.spans.items():
        where = f"span at page {base}"
        if not marking and span.mark_bits and span.sweepgen in (sg, sg + 3):
            out.append(f"{where} is swept but has mark bits")
        held = entries.get(id(span), [])
        if id(span) in cached:
            if held:
                out.append(f"{cached[id(span)]} is also in {', '.join(held)}")
            continue
        if len(held) != 1:
            out.append(f"{where} (sweepgen {span.sweepgen - sg:+d}) is in {len(held)} sets: {held}")
            continue
        role = SWEPT if span.sweepgen == sg else UNSWEPT if span.sweepgen == sg - 2 else None
        if role is None:
            out.append(f"{where} is neither cached, swept nor unswept: sweepgen {span.sweepgen - sg:+d}")
        elif role not in held[0]:
            out.append(f"{where} is {role} but in {held[0]}")
        kind = FULL if span.large or span.alloc_count == span.nelems else PARTIAL
        if f"the {kind} " not in held[0]:
            out.append(f"{where} has {span.nelems - span.alloc_count} free slots but is in {held[0]}")
    if heap.sweep_drained:
        left = [s.base_page for s in heap.spans.values() if s.sweepgen == sg - 2]
        if left:
            out.append(f"sweeping is done but spans at pages {left} are unswept")
    return out


@attrs.define
class LazySweep:
    """Sweeping spread over steps, checked against what mark termination left (see sweep_violations).

    `before` is taken at mark termination (before its flush sweeps); every
    later sweep result is added with `add`, which returns the violations of
    that step alone: a freed object that was marked, had a finalizer, or was
    freed twice, a finalizer queued for a marked object or one without.
    `finish` returns what sweep termination must add up to.
    """

    before: BeforeSweep
    freed: set[ObjectId] = attrs.Factory(set)
    finalize: set[ObjectId] = attrs.Factory(set)

    def add(self, result: SweepResult) -> list[str]:
        out = []
        unmarked = self.before.allocated - self.before.marked
        for oid in result.freed:
            if oid not in unmarked - self.before.finalizers:
                out.append(f"freed {oid!r}, which was marked or had a finalizer (or was allocated since)")
            if oid in self.freed:
                out.append(f"freed {oid!r} twice")
        for oid in result.finalize:
            if oid not in unmarked & self.before.finalizers:
                out.append(f"queued the finalizer of {oid!r}, which was marked or had none")
        self.freed.update(result.freed)
        self.finalize.update(result.finalize)
        return out

    def finish(self) -> list[str]:
        unmarked = self.before.allocated - self.before.marked
        out = []
        if self.freed != unmarked - self.before.finalizers:
            missed = sorted(map(str, unmarked - self.before.finalizers - self.freed))
            out.append(f"sweep termination left unmarked objects without finalizer unfreed: {missed}")
        if self.finalize != unmarked & self.before.finalizers:
            out.append("sweep termination left finalizers of unmarked objects unqueued")
        return out
