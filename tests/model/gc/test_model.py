"""Unit tests of the marking model: noscan, oblets, finalizers, sweep, the barrier, refusals."""

from __future__ import annotations

import copy

import pytest

from model.errors import InvalidOperation
from model.gc import invariants as inv
from model.gc.barrier import BLACK, GREY, HYBRID, NO_BARRIER, NO_DELETION, NO_INSERTION, WHITE, shaded, shades
from model.gc.cycle import GcWorld, collect, collect_snapshot
from model.gc.heap import GcHeap
from model.gc.mark import NoscanScanned, WorkItem, mark_stw
from model.gc.results import HeapSpec, HeapSpecError, ObjectSpec
from model.gc.sweep import sweep


def spec(*objects: ObjectSpec, roots: tuple = (), finalizers: tuple = ()) -> HeapSpec:
    return HeapSpec(tuple(objects), roots, finalizers)


def pair(oid: int, a: int | None = None, b: int | None = None) -> ObjectSpec:
    return ObjectSpec(oid, 16, False, ((0, a), (8, b)))


def leaf(oid: int, size: int = 16) -> ObjectSpec:
    return ObjectSpec(oid, size, True)


def test_noscan_objects_are_marked_never_queued_or_scanned() -> None:
    heap = GcHeap.from_spec(spec(pair(1, 2, 3), leaf(2), pair(3, 2), leaf(4), roots=(1,)))
    marker = mark_stw(heap)
    assert heap.marked_ids() == {1, 2, 3}
    assert marker.queued_ever == {1, 3} and marker.scanned_ever == {1, 3}
    assert inv.noscan_violations(marker) == []
    assert marker.stats.scan_items == 2 and marker.stats.slots_scanned == 4
    with pytest.raises(NoscanScanned):
        marker.scanobject(WorkItem(2))


def test_noscan_check_catches_a_marker_that_queues_noscan_objects() -> None:
    heap = GcHeap.from_spec(spec(pair(1, 2), leaf(2), roots=(1,)))
    marker = mark_stw(heap)
    marker.queued_ever.add(2)
    assert inv.noscan_violations(marker) == ["noscan object 2 was queued"]


def test_scanned_words_count_to_the_last_pointer_slot_with_the_header() -> None:
    # 600 bytes with pointers: an 8-byte malloc header first, so slot 592 ends at byte 8 + 600 -> 76 words.
    heap = GcHeap.from_spec(spec(ObjectSpec(1, 600, False, ((0, None), (592, None))), roots=(1,)))
    assert mark_stw(heap).stats.scanned_words == 76
    heap = GcHeap.from_spec(spec(ObjectSpec(1, 512, False, ((0, None), (8, None))), roots=(1,)))
    assert mark_stw(heap).stats.scanned_words == 2


def test_large_objects_are_scanned_in_oblets() -> None:
    big = ObjectSpec(1, 300_000, False, ((0, None), (140_000, 2), (262_144, 3), (299_992, None)))
    heap = GcHeap.from_spec(spec(big, leaf(2), leaf(3), roots=(1,)))
    marker = mark_stw(heap)
    assert heap.marked_ids() == {1, 2, 3}
    assert marker.stats.scan_items == 3
    # oblet 0: slot 0 -> 1 word; oblet 1: up to 140000 -> 1117 words; oblet 2: up to 299992 -> 4732 words
    assert marker.stats.scanned_words == 1 + (140_000 - 131_072 + 8) // 8 + (299_992 - 262_144 + 8) // 8


def test_finalizer_object_is_not_marked_but_its_referents_are() -> None:
    heap_spec = spec(pair(1, 2, 1), pair(2, 3), leaf(3), leaf(4), finalizers=(1,))
    result = collect_snapshot(heap_spec)
    assert result.marked == (2, 3)
    assert result.finalize == (1,) and result.freed == (4,)


def test_a_finalizer_object_on_a_cycle_is_kept() -> None:
    result = collect_snapshot(spec(pair(1, 2), pair(2, 1), finalizers=(1,)))
    assert result.marked == (1, 2) and result.finalize == ()


