"""FastPageHeap: the page heap a trace drives, with the same methods as model.pageheap.PageHeap.

It is one page allocator (fast.pagealloc.FastPageAlloc, `alloc_state`) and
its page caches by id (fast.pagecache.PageCache, `caches`), and every trace
operation is one method: grow, alloc, free, cache_fill, cache_alloc,
cache_flush, scavenge, next_gen, pad, scavenger_wake. Each checks its whole input first and
raises model.errors.InvalidOperation, with nothing changed, on exactly the
conditions the model refuses; results are model.results values. state()
gives the whole observable state (fast.state), clone() an independent copy.

Cache ids are integers >= 0, known from their first fill (even an empty
one). Filling a known non-empty cache is refused; alloc and flush on a known
empty cache do nothing (alloc fails). A free may not touch a page a cache
holds free. Invariant: `caches` holds every id ever filled.

Faults (fast.faults) are given to the constructor and never change after:
each is handed, as a plain switch, to the one mechanism it breaks.
"""

from __future__ import annotations

import copy

from fast import pagecache
from fast.faults import (
    FLUSH_DROPS_SCAVENGED,
    HINT_TOO_FAR,
    MERGE_WIDTH_OFF_BY_ONE,
    MISSED_LEVEL_UPDATE,
    check_names,
)
from fast.pagealloc import FastPageAlloc, check_count
from fast.pagecache import CACHE_PAGES, PageCache
from fast.state import State, heap_state
from model.errors import InvalidOperation
from model.geometry import AMD64, Geometry
from model.results import AllocResult, CacheFill, ScavengeResult
from model.scavenger import ScavengerState, WakeResult, wake_heap


class FastPageHeap:
    """The page heap a trace drives, with the same methods as model.pageheap.PageHeap."""

    def __init__(
        self,
        geometry: Geometry = AMD64,
        phys_page_pages: int = 1,
        huge_page_pages: int = 0,
        faults: frozenset[str] = frozenset(),
    ) -> None:
        self.faults = check_names(faults)
        self.alloc_state = FastPageAlloc(
            geometry,
            phys_page_pages,
            huge_page_pages,
            merge_width_off_by_one=MERGE_WIDTH_OFF_BY_ONE in self.faults,
            missed_level_update=MISSED_LEVEL_UPDATE in self.faults,
            hint_too_far=HINT_TOO_FAR in self.faults,
        )
        self.caches: dict[int, PageCache] = {}
        # The background scavenger's pacing is a few floats per wake: fast/ runs the model's own (model.scavenger).
        self.scavenger = ScavengerState()
        self.flush_drops_scavenged = FLUSH_DROPS_SCAVENGED in self.faults

    @property
    def geometry(self) -> Geometry:
        return self.alloc_state.geometry

    def clone(self) -> FastPageHeap:
        """An independent copy of the whole heap (the oracle probes a copy to see where states differ)."""
        twin = object.__new__(type(self))
        twin.__dict__.update(self.__dict__)
        twin.alloc_state = self.alloc_state.clone()
        twin.caches = {cache_id: cache.copy() for cache_id, cache in self.caches.items()}
        twin.scavenger = copy.deepcopy(self.scavenger)
        return twin

    # Trace operations.

    def grow(self, chunk: int, nchunks: int) -> None:
        self.alloc_state.grow(chunk, nchunks)

    def alloc(self, npages: int) -> AllocResult:
        return self.alloc_state.alloc(npages)

    def free(self, page: int, npages: int) -> None:
        used = self.alloc_state.check_free(page, npages)
        end = page + npages
        holder: tuple[int, int] | None = None  # the lowest cache id holding a page of the range, and that page
        for cache_id, cache in self.caches.items():
            base = cache.base
            if base is not None and base < end and page < base + CACHE_PAGES and cache.free:  # overlap: look
                held = cache.first_held(page, npages)
                if held is not None and (holder is None or cache_id < holder[0]):
                    holder = cache_id, held
        if holder is not None:
            raise InvalidOperation(f"free of page {holder[1]}, which cache {holder[0]} holds and has not handed out")
        self.alloc_state.free_checked(page, npages, used)

    def cache_fill(self, cache_id: int) -> CacheFill:
        check_count("cache", cache_id, 0)
        existing = self.caches.get(cache_id)
        if existing is not None and not existing.is_empty():
            raise InvalidOperation(f"cache_fill into cache {cache_id}, which is not empty")
        cache = pagecache.fill(self.alloc_state)
        self.caches[cache_id] = cache
        return cache.contents()

    def cache_alloc(self, cache_id: int, npages: int) -> AllocResult:
        check_count("npages", npages)
        if npages > CACHE_PAGES:
            raise InvalidOperation(f"cache_alloc of {npages} pages; a cache holds at most {CACHE_PAGES}")
        return self._cache(cache_id).alloc(npages)

    def cache_flush(self, cache_id: int) -> None:
        pagecache.flush(self._cache(cache_id), self.alloc_state, self.flush_drops_scavenged)

    def scavenge(self, npages: int, force: bool = True) -> ScavengeResult:
        """Forced scavenging by default; force=False is the background scavenger's kind."""
        return ScavengeResult(self.alloc_state.scavenge(npages, force=force))

    def next_gen(self) -> None:
        """End a GC cycle: a new scavenger generation (Go: scavengeIndex.nextGen; trace version 2)."""
        self.alloc_state.scav.next_gen()

    def pad(self, page: int, npages: int) -> None:
        """Padding at the heap's base: free pages marked in use and scavenged (trace version 3)."""
        self.alloc_state.pad(page, npages)

    def scavenger_wake(self, budget: int, ns_per_page: int, sleep_pct: int, procs: int) -> WakeResult:
        """Wake the background scavenger until it parks (trace version 4; model.scavenger.wake_heap)."""
        return wake_heap(self.scavenger, self.alloc_state, budget, ns_per_page, sleep_pct, procs)

    def _cache(self, cache_id: int) -> PageCache:
        check_count("cache", cache_id, 0)
        cache = self.caches.get(cache_id)
        if cache is None:
            raise InvalidOperation(f"unknown cache id {cache_id}: no cache_fill has named it")
        return cache

    # Inspection.

    def state(self) -> State:
        """The whole observable state as plain ints (see fast.state for the layout)."""
        return heap_state(self.alloc_state, self.caches)

    def check_summaries(self) -> list[str]:
        """Where the stored summaries differ from the bitmaps' (empty when the tree invariant holds)."""
        return self.alloc_state.tree.check()

    def resummarize(self) -> None:
        """Recompute every summary from the bitmaps (after writing bitmaps directly, as the benchmark does)."""
        self.alloc_state.tree.resummarize()
