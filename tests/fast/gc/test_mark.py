"""fast/gc/mark.py against the model: the same marked, freed and finalize sets and the same scan counts."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fast.gc.mark import FastGcHeap, tiny_blocks
from fast.gc.mark import collect_snapshot as fast_collect
from model.gc.cycle import collect_snapshot
from model.gc.results import HeapSpec, HeapSpecError, ObjectSpec
from oracle.gc.heaps import random_heap, to_fast, to_spec
from tests.helpers import GC_LAYOUTS, gc_pair


@st.composite
def heaps(draw: st.DrawFn, max_objects: int = 14) -> HeapSpec:
    n = draw(st.integers(0, max_objects))
    kinds = [draw(st.sampled_from(GC_LAYOUTS)) for _ in range(n)]
    strings = draw(st.booleans())
    ids = draw(st.permutations(range(n)))
    name = [f"o{i}" if strings else i * 3 for i in ids]
    objects = []
    for i, (size, noscan, offsets) in enumerate(kinds):
        ptrs = tuple((off, draw(st.none() | st.sampled_from(name))) for off in offsets)
        objects.append(ObjectSpec(name[i], size, noscan, ptrs))
    roots = tuple(draw(st.lists(st.sampled_from(name), max_size=3))) if n else ()
    fins = tuple(draw(st.lists(st.sampled_from(name), max_size=4, unique=True))) if n else ()
    return HeapSpec(tuple(objects), roots, fins)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(heaps())
def test_fast_equals_the_model(spec: HeapSpec) -> None:
    assert fast_collect(spec) == collect_snapshot(spec)


def test_fast_equals_the_model_on_a_random_graph() -> None:
    arrays = random_heap(3000, seed=7)
    spec = to_spec(arrays)
    model = collect_snapshot(spec)
    fast = to_fast(arrays).collect()
    assert fast == model
    assert 0 < len(model.marked) < 3000 and model.slots_scanned == to_fast(arrays).pointers_scanned(
        to_fast(arrays).mark()
    )


def test_fast_rounds_both_dense_and_sparse() -> None:
    # A chain is all sparse rounds; a wide fan-out makes a dense one.
    n = 4000
    fan = [ObjectSpec(0, 8 * (n - 1), False, tuple((8 * i, i + 1) for i in range(n - 1)))]
    fan += [ObjectSpec(i, 16, False, ((0, i + 1 if i + 1 < n else None), (8, None))) for i in range(1, n)]
    spec = HeapSpec(tuple(fan), (0,), ())
    assert fast_collect(spec) == collect_snapshot(spec)
    assert len(fast_collect(spec).marked) == n


def test_noscan_objects_never_enter_a_frontier() -> None:
    spec = HeapSpec((ObjectSpec(1, 16, False, ((0, 2), (8, None))), ObjectSpec(2, 4096, True)), (1,), ())
    heap = FastGcHeap.from_spec(spec)
    frontiers: list[list[int]] = []
    real_gather = heap._gather

    def spy(frontier: np.ndarray) -> np.ndarray:
        frontiers.append(frontier.tolist())
        return real_gather(frontier)

    heap._gather = spy  # type: ignore[method-assign]
    assert heap.mark().tolist() == [True, True]
    assert frontiers == [[0], []]


def arrays(**change: object) -> dict[str, object]:
    base: dict[str, object] = {
        "size": [16, 16],
        "noscan": [False, True],
        "indptr": [0, 2, 2],
        "offsets": [0, 8],
        "targets": [1, -1],
        "roots": [0],
        "finalizers": [],
    }
    base.update(change)
    return base


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"targets": [2, -1]}, "slot target out of range"),
        ({"offsets": [0, 12]}, "not a multiple of 8"),
        ({"offsets": [8, 0]}, "not increasing"),
        ({"offsets": [0, 16]}, "slot outside object"),
        ({"size": [16, 8]}, "tiny allocator"),
        ({"noscan": [True, True]}, "noscan object with pointer slots"),
        ({"indptr": [0, 0, 2]}, "noscan object with pointer slots"),
        ({"roots": [5]}, "root out of range"),
        ({"finalizers": [0, 0]}, "two finalizers"),
        ({"indptr": [0, 2]}, "entries"),
    ],
)
def test_fast_refuses_bad_arrays(change: dict[str, object], message: str) -> None:
    with pytest.raises(HeapSpecError, match=message):
        FastGcHeap(**arrays(**change))  # type: ignore[arg-type]
    FastGcHeap(**arrays())  # type: ignore[arg-type]


def tiny_spec(seed: int, n: int = 40, procs: int = 2) -> HeapSpec:
    """A heap with tiny and zero-size objects on several Ps, pairs pointing anywhere, finalizers on some."""
    rng = random.Random(seed)
    objects = []
    for i in range(n):
        roll = rng.random()
        if roll < 0.5:
            objects.append(ObjectSpec(i, rng.choice([0, 1, 2, 3, 4, 5, 7, 8, 12, 15]), True, (), rng.randrange(procs)))
        elif roll < 0.6:
            objects.append(ObjectSpec(i, 16, True, (), rng.randrange(procs)))
        else:
            ptrs = tuple((off, rng.choice([None, *range(n)])) for off in (0, 8))
            objects.append(ObjectSpec(i, 16, False, ptrs, rng.randrange(procs)))
    roots = tuple(rng.sample(range(n), 3))
    fins = tuple(i for i in rng.sample(range(n), 4) if objects[i].size > 0)
    return HeapSpec(tuple(objects), roots, fins, tiny=True, procs=procs)


@pytest.mark.parametrize("seed", range(40))
def test_fast_equals_the_model_on_tiny_objects(seed: int) -> None:
    spec = tiny_spec(seed)
    assert fast_collect(spec) == collect_snapshot(spec)


def test_tiny_blocks_pack_per_p_in_order() -> None:
    size = np.array([4, 4, 16, 12, 8, 3, 13, 0], dtype=np.int64)
    noscan = np.ones(8, dtype=np.bool_)
    procs = np.array([0, 1, 0, 0, 1, 0, 0, 0], dtype=np.int64)
    # P 0: 4 -> block 0 @0; 12 -> @4 (fills it); 3 -> new block 2; 13 -> @3 of it. P 1: 4 -> block 1, 8 -> @8.
    assert tiny_blocks(size, noscan, procs).tolist() == [0, 1, -1, 0, 1, 2, 2, -1]


def test_a_marked_object_keeps_its_whole_tiny_block() -> None:
    spec = HeapSpec((ObjectSpec(1, 4, True), ObjectSpec(2, 4, True), ObjectSpec(3, 0, True), gc_pair(4, 2)),
                    (4,), tiny=True)
    assert fast_collect(spec).marked == collect_snapshot(spec).marked == (1, 2, 3, 4)
