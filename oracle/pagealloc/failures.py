"""Writing a failure down: a trace file that reproduces it, and the message that names it.

A failure of the exact level is written as a trace of every line up to the
failing one, each `expect` the model's, so that

    python -m oracle replay FILE --impl NAME

shows the same line, op, expected and got that the oracle printed. That
holds directly for a result that differs, and for a difference of states
that the machine's quick probes showed in a result (the probe's lines end
the trace; oracle.pagealloc.probes). A latent difference, one no quick probe showed,
gets the full probes here (draining the heap, scavenging everything, ...),
on instances rebuilt by replaying the trace; if one shows it, its lines are
appended, and otherwise the message says that replay will find every
result equal.

A reproducible trace is then minimized (`minimize`: runs of lines removed
while a result still differs), and the message is rebuilt from the file
itself (`explain`): the differing line exactly as replay prints it, where
the states first differed, and below it the oracle's original report.

Two more kinds cannot be replayed as mismatches, and their messages say
so: a missing refusal (replay runs the model as the judge, and the model
refuses the line before the implementation sees it), and a broken model
invariant (the model itself is wrong; the trace reproduces the steps).

A failure of the safe level is written with the implementation's own
results as expects (the model cannot judge another placement policy);
`python -m oracle fuzz --level safe --impl NAME --replay FILE` checks such a
file again (oracle.pagealloc.fuzz.replay_safe).
"""

from __future__ import annotations

import os
import shlex
import time
from pathlib import Path

import attrs

from model.errors import ModelError
from oracle.pagealloc.adapters import snapshot_of
from oracle.pagealloc.machine import Failure, ImplFactory, TraceLines, call_impl
from oracle.pagealloc.probes import replay_pair, run_probes, sequences
from oracle.pagealloc.protocol import ModelImpl, make_geometry
from oracle.pagealloc.replay import Mismatch
from oracle.pagealloc.state import diff_states, model_state
from oracle.pagealloc.trace import OPS_WITH_RESULT, Op, Params, dumps

MINIMIZE_SECONDS = 10.0


@attrs.frozen
class WrittenFailure:
    path: Path
    message: str
    kind: str
    reproduces: bool


def first_mismatch(params: Params, ops: list[Op], factory: ImplFactory) -> TraceLines | None:
    """Replay ops into a fresh model and implementation: the lines up to the first differing result, or None.

    None also when a line is invalid for the model (with lines removed, a free may free nothing).
    """
    model, impl = ModelImpl(params), factory(params)
    lines: TraceLines = []
    for k, op in enumerate(ops):
        line = Op(op.kind, op.args, None, k + 2)
        try:
            want = model.apply(line)
        except ModelError:
            return None
        got, _ = call_impl(impl, line)
        lines.append((line, want))
        if line.kind in OPS_WITH_RESULT and got != want:
            return lines
    return None


def minimize(params: Params, lines: TraceLines, factory: ImplFactory, seconds: float) -> TraceLines:
    """The shortest trace found, by removing runs of lines, that still ends in a differing result.

    A ddmin-style pass after Hypothesis's shrinking: Hypothesis shrinks the
    test case within its time limit; this cuts what the trace still has that
    the failure does not need (steps that changed nothing, a grow far away).
    """
    deadline = time.monotonic() + seconds
    best = first_mismatch(params, [op for op, _ in lines], factory)
    if best is None:
        return lines
    parts = 2
    while len(best) >= 2 and time.monotonic() < deadline:
        ops = [op for op, _ in best]
        size = -(-len(ops) // parts)
        for start in range(0, len(ops), size):
            candidate = first_mismatch(params, ops[:start] + ops[start + size :], factory)
            if candidate is not None:
                best, parts = candidate, max(parts - 1, 2)
                break
            if time.monotonic() >= deadline:
                break
        else:
            if size == 1:
                break
            parts = min(parts * 2, len(ops))
    return best


def explain(params: Params, lines: TraceLines, factory: ImplFactory) -> str:
    """What replaying the lines shows: the differing result as replay prints it, and where the states first differed."""
    model, impl = ModelImpl(params), factory(params)
    geometry = make_geometry(params)
    differed = ""
    for op, want in lines:
        model.apply(op)
        got, _ = call_impl(impl, op)
        if op.kind in OPS_WITH_RESULT and got != want:
            return Mismatch(op.line, op, want, got).describe() + differed
        if not differed:
            snapshot = snapshot_of(impl)
            differences = diff_states(model_state(model.heap), snapshot, geometry) if snapshot else []
            if differences:
                differed = f"\n  the states first differed after line {op.line}: {op.describe()}"
                differed += "".join(f"\n    {d}" for d in differences)
    return "(replay shows no differing result)" + differed


def replay_command(path: Path, failure: Failure, cmd: str | None) -> str:
    if failure.level == "safe":
        extra = f" --cmd {shlex.quote(cmd)}" if cmd else ""
        return f"python -m oracle fuzz --level safe --impl {failure.impl}{extra} --replay {shlex.quote(str(path))}"
    prefix = f"ORACLE_SUBPROCESS_CMD={shlex.quote(cmd)} " if cmd and failure.impl == "subprocess" else ""
    return f"{prefix}python -m oracle replay {shlex.quote(str(path))} --impl {failure.impl}"


def write_failure(
    failure: Failure,
    folder: Path,
    factory: ImplFactory | None = None,
    cmd: str | None = None,
    label: str = "",
    minimize_seconds: float = MINIMIZE_SECONDS,
) -> WrittenFailure:
    """Write the failure's trace into folder and return its path and the full message."""
    if failure.kind in ("latent", "mismatch") and failure.probe is None and factory is not None:
        visible = failure.kind == "mismatch" and failure.op is not None and failure.op.kind in OPS_WITH_RESULT
        if not visible:
            pair = replay_pair(failure.params, factory, failure.ops, call_impl)
            found = run_probes(pair, failure.ops, sequences(failure.params, failure.ops, full=True), call_impl)
            if found is not None:
                failure.probe_lines, failure.probe = found
    lines = failure.trace_lines
    message = failure.message()
    if failure.level == "safe":
        reproduces = True
    elif failure.kind == "mismatch":
        reproduces = (failure.op is not None and failure.op.kind in OPS_WITH_RESULT) or failure.probe is not None
    else:
        reproduces = failure.probe is not None
    if failure.level == "exact" and reproduces and factory is not None and minimize_seconds > 0:
        lines = minimize(failure.params, lines, factory, minimize_seconds)
        message = explain(failure.params, lines, factory)
        if message != failure.message():
            message += f"\n  (found as a {failure.kind} by the oracle, which reported:)"
            message += "".join(f"\n  | {t}" for t in failure.message().splitlines())
    if failure.kind == "refusal" and failure.level == "exact":
        message += "\n  (replay cannot show a missing refusal: the model refuses the line first)"
    elif failure.kind == "model":
        message += "\n  (a model bug: the trace reproduces the steps with --impl model)"
    elif not reproduces:
        message += "\n  no probe made a result differ: replay will find every result equal"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = f"{failure.impl}-{failure.level}{'-' + label if label else ''}-{stamp}-{os.getpid()}"
    path = folder / f"{name}.jsonl"
    n = 1
    while path.exists():
        n += 1
        path = folder / f"{name}-{n}.jsonl"
    path.write_text(dumps(failure.params, lines), encoding="utf-8")
    message += f"\n  trace: {path} ({len(lines)} lines after the header)"
    message += f"\n  reproduce: {replay_command(path, failure, cmd)}"
    return WrittenFailure(path, message, failure.kind, reproduces)
