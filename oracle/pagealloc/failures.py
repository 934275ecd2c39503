"""Writing a failure down: a trace file that reproduces it, and the message that names it.

A failure of the exact level is written as a trace of every line up to the
failing one, each `expect` the model's, so that

    python -m oracle replay FILE --impl NAME

shows the same line, op, expected and got that the oracle printed. That
holds directly for a line whose answer fails (replay judges every line by
the same rule, oracle.pagealloc.lockstep), and for a difference of states
that the machine's quick probes showed in an answer (the probe's lines end
the trace; oracle.pagealloc.probes). A latent difference, one no quick probe showed,
gets the full probes here (draining the heap, scavenging everything, ...),
on instances rebuilt by replaying the trace; if one shows it, its lines are
appended, and otherwise the message says that replay will find every
result equal.

A reproducible trace is then minimized (`minimize`: runs of lines removed
while a line still fails, with the oracle's one shrinking core,
oracle.common.shrink), and the message is rebuilt from the file
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

from oracle.common.errors import TraceError
from oracle.common.output import new_file, output_folder
from oracle.common.shrink import Reducer
from oracle.pagealloc import lockstep
from oracle.pagealloc.levels import Failure, ImplFactory, TraceLines
from oracle.pagealloc.lockstep import Expect
from oracle.pagealloc.probes import replay_pair, run_probes, sequences
from oracle.pagealloc.protocol import ModelImpl, make_geometry
from oracle.pagealloc.registry import ImplOptions
from oracle.pagealloc.state import diff_states, model_state, snapshot_of
from oracle.pagealloc.trace import Op, Params, dumps

MINIMIZE_SECONDS = 10.0


@attrs.frozen
class WrittenFailure:
    path: Path
    message: str
    kind: str
    reproduces: bool


def first_mismatch(params: Params, ops: list[Op], factory: ImplFactory) -> TraceLines | None:
    """Replay ops into a fresh model and implementation: the lines up to the first failing one, or None.

    None also when a line is invalid for the model (with lines removed, a free may free nothing).
    """
    numbered = [Op(op.kind, op.args, None, k + 2) for k, op in enumerate(ops)]
    model, impl = ModelImpl(params), factory(params)
    lines: TraceLines = []
    try:
        for line in lockstep.run(impl, numbered, model, Expect.MODEL):
            lines.append((line.op, line.expected if isinstance(line.expected, dict) else None))
            if line.mismatch is not None:
                return lines
    except TraceError:
        return None
    return None


def minimize(params: Params, lines: TraceLines, factory: ImplFactory, seconds: float) -> TraceLines:
    """The shortest trace found, by removing runs of lines, that still ends in a failing line.

    A delta-debugging pass after Hypothesis's shrinking: Hypothesis shrinks
    the test case within its time limit; this cuts what the trace still has
    that the failure does not need (steps that changed nothing, a grow far away).
    """
    best = first_mismatch(params, [op for op, _ in lines], factory)
    if best is None:
        return lines

    def still_fails(candidate: TraceLines, _prefix: int) -> TraceLines | None:
        return first_mismatch(params, [op for op, _ in candidate], factory)

    return Reducer(best, still_fails, seconds).reduce([Reducer.remove_runs])


def explain(params: Params, lines: TraceLines, factory: ImplFactory) -> str:
    """What replaying the lines shows: the failing line as replay prints it, and where the states first differed."""
    model, impl = ModelImpl(params), factory(params)
    geometry = make_geometry(params)
    differed = ""
    try:
        for line in lockstep.run(impl, [op for op, _ in lines], model, Expect.MODEL):
            if line.mismatch is not None:
                return line.mismatch.describe() + differed
            if not differed:
                snapshot = snapshot_of(impl)
                differences = diff_states(model_state(model.heap), snapshot, geometry) if snapshot else []
                if differences:
                    differed = f"\n  the states first differed after line {line.op.line}: {line.op.describe()}"
                    differed += "".join(f"\n    {d}" for d in differences)
    except TraceError as e:
        return f"(the model refuses {e})" + differed
    return "(replay shows no failing line)" + differed


def replay_command(path: Path, failure: Failure, options: ImplOptions) -> str:
    extra = f" --cmd {shlex.quote(options.cmd)}" if options.cmd and failure.impl == "subprocess" else ""
    extra += "".join(f" --fault {name}" for name in sorted(options.faults))
    if failure.level == "safe":
        return f"python -m oracle fuzz --level safe --impl {failure.impl}{extra} --replay {shlex.quote(str(path))}"
    return f"python -m oracle replay {shlex.quote(str(path))} --impl {failure.impl}{extra}"


def write_failure(
    failure: Failure,
    folder: Path,
    factory: ImplFactory | None = None,
    options: ImplOptions | None = None,
    minimize_seconds: float = MINIMIZE_SECONDS,
) -> WrittenFailure:
    """Write the failure's trace into folder and return its path and the full message.

    factory makes the implementation (with options) again, for probing and minimizing."""
    options = options or ImplOptions()
    label = "_".join(sorted(options.faults))
    if failure.kind == "latent" and failure.probe is None and factory is not None:
        pair = replay_pair(failure.params, factory, failure.ops)
        found = run_probes(pair, failure.ops, sequences(failure.params, failure.ops, full=True))
        if found is not None:
            failure.probe_lines, failure.probe = found
    lines = failure.trace_lines
    message = failure.message()
    if failure.level == "safe":
        reproduces = True
    else:
        reproduces = failure.kind in ("mismatch", "header") or failure.probe is not None
    minimizable = failure.level == "exact" and failure.kind != "header" and reproduces
    if minimizable and factory is not None and minimize_seconds > 0:
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
        message += "\n  no probe made an answer differ: replay will find every line passing"
    output_folder(folder, "failures folder")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    name = f"{failure.impl}-{failure.level}{'-' + label if label else ''}-{stamp}-{os.getpid()}"
    path = new_file(folder, name)
    path.write_text(dumps(failure.params, lines), encoding="utf-8")
    message += f"\n  trace: {path} ({len(lines)} lines after the header)"
    message += f"\n  reproduce: {replay_command(path, failure, options)}"
    return WrittenFailure(path, message, failure.kind, reproduces)
