"""FastPageHeap: refusals, bulk paths with caches, the background scavenger, clone, and the Go traces.

The state machine (tests/oracle/pagealloc/test_machine.py) is the main check of fast
against the model; these tests pin down at the level of a whole heap what it
reaches rarely: heaps of thousands of chunks (the vectorised paths), reduced
geometries, the background scavenger, and the real Go traces. The allocator
alone (the top of the address space, refusals word for word) is in
test_pagealloc.py.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from fast.pageheap import FastPageHeap
from model.errors import InvalidOperation, ParameterError
from model.geometry import AMD64, Geometry
from model.pageheap import PageHeap
from oracle import cli
from oracle.pagealloc.replay import replay
from oracle.pagealloc.state import diff_states, model_state, normalize
from tests.helpers import alloc_both, free_both


def same_state(model: PageHeap, fast: FastPageHeap) -> list[str]:
    return diff_states(model_state(model), normalize(fast.state()), model.geometry)


def test_refusals_change_nothing() -> None:
    heap = FastPageHeap(Geometry(chunk_pages=64))
    heap.grow(4, 2)
    page = heap.alloc(10).page
    assert page == 256
    fill = heap.cache_fill(0)
    assert fill.base == 256 and fill.free == ((1 << 64) - 1) & ~((1 << 10) - 1)
    before = heap.state()
    refused = [
        lambda: heap.grow(5, 1),  # over an existing chunk
        lambda: heap.grow(3, 2),  # overlapping one
        lambda: heap.grow((1 << 26) - 1, 2),  # past the address space
        lambda: heap.grow(-1, 1),
        lambda: heap.grow(0, 0),
        lambda: heap.free(300, 1),  # held by cache 0
        lambda: heap.free(0, 1),  # not in the heap
        lambda: heap.free(256, 11),  # page 266 is held by the cache
        lambda: heap.free(330, 5),  # free
        lambda: heap.free(256, True),  # type: ignore[arg-type]
        lambda: heap.alloc(0),
        lambda: heap.cache_fill(0),  # not empty
        lambda: heap.cache_alloc(0, 65),
        lambda: heap.cache_alloc(9, 1),  # unknown id
        lambda: heap.cache_flush(9),
        lambda: heap.scavenge(0),
    ]
    for attempt in refused:
        with pytest.raises(InvalidOperation):
            attempt()
        assert heap.state() == before
    with pytest.raises(ParameterError):
        FastPageHeap(AMD64, phys_page_pages=3)
    with pytest.raises(ParameterError):
        FastPageHeap(Geometry(chunk_pages=64), huge_page_pages=128)


def test_a_free_touching_a_cache_by_one_page_is_refused() -> None:
    """A cache's first or last page at the edge of a free: refused with the model's words, nothing changed."""
    g = Geometry(chunk_pages=128)
    for order in ("cache first", "cache last"):
        model, fast = PageHeap.create(g), FastPageHeap(g)
        for heap in (model, fast):
            heap.grow(0, 1)
            if order == "cache first":
                heap.cache_fill(0)  # holds pages 0..63
                heap.alloc(64)  # 64..127
            else:
                heap.alloc(64)  # 0..63
                heap.cache_fill(0)  # holds pages 64..127
        before = fast.state()
        with pytest.raises(InvalidOperation) as want:
            model.free(63, 2)
        with pytest.raises(InvalidOperation) as got:
            fast.free(63, 2)
        assert str(got.value) == str(want.value)
        assert "cache 0 holds" in str(got.value)
        assert fast.state() == before


def run_random(model: PageHeap, fast: FastPageHeap, seed: int, nops: int, sizes: list[int], check_every: int) -> None:
    """Seeded valid operations on both heaps, comparing results and, every few steps, whole states."""
    rng = random.Random(seed)
    cp = model.geometry.chunk_pages
    live: list[tuple[int, int]] = []
    for step in range(nops):
        r = rng.random()
        if r < 0.35:
            alloc_both(model, fast, rng.choice(sizes), live, step)
        elif r < 0.65 and live:
            free_both(model, fast, live, rng, keep_head=True)
        elif r < 0.75:
            cache_id = rng.randrange(3)
            if cache_id in model.caches and model.caches[cache_id].free:
                model.cache_flush(cache_id)
                fast.cache_flush(cache_id)
            else:
                assert fast.cache_fill(cache_id) == model.cache_fill(cache_id)
        elif r < 0.85 and model.caches:
            cache_id = rng.choice(sorted(model.caches))
            n = rng.choice([1, 2, 5])
            want, got = model.cache_alloc(cache_id, n), fast.cache_alloc(cache_id, n)
            assert got == want
            if want.page is not None:
                live.append((want.page, n))
        else:
            n = rng.choice([1, 64, cp, 100 * cp])
            assert fast.scavenge(n) == model.scavenge(n)
        if step % check_every == 0:
            assert same_state(model, fast) == []
    assert same_state(model, fast) == []
    assert fast.check_summaries() == []


@pytest.mark.parametrize(
    "geometry",
    [
        Geometry(chunk_pages=64),
        Geometry(chunk_pages=64, levels=3, root_bits=3, level_bits=2),
        Geometry(chunk_pages=128, levels=2, root_bits=5, level_bits=4),
    ],
    ids=["amd64-tree-64-page-chunks", "3-levels", "2-levels"],
)
def test_bulk_ranges_equal_model(geometry: Geometry) -> None:
    """Grows and allocations of many chunks, across root entries: the numpy paths of fast."""
    model = PageHeap.create(geometry, 1, 16)
    fast = FastPageHeap(geometry, 1, 16)
    per_root = 1 << (geometry.levels - 1) * geometry.level_bits
    for chunk, n in ((per_root - 3, 40), (0, 2), (per_root + 60, 9)):
        model.grow(chunk, n)
        fast.grow(chunk, n)
    cp = geometry.chunk_pages
    sizes = [1, 3, 64, cp - 1, cp + 1, 5 * cp + 7, 20 * cp, 38 * cp]
    run_random(model, fast, seed=7, nops=400, sizes=sizes, check_every=25)


def test_background_scavenger_equals_model() -> None:
    """next_gen and non-forced scavenging are not trace operations, but fast has them like the model."""
    g = Geometry(chunk_pages=64)
    model, fast = PageHeap.create(g), FastPageHeap(g)
    for heap in (model, fast):
        heap.grow(0, 6)
    pa = model.alloc_state
    rng = random.Random(3)
    live: list[tuple[int, int]] = []
    for _ in range(300):
        if rng.random() < 0.55:
            alloc_both(model, fast, rng.choice([1, 2, 7, 30, 64]), live)
        elif live:
            free_both(model, fast, live, rng)
        if rng.random() < 0.1:
            pa.scav.next_gen()
            fast.next_gen()
        if rng.random() < 0.2:
            n = rng.choice([1, 8, 64])
            assert fast.scavenge(n, force=False).released == pa.scavenge(n, force=False)
        assert same_state(model, fast) == []


def test_clone_is_independent() -> None:
    heap = FastPageHeap(Geometry(chunk_pages=64))
    heap.grow(0, 2)
    heap.alloc(5)
    heap.cache_fill(1)
    twin = heap.clone()
    before = heap.state()
    twin.alloc(70)
    twin.cache_alloc(1, 3)
    twin.scavenge(1000)
    assert heap.state() == before
    assert twin.state() != before


def bundled() -> list[Path]:
    return cli.bundled_traces()


@pytest.mark.parametrize("path", bundled(), ids=lambda p: p.name)
def test_go_conformance_traces(path: Path) -> None:
    """Every trace the real Go runtime produced replays against fast with every result equal."""
    report = replay(path, "fast")
    assert report.ok, report.mismatch and report.mismatch.describe()
    assert report.checked > 0
