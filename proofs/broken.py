"""Deliberately broken variants of model functions, one per proof, for the negative controls.

Each is the model's function with one small, plausible mistake (an
off-by-one, a dropped merge case). A proof's control checks the proof's own
obligations against its variant; Z3 must find a counterexample, otherwise the
obligations could not tell a wrong function from the right one.
"""

from __future__ import annotations

from typing import Any

from model import bitmap, summary, words
from model.geometry import Geometry
from model.pagecache import CACHE_PAGES, PageCache
from model.results import AllocResult
from model.summary import Triple


def pack_triple_without_full_case(t: Triple, geometry: Geometry) -> words.Word:
    """Go's packing without the special case for a fully free root entry: max_packed does
    not fit in a field, so (max_packed, max_packed, max_packed) packs to 0."""
    start, most, end = t
    bits = geometry.log_max_packed
    field = geometry.max_packed - 1
    return (start & field) | words.shl(most & field, bits) | words.shl(end & field, 2 * bits)


def summarize_word_63_rounds(x: words.Word) -> Triple:
    """summarize_word with one smear round too few: a fully free word gets max 63."""
    free = words.bnot(x)
    longest: Any = 0
    for _ in range(63):
        longest = longest + words.ite(words.is_zero(free), 0, 1)
        free = free & words.lshr(free, 1)
    return (words.trailing_zeros(x), longest, words.leading_zeros(x))


def merge_pair_without_junction(a: Triple, a_width: Any, b: Triple, b_width: Any) -> Triple:
    """merge_pair that forgets the run across the boundary (a.end + b.start) in max."""
    a_start, a_max, a_end = a
    b_start, b_max, b_end = b
    start = words.ite(a_start == a_width, a_start + b_start, a_start)
    most = words.maximum(a_max, b_max)
    end = words.ite(b_end == b_width, a_end + b_width, b_end)
    return (start, most, end)


def merge_pair_end_off_by_one(a: Triple, a_width: Any, b: Triple, b_width: Any) -> Triple:
    """merge_pair whose end, when b is fully free, adds b's width to a.end one page short."""
    start, most, end = summary.merge_pair(a, a_width, b, b_width)
    a_end = a[2]
    b_end = b[2]
    return (start, most, words.ite(b_end == b_width, a_end + b_width - 1, end))


def find_bit_range64_off_by_one(c: words.Word, n: int) -> words.Word:
    """findBitRange64 that shrinks runs by n instead of n-1: it looks for n+1 set bits."""
    p = n
    k = 1
    while p > 0:
        if p <= k:
            c = c & words.lshr(c, p)
            break
        c = c & words.lshr(c, k)
        p -= k
        k *= 2
    return words.trailing_zeros(c)


def fill_aligned_short_spread(x: words.Word, m: int) -> words.Word:
    """fillAligned that spreads each group's top bit one bit short (shift m-2 instead of m-1),
    so an all-zero group is no longer cleared."""
    if m == 1:
        return x
    c = bitmap._FILL_CONSTANTS[m]
    zero_groups = words.bnot(words.add(x & c, c) | x | c)
    return words.bnot(words.sub(zero_groups, words.lshr(zero_groups, m - 2)) | zero_groups)


def range_mask_one_past(word_index: int, i: Any, n: Any) -> words.Word:
    """range_mask for pages [i, i+n+1): one page past the end of the range."""
    return bitmap.range_mask(word_index, i, n + 1)


def set_range_one_past(b: bitmap.Bits, i: Any, n: Any) -> None:
    for k in range(len(b)):
        b[k] |= range_mask_one_past(k, i, n)


def clear_range_one_past(b: bitmap.Bits, i: Any, n: Any) -> None:
    for k in range(len(b)):
        b[k] &= words.bnot(range_mask_one_past(k, i, n))


def popcnt_range_one_past(b: bitmap.Bits, i: Any, n: Any) -> Any:
    return sum(words.popcount(b[k] & range_mask_one_past(k, i, n)) for k in range(len(b)))


def alloc_range_keeping_scavenged(alloc: bitmap.Bits, scavenged: bitmap.Bits, i: Any, n: Any) -> None:
    """allocRange that marks the pages in use but forgets to clear their scavenged bits."""
    bitmap.set_range(alloc, i, n)


class CacheKeepingScavenged(PageCache):
    """A page cache whose alloc hands out pages but leaves their scavenged bits in the cache,
    so a later flush marks handed-out (in use) pages scavenged again."""

    def alloc(self, npages: int) -> AllocResult:
        if self.free == 0 or self.base is None:
            return AllocResult.failed()
        if npages == 1:
            i = words.trailing_zeros(self.free)
        else:
            i = bitmap.find_bit_range64(self.free, npages)
            if i >= CACHE_PAGES:
                return AllocResult.failed()
        mask = words.shl(words.low_mask(npages), i)
        scav = words.popcount(self.scav & mask)
        self.free &= words.bnot(mask)
        return AllocResult(self.base + i, scav)


class CacheHeldOnePast(PageCache):
    """A page cache whose first_held looks one page past the end of the range asked about."""

    def first_held(self, page: int, npages: int) -> int | None:
        return super().first_held(page, npages + 1)
