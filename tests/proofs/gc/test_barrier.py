"""The Z3 proof that a pointer write under the hybrid barrier keeps the weak tricolor invariant, and its controls."""

from __future__ import annotations

import pytest

from proofs.core import Proof
from proofs.gc.barrier import PROOFS
from proofs.runner import run_one


@pytest.mark.parametrize("proof", PROOFS, ids=[p.name for p in PROOFS])
def test_proved_and_control_refuted(proof: Proof) -> None:
    proved = run_one(proof, "proof")
    assert proved.status == "proved", proved.note
    control = run_one(proof, "control")
    assert control.status == "counterexample", control.note
    assert control.name == f"{proof.name}_control"
    assert "keeps the weak tricolor invariant" in (control.counterexample or "")


def test_the_controls_are_the_broken_barriers() -> None:
    names = {p.name: p.broken.name for p in PROOFS}
    assert names == {
        "write_barrier": "none",
        "write_barrier_deletion_half": "no-deletion",
        "write_barrier_insertion_half": "no-insertion",
    }
    assert all(p.model.name == "hybrid" for p in PROOFS)
