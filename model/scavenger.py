"""The background scavenger's goroutine and its pacing (Go: scavengerState and piController, mgcscavenge.go).

The page allocator's scavenge (model.pagealloc.PageAlloc.scavenge) says WHAT
is released; this module says HOW MUCH the background scavenger releases in
one go and how long it then sleeps, so that it spends about 1% of one CPU.

The goroutine's life, as Go's bgscavenge runs it: it parks; when woken it
loops, each turn a `run` (scavenge 64 KiB at a time until about a
millisecond of work is done, or the policy says stop, or the heap has
nothing left to release) followed by a `sleep` sized from the work done; a
run that releases nothing parks it again. Everything the goroutine touches
outside itself is an input here, as Go's own test of it stubs them:

  * scavenge(n pages) -> (pages released, nanoseconds it took): the heap's
    background scavenge, with a cost per page the caller chooses;
  * should_stop() -> bool: the policy (in Go, retained memory at or under
    the heap goal and the memory-limit goal);
  * sleep(ns) -> ns actually slept (a timer that may fire late or early);
  * procs: GOMAXPROCS.

State kept across wakes (ScavengerState), each field's invariant beside it:
the sleep ratio (work time over sleep time, set by the controller), the
controller's integral, and a cooldown during which the ratio is held at its
start value because the controller's assumptions broke (its output
overflowed). Arithmetic is float64 in the order Go writes it, so every
value is Go's to the last bit: the model and the runtime answer the same
JSON numbers.

One step Go has is not reachable here: when a scavenge reports taking no
time (a clock coarser than the work), run estimates 10 microseconds per
physical page of the runtime's real physical page size, which a trace does
not carry; the traces' scavenge cost is at least 1 ns per page, so that
estimate is never used (SPEC.md, "The background scavenger").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol

import attrs

from model.errors import ParameterError
from model.geometry import Geometry

# Go: scavengeQuantum, the bytes run asks the heap to release in one call.
QUANTUM_BYTES = 64 << 10
# Go: minScavWorkTime, the work (ns) run aims for before sleeping.
MIN_WORK_NS = 1e6
# Go: scavengeCostRatio, 0 on Linux (0.7 on Darwin and iOS, whose scavenged memory costs more to reuse).
COST_RATIO = 0.0
# Go: scavengePercent, the CPU share (of one CPU, in percent) the scavenger aims to use.
SCAVENGE_PERCENT = 1
# Go: startingScavSleepRatio, the ratio the scavenger starts with and returns to after a controller failure.
STARTING_SLEEP_RATIO = 0.001
# Go: the cooldown (ns) after the controller fails, during which the ratio is held.
FAILURE_COOLDOWN_NS = 5_000_000_000


@attrs.define
class PIController:
    """Go's piController: a proportional-integral controller with anti-windup (output clamped to [min, max])."""

    kp: float = 0.3375  # proportional gain (Go tunes these loosely by Ziegler-Nichols)
    ti: float = 3.2e6  # integral time
    tt: float = 1e9  # reset (anti-windup) time
    min: float = 0.001
    max: float = 1000.0
    err_integral: float = 0.0  # always finite: an overflow resets it to 0 and reports failure
    err_overflow: bool = False
    input_overflow: bool = False

    def next(self, value: float, setpoint: float, period: float) -> tuple[float, bool]:
        """The new output for a sample `value` after `period`, and whether the controller still holds."""
        prop = self.kp * (setpoint - value)
        raw = prop + self.err_integral
        output = raw
        if math.isinf(output) or math.isnan(output):
            self.err_integral = 0.0
            self.input_overflow = True
            return self.min, False
        if output < self.min:
            output = self.min
        elif output > self.max:
            output = self.max
        if self.ti != 0 and self.tt != 0:
            self.err_integral += (self.kp * period / self.ti) * (setpoint - value) + (period / self.tt) * (output - raw)
            if math.isinf(self.err_integral) or math.isnan(self.err_integral):
                self.err_integral = 0.0
                self.err_overflow = True
                return self.min, False
        return output, True


def go_int64(x: float) -> int:
    """Go's int64(x) for a float64 x: truncation toward zero (x is in range on every path here)."""
    return int(x)


@attrs.define
class ScavengerState:
    """What the background scavenger keeps between wakes (Go: the fields of scavengerState it paces with)."""

    parked: bool = True  # between wakes it is always parked: a wake ends only when a run released nothing
    sleep_ratio: float = STARTING_SLEEP_RATIO  # work time over sleep time; in [controller.min, controller.max]
    controller: PIController = attrs.Factory(PIController)
    cooldown_ns: int = 0  # >= 0; while > 0 the controller is not consulted
    controller_failed: bool = False  # Go's printControllerReset: set when the controller fails, never cleared here


@attrs.frozen
class WakeResult:
    """What one wake did (the pages released, the runs made, the last of which released nothing, and the
    ns slept) and the pacing state it left (the sleep ratio, the cooldown, the controller's integral)."""

    released: int
    runs: int
    slept_ns: int
    sleep_ratio: float
    cooldown_ns: int
    err_integral: float


