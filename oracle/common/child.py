"""One client for child processes that answer JSON lines: the subprocess adapter and the live Go driver.

The protocol is always the same shape: the oracle writes one JSON object a
line on the child's stdin, the child answers exactly one line on its stdout
per line it was sent. ChildProcess runs such a child and exchanges lines
with it, one at a time (request) or a whole batch at once (exchange).

Guarantees, whatever the child does:

  * No wait is unbounded. Every answer has a deadline: `timeout` seconds
    from when the request was written or the previous answer arrived,
    whichever is later (a batch of a million lines is fine; one line that
    never ends is not). Bytes trickling in do not extend the deadline. The
    very first answer may take `start_timeout` instead (START_TIMEOUT by
    default, or `timeout` if longer): starting a program is not answering it.
  * No line is unbounded: an answer longer than `max_line` bytes stops the
    child. Lines are split without rescanning what was already scanned, so
    a huge answer costs time linear in its size.
  * Writing and reading are interleaved with select(), so neither pipe can
    fill up and deadlock, whatever the batch size.
  * Standard error is drained by a thread into a bounded buffer (the last
    STDERR_KEEP bytes), so a child that floods it neither blocks nor fills
    the disk, and a failure can show its last words.
  * A child that stops, closes its stdout while still running, hangs, or
    answers too long a line is killed, and the reason names what it did:
    its exit status and the last lines of its standard error.

Children are reused: `shared(key, start)` keeps one live child per key for
the process (a campaign runs thousands of test cases on one server), and
every child still running is closed when the process exits.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import json
import os
import select
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from oracle.common.errors import ImplementationFailed, TraceError
from oracle.common.jsonlines import loads_object

DEFAULT_TIMEOUT = 5.0  # seconds an answer may take
START_TIMEOUT = 5.0  # seconds the first answer may at least take: starting a program (imports, a runtime) is slow
DEFAULT_MAX_LINE = 1 << 24  # bytes in one answer line
STDERR_KEEP = 1 << 16  # bytes of standard error kept for messages
STDERR_LINES = 5  # lines of standard error shown in a message
READ_CHUNK = 1 << 20
EXIT_GRACE = 0.5  # seconds to wait, once its output closed, for a child to exit


class ChildProcess:
    """A running child answering one line per line it is sent (see the module comment)."""

    def __init__(
        self,
        argv: Sequence[str],
        name: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_line: int = DEFAULT_MAX_LINE,
        env: dict[str, str] | None = None,
        cwd: Path | str | None = None,
        skip: Callable[[bytes], bool] | None = None,
        headline: Callable[[list[str]], str | None] | None = None,
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        """`skip(line)` True: a line the child prints that is not an answer (the Go test framework's chatter).
        `headline(stderr lines)`: the one line of its standard error that says best why it died, if any."""
        self.name = name
        self.headline = headline
        self.start_timeout = start_timeout
        self.timeout = timeout
        self.max_line = max_line
        self.skip = skip
        try:
            self.proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                cwd=cwd,
                bufsize=0,
            )
        except OSError as e:
            raise ImplementationFailed(f"cannot start {name}: {e.strerror or e}") from None
        assert self.proc.stdin is not None and self.proc.stdout is not None and self.proc.stderr is not None
        os.set_blocking(self.proc.stdin.fileno(), False)
        self._buffer = bytearray()
        self._scanned = 0  # bytes of _buffer known to hold no newline
        self._payload = memoryview(b"")  # requests of the current exchange not yet written
        self._expected = 0  # answers the current exchange still owes (0: no exchange under way)
        self._stderr = bytearray()
        self._stderr_lock = threading.Lock()
        self._stderr_thread = threading.Thread(target=self._drain_stderr, daemon=True)
        self._stderr_thread.start()
        self.dead: str | None = None  # why the child can no longer answer
        self.answered = False  # the first answer has come (until then, START_TIMEOUT applies)
        _running.add(self)

    # Standard error.

    def _drain_stderr(self) -> None:
        stream = self.proc.stderr
        assert stream is not None
        with contextlib.suppress(OSError, ValueError):
            while chunk := stream.read1(READ_CHUNK) if hasattr(stream, "read1") else stream.read(READ_CHUNK):
                with self._stderr_lock:
                    self._stderr += chunk
                    if len(self._stderr) > 2 * STDERR_KEEP:
                        del self._stderr[: len(self._stderr) - STDERR_KEEP]

    def stderr_tail(self, lines: int = STDERR_LINES) -> list[str]:
        """The last lines the child wrote to standard error."""
        with self._stderr_lock:
            text = bytes(self._stderr[-STDERR_KEEP:]).decode("utf-8", errors="replace")
        return [line.rstrip() for line in text.strip().splitlines()[-lines:]]

    def last_words(self) -> str:
        """Its exit status and the last lines of its standard error, for a message."""
        code = self.proc.poll()
        status = "still running" if code is None else f"exit status {code}"
        self._stderr_thread.join(timeout=1.0)
        if self.headline is not None:
            line = self.headline(self.stderr_tail(lines=1 << 12))
            if line:
                return f"{line}; {status}"
        tail = self.stderr_tail()
        return status + ("; its stderr ended with: " + " | ".join(tail) if tail else "; nothing on its stderr")

    # Exchanging lines.

    def alive(self) -> bool:
        return self.dead is None and self.proc.poll() is None

    def _fail(self, why: str) -> str:
        """Stop the child for good and remember why."""
        self.kill()
        self.dead = f"{why} ({self.last_words()})"
        return self.dead

    def _take_lines(self) -> list[bytes]:
        """The whole lines in the buffer (the skipped ones left out); a partial last line stays for later.

        All at once: one split of everything up to the last newline (cutting lines off the front of the
        buffer one at a time moves the rest each time, quadratic in the lines a read brings)."""
        last = self._buffer.rfind(b"\n", self._scanned)
        if last < 0:
            self._scanned = len(self._buffer)
            return []
        out = bytes(self._buffer[:last]).split(b"\n")
        del self._buffer[: last + 1]
        self._scanned = 0
        if self.skip is not None:
            out = [line for line in out if not self.skip(line)]
        return out

    def exchange(self, lines: Sequence[bytes], timeout: float | None = None) -> tuple[list[bytes], str | None]:
        """Send lines (each ending in a newline) and read one answer each.

        Returns (answers, None), or (the answers that came, why the child
        stopped answering) — it is then killed, and later exchanges fail at once.
        """
        died = self.send(lines)
        if died is not None:
            return [], died
        return self.receive(timeout)

    def send(self, lines: Sequence[bytes]) -> str | None:
        """Start an exchange: write what the pipe takes now, without waiting; receive() does the rest.

        Between send and receive the caller may do other work while the child answers (the go
        campaign generates its next example meanwhile). Returns why the child cannot take it, or None.
        """
        if self.dead is not None:
            return self.dead
        assert self._expected == 0, "receive() the previous exchange first"
        assert self.proc.stdin is not None and self.proc.stdout is not None
        out_fd = self.proc.stdout.fileno()
        if select.select([out_fd], [], [], 0)[0]:
            # Output before any request of this exchange: it can only be an extra line from before.
            data = os.read(out_fd, READ_CHUNK)
            if not data:
                return self._fail(f"{self.name} closed its output")
            self._buffer += data
        extra = self._take_lines()
        if extra:
            shown = extra[0][:120].decode("utf-8", errors="replace")
            return self._fail(f"{self.name} wrote a line nobody asked for: {shown!r}")
        self._payload = memoryview(b"".join(lines))
        self._expected = len(lines)
        self._write_some()
        return None

    def _write_some(self) -> None:
        """Write the pending requests until the pipe is full (never blocks)."""
        assert self.proc.stdin is not None
        in_fd = self.proc.stdin.fileno()
        while self._payload:
            try:
                written = os.write(in_fd, self._payload[: 1 << 16])
            except BlockingIOError:
                return
            except OSError as e:
                if e.errno != errno.EPIPE:
                    raise
                self._payload = self._payload[len(self._payload) :]  # it stopped reading; answers may still come
                return
            self._payload = self._payload[written:]

    def receive(self, timeout: float | None = None) -> tuple[list[bytes], str | None]:
        """Finish the exchange send() started: the answers, and why the child stopped answering if it did."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        expected, self._expected = self._expected, 0
        if self.dead is not None:
            return [], self.dead
        limit = self.timeout if timeout is None else timeout
        if not self.answered:
            limit = max(limit, self.start_timeout)
        out_fd, in_fd = self.proc.stdout.fileno(), self.proc.stdin.fileno()
        answers: list[bytes] = []
        deadline = time.monotonic() + limit
        while len(answers) < expected:
            left = deadline - time.monotonic()
            if left <= 0:
                return answers, self._fail(f"{self.name} did not answer within {limit:g} s")
            writers = [in_fd] if self._payload else []
            ready_r, ready_w, _ = select.select([out_fd], writers, [], left)
            if ready_w:
                self._write_some()
                if not self._payload:
                    deadline = time.monotonic() + limit  # the last request is out: its answer's clock starts
            if not ready_r:
                continue
            data = os.read(out_fd, READ_CHUNK)
            if not data:
                try:
                    self.proc.wait(timeout=EXIT_GRACE)  # its output closed: it is most likely exiting
                except subprocess.TimeoutExpired:
                    return answers, self._fail(f"{self.name} closed its output without answering")
                return answers, self._fail(f"{self.name} stopped without answering")
            self._buffer += data
            got = self._take_lines()
            if got:
                answers.extend(got)
                if not self.answered:
                    self.answered = True
                    limit = self.timeout if timeout is None else timeout
                deadline = time.monotonic() + limit
            if len(self._buffer) > self.max_line:
                return answers, self._fail(f"{self.name} answered a line longer than {self.max_line:,} bytes")
        if len(answers) > expected:
            return answers[:expected], self._fail(f"{self.name} answered more lines than it was sent")
        return answers, None

    def request(self, obj: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """One line out, one JSON object back; ImplementationFailed if the child fails or the answer is malformed."""
        answers, died = self.exchange([json.dumps(obj).encode() + b"\n"], timeout)
        if died is not None:
            raise ImplementationFailed(died)
        return self.decode(answers[0])

    def decode(self, line: bytes) -> dict[str, Any]:
        """An answer line as a JSON object; ImplementationFailed (and the child stopped) if it is not one."""
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise ImplementationFailed(self._fail(f"{self.name} answered a line that is not UTF-8")) from None
        try:
            return loads_object(text, 1, "answer")
        except TraceError as e:
            shown = text if len(text) <= 200 else text[:200] + "..."
            raise ImplementationFailed(self._fail(f"{self.name} answered {shown!r}: {e.message}")) from None

    # Stopping.

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5)

    def close(self, grace: float = 5.0) -> None:
        """End of input, a few seconds to exit by itself, then kill. Closing twice is harmless."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(OSError):
                os.set_blocking(self.proc.stdin.fileno(), True)
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            self.kill()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        if self.dead is None:
            self.dead = f"{self.name} was closed"
        _running.discard(self)


# Children kept running between uses, one per key, and every child still running at exit.
_shared: dict[Any, ChildProcess] = {}
_running: set[ChildProcess] = set()


def shared(key: Any, start: Callable[[], ChildProcess]) -> ChildProcess:
    """The live child for key, started (or restarted after it died) with start()."""
    child = _shared.get(key)
    if child is None or not child.alive():
        if child is not None:
            child.close(grace=0.5)
        child = _shared[key] = start()
    return child


@atexit.register
def close_all() -> None:
    _shared.clear()
    for child in list(_running):
        child.close(grace=2.0)
