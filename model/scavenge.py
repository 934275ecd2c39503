"""Scavenging: returning free pages to the OS, and the index that says where to look.

A page is scavenged when its memory has been released to the OS. Grown pages
start scavenged; allocating a page clears its scavenged bit (and reports how
many of the allocated pages were scavenged); freeing leaves the bit clear.
The scavenger finds runs of pages that are free and not scavenged and marks
them scavenged.

Invariant: no page is both scavenged and in use.

The scavenge index (Go: scavengeIndex in mgcscavenge.go) keeps, per chunk,
how many pages are in use, how many were in use at the last generation
change, the generation of the last update, and a "has free" flag; and two
cursors, one for forced scavenging and one for the background scavenger,
each the highest page that may still hold something to scavenge.

  * A newly grown chunk has all-zero data: "has free" is off, because grown
    pages are already scavenged. Allocation counts pages in (and clears
    "has free" when the chunk becomes full); a free counts pages out, sets
    "has free", raises the forced cursor to the freed range's top page
    (marking it, see Cursor), and raises this generation's free high-water
    mark. Scavenging's own alloc-and-free round trip does not touch the index.
  * find(force) walks chunks down from the cursor's chunk to the lowest
    chunk ever grown and returns the first one that should be scavenged
    (forced: any with "has free"; background: also not dense, see
    ScavChunkData.should_scavenge). If that chunk is the cursor's own it
    returns the cursor's page; otherwise it moves the cursor down to the top
    page of that chunk and returns that page. If none is found it clears the
    cursor, unless the cursor is marked, in which case it stays.
  * scavenge_one(chunk, search index, max pages) takes the highest candidate
    run at or below the search index's 64-page word (find_scavenge_candidate),
    marks it scavenged and returns its size; with no candidate it clears the
    chunk's "has free" flag and returns 0.
  * Forced scavenging of N pages (Go: pageAlloc.scavenge(N*pageSize, nil,
    true)) repeats find and scavenge_one until N pages are released or find
    gives nothing, so it may release more than N (a candidate is rounded to
    whole physical and huge pages).

find_scavenge_candidate(searchIdx, min, max), for min = phys_page_pages:
  a page counts only in whole min-aligned groups of min pages that are all
  free and unscavenged (fill_aligned). From the word holding searchIdx
  downward, take the highest such run (its top may be anywhere in that
  word, even above searchIdx), and from its top take size = min(run,
  alignUp(max, min)) pages. With huge pages (huge_page_pages above both 1
  and phys_page_pages), if the taken range crosses or ends at a huge-page
  boundary above its start, and the huge-page boundary below its start is
  still inside the run, extend the start down to that boundary so no huge
  page is broken.
"""

from __future__ import annotations

import attrs

from model import bitmap, words
from model.geometry import Geometry

# Go: scavChunkHiOccFrac = 0.96875 of a chunk's pages; at or above it a chunk is dense.
HIGH_OCCUPANCY_FRACTION_NUM = 31
HIGH_OCCUPANCY_FRACTION_DEN = 32


def high_occupancy_pages(geometry: Geometry) -> int:
    return geometry.chunk_pages * HIGH_OCCUPANCY_FRACTION_NUM // HIGH_OCCUPANCY_FRACTION_DEN


@attrs.define
class ScavChunkData:
    """Per-chunk scavenging state (Go: scavChunkData); the default is a newly grown chunk."""

    in_use: int = 0
    last_in_use: int = 0
    gen: int = 0
    has_free: bool = False

    def should_scavenge(self, current_gen: int, force: bool, dense: int) -> bool:
        if not self.has_free:
            return False
        if force:
            return True
        if self.gen == current_gen:
            return self.in_use < dense and self.last_in_use < dense
        return self.in_use < dense

    def _roll(self, new_gen: int) -> None:
        if self.gen != new_gen:
            self.last_in_use = self.in_use
            self.gen = new_gen

    def alloc(self, npages: int, new_gen: int, chunk_pages: int) -> None:
        if self.in_use + npages > chunk_pages:
            raise AssertionError(f"scavenge index: {self.in_use}+{npages} pages in use in one chunk")
        self._roll(new_gen)
        self.in_use += npages
        if self.in_use == chunk_pages:
            self.has_free = False

    def free(self, npages: int, new_gen: int) -> None:
        if self.in_use < npages:
            raise AssertionError(f"scavenge index: freeing {npages} pages with {self.in_use} in use")
        self._roll(new_gen)
        self.in_use -= npages
        self.has_free = True


