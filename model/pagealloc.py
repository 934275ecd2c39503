"""The page allocator: grow, alloc, free, the search hint and forced scavenging.

State (Go: pageAlloc in mpagealloc.go):
  * chunks: the grown chunks, each with its allocation and scavenged bitmaps
    (model.bitmap). Chunks may be anywhere in the address space, with holes
    between them; a chunk never grown is neither free nor allocatable.
  * tree: the radix tree of summaries (model.tree), kept equal to the
    summaries of the bitmaps at every level.
  * search_page: the search hint (Go: searchAddr). Invariant: every grown
    page below it is in use. `geometry.no_free_page` means the heap is full.
  * end_chunk: one past the highest chunk ever grown (Go: p.end).
  * scav: the scavenge index (model.scavenge).

Rules:
  * grow(C, K) adds chunks [C, C+K): their pages are free and scavenged, the
    scavenge index learns nothing but the lowest chunk (new pages are already
    scavenged), and the hint moves down to page C*chunk_pages if that is lower.
  * alloc(n) is address-ordered first fit over the whole heap. It returns the
    first page of the lowest run of n free pages and how many of them were
    scavenged, marks them in use and clears their scavenged bits. It finds
    the run the way Go does: if the hint's chunk has room after the hint and
    a long enough free run, search that chunk's bitmap from the hint's word;
    else descend the tree. The new hint is the larger of the old one and the
    first free page the search saw (Go: searchAddr, find's firstFree mapped
    to the next grown address). A failed single-page alloc sets the hint to
    no_free_page; a failed larger alloc leaves it.
  * free(p, n) frees pages [p, p+n), which must all be grown and in use;
    the hint moves down to p if that is lower.
  * scavenge(n) is forced scavenging (see model.scavenge).
Every refusal (a free of a page not in use or not grown, a grow over an
existing chunk, a bad count) happens before any state changes.
"""

from __future__ import annotations

import attrs

from model import bitmap, tree
from model.errors import InvalidOperation, ParameterError
from model.geometry import AMD64, Geometry, is_power_of_two
from model.results import AllocResult
from model.scavenge import ScavengeIndex, find_scavenge_candidate
from model.summary import ZERO, Summary

MAX_PHYS_PAGE_PAGES = 64  # Go: maxPhysPageSize / pageSize = 512 KiB / 8 KiB


