"""Shrinking a failing operation stream of the go campaign, on the oracle's one shrinking core.

A stream is a list of (kind, args). The campaign's test (oracle.golive.
campaign.Runner.evaluate) replays a candidate on the model, leaving out the
operations the model then refuses (removing an allocation removes the frees
of its pages), runs it on the runtime, and accepts it only if the runtime
still differs from the model in the same way (a wrong result stays a wrong
result; a crash stays a crash) — so the kept stream is always valid and
still failing. On top of oracle.common.shrink's passes (runs of operations,
every operation of one kind), two passes of its own:

  normalize   the heap moved down to the lowest chunk a trace may grow (0 on
              amd64, 1 on 386), cache ids renumbered from 0
  smaller     each page or chunk count bisected down to the smallest that
              still fails (assuming larger counts keep failing)

"Simpler" is smaller `cost`: shorter first, then smaller numbers, so
shrinking cannot cycle.
"""

from __future__ import annotations

from typing import Any

from oracle.common.shrink import Reducer

KindArgs = tuple[str, dict[str, Any]]
Stream = list[KindArgs]


def cost(stream: Stream) -> tuple[int, int]:
    """How complex a stream is: its length, then the sum of its numbers."""
    return len(stream), sum(v for _, args in stream for v in args.values() if isinstance(v, int))


def simpler(new: Stream, old: Stream) -> bool:
    return cost(new) < cost(old)


def normalized(stream: Stream, chunk_pages: int, first_chunk: int = 0) -> list[Stream]:
    """Simpler spellings of a stream: the heap moved down to first_chunk, cache ids renumbered from 0."""
    out = []
    grows = [args["chunk"] for kind, args in stream if kind == "grow"]
    if grows and min(grows) > first_chunk:
        d = min(grows) - first_chunk
        shifted = []
        for kind, args in stream:
            if kind == "grow":
                args = {**args, "chunk": args["chunk"] - d}
            elif kind in ("free", "pad"):
                args = {**args, "page": args["page"] - d * chunk_pages}
            shifted.append((kind, args))
        out.append(shifted)
    ids: dict[int, int] = {}
    renumbered = []
    for kind, args in stream:
        if "cache" in args:
            args = {**args, "cache": ids.setdefault(args["cache"], len(ids))}
        renumbered.append((kind, args))
    if renumbered != stream:
        out.append(renumbered)
    return out


def normalize_pass(chunk_pages: int, first_chunk: int = 0):  # type: ignore[no-untyped-def]
    def run(reducer: Reducer[KindArgs]) -> bool:
        return any([reducer.attempt(c) for c in normalized(reducer.items, chunk_pages, first_chunk)])

    return run


def kinds_pass(reducer: Reducer[KindArgs]) -> bool:
    """Every operation of one kind at once (every cache operation, every scavenge, ...), but the last."""
    kinds = sorted({k for k, _ in reducer.items[:-1]})
    return reducer.remove_where([lambda x, kind=kind: x[0] == kind for kind in kinds], protect_last=True)


def runs_pass(reducer: Reducer[KindArgs]) -> bool:
    return reducer.remove_runs()


def numbers_pass(reducer: Reducer[KindArgs]) -> bool:
    """Bisect each page and chunk count for the smallest that still fails."""
    progress = False
    i = 0
    while i < len(reducer.items) and not reducer.out_of_time():
        kind, args = reducer.items[i]
        for name in ("npages", "nchunks"):
            value = args.get(name)
            if not isinstance(value, int) or value <= 1:
                continue
            lo, hi = 0, value
            while hi - lo > 1 and i < len(reducer.items) and reducer.items[i][0] == kind:
                mid = (lo + hi) // 2
                items = reducer.items
                if reducer.attempt([*items[:i], (kind, {**args, name: mid}), *items[i + 1 :]], i):
                    progress = True
                    hi = mid
                else:
                    lo = mid
        i += 1
    return progress


def shrink_stream(
    stream: Stream, test: Any, seconds: float, chunk_pages: int, accepted: Any = None, first_chunk: int = 0
) -> tuple[Stream, int]:
    """The simplest failing stream found within seconds, and how many candidates were tried."""
    reducer = Reducer(stream, test, seconds, simpler, accepted)
    result = reducer.reduce([normalize_pass(chunk_pages, first_chunk), kinds_pass, runs_pass, numbers_pass])
    return result, reducer.tried
