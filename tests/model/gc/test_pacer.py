"""model/gc/pacer.py and model/gc/scavgoal.py: each rule on hand-computed numbers, and the cycle state machine."""

from __future__ import annotations

import pytest

from model.errors import InvalidOperation
from model.gc import pacer as pc
from model.gc import scavgoal as sg
from model.gc.pacer import MAX_INT64, NOT_TRIGGERED, MemStats, Pacer
from model.pageheap import PageHeap

MIB = 1 << 20
KIB = 1 << 10


def test_heap_minimum_scales_with_gogc_and_wraps_for_off() -> None:
    assert pc.heap_minimum(100) == 4 * MIB
    assert pc.heap_minimum(50) == 2 * MIB
    assert pc.heap_minimum(0) == 0
    # GOGC=off: Go multiplies by uint64(-1), which wraps to -4 MiB, then divides.
    assert pc.heap_minimum(-1) == ((1 << 64) - 4 * MIB) // 100


def test_gogc_goal_counts_stacks_and_globals() -> None:
    # 10 MiB marked, 2 MiB of stacks, 1 MiB of globals, GOGC 50: 10 + 13 * 0.5 = 16.5 MiB.
    assert pc.gc_percent_heap_goal(10 * MIB, 2 * MIB, 1 * MIB, 50, pc.heap_minimum(50)) == 10 * MIB + 13 * MIB // 2
    # Small heaps get the heap minimum; GOGC=off has no goal.
    assert pc.gc_percent_heap_goal(KIB, 0, 0, 100, 4 * MIB) == 4 * MIB
    assert pc.gc_percent_heap_goal(10 * MIB, 0, 0, -1, pc.heap_minimum(-1)) == sg.NO_GOAL


def test_gogc_goal_wraps_as_go_does() -> None:
    huge = 1 << 40
    got = pc.gc_percent_heap_goal(huge, 0, 0, (1 << 31) - 1, 0)
    assert got == huge + ((huge * ((1 << 31) - 1)) % (1 << 64)) // 100


def test_memory_limit_goal() -> None:
    # 100 MiB limit, 10 MiB non-heap, no overage: 90 MiB less 3% (taken per whole 100 bytes).
    raw = 90 * MIB
    assert pc.memory_limit_heap_goal(100 * MIB, 30 * MIB, 5 * MIB, 15 * MIB, 0) == raw - raw // 100 * 3
    # Overage (mapped above the limit) comes off twice: as non-heap headroom and as overage.
    assert pc.memory_limit_heap_goal(20 * MIB, 22 * MIB, 0, 12 * MIB, 0) == (20 - 10 - 2 - 1) * MIB
    # Less than twice the headroom left: the goal is the headroom itself (1 MiB at least).
    assert pc.memory_limit_heap_goal(12 * MIB, 10 * MIB + 512 * KIB, 0, 0, 0) == MIB
    # Non-heap memory alone reaches the limit: the goal is the marked heap.
    assert pc.memory_limit_heap_goal(8 * MIB, 9 * MIB, 0, 0, 3 * MIB) == 3 * MIB
    # Never below the marked heap.
    assert pc.memory_limit_heap_goal(100 * MIB, 30 * MIB, 5 * MIB, 15 * MIB, 99 * MIB) == 99 * MIB


def test_heap_goal_choice() -> None:
    # The memory limit binds: nothing raises the goal back, not even the sweep distance.
    assert pc.heap_goal_and_min_trigger(8 * MIB, 6 * MIB, 7 * MIB, NOT_TRIGGERED) == (6 * MIB, 0)
    # It does not bind: the sweep distance raises the goal and is the lowest trigger.
    assert pc.heap_goal_and_min_trigger(8 * MIB, 9 * MIB, 10 * MIB, NOT_TRIGGERED) == (10 * MIB, 10 * MIB)
    # During a cycle the goal stays 64 KiB above where it started.
    assert pc.heap_goal_and_min_trigger(8 * MIB, 9 * MIB, 0, 8 * MIB) == (8 * MIB + 64 * KIB, 0)
    # A tie is not binding.
    assert pc.heap_goal_and_min_trigger(8 * MIB, 8 * MIB, 9 * MIB, NOT_TRIGGERED)[0] == 9 * MIB


