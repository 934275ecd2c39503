"""Definitions as Z3 formulas: what the proofs check the model against, written independently of it.

* Per-length and per-position constraints on bit-vectors, for properties of
  64-bit words (and of a few words): "the start of a word is at least L
  exactly when its low L pages are free", with one constraint per L or per
  page (word_summary_definition, valid_summary).
* model.spec's scans as formulas: first_fit_formula is "the lowest start at
  or after `from` of n free pages" over a bitmap of symbolic words, and
  scans_as_formulas() puts it in place of model.spec.first_fit and
  first_free while model code is explored (their page-by-page loops would
  follow one path per bit pattern). tests/proofs/test_definitions.py checks
  each formula against the function it stands for; chunk_search proves the
  functions themselves on bounded bitmaps.
* For regions of any width, quantified definitions over an uninterpreted
  content: see proofs.regions.
Where model.spec's definition has no data-dependent branch the proofs call
it directly on Z3 terms instead (spec.range_mask, spec.fill_aligned, ...).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import z3

from model import spec

WORD = 64


def low(n: int) -> int:
    """The mask of bits [0, n)."""
    return (1 << n) - 1


def window(p: int, n: int) -> int:
    """The mask of bits [p, p+n)."""
    return low(n) << p


def bv(value: int, width: int = WORD) -> Any:
    return z3.BitVecVal(value, width)


def bit_set(x: Any, i: int) -> Any:
    """Bit i of bit-vector x is 1 (a Boolean term)."""
    return z3.Extract(i, i, x) == 1


def at_least(v: Any, n: int) -> Any:
    """v >= n, unsigned for bit-vectors."""
    return z3.UGE(v, n) if z3.is_bv(v) else v >= n


def at_most(v: Any, n: int) -> Any:
    return z3.ULE(v, n) if z3.is_bv(v) else v <= n


def all_free(x: Any, mask: int) -> Any:
    """Every page of `mask` is free in the in-use word x."""
    return x & mask == 0


def has_free_window(x: Any, length: int, width: int = WORD) -> Any:
    """Some run of `length` consecutive free pages in the in-use bit-vector x."""
    return z3.Or([all_free(x, window(p, length)) for p in range(width - length + 1)])


def count_ones(x: Any, width: int = WORD) -> Any:
    """Number of set bits of x, as a 64-bit value, summed bit by bit."""
    total = bv(0)
    for i in range(width):
        total = total + z3.ZeroExt(WORD - 1, z3.Extract(i, i, x))
    return total


def addition_chain(term: Any) -> list[Any] | None:
    """The summands of ((0 + t0) + t1) + ... + tk, or None if term has another shape."""
    summands = []
    while z3.is_add(term) or z3.is_app_of(term, z3.Z3_OP_BADD):
        if term.num_args() != 2:
            return None
        summands.append(term.arg(1))
        term = term.arg(0)
    if not (z3.is_int_value(term) or z3.is_bv_value(term)) or term.as_long() != 0:
        return None
    summands.reverse()
    return summands


def is_value_of_length(v: Any, holds_at: Any, top: int) -> Any:
    """v is the largest L in [0, top] for which holds_at(L) is true, given that holds_at is
    monotone (true up to some L, false after): per length, v >= L exactly when holds_at(L)."""
    bounds = [at_most(v, top)] if z3.is_bv(v) else [v >= 0, v <= top]
    return z3.And(bounds + [at_least(v, n) == holds_at(n) for n in range(1, top + 1)])


def word_summary_definition(x: Any, s: Any, m: Any, e: Any, width: int = WORD) -> list[Any]:
    """(s, m, e) is the summary of the in-use bit-vector x of `width` pages, per length:
    s >= L iff the low L pages are free, e >= L iff the high L pages are, m >= L iff
    some L consecutive pages are."""
    return [
        is_value_of_length(s, lambda n: all_free(x, low(n)), width),
        is_value_of_length(e, lambda n: all_free(x, window(width - n, n)), width),
        is_value_of_length(m, lambda n: has_free_window(x, n, width), width),
    ]


def valid_summary(s: Any, m: Any, e: Any, w: Any) -> Any:
    """What every real summary of a region of width w satisfies (proved in merge_assoc):
    start and end at most max at most w; fully free exactly when any field is w; and
    otherwise the start and end runs are separated by a page in use."""
    return z3.And(
        0 <= s,
        s <= m,
        0 <= e,
        e <= m,
        m <= w,
        (s == w) == (m == w),
        (e == w) == (m == w),
        z3.Or(m == w, s + e < w),
    )


# model.spec's scans as formulas, and their use in place of the scans while exploring.


def as_bv(v: Any, width: int = WORD) -> Any:
    """An int or a bit-vector as a bit-vector of `width` bits (zero-extended)."""
    if isinstance(v, int):
        return z3.BitVecVal(v, width)
    if v.size() < width:
        return z3.ZeroExt(width - v.size(), v)
    return v


def pages_vector(ws: Any) -> Any:
    """A bitmap's words as one bit-vector, page i being bit i."""
    terms = [as_bv(w) for w in ws]
    return terms[0] if len(terms) == 1 else z3.Concat(*reversed(terms))


