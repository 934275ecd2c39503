"""Tri-colour marking: roots, greyobject, scanobject, oblets and the work queue.

Colours (Go: mgcmark.go). An object is *white* while its mark bit is clear,
*grey* once marked with scanning still to do (it, or one of its oblets, is
in the work queue), *black* once marked and scanned. Marking ends when no
grey object is left; every white object then is garbage.

greyobject(obj) (Go: greyobject): if obj is marked, nothing. Otherwise set
its mark bit, and then
  * noscan span: stop. The object is black at once: its type has no
    pointers, so it is never queued and never scanned. This is the noscan
    optimisation; scanobject refuses a noscan object as Go throws.
  * scan span: push the object onto the work queue (it is grey).

scanobject(b) (Go: scanObject): read the pointer slots of the object, or of
one *oblet* of it, and greyobject every non-nil pointer except one back
into the region being scanned (Go filters those: they cannot keep anything
alive that the scan does not already hold). An object whose slot is over
128 KiB is scanned in 128 KiB oblets: the scan of its first oblet pushes
all the others, each a separate work item. The scan's work, as Go counts
it (heapScanWork), is the bytes from the region's start to the end of its
last pointer slot; the model counts it in words.

Roots (Go: markroot). At the start of a cycle every root is grey:
  * finq: objects whose finalizers are queued to run (fixedRootFinalizers);
  * globals (data and BSS: markrootBlock);
  * specials: for each object with a finalizer, scan the object without
    marking it, so everything it points to survives for the finalizer,
    while the object itself can still be found unreachable
    (markrootSpans, gcScanFinalizer; skipped for a noscan object);
  * each goroutine's stack (scanstack): greyobject every pointer on it;
    the stack is black afterwards.
A root job runs once per cycle. drain() pops the queue (last in, first out,
like a gcWork buffer) and scans until it is empty.

Objects allocated while marking are black at once (gcmarknewobject): their
slots are all nil. At gc_start each P's tiny block is greyed (Go:
gcMarkTinyAllocs), since tiny objects will be packed into it without being
marked themselves: a tiny block lives while any object in it does, as its
objects share the one mark bit of their slot.

Page marks (Span.page_marked, which the heap reclaimer reads): set when an
object of the span is marked, except for noscan objects of 16..512 bytes,
whose inline mark bits Green Tea sets without it (tryDeferToSpanScan), and
always by allocation during marking.

For the invariants (model.gc.invariants) the marker records which scan
regions are still to be scanned (`pending`), which finalizer objects have
been root-scanned, and every object ever queued or scanned.
"""

from __future__ import annotations

import bisect

import attrs

from model.errors import InvalidOperation
from model.gc.heap import GcHeap, HeapObject
from model.gc.results import ObjectId
from model.gc.spanclass import MAX_OBLET_BYTES, WORD_BYTES, uses_inline_mark_bits


class NoscanScanned(InvalidOperation):
    """scanobject was asked to scan a noscan object (Go throws "scanobject of a noscan object")."""


@attrs.frozen
class WorkItem:
    """A pointer to scan: an object's base (offset 0) or one of its oblets (offset k * 128 KiB)."""

    id: ObjectId
    offset: int = 0


@attrs.define
class MarkStats:
    scanned_words: int = 0
    scan_items: int = 0
    slots_scanned: int = 0
    greyed: int = 0
    queued: int = 0


ROOT_FINQ = "finq"
ROOT_GLOBALS = "globals"
ROOT_SPECIALS = "specials"


def stack_root(g: int) -> str:
    return f"stack:{g}"


