"""model/gc/malloc.py, mheap.py, mcache.py, spanset.py: the small-object path as Go 1.27 runs it."""

from __future__ import annotations

import pytest

from model.errors import InvalidOperation
from model.gc import invariants as inv
from model.gc.cycle import GcWorld
from model.gc.spanclass import TINY_SPAN_CLASS, SpanClass, objects_per_span

PAIR = (16, False, [0, 8])  # size class 2, scan: span class 4


def world(procs: int = 1, slots: int = 8) -> GcWorld:
    return GcWorld.create(1, slots, 4, procs=procs, tiny=True)


def alloc(w: GcWorld, oid: int, size: int, noscan: bool, ptrs: list[int] | None = None, slot: int = 0,
          p: int = 0) -> tuple[int, int, int]:
    w.alloc(0, slot, oid, size, noscan, ptrs or [], p)
    m = w.heap.last_malloc
    assert m is not None
    assert inv.heap_violations(w.heap) == [] and inv.span_set_violations(w.heap) == []
    return (m.span.base_page if m.span else -1, m.index, m.offset)


def test_tiny_objects_pack_into_aligned_offsets_and_a_roomier_block_replaces_the_old() -> None:
    w = world()
    got = [alloc(w, i, size, True)[1:] for i, size in enumerate([1, 2, 4, 8, 1, 15, 3, 12])]
    # 1 at 0; 2 aligned to 2; 4 to 4; 8 to 8 fills the block; 1 needs a new block (slot 1);
    # 15 fits after it; 3 needs a new block (slot 2) which, with 13 bytes left, replaces the full one;
    # 12 (a multiple of 4) goes to offset 4 of it.
    assert got == [(0, 0), (0, 2), (0, 4), (0, 8), (1, 0), (1, 1), (2, 0), (2, 4)]
    assert w.heap.mcaches[0].tiny_index == 2 and w.heap.mcaches[0].tiny_offset == 16


def test_a_new_block_with_less_room_does_not_replace_the_tiny_block() -> None:
    w = world()
    alloc(w, 1, 4, True)  # block 0, offset 4
    assert alloc(w, 2, 13, True)[1:] == (1, 0)  # does not fit; block 1 has 3 bytes left, fewer than 12
    assert alloc(w, 3, 4, True)[1:] == (0, 4)  # so the next one still goes into block 0


def test_small_objects_take_the_lowest_free_slot_at_or_after_freeindex() -> None:
    w = world()
    for i in range(5):
        alloc(w, i, *PAIR, slot=i)
    span = w.heap.objects[0].span
    assert [w.heap.objects[i].index for i in range(5)] == [0, 1, 2, 3, 4] and span.freeindex == 5
    assert span.sweepgen == w.heap.sweepgen + 3  # cached and swept


def test_a_full_span_goes_to_the_full_swept_set_and_a_new_one_is_cached() -> None:
    w = world()
    n = objects_per_span(SpanClass(4))
    for i in range(n + 1):
        alloc(w, i, *PAIR)
    first, second = w.heap.objects[0].span, w.heap.objects[n].span
    assert first is not second and w.heap.last_malloc is not None and w.heap.last_malloc.new_span
    central = w.heap.centrals[4]
    assert list(central.full_swept(w.heap.sweepgen)) == [first]
    assert w.heap.mcaches[0].alloc[4] is second


def test_mark_termination_flushes_the_caches_sweeping_what_was_cached_before() -> None:
    w = world()
    alloc(w, 1, *PAIR, slot=0)
    alloc(w, 2, *PAIR, slot=1)
    alloc(w, 3, 5, True, slot=2)
    w.copy(0, 1, None)
    w.gc_start()
    w.finish_marking()
    flushed = w.mark_termination()
    assert flushed.freed == (2,)  # the cached span was swept as it was handed back
    assert all(not c.alloc and c.tiny_span is None for c in w.heap.mcaches)
    assert w.heap.objects[1].span.sweepgen == w.heap.sweepgen  # swept by the flush, on the partial swept set
    assert inv.span_set_violations(w.heap) == []


def test_lazy_sweep_by_allocation_uses_an_unswept_span_even_when_sweeping_empties_it() -> None:
    w = world()
    n = objects_per_span(SpanClass(4))
    for i in range(n + 2):
        alloc(w, i, *PAIR)  # span A full, span B cached with two; only the last object is on the stack
    span_a = w.heap.objects[0].span
    w.gc()  # B is flushed (swept: partial); A stays unswept on the full unswept set
    # B, on the partial swept set, is taken first: sweeping is lazy, A is not touched.
    assert alloc(w, 10_000, *PAIR, slot=1)[0] == w.heap.objects[n + 1].span.base_page
    assert span_a.sweepgen == w.heap.sweepgen - 2
    w.finish_sweep()  # A had nothing marked: freed
    assert not span_a.in_use
    w.copy(0, 0, None)
    w.gc()  # B (cached again) is flushed and swept at once, keeping object 10000 (stack slot 1)
    span_b = w.heap.objects[10_000].span
    w.gc()  # B, in the partial swept set, becomes unswept; nothing else is left
    assert w.heap.unswept_spans() == [span_b]
    for i in range(3):
        alloc(w, 20_000 + i, *PAIR, slot=2 + i)
    # The allocation swept B itself (partial unswept) and allocates from it; B kept its object
    assert w.heap.objects[20_000].span is span_b and span_b.alloc_count == 4 and not w.heap.unswept_spans()


