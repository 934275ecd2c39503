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
  * vectorised, numpy (summarize_rows, summarize_row_groups, merge_rows):
    summaries of many chunks at once, with no Python loop per chunk, and
    the merge of many rows of children at once. This is what grow,
    multi-chunk ranges and bulk summarizing (fast.tree's resummarize and
    check) use. Per word, its trailing and leading zeros (a popcount and a
    float64 exponent); one pass across the words then finds every free run
    that touches a word's edge (summarize_chunks says how), and only the
    chunks where a run inside one word could be longer get the doubling
    trick word by word (longest_zero_runs). Chunks go through in batches of
    BATCH_WORDS words, so each pass reads its batch from the cache. Choices
    between two arrays are made with 0/1 masks (multiply, and, xor), never
    np.where, whose cost grows with how unpredictable its condition is.

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
    """Packed summary of a row of equal-width children, merged left to right (Go: mergeSummaries).

    Fields are unpacked inline, and zero and fully free children (most
    children, in a heap of any size) take short cuts that give what the
    general merge gives.
    """
    first = children[0]
    bits, field, limit = codec.bits, codec.field, codec.limit
    bits2 = bits + bits
    free = child_width | child_width << bits | child_width << bits2 if child_width < limit else PACKED_FULL_BIT
    if children.count(first) == len(children):
        if first == 0:
            return 0
        if first == free and not off_by_one:
            total = child_width * len(children)
            return codec.pack(total, total, total)
    if first >> 63:
        start = most = end = limit
    else:
        start, most, end = first & field, (first >> bits) & field, first >> bits2
    width = child_width
    carry_at = -child_width if off_by_one else 0  # the run at the start goes on when start == width + carry_at
    for k in range(1, len(children)):
        packed = children[k]
        if packed == 0:
            end = 0  # start and most stay: a zero child adds nothing
        elif packed == free:
            if start == width + carry_at:
                start += child_width
            end += child_width
            if end > most:
                most = end
        else:
            if packed >> 63:
                b_start = b_max = b_end = limit
            else:
                b_start, b_max, b_end = packed & field, (packed >> bits) & field, packed >> bits2
            if start == width + carry_at:
                start += b_start
            if end + b_start > most:
                most = end + b_start
            if b_max > most:
                most = b_max
            end = end + child_width if b_end == child_width else b_end
        width += child_width
    return codec.pack(start, most, end)


# Vectorised summaries.

# Words summarized per numpy pass: 2 MiB per uint64 array, about what one core's cache holds, so the
# dozen passes over a batch read it from the cache rather than from memory.
BATCH_WORDS = 1 << 18
# A free run inside a word that touches neither of its edges is at most 62 pages long.
LONGEST_INNER_RUN = 62


def popcount(x: IntArray) -> IntArray:
    """Set bits of every uint64 (numpy's bitwise_count where it exists, SWAR otherwise)."""
    return _popcount8(x).astype(np.int64)


def _popcount8(x: IntArray) -> IntArray:
    """Set bits of every uint64, as small unsigned ints."""
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x)
    x = x - ((x >> U64(1)) & U64(0x5555555555555555))
    x = (x & U64(0x3333333333333333)) + ((x >> U64(2)) & U64(0x3333333333333333))
    x = (x + (x >> U64(4))) & U64(0x0F0F0F0F0F0F0F0F)
    return ((x * U64(0x0101010101010101)) >> U64(56)).astype(np.uint8)


def _trailing_zeros16(x: IntArray) -> IntArray:
    """Trailing zeros of every uint64 as int16; 64 for 0 (the bits below the lowest set bit, counted)."""
    below = np.negative(x)
    below &= x
    below -= U64(1)  # 0 - 1 wraps to all ones: 64 for a zero word
    return _popcount8(below).astype(np.int16)


