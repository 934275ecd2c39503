"""Per-P page caches (Go: pageCache in mpagecache.go): fill from the allocator, alloc, flush back.

A PageCache is a 64-page aligned base and two 64-bit ints over pages
base..base+63, bit i standing for page base+i (model.pagecache):

  free   the page is the cache's and free
  scav   the page is scavenged

Invariants: scav's bits are among free's; every page a cache holds free is
in use in the heap (fill marked it so) and held by no other cache; base is
None only for a cache that never held a page or was flushed while holding
some (a cache used up by allocations keeps its base, and is empty all the
same).

  * fill (Go: allocToCache) takes the 64-page block holding the heap's
    lowest free page, searched from the search hint: every free page of the
    block moves into the cache with its scavenged bit, becoming in use and
    unscavenged in the heap and counted as allocated by the scavenge index;
    the hint becomes the block's last page.
  * PageCache.alloc(n) takes the lowest run of n free cache pages.
  * flush gives the free pages back (free in the bitmap, scavenged again
    where scav says, each a one-page free for the scavenge index), moves the
    hint down to the base if lower, and empties the cache.

Everything here works on one 64-bit word of one chunk's bitmaps, read as
ints. The fault flush_drops_scavenged (fast.faults) reaches flush as its
drop_scavenged argument.
"""

from __future__ import annotations

from fast.bitmap import find_in_chunk, find_run
from fast.pagealloc import FAILED, FastPageAlloc
from fast.tree import BadSummaryData
from model.results import AllocResult, CacheFill

CACHE_PAGES = 64
WORD_MASK = (1 << CACHE_PAGES) - 1
EMPTY_FILL = CacheFill(None, 0, 0)


class PageCache:
    """A page cache: 64-page aligned base, free pages and their scavenged bits (bit i = page base + i)."""

    __slots__ = ("base", "free", "scav")

    def __init__(self, base: int | None = None, free: int = 0, scav: int = 0) -> None:
        self.base = base
        self.free = free
        self.scav = scav

    def is_empty(self) -> bool:
        return self.free == 0

    def contents(self) -> CacheFill:
        return CacheFill(self.base, self.free, self.scav) if self.free else EMPTY_FILL

    def first_held(self, page: int, npages: int) -> int | None:
        """The lowest page of [page, page+npages) this cache holds free, or None."""
        if not self.free or self.base is None:
            return None
        lo, hi = max(page, self.base), min(page + npages, self.base + CACHE_PAGES)
        if lo >= hi:
            return None
        held = self.free & (((1 << (hi - lo)) - 1) << (lo - self.base))
        return None if held == 0 else self.base + (held & -held).bit_length() - 1

    def alloc(self, npages: int) -> AllocResult:
        """The lowest run of npages (1 to 64) free cache pages, taken; FAILED if there is none."""
        if not self.free or self.base is None:
            return FAILED
        if npages == 1:
            i = (self.free & -self.free).bit_length() - 1
        else:
            found = find_run(self.free, npages)
            if found is None:
                return FAILED
            i = found
        mask = ((1 << npages) - 1) << i
        scav = (self.scav & mask).bit_count()
        self.free &= ~mask
        self.scav &= ~mask
        return AllocResult(self.base + i, scav)

    def copy(self) -> PageCache:
        return PageCache(self.base, self.free, self.scav)


def fill(pa: FastPageAlloc) -> PageCache:
    """Go's allocToCache: the free pages of the 64-page block holding the heap's first free page."""
    layout = pa.layout
    search_page = pa.search_page
    chunk = search_page >> layout.log_chunk_pages
    if chunk >= pa.end_chunk:
        return PageCache()
    index: int | None
    if pa.tree.leaf(chunk):
        bitmaps = pa.storage.blocks[chunk >> layout.log_chunks_per_block]
        used = bitmaps.read_alloc(chunk & layout.row_mask)
        index, _ = find_in_chunk(used, 1, search_page & layout.page_mask, layout.chunk_pages)
    else:
        page, _ = pa.find(1)
        if page is None:
            pa.search_page = layout.no_free_page
            return PageCache()
        chunk, index = page >> layout.log_chunk_pages, page & layout.page_mask
        bitmaps = pa.storage.blocks[chunk >> layout.log_chunks_per_block]
        used = bitmaps.read_alloc(chunk & layout.row_mask)
    if index is None:
        raise BadSummaryData(f"chunk {chunk}'s summary promised a free page")
    row = chunk & layout.row_mask
    shift = index & ~63
    free = ((used >> shift) & WORD_MASK) ^ WORD_MASK
    scavenged = bitmaps.read_scavenged(row)
    scav = (scavenged >> shift) & WORD_MASK
    used |= free << shift
    bitmaps.write_alloc(row, used)
    bitmaps.write_scavenged(row, scavenged & ~((free & scav) << shift))
    base = (chunk << layout.log_chunk_pages) + shift
    pa.tree.update_chunk(chunk, used)
    pa.scav.alloc(chunk, free.bit_count())
    pa.search_page = base + CACHE_PAGES - 1
    return PageCache(base, free, scav)


def flush(cache: PageCache, pa: FastPageAlloc, drop_scavenged: bool = False) -> None:
    """Go's pageCache.flush: the cache's free pages (and their scavenged bits) back to the heap.

    drop_scavenged is the fault flush_drops_scavenged: the scavenged bits are forgotten.
    """
    if not cache.free or cache.base is None:
        return
    layout = pa.layout
    base = cache.base
    chunk, first = base >> layout.log_chunk_pages, base & layout.page_mask
    bitmaps = pa.storage.blocks[chunk >> layout.log_chunks_per_block]
    row = chunk & layout.row_mask
    # The cache's pages are one-page frees for the index; it refuses before anything changes.
    pa.scav.free(chunk, cache.free.bit_count())
    used = bitmaps.read_alloc(row) & ~(cache.free << first)
    bitmaps.write_alloc(row, used)
    pa.scav.freed_up_to(base + cache.free.bit_length() - 1)
    if not drop_scavenged:
        bitmaps.write_scavenged(row, bitmaps.read_scavenged(row) | (cache.scav << first))
    if base < pa.search_page:
        pa.search_page = base
    pa.tree.update_chunk(chunk, used)
    cache.base, cache.free, cache.scav = None, 0, 0
