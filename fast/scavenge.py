"""The scavenge index in numpy arrays, and the search for a run to scavenge inside one chunk.

The index (Go: scavengeIndex in mgcscavenge.go; model.scavenge) says where
free, unscavenged pages may be. Its rules are the model's; this module keeps
its data so that finding the next chunk is a numpy search, not a Python loop
over chunks.

Layout
------
Per chunk, in a ScavengeBlock under the same block id as the chunk's
bitmaps (fast.storage), row r of each array being that block's chunk r
(Go: scavChunkData):

  in_use        pages in use, as the index has counted them
  last_in_use   pages in use at the chunk's last update in an earlier
                generation (copied from in_use by the first update in a
                new generation)
  gen           the generation of the chunk's last update
  has_free      the chunk may hold free, unscavenged pages

All zero for a chunk just grown (its pages are already scavenged). Globally:
the generation, two cursors (forced and background; see Cursor), the free
high-water mark of this generation, and the lowest chunk ever grown.

Invariants: 0 <= in_use <= chunk_pages and in_use counts exactly the pages
the page allocator and the page caches took from the chunk, minus those they
gave back (scavenging's own alloc-and-free round trip does not count);
has_free is off when in_use == chunk_pages.

Finding a chunk
---------------
find(force) walks the blocks down from the cursor's chunk to the lowest
chunk ever grown; in each block one numpy expression marks the chunks that
should be scavenged (forced: has_free; background: also not dense now, nor,
if updated this generation, dense at the last generation change) and the
highest one is taken (model.scavenge.ScavengeIndex.find).

The candidate
-------------
scavenge_candidate is Go's findScavengeCandidate
(model.scavenge.find_scavenge_candidate) on a whole chunk: both bitmaps
read as ints, the unusable pages widened to whole physical pages with
fast.bitmap.fill_aligned, and the highest usable run found with bit_length.
"""

from __future__ import annotations

import bisect

import numpy as np

from fast.bitmap import fill_aligned
from fast.storage import Layout

HIGH_OCCUPANCY_NUM, HIGH_OCCUPANCY_DEN = 31, 32  # Go: scavChunkHiOccFrac; at or above it a chunk is dense


class ScavengeBlock:
    """The index's data for the chunks under one root entry (see the module comment)."""

    __slots__ = (
        "gen",
        "gen_view",
        "has_free",
        "has_free_view",
        "in_use",
        "in_use_view",
        "last_in_use",
        "last_in_use_view",
    )

    def __init__(self, in_use: np.ndarray, last_in_use: np.ndarray, gen: np.ndarray, has_free: np.ndarray) -> None:
        self.in_use = in_use
        self.last_in_use = last_in_use
        self.gen = gen
        self.has_free = has_free
        # Memoryviews of the same arrays, for one chunk at a time.
        self.in_use_view = memoryview(in_use)
        self.last_in_use_view = memoryview(last_in_use)
        self.gen_view = memoryview(gen)
        self.has_free_view = memoryview(has_free)

    @staticmethod
    def empty(chunks: int) -> ScavengeBlock:
        counts = [np.zeros(chunks, dtype=np.int64) for _ in range(3)]
        return ScavengeBlock(*counts, np.zeros(chunks, dtype=bool))

    def copy(self) -> ScavengeBlock:
        return ScavengeBlock(self.in_use.copy(), self.last_in_use.copy(), self.gen.copy(), self.has_free.copy())


class Cursor:
    """A scavenge search cursor (Go: searchAddrForce or searchAddrBg; model.scavenge.Cursor).

    page is None when the cursor is cleared. A marked cursor was raised by a
    free (or a new generation) above where find had got to: find's clear
    leaves a marked cursor as it is, and a find that moves it down unmarks it.
    """

    __slots__ = ("marked", "page")

    def __init__(self, page: int | None = None, marked: bool = False) -> None:
        self.page = page
        self.marked = marked

    def clear(self) -> None:
        if not self.marked:
            self.page = None

    def store_lower(self, page: int) -> None:
        """Move an unmarked cursor down to page, or unmark a marked one at page."""
        if self.marked or self.page is None or page < self.page:
            self.page, self.marked = page, False


