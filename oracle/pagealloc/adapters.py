"""In-process adapters: fast/ behind the oracle's Implementation protocol, and inspection.

The Implementation protocol (oracle.pagealloc.protocol) is one method, apply(op) ->
Outcome or None, raising InvalidOperation for a refused operation with
nothing changed. An implementation may also offer snapshot() -> State (the
layout of oracle.pagealloc.state), which lets the oracle compare whole states, not
just results; `snapshot_of` asks any implementation for one, and knows how
to read the model's own.

FastImpl wraps fast.heap.FastPageHeap. It is built with the faults of
fast.faults.FAULTS at that moment (none unless a test switched some on).
An internal error of fast/ (a failed check, a summary that promised free
pages the bitmap lacks) comes out as ImplementationFailed, a ModelError,
so that `oracle replay` shows it as the operation's result, {"error": ...}.
FastImpl.clone() copies the heap, for the oracle's probes.
"""

from __future__ import annotations

from model.errors import ModelError
from oracle.pagealloc.protocol import Implementation, ModelImpl, apply_to_heap, make_geometry
from oracle.pagealloc.state import State, model_state, normalize
from oracle.pagealloc.trace import Op, Outcome, Params

# One dispatch from trace ops to heap methods serves the model and fast alike.
apply_op = apply_to_heap


class ImplementationFailed(ModelError):
    """The implementation crashed (or, for a subprocess, broke the protocol).

    A ModelError, so that `oracle replay` shows it as the operation's result,
    {"error": "..."}, instead of stopping with a traceback.
    """


class FastImpl:
    name = "fast"

    def __init__(self, params: Params) -> None:
        from fast.heap import FastPageHeap

        self.heap = FastPageHeap(make_geometry(params), params.phys_page_pages, params.huge_page_pages)

    def apply(self, op: Op) -> Outcome | None:
        try:
            return apply_op(self.heap, op)
        except ModelError:
            raise
        except Exception as e:  # an internal check of fast/ failed: a result like any other
            raise ImplementationFailed(f"{type(e).__name__}: {e}") from e

    def snapshot(self) -> State:
        return normalize(self.heap.state())

    def clone(self) -> FastImpl:
        twin = FastImpl.__new__(FastImpl)
        twin.heap = self.heap.clone()
        return twin


def snapshot_of(impl: Implementation) -> State | None:
    """The implementation's whole state, or None if it cannot show it."""
    if isinstance(impl, ModelImpl):
        return model_state(impl.heap)
    snapshot = getattr(impl, "snapshot", None)
    if snapshot is None:
        return None
    state = snapshot()
    return state if isinstance(state, dict) else None
