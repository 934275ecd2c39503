"""Every proof, in the order `python -m proofs` runs them."""

from __future__ import annotations

from proofs import bits, cache, gc_barrier, scavenging, search, summaries
from proofs.core import Proof

PROOFS: tuple[Proof, ...] = (
    *summaries.PROOFS,
    *bits.PROOFS,
    *cache.PROOFS,
    *scavenging.PROOFS,
    *search.PROOFS,
    *gc_barrier.PROOFS,
)


def by_name() -> dict[str, Proof]:
    return {p.name: p for p in PROOFS}
