"""The radix tree of packed summaries: kept up to date after every change, and searched the way Go does.

Layout
------
Level 0, the root, is one dense uint64 array of 2**root_bits packed summaries
(fast.summary's encoding, Go's pallocSum), 128 KiB on amd64. Below it,
everything under one root entry lives in a SummaryBlock, made with the
storage block of the same id (fast.storage):

  entries[l]   1 <= l < levels: packed summaries of the block's
               2**(l * level_bits) entries at level l, in index order;
               entries[levels-1] are the leaves, one per chunk (row).
               The entry at level l with index i (counted across the
               whole address space) is entries[l][i - (block id << (l *
               level_bits))]; entries[0] is empty (the root entry is
               SummaryTree.root[block id]).
  views[l]     memoryviews of the same arrays, for fast scalar access.

A zero word is the zero summary (nothing free, or nothing grown), so a fresh
block and the root entries with no block are a valid tree of empty space.

Invariant: after every operation each stored summary, at every level,
equals the summary of the bitmaps below it, exactly as model.tree's
summarize_levels computes it (check() lists where it does not).

Updates
-------
Every operation changes bitmaps and then re-summarizes only what it
touched, as Go's pageAlloc.update does. Inside one chunk (update_chunk) the
chunk is summarized from its bitmap read as one int (fast.summary.
summarize_int), or, after one run of pages allocated or freed (update_run),
its leaf is derived from the old one and the free run around the range;
then one entry per level is updated (set_leaf), stopping as soon as an
entry comes out unchanged (its ancestors then are too), and re-merged only
when the child's change can move more than the entry's max. A range of a
few chunks goes chunk by chunk; a range of many chunks (update_range: grow,
large alloc and free) sets the leaves of the chunks it covers whole
directly (they are all in use, or all free), summarizes its two edge
chunks, and re-merges the entries above per level, a few with ints and
longer stretches as whole rows with numpy (fast.summary.merge_rows).
summarize_blocks recomputes every level of every
block from the bitmaps alone, all blocks at once, for resummarize() and
check().

Find
----
find(npages, search_page) is Go's pageAlloc.find (model.tree.tree_find): it
descends from the root, scanning one row of entries per level with the same
loop: at the root the row is the whole root level, below it
the 2**level_bits children of the entry chosen above, starting at the entry
that holds the search hint when the hint is in the row. A root entry with no
block is a zero summary, which only ends the free run being built, so the
root row visits only the root entries that have a block (Storage.block_ids);
a gap between two of them resets the run as the zero entries between would.
At the leaves it searches the chosen chunk's bitmap (fast.bitmap.
find_in_chunk), and it returns Go's first-free bound with the fit.

Faults (fast.faults) reach this module as two switches:
merge_width_off_by_one (every merge of children) and missed_level_update
(update_range of a free over several chunks skips the level above the leaves).
"""

from __future__ import annotations

import bisect

import numpy as np

from fast.bitmap import find_in_chunk
from fast.storage import Storage
from fast.summary import Codec, longest_one_run, merge_packed, merge_rows, summarize_int, summarize_row_groups

SCALAR_ROWS = 4  # stretches of at most this many entries are merged with ints, longer ones with numpy

# What scanning the root row found (SummaryTree._scan_root).
FIT = 0  # the fit starts in this row: the result is its first page
DESCEND = 1  # an entry of this row holds the fit: the result is the entry's index
NO_FIT = 2  # nothing in this row



class BadSummaryData(RuntimeError):
    """The tree promised free pages the level below lacks (Go throws 'bad summary data')."""


class SummaryBlock:
    """The summaries of every entry under one root entry, by level (see the module comment)."""

    __slots__ = ("entries", "leaves", "views")

    def __init__(self, entries: list[np.ndarray]) -> None:
        self.entries = entries
        self.views = [memoryview(a) for a in entries]
        self.leaves = self.views[-1]

    @staticmethod
    def empty(levels: int, level_bits: int) -> SummaryBlock:
        return SummaryBlock(
            [np.zeros(0, dtype=np.uint64)]
            + [np.zeros(1 << (level * level_bits), dtype=np.uint64) for level in range(1, levels)]
        )

    def copy(self) -> SummaryBlock:
        return SummaryBlock([a.copy() for a in self.entries])


