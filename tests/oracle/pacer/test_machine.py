"""oracle/pacer/machine.py: the invariants hold on the model; a pacing slip breaks one, and its trace replays to it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import seed
from hypothesis.stateful import get_state_machine_test

from model.gc import pacer as model_pacer
from oracle.pacer import machine
from oracle.pacer.replay import replay_text


def test_a_short_campaign_holds() -> None:
    result = machine.campaign(seconds=3.0, first_seed=100, examples=20)
    assert result.failure is None, result.failure
    assert result.seeds >= 1 and result.examples >= 20


def _without_stacks(heap_marked: Any, stack_scan: Any, globals_scan: Any, gc_percent: Any, minimum: Any) -> Any:
    return ORIGINAL(heap_marked, 0, globals_scan, gc_percent, minimum)


ORIGINAL = model_pacer.gc_percent_heap_goal


def test_stacks_left_out_of_the_goal_break_covers_roots(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_pacer, "gc_percent_heap_goal", _without_stacks)
    failure = next(f for f in (machine.run_seed(s, examples=30) for s in range(10)) if f is not None)
    assert any(v.startswith("covers_roots") for v in failure.violations), failure.summary
    report = replay_text(failure.trace)  # the same model, so the same invariant breaks at the trace's end
    assert report.failure is not None and report.failure.kind == "invariant"
    assert report.failure.line == failure.trace.count("\n")


def test_the_machine_reaches_the_interesting_states() -> None:
    seen = {"limit_binds": 0, "cycles": 0, "periodic": 0, "scavenging": 0}

    class Watching(machine.PacerMachine):
        def check(self, after: str, started: bool | None = None, since: int | None = None) -> None:
            p = self.pacer
            pacing = p.pacing()
            seen["limit_binds"] += pacing.memory_limit_heap_goal < pacing.gc_percent_heap_goal
            seen["cycles"] += after == "alloc" and bool(started)
            seen["periodic"] += after == "tick" and bool(started)
            seen["scavenging"] += p.scavenge_need() > 0
            super().check(after, started, since)

    seed(7)(get_state_machine_test(Watching, settings=machine.run_settings(40)))()
    assert all(count > 0 for count in seen.values()), seen
