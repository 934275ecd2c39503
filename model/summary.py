"""Summaries of free pages: (start, max, end), how to compute, merge and pack them.

A summary of a region of pages records three numbers (Go: pallocSum):
  start: free pages at the low end of the region,
  max:   the longest run of free pages anywhere in it,
  end:   free pages at the high end.
A region of width W that is entirely free summarizes to (W, W, W); one with no
free page to (0, 0, 0), which Go calls the zero summary and treats as "nothing
here" (an address range that was never grown also has the zero summary).

Rules (each proved in proofs/):
  * summarize_word(x) is the definition above applied to one 64-bit word of
    in-use bits (bit i set = page i in use).
  * merge_pair(a, wa, b, wb) is the summary of the concatenation of a region
    of width wa summarized by a and one of width wb summarized by b:
      start = a.start + b.start  if a.start == wa  else a.start
      max   = max(a.max, b.max, a.end + b.start)
      end   = a.end + wb         if b.end == wb    else b.end
    It is associative (with the zero-width summary as identity), so a row of
    children merges left to right (merge_row) to the parent's summary, and a
    chunk's summary is the merge of its words' summaries.
  * pack/unpack is Go's 64-bit encoding: three fields of log_max_packed bits
    (21 on amd64) for start, max and end; a summary whose max is max_packed
    (only a fully free root entry has it) cannot be written in 21 bits and is
    encoded as the single bit 1 << 63.

summarize_word and merge_pair use only model.words operations and so accept
Z3 terms as well as ints; Summary is the checked, frozen value for ints.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import attrs

from model import words
from model.errors import ParameterError
from model.geometry import Geometry


def _count(instance: object, attribute: attrs.Attribute, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ParameterError(f"summary {attribute.name} must be an integer >= 0, got {value!r}")


@attrs.frozen
class Summary:
    start: int = attrs.field(validator=_count)
    max: int = attrs.field(validator=_count)
    end: int = attrs.field(validator=_count)

    def __attrs_post_init__(self) -> None:
        if self.start > self.max or self.end > self.max:
            raise ParameterError(f"summary {self.as_tuple()} has start or end above max")

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.start, self.max, self.end)

    def is_zero(self) -> bool:
        return self.max == 0

    @staticmethod
    def free(width: int) -> Summary:
        return Summary(width, width, width)


ZERO = Summary(0, 0, 0)

Triple = tuple[Any, Any, Any]


def summarize_word(x: words.Word) -> Triple:
    """Summary (start, max, end) of one 64-bit word of in-use bits.

    start is the count of trailing zeros, end of leading zeros, and max the
    longest run of zeros: each round of `free &= free >> 1` shortens every run
    of ones in `free` (the free pages) by one, so the number of rounds before
    `free` is zero is the longest run. The loop always makes 64 rounds so it
    has one shape for ints and for Z3 terms.
    """
    free = words.bnot(x)
    longest: Any = 0
    for _ in range(64):
        if words.is_concrete(free) and free == 0:
            break  # every later round would add 0: a shortcut for ints only
        longest = longest + words.ite(words.is_zero(free), 0, 1)
        free = free & words.lshr(free, 1)
    return (words.trailing_zeros(x), longest, words.leading_zeros(x))


def merge_pair(a: Triple, a_width: Any, b: Triple, b_width: Any) -> Triple:
    """Summary of region a (a_width pages) followed by region b (b_width pages)."""
    a_start, a_max, a_end = a
    b_start, b_max, b_end = b
    start = words.ite(a_start == a_width, a_start + b_start, a_start)
    most = words.maximum(words.maximum(a_max, b_max), a_end + b_start)
    end = words.ite(b_end == b_width, a_end + b_width, b_end)
    return (start, most, end)


def merge_row(children: Sequence[Triple], child_width: int) -> Triple:
    """Merge a row of equal-width children left to right (Go: mergeSummaries)."""
    merged = children[0]
    for i in range(1, len(children)):
        merged = merge_pair(merged, i * child_width, children[i], child_width)
    return merged


def summarize_words(bits: Sequence[words.Word]) -> Triple:
    """Summary of a bitmap of 64-page words: the merge of its words' summaries (ints or Z3 terms)."""
    return merge_row([summarize_word(w) for w in bits], 64)


def summarize_chunk(bits: Sequence[int]) -> Summary:
    """Summary of a chunk's in-use bitmap, as a checked Summary.

    Remembered by bitmap (a pure function of ints; summarize_words itself is what the proofs run): a
    grow summarizes every new, wholly free chunk, and a heap grown by thousands of chunks at once
    would otherwise take the model seconds (64 smear rounds a free word)."""
    return _summarize_chunk(tuple(bits))


@functools.lru_cache(maxsize=1 << 12)
def _summarize_chunk(bits: tuple[int, ...]) -> Summary:
    return Summary(*summarize_words(bits))


def merge_summaries(children: Sequence[Summary], child_width: int) -> Summary:
    return Summary(*merge_row([c.as_tuple() for c in children], child_width))


# Packed encoding.

PACKED_FULL_BIT = 1 << 63


def pack_triple(t: Triple, geometry: Geometry) -> words.Word:
    """Go's packPallocSum on a triple of ints or 64-bit Z3 terms (no checks: see pack)."""
    start, most, end = t
    bits = geometry.log_max_packed
    field = geometry.max_packed - 1
    fields = (start & field) | words.shl(most & field, bits) | words.shl(end & field, 2 * bits)
    return words.ite(most == geometry.max_packed, PACKED_FULL_BIT, fields)


def unpack_triple(packed: words.Word, geometry: Geometry) -> Triple:
    """Go's pallocSum.unpack on an int or a 64-bit Z3 term."""
    bits = geometry.log_max_packed
    field = geometry.max_packed - 1
    full = (packed & PACKED_FULL_BIT) != 0
    limit = geometry.max_packed
    return (
        words.ite(full, limit, packed & field),
        words.ite(full, limit, words.lshr(packed, bits) & field),
        words.ite(full, limit, words.lshr(packed, 2 * bits) & field),
    )


def is_packable(t: Triple, geometry: Geometry) -> Any:
    """The triples pack accepts: fields within the limit, start and end at most max,
    and max equal to the limit only for the fully free (limit, limit, limit)."""
    start, most, end = t
    limit = geometry.max_packed
    ok_range = words.ule(start, most)
    ok_end = words.ule(end, most)
    ok_limit = words.ule(most, limit)
    ok_full = words.implies(most == limit, words.both(start == limit, end == limit))
    return words.all_of(ok_range, ok_end, ok_limit, ok_full)


def pack(s: Summary, geometry: Geometry) -> int:
    """Pack a summary, refusing one that Go's encoding would silently truncate."""
    if not is_packable(s.as_tuple(), geometry):
        raise ParameterError(
            f"summary {s.as_tuple()} cannot be packed: fields must be at most "
            f"{geometry.max_packed} and only a fully free summary may reach it"
        )
    return pack_triple(s.as_tuple(), geometry)


def unpack(packed: int, geometry: Geometry) -> Summary:
    """Unpack a 64-bit packed summary; raises if its fields are inconsistent."""
    if not isinstance(packed, int) or isinstance(packed, bool) or not 0 <= packed <= words.MASK64:
        raise ParameterError(f"packed summary must be a 64-bit unsigned integer, got {packed!r}")
    return Summary(*unpack_triple(packed, geometry))
