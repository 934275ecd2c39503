"""Packed summaries: the 64-bit encoding, and computing summaries one at a time or in bulk.

A summary of a region of pages is (start, max, end): free pages at its low
end, the longest free run in it, free pages at its high end. fast/ stores
every summary packed in one uint64, exactly as Go's pallocSum:

    start | max << B | end << 2B          B = log_max_packed (21 on amd64)

with the single exception of max == 2**B, which only a fully free root entry
reaches and which is stored as the lone bit 1 << 63. The all-zero word is the
zero summary (nothing free, or nothing grown), so a freshly zeroed array is a
valid tree of an empty address space.

Two ways to compute summaries, pure functions of the bitmap both:

  * scalar, on Python ints (summarize_int, merge_packed): a chunk's in-use
    bitmap read as one int (page i = bit i). start and end are the trailing
    and leading zeros; max is found with O(log width) big-int operations:
    g[k] marks the pages that start 2**k free pages in a row (g[k+1] =
    g[k] & g[k] >> 2**k), and the answer is built greedily from the highest
    k down. This is what a single alloc, free or cache operation uses.
  * vectorised, numpy (summarize_rows, merge_rows): summaries of many chunks
    at once, word by word (trailing zeros, leading zeros and the longest
    zero run of every word with the same doubling trick, then a left to
    right merge across the words), and the merge of many rows of children
    at once. This is what grow, multi-chunk ranges and bulk summarizing use.

merge(a of width wa, b of width wb):
    start = a.start + b.start   if a.start == wa  else a.start
    max   = max(a.max, b.max, a.end + b.start)
    end   = a.end + wb          if b.end == wb    else b.end
The fault merge_width_off_by_one (fast.faults) compares a.start with wa
minus one child's width instead of wa.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PACKED_FULL_BIT = 1 << 63
MASK64 = (1 << 64) - 1
U64 = np.uint64

Triple = tuple[int, int, int]
IntArray = Any  # numpy arrays; numpy's typing of bit operations on uint64 is too loose to help here


class Codec:
    """Go's packed summary encoding for fields of `bits` bits."""

    __slots__ = ("bits", "field", "limit")

    def __init__(self, bits: int) -> None:
        if not 1 <= bits <= 21:
            raise ValueError(f"packed summary fields must have 1 to 21 bits, got {bits}")
        self.bits = bits
        self.field = (1 << bits) - 1
        self.limit = 1 << bits

    def pack(self, start: int, most: int, end: int) -> int:
        if most == self.limit:
            return PACKED_FULL_BIT
        return start | most << self.bits | end << (2 * self.bits)

    def unpack(self, packed: int) -> Triple:
        if packed >> 63:
            return self.limit, self.limit, self.limit
        field, bits = self.field, self.bits
        return packed & field, (packed >> bits) & field, packed >> (2 * bits) & field

    def free(self, width: int) -> int:
        """The packed summary of `width` free pages."""
        return self.pack(width, width, width)

    def max_of(self, packed: int) -> int:
        if packed >> 63:
            return self.limit
        return (packed >> self.bits) & self.field

    def pack_arrays(self, start: IntArray, most: IntArray, end: IntArray) -> IntArray:
        s, m, e = (np.asarray(a, dtype=U64) for a in (start, most, end))
        fields = s | (m << U64(self.bits)) | (e << U64(2 * self.bits))
        return np.where(m == U64(self.limit), U64(PACKED_FULL_BIT), fields)

    def unpack_arrays(self, packed: IntArray) -> tuple[IntArray, IntArray, IntArray]:
        """int64 arrays (start, max, end) of packed uint64 summaries."""
        p = np.asarray(packed, dtype=U64)
        full = (p >> U64(63)) != 0
        field = U64(self.field)
        start = (p & field).astype(np.int64)
        most = ((p >> U64(self.bits)) & field).astype(np.int64)
        end = ((p >> U64(2 * self.bits)) & field).astype(np.int64)
        if full.any():
            start[full] = most[full] = end[full] = self.limit
        return start, most, end


# Scalar summaries.


def longest_one_run(free: int) -> int:
    """Length of the longest run of set bits in a non-negative int."""
    if free == 0:
        return 0
    g = [free]
    k = 0
    while True:
        nxt = g[k] & (g[k] >> (1 << k))
        if not nxt:
            break
        g.append(nxt)
        k += 1
    # g[j] marks where 2**j set bits in a row start; some run is 2**k long, none 2**(k+1).
    answer = 1 << k
    cur = g[k]
    for j in range(k - 1, -1, -1):
        candidate = cur & (g[j] >> answer)
        if candidate:
            cur = candidate
            answer += 1 << j
    return answer


