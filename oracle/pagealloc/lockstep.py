"""The lockstep loop: apply each operation to the model and to an implementation, and judge the line.

This is the one place where a line of a page-allocator trace is judged, for
replay, the batched replay of the live runtime, probes, failure minimizing
and the go campaign alike (the Hypothesis machine judges its steps with the
same `judge` rule). The rule, for a line and what the implementation
answered (oracle.pagealloc.protocol.Answer):

  * a crash, a hang or a broken protocol is a failure of the line;
  * a refusal of a line the model accepts is a failure ("a valid operation
    was refused"), and so is accepting a line the model refuses, when the
    line is one the caller expects refused;
  * an operation without a result (grow, free, cache_flush, next_gen) must
    answer nothing;
  * an operation with a result must answer the expected outcome: the line's
    `expect` when the trace has one, else the model's own result when the
    caller asks for it (EXPECT_MODEL), else any well-formed outcome.

A failure is a Mismatch: the line, the op, what was expected and what came.

`run` is the loop. The model runs first on every line as the judge of
validity: a line it refuses is bad input, raised as a TraceError at that
line after the lines before it have been judged (so a batch never hides a
mismatch that precedes a bad line). With `batch` > 1 and an implementation
that has apply_many, lines go to it a batch at a time; the answers are
judged in order, so the first mismatch is the same as one line at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from enum import Enum

import attrs

from model.errors import ModelError
from oracle.common.errors import TraceError
from oracle.pagealloc.protocol import Answer, Crash, Implementation, ModelImpl, Refusal, answers, show
from oracle.pagealloc.trace import OPS_WITH_RESULT, Op


class Expect(Enum):
    """What a line's answer is compared with."""

    TRACE = "trace"  # the line's expect; without one, any well-formed outcome
    MODEL = "model"  # the model's result (the line's expect is ignored)


@attrs.frozen
class AnyOutcome:
    """Expected: any well-formed outcome (a result line of a trace without an expect)."""

    def __str__(self) -> str:
        return "an outcome"


ANY_OUTCOME = AnyOutcome()
Expected = Answer | AnyOutcome


@attrs.frozen
class Mismatch:
    """A line whose answer fails: where, what was expected, what came, and why when it is not plain."""

    line: int
    op: Op
    expected: Expected
    got: Answer
    why: str = ""

    def describe(self) -> str:
        kind = self.op.kind
        expected = str(self.expected) if isinstance(self.expected, AnyOutcome) else show(kind, self.expected)
        text = f"line {self.line}: {self.op.describe()}\n  expected {expected}\n  got      {show(kind, self.got)}"
        return text + (f"\n  ({self.why})" if self.why else "")

    @property
    def crashed(self) -> bool:
        return isinstance(self.got, Crash)


def judge(op: Op, expected: Expected, got: Answer) -> Mismatch | None:
    """The one rule for a line (see the module comment); None when the line passes."""
    if isinstance(got, Crash):
        return Mismatch(op.line, op, expected, got)
    if isinstance(expected, Refusal):
        if isinstance(got, Refusal):
            return None
        return Mismatch(op.line, op, expected, got, "this operation is invalid and must be refused, changing nothing")
    if isinstance(got, Refusal):
        return Mismatch(op.line, op, expected, got, "a valid operation was refused")
    if op.kind not in OPS_WITH_RESULT:
        if got is None:
            return None
        return Mismatch(op.line, op, None, got, f"{op.kind} has no result, but the implementation answered one")
    if got is None:
        return Mismatch(op.line, op, expected, got, f"{op.kind} has a result, but the implementation answered none")
    if isinstance(expected, AnyOutcome) or got == expected:
        return None
    return Mismatch(op.line, op, expected, got)


@attrs.frozen
class Line:
    """One judged line: the op, what it was checked against, what came, and the verdict."""

    op: Op
    expected: Expected
    got: Answer
    mismatch: Mismatch | None


def _expected(op: Op, wanted: Answer, mode: Expect) -> Expected:
    if mode is Expect.MODEL:
        return wanted
    if op.expect is not None:
        return op.expect
    return ANY_OUTCOME if op.kind in OPS_WITH_RESULT else None


def run(
    target: Implementation,
    ops: Iterable[Op],
    judge_model: ModelImpl | None,
    expect: Expect = Expect.TRACE,
    batch: int = 1,
    expects: Sequence[Answer] | None = None,
) -> Iterator[Line]:
    """Judge every line of ops on target (see the module comment). The caller stops when it has seen enough.

    judge_model: the model, run first on each line (None only with Expect.TRACE, for lines known valid).
    When target is the judge model itself, each line runs once. expects, if given, are the expected
    answers line by line (instead of the lines' own expects), for streams whose answers are known.
    """
    if judge_model is None and expect is Expect.MODEL:
        raise ValueError("Expect.MODEL needs the model")
    same = target is judge_model
    pending: list[tuple[Op, Expected]] = []

    def flush() -> Iterator[Line]:
        got_all = answers(target, [op for op, _ in pending])
        for (op, expected), got in zip(pending, got_all, strict=True):
            yield Line(op, expected, got, judge(op, expected, got))
        pending.clear()

    for k, op in enumerate(ops):
        if expects is not None:
            pending.append((op, expects[k]))
            if len(pending) >= batch:
                yield from flush()
            continue
        wanted: Answer = None
        if judge_model is not None:
            try:
                wanted = judge_model.apply(op)
            except ModelError as e:
                yield from flush()
                raise TraceError(op.line, str(e)) from None
        expected = _expected(op, wanted, expect)
        if same:
            yield Line(op, expected, wanted, judge(op, expected, wanted))
            continue
        pending.append((op, expected))
        if len(pending) >= batch:
            yield from flush()
    yield from flush()
