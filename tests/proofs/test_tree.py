"""proofs/tree.py: tree_find_first_fit, and the abstract chunk it stands on."""

from __future__ import annotations

import random

import pytest
import z3

from model import spec, summary
from model.geometry import Geometry
from model.words import MASK64
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


def _fold_fit(g: Geometry, bits: dict[int, list[int]], n: int) -> int:
    """heap_first_fit's fold on concrete chunks: the term it builds, evaluated."""
    chunks = {}
    for c, words in bits.items():
        s, m, e = summary.summarize_words(words)
        fit, free = spec.first_fit(words, n), spec.first_free(words)
        values = (s, m, e, -1 if fit is None else fit, -1 if free is None else free)
        chunks[c] = tree.AbstractChunk(*(z3.IntVal(v) for v in values), z3.IntVal(n))
    fit_term, _ = tree.heap_first_fit(g, chunks, z3.IntVal(n))
    return z3.simplify(fit_term).as_long()


@pytest.mark.parametrize("seed", range(6))
def test_the_fold_over_chunks_never_grown_is_the_heaps_first_fit(seed: int) -> None:
    """Runs of chunks never grown fold as one region: the fold still gives model.spec's first fit,
    pages after the run included."""
    rng = random.Random(seed)
    g = Geometry(chunk_pages=64, levels=1, root_bits=5, level_bits=0)
    grown = sorted(rng.sample(range(g.total_chunks), 9))
    bits = {c: [rng.choice([0, MASK64, rng.getrandbits(64), rng.getrandbits(64) | rng.getrandbits(64)])] for c in grown}
    for n in (1, 3, 40, 64, 100):
        want = spec.heap_first_fit(bits, g, n)
        assert _fold_fit(g, bits, n) == (-1 if want is None else want), (n, grown)