class ScavengeIndex:
    """Where to look for pages to scavenge: per-chunk counts in blocks, two cursors, the generation."""

    __slots__ = (
        "background_cursor",
        "block_ids",
        "blocks",
        "dense_pages",
        "force_cursor",
        "free_high_water",
        "gen",
        "layout",
        "min_heap_chunk",
    )

    def __init__(self, layout: Layout, block_ids: list[int]) -> None:
        self.layout = layout
        self.block_ids = block_ids  # Storage.block_ids itself: the ids of `blocks`, sorted
        self.blocks: dict[int, ScavengeBlock] = {}
        self.dense_pages = layout.chunk_pages * HIGH_OCCUPANCY_NUM // HIGH_OCCUPANCY_DEN
        self.min_heap_chunk: int | None = None  # the lowest chunk ever grown
        self.force_cursor = Cursor()
        self.background_cursor = Cursor()
        self.free_high_water: int | None = None  # the highest page freed in this generation
        self.gen = 0

    def copy(self, block_ids: list[int]) -> ScavengeIndex:
        """An independent copy, walking `block_ids` (the copied storage's)."""
        twin = ScavengeIndex(self.layout, block_ids)
        twin.blocks = {bid: block.copy() for bid, block in self.blocks.items()}
        twin.min_heap_chunk = self.min_heap_chunk
        twin.force_cursor = Cursor(self.force_cursor.page, self.force_cursor.marked)
        twin.background_cursor = Cursor(self.background_cursor.page, self.background_cursor.marked)
        twin.free_high_water = self.free_high_water
        twin.gen = self.gen
        return twin

    def add_block(self, bid: int) -> None:
        self.blocks[bid] = ScavengeBlock.empty(self.layout.chunks_per_block)

    def grow(self, first_chunk: int) -> None:
        if self.min_heap_chunk is None or first_chunk < self.min_heap_chunk:
            self.min_heap_chunk = first_chunk

    # Counting pages in and out.

    def alloc(self, chunk: int, npages: int) -> None:
        """npages pages of the chunk were allocated."""
        block = self.blocks[chunk >> self.layout.log_chunks_per_block]
        row = chunk & self.layout.row_mask
        chunk_pages = self.layout.chunk_pages
        in_use = block.in_use_view[row]
        if in_use + npages > chunk_pages:
            raise AssertionError(f"scavenge index: {in_use}+{npages} pages in use in one chunk")
        if block.gen_view[row] != self.gen:
            block.last_in_use_view[row] = in_use
            block.gen_view[row] = self.gen
        in_use += npages
        block.in_use_view[row] = in_use
        if in_use == chunk_pages:
            block.has_free_view[row] = False

    def free(self, chunk: int, npages: int) -> None:
        """npages pages of the chunk were freed (the cursors learn of it from freed_up_to)."""
        block = self.blocks[chunk >> self.layout.log_chunks_per_block]
        row = chunk & self.layout.row_mask
        in_use = block.in_use_view[row]
        if in_use < npages:
            raise AssertionError(f"scavenge index: freeing {npages} pages with {in_use} in use")
        if block.gen_view[row] != self.gen:
            block.last_in_use_view[row] = in_use
            block.gen_view[row] = self.gen
        block.in_use_view[row] = in_use - npages
        block.has_free_view[row] = True

    def whole_chunks(self, bid: int, first_row: int, last_row: int, delta: int) -> None:
        """Every chunk of rows first_row..last_row of a block had all its pages allocated (delta =
        chunk_pages) or freed (delta = -chunk_pages)."""
        block = self.blocks[bid]
        rows = slice(first_row, last_row + 1)
        in_use = block.in_use[rows]
        if delta > 0 and in_use.any():
            raise AssertionError("scavenge index: allocating a whole chunk that has pages in use")
        if delta < 0 and (in_use < -delta).any():
            raise AssertionError("scavenge index: freeing a whole chunk that has pages free")
        stale = block.gen[rows] != self.gen
        block.last_in_use[rows] = np.where(stale, in_use, block.last_in_use[rows])
        block.gen[rows] = self.gen
        block.in_use[rows] = in_use + delta
        block.has_free[rows] = delta < 0

    def freed_up_to(self, top: int) -> None:
        """A free's effect on the cursors: its top page raises the high-water mark and the forced cursor."""
        if self.free_high_water is None or self.free_high_water < top:
            self.free_high_water = top
        cursor = self.force_cursor
        if cursor.page is None or cursor.page < top:
            cursor.page, cursor.marked = top, True

    def next_gen(self) -> None:
        """End a GC cycle: a new scavenger generation (Go: scavengeIndex.nextGen; trace version 2)."""
        self.gen += 1
        high_water = self.free_high_water
        cursor = self.background_cursor
        if high_water is not None and (cursor.page is None or cursor.page < high_water):
            cursor.page, cursor.marked = high_water, True
        self.free_high_water = None

    def set_empty(self, chunk: int) -> None:
        """The chunk has nothing left to scavenge."""
        self.blocks[chunk >> self.layout.log_chunks_per_block].has_free_view[chunk & self.layout.row_mask] = False

    # Finding a chunk.

    def find(self, force: bool) -> tuple[int, int] | None:
        """(chunk, page in chunk) to scavenge next, moving the cursor (Go: scavengeIndex.find)."""
        cursor = self.force_cursor if force else self.background_cursor
        page = cursor.page
        if page is None or self.min_heap_chunk is None:
            return None
        layout = self.layout
        start = page >> layout.log_chunk_pages
        chunk = self.highest_candidate(start, force)
        if chunk is None:
            cursor.clear()
            return None
        if chunk == start:
            return chunk, page & layout.page_mask
        cursor.store_lower((chunk << layout.log_chunk_pages) + layout.chunk_pages - 1)
        return chunk, layout.chunk_pages - 1

    def highest_candidate(self, start: int, force: bool) -> int | None:
        """The highest chunk in [min_heap_chunk, start] that should be scavenged, or None."""
        assert self.min_heap_chunk is not None
        lowest = self.min_heap_chunk
        log_per_block, per_block = self.layout.log_chunks_per_block, self.layout.chunks_per_block
        dense = self.dense_pages
        ids = self.block_ids
        k = bisect.bisect_right(ids, start >> log_per_block) - 1
        while k >= 0:
            bid = ids[k]
            base = bid << log_per_block
            if base + per_block - 1 < lowest:
                return None
            block = self.blocks[bid]
            r0, r1 = max(lowest - base, 0), min(start - base, per_block - 1)
            if r0 <= r1:
                if force and block.has_free_view[r1]:
                    return base + r1
                wanted = block.has_free[r0 : r1 + 1]
                if not force:
                    current = block.gen[r0 : r1 + 1] == self.gen
                    not_dense = block.in_use[r0 : r1 + 1] < dense
                    wanted = wanted & not_dense & (~current | (block.last_in_use[r0 : r1 + 1] < dense))
                hits = np.flatnonzero(wanted)
                if hits.size:
                    return base + r0 + int(hits[-1])
            k -= 1
        return None