def summarize_int(used: int, width: int) -> Triple:
    """(start, max, end) of a region of `width` pages whose in-use bitmap is `used` (bit i = page i)."""
    if used == 0:
        return width, width, width
    full = (1 << width) - 1
    if used == full:
        return 0, 0, 0
    start = (used & -used).bit_length() - 1
    end = width - used.bit_length()
    return start, longest_one_run(used ^ full), end


def merge_packed(children: list[int], child_width: int, codec: Codec, off_by_one: bool = False) -> int:
    """Packed summary of a row of equal-width children, merged left to right (Go: mergeSummaries)."""
    first = children[0]
    if all(c == first for c in children):
        if first == 0:
            return 0
        if first == codec.free(child_width) and not off_by_one:
            total = child_width * len(children)
            return codec.pack(total, total, total)
    start, most, end = codec.unpack(first)
    width = child_width
    for packed in children[1:]:
        b_start, b_max, b_end = codec.unpack(packed)
        if start == (width - child_width if off_by_one else width):
            start += b_start
        if end + b_start > most:
            most = end + b_start
        if b_max > most:
            most = b_max
        end = end + child_width if b_end == child_width else b_end
        width += child_width
    return codec.pack(start, most, end)


# Vectorised summaries.


def popcount(x: IntArray) -> IntArray:
    """Set bits of every uint64 (numpy's bitwise_count where it exists, SWAR otherwise)."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x).astype(np.int64)
    x = x - ((x >> U64(1)) & U64(0x5555555555555555))
    x = (x & U64(0x3333333333333333)) + ((x >> U64(2)) & U64(0x3333333333333333))
    x = (x + (x >> U64(4))) & U64(0x0F0F0F0F0F0F0F0F)
    return ((x * U64(0x0101010101010101)) >> U64(56)).astype(np.int64)


def trailing_zeros(x: IntArray) -> IntArray:
    """Trailing zeros of every uint64; 64 for 0."""
    lowest = x & (~x + U64(1))
    return popcount(lowest - U64(1))


def leading_zeros(x: IntArray) -> IntArray:
    """Leading zeros of every uint64; 64 for 0."""
    y = x.copy()
    for s in (1, 2, 4, 8, 16, 32):
        y |= y >> U64(s)
    return 64 - popcount(y)


def shift_right_by(x: IntArray, amount: IntArray) -> IntArray:
    """x >> amount elementwise, 0 where amount >= 64 (numpy leaves that case to the CPU)."""
    clipped = np.minimum(amount, 63).astype(U64)
    return np.where(amount >= 64, U64(0), x >> clipped)


def word_longest_zero_run(x: IntArray) -> IntArray:
    """Longest run of zero bits of every uint64 (the free pages of a word of in-use bits)."""
    g = [~x]
    for k in range(6):
        g.append(g[k] & (g[k] >> U64(1 << k)))
    answer = np.zeros(x.shape, dtype=np.int64)
    cur = np.full(x.shape, MASK64, dtype=U64)
    for k in range(6, -1, -1):
        candidate = cur & shift_right_by(g[k], answer)
        found = candidate != 0
        cur = np.where(found, candidate, cur)
        answer += np.where(found, 1 << k, 0)
    return answer


def merge_arrays(
    a: tuple[IntArray, IntArray, IntArray],
    a_width: int,
    b: tuple[IntArray, IntArray, IntArray],
    b_width: int,
    off_by_one: bool = False,
) -> tuple[IntArray, IntArray, IntArray]:
    """merge(a, b) elementwise over int64 arrays of equal shape."""
    a_start, a_max, a_end = a
    b_start, b_max, b_end = b
    carry = a_start == (a_width - b_width if off_by_one else a_width)
    start = np.where(carry, a_start + b_start, a_start)
    most = np.maximum(np.maximum(a_max, b_max), a_end + b_start)
    end = np.where(b_end == b_width, a_end + b_width, b_end)
    return start, most, end


def summarize_rows(rows: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """(start, max, end) int64 arrays of every row of in-use words, shape (n, words)."""
    rows = np.asarray(rows, dtype=U64)
    starts = trailing_zeros(rows)
    ends = leading_zeros(rows)
    maxes = word_longest_zero_run(rows)
    merged = (starts[:, 0], maxes[:, 0], ends[:, 0])
    for k in range(1, rows.shape[1]):
        merged = merge_arrays(merged, 64 * k, (starts[:, k], maxes[:, k], ends[:, k]), 64)
    return merged


def merge_rows(children: IntArray, child_width: int, codec: Codec, off_by_one: bool = False) -> IntArray:
    """Packed summaries of every row of packed children, shape (n, fan-out) -> (n,)."""
    start, most, end = codec.unpack_arrays(children)
    merged = (start[:, 0], most[:, 0], end[:, 0])
    for k in range(1, children.shape[1]):
        merged = merge_arrays(merged, k * child_width, (start[:, k], most[:, k], end[:, k]), child_width, off_by_one)
    return codec.pack_arrays(*merged)
