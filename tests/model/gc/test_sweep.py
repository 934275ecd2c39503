"""model/gc/sweep.py: sweep frees exactly the unmarked objects and returns empty spans' pages."""

from __future__ import annotations

from model.gc import invariants as inv
from model.gc.heap import GcHeap
from model.gc.mark import mark_stw
from model.gc.results import ObjectSpec
from model.gc.sweep import sweep
from tests.helpers import gc_pair, gc_spec


def test_sweep_frees_exactly_the_unmarked_and_returns_empty_spans() -> None:
    objects = [gc_pair(i) for i in range(1, 600)] + [ObjectSpec(600, 100_000, True)]
    heap = GcHeap.from_spec(gc_spec(*objects, roots=(1,)))
    spans_before = len(heap.spans)
    assert spans_before == 3  # 496 pairs fit one span, 103 the next; the big one has its own
    big_span = heap.objects[600].span
    mark_stw(heap)
    before = inv.BeforeSweep.of(heap)
    result = sweep(heap)
    assert set(result.freed) == set(range(2, 601))
    assert inv.sweep_violations(before, result, heap) == []
    assert len(heap.spans) == 1 and result.spans_freed == 2
    assert not any(heap.pages.alloc_state.in_use(p) for p in range(big_span.base_page, big_span.base_page + 13))
    assert heap.objects[1].span.alloc_bits == 1 << heap.objects[1].index


def test_sweep_check_catches_a_wrong_sweep() -> None:
    heap = GcHeap.from_spec(gc_spec(gc_pair(1), gc_pair(2), roots=(1,)))
    mark_stw(heap)
    before = inv.BeforeSweep.of(heap)
    result = sweep(heap)
    wrong = type(result)((), (), result.spans_freed, result.pages_freed)
    assert inv.sweep_violations(before, wrong, heap)
