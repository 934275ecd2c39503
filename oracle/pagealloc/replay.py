"""Replaying a trace against an implementation, judging every line.

The model always runs beside the implementation as the judge of validity: a
line the model refuses (a free of a page not in use, a grow over a chunk,
an unknown cache id) is a bad line, reported with its number, and nothing
after it runs. When the implementation is the model itself it runs once.

Every line is judged by oracle.pagealloc.lockstep's rule: a result must
equal the line's `expect` (any well-formed result where the line has none),
an operation without a result must answer nothing, and a refusal, a crash
or a hang is a failure of its line. Replay stops at the first failing line
and reports the line, the op, what was expected and what the implementation
gave. An implementation with apply_many (the live runtime) is sent the
lines in batches; the report is the same.

With `emit`, every line runs and the trace is written back with each
`expect` taken from the implementation; the first mismatch against the old
expects is still reported. If the implementation fails a line (refuses,
crashes, answers where nothing is due) nothing is written: the new trace
would not replay. The output file is checked before the run and written
atomically after it (oracle.common.output), so it never replaces the input.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import attrs

from model.errors import ModelError
from oracle.common.errors import ImplementationFailed, TraceError
from oracle.common.output import OutputFile
from oracle.pagealloc import lockstep
from oracle.pagealloc.lockstep import Mismatch
from oracle.pagealloc.protocol import Crash, Implementation, ModelImpl, Refusal
from oracle.pagealloc.registry import ImplOptions, create
from oracle.pagealloc.trace import Op, Outcome, Params, dumps, read_header_and_ops

BATCH = 4096  # lines per exchange with an implementation that takes batches


@attrs.frozen
class ReplayReport:
    path: Path
    impl: str
    ops: int
    checked: int
    seconds: float
    mismatch: Mismatch | None
    emitted: Path | None = None
    emit_refused: str = ""  # why nothing was written despite --emit
    header_failure: str = ""  # the implementation failed (or refused) the header of this valid trace

    @property
    def ok(self) -> bool:
        return self.mismatch is None and not self.emit_refused and not self.header_failure


Progress = Callable[[int], None]


def build(params: Params, impl_name: str, options: ImplOptions | None) -> tuple[ModelImpl, Implementation | str]:
    """The judge and the target for a trace's params, or why the target failed the header.

    Params the model refuses make a bad header (TraceError, exit 2); params the model accepts but
    the implementation refuses, or a header it crashes on, are its failure at line 1 (exit 1).
    """
    try:
        judge = ModelImpl(params)
    except ModelError as e:
        raise TraceError(1, f"params: {e}") from None
    if impl_name == "model":
        return judge, judge
    try:
        return judge, create(impl_name, params, options)
    except (ModelError, ImplementationFailed) as e:
        return judge, str(e)


def replay(
    path: Path,
    impl_name: str = "model",
    emit: OutputFile | None = None,
    progress: Progress | None = None,
    options: ImplOptions | None = None,
) -> ReplayReport:
    """Run the trace at path; raises TraceError at the first bad line (after judging the lines before it)."""
    started = time.perf_counter()
    params, ops = read_header_and_ops(path)
    judge, target = build(params, impl_name, options)
    if isinstance(target, str):
        return ReplayReport(path, impl_name, 0, 0, time.perf_counter() - started, None, header_failure=target)
    batch = BATCH if hasattr(target, "apply_many") else 1
    count = checked = 0
    mismatch: Mismatch | None = None
    written: list[tuple[Op, Outcome | None]] = []
    refused = ""
    for line in lockstep.run(target, ops, judge, batch=batch):
        count += 1
        if progress is not None and count % 10_000 == 0:
            progress(count)
        if line.op.expect is not None:
            checked += 1
        if line.mismatch is not None and mismatch is None:
            mismatch = line.mismatch
            if emit is None:
                break
        if emit is not None:
            got = line.got
            if isinstance(got, Refusal | Crash) or (got is not None and not isinstance(got, dict)):
                refused = f"line {line.op.line} failed, so its expect cannot be written"
                break
            if line.mismatch is not None and line.op.kind not in ("alloc", "cache_fill", "cache_alloc", "scavenge"):
                refused = f"line {line.op.line} answered where no answer is due"
                break
            written.append((line.op, got))
    emitted = None
    if emit is not None and not refused:
        emit.write_text(dumps(params, written))
        emitted = emit.path
    return ReplayReport(path, impl_name, count, checked, time.perf_counter() - started, mismatch, emitted, refused)
