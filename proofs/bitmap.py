"""Proofs about the word-level bit searches and range updates of model.bitmap.

The expected values are model.spec's definitions evaluated on the same Z3
terms (spec.find_bit_range64, spec.fill_aligned, spec.range_mask), so each
claim is "mechanism == definition" for every input.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import z3

from model import bitmap, spec, words
from proofs.core import Check, Claim, Obligation, Proof
from proofs.definitions import WORD, bit_set, bv, count_ones
from proofs.symbolic import explore

CHUNK_WORDS = 8  # Go's 512-page chunk
FILL_SIZES = (1, 2, 4, 8, 16, 32, 64)


def find_bit_range64_proof() -> Iterator[Obligation]:
    """findBitRange64(c, n) returns the lowest i such that bits [i, i+n) of c are all set, or a
    value >= 64 when there is none, for every 64-bit c and every 1 <= n <= 64.

    The model's loop runs on n (a Python int), so the claim is made for each
    n from 1 to 64 separately, with c symbolic; the expected answer is
    model.spec.find_bit_range64 on the same term (the lowest of the 65-n
    windows, 64 for none). The model uses it for page-cache allocations of
    more than one page (model.pagecache).
    """
    c = z3.BitVec("c", WORD)
    for n in range(1, WORD + 1):
        got = bitmap.find_bit_range64(c, n)
        want = spec.find_bit_range64(c, n)
        claim = z3.If(z3.ULT(want, WORD), got == want, z3.UGE(got, WORD))
        yield Claim(f"n = {n}", claim, show=[("c", c), ("n", bv(n)), ("returned", got)], logic="QF_BV")


FIND_BIT_RANGE = Proof(
    "find_bit_range64",
    "findBitRange64(c, n) is the lowest i with bits [i, i+n) of c set, or >= 64 if none, 1 <= n <= 64",
    find_bit_range64_proof,
    "find_bit_range64_shrinks_by_n",
    expected_seconds=2.0,
)


def fill_aligned_proof() -> Iterator[Obligation]:
    """fillAligned(x, m) sets a whole m-aligned group of m bits exactly when some bit of the
    group is set in x, and clears it otherwise, for every 64-bit x and m in 1, 2, 4, ..., 64
    (model.spec.fill_aligned on the same term)."""
    x = z3.BitVec("x", WORD)
    for m in FILL_SIZES:
        got = bitmap.fill_aligned(x, m)
        want = spec.fill_aligned(x, m)
        yield Claim(f"m = {m}", got == want, show=[("x", x), ("m", bv(m)), ("returned", got)], logic="QF_BV")


FILL_ALIGNED = Proof(
    "fill_aligned",
    "fillAligned(x, m) sets each m-aligned group exactly when any of its bits is set, m = 1..64",
    fill_aligned_proof,
    "fill_aligned_short_spread",
)


def chunk_words(name: str, count: int = CHUNK_WORDS) -> list[Any]:
    return [z3.BitVec(f"{name}{k}", WORD) for k in range(count)]


def page_bit(words_: list[Any], page: int) -> Any:
    return bit_set(words_[page // WORD], page % WORD)


def in_range(i: Any, n: Any, page: int) -> Any:
    return z3.And(z3.ULE(i, page), z3.ULT(page, i + n))


def range_bounds(i: Any, n: Any, pages: int) -> list[Any]:
    """i and n describe a range inside a chunk of `pages` pages (no wrap-around in i + n)."""
    return [z3.ULE(i, pages), z3.ULE(n, pages), z3.ULE(i + n, pages)]


def alloc_free_bits() -> Iterator[Obligation]:
    """allocRange(i, n) sets exactly bits [i, i+n) of a chunk's bitmap and free clears exactly
    them, across word boundaries, and popcntRange(i, n) counts the set bits among them, on the
    symbolic path and on the path ints take.

    For a whole 512-page chunk of 8 symbolic words and every range
    0 <= i, 0 <= n, i + n <= 512 (i and n symbolic), page by page:
      1. range_mask(k, i, n) equals model.spec.range_mask(k, i, n) (the
         pages of word k inside [i, i+n), page by page), for each word;
      2. set_range leaves page p set if i <= p < i+n and as it was otherwise;
      3. clear_range leaves it clear inside and as it was outside;
      4. popcnt_range(b, i, n) is the sum over k of
         popcount(b[k] & range_mask(k, i, n)), and popcount(x) is the sum of
         x's bits. With 1, the words b[k] & range_mask(k, i, n) hold exactly
         the pages of the range, so popcnt_range counts the set pages of
         [i, i+n). (Counting is split this way because Z3 is slow to compare
         two different adder trees of 512 bits; each step is a query.)
      5. The path ints take: for int i and n the three functions visit only
         the words touched_bounds(i, n, 8) gives, instead of all 8. Run on
         the same symbolic i and n along every path of its min/max and
         floor division (proofs.symbolic), every word outside those bounds
         has range_mask 0, so skipping it changes nothing (|= 0, &= ~0 and
         popcount(x & 0) = 0).
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
    bitmap.set_range(set_after, i, n)
    bitmap.clear_range(clear_after, i, n)
    for k in range(CHUNK_WORDS):
        here = range(WORD * k, WORD * (k + 1))
        yield Claim(
            f"range_mask of word {k} is its pages in [i, i+n)",
            bitmap.range_mask(k, i, n) == spec.range_mask(k, i, n),
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
    per_word = sum((words.popcount(b[k] & bitmap.range_mask(k, i, n)) for k in range(CHUNK_WORDS)), bv(0))
    yield Claim(
        "popcnt_range is the popcount of each word's part of the range",
        bitmap.popcnt_range(list(b), i, n) == per_word,
        bounds,
        show,
        logic="QF_BV",
    )
    x = z3.BitVec("x", WORD)
    yield Claim("popcount is the number of set bits", words.popcount(x) == count_ones(x), show=[("x", x)])
    yield _touched_words(i, n, bounds)


def _touched_words(i: Any, n: Any, bounds: list[Any]) -> Obligation:
    paths = explore(lambda: bitmap.touched_bounds(i, n, CHUNK_WORDS), bounds, logic="QF_BV")
    claims = []
    for path in paths:
        if path.raised is not None:
            claims.append(z3.Not(path.when()))
            continue
        lo, hi = (bv(v) if isinstance(v, int) else v for v in path.value)
        skipped_empty = [
            z3.Implies(z3.Or(k < lo, k >= hi), bitmap.range_mask(k, i, n) == 0) for k in range(CHUNK_WORDS)
        ]
        claims.append(z3.Implies(path.when(), z3.And(skipped_empty)))
    return Claim(
        f"the words ints skip have no page in [i, i+n) ({len(paths)} paths)",
        z3.And(claims),
        bounds,
        [("i", i), ("n", n)],
        logic="QF_BV",
    )


ALLOC_FREE_BITS = Proof(
    "alloc_free_bits",
    "allocRange(i, n) sets exactly bits [i, i+n), free clears exactly them, popcntRange counts them "
    "(symbolic and int paths)",
    alloc_free_bits,
    "range_mask_one_past",
    expected_seconds=3.0,
)



SCAN_PAGES = 6  # every pattern of the first 6 pages of a region
SEARCH_INDICES = (0, 63, *range(WORD, WORD + SCAN_PAGES + 2))  # in the full lower word, or the pattern's


def _regions() -> Iterator[tuple[str, list[int]]]:
    """Two-word bitmaps: every pattern of 6 pages at the start of the upper word, the lower word
    full, and the pages after the pattern all in use or all free."""
    for pattern in range(1 << SCAN_PAGES):
        for rest_free in (False, True):
            rest = 0 if rest_free else words.MASK64 & ~((1 << SCAN_PAGES) - 1)
            label = f"pattern {pattern:#04x}, rest {'free' if rest_free else 'in use'}"
            yield label, [words.MASK64, rest | pattern]


def _first_fit_by_windows(b: list[int], n: int, start: int) -> int | None:
    pages = WORD * len(b)
    free = [not (b[p // WORD] >> (p % WORD)) & 1 for p in range(pages)]
    return next((q for q in range(start, pages - n + 1) if all(free[q : q + n])), None)


def chunk_search() -> Iterator[Obligation]:
    """The in-chunk search the model runs, model.bitmap.find_in_chunk with the scans it is made of
    (model.spec.first_fit and first_free), returns the lowest run of n free pages starting at or
    after the 64-page word holding the search index, and the first free page from that word.

    The scans walk pages one at a time, so the proof is an exhaustive check
    on a bounded domain (the symbolic proofs use the scans' formulas, which
    tests/proofs/test_definitions.py checks against them): two-word bitmaps
    whose lower word is full, with every pattern of the upper word's first 6
    pages and the rest of it all in use or all free; every n from 1 to 8
    and search indices in the full lower word (its first page and its last)
    and the upper word's first 8 pages, so the rounding down to the
    word, the skip over a full word and runs crossing into the rest of the
    word all occur. The expected values are
    taken window by window (the lowest start whose n pages are all free).
    Why the bound carries (written): the scans keep only a run length and
    the position, so every run of pages and every position relative to a
    word boundary that they can meet occurs here.
    """

    def run() -> str | None:
        for label, b in _regions():
            for n in range(1, SCAN_PAGES + 3):
                for search in SEARCH_INDICES:
                    word_start = search - search % WORD
                    want = (_first_fit_by_windows(b, n, word_start), _first_fit_by_windows(b, 1, word_start))
                    got = bitmap.find_in_chunk(b, n, search)
                    if got != want:
                        return f"{label}, n={n}, search index {search}: got {got}, want {want}"
        return None

    yield Check("find_in_chunk on every bounded bitmap, n and search index", run)


CHUNK_SEARCH = Proof(
    "chunk_search",
    "find_in_chunk (spec.first_fit and first_free from the search index's word) is the first fit and first "
    "free page, exhaustively on bounded bitmaps",
    chunk_search,
    "first_fit_one_early",
    expected_seconds=2.0,
)

PROOFS = (FIND_BIT_RANGE, ALLOC_FREE_BITS, FILL_ALIGNED, CHUNK_SEARCH)
