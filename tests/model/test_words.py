"""Word-level rules against brute-force definitions: summaries, findBitRange64, fillAligned, ranges."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from model import bitmap, words
from model.errors import ParameterError
from model.geometry import AMD64, Geometry
from model.summary import Summary, merge_pair, pack, summarize_chunk, summarize_word, unpack

word64 = st.one_of(
    st.integers(0, words.MASK64),
    st.sampled_from([0, words.MASK64, 1, 1 << 63, 0x00FF00FF00FF00FF]),
    # sparse and dense words, so long runs of both kinds show up
    st.lists(st.integers(0, 63), max_size=4).map(lambda bs: sum({1 << b for b in bs})),
    st.lists(st.integers(0, 63), max_size=4).map(lambda bs: words.MASK64 ^ sum({1 << b for b in bs})),
)


def free_runs(bits: list[int]) -> tuple[int, int, int]:
    """(start, max, end) of a list of in-use flags, by counting."""
    n = len(bits)
    start = next((i for i, b in enumerate(bits) if b), n)
    end = next((i for i, b in enumerate(reversed(bits)) if b), n)
    longest = run = 0
    for b in bits:
        run = 0 if b else run + 1
        longest = max(longest, run)
    return start, longest, end


def bits_of(x: int, width: int = 64) -> list[int]:
    return [(x >> i) & 1 for i in range(width)]


@given(word64)
def test_summarize_word_is_the_definition(x: int) -> None:
    assert summarize_word(x) == free_runs(bits_of(x))


@given(st.lists(word64, min_size=8, max_size=8))
def test_summarize_chunk_is_the_definition(ws: list[int]) -> None:
    flags = [f for w in ws for f in bits_of(w)]
    assert summarize_chunk(ws).as_tuple() == free_runs(flags)


def test_seed_example_chunk() -> None:
    """The proposal's example: 3 free pages at the start, 7 at the end, longest run 10."""
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


def test_geometry_of_amd64() -> None:
    g = AMD64
    assert (g.levels, g.block_bits(0), g.block_bits(1), g.chunk_pages) == (5, 14, 3, 512)
    assert g.level_log_pages(0) == 21 and g.level_log_pages(4) == 9
    assert g.total_chunks == 2**26  # 48-bit addresses / 4 MiB chunks
    assert g.entry_of(0, 2**21) == 1 and g.entry_base(3, 1) == 4096


@pytest.mark.parametrize(
    "kwargs",
    [{"chunk_pages": 500}, {"chunk_pages": 32}, {"levels": 0}, {"page_bytes": 3}, {"level_bits": -1}],
)
def test_bad_geometry_is_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(ParameterError):
        Geometry(**kwargs)
