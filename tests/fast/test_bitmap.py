"""fast.bitmap against the model's bitmap operations, on whole chunks read as ints.

The properties draw words biased towards runs, full and empty words (where
searches have their edge cases) and compare each search with the model's
word-by-word definition.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fast import bitmap as fbits
from model import bitmap as mbitmap
from tests.helpers import as_int, chunk_bits, words

MASK64 = (1 << 64) - 1
SETTINGS = settings(max_examples=150, deadline=None)


@SETTINGS
@given(words(), st.integers(1, 64))
def test_find_run_equals_find_bit_range64(word: int, n: int) -> None:
    want = mbitmap.find_bit_range64(word, n)
    assert fbits.find_run(word, n) == (want if want < 64 else None)


@SETTINGS
@given(st.sampled_from([1, 8]).flatmap(chunk_bits), st.integers(1, 600), st.integers(0, 511))
def test_find_in_chunk_equals_model(ws: list[int], npages: int, search: int) -> None:
    width = 64 * len(ws)
    search %= width
    assert fbits.find_in_chunk(as_int(ws), npages, search, width) == mbitmap.find_in_chunk(ws, npages, search)


@SETTINGS
@given(chunk_bits(8), st.sampled_from([1, 2, 4, 8, 16, 32, 64]))
def test_fill_aligned_equals_model_word_by_word(ws: list[int], m: int) -> None:
    filled = fbits.fill_aligned(as_int(ws), m, 512)
    assert filled == as_int([mbitmap.fill_aligned(w, m) for w in ws])


def test_find_run_across_words_and_fill_aligned_refuses_a_bad_group() -> None:
    # A run of 70 set bits straddling the first word boundary, after a shorter run of 65.
    free = ((1 << 65) - 1) << 200 | ((1 << 70) - 1) << 40
    assert fbits.find_run(free, 65) == 40
    assert fbits.find_run(free, 70) == 40
    assert fbits.find_run(free, 71) is None
    with pytest.raises(ValueError, match="power of two"):
        fbits.fill_aligned(1, 3, 64)
