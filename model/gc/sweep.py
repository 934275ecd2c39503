"""Sweep: mark bits become allocation bits; unmarked objects are freed or finalized.

After mark termination every live object is marked. Sweep visits each
in-use span, in address order (Go: mspan.sweep in mgcsweep.go):

  1. Specials first. An unmarked object with a finalizer is not freed: its
     mark bit is set (it survives this cycle), its finalizer special is
     removed, and the finalizer is queued with the object as argument
     (`heap.finq`, Go: queuefinalizer). Marking kept everything it points
     to alive (model.gc.mark, specials root), so the finalizer finds it all.
     Weak pointers to it are cleared now, before the finalizer runs.
  2. The mark bits become the allocation bits (Go: allocBits = gcmarkBits),
     and the mark bits are cleared for the next cycle. Every allocated
     object whose bit was clear is freed: its slot becomes free.
  3. A span with no object left returns its pages to the page allocator
     (Go: mheap.freeSpan); one with a free slot is offered to allocation
     again.

Sweep frees exactly the allocated objects that are unmarked and have no
finalizer, and queues exactly the finalizers of the unmarked objects that
have one (model.gc.invariants.sweep_violations).
"""

from __future__ import annotations

import attrs

from model.gc.heap import GcHeap
from model.gc.results import ObjectId, sort_ids


@attrs.frozen
class SweepResult:
    freed: tuple[ObjectId, ...]
    finalize: tuple[ObjectId, ...]
    spans_freed: int
    pages_freed: int


def sweep(heap: GcHeap) -> SweepResult:
    freed: list[ObjectId] = []
    finalize: list[ObjectId] = []
    spans_freed = pages_freed = 0
    for base_page in sorted(heap.spans):
        span = heap.spans[base_page]
        for index in span.allocated_indices():
            oid = span.objects[index]
            assert oid is not None
            if not span.is_marked(index) and oid in heap.finalizers:
                span.set_marked(index)
                heap.finalizers.discard(oid)
                heap.finq.append(oid)
                finalize.append(oid)
        dead = [span.objects[i] for i in span.allocated_indices() if not span.is_marked(i)]
        span.alloc_bits, span.mark_bits = span.mark_bits, 0
        for oid in dead:
            assert oid is not None
            freed.append(oid)
            heap.release_object(oid)
        if span.alloc_bits == 0:
            spans_freed += 1
            pages_freed += span.npages
            heap.free_span(span)
        else:
            heap.note_room(span)
    return SweepResult(sort_ids(freed), sort_ids(finalize), spans_freed, pages_freed)
