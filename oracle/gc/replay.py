"""Replaying a GC trace against the model, comparing every `expect` and checking every invariant.

Each line runs on a model world (model.gc.cycle.GcWorld) with the chosen
write barrier. After every step the invariants are checked
(model.gc.invariants): the heap's bookkeeping, the weak tricolor invariant
while marking, no noscan object queued or scanned; at mark_done, that no
reachable object is unmarked (a *lost* object); after sweep, that sweep
freed exactly the unmarked objects.

Outcomes: the first line whose result differs from its expect, or after
which an invariant is broken, stops the replay (exit 1); a malformed line,
or one the model refuses (a load through a nil slot, mark_done with work
left), is bad input (exit 2). With `emit`, the trace is written back with
every expect taken from the model.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from model.errors import ModelError
from model.gc import invariants as inv
from model.gc.barrier import HYBRID, Barrier
from model.gc.cycle import PHASE_MARK, GcWorld
from model.gc.results import sort_ids
from oracle.common.errors import TraceError
from oracle.common.jsonlines import iter_lines, read_lines
from oracle.common.output import OutputFile
from oracle.gc.trace import GcOp, IdKind, Outcome, header_json, parse_header, parse_op


@attrs.frozen
class GcFailure:
    line: int
    op: GcOp
    kind: str  # "mismatch" or "invariant"
    expected: Outcome | None = None
    got: Outcome | None = None
    violations: tuple[str, ...] = ()

    def describe(self) -> str:
        head = f"line {self.line}: {self.op.describe()}"
        if self.kind == "mismatch":
            return f"{head}\n  expected {self.expected}\n  got      {self.got}"
        shown = "\n  ".join(self.violations[:5])
        more = f"\n  ... and {len(self.violations) - 5} more" if len(self.violations) > 5 else ""
        return f"{head}\n  invariant broken:\n  {shown}{more}"


@attrs.frozen
class GcReplayReport:
    path: Path
    barrier: str
    ops: int
    checked: int
    seconds: float
    failure: GcFailure | None

    @property
    def ok(self) -> bool:
        return self.failure is None


def apply_op(world: GcWorld, op: GcOp) -> Outcome | None:
    """Run one step on the world; its outcome for ops that have one. Raises ModelError if refused."""
    a = op.args
    match op.kind:
        case "alloc":
            world.alloc(a["g"], a["slot"], a["id"], a["size"], a["noscan"], a["ptrs"])
        case "load":
            world.load(a["g"], a["dst"], a["src"], a["off"])
        case "store":
            world.store(a["g"], a["dst"], a["off"], a["src"])
        case "copy":
            world.copy(a["g"], a["dst"], a["src"])
        case "gload":
            world.gload(a["g"], a["dst"], a["global"])
        case "gstore":
            world.gstore(a["g"], a["global"], a["src"])
        case "set_finalizer":
            world.set_finalizer(a["g"], a["slot"])
        case "run_finalizers":
            return {"ran": list(sort_ids(world.run_finalizers()))}
        case "gc_start":
            world.gc_start()
        case "markroot":
            if a["root"] == "stack":
                world.scan_stack(a["g"])
            else:
                world.markroot(a["root"])
        case "drain":
            return {"scanned": world.drain(a.get("n"))}
        case "mark_done":
            return {"marked": list(world.mark_done())}
        case "sweep":
            result = world.sweep()
            return {"freed": list(result.freed), "finalize": list(result.finalize)}
        case _:
            raise AssertionError(op.kind)
    return None


def step_violations(
    world: GcWorld, op_kind: str, before_sweep: inv.BeforeSweep | None, tricolor: bool = True
) -> list[str]:
    out = inv.heap_violations(world.heap)
    if world.marker is not None:
        out += inv.noscan_violations(world.marker)
    if tricolor and world.phase == PHASE_MARK:
        out += [f"weak tricolor: {v}" for v in inv.weak_tricolor_violations(world)]
    if op_kind == "mark_done":
        out += [f"lost object: {v}" for v in inv.lost_objects(world.heap)]
    if op_kind == "sweep" and before_sweep is not None and world.last_sweep is not None:
        out += [f"sweep: {v}" for v in inv.sweep_violations(before_sweep, world.last_sweep, world.heap)]
    return out


def replay_gc(
    path: Path, barrier: Barrier = HYBRID, emit: OutputFile | None = None, check_invariants: bool = True,
    tricolor: bool = True,
) -> GcReplayReport:
    """Replay a trace file; see replay_lines."""
    return replay_lines(read_lines(path), path, barrier, emit, check_invariants, tricolor)


def replay_text(text: str, barrier: Barrier = HYBRID, check_invariants: bool = True,
                tricolor: bool = True) -> GcReplayReport:
    return replay_lines(iter_lines(text), Path("<trace>"), barrier, None, check_invariants, tricolor)


def replay_lines(
    lines: Iterator[tuple[int, str]], path: Path, barrier: Barrier = HYBRID, emit: OutputFile | None = None,
    check_invariants: bool = True, tricolor: bool = True,
) -> GcReplayReport:
    """Run every line; stop at the first mismatch or broken invariant (unless emitting).

    `tricolor` False leaves out the weak tricolor check, so a broken barrier
    is reported only when it loses an object (at mark_done). `emit`, checked
    by the caller before the run, gets the trace with the model's expects.
    """
    began = time.monotonic()
    _, header = next(lines, (1, ""))
    params, heap, stacks = parse_header(header)
    ids = IdKind.of(heap)
    try:
        world = GcWorld.create(params.goroutines, params.stack_slots, params.globals, barrier, heap, stacks)
    except ModelError as e:
        raise TraceError(1, f"header heap: {e}") from None
    emitted: list[dict[str, Any]] = []
    ops = checked = 0
    failure: GcFailure | None = None
    before_sweep: inv.BeforeSweep | None = None
    for number, text in lines:
        op = parse_op(text, number, ids)
        if op.kind == "sweep":
            before_sweep = inv.BeforeSweep.of(world.heap)
        try:
            got = apply_op(world, op)
        except ModelError as e:
            raise TraceError(number, f"{op.kind}: {e}") from None
        ops += 1
        emitted.append(op.to_json(got))
        if failure is None and op.expect is not None:
            checked += 1
            if got != op.expect:
                failure = GcFailure(number, op, "mismatch", op.expect, got)
        if failure is None and check_invariants:
            violations = step_violations(world, op.kind, before_sweep, tricolor)
            if violations:
                failure = GcFailure(number, op, "invariant", violations=tuple(violations))
        if failure is not None and emit is None:
            break
    if emit is not None:
        emit.write_text("\n".join(json.dumps(x) for x in [header_json(params, heap, stacks), *emitted]) + "\n")
    return GcReplayReport(path, barrier.name, ops, checked, time.monotonic() - began, failure)
