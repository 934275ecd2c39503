"""In-process adapters: fast/ behind the oracle's Implementation protocol, and inspection.

The Implementation protocol (oracle.impl) is one method, apply(op) ->
Outcome or None, raising InvalidOperation for a refused operation with
nothing changed. An implementation may also offer snapshot() -> State (the
layout of oracle.state), which lets the oracle compare whole states, not
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

from typing import Protocol

from model.errors import ModelError
from model.results import AllocResult, CacheFill, ScavengeResult
from oracle.impl import Implementation, ModelImpl, make_geometry
from oracle.state import State, model_state, normalize
from oracle.trace import Op, Outcome, Params, outcome_of


class TraceHeap(Protocol):
    """What a trace drives: the methods of model.pageheap.PageHeap."""

    def grow(self, chunk: int, nchunks: int) -> None: ...
    def alloc(self, npages: int) -> AllocResult: ...
    def free(self, page: int, npages: int) -> None: ...
    def cache_fill(self, cache_id: int) -> CacheFill: ...
    def cache_alloc(self, cache_id: int, npages: int) -> AllocResult: ...
    def cache_flush(self, cache_id: int) -> None: ...
    def scavenge(self, npages: int, force: bool = True) -> ScavengeResult: ...
    def next_gen(self) -> None: ...


def apply_op(heap: TraceHeap, op: Op) -> Outcome | None:
    """Run one trace operation on a PageHeap-like object and return its outcome."""
    a = op.args
    match op.kind:
        case "grow":
            heap.grow(a["chunk"], a["nchunks"])
            return None
        case "alloc":
            return outcome_of(heap.alloc(a["npages"]))
        case "free":
            heap.free(a["page"], a["npages"])
            return None
        case "cache_fill":
            return outcome_of(heap.cache_fill(a["cache"]))
        case "cache_alloc":
            return outcome_of(heap.cache_alloc(a["cache"], a["npages"]))
        case "cache_flush":
            heap.cache_flush(a["cache"])
            return None
        case "scavenge":
            return outcome_of(heap.scavenge(a["npages"], force=bool(a.get("force", True))))
        case "next_gen":
            heap.next_gen()
            return None
    raise ModelError(f"unknown op {op.kind!r}")


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
