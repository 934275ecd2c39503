"""Proofs about the word-level bit searches and range updates of model.bitmap."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import attrs
import z3

from model import bitmap, words
from proofs import broken
from proofs.core import Claim, Obligation, Proof
from proofs.definitions import WORD, all_set, bit_set, bv, count_ones, window

CHUNK_WORDS = 8  # Go's 512-page chunk
FILL_SIZES = (1, 2, 4, 8, 16, 32, 64)


def find_bit_range64_proof(find: Callable[[Any, int], Any]) -> Iterator[Obligation]:
    """findBitRange64(c, n) returns the lowest i such that bits [i, i+n) of c are all set, or a
    value >= 64 when there is none, for every 64-bit c and every 1 <= n <= 64.

    The model's loop runs on n (a Python int), so the claim is made for each
    n from 1 to 64 separately, with c symbolic; the expected answer is the
    If-chain over the 65-n possible windows, lowest first.
    """
    c = z3.BitVec("c", WORD)
    for n in range(1, WORD + 1):
        got = find(c, n)
        fits = [all_set(c, window(i, n)) for i in range(WORD - n + 1)]
        lowest: Any = bv(WORD)
        for i in reversed(range(len(fits))):
            lowest = z3.If(fits[i], bv(i), lowest)
        claim = z3.If(z3.Or(fits), got == lowest, z3.UGE(got, WORD))
        yield Claim(f"n = {n}", claim, show=[("c", c), ("n", bv(n)), ("returned", got)], logic="QF_BV")


FIND_BIT_RANGE = Proof(
    "find_bit_range64",
    "findBitRange64(c, n) is the lowest i with bits [i, i+n) of c set, or >= 64 if none, 1 <= n <= 64",
    find_bit_range64_proof,
    bitmap.find_bit_range64,
    broken.find_bit_range64_off_by_one,
    expected_seconds=2.0,
    control="findBitRange64 shrinking runs by n, not n-1",
)


def fill_aligned_proof(fill: Callable[[Any, int], Any]) -> Iterator[Obligation]:
    """fillAligned(x, m) sets a whole m-aligned group of m bits exactly when some bit of the
    group is set in x, and clears it otherwise, for every 64-bit x and m in 1, 2, 4, ..., 64."""
    x = z3.BitVec("x", WORD)
    for m in FILL_SIZES:
        got = fill(x, m)
        groups = [window(g, m) for g in range(0, WORD, m)]
        claim = z3.And([got & g == z3.If(x & g != 0, bv(g), bv(0)) for g in groups])
        yield Claim(f"m = {m}", claim, show=[("x", x), ("m", bv(m)), ("returned", got)], logic="QF_BV")


FILL_ALIGNED = Proof(
    "fill_aligned",
    "fillAligned(x, m) sets each m-aligned group exactly when any of its bits is set, m = 1..64",
    fill_aligned_proof,
    bitmap.fill_aligned,
    broken.fill_aligned_short_spread,
    control="fillAligned spreading one bit short",
)


@attrs.frozen
class RangeOps:
    range_mask: Callable[[int, Any, Any], Any]
    set_range: Callable[[list[Any], Any, Any], None]
    clear_range: Callable[[list[Any], Any, Any], None]
    popcnt_range: Callable[[list[Any], Any, Any], Any]


def chunk_words(name: str, count: int = CHUNK_WORDS) -> list[Any]:
    return [z3.BitVec(f"{name}{k}", WORD) for k in range(count)]


def page_bit(words_: list[Any], page: int) -> Any:
    return bit_set(words_[page // WORD], page % WORD)


def in_range(i: Any, n: Any, page: int) -> Any:
    return z3.And(z3.ULE(i, page), z3.ULT(page, i + n))


def range_bounds(i: Any, n: Any, pages: int) -> list[Any]:
    """i and n describe a range inside a chunk of `pages` pages (no wrap-around in i + n)."""
    return [z3.ULE(i, pages), z3.ULE(n, pages), z3.ULE(i + n, pages)]


def alloc_free_bits(ops: RangeOps) -> Iterator[Obligation]:
    """allocRange(i, n) sets exactly bits [i, i+n) of a chunk's bitmap and free clears exactly
    them, across word boundaries, and popcntRange(i, n) counts the set bits among them.

    For a whole 512-page chunk of 8 symbolic words and every range
    0 <= i, 0 <= n, i + n <= 512 (i and n symbolic), page by page:
      1. range_mask(k, i, n) has bit j set exactly when page 64k + j is in
         [i, i+n), for each of the 8 words;
      2. set_range leaves page p set if i <= p < i+n and as it was otherwise;
      3. clear_range leaves it clear inside and as it was outside;
      4. popcnt_range(b, i, n) is the term sum over k of
         popcount(b[k] & range_mask(k, i, n)), and popcount(x) is the sum of
         x's bits. With 1, the words b[k] & range_mask(k, i, n) hold exactly
         the pages of the range, so popcnt_range counts the set pages of
         [i, i+n). (Counting is split this way because Z3 is slow to compare
         two different adder trees of 512 bits; each step is a query.)
    The model's alloc_range does, per chunk, popcnt_range on the scavenged
    bitmap (its return value), set_range on the allocation bitmap and
    clear_range on the scavenged one; free does clear_range on the
    allocation bitmap.
    """
    pages = CHUNK_WORDS * WORD
    b = chunk_words("w")
    i, n = z3.BitVecs("i n", WORD)
    bounds = range_bounds(i, n, pages)
    show = [("i", i), ("n", n)] + [(f"w{k}", w) for k, w in enumerate(b)]
    set_after, clear_after = list(b), list(b)
    ops.set_range(set_after, i, n)
    ops.clear_range(clear_after, i, n)
    for k in range(CHUNK_WORDS):
        here = range(WORD * k, WORD * (k + 1))
        yield Claim(
            f"range_mask of word {k} holds exactly its pages in [i, i+n)",
            z3.And([bit_set(ops.range_mask(k, i, n), p % WORD) == in_range(i, n, p) for p in here]),
            bounds,
            [("i", i), ("n", n)],
            logic="QF_BV",
        )
        yield Claim(
            f"set_range sets exactly the pages of word {k} in [i, i+n)",
            z3.And([page_bit(set_after, p) == z3.Or(in_range(i, n, p), page_bit(b, p)) for p in here]),
            bounds,
            show,
            logic="QF_BV",
        )
        yield Claim(
            f"clear_range clears exactly the pages of word {k} in [i, i+n)",
            z3.And([page_bit(clear_after, p) == z3.And(z3.Not(in_range(i, n, p)), page_bit(b, p)) for p in here]),
            bounds,
            show,
            logic="QF_BV",
        )
    per_word = sum((words.popcount(b[k] & ops.range_mask(k, i, n)) for k in range(CHUNK_WORDS)), bv(0))
    yield Claim(
        "popcnt_range is the popcount of each word's part of the range",
        ops.popcnt_range(list(b), i, n) == per_word,
        bounds,
        show,
        logic="QF_BV",
    )
    x = z3.BitVec("x", WORD)
    yield Claim("popcount is the number of set bits", words.popcount(x) == count_ones(x), show=[("x", x)])


ALLOC_FREE_BITS = Proof(
    "alloc_free_bits",
    "allocRange(i, n) sets exactly bits [i, i+n), free clears exactly them, popcntRange counts them",
    alloc_free_bits,
    RangeOps(bitmap.range_mask, bitmap.set_range, bitmap.clear_range, bitmap.popcnt_range),
    RangeOps(
        broken.range_mask_one_past,
        broken.set_range_one_past,
        broken.clear_range_one_past,
        broken.popcnt_range_one_past,
    ),
    expected_seconds=2.0,
    control="range masks one page past the end",
)

PROOFS = (FIND_BIT_RANGE, ALLOC_FREE_BITS, FILL_ALIGNED)
