"""oracle/pacer/mutants.py: the seeded pacing bugs apply, and the Go traces and the machine each catch them."""

from __future__ import annotations

from typing import Any

import pytest

from model.gc import pacer as model_pacer
from model.gc.pacer import Pacer
from oracle.pacer import machine, mutants
from oracle.pacer.replay import bundled_traces, replay_pacer
from proofs.mutation import check_applies


def test_the_set_applies_and_is_distinct() -> None:
    names = [m.name for m in mutants.SEEDED]
    assert len(names) == len(set(names)) >= 20
    for mutant in mutants.SEEDED:
        check_applies(mutant)
        assert mutant.bug


def _first_go_failure() -> str | None:
    for path in bundled_traces():
        report = replay_pacer(path, check_invariants=False)
        if report.failure is not None:
            return f"{path.name}: {report.failure.describe()}"
    return None


ORIGINAL_GOAL = Pacer.goal_and_min_trigger


def _minimum_after_limit(self: Pacer) -> tuple[Any, Any]:
    goal, min_trigger = ORIGINAL_GOAL(self)
    return max(goal, self.heap_minimum), min_trigger


def test_minimum_after_limit_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same slip as the seeded bug, patched in this process: both judges see it."""
    monkeypatch.setattr(Pacer, "goal_and_min_trigger", _minimum_after_limit)
    found = _first_go_failure()
    assert found is not None and "go_limit" in found and "heap_goal" in found
    failure = next(f for f in (machine.run_seed(s, examples=30) for s in range(20)) if f is not None)
    assert any(v.startswith("limit_binds") for v in failure.violations), failure.summary


ORIGINAL_GOGC_GOAL = model_pacer.gc_percent_heap_goal


def test_stacks_left_out_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_pacer, "gc_percent_heap_goal",
                        lambda marked, stack, globals_, percent, minimum:
                        ORIGINAL_GOGC_GOAL(marked, 0, globals_, percent, minimum))
    found = _first_go_failure()
    assert found is not None and "gc_percent_heap_goal: expected" in found


@pytest.mark.slow
def test_seeded_bug_caught_by_both_judges_in_a_copy() -> None:
    """The runner's own path: an unmutated copy passes both judges, the seeded bug fails both."""
    results = mutants.run(["minimum_after_limit"], bundled_traces(), machine_seconds=5.0)
    (result,) = results
    assert result.go.caught, result.go.where
    assert result.machine.caught, result.machine.where
    assert "line " in result.go.where
