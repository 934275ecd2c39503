"""Replaying a pacing trace against the model: every expect compared, exact or within its bound.

Each line runs on a model pacer (model.gc.pacer.Pacer), built from the
header's state and statistics. A line's `expect` holds the runtime's
decisions; each is compared by its rule (SPEC.md Part III, "Exact and
bounded"):

  exact     equal to the model's value: every goal, bound, the trigger, the
            runway, the scavenger's goals at a commit, the settings and the
            old values, the metrics that read settings or the last cycle.
  bounded   within a range the model computes, where the runtime decided at
            a moment no snapshot can see:
    * alloc gc_started with a memory limit set: the allocation itself may
      map up to its own size more, or scavenge down to the limit, before the
      trigger test; the verdict must be one of those the model gives across
      that band (exact without a limit);
    * tick gc_started: a periodic cycle never starts within the period or
      with GOGC off (exact), and must have started by PERIODIC_BOUND periods
      (sysmon may sleep half a period when idle, and the helper goroutine
      and sysmon's thread wait for a CPU on a loaded machine);
    * gc_end last_heap_goal with the memory limit binding at either end of
      the cycle: between the marked heap and the GOGC-side goal;
    * the trigger (besides exact): between the model's minimum and maximum
      trigger, which no cons/mark estimate can move it out of;
    * observe's /gc/heap/goal:bytes metric: between the model's goal and the
      goal with any overage released (the scavenger may run between the
      snapshot and the metrics read).

Where the runtime's verdict is within the bound but differs from the
model's, the model follows the runtime (a cycle starts, or does not; the
goal remembered at a cycle's end is the runtime's), so the next lines stay
comparable. After every line the invariants
(oracle.pacer.invariants) are checked on the model.

Outcomes: the first failing line stops the replay (exit 1); a malformed
line, or one the model refuses (a gc_end with no cycle running), is bad
input (exit 2). The report counts, per quantity, the checks made exactly and
within bounds.
"""

from __future__ import annotations

import copy
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from model.errors import ModelError
from model.gc.pacer import MAX_INT64, NO_GOAL, MemStats, Pacer, heap_goal_and_min_trigger
from oracle.common.errors import TraceError
from oracle.common.jsonlines import iter_lines, read_lines
from oracle.common.output import OutputFile
from oracle.pacer.invariants import violations
from oracle.pacer.trace import EXPECT_KEYS, Header, Outcome, PacerOp, parse_header, parse_op

# Metrics an observation may carry, and the model's value each must equal.
EXACT_METRICS = {
    "/gc/gogc:percent": lambda p: p.gc_percent & ((1 << 64) - 1),
    "/gc/gomemlimit:bytes": lambda p: p.memory_limit,
    "/gc/heap/live:bytes": lambda p: p.heap_marked,
    "/gc/scan/stack:bytes": lambda p: p.last_stack_scan,
    "/gc/scan/globals:bytes": lambda p: p.globals_scan,
}
GOAL_METRIC = "/gc/heap/goal:bytes"
PERIODIC_BOUND = 4  # a periodic cycle has started by this many periods after the last cycle ended


@attrs.frozen
class Failure:
    line: int
    op: PacerOp
    kind: str  # "mismatch", "bounds" or "invariant"
    problems: tuple[str, ...]

    def describe(self) -> str:
        shown = "\n  ".join(self.problems[:6])
        more = f"\n  ... and {len(self.problems) - 6} more" if len(self.problems) > 6 else ""
        return f"line {self.line}: {self.op.describe()}\n  {shown}{more}"


@attrs.frozen
class Report:
    path: Path
    ops: int
    exact: Counter[str]
    bounded: Counter[str]
    seconds: float
    failure: Failure | None

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def checked(self) -> int:
        return sum(self.exact.values()) + sum(self.bounded.values())


def build(header: Header) -> Pacer:
    try:
        return Pacer.restore(header.state, copy.deepcopy(header.stats), header.params.phys_page_bytes,
                             header.params.force_gc_period_ns)
    except ModelError as e:
        raise TraceError(1, f"header: {e}") from None


def _assign(target: Pacer, source: Pacer) -> None:
    for field in attrs.fields(Pacer):
        setattr(target, field.name, getattr(source, field.name))


def decisions(pacer: Pacer) -> Outcome:
    """Every value an expect may name, as the model has it now."""
    out: Outcome = pacer.pacing().to_json()
    if pacer.scavenge is not None:
        out.update(pacer.scavenge.to_json())
        out["scav_need"] = pacer.scavenge_need()
    out["gc_percent"] = pacer.gc_percent
    out["memory_limit"] = pacer.memory_limit
    return out


