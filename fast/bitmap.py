"""Searches over one chunk's bitmaps, each bitmap read as a single Python int.

fast/ keeps bitmaps in uint64 arrays (fast.storage) but works on one chunk at a
time as an int of chunk_pages bits, page i of the chunk being bit i: a
512-bit int is 8 words side by side, and big-int shifts, masks and
bit_length do in a few machine-word loops what Go does word by word.

Rules (the same results as Go's pallocBits and the model's bitmap.py):
  * find_in_chunk(used, n, search_idx): the lowest run of n free pages that
    starts at or after the 64-page word holding search_idx, and the first
    free page from that word on (Go: pallocBits.find). Runs never cross the
    top of the chunk: shifting right brings in zeros, which are "in use" for
    the free bitmap.
  * find_run(free, n): the lowest i such that bits [i, i+n) of free are all
    set; each round of `c &= c >> s` keeps only the starts of longer runs,
    with s doubling, so it takes O(log n) rounds (Go: findBitRange64 for one
    word; here for any width).
  * fill_aligned(x, m, width): every m-aligned group of m bits that has any
    bit set becomes all ones (Go: fillAligned). Groups never straddle a
    64-bit word, so Go's per-word constants, repeated across the width, work
    on the whole int at once: no carry or borrow leaves a group.
The scavenge candidate search built on fill_aligned is in fast.scavenge,
as the model's is in model.scavenge.
"""

from __future__ import annotations

_FILL_WORDS = {
    2: 0x5555555555555555,
    4: 0x7777777777777777,
    8: 0x7F7F7F7F7F7F7F7F,
    16: 0x7FFF7FFF7FFF7FFF,
    32: 0x7FFFFFFF7FFFFFFF,
    64: 0x7FFFFFFFFFFFFFFF,
}
_fill_cache: dict[tuple[int, int], int] = {}


def find_run(free: int, npages: int) -> int | None:
    """Lowest i with bits [i, i+npages) of free all set, or None."""
    c = free
    remaining = npages - 1  # how much further every surviving run start must reach
    step = 1  # runs of c are now at least `step` long, so shifting by <= step joins none
    while remaining > 0 and c:
        s = step if step < remaining else remaining
        c &= c >> s
        remaining -= s
        step <<= 1
    if not c:
        return None
    return (c & -c).bit_length() - 1


def find_in_chunk(used: int, npages: int, search_idx: int, width: int) -> tuple[int | None, int | None]:
    """Go's pallocBits.find on a chunk: (first fit from search_idx's word, first free page from that word)."""
    word_start = search_idx & ~63
    free = (used ^ ((1 << width) - 1)) >> word_start << word_start
    if not free:
        return None, None
    first_free = (free & -free).bit_length() - 1
    if npages == 1:
        return first_free, first_free
    return find_run(free, npages), first_free


def _fill_constant(m: int, width: int) -> int:
    key = (m, width)
    c = _fill_cache.get(key)
    if c is None:
        word = _FILL_WORDS[m]
        c = 0
        for k in range(width // 64):
            c |= word << (64 * k)
        _fill_cache[key] = c
    return c


def fill_aligned(x: int, m: int, width: int) -> int:
    """Set every m-aligned group of m bits of x that has a bit set (m a power of two <= 64)."""
    if m == 1:
        return x
    if m not in _FILL_WORDS:
        raise ValueError(f"fill_aligned: m must be a power of two <= 64, got {m}")
    full = (1 << width) - 1
    c = _fill_constant(m, width)
    # A group's top bit ends up set in zero_groups exactly when the group of x is all zero.
    zero_groups = ~(((x & c) + c) | x | c) & full
    return ~((zero_groups - (zero_groups >> (m - 1))) | zero_groups) & full