@attrs.define
class Cursor:
    """A scavenge search cursor (Go: atomicOffAddr holding searchAddrForce or searchAddrBg).

    page is None when the cursor is cleared. A marked cursor was raised by a
    free (or a new generation) above where find had got to; find's clear
    leaves a marked cursor as it is, and a find that moves it down unmarks it.
    """

    page: int | None = None
    marked: bool = False

    def clear(self) -> None:
        if not self.marked:
            self.page = None

    def store_marked(self, page: int) -> None:
        self.page, self.marked = page, True

    def store_lower(self, page: int) -> None:
        """Move an unmarked cursor down to page, or unmark a marked one at page."""
        if self.marked or self.page is None or page < self.page:
            self.page, self.marked = page, False


@attrs.define
class ScavengeIndex:
    geometry: Geometry
    chunks: dict[int, ScavChunkData] = attrs.Factory(dict)
    min_heap_chunk: int | None = None
    force_cursor: Cursor = attrs.Factory(Cursor)
    background_cursor: Cursor = attrs.Factory(Cursor)
    free_high_water: int | None = None
    gen: int = 0

    def grow(self, first_chunk: int) -> None:
        if self.min_heap_chunk is None or first_chunk < self.min_heap_chunk:
            self.min_heap_chunk = first_chunk

    def data(self, chunk: int) -> ScavChunkData:
        return self.chunks.setdefault(chunk, ScavChunkData())

    def alloc(self, chunk: int, npages: int) -> None:
        self.data(chunk).alloc(npages, self.gen, self.geometry.chunk_pages)

    def free(self, chunk: int, page_in_chunk: int, npages: int) -> None:
        self.data(chunk).free(npages, self.gen)
        top = self.geometry.chunk_base(chunk) + page_in_chunk + npages - 1
        if self.free_high_water is None or self.free_high_water < top:
            self.free_high_water = top
        current = self.force_cursor.page
        if current is None or current < top:
            self.force_cursor.store_marked(top)

    def next_gen(self) -> None:
        self.gen += 1
        hwm = self.free_high_water
        current = self.background_cursor.page
        if hwm is not None and (current is None or current < hwm):
            self.background_cursor.store_marked(hwm)
        self.free_high_water = None

    def set_empty(self, chunk: int) -> None:
        self.data(chunk).has_free = False

    def find(self, force: bool) -> tuple[int, int] | None:
        """(chunk, page in chunk) to scavenge from next, or None; moves the cursor."""
        cursor = self.force_cursor if force else self.background_cursor
        if cursor.page is None or self.min_heap_chunk is None:
            return None
        g = self.geometry
        dense = high_occupancy_pages(g)
        start = g.chunk_of(cursor.page)
        for chunk in range(start, self.min_heap_chunk - 1, -1):
            data = self.chunks.get(chunk)
            if data is None or not data.should_scavenge(self.gen, force, dense):
                continue
            if chunk == start:
                return chunk, g.page_in_chunk(cursor.page)
            cursor.store_lower(g.chunk_base(chunk) + g.chunk_pages - 1)
            return chunk, g.chunk_pages - 1
        cursor.clear()
        return None


def huge_pages_apply(phys_page_pages: int, huge_page_pages: int) -> bool:
    """Go scavenges around huge pages only when they are larger than a page and a physical page."""
    return huge_page_pages > 1 and huge_page_pages > phys_page_pages


def find_scavenge_candidate(
    alloc: bitmap.Bits,
    scavenged: bitmap.Bits,
    search_idx: int,
    min_pages: int,
    max_pages: int,
    huge_page_pages: int,
) -> tuple[int, int]:
    """(start, size) of the run to scavenge in a chunk; size 0 when there is none."""
    max_pages = min_pages if max_pages == 0 else -(-max_pages // min_pages) * min_pages

    def unusable(k: int) -> int:
        # 1 = in use or scavenged, widened to whole min-aligned groups.
        return bitmap.fill_aligned(scavenged[k] | alloc[k], min_pages)

    i = search_idx // 64
    while i >= 0 and unusable(i) == words.MASK64:
        i -= 1
    if i < 0:
        return 0, 0
    x = unusable(i)
    top_used = words.leading_zeros(words.bnot(x))  # unusable pages above the run
    end = 64 * i + 64 - top_used
    rest = words.shl(x, top_used)
    if rest != 0:
        run = words.leading_zeros(rest)
    else:
        run = 64 - top_used
        for j in range(i - 1, -1, -1):
            y = unusable(j)
            run += words.leading_zeros(y)
            if y != 0:
                break
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
