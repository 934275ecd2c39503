"""Plain definitions: what the page allocator's mechanisms must compute, written the obvious way.

This module is the "obviously correct" side of the model. Every other module
of model/ is a mechanism, written the way Go computes its answer (word
tricks, the radix tree's descent, summaries merged up a tree, a search hint
that skips pages known to be in use). Here each answer is defined directly
from the pages, with no cleverness: look at every page in address order,
count runs, take the lowest or the highest. Nothing here reads a summary,
the tree or the search hint.

The mechanisms are checked against these definitions twice:
  * tests/model/test_spec.py runs both on random states (mechanism ==
    definition);
  * proofs/ proves it with Z3. Definitions with no data-dependent branch
    (fill_aligned, find_bit_range64, range_mask, the packed layout, the hint
    invariant) are written with model.words, so the proofs evaluate these
    very functions on Z3 terms to state what a mechanism must return. The
    scans that stop at the first hit (first_fit, first_free, summary_of,
    heap_first_fit, scavenge_candidate) run on ints only; proofs/definitions.py
    states each as a formula, and tests/proofs/test_definitions.py checks
    each formula against the function here on random values.

Conventions: a bitmap is a list of 64-bit words, page i being bit i % 64 of
word i // 64; in an allocation bitmap 1 = in use. A heap is a mapping from
grown chunk to its allocation bitmap; a chunk never grown is neither free
nor allocatable, so it breaks every run of free pages.

The model's in-chunk search (model.bitmap.find_in_chunk) is first_fit and
first_free below from the search index's word: the model does not mimic
Go's word-level pallocBits.find, it uses these definitions directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from model import words
from model.geometry import Geometry
from model.words import MASK64, Flag, Word

Bits = list[int]
Triple = tuple[Any, Any, Any]


# Pages of a bitmap.


def in_use(b: Sequence[int], i: int) -> bool:
    """Page i of the bitmap is in use (its bit is set)."""
    return bool((b[i // 64] >> (i % 64)) & 1)


def page_flags(b: Sequence[int]) -> list[bool]:
    """Every page of the bitmap in order, True = in use."""
    return [in_use(b, i) for i in range(64 * len(b))]


def first_free(b: Sequence[int], from_idx: int = 0) -> int | None:
    """Index of the first free page at or after from_idx, or None."""
    for i in range(from_idx, 64 * len(b)):
        if b[i // 64] == MASK64:
            continue  # a full word: no page of it is free
        if not in_use(b, i):
            return i
    return None


def first_fit(b: Sequence[int], npages: int, from_idx: int = 0) -> int | None:
    """Index of the first run of npages free pages starting at or after from_idx, or None."""
    run = 0
    for i in range(from_idx, 64 * len(b)):
        if in_use(b, i):
            run = 0
            continue
        run += 1
        if run == npages:
            return i - npages + 1
    return None


# Summaries.


def summary_of(flags: Sequence[bool]) -> tuple[int, int, int]:
    """(start, max, end) of a region given its pages' in-use flags: free pages at the low end,
    the longest run of free pages, free pages at the high end."""
    width = len(flags)
    start = next((i for i, used in enumerate(flags) if used), width)
    end = next((i for i, used in enumerate(reversed(flags)) if used), width)
    longest = run = 0
    for used in flags:
        run = 0 if used else run + 1
        longest = max(longest, run)
    return start, longest, end


def region_flags(alloc_bits: Mapping[int, Sequence[int]], geometry: Geometry, first: int, count: int) -> list[bool]:
    """In-use flags of pages [first, first + count) of a heap; pages of chunks never grown count as in use."""
    out = []
    for page in range(first, first + count):
        bits = alloc_bits.get(geometry.chunk_of(page))
        out.append(True if bits is None else in_use(bits, geometry.page_in_chunk(page)))
    return out


def level_summaries(alloc_bits: Mapping[int, Sequence[int]], geometry: Geometry) -> list[dict[int, Triple]]:
    """Every level of the radix tree by definition: each entry with a grown chunk below it is the
    summary of the pages it covers (chunks never grown in use); entries left out are (0, 0, 0),
    and so are entries whose summary is (0, 0, 0)."""
    levels: list[dict[int, Triple]] = []
    for level in range(geometry.levels):
        shift = geometry.level_log_pages(level) - geometry.log_chunk_pages
        entries: dict[int, Triple] = {}
        for index in sorted({chunk >> shift for chunk in alloc_bits}):
            width = 1 << geometry.level_log_pages(level)
            flags = _entry_flags(alloc_bits, geometry, index, shift, width)
            s = summary_of(flags)
            if s[1] != 0:
                entries[index] = s
        levels.append(entries)
    return levels


def _entry_flags(
    alloc_bits: Mapping[int, Sequence[int]], geometry: Geometry, index: int, shift: int, width: int
) -> list[bool]:
    """The flags of an entry's pages, a whole chunk at a time (an entry may cover many chunks)."""
    flags: list[bool] = []
    first_chunk = index << shift
    for chunk in range(first_chunk, first_chunk + (1 << shift)):
        bits = alloc_bits.get(chunk)
        flags.extend([True] * geometry.chunk_pages if bits is None else page_flags(bits))
    assert len(flags) == width
    return flags


