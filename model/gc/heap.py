"""The garbage-collected heap: objects in spans on the page allocator, roots and finalizers.

This is the memory the collector works on (Go: mheap's in-use spans, the
data and BSS segments, goroutine stacks, and the specials lists of
mheap.go and mfinal.go):

  * objects: by id. Each has a size, a noscan flag, and pointer *slots* at
    byte offsets fixed by its type, each holding another object's id or
    None (nil). Each lives in slot `index` of a span of its span class
    (model.gc.spanclass.placement); its address is that slot's address plus
    the malloc header, if any.
  * spans: in use, by first page (Go: the arena's spans array). A span
    gets its pages from the page allocator (model.pageheap.PageHeap) when
    no span of its class has a free slot, growing the page heap by whole
    chunks when the allocator has no room; sweep returns the pages of a
    span with no live object (model.gc.sweep).
  * roots: `globals`, pointer slots of the data segment, and `stacks`, one
    list of pointer slots per goroutine. A heap snapshot's roots are
    globals; stacks exist for concurrent traces (model.gc.cycle).
  * finalizers: the ids with a finalizer special (Go: SetFinalizer). Sweep
    moves an unreachable one to `finq`, the queue of finalizers to run
    (Go: finq), whose objects are roots until the finalizers run.

Allocation (Go: mcache/mcentral, simplified): an object goes into the
lowest free slot of the first span of its class that has one, in the order
the spans were made, else into a new span. Where an object lands changes
addresses, never what is marked or freed.

Invariants: every object is in exactly one allocated slot and that slot
names it; every in-use span's pages are in use in the page allocator;
no two spans share a page.
"""

from __future__ import annotations

import attrs

from model.errors import InvalidOperation
from model.gc.results import HeapSpec, ObjectId
from model.gc.span import Span
from model.gc.spanclass import MAX_OBLET_BYTES, WORD_BYTES, Placement, objects_per_span, oblet_count, placement
from model.geometry import AMD64, Geometry
from model.pageheap import PageHeap


@attrs.define
class HeapObject:
    id: ObjectId
    size: int
    noscan: bool
    place: Placement
    span: Span
    index: int
    slots: dict[int, ObjectId | None]

    @property
    def base(self) -> int:
        """Address of the object's slot (where a scan starts; Go: the object base findObject returns)."""
        return self.span.slot_addr(self.index)

    @property
    def addr(self) -> int:
        """The pointer Go hands out: the slot's address past the malloc header."""
        return self.base + self.place.header_bytes

    def slot_addr(self, offset: int) -> int:
        return self.addr + offset

    def oblet_offsets(self) -> list[int]:
        """Where each work item of a scan of this object starts, relative to `base`."""
        return [k * MAX_OBLET_BYTES for k in range(oblet_count(self.span.slot_bytes))]


