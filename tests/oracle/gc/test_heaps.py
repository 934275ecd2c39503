"""oracle/gc/heaps.py: random heaps are reproducible and well formed; the noscan measurement's heaps."""

from __future__ import annotations

import numpy as np

from model.gc.cycle import collect_snapshot
from oracle.gc.heaps import NOSCAN_LENGTH, NOSCAN_SLICES, noscan_heap, random_heap, to_fast, to_spec


def test_random_heaps_are_reproducible_and_well_formed() -> None:
    a, b, c = random_heap(5000, seed=3), random_heap(5000, seed=3), random_heap(5000, seed=4)
    fields = ("size", "noscan", "indptr", "offsets", "targets", "roots", "finalizers")
    assert all(np.array_equal(getattr(a, f), getattr(b, f)) for f in fields)
    assert not np.array_equal(a.targets, c.targets)
    assert a.indptr[-1] == a.offsets.shape[0] == a.targets.shape[0]
    assert a.roots.shape[0] == 5000 // 64 and a.finalizers.shape[0] == 0
    spec = to_spec(a)  # HeapSpec checks every object, slot and root
    assert len(spec.objects) == 5000
    assert to_fast(a).collect() == collect_snapshot(spec)


def test_the_noscan_heaps() -> None:
    for pointers in (True, False):
        for retained in (True, False):
            spec = noscan_heap(pointers, retained)
            assert len(spec.objects) == NOSCAN_SLICES + 1
            assert len(spec.roots) == (NOSCAN_SLICES if retained else 0)
            assert all(len(o.ptrs) == (NOSCAN_LENGTH if pointers else 0) for o in spec.objects[1:])
    live = collect_snapshot(noscan_heap(True, True))
    assert live.scanned_words == NOSCAN_SLICES * NOSCAN_LENGTH and live.scan_items == NOSCAN_SLICES
    assert collect_snapshot(noscan_heap(False, True)).scanned_words == 0
    assert collect_snapshot(noscan_heap(True, False)).scanned_words == 0
