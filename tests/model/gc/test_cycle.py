"""model/gc/cycle.py: stop-the-world and concurrent cycles, finalizers over two cycles, refused steps."""

from __future__ import annotations

import copy

import pytest

from model.errors import InvalidOperation
from model.gc.cycle import GcWorld, collect, collect_snapshot
from model.gc.heap import GcHeap
from model.gc.results import ObjectSpec
from tests.helpers import gc_leaf, gc_pair, gc_spec


def test_finalizer_object_is_not_marked_but_its_referents_are() -> None:
    heap_spec = gc_spec(gc_pair(1, 2, 1), gc_pair(2, 3), gc_leaf(3), gc_leaf(4), finalizers=(1,))
    result = collect_snapshot(heap_spec)
    assert result.marked == (2, 3)
    assert result.finalize == (1,) and result.freed == (4,)


def test_a_finalizer_object_on_a_cycle_is_kept() -> None:
    result = collect_snapshot(gc_spec(gc_pair(1, 2), gc_pair(2, 1), finalizers=(1,)))
    assert result.marked == (1, 2) and result.finalize == ()


def test_a_self_pointer_beyond_the_first_oblet_marks_the_finalizer_object() -> None:
    # Go's scan skips pointers into the region it scans; from a later oblet, the object's base is outside it.
    far = ObjectSpec(1, 300_000, False, ((0, None), (262_144, 1)))
    near = ObjectSpec(2, 300_000, False, ((0, 2), (262_144, None)))
    result = collect_snapshot(gc_spec(far, near, finalizers=(1, 2)))
    assert result.marked == (1,) and result.finalize == (2,)


def test_finalized_objects_and_what_they_kept_go_in_the_second_cycle() -> None:
    world = GcWorld.create(
        0, 0, 1, spec=gc_spec(gc_pair(1, 2), gc_leaf(2), gc_pair(3, 1), roots=(3,), finalizers=(1,))
    )
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


def test_objects_allocated_while_marking_are_black() -> None:
    world = GcWorld.create(1, 2, 0)
    world.gc_start()
    world.alloc(0, 0, 1, 16, False, [0, 8])
    assert world.heap.is_marked(1)
    world.copy(0, 0, None)
    world.finish_marking()
    assert world.sweep().freed == ()  # floating garbage survives this cycle


def test_refused_steps_change_nothing() -> None:
    world = GcWorld.create(1, 2, 1, spec=gc_spec(gc_pair(1, 2), gc_leaf(2), roots=(1,)), stacks=[[1, None]])
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


def test_collect_reports_the_same_as_its_parts() -> None:
    heap_spec = gc_spec(gc_pair(1, 2, 3), gc_leaf(2), gc_pair(3, 4), gc_pair(4, 1), gc_leaf(5), roots=(1,))
    result = collect(GcHeap.from_spec(heap_spec))
    assert result.marked == (1, 2, 3, 4) and result.freed == (5,) and result.finalize == ()
    assert (result.scan_items, result.slots_scanned, result.scanned_words) == (3, 6, 6)
