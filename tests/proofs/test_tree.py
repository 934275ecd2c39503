"""proofs/tree.py: tree_find_first_fit, and the abstract chunk it stands on."""

from __future__ import annotations

import pytest
import z3

from proofs import tree
from proofs.core import Proof
from proofs.runner import run_one


@pytest.mark.z3
@pytest.mark.slow
@pytest.mark.parametrize("proof", tree.PROOFS, ids=[p.name for p in tree.PROOFS])
def test_proved_and_control_refuted(proof: Proof) -> None:
    proved = run_one(proof, "proof")
    assert proved.status == "proved", proved.note or proved.counterexample
    control = run_one(proof, "control")
    assert control.status == "counterexample", control.note
    assert control.counterexample


def test_an_abstract_chunk_answers_only_what_it_knows() -> None:
    n = z3.Int("n")
    chunk = tree.AbstractChunk(s=0, m=5, e=2, f=7, ff=3, n=n)
    assert chunk.scan(n, 0) == 7
    assert chunk.scan(1, 0) == 3
    assert chunk.scan(1, 2) == 3  # from an index at or below the first free page: the same answer
    with pytest.raises(tree.OutsideAbstraction):
        chunk.scan(2, 0)  # neither the request's n nor one page
    with pytest.raises(tree.OutsideAbstraction):
        chunk.scan(1, 4)  # from past the first free page
    full = tree.AbstractChunk(s=0, m=0, e=0, f=-1, ff=-1, n=n)
    assert full.scan(n, 0) is None and full.scan(1, 9) is None


def test_the_wide_root_lists_its_entries_both_ways() -> None:
    g = tree.WIDE_ROOT
    assert (1 << g.block_bits(0)) > 64  # the sorted listing
    assert any(c >= 64 for c, _ in tree.WIDE_HINTS)  # a block of at most 64 entries: the dense listing
