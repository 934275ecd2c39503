"""fast.summary against the model's definitions, value by value.

Each property draws bitmaps (biased towards runs, full and empty words,
which is where summaries have edge cases) and compares fast's scalar and
vectorised code with the model function it must equal.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from fast import summary as fsum
from model import summary as msum
from model.geometry import Geometry
from tests.helpers import as_int, chunk_bits

MASK64 = (1 << 64) - 1
SETTINGS = settings(max_examples=150, deadline=None)


@SETTINGS
@given(st.sampled_from([1, 2, 8]).flatmap(chunk_bits))
def test_summarize_int_equals_model(ws: list[int]) -> None:
    assert fsum.summarize_int(as_int(ws), 64 * len(ws)) == msum.summarize_chunk(ws).as_tuple()


@SETTINGS
@given(st.integers(1, 12), st.sampled_from([1, 2, 8]), st.data())
def test_summarize_rows_equals_scalar(nrows: int, nwords: int, data: st.DataObject) -> None:
    rows = [data.draw(chunk_bits(nwords)) for _ in range(nrows)]
    start, most, end = fsum.summarize_rows(np.array(rows, dtype=np.uint64))
    for k, ws in enumerate(rows):
        assert (int(start[k]), int(most[k]), int(end[k])) == msum.summarize_chunk(ws).as_tuple()


@st.composite
def summaries(draw: st.DrawFn, width: int) -> msum.Summary:
    kind = draw(st.sampled_from(["free", "zero", "any"]))
    if kind == "free":
        return msum.Summary.free(width)
    if kind == "zero":
        return msum.ZERO
    start = draw(st.integers(0, width - 1))
    end = draw(st.integers(0, width - 1 - start))
    most = draw(st.integers(max(start, end), max(start, end, width - start - end - 1)))
    return msum.Summary(start, most, end)


GEOMETRY = Geometry(chunk_pages=512)


@SETTINGS
@given(
    st.sampled_from([512, 4096, 32768]).flatmap(
        lambda w: st.tuples(st.just(w), st.lists(summaries(w), min_size=8, max_size=8))
    )
)
def test_merge_packed_and_rows_equal_model(case: tuple[int, list[msum.Summary]]) -> None:
    width, children = case
    codec = fsum.Codec(GEOMETRY.log_max_packed)
    packed = [msum.pack(c, GEOMETRY) for c in children]
    want = msum.pack(msum.merge_summaries(children, width), GEOMETRY)
    assert fsum.merge_packed(packed, width, codec) == want
    assert int(fsum.merge_rows(np.array([packed], dtype=np.uint64), width, codec)[0]) == want


@SETTINGS
@given(st.data())
def test_codec_equals_model_pack(data: st.DataObject) -> None:
    g = GEOMETRY
    codec = fsum.Codec(g.log_max_packed)
    s = data.draw(st.one_of(summaries(g.max_packed // 2), st.just(msum.Summary.free(g.max_packed))))
    packed = msum.pack(s, g)
    assert codec.pack(*s.as_tuple()) == packed
    assert codec.unpack(packed) == s.as_tuple()
    start, most, end = codec.unpack_arrays(np.array([packed], dtype=np.uint64))
    assert (int(start[0]), int(most[0]), int(end[0])) == s.as_tuple()
    assert int(codec.pack_arrays([s.start], [s.max], [s.end])[0]) == packed


def test_longest_one_run_on_known_values() -> None:
    assert fsum.longest_one_run(0) == 0
    assert fsum.longest_one_run(0b1011_1100_1110) == 4
    assert fsum.longest_one_run((1 << 512) - 1) == 512
    assert fsum.longest_one_run(((1 << 300) - 1) << 100 | 0b111) == 300


def test_vectorised_word_helpers_on_edges() -> None:
    x = np.array([0, 1, 1 << 63, MASK64, 0x00FF_0000_0000_FF00], dtype=np.uint64)
    assert fsum.trailing_zeros(x).tolist() == [64, 0, 63, 0, 8]
    assert fsum.leading_zeros(x).tolist() == [64, 63, 0, 0, 8]
    assert fsum.word_longest_zero_run(x).tolist() == [64, 63, 63, 0, 32]
    assert fsum.popcount(x).tolist() == [0, 1, 1, 64, 16]


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5), st.data())
def test_summarize_rows_of_wide_chunks_equals_model(nrows: int, data: st.DataObject) -> None:
    # 64 words: chunk_pages 4096, where runs cross many words and start, max and end reach 4096.
    rows = [data.draw(chunk_bits(64)) for _ in range(nrows)]
    start, most, end = fsum.summarize_rows(np.array(rows, dtype=np.uint64))
    for k, ws in enumerate(rows):
        assert (int(start[k]), int(most[k]), int(end[k])) == msum.summarize_chunk(ws).as_tuple()


@SETTINGS
@given(st.lists(st.integers(0, 7), min_size=1, max_size=6), st.sampled_from([8, 24, 64, 1 << 18]), st.data())
def test_summarize_row_groups_equals_model_across_groups_and_batches(
    sizes: list[int], batch_words: int, data: st.DataObject
) -> None:
    # Groups of any size (empty ones included), cut into batches and joined across groups in any way.
    groups = [np.array([data.draw(chunk_bits(8)) for _ in range(n)], dtype=np.uint64).reshape(n, 8) for n in sizes]
    start, most, end = fsum.summarize_row_groups(groups, batch_words)
    rows = [row.tolist() for g in groups for row in g]
    assert len(start) == len(rows)
    for k, ws in enumerate(rows):
        assert (int(start[k]), int(most[k]), int(end[k])) == msum.summarize_chunk(ws).as_tuple()


def test_summarize_rows_equals_model_on_the_bench_bitmaps() -> None:
    # Mixed random words, as the benchmark summarizes: most chunks are decided by runs across words,
    # the others by a run inside one word.
    rng = np.random.default_rng(7)
    a = rng.integers(0, 1 << 63, size=(3000, 8), dtype=np.uint64) << np.uint64(1)
    b = rng.integers(0, 1 << 63, size=(3000, 8), dtype=np.uint64)
    kind = rng.integers(0, 5, size=(3000, 8))
    bits = np.where(kind == 0, a & b, np.where(kind == 1, a | b, np.where(kind == 2, a ^ b, np.uint64(0))))
    bits = np.where(kind == 4, np.uint64(MASK64), bits).astype(np.uint64)
    start, most, end = fsum.summarize_rows(bits)
    for k, ws in enumerate(bits.tolist()):
        assert (int(start[k]), int(most[k]), int(end[k])) == msum.summarize_chunk(ws).as_tuple()


@SETTINGS
@given(st.lists(st.one_of(st.integers(0, 3), st.integers(0, MASK64)), min_size=1, max_size=40))
def test_word_helpers_equal_python_ints(ws: list[int]) -> None:
    x = np.array(ws, dtype=np.uint64)
    runs = [max((len(r) for r in f"{w:064b}".split("1")), default=0) for w in ws]
    assert fsum.trailing_zeros(x).tolist() == [64 if w == 0 else (w & -w).bit_length() - 1 for w in ws]
    assert fsum.leading_zeros(x).tolist() == [64 - w.bit_length() for w in ws]
    assert fsum.word_longest_zero_run(x).tolist() == runs
