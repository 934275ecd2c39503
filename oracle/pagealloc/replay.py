"""Replaying a trace against an implementation and comparing every `expect`.

The model always runs beside the implementation as the judge of validity: a
line the model refuses (a free of a page not in use, a grow over a chunk,
an unknown cache id) is a bad line, reported with its number, and nothing
after it runs. When the implementation is the model itself it runs once.

Replay stops at the first line whose result differs from its `expect` and
reports the line, the op, what was expected and what the implementation
gave. With `emit`, every line runs and the trace is written back with each
`expect` taken from the implementation; the first mismatch against the old
expects is still reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import attrs

from model.errors import ModelError
from oracle.pagealloc import protocol as impls
from oracle.pagealloc.trace import Op, Outcome, TraceError, dumps, read_header_and_ops, show


@attrs.frozen
class Mismatch:
    line: int
    op: Op
    expected: Outcome | None
    got: Outcome | None

    def describe(self) -> str:
        return (
            f"line {self.line}: {self.op.describe()}\n"
            f"  expected {show(self.op.kind, self.expected)}\n"
            f"  got      {show(self.op.kind, self.got)}"
        )


@attrs.frozen
class ReplayReport:
    path: Path
    impl: str
    ops: int
    checked: int
    seconds: float
    mismatch: Mismatch | None

    @property
    def ok(self) -> bool:
        return self.mismatch is None


Progress = Callable[[int], None]


def replay(
    path: Path,
    impl_name: str = "model",
    emit: Path | None = None,
    progress: Progress | None = None,
) -> ReplayReport:
    """Run the trace at path; raises TraceError at the first bad line."""
    started = time.perf_counter()
    params, ops = read_header_and_ops(path)
    try:
        judge = impls.ModelImpl(params)
        target = judge if impl_name == "model" else impls.create(impl_name, params)
    except ModelError as e:
        raise TraceError(1, f"params: {e}") from None
    count = checked = 0
    mismatch: Mismatch | None = None
    written: list[tuple[Op, Outcome | None]] = []
    for op in ops:
        try:
            wanted = judge.apply(op)
        except ModelError as e:
            raise TraceError(op.line, str(e)) from None
        got = wanted if target is judge else _apply_target(target, op)
        count += 1
        if progress is not None and count % 10_000 == 0:
            progress(count)
        if op.expect is not None:
            checked += 1
            if got != op.expect and mismatch is None:
                mismatch = Mismatch(op.line, op, op.expect, got)
                if emit is None:
                    break
        if emit is not None:
            written.append((op, got))
    if emit is not None:
        emit.write_text(dumps(params, written), encoding="utf-8")
    return ReplayReport(path, impl_name, count, checked, time.perf_counter() - started, mismatch)


def _apply_target(target: impls.Implementation, op: Op) -> Outcome | None:
    try:
        return target.apply(op)
    except ModelError as e:
        return {"error": str(e)}