def _leading_zeros16(x: IntArray, low: IntArray) -> IntArray:
    """Leading zeros of every uint64 as int16, 64 for 0, read from the exponent of a float64; low: its trailing zeros.

    x & ~(x >> 1) keeps x's highest set bit and clears the bit below it;
    shifted down one bit it fits an int64 (whose conversion to float64 is
    fast, where a uint64 with its top bit set is not) and, however the
    conversion rounds, stays below the next power of two: for x >= 2 the
    exponent is the bit length minus two. x = 0 and x = 1 both come out as
    0; the trailing zeros tell them apart (64 for 0, 0 for 1).
    """
    top = x >> U64(1)
    np.invert(top, out=top)
    top &= x
    top >>= U64(1)
    exponent = top.view(np.int64).astype(np.float64).view(np.int64)
    exponent >>= 52
    zeros = exponent.astype(np.int16)
    np.subtract(np.int16(1085), zeros, out=zeros)
    np.minimum(zeros, (low != 0) + np.int16(63), out=zeros)
    return zeros


def trailing_zeros(x: IntArray) -> IntArray:
    """Trailing zeros of every uint64; 64 for 0."""
    return _trailing_zeros16(np.asarray(x, dtype=U64)).astype(np.int64)


def leading_zeros(x: IntArray) -> IntArray:
    """Leading zeros of every uint64; 64 for 0."""
    x = np.asarray(x, dtype=U64)
    return _leading_zeros16(x, _trailing_zeros16(x)).astype(np.int64)


def longest_zero_runs(x: IntArray) -> IntArray:
    """Longest run of zero bits of every uint64 that is not 0 (the free pages of a word of in-use bits).

    runs[j] marks the bits that start 2**j free pages in a row (runs[j+1] =
    runs[j] & runs[j] >> 2**j); the answer is then built from the highest
    power down, keeping `current`, the starts of runs of `answer` pages, and
    adding 2**j where some run goes on 2**j further. A zero word (64 free
    pages) gives 63: callers know those words already. The choice between
    the old and the new `current` is made with masks, not np.where, whose
    cost grows with how unpredictable its condition is.
    """
    runs = [~x]
    for j in range(5):
        longer = runs[j] >> U64(1 << j)
        longer &= runs[j]
        runs.append(longer)
    found = (runs[5] != 0).astype(U64)
    answer = found << U64(5)
    current = runs[5] | (found - U64(1))  # no run of 32: start from every bit (runs of 0 pages)
    for j in range(4, -1, -1):
        candidate = runs[j] >> answer
        candidate &= current
        found = (candidate != 0).astype(U64)
        answer |= found << U64(j)
        np.negative(found, out=found)  # all ones where found
        candidate ^= current  # the bits the longer run drops, kept only where it was found
        candidate &= found
        current ^= candidate
    return answer.astype(np.int64)


def word_longest_zero_run(x: IntArray) -> IntArray:
    """Longest run of zero bits of every uint64 (64 for 0)."""
    x = np.asarray(x, dtype=U64)
    return np.where(x == 0, 64, longest_zero_runs(x))


