"""oracle/gc/cli.py: what the marking commands print, and usage errors: one line, exit 2, before any work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oracle.cli import main
from tests.helpers import GC_HEAP_DOC, GC_HEAP_RESULT, GC_PUSH, GC_PUSH_HEADER, gc_trace_text, write_json


@pytest.mark.parametrize("impl", ["model", "fast"])
def test_mark_json(tmp_path: Path, capsys: pytest.CaptureFixture[str], impl: str) -> None:
    assert main(["mark", str(write_json(tmp_path, GC_HEAP_DOC)), "--impl", impl, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == GC_HEAP_RESULT


def test_mark_extended_and_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mark", str(write_json(tmp_path, GC_HEAP_DOC)), "--impl", "fast", "--json", "--extended",
                 "--compare"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out) == {**GC_HEAP_RESULT, "scan_items": 6, "slots_scanned": 9}
    assert "agrees with the model" in out.err


def test_mark_human_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mark", str(write_json(tmp_path, GC_HEAP_DOC))]) == 0
    assert "marked 6, freed 1, finalize 1, scanned words 1,204" in capsys.readouterr().out


def test_string_ids_sort(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = {"heap": "gc", "version": 1, "roots": ["b"], "objects": [
        {"id": "b", "size": 8, "noscan": False, "ptrs": {"0": "a"}},
        {"id": "a", "size": 16, "noscan": True},
        {"id": "c", "size": 16, "noscan": True},
    ]}
    assert main(["mark", str(write_json(tmp_path, doc)), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"marked": ["a", "b"], "freed": ["c"], "finalize": [],
                                                   "scanned_words": 1}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["gc-bench", "--sizes", "inf"], "argument --sizes: 'inf': must be a whole number >= 1"),
        (["gc-bench", "--sizes", "ten"], "argument --sizes: 'ten' is not a number of objects"),
        (["gc-bench", "--sizes", "0"], "argument --sizes: '0': must be a whole number >= 1"),
        (["gc-bench", "--sizes", ","], "name at least one heap size"),
        (["gc-bench", "--model-max", "nan"], "argument --model-max: 'nan': must be a whole number >= 0"),
        (["gc-bench", "--reps", "0"], "argument --reps: '0': must be >= 1"),
        (["gc-fuzz", "--seeds", "0"], "argument --seeds: '0': must be >= 1"),
        (["gc-fuzz", "--examples", "-3"], "argument --examples: '-3': must be >= 1"),
        (["gc-fuzz", "--barrier", "dijkstra"], "argument --barrier: invalid choice"),
        (["gc-noscan", "--runs", "0"], "argument --runs: '0': must be >= 1"),
        (["gc-noscan", "--gomaxprocs", "-1"], "argument --gomaxprocs: '-1': must be >= 0"),
        (["mark", "heap.json", "--impl", "rust"], "argument --impl: invalid choice"),
        (["gc-replay"], "the following arguments are required: trace"),
    ],
)
def test_a_usage_error_is_one_line_and_exit_2_before_any_work(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    out = capsys.readouterr()
    assert out.out == ""  # nothing ran: gc-bench prints its table's heading first thing, gc-fuzz its verdict
    assert out.err.count("\n") == 1 and message in out.err, out.err
    assert out.err.startswith(f"python -m oracle {argv[0]}: ")


def test_help_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gc-bench", "--help"]) == 0
    assert "--model-max" in capsys.readouterr().out


def push_trace(tmp_path: Path) -> Path:
    path = tmp_path / "push.jsonl"
    path.write_text(gc_trace_text(GC_PUSH, GC_PUSH_HEADER))
    return path


def test_emit_onto_the_input_is_refused_and_the_input_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = push_trace(tmp_path)
    before = trace.read_bytes()
    link = tmp_path / "link.jsonl"
    link.symlink_to(trace)
    for out in (trace, link, tmp_path / "." / "push.jsonl"):
        assert main(["gc-replay", str(trace), "--emit", str(out)]) == 2
        err = capsys.readouterr()
        assert err.out == "" and err.err.count("\n") == 1 and "is the input" in err.err, err
    assert trace.read_bytes() == before and link.is_symlink()


def test_emit_into_a_missing_folder_is_refused_before_the_run(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gc-replay", str(push_trace(tmp_path)), "--emit", str(tmp_path / "no" / "out.jsonl")]) == 2
    out = capsys.readouterr()
    assert out.out == "" and "does not exist" in out.err and out.err.count("\n") == 1


def test_emit_writes_the_trace_with_the_models_expects(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    assert main(["gc-replay", str(push_trace(tmp_path)), "--emit", str(out)]) == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines[-1] == {"op": "mark_done", "expect": {"marked": [1]}}
    assert [x for x in tmp_path.iterdir() if x.name.startswith(".")] == []  # no temporary file left behind


def test_gc_fuzz_out_is_checked_before_the_machine_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gc-fuzz", "--barrier", "none", "--out", str(tmp_path / "no" / "lost.jsonl")]) == 2
    out = capsys.readouterr()
    assert out.out == "" and "--out" in out.err and out.err.count("\n") == 1


def test_a_missing_trace_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gc-replay", str(tmp_path / "nope.jsonl")]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err == f"gc-replay: {tmp_path / 'nope.jsonl'}: no such file\n"
