"""Replaying a GC trace against the model, comparing every `expect` and checking every invariant.

Each line runs on a model world (model.gc.cycle.GcWorld) with the chosen
write barrier. After every step the invariants are checked
(model.gc.invariants): the heap's bookkeeping, the weak tricolor invariant
while marking, no noscan object queued or scanned; at mark_done, that no
reachable object is unmarked (a *lost* object); after sweep, that sweep
freed exactly the unmarked objects.

Version 2 traces (oracle.gc.trace) add the small-object path: every
step's outcome also says where an alloc put its object, what the step's
sweeping freed, and how the spans, central sets and tiny blocks changed
(oracle.gc.spanstate), and an expect compares whichever of these it gives.
The span-set invariants are checked after every step of either version
(model.gc.invariants.span_set_violations), and from mark termination to
sweep termination no step may free a marked object and together they must
free every unmarked one (LazySweep). A trace with recorded pages (header
"pages") gives each new span the page its alloc's expect names; a model
that takes a new span where the recorded run did not, or the other way
round, fails that line like any mismatch.

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
from model.gc.cycle import PHASE_MARK, PHASE_OFF, PHASE_TERMINATION, GcWorld
from model.gc.mheap import PagesNotRecorded, RecordedPages
from model.gc.results import sort_ids
from model.gc.spanclass import uses_inline_mark_bits
from model.gc.sweep import SweepResult
from oracle.common.errors import TraceError
from oracle.common.jsonlines import iter_lines, read_lines
from oracle.common.output import OutputFile
from oracle.gc.spanstate import changes, span_state
from oracle.gc.trace import EXPECT_FIELDS, GcOp, IdKind, Outcome, header_json, parse_op, read_header


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
            if "global" in a:
                world.alloc_global(a["global"], a["id"], a["size"], a["noscan"], a["ptrs"], a.get("p", 0))
            else:
                world.alloc(a["g"], a["slot"], a["id"], a["size"], a["noscan"], a["ptrs"], a.get("p", 0))
            got = world.heap.last_malloc
            assert got is not None
            return {"span": got.span.base_page if got.span is not None else -1, "index": got.index,
                    "offset": got.offset}
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
        case "mark_termination":
            world.mark_termination()
        case "gc":
            marked, _ = world.gc()
            return {"marked": list(marked)}
        case "sweep_one":
            world.sweep_one()
        case "finish_sweep":
            world.finish_sweep()
        case _:
            raise AssertionError(op.kind)
    return None


@attrs.define
class SweepCheck:
    """Lazy sweeping checked against mark termination (model.gc.invariants.LazySweep), for version 2."""

    lazy: inv.LazySweep | None = None

    def before_step(self, world: GcWorld, op: GcOp) -> inv.BeforeSweep | None:
        """What mark termination leaves to sweep, for the steps that end a cycle (taken before they do)."""
        if op.kind in ("mark_termination", "sweep"):
            return inv.BeforeSweep.of(world.heap)
        return None

    def after_step(self, world: GcWorld, op: GcOp, before: inv.BeforeSweep | None, swept: SweepResult) -> list[str]:
        out = []
        if op.kind == "gc":
            return out  # checked step by step in run_gc
        if self.lazy is not None:
            out += [f"lazy sweep: {v}" for v in self.lazy.add(swept)]
        if before is not None and op.kind == "mark_termination":
            self.lazy = inv.LazySweep(before)
            out += [f"lazy sweep: {v}" for v in self.lazy.add(swept)]
        if self.lazy is not None and world.heap.sweep_drained:
            out += [f"sweep termination: {v}" for v in self.lazy.finish()]
            self.lazy = None
        return out

    def run_gc(self, world: GcWorld, page_marks: list[int] | None) -> tuple[Outcome, list[str], list[str]]:
        """The gc op, in its parts, so that each part's sweeping is checked against its cycle. Also the
        differences from recorded page marks, if given."""
        out = []
        swept = world.gc_start()
        world.take_sweeps()
        if self.lazy is not None:
            out += [f"lazy sweep: {v}" for v in self.lazy.add(swept)]
            out += [f"sweep termination: {v}" for v in self.lazy.finish()]
            self.lazy = None
        marked = world.finish_marking()
        differ = take_page_marks(world, page_marks) if page_marks is not None else []
        self.lazy = inv.LazySweep(inv.BeforeSweep.of(world.heap))
        flushed = world.mark_termination()
        world.take_sweeps()
        out += [f"lazy sweep: {v}" for v in self.lazy.add(flushed)]
        world.sweeps.append(SweepResult.of_results(swept, flushed))
        return {"marked": list(marked)}, out, differ


def take_page_marks(world: GcWorld, pages: list[int]) -> list[str]:
    """Apply a recorded run's page marks at mark termination; how they differ from the model's.

    For spans of 16..512-byte scan objects Go's span-scan batching decides (oracle.gc.trace): the
    recorded mark is taken, and only checked to be on a span with a marked object. For every other
    span the model's own page mark must be the recorded one.
    """
    recorded = set(pages)
    out = [f"Go page-marked page {page}, where the model has no span"
           for page in sorted(recorded - set(world.heap.spans))]
    for page, span in sorted(world.heap.spans.items()):
        go = page in recorded
        if not span.noscan and not span.large and uses_inline_mark_bits(span.slot_bytes):
            if go and not span.mark_bits:
                out.append(f"Go page-marked the span at page {page}, which has no marked object")
            span.page_marked = go
        elif go != span.page_marked:
            out.append(f"the span at page {page} is {'not ' if not span.page_marked else ''}page-marked in the model, "
                       f"{'' if go else 'not '}in Go")
    return out


def step_violations(
    world: GcWorld, op_kind: str, before_sweep: inv.BeforeSweep | None, tricolor: bool = True
) -> list[str]:
    out = inv.heap_violations(world.heap) + inv.span_set_violations(world.heap, world.phase != PHASE_OFF)
    if world.marker is not None:
        out += inv.noscan_violations(world.marker)
    if tricolor and world.phase == PHASE_MARK:
        out += [f"weak tricolor: {v}" for v in inv.weak_tricolor_violations(world)]
    if op_kind == "mark_done":
        out += [f"lost object: {v}" for v in inv.lost_objects(world.heap)]
    if op_kind in ("mark_termination", "gc", "sweep"):
        out += inv.flush_violations(world.heap)
    if op_kind == "sweep" and before_sweep is not None and world.last_sweep is not None:
        out += [f"sweep: {v}" for v in inv.sweep_violations(before_sweep, world.last_sweep, world.heap)]
    return out


def replay_gc(
    path: Path, barrier: Barrier = HYBRID, emit: OutputFile | None = None, check_invariants: bool = True,
    tricolor: bool = True,
) -> GcReplayReport:
    """Replay a trace file; see replay_lines."""
    return replay_lines(read_lines(path), path, barrier, emit, check_invariants, tricolor)


def bundled_traces() -> list[Path]:
    """The traces of the small-object path recorded from Go (oracle.gc.spanpath, `gc-record`), bundled."""
    return sorted((Path(__file__).resolve().parent / "traces").glob("*.jsonl"))


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
    _, first = next(lines, (1, ""))
    header = read_header(first)
    params, heap, stacks, version = header.params, header.heap, header.stacks, header.version
    ids = IdKind.of(heap)
    recorded = RecordedPages(list(header.arenas)) if header.arenas is not None else None
    try:
        world = GcWorld.create(params.goroutines, params.stack_slots, params.globals, barrier, heap, stacks,
                               procs=params.procs, tiny=version >= 2, recorded=recorded)
    except ModelError as e:
        raise TraceError(1, f"header heap: {e}") from None
    world.take_sweeps()
    state = span_state(world.heap) if version >= 2 else None
    sweeps = SweepCheck()
    emitted: list[dict[str, Any]] = []
    ops = checked = 0
    failure: GcFailure | None = None
    before_sweep: inv.BeforeSweep | None = None
    for number, text in lines:
        op = parse_op(text, number, ids, version)
        if op.kind == "sweep":
            before_sweep = inv.BeforeSweep.of(world.heap)
        if recorded is not None:
            recorded.candidate = op.expect.get("span") if op.expect is not None and op.kind == "alloc" else None
            if "arenas" in op.args:
                recorded.arena_pages = list(op.args["arenas"])
        lazy_before = sweeps.before_step(world, op) if version >= 2 else None
        lazy_violations: list[str] = []
        page_marks_differ: list[str] = []
        try:
            if version >= 2 and op.kind == "gc":
                got, lazy_violations, page_marks_differ = sweeps.run_gc(world, op.args.get("page_marks"))
            else:
                if "page_marks" in op.args and world.phase == PHASE_TERMINATION:
                    page_marks_differ = take_page_marks(world, op.args["page_marks"])
                got = apply_op(world, op)
        except PagesNotRecorded as e:
            ops += 1
            failure = GcFailure(number, op, "mismatch", op.expect, {"error": str(e)})
            break
        except ModelError as e:
            raise TraceError(number, f"{op.kind}: {e}") from None
        ops += 1
        swept = world.take_sweeps()
        if version >= 2:
            lazy_violations += sweeps.after_step(world, op, lazy_before, swept)
            assert state is not None
            after = span_state(world.heap)
            got = {**(got or {}), "freed": list(swept.freed), "finalize": list(swept.finalize),
                   "swept": list(swept.spans_swept), **changes(state, after)}
            state = after
        elif got is not None:
            got = {k: v for k, v in got.items() if k in EXPECT_FIELDS.get(op.kind, ())}
        emitted.append(op.to_json(got))
        if failure is None and page_marks_differ:
            failure = GcFailure(number, op, "mismatch", {"page_marks": op.args["page_marks"]},
                                {"page_marks": page_marks_differ})
        if failure is None and op.expect is not None:
            checked += 1
            compared = {k: got.get(k) for k in op.expect} if version >= 2 and got is not None else got
            if compared != op.expect:
                failure = GcFailure(number, op, "mismatch", op.expect, compared)
        if failure is None and check_invariants:
            violations = step_violations(world, op.kind, before_sweep, tricolor) + lazy_violations
            if violations:
                failure = GcFailure(number, op, "invariant", violations=tuple(violations))
        if failure is not None and emit is None:
            break
    if emit is not None:
        head = header_json(params, heap, stacks, version, header.arenas)
        emit.write_text("\n".join(json.dumps(x) for x in [head, *emitted]) + "\n")
    return GcReplayReport(path, barrier.name, ops, checked, time.monotonic() - began, failure)