def test_a_self_pointer_beyond_the_first_oblet_marks_the_finalizer_object() -> None:
    # Go's scan skips pointers into the region it scans; from a later oblet, the object's base is outside it.
    far = ObjectSpec(1, 300_000, False, ((0, None), (262_144, 1)))
    near = ObjectSpec(2, 300_000, False, ((0, 2), (262_144, None)))
    result = collect_snapshot(spec(far, near, finalizers=(1, 2)))
    assert result.marked == (1,) and result.finalize == (2,)


def test_finalized_objects_and_what_they_kept_go_in_the_second_cycle() -> None:
    world = GcWorld.create(0, 0, 1, spec=spec(pair(1, 2), leaf(2), pair(3, 1), roots=(3,), finalizers=(1,)))
    world.gc_start()
    world.finish_marking()
    world.sweep()
    world.heap.globals[0] = None  # drop the root (as a mutator would, with the collector off)
    world.gc_start()
    world.finish_marking()
    first = world.sweep()
    assert first.finalize == (1,) and first.freed == (3,)
    assert set(world.heap.objects) == {1, 2}
    assert world.run_finalizers() == (1,)
    world.gc_start()
    world.finish_marking()
    second = world.sweep()
    assert second.freed == (1, 2) and not world.heap.objects


def test_sweep_frees_exactly_the_unmarked_and_returns_empty_spans() -> None:
    objects = [pair(i) for i in range(1, 600)] + [ObjectSpec(600, 100_000, True)]
    heap = GcHeap.from_spec(spec(*objects, roots=(1,)))
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
    heap = GcHeap.from_spec(spec(pair(1), pair(2), roots=(1,)))
    mark_stw(heap)
    before = inv.BeforeSweep.of(heap)
    result = sweep(heap)
    wrong = type(result)((), (), result.spans_freed, result.pages_freed)
    assert inv.sweep_violations(before, wrong, heap)


def test_spans_take_their_pages_from_the_page_allocator() -> None:
    heap = GcHeap.from_spec(spec(pair(1), ObjectSpec(2, 5_000_000, True), pair(3)))
    for span in heap.spans.values():
        assert all(heap.pages.alloc_state.in_use(p) for p in range(span.base_page, span.base_page + span.npages))
    assert heap.objects[1].span is heap.objects[3].span
    assert inv.heap_violations(heap) == []


def test_objects_allocated_while_marking_are_black() -> None:
    world = GcWorld.create(1, 2, 0)
    world.gc_start()
    world.alloc(0, 0, 1, 16, False, [0, 8])
    assert world.heap.is_marked(1)
    world.copy(0, 0, None)
    world.finish_marking()
    assert world.sweep().freed == ()  # floating garbage survives this cycle


def test_barrier_shades() -> None:
    assert shades(HYBRID, "old", "new", True) == ((True, "old"), (True, "new"))
    assert shades(HYBRID, "old", "new", False) == ((True, "old"), (False, "new"))
    assert shades(NO_INSERTION, "old", "new", True) == ((True, "old"),)
    assert shades(NO_DELETION, "old", "new", True) == ((True, "new"),)
    assert shades(NO_BARRIER, "old", "new", True) == ()
    assert [shaded(c, False) for c in (WHITE, GREY, BLACK)] == [GREY, GREY, BLACK]
    assert shaded(WHITE, True) == BLACK


def lost_with(barrier: object, steps: list[tuple]) -> list[str]:
    world = GcWorld.create(1, 2, 1, barrier, spec(pair(1, 2), leaf(2), leaf(3)), [[1, None]])  # type: ignore[arg-type]
    for name, *args in steps:
        getattr(world, name)(*args)
    world.finish_marking()
    return inv.lost_objects(world.heap)


# A goroutine with a black stack pops object 2 out of grey object 1: only the deletion half saves it.
POP = [("gc_start",), ("scan_stack", 0), ("load", 0, 1, 0, 0), ("store", 0, 0, 0, None)]
# A goroutine with a grey stack pushes object 3 into black object 1 and forgets it: only the insertion half.
PUSH = [("copy", 0, 0, None), ("gc_start",), ("gload", 0, 0, 0), ("markroot", "globals"), ("drain",),
        ("copy", 0, 1, None)]


