"""The scavenger's goals: how much retained memory the background scavenger gives back, and when it stops.

Every commit of the pacer (model.gc.pacer.Pacer.commit, Go's
gcControllerCommit) also paces the scavenger (gcPaceScavenger,
mgcscavenge.go). It sets two goals, each a number of bytes or NO_GOAL (Go's
^uint64(0): "nothing to do for this reason"):

  * the GOGC goal, on retained heap memory (heapRetained = in-use plus free
    unreleased bytes): the heap in use at the last mark termination, scaled
    by how the heap goal moved since that cycle ended, plus 10%
    (retainExtraPercent), rounded up to a physical page. NO_GOAL before any
    cycle has ended, or when the retained heap is already within a physical
    page of it.
  * the memory-limit goal, on mapped-ready memory: 95% of the limit
    (reduceExtraPercent), or NO_GOAL while mapped-ready memory is at or
    below that.

Go's float64-to-uint64 conversions follow amd64 (uint64_of_float): a heap
goal that jumps (a memory limit of 0 removed with GOGC off) can scale the
GOGC goal past 2**64, which amd64 turns into 2**63.

The background scavenger then releases memory until both hold: retained <=
GOGC goal and mapped-ready <= memory-limit goal (its shouldStop). Releasing a
byte lowers both measures by one, so what the goals ask for is the larger of
the two excesses (need_bytes). It works in quanta of 64 KiB
(scavengeQuantum), testing the goals before each, and parks when a quantum
comes back short (the heap has nothing more it may release): `run_background`
runs that loop on the page-allocator model (model.pageheap.PageHeap's
background scavenge, model.scavenge), as Go's scavengerState.run and
bgscavenge do, without their sleeping (they spend about 1% of one CPU).

Invariant: each goal, when set, is below the measure it governs (a goal
already met is NO_GOAL), so need_bytes is positive exactly when the
scavenger has work; the memory-limit goal is at most 95% of the limit.
"""

from __future__ import annotations

from typing import Any

import attrs

from model.pageheap import PageHeap
from model.words import MASK64, wrap

NO_GOAL = MASK64  # ^uint64(0)
RETAIN_EXTRA_PERCENT = 10  # retainExtraPercent: retained memory over the heap goal kept for the allocator
REDUCE_EXTRA_PERCENT = 5  # reduceExtraPercent: the memory-limit goal aims this far under the limit
SCAVENGE_QUANTUM = 64 << 10  # scavengeQuantum: bytes the background scavenger releases between checks


@attrs.frozen
class ScavengeGoals:
    """The two goals gcPaceScavenger stores (scavenge.gcPercentGoal, scavenge.memoryLimitGoal)."""

    gc_percent_goal: int  # on heap_retained; NO_GOAL: nothing to release for GOGC
    memory_limit_goal: int  # on mapped_ready; NO_GOAL: nothing to release for the limit

    def to_json(self) -> dict[str, int]:
        return {"scav_gc_percent_goal": self.gc_percent_goal, "scav_memory_limit_goal": self.memory_limit_goal}


def uint64_of_float(x: float) -> int:
    """Go's uint64(x) for a float64 x on amd64. Go leaves out-of-range conversions to the
    implementation; amd64 truncates toward zero within range, reads a negative x as an int64 (so -1
    gives 2**64-1), and gives 2**63 for NaN, for x >= 2**64 and below -2**63."""
    if x != x:
        return 1 << 63
    if x < 2.0**63:
        if x <= -(2.0**63) - 1:  # below int64: the truncating instruction gives its "indefinite" value
            return 1 << 63
        return int(x) & MASK64
    if x - 2.0**63 < 2.0**63:
        return int(x)
    return 1 << 63


def memory_limit_retained_goal(memory_limit: int, mapped_ready: int) -> int:
    """The memory-limit goal (gcPaceScavenger): 95% of the limit in float64, truncated; NO_GOAL while
    mapped-ready memory is within it."""
    goal = uint64_of_float(float(memory_limit) * (1 - REDUCE_EXTRA_PERCENT / 100.0))
    return NO_GOAL if mapped_ready <= goal else goal


def gc_percent_retained_goal(
    heap_goal: int, last_heap_goal: int, last_heap_in_use: int, heap_retained: int, phys_page_bytes: int
) -> int:
    """The GOGC goal (gcPaceScavenger): last_heap_in_use * heap_goal / last_heap_goal in float64,
    plus a tenth (an integer division, as Go writes it), rounded up to a physical page; NO_GOAL before
    the first cycle ended or when the retained heap is within a physical page of it."""
    if last_heap_goal == 0:
        return NO_GOAL
    ratio = float(heap_goal) / float(last_heap_goal)
    goal = uint64_of_float(float(last_heap_in_use) * ratio)
    goal = wrap(goal + goal // (100 // RETAIN_EXTRA_PERCENT))
    goal = wrap(goal + phys_page_bytes - 1) & ~(phys_page_bytes - 1) & MASK64
    if heap_retained <= goal or heap_retained - goal < phys_page_bytes:
        return NO_GOAL
    return goal


def pace(
    memory_limit: int,
    heap_goal: int,
    last_heap_goal: int,
    last_heap_in_use: int,
    heap_retained: int,
    mapped_ready: int,
    phys_page_bytes: int,
) -> ScavengeGoals:
    """gcPaceScavenger: both goals, from the limit, the heap goal now and when the last cycle ended."""
    return ScavengeGoals(
        gc_percent_retained_goal(heap_goal, last_heap_goal, last_heap_in_use, heap_retained, phys_page_bytes),
        memory_limit_retained_goal(memory_limit, mapped_ready),
    )


def should_stop(goals: ScavengeGoals, heap_retained: int, mapped_ready: int) -> bool:
    """The background scavenger's stop test: both goals hold."""
    return heap_retained <= goals.gc_percent_goal and mapped_ready <= goals.memory_limit_goal


def need_bytes(goals: ScavengeGoals, heap_retained: int, mapped_ready: int) -> int:
    """Bytes the goals ask the background scavenger to release: the larger excess over a goal (0 if none)."""
    excess: Any = 0
    if heap_retained > goals.gc_percent_goal:
        excess = heap_retained - goals.gc_percent_goal
    if mapped_ready > goals.memory_limit_goal:
        excess = max(excess, mapped_ready - goals.memory_limit_goal)
    return int(excess)


def run_background(
    heap: PageHeap, goals: ScavengeGoals, heap_retained: int, mapped_ready: int, page_bytes: int = 8192
) -> int:
    """The background scavenger on a modelled page heap until the goals hold or a quantum comes back
    short; the pages it released. Both measures go down by what each quantum released."""
    quantum = max(1, SCAVENGE_QUANTUM // page_bytes)
    released = 0
    while not should_stop(goals, heap_retained, mapped_ready):
        got = heap.scavenge(quantum, force=False).released
        released += got
        heap_retained -= got * page_bytes
        mapped_ready -= got * page_bytes
        if got < quantum:
            break
    return released
