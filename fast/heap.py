"""The page heap in numpy: the model's behaviour, stored and updated the way an allocator would.

Address space and storage
-------------------------
Pages, chunks and tree levels are those of a model.geometry.Geometry (Go's
amd64 layout by default: 512-page chunks, 5 levels, 2**14 root entries of
2**12 chunks each, 48-bit addresses). Memory is taken only where the heap
is: the root level is one dense uint64 array (2**14 entries, 128 KiB), and
everything under one root entry lives in a Block, made the first time a
chunk under that entry is grown:

  alloc, scav       (chunks, words) uint64 arrays: the in-use and scavenged
                    bitmaps of the entry's chunks (Go: pallocData)
  grown             which of those chunks exist
  sums[l]           packed summaries (fast.summary) of the entry's
                    descendants at level l, 1 <= l < levels; sums[-1] are
                    the leaves, one per chunk
  in_use, last_in_use, gen, has_free
                    the scavenge index's per-chunk data (Go: scavChunkData)

So a 1 TiB heap anywhere in the 48-bit space costs 64 blocks of about
600 KiB, and memory is never spent on the space between heaps (Go maps
summary memory on demand for the same reason). Grown chunks are also kept as
sorted, merged [start, end) ranges, for grow's overlap check and for mapping
a page to the next grown page (Go: findMappedAddr).

Updates
-------
Every operation changes bitmaps and then re-summarizes only what it
touched, as Go's pageAlloc.update does: the touched chunks' leaves, then for
each level up the entries above them, each the merge of its 2**level_bits
children. An operation inside one chunk re-summarizes that chunk from its
bitmap read as one int (fast.summary.summarize_int) and walks up one entry
per level, stopping early when an entry comes out unchanged (its ancestors
then are too). Ranges of many chunks (grow, large alloc and free) set the
leaves of fully covered chunks directly (all in use, or all free),
summarize partial chunks, and merge whole rows of children per level with
numpy (fast.summary.merge_rows).

Invariant: after every operation, every stored summary at every level
equals the summary of the bitmaps below it, exactly as model.tree's
summarize_levels computes it, and the packed encoding is Go's.

Search
------
alloc follows the model rule for rule: the search hint (Go: searchAddr,
here search_page) is tried first, in its chunk's bitmap; else the tree is
descended as Go's pageAlloc.find does, from the root entry holding the hint,
scanning one block of entries per level and tracking the first-free bound
for the next hint. The root level is scanned only over root entries that
have a block (the sorted list block_ids), since every other root entry is
the zero summary and only resets the free run being built.

Scavenging
----------
The scavenge index's per-chunk data are arrays, so finding the next chunk
to scavenge below the cursor is one numpy search per block (the highest
chunk with has_free set), and the candidate run inside a chunk is found on
the chunk's bitmaps as ints (fast.bitmap.scavenge_candidate).

Refusals
--------
Every method checks its whole input against the state first and raises
model.errors.InvalidOperation before changing anything, on exactly the
conditions the model refuses (model.pageheap, model.pagealloc).
"""

from __future__ import annotations

import bisect
import sys

import numpy as np

from fast import faults as fault_names
from fast.bitmap import find_in_chunk, find_run, scavenge_candidate
from fast.summary import MASK64, Codec, merge_packed, merge_rows, popcount, summarize_int, summarize_rows
from model.errors import InvalidOperation, ParameterError
from model.geometry import AMD64, Geometry, is_power_of_two
from model.results import AllocResult, CacheFill, ScavengeResult

if sys.byteorder != "little":  # pragma: no cover - chunk ints are read from the arrays' bytes
    raise ImportError("fast/ reads uint64 bitmaps as little-endian bytes")

CACHE_PAGES = 64
MAX_PHYS_PAGE_PAGES = 64
HIGH_OCCUPANCY_NUM, HIGH_OCCUPANCY_DEN = 31, 32  # Go: scavChunkHiOccFrac
MAX_BLOCK_BYTES = 1 << 28
SCALAR_ROWS = 4  # ranges of at most this many entries are merged with ints, longer ones with numpy

FAILED = AllocResult(None, 0)
EMPTY_FILL = CacheFill(None, 0, 0)
U64_ALL = np.uint64(MASK64)


class BadSummaryData(RuntimeError):
    """The tree promised free pages the level below lacks (Go throws 'bad summary data')."""


