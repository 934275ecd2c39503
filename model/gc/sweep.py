"""Sweep: mark termination's hand-over, lazy sweeping, and sweep termination, as steps.

After mark termination every live object is marked. Sweeping a span
(model.gc.mheap.SpanHeap.sweep_span, Go: mspan.sweep) then:

  1. Specials first. An unmarked slot holding an object with a finalizer
     is not freed: its mark bit is set (it survives this cycle), the
     finalizer specials are removed, and the finalizers are queued with
     their objects as arguments (`heap.finq`, Go: queuefinalizer). Marking
     kept everything they point to alive (model.gc.mark, specials root).
     Weak pointers to the slot's objects are cleared now, before the
     finalizer runs, so the other objects of a tiny block kept for a
     finalizer are freed as far as the program can tell: the model forgets
     them, and the block stays allocated for the finalizer's object.
  2. The mark bits become the alloc bits (Go: allocBits = gcmarkBits),
     and the mark bits are cleared for the next cycle. Every allocated
     slot whose bit was clear is freed, with every object in it.
  3. A small span with nothing left, or a large span whose object died,
     returns its pages to the page allocator (Go: mheap.freeSpan); the
     others go to their class's partial or full swept set.

When spans are swept (Go: gcMarkTermination, gcSweep, bgsweep, gcStart):

  * mark_termination: sweepgen moves on, so every span is unswept, and
    every P hands back its cached spans (model.gc.malloc.release_all):
    those it cached before this point are swept at once;
  * then lazily, by allocations that need a span (model.gc.malloc) and by
    the background sweeper, one span per sweep_one;
  * finish_sweep (sweep termination, which Go runs when the next cycle
    starts): every span left.

`sweep(heap)` is all of it at once, the step of the first GC trace format:
mark termination and sweep termination together.

Over a whole cycle sweep frees exactly the allocated objects that are
unmarked and have no finalizer, and queues exactly the finalizers of the
unmarked objects that have one (model.gc.invariants.sweep_violations).
"""

from __future__ import annotations

import attrs

from model.gc.heap import GcHeap
from model.gc.malloc import release_all
from model.gc.mheap import SpanSwept
from model.gc.results import ObjectId, sort_ids


@attrs.frozen
class SweepResult:
    freed: tuple[ObjectId, ...]
    finalize: tuple[ObjectId, ...]
    spans_freed: int
    pages_freed: int
    spans_swept: tuple[int, ...] = ()  # first pages of the spans swept, in order

    @staticmethod
    def of(swept: list[SpanSwept]) -> SweepResult:
        freed = [oid for s in swept for oid in s.freed]
        finalize = [oid for s in swept for oid in s.finalize]
        gone = [s for s in swept if s.span_freed]
        return SweepResult(sort_ids(freed), sort_ids(finalize), len(gone), sum(s.npages for s in gone),
                           tuple(s.base_page for s in swept))

    @staticmethod
    def of_results(*results: SweepResult) -> SweepResult:
        return SweepResult(
            sort_ids(oid for r in results for oid in r.freed),
            sort_ids(oid for r in results for oid in r.finalize),
            sum(r.spans_freed for r in results),
            sum(r.pages_freed for r in results),
            tuple(page for r in results for page in r.spans_swept),
        )


def mark_termination(heap: GcHeap) -> SweepResult:
    """A new sweep cycle begins and every P's cache is flushed (Go: gcSweep, then prepareForSweep on every P)."""
    heap.take_swept()
    heap.start_sweep_cycle()
    for cache in heap.mcaches:
        release_all(heap, cache)
    return SweepResult.of(heap.take_swept())


def sweep_one(heap: GcHeap) -> SweepResult:
    """One step of the background sweeper (Go: sweepone): at most one span swept."""
    heap.take_swept()
    heap.sweepone()
    return SweepResult.of(heap.take_swept())


def finish_sweep(heap: GcHeap) -> SweepResult:
    """Sweep termination: every span left is swept."""
    heap.take_swept()
    heap.finish_sweep()
    return SweepResult.of(heap.take_swept())


def sweep(heap: GcHeap) -> SweepResult:
    """Mark termination and sweep termination at once: after it every span is swept."""
    heap.take_swept()
    heap.start_sweep_cycle()
    for cache in heap.mcaches:
        release_all(heap, cache)
    heap.finish_sweep()
    return SweepResult.of(heap.take_swept())
