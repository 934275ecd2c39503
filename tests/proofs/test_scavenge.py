"""proofs/scavenge.py: scav_disjoint and scavenge_candidate (the exact rule of SPEC §7)."""

from __future__ import annotations

import pytest

from proofs import scavenge
from proofs.core import Proof
from proofs.runner import run_one


@pytest.mark.z3
@pytest.mark.slow
@pytest.mark.parametrize("proof", scavenge.PROOFS, ids=[p.name for p in scavenge.PROOFS])
def test_proved_and_control_refuted(proof: Proof) -> None:
    proved = run_one(proof, "proof")
    assert proved.status == "proved", proved.note or proved.counterexample
    control = run_one(proof, "control")
    assert control.status == "counterexample", control.note
    assert control.counterexample


def test_configurations_cover_every_physical_page_size_and_huge_pages() -> None:
    sizes = {c.min_pages for c in scavenge.CONFIGS}
    assert sizes == set(scavenge.MIN_PAGES)
    assert any(c.huge for c in scavenge.CONFIGS)
    assert any(c.words > 2 for c in scavenge.CONFIGS)
    assert any(c.search_word == 0 for c in scavenge.CONFIGS)
