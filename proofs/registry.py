"""Every proof, in the order `python -m proofs` runs them.

A proof module lists its proofs in PROOFS; it may also list seeded bugs of
its own in MUTANTS (proofs.mutants gathers them with its table).
"""

from __future__ import annotations

from proofs import bitmap, pagealloc, pagecache, scavenge, summary, tree
from proofs.core import Proof
from proofs.gc import barrier, pacer

MODULES = (summary, bitmap, pagecache, scavenge, tree, pagealloc, barrier, pacer)

PROOFS: tuple[Proof, ...] = tuple(proof for module in MODULES for proof in module.PROOFS)


def by_name() -> dict[str, Proof]:
    return {p.name: p for p in PROOFS}
