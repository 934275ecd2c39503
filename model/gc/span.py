"""Spans: runs of pages cut into equal object slots, with allocation bits and mark bits.

A span (Go: mspan, mheap.go) takes `npages` pages from the page allocator
(model.pageheap) and holds objects of one span class (model.gc.spanclass):
`nelems` slots of `slot_bytes` each, slot i starting at
base_page * 8192 + i * slot_bytes. A large object's span has one slot, the
whole span.

Two bitmaps, one bit per slot (Python ints, bit i = slot i):

  * alloc_bits: the slot holds a live object. Go keeps allocBits as of the
    last sweep plus a `freeindex` below which every slot counts as
    allocated; the model sets the bit when it allocates, which says the
    same thing more simply.
  * mark_bits: the slot's object was marked in the current cycle (Go:
    gcmarkBits). Only marking sets it; sweep (model.gc.sweep) makes the mark
    bits the new allocation bits and clears them, as Go swaps allocBits and
    gcmarkBits.

`objects[i]` is the id of the object in slot i (None when free): the model's
stand-in for the memory itself.

Invariants: mark_bits and alloc_bits have no bit at or above nelems;
objects[i] is None exactly when bit i of alloc_bits is clear; outside a
mark phase mark_bits is 0.
"""

from __future__ import annotations

import attrs

from model.gc.results import ObjectId
from model.gc.spanclass import PAGE_BYTES, SpanClass


@attrs.define
class Span:
    base_page: int
    npages: int
    span_class: SpanClass
    slot_bytes: int
    nelems: int
    alloc_bits: int = 0
    mark_bits: int = 0
    objects: list[ObjectId | None] = attrs.field(factory=list)

    def __attrs_post_init__(self) -> None:
        if not self.objects:
            self.objects = [None] * self.nelems

    @property
    def base_addr(self) -> int:
        return self.base_page * PAGE_BYTES

    @property
    def limit_addr(self) -> int:
        return self.base_addr + self.npages * PAGE_BYTES

    @property
    def noscan(self) -> bool:
        return self.span_class.noscan

    def slot_addr(self, index: int) -> int:
        return self.base_addr + index * self.slot_bytes

    def free_index(self) -> int | None:
        """The lowest free slot (Go: nextFreeIndex from freeindex 0), or None when the span is full."""
        free = ~self.alloc_bits & ((1 << self.nelems) - 1)
        if free == 0:
            return None
        return (free & -free).bit_length() - 1

    def is_allocated(self, index: int) -> bool:
        return bool(self.alloc_bits >> index & 1)

    def is_marked(self, index: int) -> bool:
        return bool(self.mark_bits >> index & 1)

    def set_marked(self, index: int) -> None:
        self.mark_bits |= 1 << index

    def allocated_indices(self) -> list[int]:
        out = []
        bits = self.alloc_bits
        while bits:
            low = bits & -bits
            out.append(low.bit_length() - 1)
            bits ^= low
        return out

    def alloc_count(self) -> int:
        return self.alloc_bits.bit_count()

    def is_full(self) -> bool:
        return self.alloc_count() == self.nelems