# The heap: first fit, first free page, the search hint.


def heap_first_fit(alloc_bits: Mapping[int, Sequence[int]], geometry: Geometry, npages: int) -> int | None:
    """The lowest page starting npages free pages in a row; chunks never grown break runs.

    Pages are visited in address order. Two shortcuts that change nothing: a
    full word ends the run, and a free word that cannot complete the run
    adds 64 pages to it."""
    run = 0
    previous: int | None = None
    for chunk in sorted(alloc_bits):
        if previous is not None and chunk != previous + 1:
            run = 0
        previous = chunk
        bits = alloc_bits[chunk]
        for k, word in enumerate(bits):
            if word == MASK64:
                run = 0
                continue
            if word == 0 and run + 64 < npages:
                run += 64
                continue
            for b in range(64):
                if (word >> b) & 1:
                    run = 0
                    continue
                run += 1
                if run == npages:
                    return geometry.chunk_base(chunk) + 64 * k + b - npages + 1
    return None


def heap_first_free(alloc_bits: Mapping[int, Sequence[int]], geometry: Geometry) -> int | None:
    """The lowest free page of the heap, or None when every grown page is in use."""
    for chunk in sorted(alloc_bits):
        free = first_free(alloc_bits[chunk])
        if free is not None:
            return geometry.chunk_base(chunk) + free
    return None


def hint_below_in_use(alloc_bits: Mapping[int, Sequence[int]], geometry: Geometry, hint: int) -> bool:
    """The search hint's invariant: every grown page below the hint is in use."""
    free = heap_first_free(alloc_bits, geometry)
    return free is None or free >= hint


