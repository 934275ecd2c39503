"""oracle/pacer/gotrace.py: fresh pacing traces from the live Go runtime match the model."""

from __future__ import annotations

from pathlib import Path

import pytest

from oracle.cli import main
from oracle.pacer import gotrace
from oracle.pacer.replay import replay_pacer


@pytest.mark.go
@pytest.mark.slow
def test_fresh_runtime_traces_match_the_model(tmp_path: Path) -> None:
    """Every profile, with a seed the bundled set does not use, recorded now and replayed."""
    jobs = [
        gotrace.Job("gogc", 11, 4, "gogc"),
        gotrace.Job("alloc", 11, 80, "alloc"),
        gotrace.Job("limit", 11, 4, "limit"),
        gotrace.Job("periodic", 11, 6, "periodic"),
        gotrace.Job("scavenge", 11, 1, "scavenge"),
    ]
    written = gotrace.generate(jobs, tmp_path)
    assert [p.name for p in written] == [f"{j.name}.jsonl" for j in jobs]
    exact = 0
    for path in written:
        report = replay_pacer(path)
        assert report.ok, f"{path.name}: {report.failure.describe() if report.failure else ''}"
        exact += sum(report.exact.values())
    assert exact > 500
    started = sum(path.read_text().count('"gc_started": true') for path in written)
    assert started > 0  # the heap trigger (and the periodic one, most runs) started cycles


@pytest.mark.go
def test_gen_command_writes_a_replayable_trace(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gen-pacer-traces", "--profiles", "gogc", "--seed", "5", "--steps", "2", "--out",
                 str(tmp_path)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [str(tmp_path / "go_gogc_seed5.jsonl")]
    assert main(["pacer-replay", out[0]]) == 0
    capsys.readouterr()
