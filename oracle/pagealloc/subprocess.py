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
          -> {"state": {...}} (layout of oracle.pagealloc.state), only if the header
          answer said "snapshot": true.
End of input ends the program.

The command comes from `--cmd` (fuzz, bench) or the environment variable
ORACLE_SUBPROCESS_CMD (replay, and the default for the others); without
either it is `python -m fast.serve`, the example server that wraps fast/.

A process is started once per command and reused (a header resets it); one
that crashes, answers something that is not one JSON object, or stays silent
for TIMEOUT seconds is killed and the operation raises ImplementationFailed
(a ModelError, so that a replay shows it as the operation's result).
"""

from __future__ import annotations

import atexit
import json
import os
import select
import shlex
import subprocess
import sys
from typing import Any

from model.errors import InvalidOperation, ParameterError
from oracle.pagealloc.adapters import ImplementationFailed
from oracle.pagealloc.state import State, state_from_json
from oracle.pagealloc.trace import Op, Outcome, Params, TraceError, header_json, parse_expect

ENV_CMD = "ORACLE_SUBPROCESS_CMD"
TIMEOUT = 30.0


def default_command() -> str:
    return os.environ.get(ENV_CMD) or f"{shlex.quote(sys.executable)} -m fast.serve"


class Server:
    """One running program and a line reader on its stdout."""

    def __init__(self, cmd: str) -> None:
        self.cmd = cmd
        try:
            self.proc = subprocess.Popen(shlex.split(cmd), stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        except OSError as e:
            raise ImplementationFailed(f"cannot start {cmd!r}: {e}") from None
        self.buffer = b""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def request(self, obj: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(json.dumps(obj).encode() + b"\n")
            self.proc.stdin.flush()
        except OSError as e:
            self.close()
            raise ImplementationFailed(f"{self.cmd!r} stopped reading its input: {e}") from None
        line = self._read_line()
        try:
            answer = json.loads(line)
        except json.JSONDecodeError:
            self.close()
            raise ImplementationFailed(f"{self.cmd!r} answered a line that is not JSON: {line[:200]!r}") from None
        if not isinstance(answer, dict):
            self.close()
            raise ImplementationFailed(f"{self.cmd!r} answered {line[:200]!r}, not a JSON object")
        return answer

    def _read_line(self) -> str:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buffer:
            ready, _, _ = select.select([fd], [], [], TIMEOUT)
            if not ready:
                self.close()
                raise ImplementationFailed(f"{self.cmd!r} did not answer within {TIMEOUT:.0f} s")
            data = os.read(fd, 1 << 16)
            if not data:
                code = self.proc.wait()
                raise ImplementationFailed(f"{self.cmd!r} exited (status {code}) instead of answering")
            self.buffer += data
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode("utf-8", errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


_servers: dict[str, Server] = {}


def _server(cmd: str) -> Server:
    server = _servers.get(cmd)
    if server is None or not server.alive():
        server = _servers[cmd] = Server(cmd)
    return server


@atexit.register
def close_all() -> None:
    for server in _servers.values():
        if server.proc.stdin is not None:
            server.proc.stdin.close()
        try:
            server.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.close()
    _servers.clear()


class SubprocessImpl:
    """An implementation in another process; see the module comment for the protocol."""

    name = "subprocess"

    def __init__(self, params: Params, cmd: str | None = None) -> None:
        self.cmd = cmd or default_command()
        self.server = _server(self.cmd)
        answer = self.server.request(header_json(params))
        if "error" in answer:
            raise ParameterError(f"{self.cmd!r} refused params {params.to_json()}: {answer['error']}")
        if answer.get("ok") is not True:
            raise ImplementationFailed(f"{self.cmd!r} answered the header with {answer!r}, not {{'ok': true}}")
        self.can_snapshot = answer.get("snapshot") is True

    def apply(self, op: Op) -> Outcome | None:
        answer = self.server.request({"op": op.kind, **op.args})
        if "error" in answer:
            raise InvalidOperation(str(answer["error"]))
        if op.kind not in ("alloc", "cache_fill", "cache_alloc", "scavenge"):
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
        except (KeyError, TypeError, ValueError, IndexError) as e:
            raise ImplementationFailed(f"{self.cmd!r} sent a malformed snapshot: {e!r}") from None
