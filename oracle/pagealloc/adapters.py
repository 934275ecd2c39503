"""fast/ behind the oracle's implementation protocol.

FastImpl wraps fast's FastPageHeap, built with the faults it is given
(none by default; fast.faults names them). An internal error of fast/ (a
failed check, a summary that promised free pages the bitmap lacks) comes out
as ImplementationFailed, so that replay shows it as a failure of the line
it happened on. snapshot() gives the whole state (oracle.pagealloc.state)
and clone() an independent copy, for the oracle's probes.
"""

from __future__ import annotations

from fast.pageheap import FastPageHeap
from model.errors import ModelError
from oracle.common.errors import ImplementationFailed
from oracle.pagealloc.protocol import apply_to_heap, make_geometry
from oracle.pagealloc.state import State, normalize
from oracle.pagealloc.trace import Op, Outcome, Params


class FastImpl:
    name = "fast"

    def __init__(self, params: Params, faults: frozenset[str] = frozenset()) -> None:
        self.heap = FastPageHeap(make_geometry(params), params.phys_page_pages, params.huge_page_pages, faults)

    def apply(self, op: Op) -> Outcome | None:
        try:
            return apply_to_heap(self.heap, op)
        except ModelError:
            raise
        except Exception as e:  # an internal check of fast/ failed: the line's answer is a failure
            raise ImplementationFailed(f"{type(e).__name__}: {e}") from e

    def chunk_bits(self, chunk: int) -> int:
        """A grown chunk's in-use bitmap as one int (page i of the chunk is bit i)."""
        layout = self.heap.alloc_state.layout
        block = self.heap.alloc_state.storage.blocks[chunk >> layout.log_chunks_per_block]
        return block.read_alloc(chunk & layout.row_mask)

    def snapshot(self) -> State:
        return normalize(self.heap.state())

    def clone(self) -> FastImpl:
        twin = FastImpl.__new__(FastImpl)
        twin.heap = self.heap.clone()
        return twin