def test_trigger_bounds_and_point() -> None:
    marked, goal = 4 * MIB, 8 * MIB
    step = (goal - marked) // 64
    assert pc.trigger_bounds(goal, 0, marked) == (marked + 45 * step, marked + 61 * step)
    assert pc.trigger_point(goal, 0, marked, 0) == marked + 61 * step  # no runway: the maximum
    assert pc.trigger_point(goal, 0, marked, goal) == marked + 45 * step  # a runway past the goal: the minimum
    assert pc.trigger_point(goal, 0, marked, MIB) == goal - MIB
    # A large heap: the maximum is the goal less the default heap minimum.
    assert pc.trigger_bounds(1024 * MIB, 0, 512 * MIB)[1] == 1020 * MIB
    # The marked heap at the goal: the trigger is the goal.
    assert pc.trigger_bounds(MIB, 0, 2 * MIB) == (MIB, MIB)


def test_runway() -> None:
    assert pc.runway_bytes(0.5, 1000, 200, 100) == int(0.5 * 0.75 / 0.25 * 1300)
    assert pc.runway_bytes(1e300, 1 << 60, 0, 0) == 1 << 63  # past 2**64: what amd64 makes of it


@pytest.mark.parametrize(
    ("value", "go"),  # uint64(x) as Go 1.27 computed it on amd64
    [(2.68400126272474e19, 1 << 63), (2.0**64, 1 << 63), (9.3e18, 9300000000000000000), (2.0**63, 1 << 63),
     (1e30, 1 << 63), (-1.0, (1 << 64) - 1), (-0.5, 0), (3.5, 3), (float("nan"), 1 << 63), (1.7e308, 1 << 63)],
)
def test_float_to_uint64_as_amd64_does(value: float, go: int) -> None:
    assert sg.uint64_of_float(value) == go


def test_a_goal_that_jumps_past_2_64() -> None:
    """GOGC=off with a memory limit of 0, then the limit removed: the heap goal jumps from 1 MiB to
    nearly 2**63 and the scavenger's GOGC goal (in use x goal / last goal) passes 2**64."""
    goal = sg.gc_percent_retained_goal(8946670875749132533, MIB, 3 * MIB, 1 << 40, 4096)
    assert goal == sg.NO_GOAL  # 2**63 plus a tenth, rounded: far above the retained heap


def _pacer(**stats: int) -> Pacer:
    p = Pacer.create()
    p.set_stats(MemStats(**stats))
    return p


def test_allocation_starts_a_cycle_at_the_trigger() -> None:
    p = _pacer(mapped_ready=64 * MIB)
    p.commit(sweep_done=True)
    trigger = p.trigger()
    assert not p.allocate(trigger - 8 * KIB)
    assert p.phase == pc.PHASE_OFF
    assert p.allocate(8 * KIB)
    assert p.phase == pc.PHASE_MARK and p.triggered == trigger and p.cycle_kind == "heap"
    assert not p.allocate(MIB)  # no second cycle while one runs
    last = p.end_cycle(marked=2 * MIB, heap_scan=MIB, stack_scan=64 * KIB, heap_in_use=3 * MIB, cons_mark=0.1)
    assert last == 4 * MIB
    assert p.heap_marked == p.stats.heap_live == 2 * MIB
    assert p.sweep_dist_min_trigger == 3 * MIB  # sweeping is still to do after mark termination
    assert p.heap_goal() == 2 * MIB + (2 * MIB + 64 * KIB)  # stacks count too


def test_periodic_trigger() -> None:
    p = Pacer.create(force_gc_period_ns=100)
    assert not p.tick(1000)  # no cycle has ended yet
    p.start_cycle("manual")
    p.end_cycle(0, 0, 0, 0, 0.0)
    assert not p.tick(100)
    assert p.tick(101)
    p.end_cycle(0, 0, 0, 0, 0.0)
    p.set_gc_percent(-1, sweep_done=True)
    assert not p.tick(10**12)  # GOGC=off: no periodic cycles


