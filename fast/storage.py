"""Where fast/ keeps the heap's bitmaps: one block of uint64 arrays per root entry in use.

Layout
------
The address space is that of a model.geometry.Geometry (Go's amd64 layout by
default: 512-page chunks, 5 tree levels, 2**14 root entries of 2**12 chunks,
48-bit addresses). Everything under one root entry is one *block*, made the
first time a chunk under that entry is grown, so memory is spent only where
the heap is: a 1 TiB heap anywhere in the 48-bit space costs 64 blocks, and
nothing is spent on the space between heaps (Go maps its bitmap and summary
memory on demand for the same reason).

Two names are used for a chunk's place throughout fast/:

  block id   the root entry above the chunk: chunk >> log_chunks_per_block
  row        the chunk's index inside its block: chunk & row_mask; row r of
             every per-chunk array of a block belongs to the same chunk

A BitmapBlock holds the bitmaps of its chunks (Go: pallocData), page i of a
chunk being bit i % 64 of word i // 64 of the chunk's row:

  alloc       (chunks_per_block, words_per_chunk) uint64: 1 = in use
  scavenged   the same shape: 1 = released to the OS
  grown       one bool per chunk: whether it has been grown

The tree (fast.tree) and the scavenge index (fast.scavenge) keep their own
per-block arrays under the same block ids; Storage owns the list of block ids,
and the page allocator (fast.pagealloc), when a grow makes a block here, gives
the other two their block for it.

A chunk's bitmap as one int
---------------------------
An operation inside one chunk reads the chunk's bitmap as one Python int of
chunk_pages bits (page i = bit i), straight from the row's bytes through a
memoryview (little-endian), works on it with big-int shifts and masks, and
writes it back the same way (read_alloc, write_alloc and their scavenged
twins). Ranges of many chunks work on whole rows with numpy instead.

Grown ranges
------------
The grown chunks are also kept as sorted, disjoint, merged [start, end)
ranges, so that grow's overlap check (first_grown_in) and mapping a page to
the next grown page (find_mapped, Go: findMappedAddr) are binary searches.

Invariants: a chunk's `grown` bit is set exactly when the chunk lies in one of
the ranges; a row never grown has both bitmaps zero; block_ids is the sorted
list of the keys of blocks.
"""

from __future__ import annotations

import bisect
import sys

import numpy as np

from model.errors import ParameterError
from model.geometry import Geometry

if sys.byteorder != "little":  # pragma: no cover - chunk ints are read from the arrays' bytes
    raise ImportError("fast/ reads uint64 bitmaps as little-endian bytes")

MAX_BLOCK_BYTES = 1 << 28  # both bitmaps of one block; larger root entries are refused
FULL_WORD = np.uint64((1 << 64) - 1)  # a word of 64 pages all in use (or all scavenged)


class Layout:
    """The sizes fast/ computes with, derived once from a Geometry as plain ints (read on every operation)."""

    __slots__ = (
        "bitmap_bytes",
        "chunk_pages",
        "chunks_per_block",
        "fan_out",
        "geometry",
        "level_bits",
        "level_log_pages",
        "levels",
        "log_chunk_pages",
        "log_chunks_per_block",
        "no_free_page",
        "page_mask",
        "root_entries",
        "row_mask",
        "total_chunks",
        "total_pages",
        "words_per_chunk",
    )

    def __init__(self, geometry: Geometry) -> None:
        g = geometry
        if g.levels < 2:
            raise ParameterError("fast/ needs a tree of at least 2 levels")
        self.geometry = g
        self.chunk_pages = g.chunk_pages
        self.log_chunk_pages = g.log_chunk_pages
        self.page_mask = g.chunk_pages - 1  # page & page_mask: the page's index in its chunk
        self.words_per_chunk = g.words_per_chunk
        self.bitmap_bytes = 8 * g.words_per_chunk  # one chunk's bitmap, one row of a block
        self.levels = g.levels
        self.level_bits = g.level_bits
        self.fan_out = 1 << g.level_bits  # children of an entry below the root
        self.level_log_pages = tuple(g.level_log_pages(level) for level in range(g.levels))
        self.root_entries = 1 << g.root_bits
        self.log_chunks_per_block = (g.levels - 1) * g.level_bits
        self.chunks_per_block = 1 << self.log_chunks_per_block
        self.row_mask = self.chunks_per_block - 1  # chunk & row_mask: the chunk's row in its block
        self.total_pages = g.total_pages
        self.total_chunks = g.total_chunks
        self.no_free_page = g.no_free_page
        if self.chunks_per_block * self.bitmap_bytes * 2 > MAX_BLOCK_BYTES:
            raise ParameterError(f"a root entry of {self.chunks_per_block} chunks is too large for fast/'s blocks")


