"""The subprocess adapter: any program that speaks the trace format on stdin and stdout.

Protocol (SPEC.md, "Subprocess protocol"). One JSON object per line, UTF-8,
the oracle writes, the program answers with exactly one line:

  header  {"trace": "pagealloc", "version": 1, "params": {...}}
          -> {"ok": true, "snapshot": true|false}   or   {"error": "why"}
          Starts a new, empty heap with those params (the program may be
          sent many headers: one per test case, so one process serves a
          whole campaign).
  op      a trace line without "expect", e.g. {"op": "alloc", "npages": 3}
          -> the result in the trace's "expect" form: {"page": P|null,
          "scav": S}, {"base": B|null, "free": "0x..", "scav": "0x.."},
          {"released": R}, or {} for grow, free, cache_flush and next_gen
          (a scavenge line may carry "force": false: a background scavenge);
          or {"error": "why"} when the heap refuses the op (changing nothing).
  snapshot {"op": "snapshot"}
          -> {"state": {...}} (layout of oracle.pagealloc.state), only if the
          header answer said "snapshot": true.
End of input ends the program.

The command is an argument (`--cmd` on the command line); without one it
is `python -m fast.serve`, the example server that wraps fast/. One process
per command is started and reused (a header resets it), through
oracle.common.child: every answer has a deadline (`timeout` seconds), every
line a size limit, and a program that crashes, hangs, closes its output,
answers something that is not one JSON object of the right form, or answers
where no answer is due raises ImplementationFailed naming what it did (its
exit status, the last lines of its stderr); the next use starts it afresh.
"""

from __future__ import annotations

import shlex
import sys

from model.errors import InvalidOperation, ParameterError
from oracle.common.child import DEFAULT_TIMEOUT, ChildProcess, shared
from oracle.common.errors import ImplementationFailed, TraceError, UsageError
from oracle.pagealloc.state import State, state_from_json
from oracle.pagealloc.trace import OPS_WITH_RESULT, Op, Outcome, Params, header_json, parse_expect


def default_command() -> str:
    return f"{shlex.quote(sys.executable)} -m fast.serve"


def split_command(cmd: str) -> list[str]:
    """The command line as argv; UsageError for an unbalanced quote or an empty command."""
    try:
        argv = shlex.split(cmd)
    except ValueError as e:
        raise UsageError(f"--cmd {cmd!r}: {e}") from None
    if not argv:
        raise UsageError("--cmd is empty")
    return argv


def server(cmd: str, timeout: float = DEFAULT_TIMEOUT) -> ChildProcess:
    """The running program for cmd, started when needed."""
    argv = split_command(cmd)
    return shared(("subprocess", cmd, timeout), lambda: ChildProcess(argv, repr(cmd), timeout=timeout))


class SubprocessImpl:
    """An implementation in another process; see the module comment for the protocol."""

    name = "subprocess"

    def __init__(self, params: Params, cmd: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.cmd = cmd or default_command()
        self.server = server(self.cmd, timeout)
        answer = self.server.request(header_json(params))
        if "error" in answer:
            raise ParameterError(f"{self.cmd!r} refused params {params.to_json()}: {answer['error']}")
        if answer.get("ok") is not True:
            self.server.kill()
            raise ImplementationFailed(f"{self.cmd!r} answered the header with {answer!r}, not {{'ok': true}}")
        self.can_snapshot = answer.get("snapshot") is True

    def apply(self, op: Op) -> Outcome | None:
        answer = self.server.request({"op": op.kind, **op.args})
        if "error" in answer:
            if len(answer) != 1 or not isinstance(answer["error"], str):
                raise ImplementationFailed(f"{self.cmd!r} answered {op.kind} with {answer!r}: a malformed refusal")
            raise InvalidOperation(answer["error"])
        if op.kind not in OPS_WITH_RESULT:
            if answer:
                raise ImplementationFailed(f"{op.kind} has no result, but {self.cmd!r} answered {answer!r}")
            return None
        try:
            return parse_expect(op.kind, answer, op.line)
        except TraceError as e:
            raise ImplementationFailed(f"{self.cmd!r} answered {op.kind} with {answer!r}: {e.message}") from None

    def snapshot(self) -> State | None:
        if not self.can_snapshot:
            return None
        answer = self.server.request({"op": "snapshot"})
        try:
            return state_from_json(answer["state"])
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
            raise ImplementationFailed(f"{self.cmd!r} sent a malformed snapshot: {e!r}") from None
