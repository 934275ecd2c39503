"""The page allocator in numpy: grow, alloc, free, the search hint and scavenging (Go: pageAlloc).

FastPageAlloc is model.pagealloc.PageAlloc rule for rule, built from three
parts that each keep their own data (see their modules):

  storage   fast.storage.Storage: the chunks' bitmaps, in one block per
            root entry in use, and the grown chunks as ranges
  tree      fast.tree.SummaryTree: the packed summaries of every level,
            updated after each change, and Go's find
  scav      fast.scavenge.ScavengeIndex: per-chunk counts and the cursors

and two values of its own:

  search_page   the search hint (Go: searchAddr). Invariant: every grown
                page below it is in use; no_free_page means the heap is full.
  end_chunk     one past the highest chunk ever grown (Go: p.end).

Every operation changes the bitmaps first, then tells the tree (update_run
for one run inside one chunk, update_chunk for any change inside one chunk,
update_range across chunks) and the scavenge index what changed. An
operation inside one chunk, the common case, works on the chunk's bitmap
read as one int; a range of many chunks sets the rows it covers whole with
numpy and only its two edge chunks bit by bit.

alloc finds its run as Go does: in the hint's chunk from the hint's word if
that chunk has room after the hint and a long enough free run, else with the
tree's find; the new hint is the larger of the old one and the first free
page the search saw (mapped to the next grown page after a tree search).

Refusals: every method checks its whole input against the state first and
raises model.errors.InvalidOperation before changing anything, on exactly the
conditions the model refuses.

The fault hint_too_far (fast.faults) reaches this module as one switch: after
a tree search the hint moves past the allocation.
"""

from __future__ import annotations

import numpy as np

from fast.bitmap import find_in_chunk
from fast.scavenge import ScavengeIndex, scavenge_candidate
from fast.storage import FULL_WORD, BitmapBlock, Layout, Storage
from fast.summary import popcount
from fast.tree import SCALAR_ROWS, BadSummaryData, SummaryTree
from model.errors import InvalidOperation, ParameterError
from model.geometry import Geometry, is_power_of_two
from model.results import AllocResult

MAX_PHYS_PAGE_PAGES = 64  # Go: maxPhysPageSize / pageSize = 512 KiB / 8 KiB

FAILED = AllocResult(None, 0)