class Judge:
    """Compares one line's expect with the model's values, by rule, and counts the checks."""

    def __init__(self) -> None:
        self.exact: Counter[str] = Counter()
        self.bounded: Counter[str] = Counter()
        self.problems: list[str] = []
        self.kind = "mismatch"

    def equal(self, name: str, expected: Any, got: Any) -> None:
        self.exact[name] += 1
        if expected != got:
            self.problems.append(f"{name}: expected {expected}, model {got}")

    def within(self, name: str, expected: int, low: int, high: int) -> None:
        (self.exact if low == high else self.bounded)[name] += 1  # a band of one value is an exact check
        if not low <= expected <= high:
            self.problems.append(f"{name}: {expected} is outside the model's bounds [{low}, {high}]")
            if self.kind == "mismatch" and len(self.problems) == 1:
                self.kind = "bounds"

    def one_of(self, name: str, expected: Any, allowed: set[Any], exact: bool) -> None:
        (self.exact if exact else self.bounded)[name] += 1
        if expected not in allowed:
            rule = "model" if exact else "model allows only"
            self.problems.append(f"{name}: expected {expected}, {rule} {sorted(allowed)}")


def _with_stats(pacer: Pacer, stats: MemStats) -> Pacer:
    other = copy.deepcopy(pacer)
    other.stats = stats
    return other


def _alloc_band(pacer: Pacer, nbytes: int) -> list[MemStats]:
    """Statistics the trigger test may have seen: the allocation mapping up to its size more, or the
    runtime scavenging free memory down to the limit first."""
    s = pacer.stats
    grown = attrs.evolve(s, mapped_ready=s.mapped_ready + nbytes)
    release = min(s.heap_free, max(0, s.mapped_ready - pacer.memory_limit))
    released = attrs.evolve(s, mapped_ready=s.mapped_ready - release, heap_free=s.heap_free - release)
    return [grown, released]


def _check_expect(judge: Judge, op: PacerOp, got: Outcome, skip: tuple[str, ...] = ()) -> None:
    for name, expected in (op.expect or {}).items():
        if name not in skip:
            judge.equal(name, expected, got.get(name))


def _trigger_bounds(judge: Judge, op: PacerOp, got: Outcome) -> None:
    expected = (op.expect or {}).get("trigger")
    if expected is not None:
        judge.within("trigger (bounds)", expected, got["trigger_min"], got["trigger_max"])


