"""Kept only for callers outside fast/ that still import fast.heap; fast.pageheap is the entry point.

The callers: oracle/pagealloc/adapters.py (FastPageHeap) and
oracle/pagealloc/bench.py (FastPageHeap, and three internal names to write
bitmaps straight into the blocks). Once they import fast.pageheap and reach
the bitmaps through alloc_state.storage, this module goes.
"""

from __future__ import annotations

from fast import pageheap
from fast.storage import BitmapBlock
from fast.tree import BadSummaryData

__all__ = ["BadSummaryData", "FastPageHeap"]


class FastPageHeap(pageheap.FastPageHeap):
    """fast.pageheap.FastPageHeap, answering the internal names oracle/pagealloc/bench.py reads."""

    @property
    def blocks(self) -> dict[int, BitmapBlock]:
        """The bitmap blocks by id: alloc_state.storage.blocks."""
        return self.alloc_state.storage.blocks

    @property
    def rb(self) -> int:
        """A chunk's block id is chunk >> rb: alloc_state.layout.log_chunks_per_block."""
        return self.alloc_state.layout.log_chunks_per_block

    @property
    def row_mask(self) -> int:
        """A chunk's row in its block is chunk & row_mask: alloc_state.layout.row_mask."""
        return self.alloc_state.layout.row_mask
