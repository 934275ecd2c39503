"""proofs/summary.py: pack_roundtrip, summarize_word, merge_concat, merge_assoc, each with its control."""

from __future__ import annotations

import pytest

from proofs import summary
from proofs.core import Proof
from proofs.mutants import by_name
from proofs.mutation import run_in_copy
from proofs.runner import run_one

SLOW = {"merge_concat"}


@pytest.mark.z3
@pytest.mark.parametrize(
    "proof",
    [pytest.param(p, id=p.name, marks=[pytest.mark.slow] if p.name in SLOW else []) for p in summary.PROOFS],
)
def test_proved_and_control_refuted(proof: Proof) -> None:
    proved = run_one(proof, "proof")
    assert proved.status == "proved", proved.note or proved.counterexample
    control = run_one(proof, "control")
    assert control.status == "counterexample", control.note
    assert control.counterexample


@pytest.mark.z3
def test_the_layout_claim_is_what_catches_a_consistently_swapped_pair() -> None:
    """With start and end swapped in both pack and unpack the round trip still holds; only the
    bit-by-bit layout claim refutes it."""
    result = run_in_copy(by_name()["pack_fields_swapped"], ["pack_roundtrip"])[0]
    assert result.status == "counterexample"
    assert "Go's layout" in (result.counterexample or "")
