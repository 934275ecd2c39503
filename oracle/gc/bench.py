"""Marking throughput (pointers per second) of the model, fast and the real Go GC, and the noscan measurement.

`bench(sizes)` builds one random heap per size (oracle.gc.heaps.random_heap:
five layouts, 1.8 pointer slots per object on average, n/64 roots) and
marks it three ways:

  * model: model.gc.mark.mark_stw on a GcHeap built from the heap (the
    build is not timed). Pure Python; sizes above `model_max` are skipped.
  * fast: FastGcHeap.mark (its layout arrays are built untimed).
  * go: oracle/gc/go/heapgc.go builds the same heap in the runtime, frees
    what building left behind, then times runtime.GC() with the heap live
    (wall time of the whole call: stop-the-world phases, marking on every P,
    sweeping), best of `reps`; with GODEBUG=gctrace=1 the runtime's own
    concurrent-mark wall time is reported too.

"Pointers" is the same count for all three: the pointer slots the mark
reads, i.e. the slots of every marked object with pointers (fast and the
model agree on it exactly; the model's count is checked against fast's).
Timings are printed, never asserted; the best of `reps` runs is taken for
model and fast too, with their CPU time beside the wall time, since a
shared machine inflates wall time.

`noscan(runs)` measures in real Go what noscan spans save (20 slices of
10,000 elements, []*int64 against []int64: a benchmark loop that allocates
and drops them, and runtime.GC() alone with them garbage and live) and puts
the model's scanned words for the same heaps beside it (SPEC.md Part II).
"""

from __future__ import annotations

import re
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from model.gc.cycle import collect_snapshot
from model.gc.heap import GcHeap
from model.gc.mark import mark_stw
from oracle.gc import gomark as gc_go
from oracle.gc.heaps import noscan_heap, random_heap, to_fast, to_spec

GCTRACE = re.compile(r"^gc (\d+) @[\d.]+s \d+%: ([\d.]+)\+([\d.]+)\+([\d.]+) ms clock", re.MULTILINE)


@attrs.frozen
class Row:
    impl: str
    objects: int
    pointers: int
    seconds: float | None
    cpu_seconds: float | None = None
    mark_seconds: float | None = None  # Go: the concurrent mark phase alone (gctrace)
    note: str = ""

    @property
    def rate(self) -> float | None:
        return self.pointers / self.seconds if self.seconds else None


def _best(fn: Any, reps: int) -> tuple[float, float, Any]:
    best_wall = best_cpu = float("inf")
    result = None
    for _ in range(reps):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu, result


def bench_size(
    n: int, reps: int, model_max: int, go: bool, seed: int = 1, gomaxprocs: int | None = None,
    goroot: str | None = None,
) -> list[Row]:
    arrays = random_heap(n, seed)
    fast_heap = to_fast(arrays)
    wall, cpu, marked = _best(fast_heap.mark, reps)
    pointers = fast_heap.pointers_scanned(marked)
    rows = [Row("fast", n, pointers, wall, cpu)]
    if n <= model_max:
        spec = to_spec(arrays)
        model_reps = max(1, min(reps, 3 if n <= 10**5 else 1))

        timings: list[tuple[float, float]] = []
        slots = 0
        for _ in range(model_reps):
            heap = GcHeap.from_spec(spec)  # building is not timed
            wall, cpu = time.perf_counter(), time.process_time()
            slots = mark_stw(heap).stats.slots_scanned
            timings.append((time.perf_counter() - wall, time.process_time() - cpu))
        note = "" if slots == pointers else f"MODEL COUNTS {slots} POINTERS, FAST {pointers}"
        rows.append(Row("model", n, slots, min(t[0] for t in timings), min(t[1] for t in timings), note=note))
    else:
        rows.append(Row("model", n, pointers, None, note=f"skipped: above --model-max {model_max}"))
    if go:
        rows.append(go_row(arrays, n, pointers, reps, gomaxprocs, goroot))
    return rows


def go_row(
    arrays: gc_go.HeapArrays, n: int, pointers: int, reps: int, gomaxprocs: int | None = None,
    goroot: str | None = None,
) -> Row:
    env = {"GODEBUG": "gctrace=1"}
    if gomaxprocs is not None:
        env["GOMAXPROCS"] = str(gomaxprocs)
    with tempfile.TemporaryDirectory(prefix="heapgc-bench-") as tmp:
        path = Path(tmp) / "heap.bin"
        gc_go.write_heap_file(arrays, path)
        out, err = gc_go.run_program(["bench", str(path), str(reps)], env=env, goroot=goroot)
    marks = {int(m.group(1)): float(m.group(3)) / 1000 for m in GCTRACE.finditer(err)}
    measured = [marks[c] for c in out["gc_numbers"] if c in marks]
    return Row(
        "go",
        n,
        pointers,
        min(out["gc_seconds"]),
        None,
        min(measured) if measured else None,
        note=f"{out['go']}, GOMAXPROCS={out['gomaxprocs']}, build {out['build_seconds']:.1f}s",
    )


