"""fast.pagecache against model.pagecache: a cache's own alloc, and fill and flush on the allocator."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fast import pagecache as fcache
from fast.pagealloc import FastPageAlloc
from fast.state import chunks_state
from model import pagecache as mcache
from model.geometry import Geometry
from model.pagealloc import PageAlloc
from tests.helpers import alloc_both, free_both

MASK64 = (1 << 64) - 1
MAPS = st.one_of(st.integers(0, MASK64), st.sampled_from([0, MASK64, MASK64 >> 1, 0xF0F0_0000_0000_0F0F]))


@settings(max_examples=200, deadline=None)
@given(MAPS, st.integers(0, MASK64), st.lists(st.integers(1, 64), min_size=1, max_size=6))
def test_cache_alloc_equals_model(free: int, scav: int, sizes: list[int]) -> None:
    fast, model = fcache.PageCache(128, free, scav & free), mcache.PageCache(128, free, scav & free)
    for n in sizes:
        assert fast.alloc(n) == model.alloc(n)
        assert (fast.base, fast.free, fast.scav) == (model.base, model.free, model.scav)
    assert fast.contents() == model.contents()


@settings(max_examples=200, deadline=None)
@given(MAPS, st.integers(0, 300), st.integers(1, 200))
def test_first_held_equals_model(free: int, page: int, npages: int) -> None:
    assert fcache.PageCache(64, free, 0).first_held(page, npages) == mcache.PageCache(64, free, 0).first_held(
        page, npages
    )
    assert fcache.PageCache().first_held(page, npages) is None


@pytest.mark.parametrize("seed", range(6))
def test_fill_and_flush_equal_the_model(seed: int) -> None:
    g = Geometry(chunk_pages=128, levels=3, root_bits=3, level_bits=2)
    rng = random.Random(seed)
    model, fast = PageAlloc(g), FastPageAlloc(g)
    for pa in (model, fast):
        pa.grow(3, 2)
        pa.grow(7, 1)
    caches: list[tuple[mcache.PageCache, fcache.PageCache]] = []
    live: list[tuple[int, int]] = []
    for step in range(120):
        r = rng.random()
        if r < 0.3:
            pair = (mcache.fill(model), fcache.fill(fast))
            assert pair[1].contents() == pair[0].contents(), step
            caches.append(pair)
        elif r < 0.5 and caches:
            m, f = rng.choice(caches)
            alloc_both(m, f, rng.choice([1, 1, 2, 5, 30]), live, step)
        elif r < 0.65 and caches:
            m, f = caches.pop(rng.randrange(len(caches)))
            mcache.flush(m, model)
            fcache.flush(f, fast)
            assert (f.base, f.free, f.scav) == (m.base, m.free, m.scav)
        elif r < 0.85:
            alloc_both(model, fast, rng.choice([1, 3, 64, 100]), live, step)
        elif live:
            free_both(model, fast, live, rng)
        if rng.random() < 0.1:
            assert fast.scavenge(50) == model.scavenge(50)
        assert fast.search_page == model.search_page, step
        want = {c: {"alloc": d.alloc, "scav": d.scavenged} for c, d in sorted(model.chunks.items())}
        assert chunks_state(fast.storage) == want, step
    assert fast.tree.check() == []


def test_flush_gives_back_pages_and_scavenged_bits() -> None:
    fast = FastPageAlloc(Geometry(chunk_pages=64))
    fast.grow(0, 1)
    fast.alloc(3)
    cache = fcache.fill(fast)
    assert (cache.base, cache.free, cache.scav) == (0, MASK64 ^ 0b111, MASK64 ^ 0b111)
    assert fast.search_page == 63
    assert cache.alloc(2).page == 3
    fcache.flush(cache, fast)
    assert chunks_state(fast.storage)[0] == {"alloc": [0b11111], "scav": [MASK64 ^ 0b11111]}
    assert fast.search_page == 0
    refill = fcache.fill(fast)
    fcache.flush(refill, fast, drop_scavenged=True)  # the fault flush_drops_scavenged
    assert chunks_state(fast.storage)[0] == {"alloc": [0b11111], "scav": [0]}
    fcache.flush(refill, fast)  # an empty cache: nothing happens
    assert chunks_state(fast.storage)[0] == {"alloc": [0b11111], "scav": [0]}


def test_fill_of_a_full_heap_is_empty_and_sets_the_hint_to_no_free_page() -> None:
    g = Geometry(chunk_pages=64)
    fast = FastPageAlloc(g)
    assert fcache.fill(fast).contents() == fcache.EMPTY_FILL  # nothing grown
    fast.grow(2, 1)
    fast.alloc(64)
    fast.search_page = 0  # a stale hint: the search must go through the tree
    assert fcache.fill(fast).contents() == fcache.EMPTY_FILL
    assert fast.search_page == g.no_free_page