def check_count(name: str, value: object, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise InvalidOperation(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


@attrs.define
class ChunkData:
    """A grown chunk's bitmaps (Go: pallocData): 1 = in use, and 1 = scavenged.

    padded (the model's own record, not Go's): 1 = a page pad() marked in use and scavenged; empty
    when the chunk was built without one (the proofs' states). Padding belongs to no allocation, so
    it is never freed (a free of it is refused). Invariant: a page both in use and scavenged is
    padded (model.invariants).
    """

    alloc: bitmap.Bits
    scavenged: bitmap.Bits
    padded: bitmap.Bits = attrs.field(factory=list)


def _phys_page_pages(instance: object, attribute: attrs.Attribute, value: int) -> None:
    if not is_power_of_two(value) or value > MAX_PHYS_PAGE_PAGES:
        raise ParameterError(f"phys_page_pages must be a power of two from 1 to 64, got {value!r}")


def _huge_page_pages(instance: PageAlloc, attribute: attrs.Attribute, value: int) -> None:
    if not (value == 0 or is_power_of_two(value)) or value > instance.geometry.chunk_pages:
        raise ParameterError(
            f"huge_page_pages must be 0 or a power of two up to chunk_pages "
            f"({instance.geometry.chunk_pages}), got {value!r}"
        )


@attrs.define
class PageAlloc:
    geometry: Geometry = AMD64
    phys_page_pages: int = attrs.field(default=1, validator=_phys_page_pages)
    huge_page_pages: int = attrs.field(default=0, validator=_huge_page_pages)
    chunks: dict[int, ChunkData] = attrs.field(factory=dict, init=False)
    tree: tree.Tree = attrs.field(init=False)
    search_page: int = attrs.field(init=False)
    end_chunk: int = attrs.field(default=0, init=False)
    scav: ScavengeIndex = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.tree = [{} for _ in range(self.geometry.levels)]
        self.search_page = self.geometry.no_free_page
        self.scav = ScavengeIndex(self.geometry)

    # Queries.

    def alloc_bits(self, chunk: int) -> bitmap.Bits:
        return self.chunks[chunk].alloc

    def leaf(self, chunk: int) -> Summary:
        return self.tree[-1].get(chunk, ZERO)

    def in_heap(self, page: int) -> bool:
        return self.geometry.chunk_of(page) in self.chunks

    def in_use(self, page: int) -> bool:
        g = self.geometry
        return bool(bitmap.get(self.chunks[g.chunk_of(page)].alloc, g.page_in_chunk(page)))

    def is_scavenged(self, page: int) -> bool:
        g = self.geometry
        return bool(bitmap.get(self.chunks[g.chunk_of(page)].scavenged, g.page_in_chunk(page)))

    def pieces(self, page: int, npages: int) -> list[tuple[int, int, int]]:
        """Split pages [page, page+npages) by chunk: (chunk, first index in chunk, count)."""
        g = self.geometry
        out = []
        while npages > 0:
            chunk, index = g.chunk_of(page), g.page_in_chunk(page)
            count = min(npages, g.chunk_pages - index)
            out.append((chunk, index, count))
            page, npages = page + count, npages - count
        return out

    def find_mapped(self, page: int) -> int:
        """The lowest grown page >= page, or no_free_page (Go: findMappedAddr in test mode)."""
        g = self.geometry
        if g.chunk_of(page) in self.chunks:
            return page
        above = [c for c in self.chunks if c > g.chunk_of(page)]
        return g.chunk_base(min(above)) if above else g.no_free_page

    # Operations.

    def grow(self, first_chunk: int, nchunks: int) -> None:
        g = self.geometry
        check_count("chunk", first_chunk, 0)
        check_count("nchunks", nchunks)
        if first_chunk + nchunks > g.total_chunks:
            raise InvalidOperation(
                f"grow of chunks [{first_chunk}, {first_chunk + nchunks}) goes past the address "
                f"space's {g.total_chunks} chunks"
            )
        existing = [c for c in range(first_chunk, first_chunk + nchunks) if c in self.chunks]
        if existing:
            raise InvalidOperation(f"grow over chunk {existing[0]}, which already exists")
        self.scav.grow(first_chunk)
        self.end_chunk = max(self.end_chunk, first_chunk + nchunks)
        base = g.chunk_base(first_chunk)
        if base < self.search_page:
            self.search_page = base
        for c in range(first_chunk, first_chunk + nchunks):
            self.chunks[c] = ChunkData(
                bitmap.new_bits(g.words_per_chunk, False),
                bitmap.new_bits(g.words_per_chunk, True),
                bitmap.new_bits(g.words_per_chunk, False),
            )
        self.update(base, nchunks * g.chunk_pages)

    def update(self, page: int, npages: int) -> None:
        tree.update_tree(self.tree, {c: d.alloc for c, d in self._chunks_of(page, npages)}, self.geometry, page, npages)

    def _chunks_of(self, page: int, npages: int) -> list[tuple[int, ChunkData]]:
        return [(c, self.chunks[c]) for c, _, _ in self.pieces(page, npages)]

    def find(self, npages: int) -> tuple[int | None, int]:
        """Tree search: (first page of the first fit or None, the new search hint candidate)."""
        page, first_free = tree.tree_find(self.tree, self.alloc_bits, self.geometry, npages, self.search_page)
        if page is None:
            return None, first_free
        return page, self.find_mapped(first_free)

    def alloc(self, npages: int) -> AllocResult:
        check_count("npages", npages)
        g = self.geometry
        if g.chunk_of(self.search_page) >= self.end_chunk:
            return AllocResult.failed()
        page: int | None = None
        hint = 0
        chunk, index = g.chunk_of(self.search_page), g.page_in_chunk(self.search_page)
        if g.chunk_pages - index >= npages and self.leaf(chunk).max >= npages:
            found, first_free = bitmap.find_in_chunk(self.alloc_bits(chunk), npages, index)
            if found is None or first_free is None:
                raise tree.BadSummaryData(f"chunk {chunk}'s summary promised {npages} free pages")
            page, hint = g.chunk_base(chunk) + found, g.chunk_base(chunk) + first_free
        if page is None:
            page, hint = self.find(npages)
            if page is None:
                if npages == 1:
                    self.search_page = g.no_free_page
                return AllocResult.failed()
        scav = self.alloc_range(page, npages)
        if self.search_page < hint:
            self.search_page = hint
        return AllocResult(page, scav)

    def alloc_range(self, page: int, npages: int) -> int:
        """Mark [page, page+npages) in use; returns how many were scavenged (Go: allocRange)."""
        scav = 0
        for chunk, index, count in self.pieces(page, npages):
            data = self.chunks[chunk]
            scav += bitmap.popcnt_range(data.scavenged, index, count)
            bitmap.set_range(data.alloc, index, count)
            bitmap.clear_range(data.scavenged, index, count)
            self.scav.alloc(chunk, count)
        self.update(page, npages)
        return scav

    def check_free(self, page: int, npages: int) -> None:
        """Refuse a free unless every page of [page, page+npages) is grown and in use."""
        check_count("page", page, 0)
        check_count("npages", npages)
        g = self.geometry
        if page + npages > g.total_pages:
            raise InvalidOperation(f"free of pages [{page}, {page + npages}) goes past the address space")
        for chunk, index, count in self.pieces(page, npages):
            data = self.chunks.get(chunk)
            if data is None:
                raise InvalidOperation(f"free of page {g.chunk_base(chunk) + index}, which is not in the heap")
            for i in range(index, index + count):
                if not bitmap.get(data.alloc, i):
                    raise InvalidOperation(f"free of page {g.chunk_base(chunk) + i}, which is not in use")
                if data.padded and bitmap.get(data.padded, i):
                    raise InvalidOperation(
                        f"free of page {g.chunk_base(chunk) + i}, which is padding at the heap's base "
                        "(never handed out)"
                    )

    def free(self, page: int, npages: int) -> None:
        self.check_free(page, npages)
        if page < self.search_page:
            self.search_page = page
        for chunk, index, count in self.pieces(page, npages):
            bitmap.clear_range(self.chunks[chunk].alloc, index, count)
            self.scav.free(chunk, index, count)
        self.update(page, npages)

    def pad(self, page: int, npages: int) -> None:
        """Mark free pages [page, page+npages) in use and scavenged (Go: markRandomPaddingPages).

        Go pads the start of its first growth by a random number of pages so that the heap's base
        address is random; the padding is never handed out (nor freed), and being scavenged it
        counts as released memory. The search hint does not move. Every page must be grown and free.
        """
        check_count("page", page, 0)
        check_count("npages", npages)
        g = self.geometry
        if page + npages > g.total_pages:
            raise InvalidOperation(f"pad of pages [{page}, {page + npages}) goes past the address space")
        for chunk, index, count in self.pieces(page, npages):
            data = self.chunks.get(chunk)
            if data is None:
                raise InvalidOperation(f"pad of page {g.chunk_base(chunk) + index}, which is not in the heap")
            for i in range(index, index + count):
                if bitmap.get(data.alloc, i):
                    raise InvalidOperation(f"pad of page {g.chunk_base(chunk) + i}, which is in use")
        for chunk, index, count in self.pieces(page, npages):
            data = self.chunks[chunk]
            bitmap.set_range(data.alloc, index, count)
            bitmap.set_range(data.scavenged, index, count)
            bitmap.set_range(data.padded, index, count)
            self.scav.alloc(chunk, count)
        self.update(page, npages)

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
        g = self.geometry
        if self.leaf(chunk).max >= self.phys_page_pages:
            data = self.chunks[chunk]
            start, size = find_scavenge_candidate(
                data.alloc, data.scavenged, search_idx, self.phys_page_pages, max_pages, self.huge_page_pages
            )
            if size != 0:
                # Go allocates the run while it releases the memory and then frees it
                # again: the bitmaps, summaries and scavenge index end as they began,
                # except that the run is now scavenged and the hint may move down.
                first = g.chunk_base(chunk) + start
                if first < self.search_page:
                    self.search_page = first
                bitmap.set_range(data.scavenged, start, size)
                return size
        self.scav.set_empty(chunk)
        return 0
