"""Per-chunk bitmaps and the word-level searches Go runs over them.

A chunk's bitmap is a list of 64-bit words, page i of the chunk being bit
i % 64 of word i // 64 (Go: pageBits, pallocBits). In the allocation bitmap
a set bit means in use; in the scavenged bitmap a set bit means the page has
been returned to the OS. A chunk's two bitmaps together are Go's pallocData.

Rules:
  * set_range(b, i, n) sets exactly bits [i, i+n); clear_range clears exactly
    them; popcnt_range counts the set bits among them (Go: setRange,
    clearRange, popcntRange, used by allocRange and free). They are written
    as one mask per word, `range_mask`, so that they are visibly exact and
    also evaluate on Z3 words.
  * block64(b, i) is the aligned 64-page word holding page i (Go: pages64,
    block64).
  * find_bit_range64(c, n) is Go's findBitRange64: the lowest i such that
    bits [i, i+n) of c are all set, or a value >= 64 when there is none. It
    shrinks every run of ones by n-1 with doubling shifts and takes the
    lowest survivor.
  * fill_aligned(x, m) is Go's fillAligned: every m-aligned group of m bits
    that has any bit set becomes all ones.
  * find_in_chunk is pallocBits.find: the first run of n free pages starting
    at or after the 64-page word that holds the search index, plus the first
    free page from that word on (the new search index). The two scans are the
    plain definitions model.spec.first_fit and model.spec.first_free (Go's
    word-level search is not modelled), so only the rounding down to the
    search index's word is mechanism here.
"""

from __future__ import annotations

from typing import Any

from model import spec, words
from model.words import MASK64, Word

Bits = list[int]


def new_bits(words_per_chunk: int, fill: bool) -> Bits:
    return [MASK64 if fill else 0] * words_per_chunk


def _offset_in_word(page: Any, word_index: int) -> Any:
    """page - 64*word_index clamped to [0, 64]. It subtracts only when page is above the
    word's base, so it also holds for unsigned Z3 bit-vectors, where subtraction wraps."""
    base = 64 * word_index
    return words.ite(words.ule(page, base), 0, words.minimum(page - base, 64))


def range_mask(word_index: int, i: Any, n: Any) -> Word:
    """The bits of word `word_index` that lie in pages [i, i+n) of the chunk."""
    lo = _offset_in_word(i, word_index)
    hi = _offset_in_word(i + n, word_index)
    return words.low_mask(hi) & words.bnot(words.low_mask(lo))


def touched_bounds(i: Any, n: Any, nwords: int) -> tuple[Any, Any]:
    """[first, last + 1) of the words holding pages [i, i+n), clipped to a bitmap of nwords words."""
    return max(i, 0) // 64, min((i + n - 1) // 64 + 1, nwords)


def words_touched(b: Bits, i: Any, n: Any) -> range:
    """The words whose range_mask may be non-zero: for ints just those holding [i, i+n), else all."""
    if isinstance(i, int) and isinstance(n, int):
        return range(*touched_bounds(i, n, len(b)))
    return range(len(b))


def set_range(b: Bits, i: int, n: int) -> None:
    for k in words_touched(b, i, n):
        b[k] |= range_mask(k, i, n)


def clear_range(b: Bits, i: int, n: int) -> None:
    for k in words_touched(b, i, n):
        b[k] &= words.bnot(range_mask(k, i, n))


def popcnt_range(b: Bits, i: int, n: int) -> int:
    return sum(words.popcount(b[k] & range_mask(k, i, n)) for k in words_touched(b, i, n))


def get(b: Bits, i: int) -> int:
    return (b[i // 64] >> (i % 64)) & 1


def block64(b: Bits, i: int) -> int:
    return b[i // 64]


def find_bit_range64(c: Word, n: int) -> Word:
    """Lowest i with bits [i, i+n) of c all set, or >= 64 if none (1 <= n <= 64)."""
    p = n - 1  # how many more positions every run of ones must still lose
    k = 1  # every gap of zeros in c is at least k wide, so shifting by <= k joins no runs
    while p > 0:
        if p <= k:
            c = c & words.lshr(c, p)
            break
        c = c & words.lshr(c, k)
        p -= k
        k *= 2
    return words.trailing_zeros(c)


_FILL_CONSTANTS = {
    2: 0x5555555555555555,
    4: 0x7777777777777777,
    8: 0x7F7F7F7F7F7F7F7F,
    16: 0x7FFF7FFF7FFF7FFF,
    32: 0x7FFFFFFF7FFFFFFF,
    64: 0x7FFFFFFFFFFFFFFF,
}


def fill_aligned(x: Word, m: int) -> Word:
    """Set every m-aligned group of m bits that has a bit set (m a power of two <= 64)."""
    if m == 1:
        return x
    if m not in _FILL_CONSTANTS:
        raise ValueError(f"fill_aligned: m must be a power of two <= 64, got {m}")
    c = _FILL_CONSTANTS[m]
    # The top bit of each group becomes 1 exactly when the whole group is zero:
    # adding c to the low bits carries into the top bit when any low bit is set.
    zero_groups = words.bnot(words.add(x & c, c) | x | c)
    # Spread each group's top bit down over the group, then invert: groups that
    # were all zero stay zero, every other group becomes all ones.
    return words.bnot(words.sub(zero_groups, words.lshr(zero_groups, m - 1)) | zero_groups)


# The plain scans the in-chunk search is made of; they are definitions, so they live in
# model.spec. Re-exported here for callers that still name them as bitmap's (switch to model.spec).
first_free = spec.first_free
first_fit = spec.first_fit


def find_in_chunk(b: Bits, npages: int, search_idx: int) -> tuple[int | None, int | None]:
    """Go's pallocBits.find: (first fit from search_idx's word, first free page from that word)."""
    word_start = search_idx - search_idx % 64
    return spec.first_fit(b, npages, word_start), spec.first_free(b, word_start)
