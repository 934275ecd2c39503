"""Differential fuzzing of the real Go runtime against the model: `python -m oracle go-fuzz`.

Design
------
The model is the judge. Each test case ("example") is generated from the
MODEL's state alone: a seeded generator picks an operation that the model's
state makes valid (frees only of live allocations, cache operations on known
ids, grows where no chunk is), applies it to the model at once, records the
model's result as the expectation, and goes on. Because the runtime's
answers never steer the generator, a whole example is sent to the runtime in
one batch (oracle.golive.driver.GoImpl.apply_many) and compared afterwards: the
first operation whose runtime result differs from the model's (or that the
runtime refuses, or on which it crashes or hangs) fails the example.

Examples cover every op of trace format version 2: grows next to, below,
above (with gaps), far from the heap and across root-entry boundaries;
allocations of every size class (1..8, around 64 and a chunk, several
chunks, the free page count and one more), exhaustion bursts, partial frees
that leave holes, whole chunks freed, page caches (fill, allocations that
fail, flush), forced and background scavenges (huge-page sized ones, ones
larger than the heap), GC cycle ends (next_gen) and chunks driven past the
scavenger's density threshold. Params are the runtime's own physical and
huge page sizes (read from the runtime) or, in some examples, other sizes
the driver substitutes around each scavenge.

Shrinking. A failing example is cut after its first failing operation, then
reduced by delta debugging: moving the heap down to chunk 0 and renumbering
cache ids, removing every operation of one kind at once, removing blocks of
operations (halves, quarters, ..., single operations), and bisecting page
counts down. A candidate is repaired by
leaving out the operations the model then refuses (removing an allocation
removes the frees of its pages), and kept only if the runtime still differs
from the model in the same way (a wrong result stays a wrong result; a
crash stays a crash: a seeded bug also breaks the runtime's own heap, which
may crash by itself) and it is simpler (shorter, or smaller numbers), so
shrinking cannot cycle. The model's state after every 32 operations of the
stream is kept, so a candidate replays the model only from the last
checkpoint before its first change; the runtime runs the whole candidate in
one batch.

The shrunk failure is written as a trace (format version 2) whose expects
are the MODEL's results, so `python -m oracle replay FILE --impl go` (with
`--mutant NAME` for a seeded bug, or `--goroot` for a patched tree) stops at
the same line with the runtime's answer as "got".

With `state=True` the runtime's hidden state (search hint, both scavenge
cursors and their marks) is also compared with the model's after every
operation; a difference there fails the example too (replay checks only
results, so such a trace shows the line but not the difference).
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from model.errors import ModelError
from model.scavenge import high_occupancy_pages
from oracle.golive import driver as golive
from oracle.pagealloc.protocol import ModelImpl
from oracle.pagealloc.trace import Op, Outcome, Params, dumps, show

CACHE_IDS = 4
ROOT_ENTRY_CHUNKS = 1 << 12  # chunks under one root-level summary (Go amd64)
# Scavenge only while the heap spans at most this many chunks: the scavenge index (the model's and
# the runtime's) walks every chunk index from its cursor down to the lowest chunk.
SCAVENGE_SPAN = 8192
DEFAULT_OUT = Path("failures")

KindArgs = tuple[str, dict[str, Any]]


# ---- generating examples from the model's state ----


def free_runs(words: list[int]) -> list[int]:
    """The lengths of the runs of free pages (0 bits) in a chunk's allocation bitmap, low to high."""
    free = ~sum(w << (64 * i) for i, w in enumerate(words)) & ((1 << (64 * len(words))) - 1)
    runs = []
    while free:
        free >>= (free & -free).bit_length() - 1  # drop the used pages below the run
        length = (~free & (free + 1)).bit_length() - 1  # trailing ones
        runs.append(length)
        free >>= length
    return runs


