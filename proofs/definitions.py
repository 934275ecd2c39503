"""The definitions the proofs check the model against, written independently of the model.

* Per-length and per-position constraints on bit-vectors, for properties of
  64-bit words (and of a few words): "the start of a word is at least L
  exactly when its low L pages are free", with one constraint per L or per
  page. Nothing here calls model code.
* For regions of any width, quantified definitions over an uninterpreted
  content: see proofs.regions.
"""

from __future__ import annotations

from typing import Any

import z3

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


def all_set(x: Any, mask: int) -> Any:
    return x & mask == mask


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
