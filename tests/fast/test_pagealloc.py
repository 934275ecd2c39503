"""FastPageAlloc against model.pagealloc.PageAlloc: results, the search hint, every bitmap, summary and count.

Seeded valid operations (grow, alloc, free, forced and background
scavenging, generation changes) run on both allocators; after every step
the results, the search hint and end_chunk must be the model's, and every
few steps so must the bitmaps, every tree level and the scavenge index.
Invalid frees must be refused with the model's own words, changing nothing.
"""

from __future__ import annotations

import random

import pytest

from fast.pagealloc import FastPageAlloc
from fast.state import chunks_state, levels_state, scav_index_state
from model.errors import InvalidOperation, ParameterError
from model.geometry import AMD64, Geometry
from model.pagealloc import PageAlloc
from model.summary import pack
from tests.helpers import alloc_both, free_both


def differences(model: PageAlloc, fast: FastPageAlloc) -> list[str]:
    out = []
    if (fast.search_page, fast.end_chunk) != (model.search_page, model.end_chunk):
        out.append(
            f"hint, end: fast {(fast.search_page, fast.end_chunk)}, model {(model.search_page, model.end_chunk)}"
        )
    want_chunks = {c: {"alloc": d.alloc, "scav": d.scavenged} for c, d in sorted(model.chunks.items())}
    if chunks_state(fast.storage) != want_chunks:
        out.append("bitmaps differ")
    want_levels = [{i: pack(s, model.geometry) for i, s in level.items()} for level in model.tree]
    got_levels = levels_state(fast.tree)
    out += [f"level {k} differs" for k in range(len(want_levels)) if got_levels[k] != want_levels[k]]
    index = scav_index_state(fast.scav, fast.storage)
    m = model.scav
    want_index = {
        "chunks": {
            c: [d.in_use, d.last_in_use, d.gen, d.has_free]
            for c, d in sorted(m.chunks.items())
            if d.in_use or d.last_in_use or d.gen or d.has_free
        },
        "min_chunk": m.min_heap_chunk,
        "force_cursor": [m.force_cursor.page, m.force_cursor.marked],
        "background_cursor": [m.background_cursor.page, m.background_cursor.marked],
        "free_high_water": m.free_high_water,
        "gen": m.gen,
    }
    out += [f"scavenge index {key} differs" for key in want_index if index[key] != want_index[key]]
    return out


GEOMETRIES = {
    "amd64-tree-64-page-chunks": Geometry(chunk_pages=64),
    "3-levels": Geometry(chunk_pages=64, levels=3, root_bits=3, level_bits=2),
    "2-levels": Geometry(chunk_pages=128, levels=2, root_bits=5, level_bits=4),
}


@pytest.mark.parametrize("name", GEOMETRIES)
@pytest.mark.parametrize("seed", range(3))
def test_operations_equal_the_model_step_by_step(name: str, seed: int) -> None:
    g = GEOMETRIES[name]
    rng = random.Random(seed)
    phys, huge = rng.choice([(1, 0), (1, 16), (4, 32), (2, 0)])
    model, fast = PageAlloc(g, phys, huge), FastPageAlloc(g, phys, huge)
    per_block = 1 << (g.levels - 1) * g.level_bits
    for chunk, n in ((per_block - 3, 12), (1, 2), (per_block + 20, 5)):
        model.grow(chunk, n)
        fast.grow(chunk, n)
    cp = g.chunk_pages
    sizes = [1, 1, 2, 5, 64, cp - 1, cp, cp + 1, 3 * cp + 7, 8 * cp]
    live: list[tuple[int, int]] = []
    for step in range(300):
        r = rng.random()
        if r < 0.4:
            alloc_both(model, fast, rng.choice(sizes), live, step)
        elif r < 0.75 and live:
            free_both(model, fast, live, rng, keep_head=True)
        elif r < 0.8:
            model.scav.next_gen()
            fast.scav.next_gen()
        elif r < 0.83 and fast.end_chunk + 2 < g.total_chunks:
            chunk = fast.end_chunk + rng.randint(0, 1)
            model.grow(chunk, 2)
            fast.grow(chunk, 2)
        else:
            n, force = rng.choice([1, 8, cp, 10 * cp]), rng.random() < 0.6
            assert fast.scavenge(n, force) == model.scavenge(n, force), step
        assert (fast.search_page, fast.end_chunk) == (model.search_page, model.end_chunk), step
        if step % 20 == 0:
            assert differences(model, fast) == [], step
    assert differences(model, fast) == []
    assert fast.tree.check() == []