class BitmapBlock:
    """The bitmaps of the chunks under one root entry (see the module comment for the layout)."""

    __slots__ = ("alloc", "alloc_bytes", "bitmap_bytes", "grown", "grown_view", "scavenged", "scavenged_bytes")

    def __init__(self, alloc: np.ndarray, scavenged: np.ndarray, grown: np.ndarray) -> None:
        self.alloc = alloc
        self.scavenged = scavenged
        self.grown = grown
        self.grown_view = memoryview(grown)  # the same flags, read one at a time as Python bools
        # The same memory as bytes: a row's slice of them is the chunk's bitmap as a little-endian int.
        self.alloc_bytes = memoryview(alloc).cast("B")
        self.scavenged_bytes = memoryview(scavenged).cast("B")
        self.bitmap_bytes = 8 * alloc.shape[1]

    @staticmethod
    def empty(layout: Layout) -> BitmapBlock:
        shape = (layout.chunks_per_block, layout.words_per_chunk)
        return BitmapBlock(
            np.zeros(shape, dtype=np.uint64),
            np.zeros(shape, dtype=np.uint64),
            np.zeros(layout.chunks_per_block, dtype=bool),
        )

    def copy(self) -> BitmapBlock:
        return BitmapBlock(self.alloc.copy(), self.scavenged.copy(), self.grown.copy())

    def read_alloc(self, row: int) -> int:
        """The in-use bitmap of the chunk at `row` as one int (page i = bit i)."""
        o = row * self.bitmap_bytes
        return int.from_bytes(self.alloc_bytes[o : o + self.bitmap_bytes], "little")

    def write_alloc(self, row: int, value: int) -> None:
        o = row * self.bitmap_bytes
        self.alloc_bytes[o : o + self.bitmap_bytes] = value.to_bytes(self.bitmap_bytes, "little")

    def read_scavenged(self, row: int) -> int:
        """The scavenged bitmap of the chunk at `row` as one int (page i = bit i)."""
        o = row * self.bitmap_bytes
        return int.from_bytes(self.scavenged_bytes[o : o + self.bitmap_bytes], "little")

    def write_scavenged(self, row: int, value: int) -> None:
        o = row * self.bitmap_bytes
        self.scavenged_bytes[o : o + self.bitmap_bytes] = value.to_bytes(self.bitmap_bytes, "little")


class Storage:
    """The blocks of bitmaps, by block id, and the grown chunks as merged ranges."""

    __slots__ = ("block_ids", "blocks", "layout", "range_ends", "range_starts")

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.blocks: dict[int, BitmapBlock] = {}
        # The ids of `blocks`, sorted; the tree's root-level search and the scavenge index walk it.
        self.block_ids: list[int] = []
        # Grown chunks as [range_starts[i], range_ends[i]) ranges: sorted, disjoint, never adjacent.
        self.range_starts: list[int] = []
        self.range_ends: list[int] = []

    def copy(self) -> Storage:
        twin = Storage(self.layout)
        twin.blocks = {bid: block.copy() for bid, block in self.blocks.items()}
        twin.block_ids = list(self.block_ids)
        twin.range_starts, twin.range_ends = list(self.range_starts), list(self.range_ends)
        return twin

    def grow(self, first_chunk: int, nchunks: int) -> list[int]:
        """Make chunks [first_chunk, first_chunk+nchunks) grown, free and scavenged; the ids of blocks made."""
        made = []
        for bid, first_row, last_row in self.block_rows(first_chunk, first_chunk + nchunks - 1):
            block = self.blocks.get(bid)
            if block is None:
                block = self.blocks[bid] = BitmapBlock.empty(self.layout)
                bisect.insort(self.block_ids, bid)
                made.append(bid)
            rows = slice(first_row, last_row + 1)
            block.grown[rows] = True
            block.alloc[rows] = 0
            block.scavenged[rows] = FULL_WORD
        self._add_range(first_chunk, first_chunk + nchunks)
        return made

    def _add_range(self, lo: int, hi: int) -> None:
        """Record chunks [lo, hi), none of them grown yet, merging with the ranges they touch."""
        starts, ends = self.range_starts, self.range_ends
        i = bisect.bisect_left(starts, lo)
        starts.insert(i, lo)
        ends.insert(i, hi)
        if i + 1 < len(starts) and starts[i + 1] == hi:
            ends[i] = ends[i + 1]
            del starts[i + 1], ends[i + 1]
        if i > 0 and ends[i - 1] == lo:
            ends[i - 1] = ends[i]
            del starts[i], ends[i]

    def first_grown_in(self, lo: int, hi: int) -> int | None:
        """The lowest grown chunk in [lo, hi), or None."""
        i = bisect.bisect_right(self.range_starts, lo) - 1
        if i >= 0 and self.range_ends[i] > lo:
            return lo
        if i + 1 < len(self.range_starts) and self.range_starts[i + 1] < hi:
            return self.range_starts[i + 1]
        return None

    def find_mapped(self, page: int) -> int:
        """The lowest grown page >= page, or no_free_page (Go: findMappedAddr)."""
        log_chunk_pages = self.layout.log_chunk_pages
        chunk = page >> log_chunk_pages
        i = bisect.bisect_right(self.range_starts, chunk)
        if i > 0 and chunk < self.range_ends[i - 1]:
            return page
        if i < len(self.range_starts):
            return self.range_starts[i] << log_chunk_pages
        return self.layout.no_free_page

    def block_rows(self, first_chunk: int, last_chunk: int) -> list[tuple[int, int, int]]:
        """Chunks [first_chunk, last_chunk] split by block: (block id, first row, last row)."""
        log_per_block, row_mask = self.layout.log_chunks_per_block, self.layout.row_mask
        out = []
        chunk = first_chunk
        while chunk <= last_chunk:
            bid = chunk >> log_per_block
            last = min(last_chunk, ((bid + 1) << log_per_block) - 1)
            out.append((bid, chunk & row_mask, last & row_mask))
            chunk = last + 1
        return out
