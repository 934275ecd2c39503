"""proofs/gc/pacer.py: each pacing proof holds on the model, and its control (a seeded pacing bug) is refuted."""

from __future__ import annotations

import pytest

from model.gc.pacer import NOT_TRIGGERED, heap_goal_and_min_trigger
from proofs.gc import pacer
from proofs.mutants import for_proof
from proofs.registry import by_name


def test_registered_with_their_bugs() -> None:
    table = by_name()
    for proof in pacer.PROOFS:
        assert table[proof.name] is proof
        assert proof.control in {m.name for m in for_proof(proof.name)}


@pytest.mark.z3
def test_the_monotonicity_that_go_does_not_have() -> None:
    """Across the point where the memory limit starts to bind, a higher GOGC can lower the goal
    (the sweep distance only raises it outside the memory-limit regime): Go's rule, which the model
    keeps. The proof states monotonicity within one regime for that reason."""
    mib = 1 << 20
    low_gogc = heap_goal_and_min_trigger(0, mib, mib + 1, NOT_TRIGGERED)[0]  # GOGC goal 0: not limited
    high_gogc = heap_goal_and_min_trigger(mib + 1, mib, mib + 1, NOT_TRIGGERED)[0]  # limited
    assert high_gogc < low_gogc
