"""Probes: operations that turn a difference of states into a difference of results.

`python -m oracle replay` judges answers, not states, so a failure the
oracle finds in the states (a summary wrong at one level, a hint too far, a
scavenged bit lost) is reproducible by replay only once some operation's
answer shows it. A probe is a short sequence of operations run after the
trace on copies of the model and of the implementation (judged by
oracle.pagealloc.lockstep against the model); the first failing line makes
the trace reproducible when it is appended.

Copies come from cloning (the model by deepcopy, fast/ by its clone(),
both cheap for the small heaps of a fuzz case) or, for an implementation
that cannot be cloned, from replaying the trace into fresh instances.

  quick   one operation each: allocations of telling sizes (1, word and
          chunk sizes and their neighbours, half and all of the heap), a
          cache fill, small and total scavenges. The state machine tries
          these the moment the states differ.
  full    the quick probes and longer ones: draining the heap page by page
          (before and after scavenging everything), repeated cache fills
          and flushes. Used when writing a failure the quick probes missed.
Scavenging probes are skipped on heaps spread wider than SCAVENGE_SPAN
chunks, where the model's scavenge index takes seconds.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from oracle.common.errors import TraceError
from oracle.pagealloc import lockstep
from oracle.pagealloc.lockstep import Expect, Mismatch
from oracle.pagealloc.protocol import Implementation, ModelImpl
from oracle.pagealloc.trace import Op, Outcome, Params

PROBE_CACHE = 1000
SCAVENGE_SPAN = 8192

Lines = list[tuple[Op, Outcome | None]]
Sequence = list[tuple[str, dict[str, int]]]
PairFactory = Callable[[], tuple[ModelImpl, Implementation]]


def heap_shape(ops: Lines) -> tuple[int, int]:
    """(grown chunks, span from the lowest to the highest grown chunk) of a trace."""
    grows = [(op.args["chunk"], op.args["nchunks"]) for op, _ in ops if op.kind == "grow"]
    if not grows:
        return 0, 0
    return sum(n for _, n in grows), max(c + n for c, n in grows) - min(c for c, _ in grows)


def sequences(params: Params, ops: Lines, full: bool) -> list[Sequence]:
    cp = params.chunk_pages
    chunks, span = heap_shape(ops)
    pages = chunks * cp
    sizes = {1, 2, 3, 4, 7, 8, 16, 63, 64, 65, cp - 1, cp, cp + 1, 2 * cp, 2 * cp + 1, pages // 2, pages}
    out: list[Sequence] = [[("alloc", {"npages": n})] for n in sorted(s for s in sizes if s > 0)]
    out.append([("cache_fill", {"cache": PROBE_CACHE})])
    scavenge_ok = 0 < span <= SCAVENGE_SPAN
    if scavenge_ok:
        out.append([("scavenge", {"npages": 1})])
        out.append([("scavenge", {"npages": 1 << 30})])
    if full:
        out.append([("alloc", {"npages": 1})] * (pages + 1))
        out.append([("cache_fill", {"cache": PROBE_CACHE}), ("cache_flush", {"cache": PROBE_CACHE})] * 8)
        if scavenge_ok:
            out.append([("scavenge", {"npages": 1})] * 8)
            out.append([("scavenge", {"npages": 1 << 30})] + [("alloc", {"npages": 1})] * (pages + 1))
    return out


def clone_of(impl: Implementation) -> Implementation | None:
    if isinstance(impl, ModelImpl):
        return copy.deepcopy(impl)
    clone = getattr(impl, "clone", None)
    return clone() if clone is not None else None


def clone_pair(model: ModelImpl, impl: Implementation) -> PairFactory | None:
    """Copies of both as they are now, or None if the implementation cannot be copied."""
    if clone_of(impl) is None:
        return None

    def pair() -> tuple[ModelImpl, Implementation]:
        twin = clone_of(impl)
        assert twin is not None
        return copy.deepcopy(model), twin

    return pair


def replay_pair(params: Params, factory: Callable[[Params], Implementation], ops: Lines) -> PairFactory:
    """Fresh instances brought to the end of the trace by replaying it."""

    def pair() -> tuple[ModelImpl, Implementation]:
        model, impl = ModelImpl(params), factory(params)
        for _ in lockstep.run(impl, [op for op, _ in ops], model, Expect.MODEL):
            pass
        return model, impl

    return pair


def run_probes(pair: PairFactory, base: Lines, candidates: list[Sequence]) -> tuple[Lines, Mismatch] | None:
    """The first probe line whose results differ, with the trace extended up to it, or None."""
    for sequence in candidates:
        model, impl = pair()
        ops = [Op(kind, args, None, len(base) + 2 + k) for k, (kind, args) in enumerate(sequence)]
        lines = list(base)
        try:
            for line in lockstep.run(impl, ops, model, Expect.MODEL):
                lines.append((line.op, line.expected if isinstance(line.expected, dict) else None))
                if line.mismatch is not None:
                    return lines, line.mismatch
        except TraceError:  # the model refuses the probe's next line here: this probe is over
            continue
    return None
