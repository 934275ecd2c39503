"""Kept only for callers outside fast/ that still import fast.heap; fast.pageheap is the entry point.

The callers: oracle/pagealloc/adapters.py and oracle/pagealloc/bench.py (and
tests/test_architecture.py). Once they import fast.pageheap.FastPageHeap and
pass faults explicitly, this module goes.

Its FastPageHeap is fast.pageheap.FastPageHeap whose faults, when not given,
are those of fast.faults.FAULTS at construction, so that fast.faults.injected
still reaches the heaps those callers build; and it answers the few internal
names those callers read (each marked below).
"""

from __future__ import annotations

from fast import pageheap
from fast.faults import FAULTS, HINT_TOO_FAR
from fast.storage import BitmapBlock
from fast.tree import BadSummaryData
from model.geometry import AMD64, Geometry

__all__ = ["BadSummaryData", "FastPageHeap"]


class FastPageHeap(pageheap.FastPageHeap):
    """fast.pageheap.FastPageHeap with faults from fast.faults.FAULTS unless they are given."""

    def __init__(
        self,
        geometry: Geometry = AMD64,
        phys_page_pages: int = 1,
        huge_page_pages: int = 0,
        faults: frozenset[str] | None = None,
    ) -> None:
        super().__init__(geometry, phys_page_pages, huge_page_pages, frozenset(FAULTS) if faults is None else faults)

    @property
    def blocks(self) -> dict[int, BitmapBlock]:
        """The bitmap blocks by id (oracle/pagealloc/bench.py writes bitmaps through them)."""
        return self.alloc_state.storage.blocks

    @property
    def rb(self) -> int:
        """log2 of chunks per block (oracle/pagealloc/bench.py)."""
        return self.alloc_state.layout.log_chunks_per_block

    @property
    def row_mask(self) -> int:
        """A chunk's row in its block is chunk & row_mask (oracle/pagealloc/bench.py)."""
        return self.alloc_state.layout.row_mask

    @property
    def fault_hint(self) -> bool:
        """Whether hint_too_far is on (tests/test_architecture.py)."""
        return HINT_TOO_FAR in self.faults
