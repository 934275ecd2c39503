"""Marking in numpy: a whole frontier of objects at a time, with the noscan mask on the frontier.

The heap is a set of arrays over objects 0..n-1 (their order is the
snapshot's):

  size[n], noscan[n]                 bytes and the noscan bit
  indptr[n+1], offsets[m], targets[m] pointer slots in CSR form: object i's
                                     slots are offsets[indptr[i]:indptr[i+1]]
                                     (increasing), each pointing to object
                                     targets[...] or -1 (nil)
  roots[k], finalizers[f]            object indices

Marking computes the same closure as the model's work queue, level by level
instead of object by object: the first frontier is the objects the roots
hold plus what the finalizer objects point to (their specials root scan,
without marking them, and skipping a pointer to themselves from their first
128 KiB as Go's scan does); each round gathers the targets of every frontier
object's slots at once, keeps those whose mark bit is clear, sets their
bits, and makes the scan objects among them the next frontier. Noscan
objects are marked when reached and never enter a frontier: the noscan
mask is applied to the frontier, so their slots (they have none) are never
read. The mark bits are a boolean array over all objects.

Scan work does not depend on the order of scanning: every marked scan
object is scanned once, in 128 KiB oblets when its slot is larger, and every
scan finalizer object is scanned once more as a root. Per object the work
(words to the last pointer slot of each region, Go's heapScanWork) is
computed once from the layout, in the allocator's terms: a small scan object
over 512 bytes is preceded by an 8-byte malloc header, and an object too big
for a size class has a slot of whole 8 KiB pages.

Tiny objects (noscan, 1 to 15 bytes; allowed when the heap says `tiny`,
as version 2 snapshots do) share 16-byte blocks, which live and die
together: `tiny_blocks` replays the tiny allocator's packing over the
objects in order, per P (an object goes into its P's current block at the
first offset aligned for its size if it fits; else into a new block,
which becomes current when it has more room left than the old one), and
after marking every object of a block with a marked object is marked.
Zero-size objects are Go's zerobase, outside the heap: always marked.

Results (marked, freed, finalize and the counts) must equal the model's
(model.gc.cycle.collect_snapshot); tests/fast/gc/test_mark.py checks that on
random heaps. fast/ imports from model/ only shared values: the result and
heap-description types, their error, and the allocator's constants.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from model.gc.results import HeapSpec, HeapSpecError, MarkResult, ObjectId
from model.gc.sizeclasses import MAX_SMALL_SIZE
from model.gc.spanclass import (
    MALLOC_HEADER_BYTES,
    MAX_OBJECT_BYTES,
    MAX_OBLET_BYTES,
    MIN_SIZE_FOR_MALLOC_HEADER,
    PAGE_BYTES,
    TINY_SIZE,
    WORD_BYTES,
)

IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
DENSE_FRACTION = 64  # a round with more than n / DENSE_FRACTION candidates works on whole-heap masks


class FastGcHeap:
    """A heap as arrays, checked at construction (HeapSpecError names the first problem)."""

    def __init__(
        self,
        size: npt.ArrayLike,
        noscan: npt.ArrayLike,
        indptr: npt.ArrayLike,
        offsets: npt.ArrayLike,
        targets: npt.ArrayLike,
        roots: npt.ArrayLike = (),
        finalizers: npt.ArrayLike = (),
        ids: Sequence[ObjectId] | None = None,
        tiny: bool = False,
        procs: npt.ArrayLike | None = None,
    ) -> None:
        self.size = np.ascontiguousarray(size, dtype=np.int64)
        self.noscan = np.ascontiguousarray(noscan, dtype=np.bool_)
        self.indptr = np.ascontiguousarray(indptr, dtype=np.int64)
        self.offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        self.targets = np.ascontiguousarray(targets, dtype=np.int64)
        self.roots = np.ascontiguousarray(roots, dtype=np.int64)
        self.finalizers = np.ascontiguousarray(finalizers, dtype=np.int64)
        self.n = int(self.size.shape[0])
        self.ids = ids
        self.tiny = tiny
        self.p = np.zeros(self.n, dtype=np.int64) if procs is None else np.ascontiguousarray(procs, dtype=np.int64)
        self._check()
        self._layout()
        self.block = tiny_blocks(self.size, self.noscan, self.p) if tiny else np.full(self.n, -1, dtype=np.int64)

    @staticmethod
    def from_spec(spec: HeapSpec) -> FastGcHeap:
        index = {o.id: i for i, o in enumerate(spec.objects)}
        counts = [len(o.ptrs) for o in spec.objects]
        indptr = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        offsets = [off for o in spec.objects for off, _ in o.ptrs]
        targets = [-1 if t is None else index[t] for o in spec.objects for _, t in o.ptrs]
        return FastGcHeap(
            [o.size for o in spec.objects],
            [o.noscan for o in spec.objects],
            indptr,
            offsets,
            targets,
            [index[r] for r in spec.roots],
            [index[f] for f in spec.finalizers],
            ids=list(index),
            tiny=spec.tiny,
            procs=[o.p for o in spec.objects],
        )

    # Checks at the boundary, vectorised.

    def _check(self) -> None:
        n, m = self.n, int(self.offsets.shape[0])
        for name, arr in (("size", self.size), ("noscan", self.noscan), ("indptr", self.indptr)):
            if arr.ndim != 1:
                raise HeapSpecError(f"{name} must be one-dimensional")
        if self.noscan.shape[0] != n or self.indptr.shape[0] != n + 1:
            raise HeapSpecError(f"noscan and indptr must have {n} and {n + 1} entries")
        if self.targets.shape != self.offsets.shape or self.indptr[0] != 0 or self.indptr[-1] != m:
            raise HeapSpecError("indptr must start at 0 and end at the number of slots; targets match offsets")
        counts = np.diff(self.indptr)
        _first_bad(counts < 0, "indptr is decreasing at object")
        smallest = np.where(self.noscan, 0, 1) if self.tiny else 1
        _first_bad((self.size < smallest) | (self.size > MAX_OBJECT_BYTES), "size out of range at object")
        if not self.tiny:
            _first_bad(self.noscan & (self.size < TINY_SIZE), "noscan object under 16 bytes (tiny allocator) at object")
        _first_bad(~self.noscan & (self.size % WORD_BYTES != 0), "object with pointers not a multiple of 8 at object")
        _first_bad(self.noscan & (counts > 0), "noscan object with pointer slots at object")
        _first_bad(~self.noscan & (counts == 0), "object with pointers but no pointer slot at object")
        if m:
            owner = np.repeat(np.arange(n, dtype=np.int64), counts)
            _first_bad(self.offsets % WORD_BYTES != 0, "slot offset not a multiple of 8 at slot")
            outside = (self.offsets < 0) | (self.offsets + WORD_BYTES > self.size[owner])
            _first_bad(outside, "slot outside object at slot")
            same = owner[1:] == owner[:-1]
            _first_bad(np.concatenate(([False], same & (self.offsets[1:] <= self.offsets[:-1]))),
                       "slot offsets not increasing at slot")
            _first_bad((self.targets < -1) | (self.targets >= n), "slot target out of range at slot")
        _first_bad((self.roots < 0) | (self.roots >= n), "root out of range at roots index")
        _first_bad((self.finalizers < 0) | (self.finalizers >= n), "finalizer out of range at finalizers index")
        if np.unique(self.finalizers).shape[0] != self.finalizers.shape[0]:
            raise HeapSpecError("an object has two finalizers")
        if self.ids is not None and len(self.ids) != n:
            raise HeapSpecError(f"ids must name the {n} objects")
        if self.p.shape != (n,) or (n and int(self.p.min()) < 0):
            raise HeapSpecError(f"procs must give each of the {n} objects a P >= 0")

    # Per-object scan work, from the layout.

    def _layout(self) -> None:
        n = self.n
        counts = np.diff(self.indptr)
        scan = ~self.noscan
        large = self.size > MAX_SMALL_SIZE - MALLOC_HEADER_BYTES
        header = np.where(scan & ~large & (self.size > MIN_SIZE_FOR_MALLOC_HEADER), MALLOC_HEADER_BYTES, 0)
        slot_bytes = np.where(large, -(-self.size // PAGE_BYTES) * PAGE_BYTES, 0)  # small slots never split
        split = slot_bytes > MAX_OBLET_BYTES
        self.scannable: BoolArray = scan
        self.items = np.where(scan, np.where(split, -(-slot_bytes // MAX_OBLET_BYTES), 1), 0).astype(np.int64)
        self.slot_counts = counts
        owner = np.repeat(np.arange(n, dtype=np.int64), counts)
        pos = self.offsets + header[owner]
        region = np.where(split[owner], pos // MAX_OBLET_BYTES, 0)
        extent = (pos - region * MAX_OBLET_BYTES) // WORD_BYTES + 1
        if owner.shape[0]:
            last = np.ones(owner.shape[0], dtype=np.bool_)
            last[:-1] = (owner[1:] != owner[:-1]) | (region[1:] != region[:-1])
            self.words = np.bincount(owner[last], weights=extent[last], minlength=n).astype(np.int64)
        else:
            self.words = np.zeros(n, dtype=np.int64)
        # The pointers marking follows: non-nil targets in CSR form (starts and counts per object).
        live = self.targets >= 0
        self.edge_targets = self.targets[live]
        self.edge_counts = np.bincount(owner[live], minlength=n).astype(np.int64)
        self.edge_starts = np.zeros(n, dtype=np.int64)
        np.cumsum(self.edge_counts[:-1], out=self.edge_starts[1:])
        # What the finalizer objects' root scans hold (nil and filtered self-pointers dropped).
        is_fin = np.zeros(n, dtype=np.bool_)
        is_fin[self.finalizers[scan[self.finalizers]]] = True
        from_fin = is_fin[owner] & live & ~((self.targets == owner) & (region == 0)) if owner.shape[0] else live
        self.finalizer_targets = self.targets[from_fin]

    def _gather(self, frontier: IntArray) -> IntArray:
        """The targets of every non-nil pointer slot of the frontier objects (int64 indices throughout:
        numpy converts narrower index arrays on every gather and scatter)."""
        starts = np.take(self.edge_starts, frontier)
        counts = np.take(self.edge_counts, frontier)
        ends = np.cumsum(counts)
        total = int(ends[-1]) if ends.shape[0] else 0
        if total == 0:
            return np.empty(0, dtype=np.int64)
        starts -= ends
        starts += counts
        idx = np.repeat(starts, counts)
        idx += np.arange(total, dtype=np.int64)
        return np.take(self.edge_targets, idx)

    # Marking.

    def mark(self) -> BoolArray:
        """The mark bits after a full stop-the-world mark.

        Each round turns the previous frontier's targets (candidates) into
        the next frontier. A large round works on whole-heap boolean masks:
        scatter the candidates into a fresh mask, drop the marked ones,
        mark the rest, and read the scan objects among them back in address
        order (which also makes the next gather walk the slot arrays in
        order). A small round stays sparse: a stamp per object
        deduplicates its candidates without sorting.
        """
        n = self.n
        marked = np.zeros(n, dtype=np.bool_)
        stamp = np.empty(n, dtype=np.int64)
        candidates = np.concatenate((self.roots, self.finalizer_targets))
        while candidates.shape[0]:
            if candidates.shape[0] > n // DENSE_FRACTION:
                fresh = np.zeros(n, dtype=np.bool_)
                fresh[candidates] = True
                np.greater(fresh, marked, out=fresh)  # fresh and not marked
                marked |= fresh
                fresh &= self.scannable
                frontier = np.flatnonzero(fresh)
            else:
                candidates = candidates[~np.take(marked, candidates)]
                order = np.arange(candidates.shape[0], dtype=np.int64)
                stamp[candidates] = order
                new = candidates[np.take(stamp, candidates) == order]
                marked[new] = True
                frontier = new[np.take(self.scannable, new)]
            candidates = self._gather(frontier)
        if self.tiny:
            packed = self.block >= 0
            live_blocks = np.zeros(int(self.block.max()) + 1 if packed.any() else 0, dtype=np.bool_)
            live_blocks[self.block[packed & marked]] = True
            marked[packed] = live_blocks[self.block[packed]]
            marked[self.size == 0] = True
        return marked

    def collect(self) -> MarkResult:
        marked = self.mark()
        fin = np.zeros(self.n, dtype=np.bool_)
        fin[self.finalizers] = True
        scanned = marked & self.scannable
        fin_scanned = self.finalizers[self.scannable[self.finalizers]]
        words = int(self.words[scanned].sum() + self.words[fin_scanned].sum())
        items = int(self.items[scanned].sum() + self.items[fin_scanned].sum())
        slots = int(self.slot_counts[scanned].sum() + self.slot_counts[fin_scanned].sum())
        return MarkResult(
            self._sorted_ids(marked),
            self._sorted_ids(~marked & ~fin),
            self._sorted_ids(~marked & fin),
            words,
            items,
            slots,
        )

    def pointers_scanned(self, marked: BoolArray) -> int:
        """Pointer slots read by a mark whose result is `marked` (for throughput figures)."""
        fin_scanned = self.finalizers[self.scannable[self.finalizers]]
        return int(self.slot_counts[marked & self.scannable].sum() + self.slot_counts[fin_scanned].sum())

    def _sorted_ids(self, mask: BoolArray) -> tuple[ObjectId, ...]:
        chosen = np.flatnonzero(mask)
        if self.ids is None:
            return tuple(chosen.tolist())
        return tuple(sorted(self.ids[i] for i in chosen.tolist()))  # type: ignore[type-var]


def tiny_blocks(size: IntArray, noscan: BoolArray, procs: IntArray) -> IntArray:
    """The 16-byte block of each tiny object (-1 for the others), packing them in order per P (see atop)."""
    block = np.full(size.shape[0], -1, dtype=np.int64)
    current: dict[int, tuple[int, int]] = {}  # P -> (its tiny block, offset of the first free byte)
    blocks = 0
    for i in np.flatnonzero(noscan & (size > 0) & (size < TINY_SIZE)).tolist():
        n, p = int(size[i]), int(procs[i])
        held = current.get(p)
        offset = held[1] if held else 0
        for align in (8, 4, 2):
            if n % align == 0:
                offset = -(-offset // align) * align
                break
        if held is not None and offset + n <= TINY_SIZE:
            block[i] = held[0]
            current[p] = (held[0], offset + n)
            continue
        block[i] = blocks
        if held is None or n < held[1]:
            current[p] = (blocks, n)
        blocks += 1
    return block


def _first_bad(bad: BoolArray, what: str) -> None:
    where = np.flatnonzero(bad)
    if where.shape[0]:
        raise HeapSpecError(f"{what} {int(where[0])}")


def collect_snapshot(spec: HeapSpec) -> MarkResult:
    return FastGcHeap.from_spec(spec).collect()