def fits_at(x: Any, width: int, q: int, n: Any, from_idx: Any) -> Any:
    """Pages [q, q + n) of the in-use vector x (of `width` pages) are free and q >= from_idx."""
    nw = as_bv(n, width)
    mask = (z3.BitVecVal(1, width) << nw) - 1
    inside = z3.ULE(as_bv(n, WORD), width - q)
    return z3.And(z3.ULE(as_bv(from_idx, WORD), q), inside, z3.LShR(x, q) & mask == 0)


def first_fit_formula(ws: Any, n: Any, from_idx: Any) -> tuple[Any, Any]:
    """(some fit exists, the lowest fit) for model.spec.first_fit(ws, n, from_idx), n >= 1: the
    lowest q >= from_idx with pages [q, q + n) free and inside the bitmap."""
    width = WORD * len(ws)
    x = pages_vector(ws)
    fits = [fits_at(x, width, q, n, from_idx) for q in range(width)]
    lowest: Any = bv(width)
    for q in reversed(range(width)):
        lowest = z3.If(fits[q], bv(q), lowest)
    return z3.Or(fits), lowest


def _concrete(*values: Any) -> bool:
    flat: list[Any] = []
    for v in values:
        flat.extend(v if isinstance(v, list | tuple) else [v])
    return all(isinstance(v, int) for v in flat)


def first_fit_twin(b: Any, npages: Any, from_idx: Any = 0) -> Any:
    """model.spec.first_fit for symbolic bitmaps: the explorer decides whether a fit exists; if
    so the lowest fit as a term (first_fit_formula), else None. Ints go to the definition."""
    if _concrete(list(b), npages, from_idx):
        return ORIGINAL_FIRST_FIT(list(b), npages, from_idx)
    exists, lowest = first_fit_formula(list(b), npages, from_idx)
    if exists:
        return lowest
    return None


def first_free_twin(b: Any, from_idx: Any = 0) -> Any:
    """model.spec.first_free for symbolic bitmaps (the first fit of one page)."""
    if _concrete(list(b), from_idx):
        return ORIGINAL_FIRST_FREE(list(b), from_idx)
    return first_fit_twin(b, 1, from_idx)


ORIGINAL_FIRST_FIT = spec.first_fit
ORIGINAL_FIRST_FREE = spec.first_free


@contextmanager
def scans_as_formulas() -> Iterator[None]:
    """Run model code with model.spec.first_fit and first_free replaced by their formulas.

    The scans are definitions, not mechanisms (model.bitmap.find_in_chunk is
    built from them), and stop at the first hit, so exploring them page by
    page would follow one path per bit pattern; their formulas give the same
    answer as one term. tests/proofs/test_definitions.py checks formula and
    function agree."""
    saved = spec.first_fit, spec.first_free
    spec.first_fit, spec.first_free = first_fit_twin, first_free_twin  # type: ignore[assignment]
    try:
        yield
    finally:
        spec.first_fit, spec.first_free = saved  # type: ignore[assignment]
