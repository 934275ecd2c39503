"""`python -m oracle bench`: its rows, units, targets and Go table, on tiny sizes.

A benchmark is not a test: no figure here is compared with a speed. These
check that the rows exist, that every figure is in the unit its row names,
that fast's summaries (of the mixed heap and of Go's bit patterns) equal the
model's, that Go's benchmark output is read right, and that without Go the
bench still runs and says why the Go columns are empty.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from fast.summary import summarize_rows
from model.summary import summarize_chunk
from oracle.pagealloc import bench

TINY = bench.BenchConfig(
    sizes_gib=(1,),
    model_ops=50,
    fast_ops=200,
    summarize_gib=1,
    trace_ops=2000,
    model_trace_ops=500,
    differential_seconds=0.5,
    go=False,
    pattern_chunks=64,
)

GO_OUTPUT = """goos: linux
goarch: amd64
pkg: runtime
cpu: AMD EPYC
BenchmarkPallocBitsSummarize/Unpacked00-2         	 8036720	        14.65 ns/op
BenchmarkPallocBitsSummarize/UnpackedAA-2         	 1000000	       103.1 ns/op
BenchmarkFindBitRange64/PatternAASize8-2          	93171390	         1.274 ns/op
BenchmarkFindBitRange64/Pattern4000400040004000Size32-2	100000000	         1.000 ns/op
BenchmarkPageCacheSomething                       	 1000	      5000 ns/op	   0 B/op
PASS
ok  	runtime	3.1s
"""


@pytest.fixture(scope="module")
def tiny_run() -> tuple[list[bench.Row], list[str]]:
    return bench.run_bench(TINY, log=io.StringIO())


def test_rows_and_targets_on_tiny_sizes(tiny_run: tuple[list[bench.Row], list[str]]) -> None:
    rows, notes = tiny_run
    names = [r.name for r in rows]
    assert names[:2] == ["grow a 1 GiB heap (256 chunks)", "alloc+free per op, 1 GiB heap"]
    assert "summarize every chunk, 256 chunks" in names and "replay a 2,000-op trace" in names
    assert "summaries of model and fast agree at every level: yes" in notes
    assert "the model agrees with every expect of the first 500 ops" in notes
    assert not any("MISMATCH" in n for n in notes)
    # The targets say what they measure, and that a tiny run does not measure them.
    assert any("1 TiB target: not measured" in n for n in notes)
    assert any("not measured: this trace is shorter" in n for n in notes)
    assert any(n.startswith("oracle, model beside fast:") and ("met)" in n or "MISSED)" in n) for n in notes)


def test_every_figure_is_in_the_unit_its_row_names(tiny_run: tuple[list[bench.Row], list[str]]) -> None:
    rows, _ = tiny_run
    units = {r.name: r.unit for r in rows}
    assert units["alloc+free per op, 1 GiB heap"] == "us/op"
    assert units["summarize every chunk, 256 chunks"] == "ms"
    for row in rows:
        if row.unit == "us/op":
            # In microseconds, not seconds: a Python alloc or free takes well over a thousandth of one.
            assert row.fast.value > 1e-3 and row.model.value > 1e-3
        table = bench.format_table([row], [])
        assert bench._show(row.unit, row.fast) in table
    alloc = next(r for r in rows if r.unit == "us/op")
    assert f"{alloc.fast.value:,.1f} us" in bench.format_table([alloc], [])


def test_json_reports_the_same_values_in_the_named_units(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [
        bench.Row("alloc+free per op, 1 GiB heap", "us/op", bench.Figure(250.0, 10), bench.Figure(12.5, 100)),
        bench.Row("summarize every chunk, 256 chunks", "ms", bench.Figure(900.0, 256), bench.Figure(0.5, 256)),
    ]
    monkeypatch.setattr(bench, "run_bench", lambda config: (rows, ["a note"]))
    out = io.StringIO()
    assert bench.main(TINY, out=out, as_json=True) == 0
    payload = json.loads(out.getvalue())
    assert [(r["unit"], r["model"], r["fast"]) for r in payload["rows"]] == [("us/op", 250.0, 12.5), ("ms", 900.0, 0.5)]
    assert payload["rows"][0]["speedup"] == 20.0
    assert payload["go"] == {"note": "Go's benchmarks not run", "unit": "ns", "rows": [], "cases": []}
    text = io.StringIO()
    assert bench.main(TINY, out=text) == 0
    assert "250.0 us (10 ops)" in text.getvalue() and "0.5 ms" in text.getvalue()


def test_go_benchmark_output_is_read_by_name() -> None:
    figures = bench.parse_go_bench(GO_OUTPUT)
    assert figures == {
        "BenchmarkPallocBitsSummarize/Unpacked00": 14.65,
        "BenchmarkPallocBitsSummarize/UnpackedAA": 103.1,
        "BenchmarkFindBitRange64/PatternAASize8": 1.274,
        "BenchmarkFindBitRange64/Pattern4000400040004000Size32": 1.0,
        "BenchmarkPageCacheSomething": 5000.0,
    }


def test_go_cases_are_paired_with_fast_doing_the_same_work(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bench, "run_go_benchmarks", lambda goroot, benchtime, log: (bench.parse_go_bench(GO_OUTPUT), "go"))
    summarize = bench.Row("summarize every chunk, 256 chunks", "ms", bench.Figure(9.0, 256), bench.Figure(2.0, 256))
    config = bench.BenchConfig(go=True, pattern_chunks=64)
    comparison = bench.compare_with_go(config, summarize, log=io.StringIO())
    rows = {r.name: r for r in comparison.rows}
    assert rows["PallocBitsSummarize"].cases == 2 and rows["PallocBitsSummarize"].go_ns == pytest.approx(58.875)
    assert rows["FindBitRange64"].cases == 2 and rows["FindBitRange64"].go_ns == pytest.approx(1.137)
    # The heap row: Go's mean per chunk times the chunks, beside fast's summarize row (2 ms = 2e6 ns).
    heap = rows["summarize 256 chunks"]
    assert heap.go_ns == pytest.approx(58.875 * 256) and heap.fast_ns == pytest.approx(2e6)
    assert all(r.fast_ns > 0 for r in comparison.rows)
    alone = [c.name for c in comparison.cases if c.fast_ns is None]
    assert alone == ["BenchmarkPageCacheSomething"]
    table = bench.format_go_table(comparison)
    assert "fast/Go" in table and "BenchmarkPageCacheSomething: Go 5.00 us/op, no counterpart in fast" in table


def test_without_go_the_bench_says_so_and_runs_on(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = bench.BenchConfig(go=True, goroot=str(tmp_path / "no-go-here"))
    comparison = bench.compare_with_go(config, None, log=io.StringIO())
    assert comparison.rows == [] and comparison.cases == []
    assert comparison.note.startswith("no Go figures:") and "no such directory" in comparison.note
    assert "no Go figures" in bench.format_go_table(comparison)


@pytest.mark.parametrize(
    "pattern",
    [0, (1 << 64) - 1, 0xAA, 0xAAAAAAAAAAAAAAAA, 0x80000000AAAAAAAA, 0xAAAAAAAA00000001, 0xBBBBBBBBBBBBBBBB,
     0x80000000BBBBBBBB, 0xBBBBBBBB00000001, 0xCCCCCCCCCCCCCCCC, 0x4444444444444444, 0x4040404040404040,
     0x4000400040004000, 0x1000404044CCAAFF],
)
def test_fast_summarizes_go_patterns_as_the_model_does(pattern: int) -> None:
    # The chunks fast summarizes beside Go's PallocBitsSummarize: every word the pattern.
    rows = np.full((3, 8), pattern, dtype=np.uint64)
    start, most, end = summarize_rows(rows)
    want = summarize_chunk([pattern] * 8).as_tuple()
    assert [(int(start[k]), int(most[k]), int(end[k])) for k in range(3)] == [want] * 3


@pytest.mark.go
@pytest.mark.slow
def test_go_benchmarks_run_beside_fast() -> None:
    config = bench.BenchConfig(go=True, go_benchtime="20ms", pattern_chunks=256)
    comparison = bench.compare_with_go(config, None, log=io.StringIO())
    assert comparison.note.startswith("go1."), comparison.note
    rows = {r.name: r for r in comparison.rows}
    assert rows["PallocBitsSummarize"].cases == 14 and rows["FindBitRange64"].cases == 39
    assert all(r.go_ns > 0 and r.fast_ns > 0 for r in comparison.rows)