def test_each_half_of_the_barrier_saves_an_object() -> None:
    assert lost_with(HYBRID, POP) == []
    assert lost_with(NO_INSERTION, POP) == []
    assert lost_with(NO_DELETION, POP) and lost_with(NO_BARRIER, POP)


def test_the_insertion_half_saves_an_object_pushed_from_a_grey_stack() -> None:
    def push(barrier: object) -> list[str]:
        world = GcWorld.create(1, 2, 1, barrier, spec(pair(1), leaf(3), roots=(1,)), [[None, 3]])  # type: ignore[arg-type]
        world.gc_start()
        world.markroot("globals")
        world.drain()  # object 1 is black
        world.gload(0, 0, 0)
        world.store(0, 0, 0, 1)  # object 1 slot 0 = object 3, from the grey stack
        violations = inv.weak_tricolor_violations(world)
        world.copy(0, 1, None)
        world.copy(0, 0, None)
        world.finish_marking()
        return violations + inv.lost_objects(world.heap)

    assert push(HYBRID) == [] and push(NO_DELETION) == []
    found = push(NO_INSERTION)
    assert any("black" in v for v in found) and any("object 3 is reachable" in v for v in found)


def test_refused_steps_change_nothing() -> None:
    world = GcWorld.create(1, 2, 1, spec=spec(pair(1, 2), leaf(2), roots=(1,)), stacks=[[1, None]])
    snapshot = copy.deepcopy(world)
    bad = [
        ("load", 0, 0, 1, 0),  # stack slot 1 is nil
        ("load", 0, 1, 0, 4),  # no pointer slot at offset 4
        ("store", 0, 0, 16, None),
        ("copy", 0, 5, None),
        ("gload", 2, 0, 0),
        ("alloc", 0, 1, 1, 16, False, [0]),  # id in use
        ("alloc", 0, 1, 9, 12, False, [0]),  # size not a multiple of 8
        ("alloc", 0, 1, 9, 16, True, [0]),  # noscan with a pointer slot
        ("markroot", "globals"),  # not marking
        ("mark_done",),
        ("sweep",),
        ("drain",),
    ]
    for name, *args in bad:
        with pytest.raises(InvalidOperation):
            getattr(world, name)(*args)
        assert repr(world) == repr(snapshot), name
    world.gc_start()
    with pytest.raises(InvalidOperation, match="root jobs left"):
        world.mark_done()
    with pytest.raises(InvalidOperation, match="while the collector is off"):
        world.run_finalizers()
    world.markroot("globals")
    with pytest.raises(InvalidOperation, match="already scanned"):
        world.markroot("globals")


@pytest.mark.parametrize(
    ("objects", "roots", "finalizers", "message"),
    [
        ((pair(1), pair(1)), (), (), "also objects"),
        ((pair(1, 7),), (), (), "unknown id 7"),
        ((ObjectSpec(1, 16, True, ((0, None),)),), (), (), "noscan object has no pointer slots"),
        ((ObjectSpec(1, 16, False),), (), (), "at least one pointer slot"),
        ((ObjectSpec(1, 16, False, ((4, None),)),), (), (), "multiple of 8"),
        ((ObjectSpec(1, 16, False, ((16, None),)),), (), (), "inside"),
        ((ObjectSpec(1, 8, True),), (), (), "tiny allocator"),
        ((pair(1), ObjectSpec("x", 16, True)), (), (), "mixes id kinds"),
        ((pair(1),), (2,), (), "roots\\[0\\]: unknown id 2"),
        ((pair(1),), (), (1, 1), "already has a finalizer"),
    ],
)
def test_heap_spec_refuses(objects: tuple, roots: tuple, finalizers: tuple, message: str) -> None:
    with pytest.raises(HeapSpecError, match=message):
        HeapSpec(objects, roots, finalizers)


def test_collect_reports_the_same_as_its_parts() -> None:
    heap_spec = spec(pair(1, 2, 3), leaf(2), pair(3, 4), pair(4, 1), leaf(5), roots=(1,))
    result = collect(GcHeap.from_spec(heap_spec))
    assert result.marked == (1, 2, 3, 4) and result.freed == (5,) and result.finalize == ()
    assert (result.scan_items, result.slots_scanned, result.scanned_words) == (3, 6, 6)
