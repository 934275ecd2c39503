"""oracle.common.cli: the default job's table of traces (replay_rows)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from oracle.common.cli import TraceRow, replay_rows
from oracle.common.errors import TraceError


def test_a_row_per_trace_and_the_worst_status(capsys: pytest.CaptureFixture[str]) -> None:
    answers = {
        "good.jsonl": TraceRow(True, 10, "10 ops"),
        "differs.jsonl": TraceRow(False, 3, "3 ops", "line 4: {...}\n  expected 1\n  got 2"),
    }

    def replay_one(path: Path) -> TraceRow:
        if path.name == "bad.jsonl":
            raise TraceError(2, "not valid JSON")
        return answers[path.name]

    worst, ops = replay_rows([Path("good.jsonl"), Path("differs.jsonl")], replay_one)
    out = capsys.readouterr().out.splitlines()
    assert (worst, ops) == (1, 13)
    assert out[0].split()[1:] == ["good.jsonl", "ok", "10", "ops"]
    assert out[1].split()[1:4] == ["differs.jsonl", "MISMATCH", "3"]
    assert out[2:] == ["    line 4: {...}", "      expected 1", "      got 2"]
    worst, ops = replay_rows([Path("good.jsonl"), Path("bad.jsonl")], replay_one)
    assert (worst, ops) == (2, 10)
    assert "BAD TRACE  line 2: not valid JSON" in capsys.readouterr().out


def test_a_broken_pipe_that_is_not_standard_output_is_a_failure() -> None:
    """Only a reader of stdout going away (`| head`) ends a command quietly; a child's broken pipe is exit 1."""
    code = (
        "import sys\n"
        "from oracle.common.cli import run_command\n"
        "def body():\n"
        "    raise BrokenPipeError(32, 'Broken pipe')\n"
        "sys.exit(run_command('prog', body))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 1, res.stderr
    assert res.stdout == "" and res.stderr.startswith("prog: a pipe broke while the command ran")
