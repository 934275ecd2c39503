"""proofs/pagealloc.py: search_hint, the hint's invariant through every operation that moves it (alloc on reduced
and on Go's amd64 and 386 trees)."""

from __future__ import annotations

import pytest

from model.geometry import ARCHES, I386
from model.pagealloc import PageAlloc
from proofs import pagealloc
from proofs.core import DEFAULT_PROOF_SECONDS, Deadline


def test_alloc_runs_on_each_platforms_tree() -> None:
    cases = dict(pagealloc.ALLOC_CASES)
    for name in ("amd64", "386"):
        arch = ARCHES[name]
        grown = cases[arch.geometry()]
        assert all(arch.first_chunk <= c < arch.chunk_limit() for c in grown), name


@pytest.mark.z3
def test_the_386_alloc_claim_catches_a_hint_past_free_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the tree path offering the fit as the next hint (skipping free pages below it), the claim
    on Go's 386 tree has a counterexample."""
    find = PageAlloc.find

    def fit_as_hint(self: PageAlloc, npages: int) -> tuple[int | None, int]:
        page, hint = find(self, npages)
        return page, hint if page is None else page

    monkeypatch.setattr(PageAlloc, "find", fit_as_hint)
    claim = pagealloc.alloc_claim(I386, dict(pagealloc.ALLOC_CASES)[I386])
    assert "Go's 386 tree" in claim.label
    outcome = claim.discharge(Deadline(DEFAULT_PROOF_SECONDS))
    assert outcome.status == "counterexample", outcome.detail
