"""Bitmap operations against brute force: findBitRange64, fillAligned, ranges, the in-chunk search (model/bitmap.py)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from model import bitmap
from tests.helpers import bits_of, word64


@given(word64, st.integers(1, 64))
def test_find_bit_range64(c: int, n: int) -> None:
    want = next((i for i in range(64 - n + 1) if all((c >> j) & 1 for j in range(i, i + n))), None)
    got = bitmap.find_bit_range64(c, n)
    if want is None:
        assert got >= 64
    else:
        assert got == want


@given(word64, st.sampled_from([1, 2, 4, 8, 16, 32, 64]))
def test_fill_aligned(x: int, m: int) -> None:
    want = 0
    for g in range(0, 64, m):
        group = ((1 << m) - 1) << g
        if x & group:
            want |= group
    assert bitmap.fill_aligned(x, m) == want


@given(st.lists(word64, min_size=8, max_size=8), st.integers(0, 511), st.integers(1, 512))
def test_set_clear_popcnt_range(ws: list[int], i: int, n: int) -> None:
    n = min(n, 512 - i)
    inside = set(range(i, i + n))
    flags = [f for w in ws for f in bits_of(w)]
    b = list(ws)
    assert bitmap.popcnt_range(b, i, n) == sum(flags[p] for p in inside)
    bitmap.set_range(b, i, n)
    assert [bitmap.get(b, p) for p in range(512)] == [1 if p in inside else flags[p] for p in range(512)]
    bitmap.clear_range(b, i, n)
    assert [bitmap.get(b, p) for p in range(512)] == [0 if p in inside else flags[p] for p in range(512)]


@given(st.lists(word64, min_size=8, max_size=8), st.integers(1, 600), st.integers(0, 511))
def test_find_in_chunk_is_first_fit_from_the_search_word(ws: list[int], n: int, search: int) -> None:
    flags = [f for w in ws for f in bits_of(w)]
    lo = search - search % 64
    fit = next((p for p in range(lo, 512 - n + 1) if not any(flags[p : p + n])), None)
    first = next((p for p in range(lo, 512) if not flags[p]), None)
    assert bitmap.find_in_chunk(ws, n, search) == (fit, first)
