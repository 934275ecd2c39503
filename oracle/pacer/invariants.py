"""The pacer's invariants, stated on their own terms and checked on the model's state after every step.

Each check reads the model's decisions (Pacer.pacing, its state and
statistics) and states what must hold in plain arithmetic of its own, not
with the model's rule functions, so a slip in a rule shows up as a broken
invariant rather than being repeated here (SPEC.md Part III, "Invariants"):

  goal_floor        the goal is at least the marked heap
  minimum           the goal is at least the heap minimum (and GOGC/100 of the
                    default minimum), unless the memory limit lowers it
  limit_binds       when the memory-limit goal is below the GOGC goal, the
                    goal is the memory-limit goal (the limit is applied after
                    the heap minimum, so nothing raises it back)
  limit_goal_fits   with room for the marked heap and 1 MiB under the limit
                    (after non-heap memory and overage), memory-limit goal +
                    non-heap + overage <= limit: the memory the runtime tries
                    to keep under a limit is within it
  covers_roots      GOGC on and the limit not binding: goal >= marked +
                    (marked + stacks + globals) * GOGC / 100
  gogc_goal_finite  GOGC on: the committed GOGC goal is a number, not "none"
  trigger_order     min trigger <= trigger <= max trigger <= goal
  runway_and_sweep  the limit not binding: the goal is at least the sweep
                    distance and, while marking, 64 KiB above where the cycle
                    started
  starts_by_trigger after an allocation with no cycle running, the live heap
                    is below the trigger (so a cycle starts no later than the
                    goal)
  scavenger_goals   the memory-limit scavenge goal, when set, is at most 95%
                    of the limit; the GOGC one is whole physical pages
  periodic          a periodic cycle starts only with GOGC on, after a cycle
                    has ended, and more than the period after it

`violations(pacer, after, since_gc_ns)` returns them as messages naming the
invariant and the numbers (empty when all hold).
"""

from __future__ import annotations

from model.gc.pacer import PHASE_OFF, Pacer
from model.gc.scavgoal import NO_GOAL

MIB = 1 << 20
KIB64 = 64 << 10
DEFAULT_MINIMUM = 4 << 20
U64 = 1 << 64


def violations(pacer: Pacer, after: str | None = None, started: bool | None = None,
               since_gc_ns: int | None = None) -> list[str]:
    """Every invariant broken now; `after` is the step just taken (its kind), `started` whether it
    started a cycle, `since_gc_ns` a tick's time since the last cycle ended."""
    out: list[str] = []
    p = pacer
    s = p.stats
    pacing = p.pacing()
    goal = pacing.heap_goal
    limit_goal = pacing.memory_limit_heap_goal
    limited = limit_goal < pacing.gc_percent_heap_goal  # heapGoalInternal's memory-limited branch

    if goal < p.heap_marked:
        out.append(f"goal_floor: goal {goal} is below the marked heap {p.heap_marked}")
    if not limited:
        if goal < p.heap_minimum:
            out.append(f"minimum: goal {goal} is below the heap minimum {p.heap_minimum}")
        if p.gc_percent >= 0 and goal < DEFAULT_MINIMUM * p.gc_percent // 100:
            out.append(f"minimum: goal {goal} is below GOGC {p.gc_percent}% of {DEFAULT_MINIMUM}")
    if limited and goal != limit_goal:
        out.append(f"limit_binds: goal {goal} is not the memory-limit goal {limit_goal}, which binds")

    non_heap = s.mapped_ready - s.heap_free - s.heap_alloc
    overage = max(0, s.mapped_ready - p.memory_limit)
    room = p.memory_limit - non_heap - overage
    if room >= max(p.heap_marked, MIB) and limit_goal + non_heap + overage > p.memory_limit:
        out.append(
            f"limit_goal_fits: memory-limit goal {limit_goal} + non-heap {non_heap} + overage {overage} exceed "
            f"the limit {p.memory_limit}"
        )

    if p.gc_percent >= 0:
        roots = p.heap_marked + p.last_stack_scan + p.globals_scan
        required = p.heap_marked + roots * p.gc_percent // 100
        if not limited and required < U64 and goal < required:
            out.append(
                f"covers_roots: goal {goal} is below marked {p.heap_marked} + GOGC {p.gc_percent}% of "
                f"(marked + stacks {p.last_stack_scan} + globals {p.globals_scan}) = {required}"
            )
        if pacing.gc_percent_heap_goal == NO_GOAL:
            out.append(f"gogc_goal_finite: GOGC is {p.gc_percent} but the committed GOGC goal is none")

    if not pacing.trigger_min <= pacing.trigger <= pacing.trigger_max <= goal:
        out.append(
            f"trigger_order: min {pacing.trigger_min}, trigger {pacing.trigger}, max {pacing.trigger_max}, "
            f"goal {goal} are out of order"
        )

    if not limited:
        if goal < p.sweep_dist_min_trigger:
            out.append(f"runway_and_sweep: goal {goal} is below the sweep distance {p.sweep_dist_min_trigger}")
        if p.phase != PHASE_OFF and goal < p.triggered + KIB64:
            out.append(f"runway_and_sweep: goal {goal} is less than 64 KiB above the start {p.triggered}")

    if after == "alloc" and p.phase == PHASE_OFF and s.heap_live >= pacing.trigger:
        out.append(f"starts_by_trigger: live heap {s.heap_live} reached the trigger {pacing.trigger} with no cycle")

    if p.scavenge is not None:
        limit_scav = p.scavenge.memory_limit_goal
        allowance = (p.memory_limit >> 50) + 1  # Go computes 95% in float64: a few ulps either way
        if limit_scav != NO_GOAL and limit_scav > p.memory_limit * 95 // 100 + allowance:
            out.append(f"scavenger_goals: memory-limit goal {limit_scav} is over 95% of the limit {p.memory_limit}")
        gc_scav = p.scavenge.gc_percent_goal
        if gc_scav != NO_GOAL and gc_scav % p.phys_page_bytes:
            out.append(f"scavenger_goals: GOGC goal {gc_scav} is not whole physical pages of {p.phys_page_bytes}")

    if after == "tick" and started:
        if p.gc_percent < 0:
            out.append("periodic: a periodic cycle started with GOGC off")
        if p.cycles == 0:
            out.append("periodic: a periodic cycle started before any cycle had ended")
        if since_gc_ns is not None and since_gc_ns <= p.force_gc_period_ns:
            out.append(f"periodic: a periodic cycle started {since_gc_ns} ns after the last, within the period")
    return out
