"""`python -m oracle fuzz` and `python -m oracle bench`: options, JSON, exit codes, failure files.

The bench is exercised on tiny sizes only to check its rows and cross-checks;
its figures are not asserted (a benchmark is not a test).

The state machines are also here as plain test cases (TestPageAllocMachine,
TestGcMachine): a few examples each under pytest, and the targets HypoFuzz
fuzzes for as long as it runs (`hypothesis fuzz -- tests/oracle/pagealloc/
test_fuzz.py -k Machine`, README); test_hypofuzz_runs_the_machines runs it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from fast.faults import MERGE_WIDTH_OFF_BY_ONE
from model.gc.barrier import HYBRID
from oracle import cli
from oracle.gc import machine as gc_machine
from oracle.pagealloc import bench
from oracle.pagealloc.fuzz import machine_for, short_campaign
from oracle.pagealloc.replay import replay
from tests.helpers import DoubleHandout, fast_with, register


def fuzz_json(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object]]:
    code = cli.main(["fuzz", "--json", *args])
    return code, json.loads(capsys.readouterr().out)


def test_fuzz_json_clean_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = fuzz_json(capsys, "--seconds", "2", "--db", "none", "--failures", str(tmp_path))
    assert code == 0
    assert out["failures"] == 0 and out["failure_traces"] == []
    assert isinstance(out["steps"], int) and out["steps"] > 0
    assert isinstance(out["steps_per_second"], float) and out["steps_per_second"] > 0


def test_fuzz_finds_a_fault_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = fuzz_json(
        capsys,
        "--seconds",
        "3",
        "--db",
        str(tmp_path / "db"),
        "--failures",
        str(tmp_path / "failures"),
        "--fault",
        MERGE_WIDTH_OFF_BY_ONE,
        "--shrink-seconds",
        "5",
    )
    assert code == 1 and out["failures"] == 1
    traces = out["failure_traces"]
    assert isinstance(traces, list)
    path = Path(traces[0])
    assert path.parent == tmp_path / "failures" and path.is_file()
    assert replay(path, "fast", options=fast_with(MERGE_WIDTH_OFF_BY_ONE)).mismatch is not None
    assert any((tmp_path / "db").iterdir())  # the failure went into the example database


def test_fuzz_with_two_workers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = fuzz_json(
        capsys, "--seconds", "3", "--workers", "2", "--db", str(tmp_path / "db"), "--failures", str(tmp_path)
    )
    assert code == 0 and out["failures"] == 0
    assert isinstance(out["steps"], int) and out["steps"] > 0


def test_fuzz_summary_and_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["fuzz", "--seconds", "1", "--db", "none", "--failures", str(tmp_path)]) == 0
    assert "steps/s" in capsys.readouterr().out
    assert cli.main(["fuzz", "--impl", "nonesuch"]) == 2
    assert cli.main(["fuzz", "--replay", str(tmp_path / "missing.jsonl")]) == 2


def test_safe_failure_trace_replays_with_fuzz_replay(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    register(monkeypatch, "double", DoubleHandout)
    code, out = fuzz_json(
        capsys,
        "--impl",
        "double",
        "--level",
        "safe",
        "--seconds",
        "5",
        "--db",
        "none",
        "--failures",
        str(tmp_path),
        "--shrink-seconds",
        "5",
    )
    assert code == 1
    traces = out["failure_traces"]
    assert isinstance(traces, list)
    code = cli.main(["fuzz", "--impl", "double", "--level", "safe", "--replay", traces[0]])
    printed = capsys.readouterr().out
    assert code == 1 and "FAILED" in printed


def test_short_campaign_for_the_default_job(capsys: pytest.CaptureFixture[str]) -> None:
    assert short_campaign(seconds=1.5) == 0
    assert "fuzz fast (exact)" in capsys.readouterr().out


def test_bench_rows_on_tiny_sizes() -> None:
    config = bench.BenchConfig(
        sizes_gib=(1,),
        model_ops=50,
        fast_ops=200,
        summarize_gib=1,
        trace_ops=3000,
        model_trace_ops=1000,
        differential_seconds=1.0,
    )
    rows, notes = bench.run_bench(config, log=io.StringIO())
    names = [r.name for r in rows]
    assert names[0].startswith("grow a 1 GiB heap") and names[1] == "alloc+free per op, 1 GiB heap"
    assert any(n.startswith("summarize every chunk") for n in names)
    assert any(n.startswith("replay a 3,000-op trace") for n in names)
    assert "summaries of model and fast agree at every level: yes" in notes
    assert "the model agrees with every expect of the first 1,000 ops" in notes
    table = bench.format_table(rows, notes)
    assert "fast/model" in table and "differential lockstep steps" in table


# The state machines, unchanged, as test cases: pytest runs a few examples; HypoFuzz fuzzes them for hours.
# Only the example count and step count are set here: HypoFuzz requires the default example database.
HYPOFUZZ_SECONDS = 180  # at most, for HypoFuzz to run valid examples of both machines
QUICK = settings(max_examples=8, stateful_step_count=25, deadline=None, suppress_health_check=list(HealthCheck))
TestPageAllocMachine = machine_for("fast", "exact").TestCase
TestPageAllocMachine.settings = QUICK
TestGcMachine = gc_machine.machine_class(gc_machine.MachineConfig(HYBRID)).TestCase
TestGcMachine.settings = QUICK


@pytest.mark.slow
def test_hypofuzz_runs_the_machines(tmp_path: Path) -> None:
    """`hypothesis fuzz` collects both machines and runs them until stopped.

    It runs in a fresh folder, so its database (.hypothesis/examples there) holds only this run. Its
    reports are read back through HypoFuzz's own database layer every two seconds; HypoFuzz is stopped
    once each machine has run valid examples, or after HYPOFUZZ_SECONDS: with SIGTERM to its process group,
    which ends every process where it stands. (A ctrl-C, SIGINT, raises KeyboardInterrupt inside whatever
    example each worker is running; a stop must not be able to leave anything in the database that looks
    like a failure of the machine.)
    HypoFuzz traces coverage line by line, so an example takes many times longer than under pytest.
    """
    pytest.importorskip("hypofuzz", reason="HypoFuzz is an optional extra: pip install -e '.[hypofuzz]'")
    from hypofuzz.database import HypofuzzDatabase  # here: an optional extra, imported only once it is known there
    from hypofuzz.database.models import FailureState  # here, with the one above
    from hypothesis.database import DirectoryBasedExampleDatabase  # here, with the one above that needs it
    from hypothesis.internal.reflection import function_digest  # here: how HypoFuzz keys a test's reports
    from hypothesis.stateful import get_state_machine_test  # here: the test HypoFuzz builds from a TestCase

    hypothesis = shutil.which("hypothesis", path=os.path.dirname(sys.executable)) or shutil.which("hypothesis")
    assert hypothesis is not None
    database = HypofuzzDatabase(DirectoryBasedExampleDatabase(str(tmp_path / ".hypothesis" / "examples")))
    keys = {
        case.__name__: function_digest(
            get_state_machine_test(case.runTest._hypothesis_state_machine_class).hypothesis.inner_test  # type: ignore[attr-defined]
        )
        for case in (TestPageAllocMachine, TestGcMachine)
    }

    def valid_examples() -> dict[str, int]:
        return {
            name: max((sum(v for s, v in r.status_counts.items() if s.name == "VALID")
                       for r in database.reports.fetch(key)), default=0)
            for name, key in keys.items()
        }

    proc = subprocess.Popen(
        # Hypothesis loads its "ci" profile (derandomize=True) when a CI variable is set, and HypoFuzz does
        # not fuzz a derandomized test: the run names its profile, the same everywhere.
        [hypothesis, "fuzz", "-n", "2", "--no-dashboard", "--", __file__, "-k", "Machine",
         "--hypothesis-profile", "default"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},  # its output is whole when SIGTERM ends it
    )
    deadline = time.monotonic() + HYPOFUZZ_SECONDS
    counts = valid_examples()
    try:
        while time.monotonic() < deadline and proc.poll() is None and not all(counts.values()):
            time.sleep(2)
            counts = valid_examples()
    finally:
        with contextlib.suppress(ProcessLookupError):  # gone already: its output says why
            os.killpg(proc.pid, signal.SIGTERM)  # HypoFuzz runs until stopped
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate(timeout=10)
    assert "using 2 processes to fuzz 2 tests" in out, out[-3000:]
    # A failure HypoFuzz found in a machine is a finding: it fails the test with its reason.
    # The evidence with it: the failure's state, what HypoFuzz saw on its last run of it (a shrunk failure is run
    # once more; an overrun there means that run went another way), the steps and the traceback.
    found = [
        f"{name} ({state.name}, {len(choices)} choices): "
        + (f"{observation.status.value}: {observation.status_reason}\n{observation.representation[-2000:]}\n"
           f"{(observation.metadata.traceback or '')[-2000:]}" if observation else "no observation")
        for name, key in keys.items()
        for state in FailureState
        for choices in database.failures(state=state).fetch(key)
        for observation in [database.failure_observations(state=state).fetch(key, choices)]
    ]
    assert not found, "\n\n".join(found)
    assert all(counts.values()), (counts, out[-3000:])


def test_grouped_spellings_are_the_same_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = Path(__file__).resolve().parents[3]
    trace = root / "oracle" / "pagealloc" / "traces" / "go_background_seed1.jsonl"
    assert cli.main(["pagealloc", "replay", str(trace)]) == cli.main(["replay", str(trace)]) == 0
    out = [re.sub(r"[0-9.]+s,", "", line) for line in capsys.readouterr().out.splitlines()]  # all but the time
    assert out[0] == out[1] and "all match" in out[0]
    gc_trace = root / "oracle" / "gc" / "examples" / "cycle.jsonl"
    assert cli.main(["gc", "replay", str(gc_trace)]) == cli.main(["gc-replay", str(gc_trace)]) == 0
    assert cli.main(["pagealloc", "fuzz", "--seconds", "0.5", "--db", "none", "--failures", str(tmp_path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["impl"] == "fast"
    assert cli.main(["pagealloc", "report", str(trace), "-o", str(tmp_path / "r.html")]) == 0
    assert cli.main(["go", "--help"]) == 0 and "go fuzz     = python -m oracle go-fuzz" in capsys.readouterr().out
    assert cli.main(["go"]) == 2 and cli.main(["gc", "nonesuch"]) == 2
    assert "unknown command 'nonesuch'" in capsys.readouterr().err
    assert cli.main(["gc", "fuzz", "--seeds", "0"]) == 2  # the flat command's own option checks
