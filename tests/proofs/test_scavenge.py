"""proofs/scavenge.py: scav_disjoint and scavenge_candidate (the exact rule of SPEC §7)."""

from __future__ import annotations

from proofs import scavenge


def test_configurations_cover_every_physical_page_size_and_huge_pages() -> None:
    sizes = {c.min_pages for c in scavenge.CONFIGS}
    assert sizes == set(scavenge.MIN_PAGES)
    assert any(c.huge for c in scavenge.CONFIGS)
    assert any(c.words > 2 for c in scavenge.CONFIGS)
    assert any(c.search_word == 0 for c in scavenge.CONFIGS)
