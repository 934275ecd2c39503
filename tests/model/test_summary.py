"""Summaries against their definition: summarize, merge and the packed encoding (model/summary.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model import bitmap
from model.errors import ParameterError
from model.geometry import AMD64
from model.summary import Summary, merge_pair, pack, summarize_chunk, summarize_word, unpack
from tests.helpers import bits_of, free_runs, word64


@given(word64)
def test_summarize_word_is_the_definition(x: int) -> None:
    assert summarize_word(x) == free_runs(bits_of(x))


@given(st.lists(word64, min_size=8, max_size=8))
def test_summarize_chunk_is_the_definition(ws: list[int]) -> None:
    flags = [f for w in ws for f in bits_of(w)]
    assert summarize_chunk(ws).as_tuple() == free_runs(flags)


def test_a_chunk_with_free_runs_at_both_ends_and_inside() -> None:
    """3 free pages at the start, 7 at the end, and the longest run, 10, inside."""
    bits = bitmap.new_bits(8, True)
    bitmap.clear_range(bits, 0, 3)
    bitmap.clear_range(bits, 200, 10)
    bitmap.clear_range(bits, 505, 7)
    assert summarize_chunk(bits) == Summary(3, 10, 7)


def test_all_free_and_all_in_use_chunks() -> None:
    assert summarize_chunk(bitmap.new_bits(8, False)) == Summary(512, 512, 512)
    assert summarize_chunk(bitmap.new_bits(8, True)) == Summary(0, 0, 0)


@given(word64, word64)
def test_merge_pair_is_concatenation(a: int, b: int) -> None:
    assert merge_pair(summarize_word(a), 64, summarize_word(b), 64) == free_runs(bits_of(a) + bits_of(b))


def test_merge_fully_free_children_adds_widths() -> None:
    assert merge_pair((64, 64, 64), 64, (64, 64, 64), 64) == (128, 128, 128)
    assert merge_pair((64, 64, 64), 64, (3, 10, 7), 512) == (67, 67, 7)
    assert merge_pair((3, 10, 7), 512, (512, 512, 512), 512) == (3, 519, 519)


@given(st.integers(0, 2**21), st.integers(0, 2**21), st.integers(0, 2**21))
def test_pack_roundtrip_or_refusal(s: int, m: int, e: int) -> None:
    triple = Summary.__new__(Summary)  # bypass validation to probe pack's own checks
    object.__setattr__(triple, "start", s)
    object.__setattr__(triple, "max", m)
    object.__setattr__(triple, "end", e)
    valid = s <= m and e <= m and (m < 2**21 or s == e == m)
    if valid:
        assert unpack(pack(triple, AMD64), AMD64).as_tuple() == (s, m, e)
    else:
        with pytest.raises(ParameterError):
            pack(triple, AMD64)


def test_pack_fully_free_root_entry_is_the_top_bit() -> None:
    assert AMD64.log_max_packed == 21
    full = Summary.free(2**21)
    assert pack(full, AMD64) == 1 << 63
    assert unpack(1 << 63, AMD64) == full
    assert pack(Summary(1, 3, 2), AMD64) == 1 | (3 << 21) | (2 << 42)


def test_summary_value_rejects_inconsistent_triples() -> None:
    with pytest.raises(ParameterError):
        Summary(5, 3, 0)
    with pytest.raises(ParameterError):
        Summary(-1, 0, 0)
