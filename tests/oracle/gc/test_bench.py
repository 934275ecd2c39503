"""The benchmark and the noscan measurement run and print their figures (timings are never asserted)."""

from __future__ import annotations

import re

import pytest

from oracle.cli import main


def test_gc_bench_prints_a_row_per_implementation(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gc-bench", "--sizes", "2000", "--reps", "1"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in out.splitlines()[1:] if line.strip()}
    assert set(rows) == {"fast", "model", "go"}
    assert rows["fast"][2] == rows["model"][2] == rows["go"][2]  # the same pointer count
    assert "MODEL COUNTS" not in out and re.search(r"\d+\.\d+M", rows["fast"][4])


def test_gc_bench_refuses_bad_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gc-bench", "--sizes", "ten"]) == 2
    assert main(["gc-bench", "--sizes", "0"]) == 2


def test_gc_noscan_reports_go_and_the_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gc-noscan", "--runs", "1"]) == 0
    out = capsys.readouterr().out
    assert "the seed's benchmark as written" in out and "held by a global (live)" in out
    assert re.search(r"live_ptr\s+200,000 words\s+20 scans", out)
    assert re.search(r"live_int\s+0 words\s+0 scans", out) and re.search(r"garbage_ptr\s+0 words", out)