Scavenge = Callable[[int], tuple[int, int]]  # pages asked -> (pages released, ns taken)


def run(quantum_pages: int, scavenge: Scavenge, should_stop: Callable[[], bool]) -> tuple[int, float]:
    """One turn of work (Go: scavengerState.run): (pages released, ns worked)."""
    released = 0
    worked = 0.0
    while worked < MIN_WORK_NS:
        if should_stop():
            break
        r, duration = scavenge(quantum_pages)
        if duration == 0:
            # Go estimates 10 us per physical page of the runtime's own size here; unreachable from a trace.
            if r != 0:
                raise ValueError("a scavenge that released pages must take time (see the module comment)")
        else:
            worked += float(duration)
        released += r
        if r < quantum_pages:
            break
    return released, worked


def sleep(state: ScavengerState, worked: float, timer: Callable[[int], int], procs: int) -> int:
    """Sleep after a run (Go: scavengerState.sleep with its sleep stub); returns the ns slept."""
    if worked < MIN_WORK_NS:
        worked = MIN_WORK_NS
    worked *= 1 + COST_RATIO
    slept = timer(go_int64(worked / state.sleep_ratio))
    if state.cooldown_ns > 0:
        t = slept + go_int64(worked)
        state.cooldown_ns = 0 if t > state.cooldown_ns else state.cooldown_ns - t
        return slept
    ideal = SCAVENGE_PERCENT / 100.0
    cpu_fraction = worked / ((float(slept) + worked) * float(procs))
    state.sleep_ratio, ok = state.controller.next(cpu_fraction, ideal, float(slept) + worked)
    if not ok:
        state.sleep_ratio = STARTING_SLEEP_RATIO
        state.cooldown_ns = FAILURE_COOLDOWN_NS
        state.controller_failed = True
    return slept


def wake(
    state: ScavengerState,
    quantum_pages: int,
    scavenge: Scavenge,
    should_stop: Callable[[], bool],
    timer: Callable[[int], int],
    procs: int,
) -> WakeResult:
    """Wake the parked scavenger and let it run until it parks again (Go: wake, then bgscavenge's loop)."""
    if not state.parked:
        raise ValueError("the scavenger is awake: a wake happens only while it is parked")
    state.parked = False
    released = runs = slept = 0
    while True:
        r, worked = run(quantum_pages, scavenge, should_stop)
        runs += 1
        if r == 0:
            state.parked = True
            return WakeResult(
                released, runs, slept, state.sleep_ratio, state.cooldown_ns, state.controller.err_integral
            )
        released += r
        slept += sleep(state, worked, timer, procs)


# The ranges of a trace's scavenger_wake arguments beyond their minimums (oracle.pagealloc.trace), so that
# no product overflows Go's int64: a run's work is under 1 ms plus its last scavenge, which releases at most
# a few pages and one huge page (4,096 pages at the most), so under 5e10 ns at 1e7 ns a page; the sleep asked,
# at the smallest ratio 0.001, is under 5e13 ns, and what the timer reports, at 10,000%, under 5e15 < 2**63.
MAX_NS_PER_PAGE = 10_000_000
MAX_SLEEP_PERCENT = 10_000
MAX_PROCS = 1024


class Heap(Protocol):
    """What a wake needs of a page allocator (the model's PageAlloc and fast/'s FastPageAlloc)."""

    @property
    def geometry(self) -> Geometry: ...

    def scavenge(self, npages: int, force: bool = True) -> int: ...


def wake_heap(
    state: ScavengerState,
    heap: Heap,
    budget: int,
    ns_per_page: int,
    sleep_percent: int,
    procs: int,
) -> WakeResult:
    """A wake with the stubs a trace's scavenger_wake line names (SPEC.md, "The background scavenger").

    The scavenger releases pages with the heap's background scavenge (force=False). Each
    scavenge takes ns_per_page ns per page released; the policy stops the scavenger once `budget`
    pages were released in this wake; a sleep asked for ns lasts ns * sleep_percent // 100 ns; GOMAXPROCS
    is procs.
    """
    for name, value, low, high in (
        ("budget", budget, 0, None),
        ("ns_per_page", ns_per_page, 1, MAX_NS_PER_PAGE),
        ("sleep_pct", sleep_percent, 0, MAX_SLEEP_PERCENT),
        ("procs", procs, 1, MAX_PROCS),
    ):
        if value < low or (high is not None and value > high):
            bound = f">= {low}" if high is None else f"from {low} to {high}"
            raise ParameterError(f"scavenger_wake: {name} must be {bound}, got {value}")
    released = 0

    def scavenge(npages: int) -> tuple[int, int]:
        nonlocal released
        r = heap.scavenge(npages, force=False)
        released += r
        return r, r * ns_per_page

    return wake(
        state,
        QUANTUM_BYTES // heap.geometry.page_bytes,
        scavenge,
        lambda: released >= budget,
        lambda ns: ns * sleep_percent // 100,  # Go's int64 division; ns >= 0 here, so it floors as Python's does
        procs,
    )
