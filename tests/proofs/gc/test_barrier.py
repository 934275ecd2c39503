"""proofs/gc/barrier.py: writes through the model's GcWorld keep model.gc.invariants' weak tricolor invariant."""

from __future__ import annotations

import pytest

from proofs.gc import barrier
from proofs.mutants import for_proof
from proofs.mutation import run_in_copy
from proofs.runner import run_one


@pytest.mark.z3
def test_the_control_names_the_broken_invariant() -> None:
    control = run_one(barrier.WRITE_BARRIER, "control")
    assert "keeps the weak tricolor invariant" in (control.counterexample or ""), control.note


@pytest.mark.z3
@pytest.mark.slow
def test_each_half_of_the_barrier_is_needed() -> None:
    """Without either half (or with the insertion half on the wrong stacks) some write loses
    protection, and the counterexample names the state and the write."""
    for mutant in for_proof("write_barrier"):
        result = run_in_copy(mutant, ["write_barrier"])[0]
        assert result.status == "counterexample", mutant.name
        assert "store" in (result.counterexample or ""), mutant.name


def test_the_worlds_are_small_but_not_trivial() -> None:
    assert {w.slots for w in barrier.WORLDS} == {1, 2}
    assert max(w.stack_slots for w in barrier.WORLDS) == 2
