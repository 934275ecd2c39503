"""The page heap a trace drives: one page allocator and its page caches by id.

This is the unit the oracle compares: every trace operation is one method
here, it checks its input completely before changing anything, and it
returns the operation's observable result (model.results).

Cache ids are integers >= 0. An id becomes known with its first fill, even
one that yields an empty cache. Filling a known, non-empty cache is refused
(Go would leak its pages); an empty one, never filled, used up or flushed,
may be filled again. alloc and flush on a known empty cache are valid and do
nothing (alloc fails). A free may not touch a page that a cache holds free:
that page was never handed out.
"""

from __future__ import annotations

import attrs

from model import pagecache
from model.errors import InvalidOperation
from model.geometry import AMD64, Geometry
from model.pagealloc import PageAlloc, check_count
from model.pagecache import CACHE_PAGES, PageCache
from model.results import AllocResult, CacheFill, ScavengeResult
from model.scavenger import ScavengerState, WakeResult, wake_heap


@attrs.define
class PageHeap:
    alloc_state: PageAlloc
    caches: dict[int, PageCache] = attrs.Factory(dict)
    scavenger: ScavengerState = attrs.Factory(ScavengerState)  # the background scavenger's goroutine, parked

    @staticmethod
    def create(geometry: Geometry = AMD64, phys_page_pages: int = 1, huge_page_pages: int = 0) -> PageHeap:
        return PageHeap(PageAlloc(geometry, phys_page_pages, huge_page_pages))

    @property
    def geometry(self) -> Geometry:
        return self.alloc_state.geometry

    def grow(self, chunk: int, nchunks: int) -> None:
        self.alloc_state.grow(chunk, nchunks)

    def alloc(self, npages: int) -> AllocResult:
        return self.alloc_state.alloc(npages)

    def free(self, page: int, npages: int) -> None:
        self.alloc_state.check_free(page, npages)
        for cache_id, cache in sorted(self.caches.items()):
            held = cache.first_held(page, npages)
            if held is not None:
                raise InvalidOperation(f"free of page {held}, which cache {cache_id} holds and has not handed out")
        self.alloc_state.free(page, npages)

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
        pagecache.flush(self._cache(cache_id), self.alloc_state)

    def scavenge(self, npages: int, force: bool = True) -> ScavengeResult:
        """Forced scavenging by default; force=False is the background scavenger's kind."""
        return ScavengeResult(self.alloc_state.scavenge(npages, force=force))

    def next_gen(self) -> None:
        """The end of a GC cycle: the scavenge index moves to its next generation."""
        self.alloc_state.scav.next_gen()

    def pad(self, page: int, npages: int) -> None:
        """Padding at the heap's base: free pages marked in use and scavenged (model.pagealloc.PageAlloc.pad)."""
        self.alloc_state.pad(page, npages)

    def scavenger_wake(self, budget: int, ns_per_page: int, sleep_pct: int, procs: int) -> WakeResult:
        """Wake the background scavenger, which releases pages until it parks (model.scavenger.wake_heap)."""
        return wake_heap(self.scavenger, self.alloc_state, budget, ns_per_page, sleep_pct, procs)

    def _cache(self, cache_id: int) -> PageCache:
        check_count("cache", cache_id, 0)
        cache = self.caches.get(cache_id)
        if cache is None:
            raise InvalidOperation(f"unknown cache id {cache_id}: no cache_fill has named it")
        return cache
