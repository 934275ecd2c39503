"""Implementations the oracle can drive, behind one small protocol.

An implementation is created from a trace's Params and then applies one
operation at a time, returning the operation's Outcome (None for grow, free
and cache_flush). It raises InvalidOperation for an operation the heap's
state makes impossible, having changed nothing.

`ModelImpl` is the reference model (model.pageheap.PageHeap). Later
adapters (fast/, a subprocess speaking the trace format, the real Go
runtime) implement the same protocol and are registered in IMPLEMENTATIONS.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from model.errors import ModelError, ParameterError
from model.geometry import Geometry
from model.pageheap import PageHeap
from model.results import AllocResult, CacheFill, ScavengeResult
from oracle.pagealloc.trace import Op, Outcome, Params, outcome_of


class Implementation(Protocol):
    name: str

    def apply(self, op: Op) -> Outcome | None: ...


def make_geometry(params: Params) -> Geometry:
    return Geometry(chunk_pages=params.chunk_pages)


class ModelImpl:
    name = "model"

    def __init__(self, params: Params) -> None:
        self.heap = PageHeap.create(make_geometry(params), params.phys_page_pages, params.huge_page_pages)

    def apply(self, op: Op) -> Outcome | None:
        return apply_to_heap(self.heap, op)


class TraceHeap(Protocol):
    """What a trace drives: the methods of model.pageheap.PageHeap (fast's heap has them too)."""

    def grow(self, chunk: int, nchunks: int) -> None: ...
    def alloc(self, npages: int) -> AllocResult: ...
    def free(self, page: int, npages: int) -> None: ...
    def cache_fill(self, cache_id: int) -> CacheFill: ...
    def cache_alloc(self, cache_id: int, npages: int) -> AllocResult: ...
    def cache_flush(self, cache_id: int) -> None: ...
    def scavenge(self, npages: int, force: bool = True) -> ScavengeResult: ...
    def next_gen(self) -> None: ...


def apply_to_heap(heap: TraceHeap, op: Op) -> Outcome | None:
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


IMPLEMENTATIONS: dict[str, Callable[[Params], Implementation]] = {"model": ModelImpl}


def _fast(params: Params) -> Implementation:
    """fast/, the numpy allocator (oracle.pagealloc.adapters.FastImpl); imported only when asked for."""
    from oracle.pagealloc.adapters import FastImpl

    return FastImpl(params)


def _subprocess(params: Params) -> Implementation:
    """A program speaking the subprocess protocol (oracle.pagealloc.subprocess); command: $ORACLE_SUBPROCESS_CMD."""
    from oracle.pagealloc.subprocess import SubprocessImpl

    return SubprocessImpl(params)


def _go(params: Params) -> Implementation:
    """The real Go runtime's pageAlloc, live (oracle.golive.driver); the tree is --goroot / $GOROOT."""
    from oracle.golive.driver import create as create_go

    return create_go(params)


def _topdown(params: Params) -> Implementation:
    """oracle.examples.topdown: highest address first; fails the exact level, passes the safe one."""
    from oracle.examples.topdown import TopDownImpl

    return TopDownImpl(params)


IMPLEMENTATIONS["fast"] = _fast
IMPLEMENTATIONS["subprocess"] = _subprocess
IMPLEMENTATIONS["topdown"] = _topdown
IMPLEMENTATIONS["go"] = _go


def create(name: str, params: Params) -> Implementation:
    """Build the named implementation; ParameterError if the params are out of its range."""
    try:
        factory = IMPLEMENTATIONS[name]
    except KeyError:
        raise ParameterError(f"unknown implementation {name!r} (known: {', '.join(IMPLEMENTATIONS)})") from None
    return factory(params)
