"""Per-P page caches: a 64-page aligned block taken from the heap for lock-free small allocations.

A cache (Go: pageCache in mpagecache.go) is a base page, aligned to 64
pages, and two 64-bit maps over pages base..base+63: `free` (bit i set =
page base+i belongs to the cache and is free) and `scav` (bit i set = that
page is scavenged). A cache is empty when `free` is 0.

Rules:
  * fill (Go: allocToCache) takes the 64-page aligned block that holds the
    lowest free page of the heap. Every free page of the block moves to the
    cache, with its scavenged bit; in the heap those pages become in use and
    unscavenged. The search hint becomes the block's last page. When the
    heap has no free page the cache stays empty and the hint becomes
    no_free_page.
  * alloc(1) takes the lowest free page of the cache; alloc(n), 1 < n <= 64,
    takes the lowest run of n free cache pages (find_bit_range64), or fails
    with nothing changed. It returns the page and how many of the taken pages
    were scavenged, and clears their bits in both maps. Pages handed out stay
    in use in the heap, as they have been since the fill.
  * flush gives the cache's free pages back to the heap (free in the bitmap,
    scavenged bit set again where the cache's bit is set), moves the hint
    down to the base if that is lower, and empties the cache. Flushing an
    empty cache does nothing.
Invariants: every page a cache holds free is in use in the heap; no page is
held free by two caches; a cache's scav bits are a subset of its free bits.
"""

from __future__ import annotations

import attrs

from model import bitmap, words
from model.pagealloc import PageAlloc
from model.results import AllocResult, CacheFill

CACHE_PAGES = 64


@attrs.define
class PageCache:
    base: int | None = None
    free: int = 0
    scav: int = 0

    def is_empty(self) -> bool:
        return self.free == 0

    def contents(self) -> CacheFill:
        return CacheFill(self.base, self.free, self.scav) if self.free else CacheFill.empty()

    def first_held(self, page: int, npages: int) -> int | None:
        """The lowest page of [page, page+npages) this cache holds free, or None."""
        if self.base is None:
            return None
        lo, hi = max(page, self.base), min(page + npages, self.base + CACHE_PAGES)
        if lo >= hi:
            return None
        held = self.free & words.shl(words.low_mask(hi - lo), lo - self.base)
        return None if held == 0 else self.base + words.trailing_zeros(held)

    def alloc(self, npages: int) -> AllocResult:
        if not 1 <= npages <= CACHE_PAGES:
            raise ValueError(f"cache alloc takes 1 to {CACHE_PAGES} pages, got {npages}")
        if self.free == 0 or self.base is None:
            return AllocResult.failed()
        if npages == 1:
            i = words.trailing_zeros(self.free)
        else:
            i = bitmap.find_bit_range64(self.free, npages)
            if i >= CACHE_PAGES:
                return AllocResult.failed()
        mask = words.shl(words.low_mask(npages), i)
        scav = words.popcount(self.scav & mask)
        self.free &= words.bnot(mask)
        self.scav &= words.bnot(mask)
        return AllocResult(self.base + i, scav)


def fill(pa: PageAlloc) -> PageCache:
    """Go's allocToCache: move the free pages of the block holding the heap's first free page into a cache."""
    g = pa.geometry
    if g.chunk_of(pa.search_page) >= pa.end_chunk:
        return PageCache()
    chunk = g.chunk_of(pa.search_page)
    if not pa.leaf(chunk).is_zero():
        index, _ = bitmap.find_in_chunk(pa.alloc_bits(chunk), 1, g.page_in_chunk(pa.search_page))
    else:
        page, _ = pa.find(1)
        if page is None:
            pa.search_page = g.no_free_page
            return PageCache()
        chunk, index = g.chunk_of(page), g.page_in_chunk(page)
    if index is None:
        raise AssertionError(f"chunk {chunk}'s summary promised a free page")
    data = pa.chunks[chunk]
    free = words.bnot(bitmap.block64(data.alloc, index))
    scav = bitmap.block64(data.scavenged, index)
    word = index // 64
    data.alloc[word] |= free
    data.scavenged[word] &= words.bnot(free & scav)
    cache = PageCache(g.chunk_base(chunk) + 64 * word, free, scav)
    assert cache.base is not None
    pa.update(cache.base, CACHE_PAGES)
    pa.scav.alloc(chunk, words.popcount(free))
    pa.search_page = cache.base + CACHE_PAGES - 1
    return cache


def flush(cache: PageCache, pa: PageAlloc) -> None:
    """Go's pageCache.flush: return the cache's free pages (and their scavenged bits) to the heap."""
    if cache.is_empty() or cache.base is None:
        return
    g = pa.geometry
    chunk, first = g.chunk_of(cache.base), g.page_in_chunk(cache.base)
    data = pa.chunks[chunk]
    for i in range(CACHE_PAGES):
        if (cache.free >> i) & 1:
            bitmap.clear_range(data.alloc, first + i, 1)
            pa.scav.free(chunk, first + i, 1)
        if (cache.scav >> i) & 1:
            bitmap.set_range(data.scavenged, first + i, 1)
    if cache.base < pa.search_page:
        pa.search_page = cache.base
    pa.update(cache.base, CACHE_PAGES)
    cache.base, cache.free, cache.scav = None, 0, 0
