"""What every command of the oracle shares: one-line usage errors, checked option values, the exit codes.

Parser is argparse's parser with one change: a usage error is one line,
`<command>: <what is wrong>` on stderr, and exit status 2 (argparse prints
the whole usage first). The value types reject, at parse time and naming
the option, what would otherwise fail later or run forever: negative, NaN
or infinite durations, counts below their minimum, unparsable sizes.

`run_command` runs a command's body and turns the oracle's errors into the
exit-code contract (oracle.common.errors): bad input or usage is one line
and exit 2; a closed output pipe (`... | head`) ends quietly.
"""

from __future__ import annotations

import argparse
import math
import os
import select
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from oracle.common.errors import EXIT_BAD_INPUT, InputError, TraceError


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line (see the module comment)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: {message}\n")


def seconds(text: str) -> float:
    """A duration in seconds: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: seconds must be a finite number >= 0")
    return value


def positive_seconds(text: str) -> float:
    """A duration in seconds: a finite number > 0."""
    value = seconds(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: seconds must be > 0")
    return value


def share(text: str) -> float:
    """A share of a whole: a number from 0 to 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:  # NaN fails this too
        raise argparse.ArgumentTypeError(f"{text!r}: a share must be from 0 to 1")
    return value


def count(minimum: int = 1, maximum: int | None = None) -> Callable[[str], int]:
    """A whole number within [minimum, maximum]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum or (maximum is not None and value > maximum):
            bound = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
            raise argparse.ArgumentTypeError(f"{text!r}: must be {bound}")
        return value

    parse.__name__ = "count"
    return parse


def stdout_gone() -> bool:
    """Whether standard output is a pipe whose reader has gone (poll reports an error on its write end)."""
    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (OSError, ValueError):  # no real file behind it (closed, or replaced by an object without a descriptor)
        return True


def run_command(prog: str, body: Callable[[], int]) -> int:
    """Run body(); bad input is one line `prog: message` and exit 2, a closed stdout a quiet exit."""
    try:
        return body()
    except InputError as e:
        print(f"{prog}: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except BrokenPipeError as e:
        if not stdout_gone():
            # Another pipe broke (a child process's): a failure of what ran, never to be taken for `| head`.
            print(f"{prog}: a pipe broke while the command ran: {e}", file=sys.stderr)
            return 1
        # The reader went away (`| head`): stop quietly, without a second error when Python flushes at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


@dataclass(frozen=True)
class TraceRow:
    """One trace's line in the default job's table: whether it matched, its op count, its figures, and what failed."""

    ok: bool
    ops: int
    figures: str  # the row's columns after the status, e.g. "2,000 ops 2,000 checked 0.41s"
    failure: str | None = None  # printed, indented, under the row


def replay_rows(traces: list[Path], replay_one: Callable[[Path], TraceRow]) -> tuple[int, int]:
    """A row per trace: (the worst exit status, 2 for a bad trace and 1 for a mismatch; the ops replayed)."""
    worst = ops = 0
    for number, path in enumerate(traces, start=1):
        prefix = f"[{number}/{len(traces)}] {path.name}"
        try:
            row = replay_one(path)
        except TraceError as e:
            print(f"  {prefix:<44} BAD TRACE  {e}")
            worst = max(worst, EXIT_BAD_INPUT)
            continue
        ops += row.ops
        print(f"  {prefix:<44} {'ok' if row.ok else 'MISMATCH':<9} {row.figures}")
        if row.failure:
            print("    " + row.failure.replace("\n", "\n    "))
        if not row.ok:
            worst = max(worst, 1)
    return worst, ops
