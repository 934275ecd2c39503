"""oracle/gc/replay.py and `python -m oracle gc-replay`: expects, invariants, broken barriers, bad lines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model.gc.barrier import HYBRID, NO_DELETION, NO_INSERTION
from oracle.cli import main
from oracle.common.errors import TraceError
from oracle.gc.replay import replay_gc, replay_text
from tests.helpers import GC_HEADER, GC_PUSH, GC_PUSH_HEADER, gc_trace_text

HEADER = GC_HEADER

CYCLE = [
    {"op": "alloc", "g": 0, "slot": 0, "id": 1, "size": 16, "noscan": False, "ptrs": [0, 8]},
    {"op": "alloc", "g": 0, "slot": 1, "id": 2, "size": 24, "noscan": True, "ptrs": []},
    {"op": "store", "g": 0, "dst": 0, "off": 8, "src": 1},
    {"op": "gstore", "g": 0, "global": 0, "src": 0},
    {"op": "alloc", "g": 1, "slot": 0, "id": 3, "size": 640, "noscan": False, "ptrs": [0, 632]},
    {"op": "set_finalizer", "g": 1, "slot": 0},
    {"op": "copy", "g": 1, "dst": 0, "src": None},
    {"op": "copy", "g": 0, "dst": 0, "src": None},
    {"op": "copy", "g": 0, "dst": 1, "src": None},
    {"op": "gc_start"},
    {"op": "markroot", "root": "stack", "g": 0},
    {"op": "gload", "g": 0, "dst": 0, "global": 0},
    {"op": "load", "g": 0, "dst": 1, "src": 0, "off": 8},
    {"op": "store", "g": 0, "dst": 0, "off": 8, "src": None},
    {"op": "alloc", "g": 0, "slot": 0, "id": 4, "size": 16, "noscan": False, "ptrs": [0, 8]},
    {"op": "markroot", "root": "globals"},
    {"op": "drain", "n": 1, "expect": {"scanned": 1}},
    {"op": "markroot", "root": "finq"},
    {"op": "markroot", "root": "specials"},
    {"op": "markroot", "root": "stack", "g": 1},
    {"op": "drain", "expect": {"scanned": 0}},
    {"op": "mark_done", "expect": {"marked": [1, 2, 4]}},
    {"op": "sweep", "expect": {"freed": [], "finalize": [3]}},
    {"op": "run_finalizers", "expect": {"ran": [3]}},
]


def write(tmp_path: Path, ops: list[dict[str, object]], header: dict[str, object] | None = None) -> Path:
    path = tmp_path / "trace.jsonl"
    path.write_text(gc_trace_text(ops, header))
    return path


def test_a_full_cycle_replays(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gc-replay", str(write(tmp_path, CYCLE))]) == 0
    out = capsys.readouterr().out
    assert "24 steps, 5 expects checked" in out and "all match, invariants hold" in out


def test_a_wrong_expect_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ops = [dict(op) for op in CYCLE]
    ops[21] = {"op": "mark_done", "expect": {"marked": [1, 2]}}
    assert main(["gc-replay", str(write(tmp_path, ops))]) == 1
    out = capsys.readouterr().out
    assert "MISMATCH" in out and "line 23:" in out and "[1, 2, 4]" in out


def test_emit_fills_expects(tmp_path: Path) -> None:
    bare = [{k: v for k, v in op.items() if k != "expect"} for op in CYCLE]
    out = tmp_path / "emitted.jsonl"
    assert main(["gc-replay", str(write(tmp_path, bare)), "--emit", str(out)]) == 0
    emitted = [json.loads(line) for line in out.read_text().splitlines()[1:]]
    assert [e.get("expect") for e in emitted] == [
        *[op.get("expect") for op in CYCLE][:16],
        {"scanned": 1}, None, None, None, {"scanned": 0}, {"marked": [1, 2, 4]},
        {"freed": [], "finalize": [3]}, {"ran": [3]},
    ]


# The pop that loses an object without the deletion half, the push that loses one without the insertion half.
POP_HEADER = {**HEADER, "params": {"goroutines": 1, "stack_slots": 2, "globals": 1},
              "heap": {"heap": "gc", "version": 1, "objects": [
                  {"id": 1, "size": 16, "noscan": False, "ptrs": {"0": 2, "8": None}},
                  {"id": 2, "size": 16, "noscan": True}]},
              "stacks": [[1, None]]}
POP = [
    {"op": "gc_start"},
    {"op": "markroot", "root": "stack", "g": 0},
    {"op": "load", "g": 0, "dst": 1, "src": 0, "off": 0},
    {"op": "store", "g": 0, "dst": 0, "off": 0, "src": None},
    {"op": "markroot", "root": "finq"},
    {"op": "markroot", "root": "globals"},
    {"op": "markroot", "root": "specials"},
    {"op": "drain"},
    {"op": "mark_done"},
]
PUSH_HEADER, PUSH = GC_PUSH_HEADER, GC_PUSH


@pytest.mark.parametrize(("header", "ops", "broken", "violation_line"),
                         [(POP_HEADER, POP, NO_DELETION, 5), (PUSH_HEADER, PUSH, NO_INSERTION, 4)])
def test_a_broken_barrier_loses_the_object(header: dict[str, object], ops: list[dict[str, object]],
                                           broken: object, violation_line: int) -> None:
    text = gc_trace_text(ops, header)
    assert replay_text(text, HYBRID).ok
    lost = replay_text(text, broken, tricolor=False).failure  # type: ignore[arg-type]
    assert lost is not None and lost.line == len(ops) + 1 and "lost object" in lost.violations[0]
    early = replay_text(text, broken).failure  # type: ignore[arg-type]
    assert early is not None and early.line == violation_line and "weak tricolor" in early.violations[0]


def test_gc_replay_barrier_option(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, PUSH, PUSH_HEADER)
    assert main(["gc-replay", str(path), "--barrier", "no-insertion", "--lost-only"]) == 1
    out = capsys.readouterr().out
    assert "INVARIANT BROKEN" in out and "line 9:" in out and "object 1 is reachable (global 0)" in out
    assert main(["gc-replay", str(path), "--barrier", "hybrid"]) == 0


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "blank line"),
        ("[1]", "must be a JSON object"),
        ('{"op": "explode"}', "unknown op"),
        ('{"op": "load", "g": 0, "dst": 1, "src": 0}', "missing field 'off'"),
        ('{"op": "copy", "g": -1, "dst": 1, "src": 0}', "integer >= 0"),
        ('{"op": "markroot", "root": "heap"}', "root must be one of"),
        ('{"op": "drain", "n": 0}', "'n' must be >= 1"),
        ('{"op": "load", "g": 0, "dst": 1, "src": 1, "off": 0}', "stack slot 1 is nil"),
        ('{"op": "alloc", "g": 0, "slot": 0, "id": 1, "size": 16, "noscan": false, "ptrs": [0]}', "already in use"),
        ('{"op": "mark_done"}', "not marking"),
        ('{"op": "copy", "g": 3, "dst": 0, "src": null}', "goroutine 3 does not exist"),
    ],
)
def test_bad_lines_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(POP_HEADER) + "\n" + line + "\n")
    assert main(["gc-replay", str(path)]) == 2
    err = capsys.readouterr().err
    assert "line 2:" in err and message in err, err


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ({"trace": "pagealloc", "version": 1}, '"trace": "gc"'),
        ({"trace": "gc", "version": 3}, '"version" must be 1'),
        ({**HEADER, "params": {"goroutines": 100}}, "goroutines must be an integer from 0 to 64"),
        ({**HEADER, "stacks": [[1]]}, "header stacks need a header heap"),
        ({**POP_HEADER, "stacks": [[9, None]]}, "unknown id 9"),
        ({**POP_HEADER, "heap": {"heap": "gc", "version": 1, "objects": [{"id": 1}]}}, "missing field"),
    ],
)
def test_bad_headers_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], header: dict[str, object],
                            message: str) -> None:
    path = write(tmp_path, [], header)
    assert main(["gc-replay", str(path)]) == 2
    err = capsys.readouterr().err
    assert "line 1:" in err and message in err, err


def test_replay_stops_at_the_bad_line(tmp_path: Path) -> None:
    path = write(tmp_path, [*CYCLE[:3], {"op": "load", "g": 0, "dst": 0, "src": 1, "off": 0}, *CYCLE[3:]])
    with pytest.raises(TraceError, match="line 5: load"):
        replay_gc(path)


EXAMPLES = Path(__file__).resolve().parents[3] / "oracle" / "gc" / "examples"


@pytest.mark.parametrize(("name", "barrier"), [("lost_without_deletion.jsonl", "no-deletion"),
                                               ("lost_without_insertion.jsonl", "no-insertion")])
def test_bundled_examples(name: str, barrier: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gc-replay", str(EXAMPLES / "cycle.jsonl")]) == 0
    assert main(["gc-replay", str(EXAMPLES / name)]) == 0
    assert main(["gc-replay", str(EXAMPLES / name), "--barrier", barrier, "--lost-only"]) == 1
    assert "lost object" in capsys.readouterr().out
    assert main(["mark", str(EXAMPLES / "heap.json"), "--json"]) == 0