@attrs.define
class Marker:
    heap: GcHeap
    queue: list[WorkItem] = attrs.Factory(list)
    pending: set[tuple[ObjectId, int]] = attrs.Factory(set)
    roots_done: set[str] = attrs.Factory(set)
    root_scanned: set[ObjectId] = attrs.Factory(set)
    stats: MarkStats = attrs.Factory(MarkStats)
    queued_ever: set[ObjectId] = attrs.Factory(set)
    scanned_ever: set[ObjectId] = attrs.Factory(set)
    slot_offsets: dict[ObjectId, list[int]] = attrs.Factory(dict)  # sorted slot offsets by object, for scans

    @staticmethod
    def start(heap: GcHeap) -> Marker:
        """A new cycle on a swept heap: page marks cleared (Go: gcResetMarkState); mark bits are clear
        already (sweep starts every span's anew), the model makes sure."""
        for span in heap.spans.values():
            span.mark_bits = 0
            span.page_marked = False
        return Marker(heap)

    # Colours.

    def is_marked(self, obj: HeapObject) -> bool:
        return obj.span.is_marked(obj.index)

    def all_roots(self) -> list[str]:
        return [ROOT_FINQ, ROOT_GLOBALS, ROOT_SPECIALS, *(stack_root(g) for g in range(len(self.heap.stacks)))]

    def roots_left(self) -> list[str]:
        return [r for r in self.all_roots() if r not in self.roots_done]

    def stack_is_grey(self, g: int) -> bool:
        return stack_root(g) not in self.roots_done

    # Marking.

    def greyobject(self, oid: ObjectId) -> None:
        obj = self.heap.obj(oid)
        if self.is_marked(obj):
            return
        if not (obj.span.noscan and uses_inline_mark_bits(obj.span.slot_bytes)):
            obj.span.page_marked = True  # Go's tryDeferToSpanScan marks these without the page mark
        obj.span.set_marked(obj.index)
        self.stats.greyed += 1
        if obj.span.noscan:
            return
        self.queue.append(WorkItem(oid, 0))
        self.queued_ever.add(oid)
        self.stats.queued += 1
        for off in obj.oblet_offsets():
            self.pending.add((oid, off))

    def shade(self, oid: ObjectId | None) -> None:
        """The write barrier's shade: greyobject on a non-nil pointer (Go: shade)."""
        if oid is not None:
            self.greyobject(oid)

    def mark_new_object(self, obj: HeapObject) -> None:
        """An object allocated during marking is black, its span page-marked (Go: gcmarknewobject).

        Only a new slot: a tiny object put in the P's current block finds it marked already (by the tiny
        root at gc_start, or as a new slot itself)."""
        obj.span.page_marked = True
        obj.span.set_marked(obj.index)

    def mark_tiny_blocks(self) -> None:
        """Grey every P's tiny block (Go: gcMarkTinyAllocs, at gc_start): the Ps keep allocating into them."""
        for cache in self.heap.mcaches:
            if cache.tiny_span is not None:
                self.greyobject(cache.tiny_span.objects[cache.tiny_index][0])

    def scanobject(self, item: WorkItem) -> None:
        obj = self.heap.objects[item.id]
        if obj.span.noscan:
            raise NoscanScanned(f"scanobject of noscan object {item.id!r}")
        self.scanned_ever.add(item.id)
        slot_bytes = obj.span.slot_bytes
        start, length = item.offset, slot_bytes
        if slot_bytes > MAX_OBLET_BYTES:
            if item.offset == 0:
                for off in obj.oblet_offsets()[1:]:
                    self.queue.append(WorkItem(item.id, off))
                    self.pending.add((item.id, off))
            length = min(slot_bytes - item.offset, MAX_OBLET_BYTES)
        self.pending.discard((item.id, item.offset))
        region_lo, region_hi = obj.base + start, obj.base + start + length
        extent = 0
        self.stats.scan_items += 1
        # Only the slots inside the region: a bisection of the object's sorted slot offsets, so that
        # scanning every oblet of a large object costs time in its slots, not oblets times slots.
        offsets = self._sorted_offsets(obj)
        first = bisect.bisect_left(offsets, region_lo - obj.addr)
        last = bisect.bisect_left(offsets, region_hi - obj.addr)
        for off in offsets[first:last]:
            addr = obj.slot_addr(off)
            self.stats.slots_scanned += 1
            extent = addr - region_lo + WORD_BYTES
            target = obj.slots[off]
            if target is None:
                continue
            target_addr = self.heap.obj(target).addr
            if region_lo <= target_addr < region_hi:
                continue  # a pointer back into the region being scanned
            self.greyobject(target)
        self.stats.scanned_words += extent // WORD_BYTES

    def _sorted_offsets(self, obj: HeapObject) -> list[int]:
        """The object's pointer-slot offsets in order (they are fixed when it is allocated)."""
        offsets = self.slot_offsets.get(obj.id)
        if offsets is None or len(offsets) != len(obj.slots):
            offsets = self.slot_offsets[obj.id] = sorted(obj.slots)
        return offsets

    def drain(self, limit: int | None = None) -> int:
        """Scan work items until the queue is empty or `limit` items are done; returns how many."""
        done = 0
        while self.queue and (limit is None or done < limit):
            self.scanobject(self.queue.pop())
            done += 1
        return done

    # Roots.

    def markroot(self, root: str) -> None:
        if root not in self.all_roots():
            raise InvalidOperation(f"unknown root {root!r}; roots are {', '.join(self.all_roots())}")
        if root in self.roots_done:
            raise InvalidOperation(f"root {root} was already scanned this cycle")
        self.roots_done.add(root)
        if root == ROOT_FINQ:
            for oid in self.heap.finq:
                self.greyobject(oid)
        elif root == ROOT_GLOBALS:
            for p in self.heap.globals:
                self.shade(p)
        elif root == ROOT_SPECIALS:
            for oid in sorted(self.heap.finalizers, key=lambda i: self.heap.objects[i].base):
                self.scan_finalizer(oid)
        else:
            g = int(root.split(":")[1])
            for p in self.heap.stacks[g]:
                self.shade(p)

    def scan_finalizer(self, oid: ObjectId) -> None:
        """Scan an object with a finalizer as a root, without marking it (Go: gcScanFinalizer)."""
        obj = self.heap.objects[oid]
        self.root_scanned.add(oid)
        if not obj.span.noscan:
            self.scanobject(WorkItem(oid, 0))

    def mark_roots(self) -> None:
        for root in self.roots_left():
            self.markroot(root)


def mark_stw(heap: GcHeap) -> Marker:
    """One stop-the-world mark: sweep termination, the tiny blocks, every root job in Go's order, then drain
    until no grey object is left."""
    heap.finish_sweep()
    marker = Marker.start(heap)
    marker.mark_tiny_blocks()
    marker.mark_roots()
    marker.drain()
    return marker
