"""proofs/bitmap.py: find_bit_range64, alloc_free_bits, fill_aligned, each with its control."""

from __future__ import annotations

import pytest

from proofs import bitmap
from proofs.core import Proof
from proofs.runner import run_one


@pytest.mark.z3
@pytest.mark.parametrize("proof", bitmap.PROOFS, ids=[p.name for p in bitmap.PROOFS])
def test_proved_and_control_refuted(proof: Proof) -> None:
    proved = run_one(proof, "proof")
    assert proved.status == "proved", proved.note or proved.counterexample
    control = run_one(proof, "control")
    assert control.status == "counterexample", control.note
    assert control.counterexample