def check_count(name: str, value: object, minimum: int = 1) -> int:
    if type(value) is not int or value < minimum:
        raise InvalidOperation(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


class Block:
    """Everything under one root entry: bitmaps, summaries and scavenge data of its chunks."""

    __slots__ = (
        "alloc",
        "alloc_bytes",
        "gen",
        "gen_view",
        "grown",
        "has_free",
        "has_free_view",
        "in_use",
        "in_use_view",
        "last_in_use",
        "last_view",
        "leaf_view",
        "scav",
        "scav_bytes",
        "sum_views",
        "sums",
    )

    def __init__(self, rows: int, words: int, levels: int, level_bits: int) -> None:
        self.alloc = np.zeros((rows, words), dtype=np.uint64)
        self.scav = np.zeros((rows, words), dtype=np.uint64)
        self.alloc_bytes = memoryview(self.alloc).cast("B")
        self.scav_bytes = memoryview(self.scav).cast("B")
        self.grown = np.zeros(rows, dtype=bool)
        # sums[l] for 1 <= l < levels: 2**(l * level_bits) entries; sums[0] is the root entry itself.
        self.sums = [np.zeros(0, dtype=np.uint64)] + [
            np.zeros(1 << (level * level_bits), dtype=np.uint64) for level in range(1, levels)
        ]
        self.sum_views = [memoryview(a) for a in self.sums]
        self.leaf_view = self.sum_views[-1]
        self.in_use = np.zeros(rows, dtype=np.int64)
        self.last_in_use = np.zeros(rows, dtype=np.int64)
        self.gen = np.zeros(rows, dtype=np.int64)
        self.has_free = np.zeros(rows, dtype=bool)
        self.in_use_view = memoryview(self.in_use)
        self.last_view = memoryview(self.last_in_use)
        self.gen_view = memoryview(self.gen)
        self.has_free_view = memoryview(self.has_free)


def _copy_block(blk: Block) -> Block:
    twin = Block.__new__(Block)
    twin.alloc, twin.scav = blk.alloc.copy(), blk.scav.copy()
    twin.alloc_bytes, twin.scav_bytes = memoryview(twin.alloc).cast("B"), memoryview(twin.scav).cast("B")
    twin.grown = blk.grown.copy()
    twin.sums = [a.copy() for a in blk.sums]
    twin.sum_views = [memoryview(a) for a in twin.sums]
    twin.leaf_view = twin.sum_views[-1]
    twin.in_use, twin.last_in_use = blk.in_use.copy(), blk.last_in_use.copy()
    twin.gen, twin.has_free = blk.gen.copy(), blk.has_free.copy()
    twin.in_use_view, twin.last_view = memoryview(twin.in_use), memoryview(twin.last_in_use)
    twin.gen_view, twin.has_free_view = memoryview(twin.gen), memoryview(twin.has_free)
    return twin


class Cache:
    """A page cache: 64-page aligned base, free pages and their scavenged bits (bit i = base + i)."""

    __slots__ = ("base", "free", "scav")

    def __init__(self, base: int | None, free: int, scav: int) -> None:
        self.base = base
        self.free = free
        self.scav = scav


class FastPageHeap:
    """The page heap a trace drives, with the same methods as model.pageheap.PageHeap."""

    def __init__(
        self,
        geometry: Geometry = AMD64,
        phys_page_pages: int = 1,
        huge_page_pages: int = 0,
        faults: frozenset[str] | None = None,
    ) -> None:
        g = geometry
        if not is_power_of_two(phys_page_pages) or phys_page_pages > MAX_PHYS_PAGE_PAGES:
            raise ParameterError(f"phys_page_pages must be a power of two from 1 to 64, got {phys_page_pages!r}")
        if not (huge_page_pages == 0 or is_power_of_two(huge_page_pages)) or huge_page_pages > g.chunk_pages:
            raise ParameterError(
                f"huge_page_pages must be 0 or a power of two up to chunk_pages ({g.chunk_pages}), "
                f"got {huge_page_pages!r}"
            )
        if g.levels < 2:
            raise ParameterError("fast/ needs a tree of at least 2 levels")
        self.geometry = g
        self.phys_page_pages = phys_page_pages
        self.huge_page_pages = huge_page_pages
        self.cp = g.chunk_pages
        self.lcp = g.log_chunk_pages
        self.cpm = g.chunk_pages - 1
        self.words = g.words_per_chunk
        self.row_bytes = 8 * self.words
        self.full_chunk = (1 << self.cp) - 1
        self.levels = g.levels
        self.lb = g.level_bits
        self.fan = 1 << g.level_bits
        self.rb = (g.levels - 1) * g.level_bits  # log2 of chunks per block
        self.rows = 1 << self.rb
        self.row_mask = self.rows - 1
        if self.rows * self.row_bytes * 2 > MAX_BLOCK_BYTES:
            raise ParameterError(f"a root entry of {self.rows} chunks is too large for fast/'s blocks")
        self.llp = [g.level_log_pages(level) for level in range(g.levels)]
        self.codec = Codec(g.log_max_packed)
        self.free_packed = [self.codec.free(1 << p) for p in self.llp]
        self.total_pages = g.total_pages
        self.total_chunks = g.total_chunks
        self.no_free_page = g.no_free_page
        self.dense = self.cp * HIGH_OCCUPANCY_NUM // HIGH_OCCUPANCY_DEN

        self.root = np.zeros(1 << g.root_bits, dtype=np.uint64)
        self.root_view = memoryview(self.root)
        self.blocks: dict[int, Block] = {}
        self.block_ids: list[int] = []
        self.range_starts: list[int] = []
        self.range_ends: list[int] = []
        self.end_chunk = 0
        self.search_page = g.no_free_page

        # The scavenge index (Go: scavengeIndex); per-chunk data live in the blocks.
        self.min_heap_chunk: int | None = None
        self.force_page: int | None = None
        self.force_marked = False
        self.bg_page: int | None = None
        self.bg_marked = False
        self.free_high_water: int | None = None
        self.gen = 0

        self.caches: dict[int, Cache] = {}

        chosen = fault_names.check_names(fault_names.FAULTS if faults is None else faults)
        self.faults = chosen
        self.fault_merge = fault_names.MERGE_WIDTH_OFF_BY_ONE in chosen
        self.fault_missed_level = fault_names.MISSED_LEVEL_UPDATE in chosen
        self.fault_flush = fault_names.FLUSH_DROPS_SCAVENGED in chosen
        self.fault_hint = fault_names.HINT_TOO_FAR in chosen

    def clone(self) -> FastPageHeap:
        """An independent copy of the whole heap (the oracle probes a copy to see where states differ)."""
        twin = FastPageHeap.__new__(FastPageHeap)
        twin.__dict__.update(self.__dict__)
        twin.root = self.root.copy()
        twin.root_view = memoryview(twin.root)
        twin.blocks = {bid: _copy_block(blk) for bid, blk in self.blocks.items()}
        twin.block_ids = list(self.block_ids)
        twin.range_starts, twin.range_ends = list(self.range_starts), list(self.range_ends)
        twin.free_packed = list(self.free_packed)
        twin.llp = list(self.llp)
        twin.caches = {i: Cache(c.base, c.free, c.scav) for i, c in self.caches.items()}
        return twin

    # Storage.

    def _block(self, bid: int) -> Block:
        blk = self.blocks.get(bid)
        if blk is None:
            blk = Block(self.rows, self.words, self.levels, self.lb)
            self.blocks[bid] = blk
            bisect.insort(self.block_ids, bid)
        return blk

    def _read(self, view: memoryview, row: int) -> int:
        o = row * self.row_bytes
        return int.from_bytes(view[o : o + self.row_bytes], "little")

    def _write(self, view: memoryview, row: int, value: int) -> None:
        o = row * self.row_bytes
        view[o : o + self.row_bytes] = value.to_bytes(self.row_bytes, "little")

    def is_grown(self, chunk: int) -> bool:
        blk = self.blocks.get(chunk >> self.rb)
        return blk is not None and bool(blk.grown[chunk & self.row_mask])

    def _first_grown_in(self, lo: int, hi: int) -> int | None:
        """The lowest grown chunk in [lo, hi), or None."""
        i = bisect.bisect_right(self.range_starts, lo) - 1
        if i >= 0 and self.range_ends[i] > lo:
            return lo
        if i + 1 < len(self.range_starts) and self.range_starts[i + 1] < hi:
            return self.range_starts[i + 1]
        return None

    def _add_range(self, lo: int, hi: int) -> None:
        i = bisect.bisect_left(self.range_starts, lo)
        self.range_starts.insert(i, lo)
        self.range_ends.insert(i, hi)
        if i + 1 < len(self.range_starts) and self.range_starts[i + 1] == hi:
            self.range_ends[i] = self.range_ends[i + 1]
            del self.range_starts[i + 1], self.range_ends[i + 1]
        if i > 0 and self.range_ends[i - 1] == lo:
            self.range_ends[i - 1] = self.range_ends[i]
            del self.range_starts[i], self.range_ends[i]

    def find_mapped(self, page: int) -> int:
        """The lowest grown page >= page, or no_free_page (Go: findMappedAddr)."""
        chunk = page >> self.lcp
        i = bisect.bisect_right(self.range_starts, chunk)
        if i > 0 and chunk < self.range_ends[i - 1]:
            return page
        if i < len(self.range_starts):
            return self.range_starts[i] << self.lcp
        return self.no_free_page

    def _rows(self, first_chunk: int, last_chunk: int) -> list[tuple[int, int, int]]:
        """Split chunks [first_chunk, last_chunk] by block: (block id, first row, last row)."""
        out = []
        chunk = first_chunk
        while chunk <= last_chunk:
            bid = chunk >> self.rb
            last = min(last_chunk, ((bid + 1) << self.rb) - 1)
            out.append((bid, chunk & self.row_mask, last & self.row_mask))
            chunk = last + 1
        return out

    # Summaries.

    def _update_chunk(self, blk: Block, chunk: int, used: int) -> None:
        """Re-summarize one chunk whose in-use bitmap is now `used`, and its ancestors while they change."""
        codec = self.codec
        s, m, e = summarize_int(used, self.cp)
        leaf = codec.pack(s, m, e)
        row = chunk & self.row_mask
        if blk.leaf_view[row] == leaf:
            return
        blk.leaf_view[row] = leaf
        lb, fan, fault = self.lb, self.fan, self.fault_merge
        index = row
        for level in range(self.levels - 2, 0, -1):
            index >>= lb
            first = index << lb
            children = blk.sum_views[level + 1][first : first + fan].tolist()
            merged = merge_packed(children, 1 << self.llp[level + 1], codec, fault)
            view = blk.sum_views[level]
            if view[index] == merged:
                return
            view[index] = merged
        self.root_view[chunk >> self.rb] = merge_packed(blk.sum_views[1].tolist(), 1 << self.llp[1], codec, fault)

    def _update_range(self, first_page: int, npages: int, fill: int | None, freeing: bool = False) -> None:
        """Re-summarize the chunks of [first_page, first_page+npages) and their ancestors.

        Chunks the range covers whole get the leaf `fill` when it is given
        (they are all in use, or all free); others are summarized from their
        bitmaps.
        """
        codec, lb, fan, fault = self.codec, self.lb, self.fan, self.fault_merge
        last_page = first_page + npages - 1
        first_chunk, last_chunk = first_page >> self.lcp, last_page >> self.lcp
        whole_lo = first_chunk if first_page & self.cpm == 0 else first_chunk + 1
        whole_hi = last_chunk if (last_page + 1) & self.cpm == 0 else last_chunk - 1
        skip_level = self.levels - 2 if freeing and self.fault_missed_level and last_chunk > first_chunk else -1
        for bid, r0, r1 in self._rows(first_chunk, last_chunk):
            blk = self.blocks[bid]
            base = bid << self.rb
            leaves = blk.sums[-1]
            w0, w1 = max(r0, whole_lo - base), min(r1, whole_hi - base)  # rows the range covers whole
            for row in sorted({r0, r1}):
                if not w0 <= row <= w1:
                    blk.leaf_view[row] = codec.pack(*summarize_int(self._read(blk.alloc_bytes, row), self.cp))
            if w0 <= w1:
                if fill is not None:
                    leaves[w0 : w1 + 1] = fill
                elif w1 - w0 + 1 > SCALAR_ROWS:
                    leaves[w0 : w1 + 1] = codec.pack_arrays(*summarize_rows(blk.alloc[w0 : w1 + 1]))
                else:
                    for row in range(w0, w1 + 1):
                        blk.leaf_view[row] = codec.pack(*summarize_int(self._read(blk.alloc_bytes, row), self.cp))
            lo, hi = r0, r1
            for level in range(self.levels - 2, 0, -1):
                lo >>= lb
                hi >>= lb
                if level == skip_level:
                    continue
                child_width = 1 << self.llp[level + 1]
                children = blk.sums[level + 1]
                if hi - lo + 1 <= SCALAR_ROWS:
                    view = blk.sum_views[level]
                    child_view = blk.sum_views[level + 1]
                    for index in range(lo, hi + 1):
                        row_children = child_view[index << lb : (index + 1) << lb].tolist()
                        view[index] = merge_packed(row_children, child_width, codec, fault)
                else:
                    rows = children[lo << lb : (hi + 1) << lb].reshape(-1, fan)
                    blk.sums[level][lo : hi + 1] = merge_rows(rows, child_width, codec, fault)
            self.root_view[bid] = merge_packed(blk.sum_views[1].tolist(), 1 << self.llp[1], codec, fault)

    # Tree search.

    def _find(self, npages: int) -> tuple[int | None, int]:
        """Go's pageAlloc.find: (first page of the first fit or None, the new search hint candidate)."""
        codec = self.codec
        unpack = codec.unpack
        bound_lo, bound_hi = 0, self.total_pages - 1
        sp = self.search_page

        # Root level: its block is the whole level; only root entries with a block can be non-zero.
        log_width = self.llp[0]
        width = 1 << log_width
        search_index = sp >> log_width
        j0 = search_index if search_index < len(self.root) else 0
        base = size = 0
        chosen = -1
        previous = -2
        root_view = self.root_view
        ids = self.block_ids
        for k in range(bisect.bisect_left(ids, j0), len(ids)):
            j = ids[k]
            if j != previous + 1:
                size = 0  # the root entries between are zero summaries
            previous = j
            packed = root_view[j]
            if not packed:
                size = 0
                continue
            entry_base = j << log_width
            if bound_lo <= entry_base and entry_base + width - 1 <= bound_hi:
                bound_lo, bound_hi = entry_base, entry_base + width - 1
            start, most, end = unpack(packed)
            if size + start >= npages:
                if size == 0:
                    base = j * width
                size += start
                break
            if most >= npages:
                chosen = j
                break
            if size == 0 or start < width:
                size = end
                base = (j + 1) * width - size
                continue
            size += width
        if chosen < 0:
            if size >= npages:
                return base, bound_lo
            return None, self.no_free_page

        i = chosen
        blk = self.blocks[chosen]
        for level in range(1, self.levels):
            log_width = self.llp[level]
            width = 1 << log_width
            i <<= self.lb
            search_index = sp >> log_width
            j0 = search_index & (self.fan - 1) if search_index - (search_index & (self.fan - 1)) == i else 0
            local = i & ((1 << (level * self.lb)) - 1)
            entries = blk.sum_views[level][local : local + self.fan].tolist()
            base = size = 0
            descend = False
            for j in range(j0, self.fan):
                packed = entries[j]
                if not packed:
                    size = 0
                    continue
                entry_base = (i + j) << log_width
                if bound_lo <= entry_base and entry_base + width - 1 <= bound_hi:
                    bound_lo, bound_hi = entry_base, entry_base + width - 1
                start, most, end = unpack(packed)
                if size + start >= npages:
                    if size == 0:
                        base = j * width
                    size += start
                    break
                if most >= npages:
                    i += j
                    descend = True
                    break
                if size == 0 or start < width:
                    size = end
                    base = (j + 1) * width - size
                    continue
                size += width
            if descend:
                continue
            if size >= npages:
                return (i << log_width) + base, bound_lo
            raise BadSummaryData(f"level {level - 1} promised {npages} free pages that level {level} lacks")

        chunk = i
        index, first_free = find_in_chunk(self._read(blk.alloc_bytes, chunk & self.row_mask), npages, 0, self.cp)
        if index is None or first_free is None:
            raise BadSummaryData(f"chunk {chunk}'s summary promised {npages} free pages that its bitmap lacks")
        chunk_base = chunk << self.lcp
        free_page = chunk_base + first_free
        if bound_lo <= free_page and chunk_base + self.cp - 1 <= bound_hi:
            bound_lo = free_page
        return chunk_base + index, bound_lo

    def find(self, npages: int) -> tuple[int | None, int]:
        """Tree search: (first fit or None, the next hint candidate mapped to a grown page)."""
        page, first_free = self._find(npages)
        if page is None:
            return None, first_free
        return page, self.find_mapped(first_free)

    # Scavenge index.

    def _scav_alloc(self, blk: Block, row: int, npages: int) -> None:
        in_use = blk.in_use_view[row]
        if in_use + npages > self.cp:
            raise AssertionError(f"scavenge index: {in_use}+{npages} pages in use in one chunk")
        if blk.gen_view[row] != self.gen:
            blk.last_view[row] = in_use
            blk.gen_view[row] = self.gen
        in_use += npages
        blk.in_use_view[row] = in_use
        if in_use == self.cp:
            blk.has_free_view[row] = False

    def _scav_free(self, blk: Block, row: int, npages: int) -> None:
        in_use = blk.in_use_view[row]
        if in_use < npages:
            raise AssertionError(f"scavenge index: freeing {npages} pages with {in_use} in use")
        if blk.gen_view[row] != self.gen:
            blk.last_view[row] = in_use
            blk.gen_view[row] = self.gen
        blk.in_use_view[row] = in_use - npages
        blk.has_free_view[row] = True

    def _scav_rows(self, blk: Block, r0: int, r1: int, delta: int) -> None:
        """The scavenge index after `delta` pages (cp or -cp) were allocated or freed in every chunk of rows r0..r1."""
        sl = slice(r0, r1 + 1)
        in_use = blk.in_use[sl]
        if delta > 0 and in_use.any():
            raise AssertionError("scavenge index: allocating a whole chunk that has pages in use")
        if delta < 0 and (in_use < -delta).any():
            raise AssertionError("scavenge index: freeing a whole chunk that has pages free")
        stale = blk.gen[sl] != self.gen
        blk.last_in_use[sl] = np.where(stale, in_use, blk.last_in_use[sl])
        blk.gen[sl] = self.gen
        blk.in_use[sl] = in_use + delta
        blk.has_free[sl] = delta < 0

    def _scav_freed_top(self, top: int) -> None:
        """A free's effect on the index's cursors: its top page raises the high-water mark and the forced cursor."""
        if self.free_high_water is None or self.free_high_water < top:
            self.free_high_water = top
        if self.force_page is None or self.force_page < top:
            self.force_page, self.force_marked = top, True

    def next_gen(self) -> None:
        """End a GC cycle: a new scavenger generation (Go: scavengeIndex.nextGen; trace version 2)."""
        self.gen += 1
        hwm = self.free_high_water
        if hwm is not None and (self.bg_page is None or self.bg_page < hwm):
            self.bg_page, self.bg_marked = hwm, True
        self.free_high_water = None

    def _highest_candidate(self, start: int, force: bool) -> int | None:
        """The highest chunk in [min_heap_chunk, start] that should be scavenged, or None."""
        assert self.min_heap_chunk is not None
        lo = self.min_heap_chunk
        ids = self.block_ids
        k = bisect.bisect_right(ids, start >> self.rb) - 1
        while k >= 0:
            bid = ids[k]
            base = bid << self.rb
            if base + self.rows - 1 < lo:
                return None
            blk = self.blocks[bid]
            r0, r1 = max(lo - base, 0), min(start - base, self.rows - 1)
            if r0 <= r1:
                if force and blk.has_free_view[r1]:
                    return base + r1
                wanted = blk.has_free[r0 : r1 + 1]
                if not force:
                    in_use = blk.in_use[r0 : r1 + 1]
                    current = blk.gen[r0 : r1 + 1] == self.gen
                    dense_ok = in_use < self.dense
                    wanted = wanted & dense_ok & (~current | (blk.last_in_use[r0 : r1 + 1] < self.dense))
                hits = np.flatnonzero(wanted)
                if hits.size:
                    return base + r0 + int(hits[-1])
            k -= 1
        return None

    def _scav_find(self, force: bool) -> tuple[int, int] | None:
        """(chunk, page in chunk) to scavenge next, moving the cursor (Go: scavengeIndex.find)."""
        page = self.force_page if force else self.bg_page
        if page is None or self.min_heap_chunk is None:
            return None
        start = page >> self.lcp
        chunk = self._highest_candidate(start, force)
        if chunk is None:
            if force and not self.force_marked:
                self.force_page = None
            if not force and not self.bg_marked:
                self.bg_page = None
            return None
        if chunk == start:
            return chunk, page & self.cpm
        top = (chunk << self.lcp) + self.cp - 1
        if force:
            if self.force_marked or top < page:
                self.force_page, self.force_marked = top, False
        elif self.bg_marked or top < page:
            self.bg_page, self.bg_marked = top, False
        return chunk, self.cp - 1

    def _scavenge_one(self, chunk: int, search_idx: int, max_pages: int) -> int:
        blk = self.blocks[chunk >> self.rb]
        row = chunk & self.row_mask
        if self.codec.max_of(blk.leaf_view[row]) >= self.phys_page_pages:
            scavenged = self._read(blk.scav_bytes, row)
            start, size = scavenge_candidate(
                self._read(blk.alloc_bytes, row),
                scavenged,
                search_idx,
                self.phys_page_pages,
                max_pages,
                self.huge_page_pages,
                self.cp,
            )
            if size:
                first = (chunk << self.lcp) + start
                if first < self.search_page:
                    self.search_page = first
                self._write(blk.scav_bytes, row, scavenged | (((1 << size) - 1) << start))
                return size
        blk.has_free_view[row] = False
        return 0

    # Operations.

    def grow(self, chunk: int, nchunks: int) -> None:
        check_count("chunk", chunk, 0)
        check_count("nchunks", nchunks)
        if chunk + nchunks > self.total_chunks:
            raise InvalidOperation(
                f"grow of chunks [{chunk}, {chunk + nchunks}) goes past the address space's {self.total_chunks} chunks"
            )
        existing = self._first_grown_in(chunk, chunk + nchunks)
        if existing is not None:
            raise InvalidOperation(f"grow over chunk {existing}, which already exists")
        if self.min_heap_chunk is None or chunk < self.min_heap_chunk:
            self.min_heap_chunk = chunk
        self.end_chunk = max(self.end_chunk, chunk + nchunks)
        base = chunk << self.lcp
        if base < self.search_page:
            self.search_page = base
        for bid, r0, r1 in self._rows(chunk, chunk + nchunks - 1):
            blk = self._block(bid)
            blk.grown[r0 : r1 + 1] = True
            blk.alloc[r0 : r1 + 1] = 0
            blk.scav[r0 : r1 + 1] = U64_ALL
        self._add_range(chunk, chunk + nchunks)
        self._update_range(base, nchunks * self.cp, self.free_packed[-1])

    def alloc(self, npages: int) -> AllocResult:
        check_count("npages", npages)
        sp = self.search_page
        chunk = sp >> self.lcp
        if chunk >= self.end_chunk:
            return FAILED
        index = sp & self.cpm
        if self.cp - index >= npages:
            blk = self.blocks.get(chunk >> self.rb)
            if blk is not None:
                row = chunk & self.row_mask
                if self.codec.max_of(blk.leaf_view[row]) >= npages:
                    used = self._read(blk.alloc_bytes, row)
                    found, first_free = find_in_chunk(used, npages, index, self.cp)
                    if found is None or first_free is None:
                        raise BadSummaryData(f"chunk {chunk}'s summary promised {npages} free pages")
                    scav = self._alloc_in_chunk(blk, chunk, found, npages, used)
                    hint = (chunk << self.lcp) + first_free
                    if self.search_page < hint:
                        self.search_page = hint
                    return AllocResult((chunk << self.lcp) + found, scav)
        page, hint = self.find(npages)
        if page is None:
            if npages == 1:
                self.search_page = self.no_free_page
            return FAILED
        scav = self._alloc_range(page, npages)
        if self.fault_hint:
            hint = max(hint, page + npages)
        if self.search_page < hint:
            self.search_page = hint
        return AllocResult(page, scav)

    def _alloc_in_chunk(self, blk: Block, chunk: int, index: int, npages: int, used: int) -> int:
        """Mark npages pages from `index` of one chunk in use; returns how many were scavenged."""
        row = chunk & self.row_mask
        mask = ((1 << npages) - 1) << index
        used |= mask
        self._write(blk.alloc_bytes, row, used)
        scavenged = self._read(blk.scav_bytes, row)
        hit = scavenged & mask
        if hit:
            self._write(blk.scav_bytes, row, scavenged ^ hit)
        self._scav_alloc(blk, row, npages)
        self._update_chunk(blk, chunk, used)
        return hit.bit_count()

    def _alloc_range(self, page: int, npages: int) -> int:
        """Mark [page, page+npages) in use, in any number of chunks (Go: allocRange)."""
        first_chunk, last_chunk = page >> self.lcp, (page + npages - 1) >> self.lcp
        if first_chunk == last_chunk:
            blk = self.blocks[first_chunk >> self.rb]
            used = self._read(blk.alloc_bytes, first_chunk & self.row_mask)
            return self._alloc_in_chunk(blk, first_chunk, page & self.cpm, npages, used)
        scav = 0
        for blk, row, lo, count in self._edge_pieces(page, npages):
            mask = ((1 << count) - 1) << lo
            self._write(blk.alloc_bytes, row, self._read(blk.alloc_bytes, row) | mask)
            scavenged = self._read(blk.scav_bytes, row)
            scav += (scavenged & mask).bit_count()
            self._write(blk.scav_bytes, row, scavenged & ~mask)
            self._scav_alloc(blk, row, count)
        for blk, r0, r1 in self._whole_rows(page, npages):
            sl = slice(r0, r1 + 1)
            scav += int(popcount(blk.scav[sl]).sum())
            blk.scav[sl] = 0
            blk.alloc[sl] = U64_ALL
            self._scav_rows(blk, r0, r1, self.cp)
        self._update_range(page, npages, 0)
        return scav

    def _edge_pieces(self, page: int, npages: int) -> list[tuple[Block, int, int, int]]:
        """The chunks [page, page+npages) covers only in part: (block, row, first index, count)."""
        out = []
        last = page + npages - 1
        first_chunk, last_chunk = page >> self.lcp, last >> self.lcp
        lo = page & self.cpm
        if first_chunk == last_chunk:
            if npages < self.cp:
                out.append((self.blocks[first_chunk >> self.rb], first_chunk & self.row_mask, lo, npages))
            return out
        if lo:
            out.append((self.blocks[first_chunk >> self.rb], first_chunk & self.row_mask, lo, self.cp - lo))
        hi = last & self.cpm
        if hi != self.cpm:
            out.append((self.blocks[last_chunk >> self.rb], last_chunk & self.row_mask, 0, hi + 1))
        return out

    def _whole_rows(self, page: int, npages: int) -> list[tuple[Block, int, int]]:
        """The chunks [page, page+npages) covers whole, as (block, first row, last row) runs."""
        first_chunk = (page + self.cpm) >> self.lcp
        last_chunk = ((page + npages) >> self.lcp) - 1
        if first_chunk > last_chunk:
            return []
        return [(self.blocks[bid], r0, r1) for bid, r0, r1 in self._rows(first_chunk, last_chunk)]

    def check_free(self, page: int, npages: int) -> None:
        """Refuse a free unless every page of [page, page+npages) is grown and in use."""
        check_count("page", page, 0)
        check_count("npages", npages)
        if page + npages > self.total_pages:
            raise InvalidOperation(f"free of pages [{page}, {page + npages}) goes past the address space")
        last = page + npages - 1
        for bid, r0, r1 in self._rows(page >> self.lcp, last >> self.lcp):
            blk = self.blocks.get(bid)
            base = bid << self.rb
            if blk is None:
                first = max(page, (base + r0) << self.lcp)
                raise InvalidOperation(f"free of page {first}, which is not in the heap")
            candidates = list(range(r0, r1 + 1))
            if r1 - r0 + 1 > SCALAR_ROWS:
                # Rows strictly inside are whole chunks: only the first one not grown or not all
                # in use can hold the first bad page, so check it with the two edge rows.
                inner = slice(r0 + 1, r1)
                inner_ok = blk.grown[inner] & (blk.alloc[inner] == U64_ALL).all(axis=1)
                inner_bad = np.flatnonzero(~inner_ok)
                candidates = [r0, *([r0 + 1 + int(inner_bad[0])] if inner_bad.size else []), r1]
            for row in candidates:
                chunk = base + row
                chunk_base = chunk << self.lcp
                lo = max(page, chunk_base) - chunk_base
                hi = min(last, chunk_base + self.cpm) - chunk_base
                if not blk.grown[row]:
                    raise InvalidOperation(f"free of page {chunk_base + lo}, which is not in the heap")
                mask = ((1 << (hi - lo + 1)) - 1) << lo
                missing = mask & ~self._read(blk.alloc_bytes, row)
                if missing:
                    first = chunk_base + (missing & -missing).bit_length() - 1
                    raise InvalidOperation(f"free of page {first}, which is not in use")

    def _check_caches(self, page: int, npages: int) -> None:
        if not self.caches:
            return
        end = page + npages
        for cache_id in sorted(self.caches):
            cache = self.caches[cache_id]
            if not cache.free or cache.base is None:
                continue
            lo, hi = max(page, cache.base), min(end, cache.base + CACHE_PAGES)
            if lo >= hi:
                continue
            held = cache.free & (((1 << (hi - lo)) - 1) << (lo - cache.base))
            if held:
                first = cache.base + (held & -held).bit_length() - 1
                raise InvalidOperation(f"free of page {first}, which cache {cache_id} holds and has not handed out")

    def free(self, page: int, npages: int) -> None:
        self.check_free(page, npages)
        self._check_caches(page, npages)
        if page < self.search_page:
            self.search_page = page
        first_chunk, last_chunk = page >> self.lcp, (page + npages - 1) >> self.lcp
        if first_chunk == last_chunk:
            blk = self.blocks[first_chunk >> self.rb]
            row = first_chunk & self.row_mask
            used = self._read(blk.alloc_bytes, row) & ~(((1 << npages) - 1) << (page & self.cpm))
            self._write(blk.alloc_bytes, row, used)
            self._scav_free(blk, row, npages)
            self._scav_freed_top(page + npages - 1)
            self._update_chunk(blk, first_chunk, used)
            return
        for blk, row, lo, count in self._edge_pieces(page, npages):
            self._write(blk.alloc_bytes, row, self._read(blk.alloc_bytes, row) & ~(((1 << count) - 1) << lo))
            self._scav_free(blk, row, count)
        for blk, r0, r1 in self._whole_rows(page, npages):
            blk.alloc[r0 : r1 + 1] = 0
            self._scav_rows(blk, r0, r1, -self.cp)
        self._scav_freed_top(page + npages - 1)
        self._update_range(page, npages, self.free_packed[-1], freeing=True)

    def cache_fill(self, cache_id: int) -> CacheFill:
        check_count("cache", cache_id, 0)
        existing = self.caches.get(cache_id)
        if existing is not None and existing.free:
            raise InvalidOperation(f"cache_fill into cache {cache_id}, which is not empty")
        cache = self._fill()
        self.caches[cache_id] = cache
        return CacheFill(cache.base, cache.free, cache.scav) if cache.free else EMPTY_FILL

    def _fill(self) -> Cache:
        """Go's allocToCache: the free pages of the 64-page block holding the heap's first free page."""
        sp = self.search_page
        chunk = sp >> self.lcp
        if chunk >= self.end_chunk:
            return Cache(None, 0, 0)
        blk = self.blocks.get(chunk >> self.rb)
        index: int | None
        if blk is not None and blk.leaf_view[chunk & self.row_mask]:
            used = self._read(blk.alloc_bytes, chunk & self.row_mask)
            index, _ = find_in_chunk(used, 1, sp & self.cpm, self.cp)
        else:
            page, _ = self.find(1)
            if page is None:
                self.search_page = self.no_free_page
                return Cache(None, 0, 0)
            chunk, index = page >> self.lcp, page & self.cpm
            blk = self.blocks[chunk >> self.rb]
            used = self._read(blk.alloc_bytes, chunk & self.row_mask)
        if index is None:
            raise BadSummaryData(f"chunk {chunk}'s summary promised a free page")
        row = chunk & self.row_mask
        shift = index & ~63
        free = ((used >> shift) & MASK64) ^ MASK64
        scavenged = self._read(blk.scav_bytes, row)
        scav = (scavenged >> shift) & MASK64
        used |= free << shift
        self._write(blk.alloc_bytes, row, used)
        self._write(blk.scav_bytes, row, scavenged & ~((free & scav) << shift))
        base = (chunk << self.lcp) + shift
        self._update_chunk(blk, chunk, used)
        self._scav_alloc(blk, row, free.bit_count())
        self.search_page = base + CACHE_PAGES - 1
        return Cache(base, free, scav)

    def cache_alloc(self, cache_id: int, npages: int) -> AllocResult:
        check_count("npages", npages)
        if npages > CACHE_PAGES:
            raise InvalidOperation(f"cache_alloc of {npages} pages; a cache holds at most {CACHE_PAGES}")
        cache = self._cache(cache_id)
        if not cache.free or cache.base is None:
            return FAILED
        if npages == 1:
            i = (cache.free & -cache.free).bit_length() - 1
        else:
            found = find_run(cache.free, npages)
            if found is None:
                return FAILED
            i = found
        mask = ((1 << npages) - 1) << i
        scav = (cache.scav & mask).bit_count()
        cache.free &= ~mask
        cache.scav &= ~mask
        return AllocResult(cache.base + i, scav)

    def cache_flush(self, cache_id: int) -> None:
        cache = self._cache(cache_id)
        if not cache.free or cache.base is None:
            return
        base = cache.base
        chunk, first = base >> self.lcp, base & self.cpm
        blk = self.blocks[chunk >> self.rb]
        row = chunk & self.row_mask
        in_use = blk.in_use_view[row]
        count = cache.free.bit_count()
        if in_use < count:
            raise AssertionError(f"scavenge index: freeing {count} pages with {in_use} in use")
        used = self._read(blk.alloc_bytes, row) & ~(cache.free << first)
        self._write(blk.alloc_bytes, row, used)
        self._scav_free(blk, row, count)
        self._scav_freed_top(base + cache.free.bit_length() - 1)
        if not self.fault_flush:
            self._write(blk.scav_bytes, row, self._read(blk.scav_bytes, row) | (cache.scav << first))
        if base < self.search_page:
            self.search_page = base
        self._update_chunk(blk, chunk, used)
        cache.base, cache.free, cache.scav = None, 0, 0

    def _cache(self, cache_id: int) -> Cache:
        check_count("cache", cache_id, 0)
        cache = self.caches.get(cache_id)
        if cache is None:
            raise InvalidOperation(f"unknown cache id {cache_id}: no cache_fill has named it")
        return cache

    def scavenge(self, npages: int, force: bool = True) -> ScavengeResult:
        """Forced scavenging by default; force=False is the background scavenger's kind."""
        return ScavengeResult(self.scavenge_pages(npages, force=force))

    def scavenge_pages(self, npages: int, force: bool = True) -> int:
        """Release at least npages free pages to the OS if there are that many; returns how many."""
        check_count("npages", npages)
        released = 0
        while released < npages:
            found = self._scav_find(force)
            if found is None:
                break
            chunk, index = found
            released += self._scavenge_one(chunk, index, npages - released)
        return released

    # Bulk summaries.

    def summarize_block(self, bid: int) -> list[np.ndarray]:
        """Every level of one block computed afresh from its bitmaps: [root entry], level 1, ..., leaves."""
        blk = self.blocks[bid]
        codec, fan = self.codec, self.fan
        leaves = np.where(blk.grown, codec.pack_arrays(*summarize_rows(blk.alloc)), np.uint64(0))
        levels = [leaves]
        for level in range(self.levels - 2, 0, -1):
            children = levels[0].reshape(-1, fan)
            levels.insert(0, merge_rows(children, 1 << self.llp[level + 1], codec, self.fault_merge))
        root = merge_packed(levels[0].tolist(), 1 << self.llp[1], codec, self.fault_merge)
        return [np.array([root], dtype=np.uint64), *levels]

    def resummarize(self) -> None:
        """Recompute every summary of the heap from the bitmaps, one block at a time with numpy."""
        for bid in self.block_ids:
            levels = self.summarize_block(bid)
            blk = self.blocks[bid]
            for level in range(1, self.levels):
                blk.sums[level][:] = levels[level]
            self.root_view[bid] = int(levels[0][0])

    def check_summaries(self) -> list[str]:
        """Where the stored summaries differ from the bitmaps' (empty when the tree invariant holds)."""
        out = []
        for bid in self.block_ids:
            levels = self.summarize_block(bid)
            blk = self.blocks[bid]
            if int(levels[0][0]) != self.root_view[bid]:
                out.append(f"root entry {bid}: stored {self.root_view[bid]:#x}, bitmaps give {int(levels[0][0]):#x}")
            for level in range(1, self.levels):
                bad = np.flatnonzero(blk.sums[level] != levels[level])
                if bad.size:
                    i = int(bad[0])
                    index = (bid << (level * self.lb)) + i
                    out.append(
                        f"level {level} entry {index}: stored {int(blk.sums[level][i]):#x}, "
                        f"bitmaps give {int(levels[level][i]):#x}"
                    )
        return out

    # Inspection.

    def state(self) -> dict[str, object]:
        """The whole observable state as plain ints (see fast.state for the layout)."""
        from fast.state import heap_state

        return heap_state(self)
