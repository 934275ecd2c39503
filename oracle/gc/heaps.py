"""Heaps for benchmarks and measurements: random object graphs, and the noscan measurement's heaps.

`random_heap(n, seed)` is a random object graph as arrays (HeapArrays),
built with numpy so that 10^7 objects take seconds: objects of five layouts
(three with pointers, two noscan), every pointer slot aimed at a uniformly
random object or nil, and n/64 roots, so that most of the heap is
reachable. `to_spec` turns arrays into a HeapSpec for the model and the
JSON snapshot; `to_fast` into fast's heap.

`noscan_heap(pointers, retained)` is the heap of the noscan measurement
(`python -m oracle gc-noscan`): 20 slices of 10,000 8-byte elements, either
`*int64` (each element pointing to one int64, here a 16-byte heap object
standing in for heapgc.go's global `a`) or `int64` (noscan), held by roots
or not.
"""

from __future__ import annotations

import numpy as np

from fast.gc.mark import FastGcHeap
from model.gc.results import HeapSpec, ObjectSpec
from oracle.gc.gomark import HeapArrays

# (size, noscan, pointer slot offsets), and how often each is drawn.
BENCH_LAYOUTS: tuple[tuple[int, bool, tuple[int, ...]], ...] = (
    (16, False, (0, 8)),
    (32, False, (0, 8, 16)),
    (48, False, (8, 24, 40)),
    (24, True, ()),
    (64, True, ()),
)
BENCH_WEIGHTS = (0.30, 0.25, 0.15, 0.20, 0.10)
NIL_FRACTION = 0.10


def random_heap(n: int, seed: int = 1) -> HeapArrays:
    rng = np.random.default_rng(seed)
    kind = rng.choice(len(BENCH_LAYOUTS), size=n, p=BENCH_WEIGHTS)
    sizes = np.array([lay[0] for lay in BENCH_LAYOUTS], dtype=np.int64)
    noscans = np.array([lay[1] for lay in BENCH_LAYOUTS], dtype=np.bool_)
    counts_of = np.array([len(lay[2]) for lay in BENCH_LAYOUTS], dtype=np.int64)
    width = max(len(lay[2]) for lay in BENCH_LAYOUTS)
    offs_of = np.zeros((len(BENCH_LAYOUTS), width), dtype=np.int64)
    for i, lay in enumerate(BENCH_LAYOUTS):
        offs_of[i, : len(lay[2])] = lay[2]
    counts = counts_of[kind]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    m = int(indptr[-1])
    owner = np.repeat(np.arange(n, dtype=np.int64), counts)
    position = np.arange(m, dtype=np.int64) - indptr[owner]
    offsets = offs_of[kind[owner], position]
    targets = rng.integers(0, n, size=m, dtype=np.int64)
    targets[rng.random(m) < NIL_FRACTION] = -1
    roots = rng.choice(n, size=max(1, n // 64), replace=False).astype(np.int64)
    return HeapArrays(sizes[kind], noscans[kind], indptr, offsets, targets, roots, np.zeros(0, dtype=np.int64))


def to_fast(arrays: HeapArrays) -> FastGcHeap:
    return FastGcHeap(arrays.size, arrays.noscan, arrays.indptr, arrays.offsets, arrays.targets, arrays.roots,
                      arrays.finalizers)


def to_spec(arrays: HeapArrays) -> HeapSpec:
    """Objects are numbered 0..n-1."""
    sizes = arrays.size.tolist()
    noscan = arrays.noscan.tolist()
    indptr = arrays.indptr.tolist()
    offsets = arrays.offsets.tolist()
    targets = [None if t < 0 else t for t in arrays.targets.tolist()]
    objects = tuple(
        ObjectSpec(i, sizes[i], noscan[i], tuple(zip(offsets[indptr[i]:indptr[i + 1]],
                                                     targets[indptr[i]:indptr[i + 1]], strict=True)))
        for i in range(len(sizes))
    )
    return HeapSpec(objects, tuple(arrays.roots.tolist()), tuple(arrays.finalizers.tolist()))


NOSCAN_SLICES = 20
NOSCAN_LENGTH = 10_000


def noscan_heap(pointers: bool, retained: bool) -> HeapSpec:
    """20 slices of 10,000 elements: []*int64 (all pointing at one int64) or []int64; held by roots if retained."""
    target = "a"
    objects = [ObjectSpec(target, 16, True)]
    for s in range(NOSCAN_SLICES):
        size = 8 * NOSCAN_LENGTH
        if pointers:
            slots = tuple((8 * i, target) for i in range(NOSCAN_LENGTH))
            objects.append(ObjectSpec(f"slice{s:02d}", size, False, slots))
        else:
            objects.append(ObjectSpec(f"slice{s:02d}", size, True))
    roots = tuple(f"slice{s:02d}" for s in range(NOSCAN_SLICES)) if retained else ()
    return HeapSpec(tuple(objects), roots, ())
