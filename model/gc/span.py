"""Spans: runs of pages cut into equal object slots, with Go's allocation state and mark bits.

A span (Go: mspan, mheap.go) takes `npages` pages from the page allocator
and holds objects of one span class (model.gc.spanclass): `nelems` slots
of `slot_bytes` each, slot i starting at base_page * 8192 + i * slot_bytes.
A large object's span has one slot, the whole span.

Allocation state, as Go keeps it (mbitmap.go, malloc.go):

  * alloc_bits (Go: allocBits): bit i = slot i held a live object when the
    span was last swept (a fresh span has none). Allocation never sets it.
  * freeindex: every slot below it is allocated; the next allocation takes
    the lowest slot at or above it whose alloc bit is clear (Go:
    nextFreeIndex, through allocCache, a 64-bit window of ~allocBits that
    the model reads from alloc_bits directly) and moves freeindex past it.
    A search that finds none leaves freeindex = nelems.
  * alloc_count (Go: allocCount): slots allocated.
  * mark_bits (Go: gcmarkBits, or the inline mark bits of Green Tea spans
    until sweep moves them): the slot's object was marked this cycle.
    Sweep makes them the new alloc_bits and starts an empty set, resets
    freeindex to 0 and alloc_count to the number marked.
  * sweepgen, relative to the heap's (Go: mspan.sweepgen against
    mheap.sweepgen, which grows by 2 each cycle): sg-2 needs sweeping,
    sg-1 is being swept, sg is swept, sg+1 was cached before the cycle
    began and needs sweeping, sg+3 is cached and swept.
  * page_marked (Go: the span's bit in heapArena.pageMarks): some object
    in the span was marked in a way that sets it (model.gc.mark); the heap
    reclaimer sweeps only spans without it.
  * in_use: False once the span's pages went back to the page allocator
    (Go: mSpanDead); a dead span can still sit in an unswept set, which
    then skips it.

`objects[i]` lists the ids of the objects in slot i, in offset order (the
model's stand-in for the memory): one object, or for a tiny block (the
16-byte blocks of the tiny allocator) every object packed into it.

Invariants: a slot holds objects exactly when it is allocated
(`is_allocated`: below freeindex or its alloc bit set); alloc_count counts
the allocated slots; mark_bits and alloc_bits have no bit at or above
nelems, and no slot is marked unless allocated; outside a mark phase
mark_bits is 0 on every swept span.
"""

from __future__ import annotations

import attrs

from model.gc.results import ObjectId
from model.gc.spanclass import PAGE_BYTES, SpanClass


def low_mask(n: int) -> int:
    return (1 << n) - 1


@attrs.define
class Span:
    base_page: int
    npages: int
    span_class: SpanClass
    slot_bytes: int
    nelems: int
    alloc_bits: int = 0
    mark_bits: int = 0
    freeindex: int = 0
    alloc_count: int = 0
    sweepgen: int = 0
    page_marked: bool = False
    in_use: bool = True
    objects: list[list[ObjectId]] = attrs.field(factory=list)

    def __attrs_post_init__(self) -> None:
        if not self.objects:
            self.objects = [[] for _ in range(self.nelems)]

    @property
    def base_addr(self) -> int:
        return self.base_page * PAGE_BYTES

    @property
    def limit_addr(self) -> int:
        return self.base_addr + self.npages * PAGE_BYTES

    @property
    def noscan(self) -> bool:
        return self.span_class.noscan

    @property
    def large(self) -> bool:
        return self.span_class.size_class == 0

    def slot_addr(self, index: int) -> int:
        return self.base_addr + index * self.slot_bytes

    # Allocation state.

    def live_bits(self) -> int:
        """The allocated slots as a bitmap: every slot below freeindex, and those alloc_bits keeps."""
        return (self.alloc_bits | low_mask(self.freeindex)) & low_mask(self.nelems)

    def is_allocated(self, index: int) -> bool:
        return index < self.freeindex or bool(self.alloc_bits >> index & 1)

    def next_free_index(self) -> int | None:
        """Take the lowest free slot at or above freeindex (Go: nextFreeIndex): freeindex moves past it.

        None, with freeindex left at nelems, when there is none.
        """
        free = ~self.alloc_bits & low_mask(self.nelems) & ~low_mask(self.freeindex)
        if free == 0:
            self.freeindex = self.nelems
            return None
        index = (free & -free).bit_length() - 1
        self.freeindex = index + 1
        return index

    def allocated_indices(self) -> list[int]:
        return bit_indices(self.live_bits())

    def is_full(self) -> bool:
        return self.alloc_count == self.nelems

    # Marking.

    def is_marked(self, index: int) -> bool:
        return bool(self.mark_bits >> index & 1)

    def set_marked(self, index: int) -> None:
        self.mark_bits |= 1 << index

    def marked_count(self) -> int:
        return self.mark_bits.bit_count()


def bit_indices(bits: int) -> list[int]:
    out = []
    while bits:
        low = bits & -bits
        out.append(low.bit_length() - 1)
        bits ^= low
    return out
