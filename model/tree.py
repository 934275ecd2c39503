"""The radix tree of summaries, and finding free pages with it.

Level `levels-1` (the leaves) has one summary per chunk; every entry above
is the merge of its 2**level_bits children (merge_row), so each level is a
pure function of the chunk bitmaps: `summarize_levels`. A chunk that was
never grown counts as fully in use, so its summary, and that of any entry
with no grown chunk below it, is the zero summary. A tree is stored as one
dict per level from entry index to summary, holding only non-zero entries.

Invariant: the stored tree equals summarize_levels of the bitmaps, at every
level (checked by model.invariants; the model keeps it with `update_tree`,
which re-summarizes the chunks an operation touched and re-merges their
ancestors, as Go's pageAlloc.update does).

`tree_find` descends the tree the way Go's pageAlloc.find does. At each
level it scans one block of entries (the root level's block is the whole
level; below, the children of the entry chosen above), starting at the
entry holding the search hint if that entry is in the block. Walking the
entries it keeps `size`, the free run that reaches the current entry from
the left: if size plus the entry's start covers the request, the run is the
answer; else if the entry's max covers it, descend into the entry; else the
run restarts at the entry's end (or grows by a whole entry when the entry is
fully free). At the leaf it searches the chunk's bitmap. It also reports
Go's "first free" bound: the base of the first non-zero entry it met at the
deepest level where it met one inside the bound so far, or at the leaf the
first free page of the chunk; pageAlloc uses it for the next search hint.

The descent must meet the plain definition model.spec.heap_first_fit: the
lowest page that starts a run of n free pages, runs broken by chunks never
grown. Invariant: tree_find(n) == heap_first_fit(n) for every n (when every
page below the search hint is in use), and every grown page below the
first-free bound is in use.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from model import bitmap
from model.errors import ModelError
from model.geometry import Geometry
from model.spec import heap_first_fit  # noqa: F401  (re-export: the definition lives in model.spec; callers switch)
from model.summary import ZERO, Summary, merge_summaries, summarize_chunk

Tree = list[dict[int, Summary]]


class BadSummaryData(ModelError):
    """The tree promised free pages that the level below does not have (Go throws 'bad summary data')."""


def merge_children(child_level: Mapping[int, Summary], geometry: Geometry, level: int, index: int) -> Summary:
    """Summary of entry `index` at `level`, from its children at level + 1."""
    bits = geometry.block_bits(level + 1)
    first = index << bits
    children = [child_level.get(first + j, ZERO) for j in range(1 << bits)]
    return merge_summaries(children, 1 << geometry.level_log_pages(level + 1))


def summarize_levels(alloc_bits: Mapping[int, bitmap.Bits], geometry: Geometry) -> Tree:
    """Every level of the tree, computed from the chunks' allocation bitmaps alone."""
    tree: Tree = [{} for _ in range(geometry.levels)]
    leaves = tree[-1]
    for chunk, bits in alloc_bits.items():
        s = summarize_chunk(bits)
        if not s.is_zero():
            leaves[chunk] = s
    for level in range(geometry.levels - 2, -1, -1):
        bits = geometry.block_bits(level + 1)
        for index in sorted({child >> bits for child in tree[level + 1]}):
            tree[level][index] = merge_children(tree[level + 1], geometry, level, index)
    return tree


def update_tree(
    tree: Tree, alloc_bits: Mapping[int, bitmap.Bits], geometry: Geometry, first_page: int, npages: int
) -> None:
    """Re-summarize the chunks holding pages [first_page, first_page+npages) and their ancestors.

    As in Go's pageAlloc.update, a level whose entries all kept their value
    ends the walk: the levels above are merges of unchanged children.
    """
    last_page = first_page + npages - 1
    changed = False
    for chunk in range(geometry.chunk_of(first_page), geometry.chunk_of(last_page) + 1):
        changed |= _store(tree[-1], chunk, summarize_chunk(alloc_bits[chunk]))
    for level in range(geometry.levels - 2, -1, -1):
        if not changed:
            return
        changed = False
        for index in range(geometry.entry_of(level, first_page), geometry.entry_of(level, last_page) + 1):
            changed |= _store(tree[level], index, merge_children(tree[level + 1], geometry, level, index))


def _store(level: dict[int, Summary], index: int, s: Summary) -> bool:
    """Store s at index (dropping zero summaries); whether the entry changed."""
    if level.get(index, ZERO) == s:
        return False
    if s.is_zero():
        del level[index]
    else:
        level[index] = s
    return True


def nonzero_entries(level: dict[int, Summary], lo: int, hi: int) -> list[tuple[int, Summary]]:
    """The non-zero entries with index in [lo, hi), in index order."""
    if hi - lo <= 64:
        return [(k, level[k]) for k in range(lo, hi) if k in level]
    return sorted((k, s) for k, s in level.items() if lo <= k < hi)


def tree_find(
    tree: Tree,
    alloc_bits: Callable[[int], bitmap.Bits],
    geometry: Geometry,
    npages: int,
    search_page: int,
) -> tuple[int | None, int]:
    """Go's pageAlloc.find before findMappedAddr: (first page of the fit or None, first-free bound)."""
    g = geometry
    bound_lo, bound_hi = 0, g.total_pages - 1

    def found_free(base: int, size: int) -> None:
        nonlocal bound_lo, bound_hi
        if bound_lo <= base and base + size - 1 <= bound_hi:
            bound_lo, bound_hi = base, base + size - 1

    i = 0
    for level in range(g.levels):
        block = 1 << g.block_bits(level)
        log_width = g.level_log_pages(level)
        width = 1 << log_width
        i <<= g.block_bits(level)
        j0 = 0
        search_index = g.entry_of(level, search_page)
        if search_index - search_index % block == i:
            j0 = search_index % block
        base = size = 0
        descend = False
        previous = None
        for index, s in nonzero_entries(tree[level], i + j0, i + block):
            j = index - i
            if previous is not None and index != previous + 1:
                size = 0  # a zero entry lay between: Go resets the run on it
            previous = index
            found_free(g.entry_base(level, i + j), width)
            if size + s.start >= npages:
                if size == 0:
                    base = j * width
                size += s.start
                break
            if s.max >= npages:
                i += j
                descend = True
                break
            if size == 0 or s.start < width:
                size = s.end
                base = (j + 1) * width - size
                continue
            size += width
        if descend:
            continue
        if size >= npages:
            return g.entry_base(level, i) + base, bound_lo
        if level == 0:
            return None, g.no_free_page
        raise BadSummaryData(f"level {level - 1} promised {npages} free pages that level {level} lacks")

    chunk = i
    index, first_free = bitmap.find_in_chunk(alloc_bits(chunk), npages, 0)
    if index is None or first_free is None:
        raise BadSummaryData(f"chunk {chunk}'s summary promised {npages} free pages that its bitmap lacks")
    free_page = g.chunk_base(chunk) + first_free
    found_free(free_page, g.chunk_base(chunk + 1) - free_page)
    return g.chunk_base(chunk) + index, bound_lo
