"""The small-object path: mallocgc, the per-P caches, the central lists and the tiny allocator.

Go: malloc.go (mallocgc and its tiny, small and large paths, nextFree),
mcache.go (refill, allocLarge, releaseAll), mcentral.go (cacheSpan,
uncacheSpan, grow). An allocation of `size` bytes on P p:

  * size 0: no memory (Go returns zerobase).
  * tiny (noscan, under 16 bytes): into the P's tiny block at the first
    offset aligned for the size (8 for multiples of 8, else 4, else 2) if
    it fits in the 16 bytes; else a new 16-byte block is allocated from
    the tiny span class, and it becomes the tiny block if it has more room
    left than the old one (size < old offset, or there was none).
  * small: the lowest free slot at or above freeindex of the P's cached
    span of the class (Span.next_free_index). When the span has none, it
    is handed back (uncache_span) and the central list gives another
    (cache_span): a swept span with a free slot if there is one; else,
    while sweeping is not done, an unswept partial span, swept on the spot
    and used even if now empty; else an unswept full span, swept, used if
    sweeping freed a slot (freeindex set to that slot) or put on the full
    swept set; after at most 100 of these (Go's spanBudget), a new span
    (SpanHeap.alloc_span, which runs the reclaimer first).
  * large (over 32760 bytes): a span of its own (class 0), put on the
    full swept set at once, freeindex 1, alloc_count 1.

A span a P caches gets sweepgen sg+3 and is in no set. uncache_span puts
it back: if it was cached before the current cycle began (sg+1: mark
termination came since), it is swept now and sweeping files it;
otherwise it goes to the partial or full swept set by whether it has a
free slot. release_all (Go: mcache.releaseAll, at mark termination) hands
back every cached span, in span class order, and forgets the tiny block.

malloc returns a Malloc: the span, slot, offset in the slot (tiny
objects), and whether the slot is a new one (False for a tiny object put
in the existing block: allocating black during marking marks new slots
only, Go: gcmarknewobject).
"""

from __future__ import annotations

import attrs

from model.gc.mcache import MCache, fits_in_block, tiny_align
from model.gc.mheap import SpanHeap
from model.gc.span import Span
from model.gc.spanclass import Placement, SpanClass, placement

SPAN_BUDGET = 100  # Go: cacheSpan's spanBudget


@attrs.frozen
class Malloc:
    span: Span | None  # None for a zero-size object
    index: int
    offset: int
    new_slot: bool
    new_span: bool


def malloc(heap: SpanHeap, place: Placement, size: int, p: int) -> Malloc:
    """Allocate an object of `size` bytes placed by `place` (model.gc.spanclass.placement) on P `p`."""
    cache = heap.mcache(p)
    if place.zero:
        return Malloc(None, 0, 0, False, False)
    if place.tiny:
        return malloc_tiny(heap, cache, size)
    if place.large:
        span = alloc_large(heap, place)
        return Malloc(span, 0, 0, True, True)
    return malloc_small(heap, cache, place)


def malloc_small(heap: SpanHeap, cache: MCache, place: Placement) -> Malloc:
    span_class = place.span_class
    span = cache.alloc.get(span_class.value)
    index = span.next_free_index() if span is not None else None
    new_span = False
    if index is None:
        span, new_span = refill(heap, cache, span_class, place)
        index = span.next_free_index()
        assert index is not None, "a span from the central list has a free slot"
    span.alloc_count += 1
    return Malloc(span, index, 0, True, new_span)


def malloc_tiny(heap: SpanHeap, cache: MCache, size: int) -> Malloc:
    offset = tiny_align(cache.tiny_offset, size)
    if cache.tiny_span is not None and fits_in_block(offset, size):
        cache.tiny_offset = offset + size
        return Malloc(cache.tiny_span, cache.tiny_index, offset, False, False)
    block = malloc_small(heap, cache, tiny_placement())
    if cache.tiny_span is None or size < cache.tiny_offset:
        cache.tiny_span, cache.tiny_index, cache.tiny_offset = block.span, block.index, size
    return block


def tiny_placement() -> Placement:
    """A 16-byte block of the tiny span class."""
    return placement(1, True, tiny=True)


def refill(heap: SpanHeap, cache: MCache, span_class: SpanClass, place: Placement) -> tuple[Span, bool]:
    """Hand back the P's full span of the class and cache another (Go: mcache.refill)."""
    old = cache.alloc.pop(span_class.value, None)
    if old is not None:
        assert old.alloc_count == old.nelems, "refill of a span with room"
        assert old.sweepgen == heap.sweepgen + 3, "refill of a span that is not cached"
        uncache_span(heap, old)
    span, new_span = cache_span(heap, span_class, place)
    assert span.alloc_count < span.nelems
    span.sweepgen = heap.sweepgen + 3
    cache.alloc[span_class.value] = span
    return span, new_span


def cache_span(heap: SpanHeap, span_class: SpanClass, place: Placement) -> tuple[Span, bool]:
    """A span with a free slot from the class's central list, or a new one (Go: mcentral.cacheSpan)."""
    central = heap.central(span_class)
    sg = heap.sweepgen
    span = central.partial_swept(sg).pop()
    if span is not None:
        return span, False
    budget = SPAN_BUDGET
    if not heap.sweep_drained:
        while budget >= 0:
            span = central.partial_unswept(sg).pop()
            if span is None:
                break
            if heap.try_acquire(span):
                heap.sweep_span(span, True, "alloc")
                return span, False
            budget -= 1
        while budget >= 0:
            span = central.full_unswept(sg).pop()
            if span is None:
                break
            if heap.try_acquire(span):
                heap.sweep_span(span, True, "alloc")
                index = span.next_free_index()
                if index is not None:
                    span.freeindex = index
                    return span, False
                central.full_swept(sg).push(span)
            budget -= 1
    return heap.alloc_span(place), True


def uncache_span(heap: SpanHeap, span: Span) -> None:
    """Give a cached span back to its central list (Go: mcentral.uncacheSpan)."""
    assert span.alloc_count > 0, "uncaching an empty span"
    sg = heap.sweepgen
    central = heap.central(span.span_class)
    if span.sweepgen == sg + 1:  # cached before this cycle began: sweep it now
        span.sweepgen = sg - 1
        heap.sweep_span(span, False, "flush")
    else:
        span.sweepgen = sg
        if span.alloc_count < span.nelems:
            central.partial_swept(sg).push(span)
        else:
            central.full_swept(sg).push(span)


def alloc_large(heap: SpanHeap, place: Placement) -> Span:
    """A span for one large object (Go: mcache.allocLarge and mallocgcLarge)."""
    span = heap.alloc_span(place)
    heap.central(place.span_class).full_swept(heap.sweepgen).push(span)
    span.freeindex = 1
    span.alloc_count = 1
    return span


def release_all(heap: SpanHeap, cache: MCache) -> None:
    """Hand back every cached span and forget the tiny block (Go: mcache.releaseAll)."""
    for value in sorted(cache.alloc):
        uncache_span(heap, cache.alloc[value])
    cache.alloc.clear()
    cache.clear_tiny()
