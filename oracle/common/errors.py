"""The oracle's error kinds, each with the exit status the commands give it.

The exit-code contract of every command (SPEC.md, "Exit codes"):

  0  everything checked matched
  1  a failure at a named step: a result that differs, an invariant
     broken, an implementation that refused a valid operation, crashed,
     hung or broke the protocol (ImplementationFailed)
  2  bad input or usage: a malformed or impossible trace line (TraceError),
     a bad option or file (UsageError), no Go toolchain

A model refusal (model.errors.ModelError) of a trace line is bad input too:
the trace asked for something impossible. An implementation's refusal of a
line the model accepts is a failure of the implementation.
"""

from __future__ import annotations

from model.errors import ModelError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


class InputError(ValueError):
    """Bad input or usage (exit 2); the message names what and where."""


class TraceError(InputError):
    """A line of a trace, snapshot or answer is malformed or impossible; `line` counts from 1."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.message = message


class UsageError(InputError):
    """A command-line option, or a file named by one, is unusable."""


class ImplementationFailed(ModelError):
    """The implementation under test crashed, hung, or broke the protocol (exit 1 at the step)."""
