"""proofs/gc/pacer.py: each pacing proof holds on the model, and its control (a seeded pacing bug) is refuted."""

from __future__ import annotations

import pytest

from model.gc.pacer import NOT_TRIGGERED, heap_goal_and_min_trigger
from proofs.gc import pacer
from proofs.mutants import for_proof
from proofs.registry import by_name
from proofs.runner import run_one


def test_registered_with_their_bugs() -> None:
    table = by_name()
    for proof in pacer.PROOFS:
        assert table[proof.name] is proof
        assert proof.control in {m.name for m in for_proof(proof.name)}


HEAVY = ("pacer_goal_covers_roots", "pacer_limit_binds")  # ten GOGC values each, about 15 s with the control


@pytest.mark.z3
@pytest.mark.parametrize(
    "proof",
    [pytest.param(p, id=p.name, marks=[pytest.mark.slow] if p.name in HEAVY else []) for p in pacer.PROOFS],
)
def test_proved_and_control_refuted(proof: object) -> None:
    result = run_one(proof, "proof")  # type: ignore[arg-type]
    assert result.status == "proved", result.note or result.counterexample
    control = run_one(proof, "control")  # type: ignore[arg-type]
    assert control.status == "counterexample", control.note
    assert control.counterexample


@pytest.mark.z3
def test_the_monotonicity_that_go_does_not_have() -> None:
    """Across the point where the memory limit starts to bind, a higher GOGC can lower the goal
    (the sweep distance only raises it outside the memory-limit regime): Go's rule, which the model
    keeps. The proof states monotonicity within one regime for that reason."""
    mib = 1 << 20
    low_gogc = heap_goal_and_min_trigger(0, mib, mib + 1, NOT_TRIGGERED)[0]  # GOGC goal 0: not limited
    high_gogc = heap_goal_and_min_trigger(mib + 1, mib, mib + 1, NOT_TRIGGERED)[0]  # limited
    assert high_gogc < low_gogc