def huge_pages_apply(phys_page_pages: int, huge_page_pages: int) -> bool:
    """Go scavenges around huge pages only when they are larger than a page and a physical page."""
    return huge_page_pages > 1 and huge_page_pages > phys_page_pages


def scavenge_candidate(
    used: int,
    scavenged: int,
    search_idx: int,
    min_pages: int,
    max_pages: int,
    huge_page_pages: int,
    width: int,
) -> tuple[int, int]:
    """(start, size) of the run to scavenge in a chunk, or (0, 0) (Go: findScavengeCandidate).

    A page is usable when its whole min_pages-aligned group is free and
    unscavenged. The candidate is the highest run of usable pages ending at
    or below the top of search_idx's 64-page word: size = min(run,
    alignUp(max_pages, min_pages)) pages from the run's top; with huge pages
    the start moves down to the huge-page boundary below it when the range
    reaches a huge-page boundary above its start and the run covers the one
    below.
    """
    max_pages = min_pages if max_pages == 0 else -(-max_pages // min_pages) * min_pages
    unusable = fill_aligned(scavenged | used, min_pages, width)
    top = (search_idx // 64 + 1) * 64
    usable = ~unusable & ((1 << top) - 1)
    if not usable:
        return 0, 0
    end = usable.bit_length()
    run = end - (unusable & ((1 << end) - 1)).bit_length()
    size = min(run, max_pages)
    start = end - size
    if huge_pages_apply(min_pages, huge_page_pages):
        huge_above = -(-start // huge_page_pages) * huge_page_pages
        if huge_above <= end:
            huge_below = start - start % huge_page_pages
            if huge_below >= end - run:
                size += start - huge_below
                start = huge_below
    return start, size