class SummaryTree:
    """Every level's packed summaries, over the bitmaps of a Storage."""

    __slots__ = (
        "blocks",
        "codec",
        "entry_pages",
        "free_leaf",
        "layout",
        "leaf_constants",
        "merge_width_off_by_one",
        "missed_level_update",
        "root",
        "root_view",
        "start_and_end",
        "storage",
        "update_constants",
    )

    def __init__(
        self, storage: Storage, merge_width_off_by_one: bool = False, missed_level_update: bool = False
    ) -> None:
        layout = storage.layout
        self.layout = layout
        self.storage = storage
        self.codec = Codec(layout.geometry.log_max_packed)
        # root[i]: root entry i's packed summary; zero for every root entry without a block.
        self.root = np.zeros(layout.root_entries, dtype=np.uint64)
        self.root_view = memoryview(self.root)
        # Exactly the ids of storage.blocks.
        self.blocks: dict[int, SummaryBlock] = {}
        self.entry_pages = tuple(1 << log_pages for log_pages in layout.level_log_pages)  # pages one entry covers
        self.free_leaf = self.codec.free(layout.chunk_pages)  # the leaf of a chunk with every page free
        # The start and end fields of a packed summary (below the root, where no entry is the lone full bit).
        self.start_and_end = self.codec.field | self.codec.field << (2 * self.codec.bits)
        # What update_run and set_leaf read on every call, in one attribute each.
        self.leaf_constants = (
            layout.chunk_pages, layout.log_chunks_per_block, layout.row_mask, self.codec.bits, self.codec.field
        )
        self.update_constants = (
            layout.log_chunks_per_block,
            layout.row_mask,
            layout.level_bits,
            layout.fan_out,
            self.codec.bits,
            self.codec.field,
            self.start_and_end,
            not missed_level_update,  # set_leaf's short cut trusts every stored parent
            tuple(range(layout.levels - 2, -1, -1)),  # the levels above the leaves, bottom up
        )
        self.merge_width_off_by_one = merge_width_off_by_one
        self.missed_level_update = missed_level_update

    def copy(self, storage: Storage) -> SummaryTree:
        """An independent copy, over `storage` (a copy of this tree's storage)."""
        twin = SummaryTree(storage, self.merge_width_off_by_one, self.missed_level_update)
        twin.root[:] = self.root
        twin.blocks = {bid: block.copy() for bid, block in self.blocks.items()}
        return twin

    def add_block(self, bid: int) -> None:
        """The summaries for a block Storage has just made (all zero: its chunks are not grown yet)."""
        self.blocks[bid] = SummaryBlock.empty(self.layout.levels, self.layout.level_bits)

    def leaf(self, chunk: int) -> int:
        """The chunk's packed leaf summary; zero for a chunk under no block."""
        block = self.blocks.get(chunk >> self.layout.log_chunks_per_block)
        return 0 if block is None else block.leaves[chunk & self.layout.row_mask]

    def max_free(self, chunk: int) -> int:
        """The longest run of free pages in the chunk (its leaf's max)."""
        block = self.blocks.get(chunk >> self.layout.log_chunks_per_block)
        return 0 if block is None else self.codec.max_of(block.leaves[chunk & self.layout.row_mask])

    # Updates.

    def update_chunk(self, chunk: int, used: int) -> None:
        """Re-summarize one chunk whose in-use bitmap is now `used`, and its ancestors while they change.

        A parent whose changed child kept its start and end changes at most
        in its max, and knows how without merging its row: the child's new
        max if that is larger than the parent's, else nothing, unless the
        child's old max was the parent's (then the row is merged). Start
        and end come from the children's starts and ends (and whether they
        are fully free, which is start == width), and every run across
        children from an end and the starts after it, so none of them moved.
        The same holds at the root, unless the root entry is the lone full
        bit. The short cut trusts the stored parent to be the merge of its
        stored children, which the fault missed_level_update breaks: with
        it, every row is merged.
        """
        layout, codec = self.layout, self.codec
        width = layout.chunk_pages
        if used == 0:
            leaf = self.free_leaf
        elif used == (1 << width) - 1:
            leaf = 0
        else:
            start = (used & -used).bit_length() - 1
            leaf = codec.pack(start, longest_one_run(used ^ ((1 << width) - 1)), width - used.bit_length())
        self.set_leaf(chunk, leaf)

    def update_run(self, chunk: int, used: int, index: int, npages: int, allocated: bool) -> None:
        """update_chunk after pages [index, index+npages) of the chunk all changed one way; `used` is the new bitmap.

        The new leaf comes from the old one and the free run around the
        range (the free pages just below and just above it, two bit
        operations each) instead of the whole chunk's runs: freed pages join
        those two runs into one, which becomes the start, end or max where
        it reaches them; allocated pages split the run that held them into
        those two, and only when that run was the longest does the chunk's
        max need the whole bitmap (another run may be as long).
        """
        width, log_per_block, row_mask, bits, field = self.leaf_constants
        old = self.blocks[chunk >> log_per_block].leaves[chunk & row_mask]
        start, most, end = old & field, (old >> bits) & field, old >> (bits + bits)  # a leaf is never the full bit
        top = index + npages
        left = index - (used & ((1 << index) - 1)).bit_length()  # free pages just below the range
        above = used >> top
        right = (above & -above).bit_length() - 1 if above else width - top  # free pages just above it
        run = left + npages + right  # the free run around the range: after a free, before an alloc
        if allocated:
            if run == most:
                self.update_chunk(chunk, used)
                return
            if left == index:
                start = left
            if top + right == width:
                end = right
        else:
            if left == index:
                start = run
            if top + right == width:
                end = run
            if run > most:
                most = run
        self.set_leaf(chunk, start | most << bits | end << (bits + bits))  # a chunk's max is below the full bit's

    def set_leaf(self, chunk: int, leaf: int) -> None:
        """Store a chunk's packed leaf summary and update its ancestors while they change (see update_chunk)."""
        log_per_block, row_mask, level_bits, fan_out, bits, field, start_and_end, short_cut, levels_below_root = (
            self.update_constants
        )
        bid = chunk >> log_per_block
        views = self.blocks[bid].views
        index = chunk & row_mask
        leaves = views[-1]
        old = leaves[index]
        if old == leaf:
            return
        leaves[index] = leaf
        codec, entry_pages, fault = self.codec, self.entry_pages, self.merge_width_off_by_one
        new = leaf
        for level in levels_below_root:
            if level:
                index >>= level_bits
                view = views[level]
            else:
                index, view = bid, self.root_view
            parent = view[index]
            merged = -1
            if short_cut and not (old ^ new) & start_and_end and not parent >> 63:
                new_max, parent_max = (new >> bits) & field, (parent >> bits) & field
                if new_max >= parent_max:
                    merged = parent ^ (parent_max ^ new_max) << bits
                elif (old >> bits) & field < parent_max:
                    return  # neither the old max nor the new one is the parent's: it keeps every field
            if merged < 0:
                first = (index << level_bits) - (bid << level_bits if level == 0 else 0)
                children = views[level + 1][first : first + fan_out].tolist()
                merged = merge_packed(children, entry_pages[level + 1], codec, fault)
            if merged == parent:
                return
            view[index] = merged
            old, new = parent, merged

    def update_range(self, first_page: int, npages: int, whole_chunk_leaf: int, freeing: bool = False) -> None:
        """Re-summarize the chunks of [first_page, first_page+npages) and their ancestors.

        The chunks the range covers whole get the leaf `whole_chunk_leaf`
        (they are all in use, or all free); the edge chunks are summarized
        from their bitmaps. A range of a few chunks goes chunk by chunk
        through update_chunk instead (every entry stays the merge of its
        children after each chunk, so the end is the same), except a free
        under the fault missed_level_update, which is this loop's to break.
        """
        layout, codec, storage = self.layout, self.codec, self.storage
        level_bits, fan_out, entry_pages = layout.level_bits, layout.fan_out, self.entry_pages
        fault = self.merge_width_off_by_one
        chunk_pages, log_chunk_pages, page_mask = layout.chunk_pages, layout.log_chunk_pages, layout.page_mask
        last_page = first_page + npages - 1
        first_chunk, last_chunk = first_page >> log_chunk_pages, last_page >> log_chunk_pages
        whole_lo = first_chunk if first_page & page_mask == 0 else first_chunk + 1
        whole_hi = last_chunk if (last_page + 1) & page_mask == 0 else last_chunk - 1
        if last_chunk - first_chunk < SCALAR_ROWS and not (freeing and self.missed_level_update):
            log_per_block, row_mask = layout.log_chunks_per_block, layout.row_mask
            for chunk in range(first_chunk, last_chunk + 1):
                if whole_lo <= chunk <= whole_hi:
                    self.set_leaf(chunk, whole_chunk_leaf)
                else:
                    self.update_chunk(chunk, storage.blocks[chunk >> log_per_block].read_alloc(chunk & row_mask))
            return
        skip_level = layout.levels - 2 if freeing and self.missed_level_update and last_chunk > first_chunk else -1
        for bid, r0, r1 in storage.block_rows(first_chunk, last_chunk):
            bitmaps = storage.blocks[bid]
            block = self.blocks[bid]
            base = bid << layout.log_chunks_per_block
            w0, w1 = max(r0, whole_lo - base), min(r1, whole_hi - base)  # rows the range covers whole
            for row in sorted({r0, r1}):
                if not w0 <= row <= w1:
                    block.leaves[row] = codec.pack(*summarize_int(bitmaps.read_alloc(row), chunk_pages))
            if w0 <= w1:
                block.entries[-1][w0 : w1 + 1] = whole_chunk_leaf
            lo, hi = r0, r1
            for level in range(layout.levels - 2, 0, -1):
                lo >>= level_bits
                hi >>= level_bits
                if level == skip_level:
                    continue
                child_pages = entry_pages[level + 1]
                if hi - lo + 1 <= SCALAR_ROWS:
                    view, child_view = block.views[level], block.views[level + 1]
                    for index in range(lo, hi + 1):
                        children = child_view[index << level_bits : (index + 1) << level_bits].tolist()
                        view[index] = merge_packed(children, child_pages, codec, fault)
                else:
                    rows = block.entries[level + 1][lo << level_bits : (hi + 1) << level_bits].reshape(-1, fan_out)
                    block.entries[level][lo : hi + 1] = merge_rows(rows, child_pages, codec, fault)
            self.root_view[bid] = merge_packed(block.views[1].tolist(), entry_pages[1], codec, fault)

    # Find.

    def find(self, npages: int, search_page: int) -> tuple[int | None, int]:
        """Go's pageAlloc.find before findMappedAddr: (first page of the first fit or None, first-free bound)."""
        page, bound, _ = self.find_with_bitmap(npages, search_page)
        return page, bound

    def find_with_bitmap(self, npages: int, search_page: int) -> tuple[int | None, int, int | None]:
        """find, and the in-use bitmap of the chunk where the fit starts when the descent read it (else None).

        The root row is scanned by _scan_root (when the root entry holding
        the search hint holds a fit but does not start one, it is the one
        chosen, and that is all the scan would do). Each row below is
        scanned in one loop written out here, this being the hottest loop of
        an allocation that misses the hint's chunk. The first-free bound
        narrows to the first non-zero entry of a row exactly when the row
        lies inside the bound (tree ranges nest or are disjoint, so every
        entry of a row is inside it or none is), and to no later entry of
        the same row.
        """
        layout, codec = self.layout, self.codec
        level_bits, fan_out, level_log_pages = layout.level_bits, layout.fan_out, layout.level_log_pages
        bits, field = codec.bits, codec.field
        bits2 = bits + bits
        root_hint = search_page >> level_log_pages[0]
        block = self.blocks.get(root_hint)
        packed = self.root_view[root_hint] if block is not None else 0
        first_scan = 1  # the first level below the root whose row is scanned
        if packed and not packed >> 63 and packed & field < npages <= (packed >> bits) & field:
            bid = index = root_hint
            bound_lo = bid << level_log_pages[0]
            bound_hi = bound_lo + (1 << level_log_pages[0]) - 1
            views = block.views
            # Below it too, as long as the entry holding the hint holds a fit without starting one, it is the
            # first entry its row's scan visits and the one it descends into, and the bound narrows to it.
            while first_scan < layout.levels - 1:
                log_width = level_log_pages[first_scan]
                search_index = search_page >> log_width
                if search_index >> level_bits != index:
                    break
                packed = views[first_scan][search_index - (bid << (first_scan * level_bits))]
                if not (packed and packed & field < npages <= (packed >> bits) & field):
                    break
                index = search_index
                bound_lo = index << log_width
                bound_hi = bound_lo + (1 << log_width) - 1
                first_scan += 1
        else:
            outcome, bid, bound_lo, bound_hi = self._scan_root(npages, search_page)
            if outcome == FIT:
                return bid, bound_lo, None
            if outcome == NO_FIT:
                return None, layout.no_free_page, None
            views = self.blocks[bid].views
            index = bid  # the entry chosen at the level above
        for level in range(first_scan, layout.levels):
            # The row: the children of the entry chosen above, from the one holding the search hint if it is
            # among them. Entry i's packed summary is view[i - offset].
            log_width = level_log_pages[level]
            width = 1 << log_width
            row_first = index << level_bits
            row_end = row_first + fan_out
            search_index = search_page >> log_width
            view = views[level]
            offset = bid << (level * level_bits)
            inside = bound_lo <= row_first << log_width and (row_end << log_width) - 1 <= bound_hi
            run = run_base = 0  # the free run reaching the current entry from the left, and its first page
            descend = -1
            for entry in range(search_index if row_first <= search_index < row_end else row_first, row_end):
                packed = view[entry - offset]
                if not packed:
                    run = 0
                    continue
                if inside:
                    bound_lo = entry << log_width
                    bound_hi = bound_lo + width - 1
                    inside = False
                start = packed & field
                if run + start >= npages:
                    return (entry << log_width if run == 0 else run_base), bound_lo, None
                if (packed >> bits) & field >= npages:
                    descend = entry
                    break
                if run == 0 or start < width:
                    run = packed >> bits2
                    run_base = ((entry + 1) << log_width) - run
                else:
                    run += width  # a fully free entry carries the run on
            if descend < 0:
                if run >= npages:  # as Go and the model, though a run that long would have been taken above
                    return run_base, bound_lo, None
                raise BadSummaryData(f"level {level - 1} promised {npages} free pages that level {level} lacks")
            index = descend

        chunk = index  # a leaf was descended into: the fit starts inside its chunk
        used = self.storage.blocks[chunk >> layout.log_chunks_per_block].read_alloc(chunk & layout.row_mask)
        found, first_free = find_in_chunk(used, npages, 0, layout.chunk_pages)
        if found is None or first_free is None:
            raise BadSummaryData(f"chunk {chunk}'s summary promised {npages} free pages that its bitmap lacks")
        chunk_base = chunk << layout.log_chunk_pages
        free_page = chunk_base + first_free
        if bound_lo <= free_page and chunk_base + layout.chunk_pages - 1 <= bound_hi:
            bound_lo = free_page
        return chunk_base + found, bound_lo, used

    def _scan_root(self, npages: int, search_page: int) -> tuple[int, int, int, int]:
        """Go's find at the root: walk the root row, tracking the free run that reaches each entry from the left.

        The row is the whole root level from the entry holding the search
        hint; root entries without a block are zero, so only the others are
        visited, and a gap between two of them resets the run as the zero
        entries between would. Returns (outcome, where, bound_lo, bound_hi):
        FIT with the fit's first page, DESCEND with the root entry to
        descend into, or NO_FIT; and the first-free bound, narrowed to the
        first non-zero entry.
        """
        layout, codec = self.layout, self.codec
        log_width = layout.level_log_pages[0]
        width = 1 << log_width
        bound_lo, bound_hi = 0, layout.total_pages - 1
        ids = self.storage.block_ids
        search_index = search_page >> log_width
        first = bisect.bisect_left(ids, search_index) if search_index < layout.root_entries else 0
        root = self.root_view
        run = run_base = 0
        previous = -2
        for index in ids[first:]:
            if index != previous + 1:
                run = 0
            previous = index
            packed = root[index]
            if not packed:
                run = 0
                continue
            entry_base = index << log_width
            if bound_lo <= entry_base and entry_base + width - 1 <= bound_hi:
                bound_lo, bound_hi = entry_base, entry_base + width - 1
            start, most, end = codec.unpack(packed)
            if run + start >= npages:
                return FIT, (entry_base if run == 0 else run_base), bound_lo, bound_hi
            if most >= npages:
                return DESCEND, index, bound_lo, bound_hi
            if run == 0 or start < width:
                run = end
                run_base = entry_base + width - end
            else:
                run += width
        if run >= npages:
            return FIT, run_base, bound_lo, bound_hi
        return NO_FIT, 0, bound_lo, bound_hi

    # Whole blocks.

    def summarize_blocks(self) -> list[np.ndarray]:
        """Every level of every block computed afresh from the bitmaps, blocks in block_ids order.

        Level l of the result holds the blocks' entries[l] one after the
        other (for level 0, the root entry of each block): a block's entries
        at one level are whole rows of children of its entries at the level
        above, so each level is one merge_rows of the level below, for all
        blocks at once. The leaves of chunks never grown are zero.
        """
        ids = self.storage.block_ids
        codec, fan_out, fault = self.codec, self.layout.fan_out, self.merge_width_off_by_one
        bitmaps = [self.storage.blocks[bid] for bid in ids]
        grown = np.concatenate([b.grown for b in bitmaps])
        leaves = codec.pack_arrays(*summarize_row_groups([b.alloc for b in bitmaps]))
        leaves[~grown] = 0
        levels = [leaves]
        for level in range(self.layout.levels - 2, -1, -1):
            children = levels[0].reshape(-1, fan_out)
            levels.insert(0, merge_rows(children, self.entry_pages[level + 1], codec, fault))
        return levels

    def resummarize(self) -> None:
        """Recompute every summary of the heap from the bitmaps, all blocks at once with numpy."""
        if not self.storage.block_ids:
            return
        levels = self.summarize_blocks()
        for k, bid in enumerate(self.storage.block_ids):
            block = self.blocks[bid]
            for level in range(1, self.layout.levels):
                size = block.entries[level].size
                block.entries[level][:] = levels[level][k * size : (k + 1) * size]
            self.root_view[bid] = int(levels[0][k])

    def check(self) -> list[str]:
        """Where the stored summaries differ from the bitmaps' (empty when the tree invariant holds)."""
        if not self.storage.block_ids:
            return []
        out = []
        levels = self.summarize_blocks()
        for k, bid in enumerate(self.storage.block_ids):
            block = self.blocks[bid]
            if int(levels[0][k]) != self.root_view[bid]:
                out.append(f"root entry {bid}: stored {self.root_view[bid]:#x}, bitmaps give {int(levels[0][k]):#x}")
            for level in range(1, self.layout.levels):
                size = block.entries[level].size
                want = levels[level][k * size : (k + 1) * size]
                bad = np.flatnonzero(block.entries[level] != want)
                if bad.size:
                    i = int(bad[0])
                    index = (bid << (level * self.layout.level_bits)) + i
                    out.append(
                        f"level {level} entry {index}: stored {int(block.entries[level][i]):#x}, "
                        f"bitmaps give {int(want[i]):#x}"
                    )
        return out
