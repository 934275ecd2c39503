"""Seeded bugs in the model's small-object path, as data, and the context that applies one in process.

Each SeededBug names a model function (module and qualified name), a
pattern that must occur exactly once in its source, and its replacement:
a plausible single-point slip. `applied(bug)` compiles the edited function
in its module's namespace and swaps its code into the function object for
the duration, so every caller, wherever it imported the function from,
runs the bug; the code is restored afterwards. `caught(bug)` runs the span
path machine (oracle.gc.spanmachine) with the bug applied and returns the
failure it ends with; `expect` is a piece of the message that failure must
carry (the invariant meant to catch it). A pattern that is not there
exactly once is a SeededBugError, so no bug silently applies as a no-op.
"""

from __future__ import annotations

import importlib
import inspect
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FunctionType

import attrs

from oracle.gc.machine import MachineFailure
from oracle.gc.spanmachine import check


class SeededBugError(Exception):
    """The bug does not apply: no such function, or the pattern is not there exactly once."""


@attrs.frozen
class SeededBug:
    name: str
    module: str
    qualname: str
    pattern: str
    replacement: str
    description: str
    expect: str  # part of the failure message of the check that catches it


SEEDED_BUGS: tuple[SeededBug, ...] = (
    SeededBug(
        "swept_span_to_unswept_set", "model.gc.mheap", "SpanHeap.sweep_span",
        "central.partial_swept(sg).push(span)", "central.partial_unswept(sg).push(span)",
        "sweeping files a span that still has room on the unswept partial set instead of the swept one",
        "sets",
    ),
    SeededBug(
        "tiny_block_kept_at_flush", "model.gc.malloc", "release_all",
        "    cache.clear_tiny()\n", "",
        "mark termination's flush hands the cached spans back but keeps the P's tiny block",
        "still has a tiny block after mark termination",
    ),
    SeededBug(
        "tiny_block_overflow", "model.gc.malloc", "malloc_tiny",
        "and fits_in_block(offset, size)", "",
        "a tiny object goes into the current block whether or not it fits",
        "overlaps its neighbour or leaves the block",
    ),
    SeededBug(
        "stale_span_not_swept", "model.gc.malloc", "uncache_span",
        "if span.sweepgen == sg + 1:", "if False:",
        "a span cached before the cycle began is handed back as if swept, with last cycle's marks",
        "is swept but has mark bits",
    ),
)


def by_name() -> dict[str, SeededBug]:
    return {bug.name: bug for bug in SEEDED_BUGS}


def _target(bug: SeededBug) -> FunctionType:
    owner: object = importlib.import_module(bug.module)
    for part in bug.qualname.split("."):
        owner = getattr(owner, part, None)
        if owner is None:
            raise SeededBugError(f"{bug.name}: {bug.module} has no {bug.qualname}")
    if not isinstance(owner, FunctionType):
        raise SeededBugError(f"{bug.name}: {bug.qualname} is not a function")
    return owner


@contextmanager
def applied(bug: SeededBug) -> Iterator[None]:
    """The model with `bug` in it, for the duration (see the module comment)."""
    func = _target(bug)
    source = textwrap.dedent(inspect.getsource(func))
    if source.count(bug.pattern) != 1:
        raise SeededBugError(f"{bug.name}: the pattern occurs {source.count(bug.pattern)} times in {bug.qualname}")
    namespace = dict(vars(importlib.import_module(bug.module)))
    exec(compile(source.replace(bug.pattern, bug.replacement), f"<seeded bug {bug.name}>", "exec"), namespace)
    mutated = namespace[func.__name__]
    original = func.__code__
    func.__code__ = mutated.__code__
    try:
        yield
    finally:
        func.__code__ = original


def caught(bug: SeededBug, seeds: Sequence[int] = (0, 1, 2), examples: int = 40,
           steps: int = 40) -> MachineFailure | None:
    """The span path machine's failure with the bug applied (None if it passed)."""
    with applied(bug):
        return check(seeds, examples, steps)
