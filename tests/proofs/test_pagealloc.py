"""proofs/pagealloc.py: search_hint, the hint's invariant through every operation that moves it."""

from __future__ import annotations

import pytest

from proofs import pagealloc
from proofs.core import Proof
from proofs.runner import run_one


@pytest.mark.z3
@pytest.mark.slow
@pytest.mark.parametrize("proof", pagealloc.PROOFS, ids=[p.name for p in pagealloc.PROOFS])
def test_proved_and_control_refuted(proof: Proof) -> None:
    proved = run_one(proof, "proof")
    assert proved.status == "proved", proved.note or proved.counterexample
    control = run_one(proof, "control")
    assert control.status == "counterexample", control.note
    assert control.counterexample
