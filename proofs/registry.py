"""Every proof, in the order `python -m proofs` runs them."""

from __future__ import annotations

from proofs import bitmap, pagealloc, pagecache, scavenge, summary, tree
from proofs.core import Proof
from proofs.gc import barrier

PROOFS: tuple[Proof, ...] = (
    *summary.PROOFS,
    *bitmap.PROOFS,
    *pagecache.PROOFS,
    *scavenge.PROOFS,
    *tree.PROOFS,
    *pagealloc.PROOFS,
    *barrier.PROOFS,
)


def by_name() -> dict[str, Proof]:
    return {p.name: p for p in PROOFS}