def check_count(name: str, value: object, minimum: int = 1) -> int:
    if type(value) is not int or value < minimum:
        raise InvalidOperation(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_page_sizes(geometry: Geometry, phys_page_pages: int, huge_page_pages: int) -> None:
    """Refuse physical and huge page sizes the model refuses (model.pagealloc's validators)."""
    if not is_power_of_two(phys_page_pages) or phys_page_pages > MAX_PHYS_PAGE_PAGES:
        raise ParameterError(f"phys_page_pages must be a power of two from 1 to 64, got {phys_page_pages!r}")
    if not (huge_page_pages == 0 or is_power_of_two(huge_page_pages)) or huge_page_pages > geometry.chunk_pages:
        raise ParameterError(
            f"huge_page_pages must be 0 or a power of two up to chunk_pages ({geometry.chunk_pages}), "
            f"got {huge_page_pages!r}"
        )


class FastPageAlloc:
    """The page allocator: storage, tree and scavenge index, the search hint and end_chunk."""

    def __init__(
        self,
        geometry: Geometry,
        phys_page_pages: int = 1,
        huge_page_pages: int = 0,
        *,
        merge_width_off_by_one: bool = False,
        missed_level_update: bool = False,
        hint_too_far: bool = False,
    ) -> None:
        check_page_sizes(geometry, phys_page_pages, huge_page_pages)
        self.geometry = geometry
        self.phys_page_pages = phys_page_pages
        self.huge_page_pages = huge_page_pages
        self.layout = Layout(geometry)
        self.storage = Storage(self.layout)
        self.tree = SummaryTree(self.storage, merge_width_off_by_one, missed_level_update)
        self.scav = ScavengeIndex(self.layout, self.storage.block_ids)
        self.search_page = geometry.no_free_page
        self.padded: dict[int, int] = {}  # chunk -> pages pad() marked (in use and scavenged; never freed)
        self.end_chunk = 0
        self.hint_too_far = hint_too_far

    def clone(self) -> FastPageAlloc:
        twin = FastPageAlloc.__new__(FastPageAlloc)
        twin.__dict__.update(self.__dict__)
        twin.storage = self.storage.copy()
        twin.tree = self.tree.copy(twin.storage)
        twin.scav = self.scav.copy(twin.storage.block_ids)
        twin.padded = dict(self.padded)
        return twin

    # Grow.

    def grow(self, chunk: int, nchunks: int) -> None:
        check_count("chunk", chunk, 0)
        check_count("nchunks", nchunks)
        layout = self.layout
        if chunk + nchunks > layout.total_chunks:
            raise InvalidOperation(
                f"grow of chunks [{chunk}, {chunk + nchunks}) goes past the address space's "
                f"{layout.total_chunks} chunks"
            )
        existing = self.storage.first_grown_in(chunk, chunk + nchunks)
        if existing is not None:
            raise InvalidOperation(f"grow over chunk {existing}, which already exists")
        self.scav.grow(chunk)
        self.end_chunk = max(self.end_chunk, chunk + nchunks)
        base = chunk << layout.log_chunk_pages
        if base < self.search_page:
            self.search_page = base
        for bid in self.storage.grow(chunk, nchunks):
            self.tree.add_block(bid)
            self.scav.add_block(bid)
        self.tree.update_range(base, nchunks * layout.chunk_pages, self.tree.free_leaf)

    # Alloc.

    def find(self, npages: int) -> tuple[int | None, int]:
        """Tree search: (first fit or None, the next hint candidate mapped to a grown page)."""
        page, first_free = self.tree.find(npages, self.search_page)
        if page is None:
            return None, first_free
        return page, self.storage.find_mapped(first_free)

    def alloc(self, npages: int) -> AllocResult:
        if type(npages) is not int or npages < 1:
            check_count("npages", npages)
        layout = self.layout
        search_page = self.search_page
        chunk = search_page >> layout.log_chunk_pages
        if chunk >= self.end_chunk:
            return FAILED
        index = search_page & layout.page_mask
        tree = self.tree
        if layout.chunk_pages - index >= npages and tree.max_free(chunk) >= npages:
            bitmaps = self.storage.blocks[chunk >> layout.log_chunks_per_block]
            used = bitmaps.read_alloc(chunk & layout.row_mask)
            found, first_free = find_in_chunk(used, npages, index, layout.chunk_pages)
            if found is None or first_free is None:
                raise BadSummaryData(f"chunk {chunk}'s summary promised {npages} free pages")
            scav = self._alloc_in_chunk(bitmaps, chunk, found, npages, used)
            hint = (chunk << layout.log_chunk_pages) + first_free
            if self.search_page < hint:
                self.search_page = hint
            return AllocResult((chunk << layout.log_chunk_pages) + found, scav)
        page, first_free, used = tree.find_with_bitmap(npages, search_page)
        if page is None:
            if npages == 1:
                self.search_page = layout.no_free_page
            return FAILED
        hint = self.storage.find_mapped(first_free)
        if used is not None and (page & layout.page_mask) + npages <= layout.chunk_pages:
            # The fit lies in the chunk whose bitmap the descent read.
            chunk = page >> layout.log_chunk_pages
            bitmaps = self.storage.blocks[chunk >> layout.log_chunks_per_block]
            scav = self._alloc_in_chunk(bitmaps, chunk, page & layout.page_mask, npages, used)
        else:
            scav = self.alloc_range(page, npages)
        if self.hint_too_far:
            hint = max(hint, page + npages)
        if self.search_page < hint:
            self.search_page = hint
        return AllocResult(page, scav)

    def _alloc_in_chunk(self, bitmaps: BitmapBlock, chunk: int, index: int, npages: int, used: int) -> int:
        """Mark npages pages from `index` of one chunk (in-use bitmap `used`) in use; how many were scavenged."""
        row = chunk & self.layout.row_mask
        mask = ((1 << npages) - 1) << index
        used |= mask
        bitmaps.write_alloc(row, used)
        scavenged = bitmaps.read_scavenged(row)
        hit = scavenged & mask
        if hit:
            bitmaps.write_scavenged(row, scavenged ^ hit)
        self.scav.alloc(chunk, npages)
        self.tree.update_run(chunk, used, index, npages, allocated=True)
        return hit.bit_count()

    def alloc_range(self, page: int, npages: int) -> int:
        """Mark [page, page+npages) in use, in any number of chunks; how many were scavenged (Go: allocRange)."""
        layout = self.layout
        first_chunk, last_chunk = page >> layout.log_chunk_pages, (page + npages - 1) >> layout.log_chunk_pages
        if first_chunk == last_chunk:
            bitmaps = self.storage.blocks[first_chunk >> layout.log_chunks_per_block]
            used = bitmaps.read_alloc(first_chunk & layout.row_mask)
            return self._alloc_in_chunk(bitmaps, first_chunk, page & layout.page_mask, npages, used)
        scav = 0
        for chunk, lo, count in self._edge_pieces(page, npages):
            bitmaps = self.storage.blocks[chunk >> layout.log_chunks_per_block]
            row = chunk & layout.row_mask
            mask = ((1 << count) - 1) << lo
            bitmaps.write_alloc(row, bitmaps.read_alloc(row) | mask)
            scavenged = bitmaps.read_scavenged(row)
            scav += (scavenged & mask).bit_count()
            bitmaps.write_scavenged(row, scavenged & ~mask)
            self.scav.alloc(chunk, count)
        for bid, r0, r1 in self._whole_rows(page, npages):
            bitmaps = self.storage.blocks[bid]
            rows = slice(r0, r1 + 1)
            scav += int(popcount(bitmaps.scavenged[rows]).sum())
            bitmaps.scavenged[rows] = 0
            bitmaps.alloc[rows] = FULL_WORD
            self.scav.whole_chunks(bid, r0, r1, layout.chunk_pages)
        self.tree.update_range(page, npages, 0)
        return scav

    def _edge_pieces(self, page: int, npages: int) -> list[tuple[int, int, int]]:
        """The chunks [page, page+npages) covers only in part: (chunk, first index in it, count)."""
        layout = self.layout
        chunk_pages, page_mask = layout.chunk_pages, layout.page_mask
        out = []
        last = page + npages - 1
        first_chunk, last_chunk = page >> layout.log_chunk_pages, last >> layout.log_chunk_pages
        lo = page & page_mask
        if first_chunk == last_chunk:
            if npages < chunk_pages:
                out.append((first_chunk, lo, npages))
            return out
        if lo:
            out.append((first_chunk, lo, chunk_pages - lo))
        hi = last & page_mask
        if hi != page_mask:
            out.append((last_chunk, 0, hi + 1))
        return out

    def _whole_rows(self, page: int, npages: int) -> list[tuple[int, int, int]]:
        """The chunks [page, page+npages) covers whole, as (block id, first row, last row) runs."""
        layout = self.layout
        first_chunk = (page + layout.page_mask) >> layout.log_chunk_pages
        last_chunk = ((page + npages) >> layout.log_chunk_pages) - 1
        if first_chunk > last_chunk:
            return []
        return self.storage.block_rows(first_chunk, last_chunk)

    # Free.

    def check_free(self, page: int, npages: int) -> int | None:
        """Refuse a free unless every page of [page, page+npages) is grown and in use.

        Returns the in-use bitmap of the chunk when the pages lie in one
        chunk (free_checked need not read it again), else None.
        """
        layout = self.layout
        if self.padded:
            self._check_not_padded(page, npages)
        if type(page) is int and type(npages) is int and page >= 0 and npages >= 1:
            # The common case, one chunk grown and in use, checked without building the general loop's lists.
            last = page + npages - 1
            chunk = page >> layout.log_chunk_pages
            if chunk == last >> layout.log_chunk_pages and last < layout.total_pages:
                bitmaps = self.storage.blocks.get(chunk >> layout.log_chunks_per_block)
                row = chunk & layout.row_mask
                if bitmaps is not None and bitmaps.grown_view[row]:
                    used: int = bitmaps.read_alloc(row)
                    if not (((1 << npages) - 1) << (page & layout.page_mask)) & ~used:
                        return used
        check_count("page", page, 0)
        check_count("npages", npages)
        if page + npages > layout.total_pages:
            raise InvalidOperation(f"free of pages [{page}, {page + npages}) goes past the address space")
        log_chunk_pages, page_mask = layout.log_chunk_pages, layout.page_mask
        last = page + npages - 1
        for bid, r0, r1 in self.storage.block_rows(page >> log_chunk_pages, last >> log_chunk_pages):
            bitmaps = self.storage.blocks.get(bid)
            base = bid << layout.log_chunks_per_block
            if bitmaps is None:
                first = max(page, (base + r0) << log_chunk_pages)
                raise InvalidOperation(f"free of page {first}, which is not in the heap")
            candidates = list(range(r0, r1 + 1))
            if r1 - r0 + 1 > SCALAR_ROWS:
                # Rows strictly inside are whole chunks: only the first one not grown or not all
                # in use can hold the first bad page, so check it with the two edge rows.
                inner = slice(r0 + 1, r1)
                inner_ok = bitmaps.grown[inner] & (bitmaps.alloc[inner] == FULL_WORD).all(axis=1)
                inner_bad = np.flatnonzero(~inner_ok)
                candidates = [r0, *([r0 + 1 + int(inner_bad[0])] if inner_bad.size else []), r1]
            for row in candidates:
                chunk_base = (base + row) << log_chunk_pages
                lo = max(page, chunk_base) - chunk_base
                hi = min(last, chunk_base + page_mask) - chunk_base
                if not bitmaps.grown[row]:
                    raise InvalidOperation(f"free of page {chunk_base + lo}, which is not in the heap")
                mask = ((1 << (hi - lo + 1)) - 1) << lo
                missing = mask & ~bitmaps.read_alloc(row)
                if missing:
                    first = chunk_base + (missing & -missing).bit_length() - 1
                    raise InvalidOperation(f"free of page {first}, which is not in use")
        return None

    def _check_not_padded(self, page: int, npages: int) -> None:
        """Refuse a free of padding at the heap's base (no allocation owns it)."""
        if type(page) is not int or type(npages) is not int or page < 0 or npages < 1:
            return  # check_free refuses these itself
        layout = self.layout
        for chunk, mask in self.padded.items():
            lo = max(page, chunk << layout.log_chunk_pages)
            hi = min(page + npages, (chunk + 1) << layout.log_chunk_pages)
            if lo >= hi:
                continue
            hit = mask & (((1 << (hi - lo)) - 1) << (lo & layout.page_mask))
            if hit:
                first = (chunk << layout.log_chunk_pages) + (hit & -hit).bit_length() - 1
                raise InvalidOperation(f"free of page {first}, which is padding at the heap's base (never handed out)")

    def free(self, page: int, npages: int) -> None:
        self.free_checked(page, npages, self.check_free(page, npages))

    def free_checked(self, page: int, npages: int, used: int | None = None) -> None:
        """free, for pages check_free has accepted (the page heap checks its caches in between).

        used: what check_free returned (the chunk's in-use bitmap when the pages lie in one chunk).
        """
        layout = self.layout
        if page < self.search_page:
            self.search_page = page
        first_chunk, last_chunk = page >> layout.log_chunk_pages, (page + npages - 1) >> layout.log_chunk_pages
        if first_chunk == last_chunk:
            bitmaps = self.storage.blocks[first_chunk >> layout.log_chunks_per_block]
            row = first_chunk & layout.row_mask
            if used is None:
                used = bitmaps.read_alloc(row)
            used &= ~(((1 << npages) - 1) << (page & layout.page_mask))
            bitmaps.write_alloc(row, used)
            self.scav.free(first_chunk, npages)
            self.scav.freed_up_to(page + npages - 1)
            self.tree.update_run(first_chunk, used, page & layout.page_mask, npages, allocated=False)
            return
        for chunk, lo, count in self._edge_pieces(page, npages):
            bitmaps = self.storage.blocks[chunk >> layout.log_chunks_per_block]
            row = chunk & layout.row_mask
            bitmaps.write_alloc(row, bitmaps.read_alloc(row) & ~(((1 << count) - 1) << lo))
            self.scav.free(chunk, count)
        for bid, r0, r1 in self._whole_rows(page, npages):
            self.storage.blocks[bid].alloc[r0 : r1 + 1] = 0
            self.scav.whole_chunks(bid, r0, r1, -layout.chunk_pages)
        self.scav.freed_up_to(page + npages - 1)
        self.tree.update_range(page, npages, self.tree.free_leaf, freeing=True)

    # Scavenge.

    def pad(self, page: int, npages: int) -> None:
        """Mark free pages [page, page+npages) in use and scavenged (Go: markRandomPaddingPages).

        Refused unless every page is grown and free; the search hint does not move (model.pagealloc).
        """
        check_count("page", page, 0)
        check_count("npages", npages)
        layout = self.layout
        if page + npages > layout.total_pages:
            raise InvalidOperation(f"pad of pages [{page}, {page + npages}) goes past the address space")
        pieces = []
        at, left = page, npages
        while left > 0:
            chunk, lo = at >> layout.log_chunk_pages, at & layout.page_mask
            count = min(left, layout.chunk_pages - lo)
            bitmaps = self.storage.blocks.get(chunk >> layout.log_chunks_per_block)
            row = chunk & layout.row_mask
            if bitmaps is None or not bitmaps.grown[row]:
                raise InvalidOperation(f"pad of page {at}, which is not in the heap")
            mask = ((1 << count) - 1) << lo
            busy = bitmaps.read_alloc(row) & mask
            if busy:
                first = (chunk << layout.log_chunk_pages) + (busy & -busy).bit_length() - 1
                raise InvalidOperation(f"pad of page {first}, which is in use")
            pieces.append((bitmaps, row, chunk, mask, count))
            at, left = at + count, left - count
        for bitmaps, row, chunk, mask, count in pieces:
            bitmaps.write_alloc(row, bitmaps.read_alloc(row) | mask)
            bitmaps.write_scavenged(row, bitmaps.read_scavenged(row) | mask)
            self.padded[chunk] = self.padded.get(chunk, 0) | mask
            self.scav.alloc(chunk, count)
        self.tree.update_range(page, npages, 0)

    def scavenge(self, npages: int, force: bool = True) -> int:
        """Release at least npages free pages to the OS if there are that many; returns how many."""
        check_count("npages", npages)
        released = 0
        while released < npages:
            found = self.scav.find(force)
            if found is None:
                break
            chunk, index = found
            released += self.scavenge_one(chunk, index, npages - released)
        return released

    def scavenge_one(self, chunk: int, search_idx: int, max_pages: int) -> int:
        """Scavenge the highest candidate run in one chunk (Go: scavengeOne)."""
        layout = self.layout
        if self.tree.max_free(chunk) >= self.phys_page_pages:
            bitmaps = self.storage.blocks[chunk >> layout.log_chunks_per_block]
            row = chunk & layout.row_mask
            scavenged = bitmaps.read_scavenged(row)
            start, size = scavenge_candidate(
                bitmaps.read_alloc(row),
                scavenged,
                search_idx,
                self.phys_page_pages,
                max_pages,
                self.huge_page_pages,
                layout.chunk_pages,
            )
            if size:
                # Go allocates the run while it releases the memory and then frees it again: the
                # bitmaps, summaries and index end as they began, but for the scavenged bits and the hint.
                first = (chunk << layout.log_chunk_pages) + start
                if first < self.search_page:
                    self.search_page = first
                bitmaps.write_scavenged(row, scavenged | (((1 << size) - 1) << start))
                return size
        self.scav.set_empty(chunk)
        return 0