@attrs.define
class GcHeap:
    pages: PageHeap = attrs.Factory(PageHeap.create)
    objects: dict[ObjectId, HeapObject] = attrs.Factory(dict)
    spans: dict[int, Span] = attrs.Factory(dict)  # by base page
    span_of_page: dict[int, Span] = attrs.Factory(dict)
    partial: dict[int, list[Span]] = attrs.Factory(dict)  # span class value -> spans with a free slot
    globals: list[ObjectId | None] = attrs.Factory(list)
    stacks: list[list[ObjectId | None]] = attrs.Factory(list)
    finalizers: set[ObjectId] = attrs.Factory(set)
    finq: list[ObjectId] = attrs.Factory(list)
    next_chunk: int = 0

    @staticmethod
    def create(goroutines: int = 0, stack_slots: int = 0, globals: int = 0, geometry: Geometry = AMD64) -> GcHeap:
        """An empty heap. The page allocator's geometry only numbers pages; a reduced one (64-page
        chunks) keeps its summaries cheap without changing what any collection marks or frees."""
        heap = GcHeap(PageHeap.create(geometry))
        heap.globals = [None] * globals
        heap.stacks = [[None] * stack_slots for _ in range(goroutines)]
        return heap

    @staticmethod
    def from_spec(spec: HeapSpec, goroutines: int = 0, stack_slots: int = 0, geometry: Geometry = AMD64) -> GcHeap:
        """Allocate the snapshot's objects in order, fill their slots, hold its roots in globals."""
        heap = GcHeap.create(goroutines, stack_slots, len(spec.roots), geometry)
        for obj in spec.objects:
            heap.allocate(obj.id, obj.size, obj.noscan, obj.slot_offsets())
        for obj in spec.objects:
            heap.objects[obj.id].slots.update(obj.ptrs)
        heap.globals = list(spec.roots)
        heap.finalizers = set(spec.finalizers)
        return heap

    # Queries.

    def obj(self, oid: ObjectId) -> HeapObject:
        """The object `oid`; a pointer to one that is not allocated (freed by a wrong sweep) is refused."""
        try:
            return self.objects[oid]
        except KeyError:
            raise InvalidOperation(f"pointer to object {oid!r}, which is not allocated (dangling)") from None

    def is_marked(self, oid: ObjectId) -> bool:
        o = self.objects[oid]
        return o.span.is_marked(o.index)

    def marked_ids(self) -> set[ObjectId]:
        return {oid for oid, o in self.objects.items() if o.span.is_marked(o.index)}

    def root_pointers(self) -> list[ObjectId]:
        """Every object a root holds: globals, stacks and queued finalizers."""
        out = [p for p in self.globals if p is not None]
        for stack in self.stacks:
            out.extend(p for p in stack if p is not None)
        out.extend(self.finq)
        return out

    # Allocation.

    def check_new_object(self, oid: object, size: object, noscan: object, offsets: list[int]) -> Placement:
        if isinstance(oid, bool) or not isinstance(oid, (int, str)):
            raise InvalidOperation(f"object id must be an integer or a string, got {oid!r}")
        if oid in self.objects:
            raise InvalidOperation(f"object id {oid!r} is already in use")
        if not isinstance(noscan, bool):
            raise InvalidOperation(f"noscan must be a boolean, got {noscan!r}")
        place = placement(size, noscan)  # type: ignore[arg-type]
        assert isinstance(size, int)
        if noscan and offsets:
            raise InvalidOperation(f"object {oid!r}: a noscan object has no pointer slots")
        if not noscan and not offsets:
            raise InvalidOperation(f"object {oid!r}: an object with pointers has at least one pointer slot")
        last = -1
        for off in offsets:
            if isinstance(off, bool) or not isinstance(off, int) or off % WORD_BYTES or off <= last:
                raise InvalidOperation(f"object {oid!r}: bad slot offset {off!r} (increasing multiples of 8)")
            if off + WORD_BYTES > size:
                raise InvalidOperation(f"object {oid!r}: slot offset {off} is outside its {size} bytes")
            last = off
        return place

    def allocate(self, oid: ObjectId, size: int, noscan: bool, offsets: tuple[int, ...] | list[int]) -> HeapObject:
        """A new object with all slots nil (Go: mallocgc zeroes objects with pointers)."""
        place = self.check_new_object(oid, size, noscan, list(offsets))
        span = self._span_with_room(place)
        index = span.free_index()
        assert index is not None
        span.alloc_bits |= 1 << index
        span.objects[index] = oid
        if span.is_full():
            self.partial[place.span_class.value].remove(span)
        obj = HeapObject(oid, size, noscan, place, span, index, dict.fromkeys(offsets))
        self.objects[oid] = obj
        return obj

    def _span_with_room(self, place: Placement) -> Span:
        spans = self.partial.setdefault(place.span_class.value, [])
        if spans:
            return spans[0]
        span = self.new_span(place)
        spans.append(span)
        return span

    def new_span(self, place: Placement) -> Span:
        page = self._alloc_pages(place.span_pages)
        span = Span(page, place.span_pages, place.span_class, place.slot_bytes, objects_per_span(place.span_class))
        self.spans[page] = span
        for p in range(page, page + span.npages):
            self.span_of_page[p] = span
        return span

    def _alloc_pages(self, npages: int) -> int:
        result = self.pages.alloc(npages)
        if result.page is None:
            chunk_pages = self.pages.geometry.chunk_pages
            nchunks = -(-npages // chunk_pages)
            self.pages.grow(self.next_chunk, nchunks)
            self.next_chunk += nchunks
            result = self.pages.alloc(npages)
        assert result.page is not None, "a freshly grown heap has room"
        return result.page

    # Freeing (sweep's tools).

    def release_object(self, oid: ObjectId) -> None:
        """Forget an object sweep freed; its slot's alloc bit is already clear (the span's bits were swapped)."""
        obj = self.objects.pop(oid)
        assert not obj.span.is_allocated(obj.index)
        obj.span.objects[obj.index] = None
        self.finalizers.discard(oid)

    def free_span(self, span: Span) -> None:
        """Return an empty span's pages to the page allocator (Go: mheap.freeSpan)."""
        assert span.alloc_bits == 0
        self.pages.free(span.base_page, span.npages)
        del self.spans[span.base_page]
        for p in range(span.base_page, span.base_page + span.npages):
            del self.span_of_page[p]
        spans = self.partial.get(span.span_class.value, [])
        if span in spans:
            spans.remove(span)

    def note_room(self, span: Span) -> None:
        """A span that has a free slot again is offered to allocation (Go: mcentral's partial list)."""
        spans = self.partial.setdefault(span.span_class.value, [])
        if span not in spans and not span.is_full():
            spans.append(span)
            spans.sort(key=lambda s: s.base_page)

    # Roots.

    def check_goroutine(self, g: object) -> list[ObjectId | None]:
        if isinstance(g, bool) or not isinstance(g, int) or not 0 <= g < len(self.stacks):
            raise InvalidOperation(f"goroutine {g!r} does not exist (there are {len(self.stacks)})")
        return self.stacks[g]

    def check_stack_slot(self, g: object, slot: object) -> int:
        stack = self.check_goroutine(g)
        if isinstance(slot, bool) or not isinstance(slot, int) or not 0 <= slot < len(stack):
            raise InvalidOperation(f"goroutine {g}: stack slot {slot!r} does not exist (there are {len(stack)})")
        return slot

    def check_global(self, index: object) -> int:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(self.globals):
            raise InvalidOperation(f"global {index!r} does not exist (there are {len(self.globals)})")
        return index
