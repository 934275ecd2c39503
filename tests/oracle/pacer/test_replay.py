"""oracle/pacer/replay.py and the pacing commands: the bundled Go traces match, tampering is found at its line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model.gc.pacer import Pacer
from oracle.cli import main
from oracle.pacer import invariants
from oracle.pacer.cli import replay_bundled
from oracle.pacer.replay import bundled_traces, replay_pacer, replay_text

TRACES = bundled_traces()


def _lines(name: str) -> list[dict]:
    return [json.loads(x) for x in (Path(TRACES[0]).parent / name).read_text().splitlines()]


def _text(lines: list[dict]) -> str:
    return "\n".join(json.dumps(x) for x in lines) + "\n"


def test_the_bundled_set() -> None:
    names = {p.name for p in TRACES}
    for profile in ("gogc", "alloc", "limit", "periodic", "scavenge"):
        assert any(profile in n for n in names), profile


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.name)
def test_bundled_trace_matches(path: Path) -> None:
    report = replay_pacer(path)
    assert report.ok, report.failure.describe() if report.failure else ""
    assert report.exact["heap_goal"] > 0 and report.exact["memory_limit_heap_goal"] > 0
    assert report.bounded["trigger (bounds)"] + report.exact["trigger (bounds)"] == report.exact["trigger"]


def test_every_rule_is_exercised_by_the_bundled_set() -> None:
    exact: set[str] = set()
    bounded: set[str] = set()
    for path in TRACES:
        report = replay_pacer(path)
        exact |= {k for k, v in report.exact.items() if v}
        bounded |= {k for k, v in report.bounded.items() if v}
    assert {"heap_goal", "gc_percent_heap_goal", "memory_limit_heap_goal", "trigger", "runway",
            "sweep_dist_min_trigger", "heap_minimum", "scav_gc_percent_goal", "scav_memory_limit_goal",
            "last_heap_goal", "gc_started (alloc)", "gc_started (tick)", "/gc/heap/live:bytes",
            "/gc/scan/stack:bytes", "/gc/scan/globals:bytes", "/gc/gogc:percent", "old"} <= exact
    assert {"gc_started (alloc)", "last_heap_goal", "trigger (bounds)", "/gc/heap/goal:bytes"} <= bounded


def _first(lines: list[dict], op: str, where=lambda line: True) -> int:
    return next(i for i, x in enumerate(lines) if x.get("op") == op and where(x))


def test_a_changed_goal_is_a_mismatch_at_its_line() -> None:
    lines = _lines("go_gogc_seed1.jsonl")
    i = _first(lines, "gc_end")
    lines[i]["expect"]["heap_goal"] += 8192
    report = replay_text(_text(lines))
    assert report.failure is not None and report.failure.line == i + 1 and report.failure.kind == "mismatch"
    assert "heap_goal: expected" in report.failure.describe()


def test_a_trigger_outside_its_bounds() -> None:
    lines = _lines("go_gogc_seed1.jsonl")
    i = _first(lines, "commit")
    lines[i]["expect"]["trigger"] = lines[i]["expect"]["heap_goal"] + 1
    report = replay_text(_text(lines))
    assert report.failure is not None and report.failure.line == i + 1
    assert "outside the model's bounds" in report.failure.describe()


def test_a_flipped_cycle_start_without_a_limit_is_a_mismatch() -> None:
    lines = _lines("go_alloc_seed1.jsonl")
    i = _first(lines, "alloc", lambda x: x["expect"]["gc_started"] is False)
    lines[i]["expect"]["gc_started"] = True
    report = replay_text(_text(lines))
    assert report.failure is not None and report.failure.line == i + 1
    assert "gc_started (alloc): expected True, model [False]" in report.failure.describe()


def test_a_periodic_cycle_within_the_period_is_a_mismatch() -> None:
    lines = _lines("go_periodic_seed1.jsonl")
    i = _first(lines, "tick", lambda x: x["since_gc_ns"] < lines[0]["params"]["force_gc_period_ns"])
    lines[i]["expect"]["gc_started"] = True
    report = replay_text(_text(lines))
    assert report.failure is not None and report.failure.line == i + 1


def test_emit_fills_every_expect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = _lines("go_limit_seed1.jsonl")
    stripped = tmp_path / "stripped.jsonl"
    stripped.write_text(_text([{k: v for k, v in x.items() if k != "expect"} for x in lines]))
    out = tmp_path / "emitted.jsonl"
    assert main(["pacer-replay", str(stripped), "--emit", str(out)]) == 0
    emitted = [json.loads(x) for x in out.read_text().splitlines()]
    assert all("expect" in x for x in emitted[1:] if x["op"] != "gc_start")
    assert "trigger_min" in emitted[1]["expect"]
    assert replay_pacer(out).ok
    capsys.readouterr()


def test_invariants_name_what_broke() -> None:
    p = Pacer.create()
    p.heap_marked, p.last_stack_scan = 64 << 20, 32 << 20
    broken = invariants.violations(p)  # the goal was committed before the heap grew
    assert any(v.startswith("goal_floor") for v in broken)
    assert any(v.startswith("covers_roots") for v in broken)
    p.commit(sweep_done=True)
    assert invariants.violations(p) == []


def test_commands_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["pacer-replay", str(TRACES[0])]) == 0
    assert "all match, invariants hold" in capsys.readouterr().out
    lines = _lines("go_gogc_seed1.jsonl")
    lines[3]["expect"] = {"heap_goal": 1}
    bad = tmp_path / "bad.jsonl"
    bad.write_text(_text(lines))
    assert main(["pacer-replay", str(bad)]) == 1
    assert "line 4:" in capsys.readouterr().out
    malformed = tmp_path / "malformed.jsonl"
    malformed.write_text(_text(lines[:2]) + '{"op": "gc_end"}\n')
    assert main(["pacer-replay", str(malformed)]) == 2
    assert "line 3: gc_end: missing field 'marked'" in capsys.readouterr().err
    impossible = tmp_path / "impossible.jsonl"
    impossible.write_text(_text(lines[:1]) + '{"op": "gc_end", "marked": 1, "heap_scan": 0, "stack_scan": 0, '
                          '"heap_in_use": 1, "cons_mark": 0}\n')
    assert main(["pacer-replay", str(impossible)]) == 2
    assert "line 2: gc_end: no cycle is running" in capsys.readouterr().err
    assert main(["pacer-replay", str(bad), str(bad), "--emit", str(tmp_path / "o.jsonl")]) == 2
    assert main(["pacer-replay", str(bad), "--emit", str(bad)]) == 2
    assert main(["gen-pacer-traces", "--profiles", "nope"]) == 2
    assert main(["gen-pacer-traces", "--seed", "3"]) == 2
    assert main(["pacer-fuzz", "--seconds", "-1"]) == 2
    assert main(["pacer-mutants", "no_such_bug"]) == 2
    capsys.readouterr()


def test_the_default_job_part(capsys: pytest.CaptureFixture[str]) -> None:
    assert replay_bundled() == 0
    out = capsys.readouterr().out
    assert f"Replaying {len(TRACES)} pacing conformance traces" in out
    assert "all traces match" in out
