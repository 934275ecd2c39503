"""The garbage-collected heap: objects in spans, roots and finalizers, over the span heap.

This is the memory the collector works on (Go: mheap's in-use spans, the
data and BSS segments, goroutine stacks, and the specials lists of
mheap.go and mfinal.go). GcHeap extends model.gc.mheap.SpanHeap (spans,
central lists, per-P caches, sweeping) with:

  * objects: by id. Each has a size, a noscan flag, and pointer *slots* at
    byte offsets fixed by its type, each holding another object's id or
    None (nil). Each lives in slot `index` of a span of its span class
    (model.gc.spanclass.placement), at `offset` in it (non-zero only for
    objects the tiny allocator packed into a shared 16-byte block); its
    address is the slot's address plus the malloc header, if any, plus
    the offset. A zero-size object lives at Go's zerobase: `zero_span`, a
    span outside the heap whose one slot is always allocated and marked.
  * roots: `globals`, pointer slots of the data segment, and `stacks`, one
    list of pointer slots per goroutine. A heap snapshot's roots are
    globals; stacks exist for concurrent traces (model.gc.cycle).
  * finalizers (in SpanHeap): the ids with a finalizer special (Go:
    SetFinalizer). Sweep moves an unreachable one to `finq`, the queue of
    finalizers to run (Go: finq), whose objects are roots until they run.

Allocation goes through the P's caches exactly as mallocgc does
(model.gc.malloc). `tiny` says whether size 0 and tiny objects are allowed:
the first trace and snapshot formats refused them, and a heap built for
them keeps refusing.

Invariants: every object is in exactly one allocated slot and that slot
lists it; every in-use span's pages are in use in the page allocator;
no two spans share a page.
"""

from __future__ import annotations

import attrs

from model.errors import InvalidOperation
from model.gc.malloc import Malloc, malloc
from model.gc.mcache import MCache
from model.gc.mheap import RecordedPages, SpanHeap
from model.gc.results import HeapSpec, ObjectId
from model.gc.span import Span
from model.gc.spanclass import MAX_OBLET_BYTES, WORD_BYTES, Placement, SpanClass, oblet_count, placement
from model.geometry import AMD64, Geometry
from model.pageheap import PageHeap

ZERO_PAGE = -1  # where the model puts Go's zerobase: below the heap, in no arena


def make_zero_span() -> Span:
    return Span(ZERO_PAGE, 0, SpanClass(1), 0, 1, alloc_bits=1, mark_bits=1, freeindex=1, alloc_count=1)


@attrs.define
class HeapObject:
    id: ObjectId
    size: int
    noscan: bool
    place: Placement
    span: Span
    index: int
    slots: dict[int, ObjectId | None]
    offset: int = 0  # in its slot: a tiny object's place in its block
    p: int = 0

    @property
    def base(self) -> int:
        """Address of the object's slot (where a scan starts; Go: the object base findObject returns)."""
        return self.span.slot_addr(self.index)

    @property
    def addr(self) -> int:
        """The pointer Go hands out: the slot's address past the malloc header, plus a tiny object's offset."""
        return self.base + self.place.header_bytes + self.offset

    def slot_addr(self, offset: int) -> int:
        return self.addr + offset

    def oblet_offsets(self) -> list[int]:
        """Where each work item of a scan of this object starts, relative to `base`."""
        return [k * MAX_OBLET_BYTES for k in range(oblet_count(self.span.slot_bytes))]


@attrs.define
class GcHeap(SpanHeap):
    objects: dict[ObjectId, HeapObject] = attrs.Factory(dict)
    globals: list[ObjectId | None] = attrs.Factory(list)
    stacks: list[list[ObjectId | None]] = attrs.Factory(list)
    tiny: bool = False
    zero_span: Span = attrs.Factory(make_zero_span)
    last_malloc: Malloc | None = None  # what the last allocation did (its span, slot, offset, new slot or span)

    @staticmethod
    def create(goroutines: int = 0, stack_slots: int = 0, globals: int = 0, geometry: Geometry = AMD64,
               procs: int = 1, tiny: bool = False, recorded: RecordedPages | None = None) -> GcHeap:
        """An empty heap. The page allocator's geometry only numbers pages; a reduced one (64-page
        chunks) keeps its summaries cheap without changing what any collection marks or frees."""
        heap = GcHeap(PageHeap.create(geometry), recorded=recorded, tiny=tiny)
        heap.mcaches = [MCache(p) for p in range(procs)]
        heap.globals = [None] * globals
        heap.stacks = [[None] * stack_slots for _ in range(goroutines)]
        return heap

    @staticmethod
    def from_spec(spec: HeapSpec, goroutines: int = 0, stack_slots: int = 0, geometry: Geometry = AMD64) -> GcHeap:
        """Allocate the snapshot's objects in order, each on its P, fill their slots, hold its roots in globals.

        The Ps then move on from their tiny blocks, as a program does that allocates something else
        before collecting (so the tiny-allocs root of the next cycle holds none of these objects).
        """
        heap = GcHeap.create(goroutines, stack_slots, len(spec.roots), geometry, spec.procs, spec.tiny)
        for obj in spec.objects:
            heap.allocate(obj.id, obj.size, obj.noscan, obj.slot_offsets(), obj.p)
        for obj in spec.objects:
            heap.objects[obj.id].slots.update(obj.ptrs)
        for cache in heap.mcaches:
            cache.clear_tiny()
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
        place = placement(size, noscan, self.tiny)  # type: ignore[arg-type]
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

    def allocate(
        self, oid: ObjectId, size: int, noscan: bool, offsets: tuple[int, ...] | list[int], p: int = 0
    ) -> HeapObject:
        """A new object with all slots nil (Go: mallocgc zeroes objects with pointers), allocated on P `p`."""
        place = self.check_new_object(oid, size, noscan, list(offsets))
        self.mcache(p)
        got = malloc(self, place, size, p)
        self.last_malloc = got
        span = got.span if got.span is not None else self.zero_span
        span.objects[got.index].append(oid)
        obj = HeapObject(oid, size, noscan, place, span, got.index, dict.fromkeys(offsets), got.offset, p)
        self.objects[oid] = obj
        return obj

    # Freeing (sweep's tool).

    def release_object(self, oid: ObjectId) -> None:
        """Forget an object sweep freed; sweep has already emptied or rewritten its slot."""
        obj = self.objects.pop(oid)
        assert oid not in obj.span.objects[obj.index]
        self.finalizers.discard(oid)

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