def test_settings() -> None:
    p = Pacer.create()
    assert p.set_gc_percent(-7, True) == 100 and p.gc_percent == -1
    assert p.set_memory_limit(-1, True) == MAX_INT64 and p.memory_limit == MAX_INT64  # read only
    p.sweep_dist_min_trigger = 12345
    assert p.set_memory_limit(MAX_INT64, False) == MAX_INT64
    assert p.sweep_dist_min_trigger == 12345  # an unchanged limit commits nothing
    assert p.set_memory_limit(64 * MIB, True) == MAX_INT64 and p.sweep_dist_min_trigger == 0
    with pytest.raises(InvalidOperation):
        p.set_gc_percent(1 << 31, True)
    with pytest.raises(InvalidOperation):
        p.end_cycle(0, 0, 0, 0, 0.0)
    with pytest.raises(InvalidOperation):
        p.set_stats(MemStats(heap_free=2, heap_alloc=2, mapped_ready=3))


def test_scavenger_goals() -> None:
    # The memory-limit goal: 95% of the limit, only while mapped memory is above it.
    assert sg.memory_limit_retained_goal(100 * MIB, 50 * MIB) == sg.NO_GOAL
    assert sg.memory_limit_retained_goal(100 * MIB, 99 * MIB) == int(100 * MIB * 0.95)
    # The GOGC goal: last in-use scaled by the goal's growth, plus 10%, rounded up to a page.
    goal = sg.gc_percent_retained_goal(8 * MIB, 4 * MIB, 10 * MIB, 64 * MIB, 4096)
    assert goal == 22 * MIB  # 20 MiB + 2 MiB, already whole pages
    assert sg.gc_percent_retained_goal(8 * MIB, 4 * MIB, 10 * MIB, 22 * MIB + 4095, 4096) == sg.NO_GOAL
    assert sg.gc_percent_retained_goal(8 * MIB, 0, 10 * MIB, 64 * MIB, 4096) == sg.NO_GOAL
    goals = sg.ScavengeGoals(22 * MIB, 40 * MIB)
    assert sg.need_bytes(goals, 30 * MIB, 42 * MIB) == 8 * MIB
    assert sg.need_bytes(goals, 20 * MIB, 50 * MIB) == 10 * MIB
    assert sg.need_bytes(goals, 20 * MIB, 30 * MIB) == 0 and sg.should_stop(goals, 20 * MIB, 30 * MIB)


def test_background_scavenger_on_the_page_heap() -> None:
    heap = PageHeap.create()
    heap.grow(0, 1)
    first = heap.alloc(512).page
    assert first == 0
    heap.free(0, 512)  # a free, unscavenged chunk (its pages were scavenged when grown, then used)
    heap.next_gen()  # the background scavenger sees frees from the end of the next GC cycle on
    page = 8 * KIB
    goals = sg.ScavengeGoals(sg.NO_GOAL, 4 * MIB - 100 * page)
    released = sg.run_background(heap, goals, 4 * MIB, 4 * MIB, page)
    assert released == 104  # 100 pages asked, released in 8-page quanta
    goals = sg.ScavengeGoals(0, sg.NO_GOAL)
    assert sg.run_background(heap, goals, 4 * MIB, 4 * MIB, page) == 512 - 104  # the rest, then a short quantum


def test_commit_paces_the_scavenger_and_create_does_not() -> None:
    p = Pacer.create()
    assert p.scavenge is None and p.scavenge_need() == 0
    p.set_stats(MemStats(heap_in_use=10 * MIB, heap_free=20 * MIB, mapped_ready=40 * MIB))
    p.last_heap_goal, p.last_heap_in_use = 4 * MIB, 10 * MIB
    p.commit(sweep_done=True)
    assert p.scavenge is not None
    assert p.scavenge.gc_percent_goal == 11 * MIB  # the goal is unchanged: 10 MiB + 10%
    assert p.scavenge_need() == 30 * MIB - 11 * MIB