class Generator:
    """One example: a random valid operation stream, with the model's result for each operation."""

    BASE_WEIGHTS: ClassVar[dict[str, float]] = {
        "grow": 3,
        "alloc": 10,
        "exhaust": 1,
        "free": 8,
        "free_chunk": 1,
        "cache_fill": 2,
        "cache_alloc": 3,
        "cache_flush": 2,
        "scavenge": 2,
        "scavenge_bg": 2,
        "next_gen": 1.5,
        "densify": 1,
    }

    def __init__(self, rng: random.Random, params: Params, max_chunks: int, state: bool = False) -> None:
        self.rng = rng
        self.state = state
        self.states: list[dict[str, Any]] = []
        self.params = params
        self.model = ModelImpl(params)
        self.heap = self.model.heap
        self.max_chunks = max_chunks
        self.cap = rng.choice([1, 2, 3, 4, 6, 8, 12, 16])
        self.ops: list[Op] = []
        self.wants: list[Outcome | None] = []
        self.grown: set[int] = set()
        self.live: list[tuple[int, int]] = []
        self.weights = {k: w * rng.choice([0.0, 0.3, 1.0, 1.0, 2.0, 4.0]) for k, w in self.BASE_WEIGHTS.items()}
        self.weights["alloc"] = max(self.weights["alloc"], 2.0)
        self.weights["free"] = max(self.weights["free"], 2.0)
        self.weights["grow"] = max(self.weights["grow"], 0.5)
        self.rules: dict[str, Callable[[], None]] = {
            "grow": self.grow,
            "alloc": self.alloc,
            "exhaust": self.exhaust,
            "free": self.free,
            "free_chunk": self.free_chunk,
            "cache_fill": self.cache_fill,
            "cache_alloc": self.cache_alloc,
            "cache_flush": self.cache_flush,
            "scavenge": self.scavenge,
            "scavenge_bg": self.scavenge_bg,
            "next_gen": self.next_gen,
            "densify": self.densify,
        }

    def run(self, length: int) -> None:
        kinds = list(self.weights)
        weights = [self.weights[k] for k in kinds]
        while not self.grown:
            self.grow()
        while len(self.ops) < length:
            self.rules[self.rng.choices(kinds, weights)[0]]()

    def emit(self, kind: str, **args: Any) -> Outcome | None:
        op = Op(kind, args, None, len(self.ops) + 2)
        want = self.model.apply(op)  # a refusal here is a bug of the generator, not a finding
        self.ops.append(op)
        self.wants.append(want)
        if self.state:
            self.states.append(model_hidden_state(self.model))
        if kind == "grow":
            self.grown.update(range(args["chunk"], args["chunk"] + args["nchunks"]))
        elif kind in ("alloc", "cache_alloc") and want is not None and want["page"] is not None:
            self.live.append((want["page"], args["npages"]))
        return want

    # Sizes.

    def free_pages(self) -> int:
        held = sum(c.free.bit_count() for c in self.heap.caches.values())
        return len(self.grown) * self.params.chunk_pages - sum(n for _, n in self.live) - held

    def alloc_size(self) -> int:
        cp, free = self.params.chunk_pages, max(self.free_pages(), 1)
        r = self.rng.random()
        if r < 0.5:
            return self.rng.randint(1, 8)
        if r < 0.75:
            return self.rng.choice([9, 16, 31, 63, 64, 65, 127, 128, 129, cp - 1, cp, cp + 1, 2 * cp, 2 * cp + 3])
        if r < 0.85:
            return self.rng.randint(1, free + 1)
        if r < 0.92 or not self.grown:
            return self.rng.choice([free, free + 1, max(free // 2, 1)])
        # Exactly the length of a free run of a chunk, or one page more: the boundary cases of every
        # search (a run one page short of the request, before one that fits, in the same chunk).
        chunk = self.rng.choice(sorted(self.grown))
        leaf = self.heap.alloc_state.leaf(chunk)
        runs = free_runs(self.heap.alloc_state.alloc_bits(chunk)) or [1]
        return max(1, self.rng.choice([*runs, leaf.max, leaf.start + leaf.end]) + self.rng.choice([0, 1]))

    # Rules.

    def grow(self) -> None:
        room = self.cap - len(self.grown)
        if room <= 0:
            return
        k = min(room, self.rng.choice([1, 1, 1, 2, 3, 4]))
        lowest, highest = (min(self.grown), max(self.grown)) if self.grown else (0, -1)
        place = self.rng.choices(
            ["above", "gap", "below", "zero", "root_boundary", "near", "far"], [6, 3, 2, 1, 1, 2, 0.3]
        )[0]
        chunk = {
            "above": highest + 1,
            "gap": highest + 1 + self.rng.randint(1, 3),
            "below": lowest - k - self.rng.choice([0, 0, 1, 2]),
            "zero": 0,
            "root_boundary": ROOT_ENTRY_CHUNKS * self.rng.randint(1, 3) - self.rng.randint(1, k),
            "near": self.rng.randint(0, 3 * ROOT_ENTRY_CHUNKS),
            "far": self.rng.randint(0, self.max_chunks - k),
        }[place]
        if chunk < 0 or chunk + k > self.max_chunks or any(c in self.grown for c in range(chunk, chunk + k)):
            return
        self.emit("grow", chunk=chunk, nchunks=k)

    def alloc(self) -> None:
        self.emit("alloc", npages=self.alloc_size())

    def exhaust(self) -> None:
        size = self.rng.choice([1, 2, 8, 64, self.params.chunk_pages])
        size = max(size, self.free_pages() // 40)
        for npages in (size, 1):
            for _ in range(60):
                want = self.emit("alloc", npages=npages)
                if want is None or want["page"] is None:
                    break

    def free_part(self, i: int, offset: int, count: int) -> None:
        page, npages = self.live.pop(i)
        self.emit("free", page=page + offset, npages=count)
        if offset:
            self.live.append((page, offset))
        if offset + count < npages:
            self.live.append((page + offset + count, npages - offset - count))

    def free(self) -> None:
        if not self.live:
            return
        i = self.rng.randrange(len(self.live))
        _, n = self.live[i]
        mode = self.rng.choice(["whole", "whole", "prefix", "suffix", "middle", "one"]) if n > 1 else "whole"
        if mode == "whole":
            self.free_part(i, 0, n)
        elif mode == "prefix":
            self.free_part(i, 0, self.rng.randint(1, n - 1))
        elif mode == "suffix":
            cut = self.rng.randint(1, n - 1)
            self.free_part(i, cut, n - cut)
        elif mode == "middle":
            lo = self.rng.randint(0, n - 1)
            self.free_part(i, lo, self.rng.randint(1, n - lo))
        else:
            self.free_part(i, self.rng.randrange(n), 1)

    def free_chunk(self) -> None:
        if not self.live:
            return
        chunk = self.live[self.rng.randrange(len(self.live))][0] // self.params.chunk_pages
        keep = []
        for page, npages in self.live:
            if page // self.params.chunk_pages == chunk:
                self.emit("free", page=page, npages=npages)
            else:
                keep.append((page, npages))
        self.live = keep

    def cache_fill(self) -> None:
        empty = [i for i in range(CACHE_IDS) if i not in self.heap.caches or self.heap.caches[i].is_empty()]
        if empty:
            self.emit("cache_fill", cache=self.rng.choice(empty))

    def cache_alloc(self) -> None:
        if not self.heap.caches:
            return
        cache = self.rng.choice(sorted(self.heap.caches))
        npages = self.rng.choice([1, 1, 1, 2, 3, 4, 5, 8, 16, 32, 63, 64])
        for _ in range(self.rng.randint(1, 6)):
            self.emit("cache_alloc", cache=cache, npages=npages)

    def cache_flush(self) -> None:
        if self.heap.caches:
            self.emit("cache_flush", cache=self.rng.choice(sorted(self.heap.caches)))

    def span(self) -> int:
        return max(self.grown) - min(self.grown) + 1 if self.grown else 0

    def scavenge_size(self) -> int:
        p = self.params
        fixed = [1, 2, 3, p.phys_page_pages, max(p.huge_page_pages, 1), 64, 100, p.chunk_pages, 1 << 20]
        return self.rng.choice([*fixed, self.rng.randint(1, 2 * p.chunk_pages)])

    def scavenge(self) -> None:
        if self.span() <= SCAVENGE_SPAN:
            self.emit("scavenge", npages=self.scavenge_size())

    def scavenge_bg(self) -> None:
        if self.span() <= SCAVENGE_SPAN:
            self.emit("scavenge", npages=self.scavenge_size(), force=False)

    def next_gen(self) -> None:
        self.emit("next_gen")

    def densify(self) -> None:
        """Leave a chunk with about the scavenger's density threshold (31/32) of its pages in use and
        some free, then maybe scavenge in the background: the chunk is skipped exactly when dense."""
        cp = self.params.chunk_pages
        target = high_occupancy_pages(self.heap.geometry) + self.rng.choice([-1, 0, 0, 1])
        holes = self.rng.randint(1, 3)
        want = self.emit("alloc", npages=min(target + holes, cp))
        if want is None or want["page"] is None:
            return
        for _ in range(holes):
            i = len(self.live) - 1
            _, n = self.live[i]
            if n > 2:
                self.free_part(i, self.rng.randint(1, n - 2), 1)
        if self.rng.random() < 0.5:
            if self.rng.random() < 0.5:
                self.next_gen()
            self.scavenge_bg()


# ---- running examples against the runtime ----


@dataclass
class Finding:
    """A failing example: the operations up to the first difference, and what differed."""

    params: Params
    ops: list[Op]
    wants: list[Outcome | None]
    index: int  # of the failing operation in ops
    got: Any
    kind: str  # "result" or "state"
    detail: str = ""

    @property
    def op(self) -> Op:
        return self.ops[self.index]

    @property
    def crashed(self) -> bool:
        """The runtime crashed or hung (rather than answering something else than the model)."""
        return isinstance(self.got, dict) and "error" in self.got and not str(self.got["error"]).startswith("refused")

    def describe(self) -> str:
        op = self.op
        if self.kind == "state":
            return f"line {op.line}: {op.describe()}\n  hidden state after it differs: {self.detail}"
        return (
            f"line {op.line}: {op.describe()}\n"
            f"  expected {show(op.kind, self.wants[self.index])}\n"
            f"  got      {show(op.kind, self.got)}"
        )

    def trace_text(self) -> str:
        return dumps(self.params, list(zip(self.ops[: self.index + 1], self.wants[: self.index + 1], strict=True)))


def model_hidden_state(model: ModelImpl) -> dict[str, Any]:
    """The model's search hint and scavenge cursors in the driver's go_state form."""
    pa = model.heap.alloc_state
    hint = None if pa.search_page == pa.geometry.no_free_page else pa.search_page
    force, bg = pa.scav.force_cursor, pa.scav.background_cursor
    return {
        "search_page": hint,
        "force_cursor": force.page,
        "force_marked": force.marked and force.page is not None,
        "bg_cursor": bg.page,
        "bg_marked": bg.marked and bg.page is not None,
    }


@dataclass
class ModelRun:
    """The model after running a stream: its ops (with line numbers), results and hidden states."""

    model: ModelImpl
    ops: list[Op]
    wants: list[Any]
    states: list[Any]

    def copy(self) -> ModelRun:
        return ModelRun(copy.deepcopy(self.model), list(self.ops), list(self.wants), list(self.states))


def model_run(
    params: Params,
    stream: list[KindArgs],
    with_state: bool,
    repair: bool = False,
    start: ModelRun | None = None,
) -> ModelRun | None:
    """Run stream on the model (after `start`, a run of a prefix, if given); None if it refuses an operation.

    With repair, an operation the model refuses is left out instead (shrinking removes an
    allocation, and the frees of its pages go with it)."""
    run = start.copy() if start is not None else ModelRun(ModelImpl(params), [], [], [])
    for kind, args in stream:
        op = Op(kind, args, None, len(run.ops) + 2)
        try:
            run.wants.append(run.model.apply(op))
        except ModelError:
            if repair:
                continue
            return None
        run.ops.append(op)
        if with_state:
            run.states.append(model_hidden_state(run.model))
    return run


class Prefixes:
    """Model runs of prefixes of the stream being shrunk, every STEP operations, so that a candidate
    that keeps the first i operations replays only from the checkpoint at or below i."""

    STEP = 32

    def __init__(self, params: Params, with_state: bool) -> None:
        self.params = params
        self.with_state = with_state
        self.stream: list[KindArgs] = []
        self.runs: dict[int, ModelRun] = {}

    def rebase(self, stream: list[KindArgs]) -> None:
        """The stream changed; keep the checkpoints of the prefix it shares with the old one."""
        same = 0
        for a, b in zip(self.stream, stream, strict=False):
            if a != b:
                break
            same += 1
        self.stream = stream
        self.runs = {k: r for k, r in self.runs.items() if k <= same}

    def at(self, i: int) -> tuple[int, ModelRun | None]:
        """(k, the model run of stream[:k]) for the largest checkpoint k <= i."""
        k = (i // self.STEP) * self.STEP
        if k == 0:
            return 0, None
        if k not in self.runs:
            below, run = self.at(k - 1)
            run = model_run(self.params, self.stream[below:k], self.with_state, start=run)
            assert run is not None and len(run.ops) == k, "the stream being shrunk is valid"
            self.runs[k] = run
        return k, self.runs[k]


class Runner:
    """Runs op streams on the model and on one runtime binary, and compares them."""

    def __init__(self, binary: Path, state: bool = False, timeout: float = 3.0) -> None:
        self.binary = binary
        self.state = state
        self.timeout = timeout
        self.hello = golive.server_for(binary).hello
        self.max_chunks = int(self.hello["max_chunks"])
        self.candidates = 0

    def runtime_params(self) -> Params:
        h = self.hello
        return Params(int(h["chunk_pages"]), int(h["phys_page_pages"]), int(h["huge_page_pages"]), 2)

    def evaluate(
        self,
        params: Params,
        stream: list[KindArgs],
        repair: bool = False,
        prefixes: Prefixes | None = None,
        keep: int = 0,
    ) -> Finding | bool | None:
        """A Finding if the runtime differs; None if it agrees; False if the model refuses the stream.

        With prefixes, stream[:keep] is known to equal the first keep operations of prefixes.stream."""
        self.candidates += 1
        k, start = prefixes.at(keep) if prefixes is not None else (0, None)
        run = model_run(params, stream[k:], self.state, repair, start)
        if run is None:
            return False
        return self.compare(params, run.ops, run.wants, run.states)

    def compare(self, params: Params, ops: list[Op], wants: list[Any], states: list[Any]) -> Finding | None:
        """Run ops on the runtime and compare with the model's results (and hidden states)."""
        impl = golive.GoImpl(params, self.binary, timeout=self.timeout)
        if self.state:
            gots, go_states = self._with_state(impl, ops)
        else:
            gots, go_states = impl.apply_many(ops), []
        for i, (want, got) in enumerate(zip(wants, gots, strict=True)):
            if got != want:
                return Finding(params, ops, wants, i, got, "result")
            if self.state and go_states[i] != states[i]:
                detail = f"model {json.dumps(states[i])}, runtime {json.dumps(go_states[i])}"
                return Finding(params, ops, wants, i, got, "state", detail)
        return None

    @staticmethod
    def _with_state(impl: golive.GoImpl, ops: list[Op]) -> tuple[list[Any], list[Any]]:
        probe = Op("go_state", {}, None, 0)
        mixed = [x for op in ops for x in (op, probe)]
        answers = impl.apply_many(mixed)
        gots = answers[0::2]
        states = []
        for answer in answers[1::2]:
            states.append(answer.get("error") if isinstance(answer, dict) and "error" in answer else answer)
        return gots, states


def normalized(stream: list[KindArgs], chunk_pages: int) -> list[list[KindArgs]]:
    """Simpler spellings of a stream: the heap moved down to chunk 0, cache ids renumbered from 0."""
    out = []
    grows = [args["chunk"] for kind, args in stream if kind == "grow"]
    if grows and min(grows) > 0:
        d = min(grows)
        shifted = []
        for kind, args in stream:
            if kind == "grow":
                args = {**args, "chunk": args["chunk"] - d}
            elif kind == "free":
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


def cost(stream: list[KindArgs]) -> tuple[int, int]:
    """How complex a stream is: its length, then the sum of its numbers."""
    return len(stream), sum(v for _, args in stream for v in args.values() if isinstance(v, int))


def shrink(runner: Runner, finding: Finding, seconds: float) -> Finding:
    """Delta debugging over the failing stream, as long as the model accepts it and the runtime still differs."""
    deadline = time.monotonic() + seconds
    best = finding
    stream: list[KindArgs] = [(op.kind, dict(op.args)) for op in best.ops[: best.index + 1]]
    prefixes = Prefixes(best.params, runner.state)
    prefixes.rebase(stream)
    crash = finding.crashed

    def attempt(candidate: list[KindArgs], keep: int = 0) -> bool:
        """Try a candidate whose first `keep` operations are the current stream's."""
        nonlocal best, stream
        if not candidate or time.monotonic() > deadline:
            return False
        result = runner.evaluate(best.params, candidate, True, prefixes, keep)
        # Keep the failure's class: a runtime with a seeded bug may also crash on its own heap,
        # which must not turn a wrong result into an unrelated crash while shrinking.
        if isinstance(result, Finding) and result.crashed == crash:
            kept = [(op.kind, dict(op.args)) for op in result.ops[: result.index + 1]]
            if cost(kept) >= cost(stream):  # only ever simpler, so shrinking cannot cycle
                return False
            best, stream = result, kept
            prefixes.rebase(stream)
            return True
        return False

    progress = True
    while progress and time.monotonic() < deadline:
        progress = False
        for candidate in normalized(stream, best.params.chunk_pages):
            if attempt(candidate):
                progress = True
        # Whole kinds of operation at once (every cache operation, every scavenge, ...), but the last.
        for kind in sorted({k for k, _ in stream[:-1]}):
            if attempt([(k, a) for k, a in stream[:-1] if k != kind] + stream[-1:]):
                progress = True
        size = max(len(stream) // 2, 1)
        while size >= 1 and time.monotonic() < deadline:
            i = 0
            while i < len(stream) and time.monotonic() < deadline:
                if attempt(stream[:i] + stream[i + size :], i):
                    progress = True
                else:
                    i += size
            size //= 2
        for i in range(len(stream)):
            if time.monotonic() > deadline or i >= len(stream):
                break
            kind, args = stream[i]
            for name in ("npages", "nchunks"):
                value = args.get(name)
                if not isinstance(value, int) or value <= 1:
                    continue
                # Bisect for the smallest count that still fails (assuming larger counts keep failing).
                lo, hi = 0, value
                while hi - lo > 1 and i < len(stream) and stream[i][0] == kind:
                    mid = (lo + hi) // 2
                    if attempt([*stream[:i], (kind, {**args, name: mid}), *stream[i + 1 :]], i):
                        progress = True
                        hi = mid
                    else:
                        lo = mid
                if i >= len(stream):
                    break
    return best


# ---- campaigns ----


@dataclass
class CampaignResult:
    label: str
    seconds: float
    examples: int
    ops: int
    seed: int = 1
    finding: Finding | None = None
    original_ops: int = 0  # the failing example's length before shrinking
    failing_example: int | None = None
    ops_to_failure: int | None = None  # operations run (all examples) up to the first failing one
    detect_seconds: float | None = None  # from the start to the first failing example
    trace_seconds: float | None = None  # from the start to the shrunk trace on disk
    trace: Path | None = None
    shrink_candidates: int = 0
    reproduces: bool | None = None  # the written trace replays to a mismatch at its last line
    notes: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return self.finding is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "seed": self.seed,
            "found": self.found,
            "seconds": round(self.seconds, 2),
            "examples": self.examples,
            "ops": self.ops,
            "ops_per_second": round(self.ops / self.seconds, 1) if self.seconds > 0 else 0.0,
            "failing_example": self.failing_example,
            "ops_to_failure": self.ops_to_failure,
            "detect_seconds": None if self.detect_seconds is None else round(self.detect_seconds, 2),
            "trace_seconds": None if self.trace_seconds is None else round(self.trace_seconds, 2),
            "trace": None if self.trace is None else str(self.trace),
            "trace_ops": None if self.finding is None else self.finding.index + 1,
            "original_ops": self.original_ops or None,
            "kind": None if self.finding is None else self.finding.kind,
            "crash": None if self.finding is None else self.finding.crashed,
            "reproduces": self.reproduces,
            "failure": None if self.finding is None else self.finding.describe(),
        }


def example_params(rng: random.Random, runtime: Params, variants: bool) -> Params:
    """Mostly the runtime's own page sizes; with variants, sometimes others (substituted around scavenges)."""
    if not variants or rng.random() < 0.6:
        return runtime
    phys = rng.choice([1, 2, 4, 8, 64])
    huge = rng.choice([0, 8, 16, 64, 256, 512])
    return Params(runtime.chunk_pages, phys, huge, 2)


def run_campaign(
    binary: Path,
    seconds: float = 30.0,
    seed: int = 1,
    max_examples: int | None = None,
    out_dir: Path = DEFAULT_OUT,
    label: str = "pristine",
    shrink_seconds: float = 30.0,
    state: bool = False,
    variants: bool = True,
    progress: Callable[[CampaignResult], None] | None = None,
) -> CampaignResult:
    """Examples until the time or example budget is spent or one fails; a failure is shrunk and written."""
    runner = Runner(binary, state=state)
    runtime = runner.runtime_params()
    started = time.monotonic()
    result = CampaignResult(label, 0.0, 0, 0, seed)
    index = 0
    while time.monotonic() - started < seconds and (max_examples is None or index < max_examples):
        rng = random.Random(f"go-fuzz:{seed}:{index}")
        params = example_params(rng, runtime, variants)
        length = rng.choice([20, 60, 150, 400, 1000])
        gen = Generator(rng, params, runner.max_chunks, state)
        gen.run(length)
        outcome = runner.compare(params, gen.ops, gen.wants, gen.states)
        result.examples += 1
        if isinstance(outcome, Finding):
            result.ops += outcome.index + 1
            result.failing_example = index
            result.ops_to_failure = result.ops
            result.detect_seconds = time.monotonic() - started
            result.original_ops = outcome.index + 1
            before = runner.candidates
            finding = shrink(runner, outcome, shrink_seconds)
            result.shrink_candidates = runner.candidates - before
            result.finding = finding
            out_dir.mkdir(parents=True, exist_ok=True)
            path = out_dir / f"go_{label}_seed{seed}_ex{index}.jsonl"
            path.write_text(finding.trace_text(), encoding="utf-8")
            result.trace = path
            result.trace_seconds = time.monotonic() - started
            if finding.kind == "result":
                # A seeded bug may also crash the runtime on its own heap, now and then: try thrice.
                result.reproduces = False
                for _ in range(3):
                    again = golive.replay(path, binary=binary)
                    if again.mismatch is not None and again.mismatch.line == finding.op.line:
                        result.reproduces = True
                        break
            break
        result.ops += len(gen.ops)
        index += 1
        if progress is not None:
            result.seconds = time.monotonic() - started
            progress(result)
    result.seconds = time.monotonic() - started
    return result


def replay_command(path: Path, mutant: str | None, goroot: str | None) -> str:
    extra = f" --mutant {mutant}" if mutant else ""
    extra += f" --goroot {goroot}" if goroot else ""
    return f"python -m oracle replay {path} --impl go{extra}"


def print_result(result: CampaignResult, out: Any, mutant: str | None = None, goroot: str | None = None) -> None:
    rate = result.ops / result.seconds if result.seconds > 0 else 0.0
    print(
        f"go-fuzz {result.label} (seed {result.seed}): {result.seconds:.1f}s, {result.examples:,} examples, "
        f"{result.ops:,} ops "
        f"({rate:,.0f} ops/s): {'FAILURE' if result.found else 'no difference'}",
        file=out,
    )
    if result.finding is not None and result.trace is not None:
        print(
            f"  first failing example #{result.failing_example} after {result.ops_to_failure:,} ops and "
            f"{result.detect_seconds:.1f}s; shrunk from {result.original_ops} to {result.finding.index + 1} ops "
            f"({result.shrink_candidates} candidates); trace written at {result.trace_seconds:.1f}s",
            file=out,
        )
        print("  " + result.finding.describe().replace("\n", "\n  "), file=out)
        print(f"  trace: {result.trace}", file=out)
        print(f"  reproduce: {replay_command(result.trace, mutant, goroot)}", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m oracle go-fuzz",
        description="Differential fuzzing of the real Go runtime's page allocator against the model.",
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="time budget (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="campaign seed (default: %(default)s)")
    parser.add_argument("--examples", type=int, default=None, help="stop after this many examples")
    parser.add_argument("--goroot", default=None, help="the Go tree to validate (default: $GOROOT, else go env GOROOT)")
    parser.add_argument("--mutant", default=None, help="apply a seeded bug (python -m oracle go-mutants --list)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where failing traces go (default: %(default)s)")
    parser.add_argument("--shrink-seconds", type=float, default=30.0, help="time for shrinking a failure")
    parser.add_argument("--state", action="store_true", help="also compare the search hint and scavenge cursors")
    parser.add_argument("--runtime-sizes-only", action="store_true", help="never substitute page sizes")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    try:
        mutation = None
        if args.mutant:
            from oracle.golive.mutants import mutant

            mutation = mutant(args.mutant)
        tc = golive.find_toolchain(args.goroot)
        binary = golive.build_driver(tc, mutation)
    except golive.GoNotFound as e:
        print(f"go-fuzz: {e}", file=sys.stderr)
        return 2
    except ModelError as e:
        print(f"go-fuzz: {e}", file=sys.stderr)
        return 2
    label = args.mutant or "pristine"
    result = run_campaign(
        binary,
        args.seconds,
        args.seed,
        args.examples,
        args.out,
        label,
        args.shrink_seconds,
        args.state,
        not args.runtime_sizes_only,
    )
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        print_result(result, sys.stdout, args.mutant, args.goroot)
    return 1 if result.found else 0
