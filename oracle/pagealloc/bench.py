"""`python -m oracle bench`: the model and fast/ on the same workloads, one run, a table of figures.

This is a benchmark, not a test: it measures once and prints; nothing in it
asserts a time. Every row runs the same work on both implementations (the
same seeded operations, the same bitmaps), and shows each one's figure and
the speed-up of fast over the model. Where the model would take minutes it
runs fewer operations of the same workload, and the row says how many.

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
                 resummarize; the two results are compared.
  replay         a 1,000,000-op trace of every operation (grows, churn,
                 page caches over 8 ids, scavenging), made by a seeded
                 generator with fast answering (so the expects are fast's;
                 the model's replay of its first lines checks them):
                 parse, apply and compare every expect, without a judge.
  differential   steps per second of the exact-level state machine with
                 the model beside fast, and beside a second model.
Targets printed under the table: fast's 1 TiB alloc+free within 2x of its
1 GiB figure, fast replaying the 1,000,000-op trace in under 60 s, the
oracle at 1,000 or more lockstep steps per second.

The model runs fewer operations where it would take minutes, and the table
says so in each of its figures: 2,000 alloc+free ops against fast's 20,000
(after the same warm-up), and the first 200,000 lines of the trace (the
model's tree search and scavenge index walk grow with the heap, which the
trace grows to 64 GiB). Every figure is one measurement of this run.
"""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

import attrs
import numpy as np

from fast.pageheap import FastPageHeap
from model import tree
from model.geometry import AMD64
from model.pageheap import PageHeap
from model.summary import pack
from oracle.pagealloc.adapters import FastImpl
from oracle.pagealloc.fuzz import CampaignConfig, run_campaign
from oracle.pagealloc.generate import ChurnGenerator, churn_size
from oracle.pagealloc.registry import create
from oracle.pagealloc.trace import Params, dumps, read_header_and_ops

GIB_CHUNKS = 256  # 4 MiB chunks per GiB
HEAP_BASE_CHUNK = (1 << 25) + 12345  # unaligned, high in the address space
LIVE_CAP = 2000


@attrs.frozen
class Figure:
    value: float  # seconds per op, seconds, or a rate
    ops: int
    note: str = ""


@attrs.frozen
class Row:
    name: str
    unit: str  # "us/op", "s", "ops/s", "steps/s"
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


def time_summarize(nchunks: int, model_chunks: int, seed: int) -> tuple[Figure, Figure, bool]:
    g = AMD64
    bits = mixed_bitmaps(nchunks, g.words_per_chunk, seed)
    heap = FastPageHeap(g)
    heap.grow(HEAP_BASE_CHUNK, nchunks)
    storage, layout = heap.alloc_state.storage, heap.alloc_state.layout
    for k in range(nchunks):
        chunk = HEAP_BASE_CHUNK + k
        storage.blocks[chunk >> layout.log_chunks_per_block].alloc[chunk & layout.row_mask] = bits[k]
    started = time.perf_counter()
    heap.resummarize()
    fast_seconds = time.perf_counter() - started
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
    return Figure(model_seconds, model_chunks, note), Figure(fast_seconds, nchunks), agree


def write_trace(path: Path, nops: int, seed: int) -> Params:
    """A trace of nops lines of the churn workload, answered by fast/ (so its expects are fast's)."""
    params = Params(512, 1, 256)
    impl = FastImpl(params)
    generator = ChurnGenerator(
        random.Random(seed), params, impl, impl.chunk_bits, HEAP_BASE_CHUNK, 64 * GIB_CHUNKS, LIVE_CAP
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
                Figure(model_op, config.model_ops),
                Figure(fast_op, config.fast_ops),
            )
        )
    if len(per_op) > 1:
        low, high = min(per_op), max(per_op)
        ratio = per_op[high] / per_op[low]
        verdict = "met" if ratio <= 2 else "MISSED"
        notes.append(f"fast alloc+free at {high} GiB is {ratio:.2f}x its {low} GiB cost (target <= 2x: {verdict})")

    nchunks = config.summarize_gib * GIB_CHUNKS
    say(f"summarize every chunk of {nchunks:,}")
    model_fig, fast_fig, agree = time_summarize(nchunks, config.model_summarize_chunks or nchunks, config.seed)
    rows.append(Row(f"summarize every chunk, {nchunks:,} chunks", "s", model_fig, fast_fig))
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
        say("replaying it with fast")
        fast_ops, fast_seconds, fast_mismatch = replay_only(path, "fast")
        say(f"replaying its first {config.model_trace_ops:,} ops with the model")
        model_ops, model_seconds, model_mismatch = replay_only(path, "model", config.model_trace_ops)
    rows.append(
        Row(
            f"replay a {config.trace_ops:,}-op trace",
            "ops/s",
            Figure(model_ops / model_seconds, model_ops, f"{model_ops:,} ops in {model_seconds:.1f}s"),
            Figure(fast_ops / fast_seconds, fast_ops, f"{fast_ops:,} ops in {fast_seconds:.1f}s"),
        )
    )
    if config.trace_ops == 1_000_000:
        verdict = "met" if fast_ops == config.trace_ops and fast_seconds < 60 else "MISSED"
    else:
        verdict = "not measured: this trace is shorter"
    notes.append(f"fast replays {fast_ops:,} ops in {fast_seconds:.1f}s (target: 1,000,000 in < 60s: {verdict})")
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
    verdict = "met" if fast_rate >= 1000 else "MISSED"
    notes.append(f"oracle, model beside fast: {fast_rate:,.0f} steps/s (target >= 1,000: {verdict})")
    return rows, notes


def _show(unit: str, figure: Figure) -> str:
    if unit == "us/op":
        text = f"{figure.value * 1e6:,.1f} us ({figure.ops:,} ops)"
    elif unit == "s":
        text = f"{figure.value:,.3f} s"
    else:
        text = f"{figure.value:,.0f} {unit}"
    return f"{text}; {figure.note}" if figure.note else text


def format_table(rows: list[Row], notes: list[str]) -> str:
    header = ("workload", "model", "fast", "fast/model")
    lines = [(r.name, _show(r.unit, r.model), _show(r.unit, r.fast), f"{r.speedup:,.1f}x") for r in rows]
    widths = [max(len(x[i]) for x in [header, *lines]) for i in range(4)]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    out.append("")
    out += [f"* {n}" for n in notes]
    return "\n".join(out)


def main(config: BenchConfig, out: TextIO = sys.stdout, as_json: bool = False) -> int:
    """Run the bench and print the table (or JSON); progress goes to stderr."""
    started = time.perf_counter()
    rows, notes = run_bench(config)
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
        }
        print(json.dumps(payload, indent=1), file=out)
    else:
        print(format_table(rows, notes), file=out)
        print(f"(one run, {time.perf_counter() - started:.0f}s in all)", file=out)
    return 0