def apply_line(pacer: Pacer, op: PacerOp, judge: Judge) -> tuple[Outcome, bool | None, int | None]:
    """Run one line on the model and judge its expect. Returns the model's outcome for the line (what
    --emit writes), whether it started a cycle (alloc, tick) and a tick's time since the last cycle."""
    a = op.args
    expect = op.expect or {}
    started: bool | None = None
    since: int | None = None
    if op.kind in ("commit", "observe") and "stats" in a:
        pacer.set_stats(copy.deepcopy(a["stats"]))
    match op.kind:
        case "commit":
            pacer.commit(a["sweep_done"])
            got = decisions(pacer)
            _check_expect(judge, op, got)
        case "set_gogc" | "set_memory_limit":
            if op.kind == "set_gogc":
                old = pacer.set_gc_percent(a["percent"], a["sweep_done"])
            else:
                old = pacer.set_memory_limit(a["bytes"], a["sweep_done"])
            got = {"old": old, **decisions(pacer)}
            _check_expect(judge, op, got)
        case "alloc":
            before = copy.deepcopy(pacer)
            started = pacer.allocate(a["bytes"])
            got = {"gc_started": started}
            if "gc_started" in expect:
                allowed = {started}
                exact = before.memory_limit == MAX_INT64
                if not exact:
                    for stats in _alloc_band(before, a["bytes"]):
                        allowed.add(_with_stats(before, stats).allocate(a["bytes"]))
                judge.one_of("gc_started (alloc)", expect["gc_started"], allowed, exact)
                if expect["gc_started"] != started and expect["gc_started"] in allowed:
                    # The runtime's verdict is within the bound: follow it.
                    before.stats.heap_live += a["bytes"]
                    if expect["gc_started"]:
                        before.start_cycle("heap")
                    _assign(pacer, before)
                    started = expect["gc_started"]
        case "gc_start":
            pacer.start_cycle(a["kind"])
            got = {}
        case "gc_end":
            gogc_side, _ = heap_goal_and_min_trigger(
                pacer.gc_percent_goal, NO_GOAL, pacer.sweep_dist_min_trigger, pacer.triggered
            )
            after_stats = a.get("stats", pacer.stats)
            exact = pacer.heap_goal() == gogc_side and _with_stats(pacer, after_stats).heap_goal() == gogc_side
            old_marked = pacer.heap_marked
            last = pacer.end_cycle(a["marked"], a["heap_scan"], a["stack_scan"], a["heap_in_use"], a["cons_mark"],
                                   a.get("globals_scan"))
            if "stats" in a:
                pacer.set_stats(copy.deepcopy(a["stats"]))
            got = {"last_heap_goal": last, **decisions(pacer)}
            if "last_heap_goal" in expect:
                if exact:
                    judge.equal("last_heap_goal", expect["last_heap_goal"], last)
                else:
                    judge.within("last_heap_goal", expect["last_heap_goal"], old_marked, gogc_side)
                    if old_marked <= expect["last_heap_goal"] <= gogc_side:
                        # Within the bound: the runtime's value is the scavenger's reference from now on.
                        pacer.last_heap_goal = expect["last_heap_goal"]
            _check_expect(judge, op, got, skip=("last_heap_goal",))
        case "tick":
            since = a["since_gc_ns"]
            before = copy.deepcopy(pacer)
            started = pacer.tick(since)
            got = {"gc_started": started}
            if "gc_started" in expect:
                allowed = {started}
                if started and since <= PERIODIC_BOUND * pacer.force_gc_period_ns:
                    allowed.add(False)  # sysmon may not have looked yet
                judge.one_of("gc_started (tick)", expect["gc_started"], allowed, exact=len(allowed) == 1)
                if expect["gc_started"] != started and expect["gc_started"] in allowed:
                    _assign(pacer, before)
                    started = False
        case "observe":
            got = decisions(pacer)
            _check_expect(judge, op, got)
            metrics = a.get("metrics", {})
            for name, value_of in EXACT_METRICS.items():
                if name in metrics:
                    judge.equal(name, metrics[name], value_of(pacer))
            if GOAL_METRIC in metrics:
                stats = _alloc_band(pacer, 0)[1]
                judge.within(GOAL_METRIC, metrics[GOAL_METRIC], pacer.heap_goal(),
                             _with_stats(pacer, stats).heap_goal())
        case _:
            raise AssertionError(op.kind)
    if op.kind == "alloc" and "stats" in a:
        pacer.set_stats(copy.deepcopy(a["stats"]))
    _trigger_bounds(judge, op, got)
    return got, started, since


def replay_pacer(path: Path, emit: OutputFile | None = None, check_invariants: bool = True) -> Report:
    """Replay a trace file; see replay_lines."""
    return replay_lines(read_lines(path), path, emit, check_invariants)


def replay_text(text: str, check_invariants: bool = True) -> Report:
    return replay_lines(iter_lines(text), Path("<trace>"), None, check_invariants)


def replay_lines(
    lines: Iterator[tuple[int, str]], path: Path, emit: OutputFile | None = None, check_invariants: bool = True
) -> Report:
    """Run every line; stop at the first failing one (unless emitting, which runs them all)."""
    began = time.monotonic()
    _, head = next(lines, (1, ""))
    header = parse_header(head)
    pacer = build(header)
    judge = Judge()
    emitted: list[dict[str, Any]] = []
    ops = 0
    failure: Failure | None = None
    for number, text in lines:
        op = parse_op(text, number)
        judge.problems, judge.kind = [], "mismatch"
        try:
            got, started, since = apply_line(pacer, op, judge)
        except ModelError as e:
            raise TraceError(number, f"{op.kind}: {e}") from None
        ops += 1
        if emit is not None:
            emitted.append(op.to_json({k: v for k, v in got.items() if k in EXPECT_KEYS[op.kind]}))
        if failure is None and judge.problems:
            failure = Failure(number, op, judge.kind, tuple(judge.problems))
        if failure is None and check_invariants:
            broken = violations(pacer, op.kind, started, since)
            if broken:
                failure = Failure(number, op, "invariant", tuple(broken))
        if failure is not None and emit is None:
            break
    if emit is not None:
        emit.write_text("\n".join(json.dumps(x) for x in [header.to_json(), *emitted]) + "\n")
    return Report(path, ops, judge.exact, judge.bounded, time.monotonic() - began, failure)


def bundled_traces() -> list[Path]:
    folder = Path(__file__).resolve().parent / "traces"
    return sorted(folder.glob("*.jsonl"))
