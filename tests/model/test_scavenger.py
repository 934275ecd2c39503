"""The background scavenger's goroutine and pacing (model/scavenger.py)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.errors import ParameterError
from model.pageheap import PageHeap
from model.scavenger import (
    FAILURE_COOLDOWN_NS,
    MIN_WORK_NS,
    STARTING_SLEEP_RATIO,
    PIController,
    ScavengerState,
    run,
    sleep,
    wake,
)


def aged_heap(chunks: int = 4, freed: int = 1500) -> PageHeap:
    """A heap with `freed` free, unscavenged pages the background scavenger may take (two GC cycles old)."""
    heap = PageHeap.create()
    heap.grow(0, chunks)
    page = heap.alloc(freed + 200).page
    assert page is not None
    heap.free(page + 10, freed)
    heap.next_gen()
    heap.next_gen()
    return heap


@given(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.floats(0, 1e12, allow_nan=False),
    st.lists(st.floats(0, 1, allow_nan=False), max_size=30),
)
@settings(max_examples=200)
def test_the_controller_output_stays_in_its_bounds(integral: float, period: float, inputs: list[float]) -> None:
    c = PIController(err_integral=integral)
    for value in inputs:
        out, ok = c.next(value, 0.01, period)
        assert ok
        assert c.min <= out <= c.max
        assert math.isfinite(c.err_integral)


def test_the_controller_clamps_and_winds_back() -> None:
    c = PIController()
    out, ok = c.next(1.0, 0.01, 1e9)  # far over the setpoint: the raw output is negative
    assert ok and out == c.min
    raw = c.kp * (0.01 - 1.0)
    # anti-windup: the integral moves by the error's share and by the clamp's difference over tt
    assert c.err_integral == (c.kp * 1e9 / c.ti) * (0.01 - 1.0) + (1e9 / c.tt) * (c.min - raw)


def test_an_overflowing_controller_fails_and_resets() -> None:
    c = PIController(err_integral=1e308)
    out, ok = c.next(-1e308, 0.01, 1e308)
    assert not ok and out == c.min and c.err_integral == 0.0
    assert c.input_overflow or c.err_overflow


def test_a_failed_controller_starts_a_cooldown_that_later_sleeps_use_up() -> None:
    state = ScavengerState()
    state.controller.err_integral = math.inf  # the next sample fails (an infinite raw output)
    slept = sleep(state, 2e6, lambda ns: ns, 1)
    assert slept == int(2e6 / STARTING_SLEEP_RATIO)
    assert state.sleep_ratio == STARTING_SLEEP_RATIO and state.cooldown_ns == FAILURE_COOLDOWN_NS
    assert state.controller_failed
    before = state.controller.err_integral
    sleep(state, 1e6, lambda ns: 1000, 1)
    assert state.cooldown_ns == FAILURE_COOLDOWN_NS - 1000 - 1_000_000
    assert state.controller.err_integral == before  # during a cooldown the controller is not consulted
    sleep(state, 1e6, lambda ns: FAILURE_COOLDOWN_NS, 1)
    assert state.cooldown_ns == 0


def test_run_works_about_a_millisecond_unless_told_to_stop_or_out_of_pages() -> None:
    calls: list[int] = []

    def scavenge(n: int) -> tuple[int, int]:
        calls.append(n)
        return n, 300_000

    released, worked = run(8, scavenge, lambda: False)
    assert (released, worked, calls) == (32, 1_200_000.0, [8, 8, 8, 8])  # stops once worked >= 1e6
    assert run(8, scavenge, lambda: True) == (0, 0.0)
    assert run(8, lambda n: (3, 30), lambda: False) == (3, 30.0)  # fewer pages than asked: the heap is out


def test_a_short_run_sleeps_as_if_it_worked_the_minimum() -> None:
    state = ScavengerState()
    asked: list[int] = []
    sleep(state, 10.0, lambda ns: asked.append(ns) or ns, 1)
    assert asked == [int(MIN_WORK_NS / STARTING_SLEEP_RATIO)]


def test_a_wake_runs_until_a_run_releases_nothing_then_parks() -> None:
    heap = aged_heap()
    first = heap.scavenger_wake(1000, 10_000, 100, 1)
    assert first.released >= 1000 and first.runs >= 2
    assert heap.scavenger.parked
    assert STARTING_SLEEP_RATIO <= first.sleep_ratio <= 1000
    rest = heap.scavenger_wake(1 << 30, 10_000, 100, 1)
    assert first.released + rest.released == 1500  # every free unscavenged page, and no more
    empty = heap.scavenger_wake(1 << 30, 10_000, 100, 1)
    assert (empty.released, empty.runs, empty.slept_ns) == (0, 1, 0)
    assert empty.sleep_ratio == rest.sleep_ratio  # a wake with nothing to do leaves the pacing alone


def test_a_zero_budget_wake_releases_nothing() -> None:
    heap = aged_heap()
    assert heap.scavenger_wake(0, 10_000, 100, 1).released == 0


def test_the_pacing_settles_near_one_percent_of_a_cpu() -> None:
    heap = aged_heap(chunks=64, freed=30_000)
    worked = slept = 0
    for _ in range(40):
        w = heap.scavenger_wake(800, 10_000, 100, 1)
        worked += w.released * 10_000
        slept += w.slept_ns
    assert 0.005 < worked / (worked + slept) < 0.02


@pytest.mark.parametrize(
    ("field", "args"),
    [
        ("ns_per_page", (1, 0, 100, 1)),
        ("ns_per_page", (1, 10_000_001, 100, 1)),
        ("sleep_pct", (1, 1, 10_001, 1)),
        ("procs", (1, 1, 100, 0)),
        ("procs", (1, 1, 100, 1025)),
        ("budget", (-1, 1, 100, 1)),
    ],
)
def test_out_of_range_stubs_are_refused_before_anything_changes(field: str, args: tuple[int, int, int, int]) -> None:
    heap = aged_heap()
    with pytest.raises(ParameterError, match=field):
        heap.scavenger_wake(*args)
    assert heap.scavenger == ScavengerState()
    assert heap.scavenger_wake(1 << 30, 10_000, 100, 1).released == 1500


def test_a_wake_of_an_awake_scavenger_is_refused() -> None:
    state = ScavengerState(parked=False)
    with pytest.raises(ValueError, match="awake"):
        wake(state, 8, lambda n: (0, 0), lambda: False, lambda ns: ns, 1)


def test_long_sleeps_make_the_controller_diverge_until_it_fails_and_resets() -> None:
    """With periods far past the reset time (period/tt > 2), anti-windup overshoots and the integral grows
    without bound: Go's controller then overflows, resets, and the scavenger cools down. Reachable from a
    trace (sleep_pct 1000, 10 ms a page), so the live campaign compares it with Go's."""
    heap = aged_heap(chunks=16, freed=7000)
    first = heap.scavenger_wake(3200, 10_000_000, 1000, 2)
    assert not heap.scavenger.controller_failed and abs(first.err_integral) > 1e200
    heap.scavenger_wake(3200, 10_000_000, 1000, 2)
    assert heap.scavenger.controller_failed
