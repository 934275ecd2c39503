"""oracle/gc/spanpath.py: traces of the small-object path recorded from Go replay with every placement matching."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from oracle.cli import main
from oracle.gc import spanpath
from oracle.gc.replay import replay_gc, replay_text

TRACES = sorted((Path(spanpath.__file__).parent / "traces").glob("go_spanpath_*.jsonl"))


def test_the_bundled_traces_are_there() -> None:
    assert len(TRACES) >= 4
    assert {t.name.split("_seed")[0].removeprefix("go_spanpath_") for t in TRACES} == set(spanpath.PROFILES)


@pytest.mark.parametrize("path", TRACES, ids=[t.name for t in TRACES])
def test_every_placement_and_span_change_of_go_matches_the_model(path: Path) -> None:
    report = replay_gc(path)
    assert report.failure is None, report.failure.describe()
    assert report.checked == report.ops > 2000


def altered(path: Path, kind: str) -> tuple[str, int]:
    """The trace with the first expect of one kind changed, and the changed line's number."""
    lines = path.read_text().splitlines()
    for number, text in enumerate(lines[1:], start=2):
        op = json.loads(text)
        expect = op.get("expect", {})
        if kind == "index" and op["op"] == "alloc" and expect["index"] > 0:
            expect["index"] -= 1
        elif kind == "set" and op["op"] == "gc" and any(len(s[2]) > 1 for s in expect["sets"]):
            entry = next(s for s in expect["sets"] if len(s[2]) > 1)
            entry[2].reverse()
        elif kind == "span" and op["op"] == "sweep_one" and expect["spans"]:
            expect["spans"][0][4] += 1
        else:
            continue
        lines[number - 1] = json.dumps(op)
        return "\n".join(lines) + "\n", number
    raise AssertionError(f"no {kind} expect to alter in {path}")


@pytest.mark.parametrize("kind", ["index", "set", "span"])
def test_a_changed_placement_set_order_or_span_state_fails_at_its_line(kind: str) -> None:
    text, number = altered(TRACES[0], kind)
    failure = replay_text(text).failure
    assert failure is not None and failure.line == number and failure.kind == "mismatch"


def test_a_new_span_the_recorded_run_did_not_take_is_a_mismatch() -> None:
    lines = TRACES[0].read_text().splitlines()
    for number, text in enumerate(lines[1:], start=2):
        op = json.loads(text)
        if op["op"] == "alloc" and op["size"] > 32760:  # a large object always takes a new span
            op["expect"]["span"] = 1  # a page the model has no span at, but not the recorded one
            del op["expect"]["spans"]
            lines[number - 1] = json.dumps(op)
            break
    failure = replay_text("\n".join(lines) + "\n").failure
    assert failure is not None and failure.line == number and failure.kind == "mismatch"


def test_the_generator_is_seeded_and_valid() -> None:
    ops = spanpath.generate(3, 300, "mixed")
    assert ops == spanpath.generate(3, 300, "mixed") != spanpath.generate(4, 300, "mixed")
    assert {spanpath.go_line(op).split()[0] for op in ops} >= {"m", "gs", "gl", "st", "cp", "gc", "so"}
    header = {"trace": "gc", "version": 2, "params": {"goroutines": 1, "stack_slots": spanpath.REGISTERS,
                                                       "globals": spanpath.GLOBALS}}
    assert replay_text("\n".join(json.dumps(x) for x in [header, *ops]) + "\n").ok


@pytest.mark.go
@pytest.mark.parametrize("profile", sorted(spanpath.PROFILES))
def test_fresh_go_runs_match_the_model(profile: str) -> None:
    text = spanpath.record(11, 1200, profile)
    report = replay_text(text)
    assert report.failure is None, report.failure.describe()
    assert report.checked == report.ops >= 1200


@pytest.mark.go
def test_gc_record_writes_and_checks_traces(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gc-record", "--profiles", "tiny", "--seeds", "5", "--steps", "300", "--out", str(tmp_path)]) == 0
    assert "every placement and span change matches" in capsys.readouterr().out
    assert main(["gc-replay", str(tmp_path / "go_spanpath_tiny_seed5.jsonl")]) == 0


def test_gc_record_refuses_bad_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gc-record", "--profiles", "huge"]) == 2
    assert "choose from" in capsys.readouterr().err