def bench(sizes: Sequence[int], reps: int = 3, model_max: int = 10**6, go: bool = True,
          gomaxprocs: int | None = None, goroot: str | None = None) -> list[Row]:
    rows: list[Row] = []
    for n in sizes:
        rows.extend(bench_size(n, reps, model_max, go, gomaxprocs=gomaxprocs, goroot=goroot))
    return rows


def _fmt_rate(pointers: int, seconds: float | None) -> str:
    if not seconds:
        return "-"
    return f"{pointers / seconds / 1e6:8.2f}M"


def table(rows: list[Row]) -> str:
    lines = [
        f"{'impl':<6} {'objects':>10} {'pointers':>11} {'seconds':>9} {'ptr/s':>10} {'cpu s':>8} {'ptr/s cpu':>10}"
        f" {'mark s':>8} {'ptr/s mark':>10}  note",
    ]
    for r in rows:
        secs = f"{r.seconds:9.4f}" if r.seconds is not None else f"{'-':>9}"
        cpu = f"{r.cpu_seconds:8.4f}" if r.cpu_seconds is not None else f"{'-':>8}"
        mark = f"{r.mark_seconds:8.4f}" if r.mark_seconds is not None else f"{'-':>8}"
        lines.append(
            f"{r.impl:<6} {r.objects:>10,} {r.pointers:>11,} {secs} {_fmt_rate(r.pointers, r.seconds):>10} {cpu}"
            f" {_fmt_rate(r.pointers, r.cpu_seconds):>10} {mark} {_fmt_rate(r.pointers, r.mark_seconds):>10}"
            f"  {r.note}"
        )
    return "\n".join(lines)


# The noscan measurement.


@attrs.frozen
class NoscanReport:
    go: dict[str, Any]
    model_words: dict[str, int]
    model_scan_items: dict[str, int]

    def describe(self) -> str:
        g = self.go
        us = 1e6
        lines = [
            f"Go {g['go']} (GOMAXPROCS={g['gomaxprocs']}), medians of {g['runs']} runs:",
            "  the benchmark loop (allocate 20 slices, drop them, runtime.GC(); sec/op of the loop):",
            f"    []*int64 {g['loop_ptr_ns_per_op'] / 1000:9.1f} us/op"
            f"   []int64 {g['loop_int_ns_per_op'] / 1000:9.1f} us/op"
            f"   ptr/int {g['loop_ptr_ns_per_op'] / g['loop_int_ns_per_op']:.2f}",
            "  runtime.GC() alone, the 20 slices garbage:",
            f"    []*int64 {g['gc_garbage_ptr_seconds'] * us:9.1f} us"
            f"      []int64 {g['gc_garbage_int_seconds'] * us:9.1f} us",
            "  runtime.GC() alone, the 20 slices held by a global (live):",
            f"    []*int64 {g['gc_live_ptr_seconds'] * us:9.1f} us      []int64 {g['gc_live_int_seconds'] * us:9.1f} us"
            f"   ptr/int {g['gc_live_ptr_seconds'] / g['gc_live_int_seconds']:.1f}",
            "Model, the same heaps (scanned words; scans):",
        ]
        for key in ("garbage_ptr", "garbage_int", "live_ptr", "live_int"):
            lines.append(f"    {key:<12} {self.model_words[key]:>9,} words  {self.model_scan_items[key]:>3} scans")
        return "\n".join(lines)


def noscan(runs: int = 3, reps: int = 21, gomaxprocs: int | None = 1, goroot: str | None = None) -> NoscanReport:
    """Medians over `runs` program runs. GOMAXPROCS=1 by default: with one P the collector's work runs on
    the thread that called runtime.GC, so a busy machine's scheduling delays (whole milliseconds, when
    a mark worker waits for a CPU) do not swamp a measurement of tens of microseconds."""
    keys = ("loop_ptr_ns_per_op", "loop_int_ns_per_op", "gc_garbage_ptr_seconds", "gc_garbage_int_seconds",
            "gc_live_ptr_seconds", "gc_live_int_seconds")
    env = {} if gomaxprocs is None else {"GOMAXPROCS": str(gomaxprocs)}
    outs = [gc_go.run_program(["noscan", str(reps)], env=env, goroot=goroot)[0] for _ in range(runs)]
    go: dict[str, Any] = {k: statistics.median(o[k] for o in outs) for k in keys}
    go.update(go=outs[0]["go"], gomaxprocs=outs[0]["gomaxprocs"], runs=runs)
    words: dict[str, int] = {}
    items: dict[str, int] = {}
    for live in (False, True):
        for pointers in (True, False):
            key = f"{'live' if live else 'garbage'}_{'ptr' if pointers else 'int'}"
            result = collect_snapshot(noscan_heap(pointers, live))
            words[key] = result.scanned_words or 0
            items[key] = result.scan_items or 0
    return NoscanReport(go, words, items)
