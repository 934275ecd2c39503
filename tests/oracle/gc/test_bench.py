"""oracle/gc/bench.py: the benchmark and the noscan measurement run and print their figures (timings are never
asserted)."""

from __future__ import annotations

import re

import pytest

from oracle.cli import main
from oracle.gc.bench import bench, table


@pytest.mark.go
def test_gc_bench_prints_a_row_per_implementation(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gc-bench", "--sizes", "2000", "--reps", "1"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:] if line.strip()}
    assert set(rows) == {"fast", "model", "go"}
    assert rows["fast"][2] == rows["model"][2] == rows["go"][2]  # the same pointer count
    assert "MODEL COUNTS" not in out and re.search(r"\d+\.\d+M", rows["fast"][4])


def test_gc_bench_without_go_and_above_model_max(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gc-bench", "--sizes", "1e3,2e3", "--reps", "1", "--model-max", "1500", "--no-go"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["impl", "objects", "pointers"]
    assert [line.split()[:2] for line in lines[1:]] == [["fast", "1,000"], ["model", "1,000"], ["fast", "2,000"],
                                                        ["model", "2,000"]]
    assert "skipped: above --model-max 1500" in lines[-1]
    rows = bench([500], reps=1, go=False)
    assert [r.impl for r in rows] == ["fast", "model"] and rows[0].pointers == rows[1].pointers
    assert "MODEL COUNTS" not in table(rows)


def test_gc_bench_refuses_bad_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gc-bench", "--sizes", "ten"]) == 2
    assert main(["gc-bench", "--sizes", "0"]) == 2


@pytest.mark.go
def test_gc_noscan_reports_go_and_the_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gc-noscan", "--runs", "1"]) == 0
    out = capsys.readouterr().out
    assert "the benchmark loop" in out and "held by a global (live)" in out
    assert re.search(r"live_ptr\s+200,000 words\s+20 scans", out)
    assert re.search(r"live_int\s+0 words\s+0 scans", out) and re.search(r"garbage_ptr\s+0 words", out)
