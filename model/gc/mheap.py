"""The span heap: spans on the page allocator, central lists, and sweeping (Go: mheap.go, mgcsweep.go).

SpanHeap is what sits between the allocation caches (model.gc.malloc) and
the page allocator. model.gc.heap.GcHeap extends it with objects and roots.

Pages. A span's pages come from the page allocator model
(model.pageheap.PageHeap, first fit, growing the heap by whole chunks when
it has no room), or, when `recorded` is set, from a queue of first pages
given from outside: a trace recorded from the Go runtime names the pages
Go's page allocator chose, since they depend on everything else the
process allocated (model.gc.mheap.RecordedPages). Pages are grouped into
64 MiB arenas of 8192 pages; the heap reclaimer walks them in arena order.

Sweeping. sweepgen grows by 2 at each mark termination (start_sweep_cycle,
Go: gcSweep), which makes every in-use span unswept (its sweepgen is now
sg-2) and every swept set of the central lists an unswept one. A span is
swept (sweep_span, Go: mspan.sweep) by whoever first acquires it
(try_acquire: sg-2 -> sg-1):

  * an allocation that needs a span of its class (model.gc.malloc),
  * the background sweeper, one span per step (sweepone: the unswept sets
    in order of span class, full before partial, each first in first out),
  * the heap reclaimer (reclaim, Go: mheap.reclaim), which an allocation
    of a new span runs while sweeping is not done: it sweeps, in arena
    order 512 pages at a time, the unswept spans whose page mark is clear
    (none of their objects were marked, so sweeping likely frees them)
    until it has freed as many pages as the new span needs, banking any
    surplus as credit (as does sweepone for every span it frees),
  * mark termination, for spans a P had cached since before it
    (model.gc.malloc.uncache_span), and sweep termination (finish_sweep:
    sweepone until nothing is left; Go runs it when the next cycle starts).

Sweeping a span runs the finalizers' specials first (an unmarked slot
holding an object with a finalizer is marked again and the finalizer
queued; the slot's other objects, unreachable, are freed), then the mark
bits become the alloc bits, freeindex goes to 0 and alloc_count to the
number marked. A small span with nothing left goes back to the page
allocator, else to the partial or full swept set of its class; a large
span goes back if its object died. An allocation sweeping a span
(`preserve`) keeps it out of the sets, even when empty, to allocate from.

Each sweep is logged (`swept`), so a step can report what it freed.

Sweeping is *done* (sweep_drained, Go: the drained bit of sweep.active)
only once sweepone has looked and found nothing, even if every span was
swept by other means before.

The module is one piece: these are the operations of one structure (Go's
mheap and sweeper share its state: sweepgen, the central lists, the
reclaim index and credit), and each calls the others.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs

from model.errors import InvalidOperation, ModelError
from model.gc.mcache import MCache
from model.gc.results import ObjectId
from model.gc.span import Span
from model.gc.spanclass import NUM_SPAN_CLASSES, Placement, SpanClass, objects_per_span
from model.gc.spanset import MCentral
from model.geometry import AMD64, Geometry
from model.pageheap import PageHeap

PAGES_PER_ARENA = 8192  # Go: pagesPerArena, 64 MiB arenas of 8 KiB pages on 64-bit Linux
RECLAIM_CHUNK_PAGES = 512  # Go: pagesPerReclaimerChunk
DONE = 1 << 63  # Go's reclaimIndex once every arena has been walked
NUM_SWEEP_CLASSES = 2 * NUM_SPAN_CLASSES  # Go: numSweepClasses, span class * 2 + (0 full, 1 partial)


class PagesNotRecorded(ModelError):
    """The model asked for pages where the recorded run took none (or the other way round)."""


@attrs.define
class RecordedPages:
    """First pages for new spans, given from outside (a recorded run's page allocator).

    `candidate` is the page the recorded run's step put its object's span at; the model may take it
    for a new span, once, if no span of its own is there.
    """

    arena_pages: list[int] = attrs.Factory(list)  # first page of each arena, in Go's order (heapArenas)
    candidate: int | None = None

    def take(self, npages: int, in_use: dict[int, Span]) -> int:
        page = self.candidate
        if page is None or page < 0 or page in in_use:
            raise PagesNotRecorded(f"the model takes a new span of {npages} pages here; the recorded run put "
                                   f"the object in {'no span' if page is None else f'the span at page {page}'}")
        self.candidate = None
        return page


@attrs.frozen
class SpanSwept:
    """One sweep of one span: by whom, what it freed and finalized, and whether the span's pages went back."""

    base_page: int
    by: str  # "alloc", "background", "reclaim", "flush" or "termination"
    freed: tuple[ObjectId, ...]
    finalize: tuple[ObjectId, ...]
    span_freed: bool
    npages: int


@attrs.define
class SpanHeap:
    pages: PageHeap = attrs.Factory(PageHeap.create)
    next_chunk: int = 0
    recorded: RecordedPages | None = None
    spans: dict[int, Span] = attrs.Factory(dict)  # in-use spans by first page
    span_of_page: dict[int, Span] = attrs.Factory(dict)
    centrals: dict[int, MCentral] = attrs.Factory(dict)  # by span class value, made when first used
    mcaches: list[MCache] = attrs.Factory(lambda: [MCache(0)])
    sweepgen: int = 0
    sweep_drained: bool = True  # a fresh heap has nothing to sweep
    central_index: int = 0  # Go: sweep.centralIndex, the first sweep class that may hold unswept spans
    reclaim_index: int = DONE
    reclaim_credit: int = 0
    sweep_arenas: list[int] = attrs.Factory(list)  # Go: sweepArenas, taken at mark termination
    finalizers: set[ObjectId] = attrs.Factory(set)
    finq: list[ObjectId] = attrs.Factory(list)
    swept: list[SpanSwept] = attrs.Factory(list)

    @property
    def geometry(self) -> Geometry:
        return self.pages.geometry if self.pages is not None else AMD64

    def central(self, span_class: SpanClass) -> MCentral:
        central = self.centrals.get(span_class.value)
        if central is None:
            central = self.centrals[span_class.value] = MCentral(span_class)
        return central

    def mcache(self, p: int) -> MCache:
        if isinstance(p, bool) or not isinstance(p, int) or not 0 <= p < len(self.mcaches):
            raise InvalidOperation(f"P {p!r} does not exist (there are {len(self.mcaches)})")
        return self.mcaches[p]

    def take_swept(self) -> list[SpanSwept]:
        """The sweeps since the last call."""
        out, self.swept = self.swept, []
        return out

    # Pages and spans.

    def arenas(self) -> list[int]:
        """First pages of the heap's arenas in Go's order (recorded, or those the page heap has grown into)."""
        if self.recorded is not None:
            return list(self.recorded.arena_pages)
        chunk_pages = self.geometry.chunk_pages
        return sorted({c * chunk_pages // PAGES_PER_ARENA * PAGES_PER_ARENA for c in range(self.next_chunk)})

    def _alloc_pages(self, npages: int) -> int:
        if self.recorded is not None:
            page = self.recorded.take(npages, self.span_of_page)
            for p in (page, page + npages - 1):
                if p in self.span_of_page:
                    raise InvalidOperation(f"recorded span at page {page} overlaps the span at page "
                                           f"{self.span_of_page[p].base_page}")
            return page
        result = self.pages.alloc(npages)
        if result.page is None:
            chunk_pages = self.geometry.chunk_pages
            nchunks = -(-npages // chunk_pages)
            self.pages.grow(self.next_chunk, nchunks)
            self.next_chunk += nchunks
            result = self.pages.alloc(npages)
        assert result.page is not None, "a freshly grown heap has room"
        return result.page

    def alloc_span(self, place: Placement) -> Span:
        """A new empty span for the class (Go: mheap.alloc, then initSpan), reclaiming first if sweeping is on."""
        if not self.sweep_drained:
            self.reclaim(place.span_pages)
        page = self._alloc_pages(place.span_pages)
        span = Span(page, place.span_pages, place.span_class, place.slot_bytes, objects_per_span(place.span_class),
                    sweepgen=self.sweepgen)
        self.spans[page] = span
        for p in range(page, page + span.npages):
            self.span_of_page[p] = span
        return span

    def free_span(self, span: Span) -> None:
        """Return an empty span's pages (Go: mheap.freeSpan)."""
        assert span.live_bits() == 0 and span.in_use
        if self.recorded is None:
            self.pages.free(span.base_page, span.npages)
        span.in_use = False
        del self.spans[span.base_page]
        for p in range(span.base_page, span.base_page + span.npages):
            del self.span_of_page[p]

    # Sweeping.

    def try_acquire(self, span: Span) -> bool:
        """Take an unswept span to sweep it (Go: sweepLocker.tryAcquire): sg-2 becomes sg-1."""
        if span.in_use and span.sweepgen == self.sweepgen - 2:
            span.sweepgen = self.sweepgen - 1
            return True
        return False

    def release_object(self, oid: ObjectId) -> None:
        """Forget an object sweep freed (model.gc.heap.GcHeap keeps the objects)."""
        raise NotImplementedError

    def sweep_span(self, span: Span, preserve: bool, by: str) -> bool:
        """Sweep an acquired span (Go: mspan.sweep); True if its pages went back to the page allocator."""
        sg = self.sweepgen
        if not span.in_use or span.sweepgen != sg - 1:
            raise AssertionError(f"sweep of span at page {span.base_page} with sweepgen {span.sweepgen - sg:+d}")
        freed: list[ObjectId] = []
        finalize: list[ObjectId] = []
        for index in span.allocated_indices():
            if span.is_marked(index):
                continue
            members = span.objects[index]
            with_finalizer = [oid for oid in members if oid in self.finalizers]
            if with_finalizer:
                span.set_marked(index)  # the object survives for its finalizer
                for oid in with_finalizer:
                    self.finalizers.discard(oid)
                    self.finq.append(oid)
                    finalize.append(oid)
                span.objects[index] = with_finalizer
                freed.extend(oid for oid in members if oid not in with_finalizer)
        live = span.live_bits()
        if span.mark_bits & ~live:
            raise AssertionError(f"span at page {span.base_page}: a free slot is marked (Go: found pointer to free "
                                 "object)")
        for index in span.allocated_indices():
            if not span.is_marked(index):
                freed.extend(span.objects[index])
                span.objects[index] = []
        nalloc = span.marked_count()
        nfreed = span.alloc_count - nalloc
        span.alloc_count = nalloc
        span.freeindex = 0
        span.alloc_bits, span.mark_bits = span.mark_bits, 0
        span.sweepgen = sg
        for oid in freed:
            self.release_object(oid)
        span_freed = False
        central = self.central(span.span_class)
        if not preserve:
            if (not span.large and nalloc == 0) or (span.large and nfreed != 0):
                self.free_span(span)
                span_freed = True
            elif nalloc == span.nelems:
                central.full_swept(sg).push(span)
            else:
                central.partial_swept(sg).push(span)
        self.swept.append(SpanSwept(span.base_page, by, tuple(freed), tuple(finalize), span_freed, span.npages))
        return span_freed

    def next_span_for_sweep(self) -> Span | None:
        """Pop the next unswept entry, by sweep class: full then partial of each span class (Go: nextSpanForSweep)."""
        sg = self.sweepgen
        for sweep_class in range(self.central_index, NUM_SWEEP_CLASSES):
            central = self.centrals.get(sweep_class >> 1)
            if central is None:
                continue
            unswept = central.partial_unswept(sg) if sweep_class & 1 else central.full_unswept(sg)
            span = unswept.pop()
            if span is not None:
                self.central_index = max(self.central_index, sweep_class)
                return span
        self.central_index = NUM_SWEEP_CLASSES
        return None

    def sweepone(self, by: str = "background") -> int | None:
        """Sweep one span (Go: sweepone): its pages, 0 if it kept them, None when nothing was left to sweep."""
        if self.sweep_drained:
            return None
        while True:
            span = self.next_span_for_sweep()
            if span is None:
                self.sweep_drained = True
                return None
            if not span.in_use:
                continue  # freed since it was pushed
            if self.try_acquire(span):
                if self.sweep_span(span, False, by):
                    self.reclaim_credit += span.npages
                    return span.npages
                return 0

    def finish_sweep(self) -> int:
        """Sweep termination: sweep everything left (Go: the sweepone loops of gcStart and finishsweep_m).
        Returns how many spans it swept."""
        count = 0
        while self.sweepone("termination") is not None:
            count += 1
        return count

    def unswept_spans(self) -> list[Span]:
        return [s for s in self.spans.values() if s.sweepgen == self.sweepgen - 2]

    def start_sweep_cycle(self) -> None:
        """Mark termination's part of sweeping (Go: gcSweep): a new sweepgen, every span unswept."""
        self.sweepgen += 2
        self.sweep_drained = False
        self.central_index = 0
        self.reclaim_index = 0
        self.reclaim_credit = 0
        self.sweep_arenas = self.arenas()

    def reclaim(self, npages: int) -> None:
        """Sweep unmarked spans in arena order until `npages` pages were freed (Go: mheap.reclaim)."""
        if self.reclaim_index >= DONE:
            return
        while npages > 0:
            if self.reclaim_credit > 0:
                take = min(self.reclaim_credit, npages)
                self.reclaim_credit -= take
                npages -= take
                continue
            index = self.reclaim_index
            self.reclaim_index += RECLAIM_CHUNK_PAGES
            if index // PAGES_PER_ARENA >= len(self.sweep_arenas):
                self.reclaim_index = DONE
                return
            found = self.reclaim_chunk(index)
            if found <= npages:
                npages -= found
            else:
                self.reclaim_credit += found - npages
                npages = 0

    def reclaim_chunk(self, index: int) -> int:
        """Sweep the unswept spans without a page mark that start in 512 pages of the arenas (Go: reclaimChunk)."""
        if self.sweep_drained:
            return 0
        first = self.sweep_arenas[index // PAGES_PER_ARENA] + index % PAGES_PER_ARENA
        freed = 0
        for span in self._spans_starting_in(first, first + RECLAIM_CHUNK_PAGES):
            if not span.page_marked and self.try_acquire(span):
                npages = span.npages
                if self.sweep_span(span, False, "reclaim"):
                    freed += npages
        return freed

    def _spans_starting_in(self, lo: int, hi: int) -> Iterator[Span]:
        for page in sorted(p for p in self.spans if lo <= p < hi):
            span = self.spans.get(page)
            if span is not None:
                yield span