def summarize_chunks(words: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """(start, max, end) int16 arrays of chunks given as rows of in-use words, shape (n, words).

    Per word: its free pages at the low end (trailing zeros) and at the high
    end (leading zeros), and whether it is all free. One pass over the
    words, low to high, carries `top`, the free run reaching the top of the
    word (its leading zeros, plus the run below when the word is all free),
    and takes max(top before the word + the word's trailing zeros): every
    free run that touches a word's edge, the chunk's start and end included,
    is one of those. A run inside a word touching neither edge is at most 62
    pages, and at most the word's free pages less its two edge runs; only
    the words where that bound beats their chunk's longest edge run get
    their inner runs computed (longest_zero_runs).
    """
    nwords = words.shape[1]
    low = _trailing_zeros16(words)
    high = _leading_zeros16(words, low)
    # The passes below go word by word across all chunks: column-wise copies make each word's values contiguous.
    low_by_word, high_by_word = np.ascontiguousarray(low.T), np.ascontiguousarray(high.T)
    free = (low_by_word == 64).astype(np.int16)
    top = high_by_word[0].copy()
    most = low_by_word[0].copy()
    for k in range(1, nwords):
        np.maximum(most, top + low_by_word[k], out=most)
        top *= free[k]
        top += high_by_word[k]
    np.maximum(most, top, out=most)
    bottom = low_by_word[nwords - 1].copy()  # the free run from the bottom of word k up, carried down
    for k in range(nwords - 2, -1, -1):
        bottom *= free[k]
        bottom += low_by_word[k]
    short = np.flatnonzero(most < LONGEST_INNER_RUN)
    if short.size:
        sub = words[short]
        bound = 64 - _popcount8(sub).astype(np.int16)
        bound -= low[short]
        bound -= high[short]
        chosen = np.flatnonzero(bound > most[short, None])
        if chosen.size:
            inner = longest_zero_runs(sub.ravel()[chosen]).astype(np.int16)
            np.maximum.at(most, short[chosen // nwords], inner)
    return bottom, most, top


def summarize_row_groups(
    groups: list[IntArray], batch_words: int = BATCH_WORDS
) -> tuple[IntArray, IntArray, IntArray]:
    """(start, max, end) int64 arrays of every row of several (n, words) arrays of in-use words, in order.

    Small groups are copied together into batches of about batch_words
    words, larger ones summarized in slices of that size, by
    summarize_chunks.
    """
    nwords = groups[0].shape[1]
    total = sum(g.shape[0] for g in groups)
    out = [np.empty(total, dtype=np.int64) for _ in range(3)]
    batch_rows = max(1, batch_words // nwords)
    pending: list[IntArray] = []
    pending_rows = done = 0

    def summarize(rows: IntArray) -> None:
        nonlocal done
        for target, values in zip(out, summarize_chunks(rows), strict=True):
            target[done : done + rows.shape[0]] = values
        done += rows.shape[0]

    def flush() -> None:
        nonlocal pending_rows
        if pending:
            summarize(pending[0] if len(pending) == 1 else np.concatenate(pending))
            pending.clear()
            pending_rows = 0

    for group in groups:
        for first in range(0, group.shape[0], batch_rows):
            piece = group[first : first + batch_rows]
            if pending_rows + piece.shape[0] > batch_rows:
                flush()
            pending.append(piece)
            pending_rows += piece.shape[0]
    flush()
    return out[0], out[1], out[2]


def summarize_rows(rows: IntArray) -> tuple[IntArray, IntArray, IntArray]:
    """(start, max, end) int64 arrays of every row of in-use words, shape (n, words)."""
    rows = np.asarray(rows, dtype=U64)
    if rows.shape[0] == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), empty.copy()
    return summarize_row_groups([rows])


def merge_arrays(
    a: tuple[IntArray, IntArray, IntArray],
    a_width: int,
    b: tuple[IntArray, IntArray, IntArray],
    b_width: int,
    off_by_one: bool = False,
) -> tuple[IntArray, IntArray, IntArray]:
    """merge(a, b) elementwise over int64 arrays of equal shape (choices made by multiplying with 0 or 1)."""
    a_start, a_max, a_end = a
    b_start, b_max, b_end = b
    start = a_start + (a_start == (a_width - b_width if off_by_one else a_width)) * b_start
    most = np.maximum(a_max, b_max)
    np.maximum(most, a_end + b_start, out=most)
    end = b_end + (b_end == b_width) * a_end  # b all free: b_end == b_width, and a's end run goes on
    return start, most, end


def merge_rows(children: IntArray, child_width: int, codec: Codec, off_by_one: bool = False) -> IntArray:
    """Packed summaries of every row of packed children, shape (n, fan-out) -> (n,)."""
    start, most, end = codec.unpack_arrays(children)
    merged = (start[:, 0], most[:, 0], end[:, 0])
    for k in range(1, children.shape[1]):
        merged = merge_arrays(merged, k * child_width, (start[:, k], most[:, k], end[:, k]), child_width, off_by_one)
    return codec.pack_arrays(*merged)
