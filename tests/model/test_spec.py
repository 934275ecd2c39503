"""The mechanisms of model/ against the plain definitions of model.spec, on random states."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from model import bitmap, pagecache, spec, summary, tree, words
from model.geometry import AMD64, Geometry
from model.pagealloc import PageAlloc
from model.scavenge import find_scavenge_candidate

SMALL = Geometry(chunk_pages=64, levels=3, root_bits=2, level_bits=1)  # 16 chunks of 64 pages
TWO_WORD = Geometry(chunk_pages=128, levels=2, root_bits=2, level_bits=1)  # 8 chunks of 128 pages

word64 = st.one_of(
    st.integers(0, words.MASK64),
    st.sampled_from([0, words.MASK64, 1, 1 << 63, 0x00FF00FF00FF00FF]),
    st.lists(st.integers(0, 63), max_size=4).map(lambda bs: sum({1 << b for b in bs})),
    st.lists(st.integers(0, 63), max_size=4).map(lambda bs: words.MASK64 ^ sum({1 << b for b in bs})),
)


def flags_of(ws: list[int]) -> list[bool]:
    return spec.page_flags(ws)


@st.composite
def heaps(draw: st.DrawFn, geometry: Geometry) -> dict[int, list[int]]:
    """Some grown chunks (with holes between them) and random allocation bitmaps."""
    chunks = draw(st.sets(st.integers(0, geometry.total_chunks - 1), min_size=1, max_size=6))
    return {c: draw(st.lists(word64, min_size=geometry.words_per_chunk, max_size=geometry.words_per_chunk))
            for c in chunks}


def heap_of(alloc: dict[int, list[int]], geometry: Geometry) -> PageAlloc:
    """A PageAlloc holding exactly these bitmaps (unscavenged), its tree and the scavenge index's
    page counts made from them."""
    pa = PageAlloc(geometry)
    for c in sorted(alloc):
        pa.grow(c, 1)
    for c, ws in alloc.items():
        pa.chunks[c].alloc[:] = ws
        pa.chunks[c].scavenged[:] = [0] * geometry.words_per_chunk
        pa.scav.data(c).in_use = sum(words.popcount(w) for w in ws)
    pa.tree = tree.summarize_levels({c: d.alloc for c, d in pa.chunks.items()}, geometry)
    return pa


# Summaries and the tree.


@given(word64)
def test_summarize_word_is_the_summary_by_definition(x: int) -> None:
    assert summary.summarize_word(x) == spec.summary_of(flags_of([x]))


@given(st.lists(word64, min_size=1, max_size=8))
def test_summarize_chunk_is_the_summary_by_definition(ws: list[int]) -> None:
    assert summary.summarize_chunk(ws).as_tuple() == spec.summary_of(flags_of(ws))


@given(st.lists(st.booleans(), max_size=80), st.lists(st.booleans(), max_size=80))
def test_merge_pair_is_the_summary_of_the_concatenation(a: list[bool], b: list[bool]) -> None:
    merged = summary.merge_pair(spec.summary_of(a), len(a), spec.summary_of(b), len(b))
    assert merged == spec.summary_of(a + b)


@given(st.integers(1, 8), st.integers(1, 40), st.data())
def test_merge_row_is_the_summary_of_the_row(children: int, width: int, data: st.DataObject) -> None:
    rows = [data.draw(st.lists(st.booleans(), min_size=width, max_size=width)) for _ in range(children)]
    merged = summary.merge_row([spec.summary_of(r) for r in rows], width)
    assert merged == spec.summary_of([f for r in rows for f in r])


@settings(max_examples=60, deadline=None)
@given(heaps(SMALL))
def test_summarize_levels_is_every_level_by_definition(alloc: dict[int, list[int]]) -> None:
    stored = tree.summarize_levels(alloc, SMALL)
    assert [{k: s.as_tuple() for k, s in level.items()} for level in stored] == spec.level_summaries(alloc, SMALL)


@settings(max_examples=60, deadline=None)
@given(heaps(SMALL), st.lists(st.tuples(st.booleans(), st.integers(0, 16 * 64 - 1), st.integers(1, 200)), max_size=8))
def test_alloc_and_free_keep_every_level_equal_to_the_definition(
    alloc: dict[int, list[int]], ops: list[tuple[bool, int, int]]
) -> None:
    pa = heap_of(alloc, SMALL)
    for is_alloc, page, n in ops:
        if is_alloc:
            want = spec.heap_first_fit({c: d.alloc for c, d in pa.chunks.items()}, SMALL, n)
            assert pa.alloc(n).page == want
        else:
            n = min(n, SMALL.total_pages - page)
            if all(pa.in_heap(p) and pa.in_use(p) for p in range(page, page + n)):
                pa.free(page, n)
    levels = [{k: s.as_tuple() for k, s in level.items()} for level in pa.tree]
    assert levels == spec.level_summaries({c: d.alloc for c, d in pa.chunks.items()}, SMALL)


@settings(max_examples=80, deadline=None)
@given(heaps(SMALL), st.integers(1, 300), st.data())
def test_tree_find_is_first_fit_and_its_bound_is_below_the_first_free_page(
    alloc: dict[int, list[int]], n: int, data: st.DataObject
) -> None:
    pa = heap_of(alloc, SMALL)
    first_free = spec.heap_first_free(alloc, SMALL)
    top = SMALL.total_pages if first_free is None else first_free
    hint = data.draw(st.integers(0, top))
    assert spec.hint_below_in_use(alloc, SMALL, hint)
    page, bound = tree.tree_find(pa.tree, pa.alloc_bits, SMALL, n, hint)
    assert page == spec.heap_first_fit(alloc, SMALL, n)
    if page is not None:
        assert spec.hint_below_in_use(alloc, SMALL, bound)


# The allocator's operations keep the hint invariant and allocate the first fit.


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["alloc", "free", "fill", "scavenge"]), st.integers(1, 300)), max_size=25))
def test_operations_allocate_the_first_fit_and_keep_the_hint(ops: list[tuple[str, int]]) -> None:
    pa = PageAlloc(TWO_WORD, phys_page_pages=1, huge_page_pages=0)
    pa.grow(1, 2)
    pa.grow(5, 1)
    held: list[tuple[int, int]] = []
    caches: list[pagecache.PageCache] = []
    for op, n in ops:
        alloc = {c: d.alloc for c, d in pa.chunks.items()}
        if op == "alloc":
            want = spec.heap_first_fit(alloc, TWO_WORD, n)
            got = pa.alloc(n)
            assert got.page == want
            if got.page is not None:
                held.append((got.page, n))
        elif op == "free" and held:
            page, count = held.pop(n % len(held))
            pa.free(page, count)
        elif op == "fill":
            block = spec.cache_block(alloc, TWO_WORD)
            cache = pagecache.fill(pa)
            assert cache.base == block
            caches.append(cache)
        elif op == "scavenge":
            pa.scavenge(n)
        if op == "free" and caches:
            pagecache.flush(caches.pop(), pa)
        assert spec.hint_below_in_use({c: d.alloc for c, d in pa.chunks.items()}, TWO_WORD, pa.search_page)


@given(st.lists(word64, min_size=2, max_size=2), st.integers(0, 127))
def test_pages_below_in_use_is_the_hint_invariant_of_one_chunk(ws: list[int], hint: int) -> None:
    alloc = {0: ws}
    assert spec.pages_below_in_use(ws, 0, hint) == spec.hint_below_in_use(alloc, Geometry(chunk_pages=128), hint)


# Words.


@given(word64, st.integers(1, 64))
def test_find_bit_range64_is_the_lowest_window(c: int, n: int) -> None:
    got = bitmap.find_bit_range64(c, n)
    want = spec.find_bit_range64(c, n)
    assert got == want if want < 64 else got >= 64


@given(word64, st.sampled_from([1, 2, 4, 8, 16, 32, 64]))
def test_fill_aligned_is_the_groups_by_definition(x: int, m: int) -> None:
    assert bitmap.fill_aligned(x, m) == spec.fill_aligned(x, m)


@given(st.integers(0, 7), st.integers(0, 512), st.integers(0, 512))
def test_range_mask_is_the_pages_of_the_range(k: int, i: int, n: int) -> None:
    assert bitmap.range_mask(k, i, n) == spec.range_mask(k, i, n)


@given(st.lists(word64, min_size=8, max_size=8), st.integers(0, 511), st.integers(1, 512))
def test_set_clear_and_popcnt_range_by_page(ws: list[int], i: int, n: int) -> None:
    n = min(n, 512 - i)
    before = flags_of(ws)
    set_, clear = list(ws), list(ws)
    bitmap.set_range(set_, i, n)
    bitmap.clear_range(clear, i, n)
    inside = [i <= p < i + n for p in range(512)]
    assert flags_of(set_) == [f or r for f, r in zip(before, inside, strict=True)]
    assert flags_of(clear) == [f and not r for f, r in zip(before, inside, strict=True)]
    assert bitmap.popcnt_range(ws, i, n) == sum(before[i : i + n])


@given(st.integers(0, 2**21), st.integers(0, 2**21), st.integers(0, 2**21))
def test_pack_puts_each_field_where_go_does(s: int, m: int, e: int) -> None:
    s, e = min(s, m), min(e, m)
    if m == AMD64.max_packed:
        s = e = m
    packed = summary.pack(summary.Summary(s, m, e), AMD64)
    if m == AMD64.max_packed:
        assert packed == 1 << spec.PACKED_FULL_BIT
        return
    fields = dict(zip(spec.PACKED_FIELDS, (s, m, e), strict=True))
    for b in range(64):
        owner = spec.packed_bit_owner(b, AMD64)
        want = 0 if owner is None else (fields[owner[0]] >> owner[1]) & 1
        assert (packed >> b) & 1 == want


# Scavenging.


@settings(max_examples=300, deadline=None)
@given(
    st.lists(word64, min_size=2, max_size=2),
    st.lists(word64, min_size=2, max_size=2),
    st.integers(0, 127),
    st.sampled_from([1, 2, 4, 8, 64]),
    st.integers(0, 300),
    st.sampled_from([0, 2, 4, 16, 64, 128]),
)
def test_scavenge_candidate_is_the_highest_usable_run(
    alloc: list[int], scav: list[int], search: int, m: int, most: int, huge: int
) -> None:
    got = find_scavenge_candidate(alloc, scav, search, m, most, huge)
    want = spec.scavenge_candidate(alloc, scav, search, m, most, huge)
    assert (got[1] == 0 and want[1] == 0) or got == want