def test_the_background_sweeper_goes_by_span_class_full_sets_first() -> None:
    w = world()
    n = objects_per_span(SpanClass(4))
    for i in range(n + 1):
        alloc(w, i, *PAIR)  # class 4: a full span and a cached one
    alloc(w, 9_000, 64, True, slot=1)  # class 11 (64 bytes, noscan)
    alloc(w, 9_001, 48, True, slot=2)  # class 9 (48 bytes, noscan)
    full = w.heap.objects[0].span
    w.gc()  # the flush sweeps the cached spans of classes 4, 9 and 11; the full span of class 4 is left
    assert w.heap.unswept_spans() == [full]
    assert w.sweep_one().spans_swept == (full.base_page,) and not full.in_use  # all garbage: freed
    assert w.sweep_one().spans_swept == () and w.heap.sweep_drained
    assert inv.span_set_violations(w.heap) == []


def test_sweep_order_full_before_partial_within_a_class_and_first_in_first_out() -> None:
    w = world(slots=4)
    n = objects_per_span(SpanClass(4))
    kept = {0: 0, n: 1, 2 * n: 2}
    for i in range(2 * n + 1):
        alloc(w, i, *PAIR, slot=kept.get(i, 3))
    a, b, c = (w.heap.objects[i].span for i in kept)
    w.copy(0, 3, None)
    w.gc()  # c (cached) is swept by the flush: partial swept; a and b wait on the full unswept set
    w.gc()  # sweep termination sweeps a then b (first in, first out) behind c; all unswept again
    order = []
    while True:
        swept = w.sweep_one().spans_swept
        if not swept:
            break
        order.extend(swept)
    assert order == [c.base_page, a.base_page, b.base_page]
    assert inv.span_set_violations(w.heap) == []


def test_large_objects_have_a_span_of_their_own_on_the_full_swept_set() -> None:
    w = world()
    page, index, _ = alloc(w, 1, 40_000, True)
    span = w.heap.objects[1].span
    assert index == 0 and span.npages == 5 and span.freeindex == 1 and span.alloc_count == 1
    assert list(w.heap.centrals[1].full_swept(w.heap.sweepgen)) == [span] and span.base_page == page
    w.copy(0, 0, None)
    w.gc()
    assert w.finish_sweep().freed == (1,) and page not in w.heap.spans


def test_the_reclaimer_sweeps_unmarked_spans_in_address_order_before_a_new_span() -> None:
    w = world(slots=2)
    n = objects_per_span(SpanClass(4))
    for i in range(2 * n):
        alloc(w, i, *PAIR, slot=1)  # two full spans of pairs, all garbage but the last
    w.gc()
    # A large object needs a new span while sweeping is on: the reclaimer sweeps the unmarked first
    # span of pairs (page mark clear) and frees it; a 1-page span's pages count toward the 5.
    first = w.heap.objects[0].span
    before = set(w.heap.objects)
    alloc(w, "big", 40_000, True)
    freed = before - set(w.heap.objects)
    assert set(range(n)) <= freed and not first.in_use
    assert inv.span_set_violations(w.heap) == []


def test_a_tiny_block_lives_while_any_object_in_it_does_and_the_tiny_root_keeps_the_current_one() -> None:
    w = world(slots=2)
    alloc(w, 1, 4, True, slot=0)
    alloc(w, 2, 4, True, slot=1)  # same block
    w.copy(0, 0, None)
    w.gc()  # object 2 keeps the block and so object 1
    assert w.take_sweeps().freed == ()
    w.copy(0, 1, None)
    w.finish_sweep()
    alloc(w, 3, 8, True, slot=0)  # a new current block
    w.copy(0, 0, None)
    marked, _ = w.gc()  # nothing reachable; the current tiny block (object 3's) is greyed at gc_start
    assert 3 in marked and 1 not in marked and 2 not in marked
    w.gc()  # the flush forgot the tiny block: unmarked now, it goes when swept
    assert 3 in w.heap.objects and w.finish_sweep().freed == (3,)


def test_a_finalizer_on_a_tiny_object_keeps_its_block_and_frees_its_neighbours() -> None:
    w = world(slots=2)
    alloc(w, 1, 4, True, slot=0)
    alloc(w, 2, 4, True, slot=1)
    w.set_finalizer(0, 0)
    w.gc()  # the block is the P's tiny block, greyed at gc_start; the flush then retires it
    w.copy(0, 0, None)
    w.copy(0, 1, None)
    w.gc_start()
    w.finish_marking()
    result = w.sweep()
    assert result.finalize == (1,) and result.freed == (2,)
    assert 1 in w.heap.objects and inv.heap_violations(w.heap) == []


def test_zero_size_objects_live_at_the_zero_base_and_are_never_freed() -> None:
    w = world()
    assert alloc(w, 1, 0, True) == (-1, 0, 0)
    w.copy(0, 0, None)
    marked, _ = w.gc()
    assert 1 in marked and 1 in w.heap.objects


def test_objects_on_two_ps_use_two_caches() -> None:
    w = world(procs=2)
    a = alloc(w, 1, *PAIR, p=0)
    b = alloc(w, 2, *PAIR, slot=1, p=1)
    assert a[0] != b[0]
    assert alloc(w, 3, 4, True, slot=2, p=1)[0] != alloc(w, 4, 4, True, slot=3, p=0)[0]
    with pytest.raises(InvalidOperation, match="P 2 does not exist"):
        w.alloc(0, 4, 5, 16, True, [], 2)


def test_version_1_heaps_keep_refusing_tiny_objects() -> None:
    w = GcWorld.create(1, 1, 0)
    with pytest.raises(InvalidOperation, match="tiny allocator"):
        w.alloc(0, 0, 1, 8, True, [])
    assert TINY_SPAN_CLASS.value == 5
