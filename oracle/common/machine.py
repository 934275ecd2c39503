"""What the oracle's Hypothesis state machines share: one run of a machine's test, quietly.

Hypothesis prints a failing example on standard output; the machines of
this project carry their failure (and its trace) in the exception they
raise instead, so a run swallows that report and returns the exception.
Anything else a run raises is a bug of the harness and propagates.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable
from typing import TypeVar

Failure = TypeVar("Failure", bound=BaseException)


def run_quietly(test: Callable[[], None], failure: type[Failure]) -> Failure | None:
    """Run a state machine's test with Hypothesis's report swallowed; the failure it ends with, if any."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            test()
    except failure as e:
        return e
    return None