def test_invalid_frees_are_refused_as_the_model_refuses_them() -> None:
    g = GEOMETRIES["3-levels"]
    model, fast = PageAlloc(g), FastPageAlloc(g)
    for pa in (model, fast):
        pa.grow(2, 20)  # crosses from block 0 into block 1
        pa.grow(40, 1)
        pa.alloc(64 * 15)
        pa.alloc(64 * 3 + 10)
        pa.free(64 * 6, 64 * 2)  # two whole chunks free again
    attempts = [(0, 1), (64 * 2 - 1, 2), (64 * 2, 64 * 16), (64 * 5, 64 * 4), (64 * 21, 5), (64 * 22, 1)]
    attempts += [(64 * 40 + 3, 1), (64 * 39, 70), (g.total_pages - 1, 2), (-1, 1), (5, 0)]
    for page, n in attempts:
        with pytest.raises(InvalidOperation) as want:
            model.free(page, n)
        with pytest.raises(InvalidOperation) as got:
            fast.free(page, n)
        assert str(got.value) == str(want.value), (page, n)
    assert differences(model, fast) == []


def test_sparse_terabyte_at_the_top_of_the_address_space() -> None:
    pa = FastPageAlloc(AMD64)
    nchunks = 1 << 18  # 1 TiB
    first = AMD64.total_chunks - nchunks
    pa.grow(first, nchunks)
    pa.grow(0, 1)
    assert len(pa.storage.blocks) == 64 + 1  # memory only for the root entries in use
    assert pa.alloc(1).page == 0
    big = pa.alloc(600)
    assert big.page == first * 512 and big.scav == 600
    top = pa.alloc(nchunks * 512 - 600)
    assert top.page == first * 512 + 600
    assert pa.alloc(1).page == 1
    pa.free(first * 512 + 1000, 5000)
    assert pa.alloc(4000).page == first * 512 + 1000
    assert pa.tree.check() == []
    assert pa.storage.find_mapped(512) == first * 512


def test_page_sizes_are_refused_as_the_model_refuses_them() -> None:
    for phys, huge in ((3, 0), (128, 0), (1, 3), (1, 1024)):
        with pytest.raises(ParameterError) as want:
            PageAlloc(Geometry(chunk_pages=512), phys, huge)
        with pytest.raises(ParameterError) as got:
            FastPageAlloc(Geometry(chunk_pages=512), phys, huge)
        assert str(got.value) == str(want.value)


def test_clone_is_independent() -> None:
    pa = FastPageAlloc(Geometry(chunk_pages=64))
    pa.grow(0, 3)
    pa.alloc(70)
    hint = pa.search_page
    twin = pa.clone()
    twin.alloc(5)
    twin.grow(10, 1)
    twin.free(0, 70)
    twin.scavenge(100)
    assert (pa.search_page, pa.end_chunk) == (hint, 3)
    assert (twin.search_page, twin.end_chunk) != (hint, 3)
    assert pa.storage.range_starts == [0] and twin.storage.range_starts == [0, 10]
    assert chunks_state(pa.storage)[0]["alloc"] == [(1 << 64) - 1]
    assert pa.scav.free_high_water is None and twin.scav.free_high_water == 69
    assert pa.tree.check() == [] and twin.tree.check() == []