def pages_below_in_use(alloc_words: Sequence[Word], base: int, hint: Word) -> Flag:
    """Every page of the bitmap `alloc_words` (its first page being page `base` of the heap) that
    lies below `hint` is in use: the hint invariant for one chunk, one page at a time. Written
    with model.words, so it is also a Z3 formula when the words or the hint are terms."""
    flags = []
    for i in range(64 * len(alloc_words)):
        below = words.ule(base + i + 1, hint)
        flags.append(words.implies(below, words.bit(alloc_words[i // 64], i % 64) == 1))
    return words.all_of(*flags)


def cache_block(alloc_bits: Mapping[int, Sequence[int]], geometry: Geometry) -> int | None:
    """First page of the 64-page aligned block holding the heap's lowest free page (what a cache
    fill takes), or None when the heap has no free page."""
    free = heap_first_free(alloc_bits, geometry)
    return None if free is None else free - free % 64


# Words: masks, fillAligned, findBitRange64, the packed layout.


def window(first: int, count: int) -> int:
    """The word with bits [first, first + count) set (bits past 63 dropped)."""
    return (((1 << count) - 1) << first) & MASK64


def range_mask(word_index: int, i: Any, n: Any) -> Word:
    """The bits of word `word_index` whose pages lie in [i, i + n), page by page."""
    mask: Any = 0
    for b in range(64):
        page = 64 * word_index + b
        inside = words.both(words.ule(i, page), words.ule(page + 1, i + n))
        mask = mask | words.ite(inside, 1 << b, 0)
    return mask


def fill_aligned(x: Word, m: int) -> Word:
    """Every m-aligned group of m bits of x with any bit set becomes all ones; the others stay zero."""
    if m == 1:
        return x  # groups of one bit: nothing to widen
    out: Any = 0
    for first in range(0, 64, m):
        group = window(first, m)
        out = out | words.ite((x & group) != 0, group, 0)
    return out


def find_bit_range64(c: Word, n: int) -> Word:
    """The lowest i with bits [i, i + n) of c all set, or 64 when there is none (1 <= n <= 64)."""
    lowest: Any = 64
    for i in reversed(range(64 - n + 1)):
        lowest = words.ite((c & window(i, n)) == window(i, n), i, lowest)
    return lowest


PACKED_FIELDS = ("start", "max", "end")
"""Go's packed summary layout, lowest field first: start in bits [0, b), max in [b, 2b), end in
[2b, 3b), b = log_max_packed (21 on amd64: 0-20, 21-41, 42-62); bit 63 alone stands for the fully
free root entry (b, b, b) = (2**21, 2**21, 2**21), whose max does not fit in a field."""

PACKED_FULL_BIT = 63


def packed_bit_owner(bit: int, geometry: Geometry) -> tuple[str, int] | None:
    """Which field, and which of its bits, bit `bit` of a packed summary holds (None: bit 63 or unused)."""
    b = geometry.log_max_packed
    field = bit // b
    if field >= len(PACKED_FIELDS) or bit >= PACKED_FULL_BIT:
        return None
    return PACKED_FIELDS[field], bit % b


# Scavenging.


def scavenge_usable(alloc: Sequence[int], scavenged: Sequence[int], min_pages: int) -> list[bool]:
    """Per page: its min-aligned group of min pages is all free and unscavenged."""
    pages = 64 * len(alloc)
    busy = [in_use(alloc, i) or in_use(scavenged, i) for i in range(pages)]
    return [not any(busy[g : g + min_pages]) for g in range(0, pages, min_pages) for _ in range(min_pages)]


def scavenge_candidate(
    alloc: Sequence[int],
    scavenged: Sequence[int],
    search_idx: int,
    min_pages: int,
    max_pages: int,
    huge_page_pages: int,
) -> tuple[int, int]:
    """(start, size) of the run to scavenge in a chunk by SPEC §7's rule; size 0 when there is none.

    The highest run of usable pages (scavenge_usable) that ends at or below the
    top of the 64-page word holding search_idx; from its top, min(run,
    alignUp(max, m)) pages (max 0 meaning m). With huge pages of H pages,
    H > max(1, m): if the huge-page boundary at or above the start lies at or
    below the run's end, and the boundary at or below the start is still
    inside the run, the start moves down to that boundary."""
    usable = scavenge_usable(alloc, scavenged, min_pages)
    top = 64 * (search_idx // 64 + 1)
    end = top
    while end > 0 and not usable[end - 1]:
        end -= 1
    if end == 0:
        return 0, 0
    bottom = end
    while bottom > 0 and usable[bottom - 1]:
        bottom -= 1
    run = end - bottom
    wanted = min_pages if max_pages == 0 else -(-max_pages // min_pages) * min_pages
    size = min(run, wanted)
    start = end - size
    huge = huge_page_pages
    if huge > 1 and huge > min_pages:
        boundary_above = -(-start // huge) * huge
        boundary_below = start // huge * huge
        if boundary_above <= end and boundary_below >= bottom:
            size += start - boundary_below
            start = boundary_below
    return start, size
