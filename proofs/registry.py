"""Every proof, in the order `python -m proofs` runs them."""

from __future__ import annotations

from proofs import bitmap as bits
from proofs import pagecache as cache
from proofs import scavenge as scavenging
from proofs import summary as summaries
from proofs import tree as search
from proofs.core import Proof
from proofs.gc import barrier as gc_barrier

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
