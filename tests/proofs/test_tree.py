"""proofs/tree.py: tree_find_first_fit (reduced and Go's amd64 tree), tree_find_first_fit_386, and the abstract
chunk they stand on."""

from __future__ import annotations

import random

import pytest
import z3

from model import spec, summary
from model.geometry import AMD64, ARCHES, I386, Geometry
from model.words import MASK64
from proofs import tree


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


def test_each_platforms_tree_is_proved() -> None:
    """tree_find_first_fit runs Go's amd64 tree, tree_find_first_fit_386 Go's 386 tree, each on
    chunks a trace may grow there, with a hint in the second root entry."""
    assert [p.name for p in tree.PROOFS] == ["tree_find_first_fit", "tree_find_first_fit_386"]
    for arch, grown, hints in (
        (ARCHES["amd64"], tree.AMD64_GROWN, tree.AMD64_HINTS),
        (ARCHES["386"], tree.I386_GROWN, tree.I386_HINTS),
    ):
        g = arch.geometry()
        assert all(arch.first_chunk <= c < arch.chunk_limit() for c in grown), arch.name
        assert {g.entry_of(0, g.chunk_base(c)) for c in grown} >= {0, 1}  # both of 386's root entries
        assert any(g.entry_of(0, g.chunk_base(c)) == 1 for c, _ in hints)
    assert tree.geometry_name(I386).startswith("Go's 386 tree") and tree.geometry_name(AMD64).startswith("Go's amd64")


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
