"""model/gc/heap.py: spans take their pages from the page allocator; objects share a span of their class."""

from __future__ import annotations

from model.gc import invariants as inv
from model.gc.heap import GcHeap
from model.gc.results import ObjectSpec
from tests.helpers import gc_pair, gc_spec


def test_spans_take_their_pages_from_the_page_allocator() -> None:
    heap = GcHeap.from_spec(gc_spec(gc_pair(1), ObjectSpec(2, 5_000_000, True), gc_pair(3)))
    for span in heap.spans.values():
        assert all(heap.pages.alloc_state.in_use(p) for p in range(span.base_page, span.base_page + span.npages))
    assert heap.objects[1].span is heap.objects[3].span
    assert inv.heap_violations(heap) == []
