"""model/gc/barrier.py: what each half of the hybrid barrier shades, and the objects each half saves."""

from __future__ import annotations

from model.gc import invariants as inv
from model.gc.barrier import HYBRID, NO_BARRIER, NO_DELETION, NO_INSERTION, Barrier, shades
from model.gc.cycle import GcWorld
from tests.helpers import gc_leaf, gc_pair, gc_spec


def test_barrier_shades() -> None:
    assert shades(HYBRID, "old", "new", True) == ((True, "old"), (True, "new"))
    assert shades(HYBRID, "old", "new", False) == ((True, "old"), (False, "new"))
    assert shades(NO_INSERTION, "old", "new", True) == ((True, "old"),)
    assert shades(NO_DELETION, "old", "new", True) == ((True, "new"),)
    assert shades(NO_BARRIER, "old", "new", True) == ()


def lost_with(barrier: Barrier, steps: list[tuple]) -> list[str]:
    world = GcWorld.create(1, 2, 1, barrier, gc_spec(gc_pair(1, 2), gc_leaf(2), gc_leaf(3)), [[1, None]])
    for name, *args in steps:
        getattr(world, name)(*args)
    world.finish_marking()
    return inv.lost_objects(world.heap)


# A goroutine with a black stack pops object 2 out of grey object 1: only the deletion half saves it.
POP = [("gc_start",), ("scan_stack", 0), ("load", 0, 1, 0, 0), ("store", 0, 0, 0, None)]


def test_each_half_of_the_barrier_saves_an_object() -> None:
    assert lost_with(HYBRID, POP) == []
    assert lost_with(NO_INSERTION, POP) == []
    assert lost_with(NO_DELETION, POP) and lost_with(NO_BARRIER, POP)


def test_the_insertion_half_saves_an_object_pushed_from_a_grey_stack() -> None:
    def push(barrier: Barrier) -> list[str]:
        world = GcWorld.create(1, 2, 1, barrier, gc_spec(gc_pair(1), gc_leaf(3), roots=(1,)), [[None, 3]])
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
