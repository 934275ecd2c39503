"""The implementation protocol: what the oracle needs from a page allocator, and what it can answer.

An implementation is created from a trace's Params (by oracle.pagealloc.
registry) and applies one operation at a time:

    apply(op) -> Outcome | None

returning the operation's outcome (the `expect` form of the trace; None for
grow, free, cache_flush, next_gen and pad). It raises model.errors.
InvalidOperation when it refuses the operation, having changed nothing, and
oracle.common.errors.ImplementationFailed when it crashed, hung or broke the
protocol. Optional methods, used when present:

    apply_many(ops) -> [Answer]   a batch in one exchange (the live runtime)
    snapshot() -> State           the whole state (oracle.pagealloc.state)
    clone() -> Implementation     an independent copy (for probes)

What an implementation answered, as the oracle records it, is an Answer:
an Outcome, None, a Refusal (it refused the line) or a Crash (it crashed,
hung, broke the protocol, or was not run after a crash). `answer(impl, op)`
turns a call into an Answer; nothing an implementation does escapes it as
an exception.

ModelImpl is the reference model (model.pageheap.PageHeap) behind the same
protocol; `apply_to_heap` is the one dispatch from trace ops to the methods
of a PageHeap-like object, shared by the model and fast/.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Protocol

import attrs

from model.errors import InvalidOperation, ModelError, ParameterError
from model.geometry import Geometry
from model.pageheap import PageHeap
from model.results import AllocResult, CacheFill, ScavengeResult
from model.scavenger import WakeResult
from oracle.common.errors import ImplementationFailed, TraceError
from oracle.pagealloc.trace import Op, Outcome, Params, check_in_space, outcome_of, outcome_to_json, space_check


class Implementation(Protocol):
    name: str

    def apply(self, op: Op) -> Outcome | None: ...


@attrs.frozen
class Refusal:
    """The implementation refused the line (for a valid line, a failure; for an invalid one, required)."""

    reason: str

    def __str__(self) -> str:
        return f"refused ({self.reason})"


@attrs.frozen
class Crash:
    """The implementation crashed, hung, broke the protocol, or was not run after such a failure."""

    reason: str

    def __str__(self) -> str:
        return f"failed ({self.reason})"


Answer = Outcome | None | Refusal | Crash


def show(kind: str, answer: Answer) -> str:
    """An answer as messages print it: the outcome in the trace's JSON form, "nothing", or what went wrong."""
    if isinstance(answer, Refusal | Crash):
        return str(answer)
    if answer is None:
        return "nothing"
    return json.dumps(outcome_to_json(kind, answer))


def answer(impl: Implementation, op: Op) -> Answer:
    """What the implementation answers to op; every exception it raises becomes a Refusal or a Crash."""
    try:
        return impl.apply(op)
    except InvalidOperation as e:
        return Refusal(str(e))
    except ImplementationFailed as e:
        return Crash(str(e))
    except ModelError as e:  # another refusal kind of the model's (a bad parameter for this op)
        return Refusal(str(e))
    except Exception as e:  # a crash of the implementation under test is an answer like any other
        return Crash(f"{type(e).__name__}: {e}")


def answers(impl: Implementation, ops: Sequence[Op]) -> list[Answer]:
    """Answers to a batch: one exchange if the implementation has apply_many, else one op at a time."""
    many = getattr(impl, "apply_many", None)
    if many is not None:
        return list(many(ops))
    out: list[Answer] = []
    for op in ops:
        got = answer(impl, op)
        out.append(got)
        if isinstance(got, Crash):  # nothing after a crash runs on the same instance
            out += [Crash("not run: the implementation failed at an earlier line")] * (len(ops) - len(out))
            break
    return out


def make_geometry(params: Params) -> Geometry:
    return params.space.geometry(params.chunk_pages)


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
    def pad(self, page: int, npages: int) -> None: ...
    def scavenger_wake(self, budget: int, ns_per_page: int, sleep_pct: int, procs: int) -> WakeResult: ...


def apply_to_heap(heap: TraceHeap, op: Op) -> Outcome | None:
    """Run one trace operation on a PageHeap-like object and return its outcome."""
    a: dict[str, Any] = op.args
    match op.kind:
        case "grow":
            heap.grow(a["chunk"], a["nchunks"])
            return None
        case "alloc":
            result = heap.alloc(a["npages"])  # the commonest op: its outcome built here, not by outcome_of
            return {"page": result.page, "scav": result.scav}
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
        case "pad":
            heap.pad(a["page"], a["npages"])
            return None
        case "scavenger_wake":
            return outcome_of(heap.scavenger_wake(a["budget"], a["ns_per_page"], a["sleep_pct"], a["procs"]))
    raise ModelError(f"unknown op {op.kind!r}")


# The largest heap the oracle models: 1 TiB of 4 MiB chunks. The model keeps every grown chunk's
# bitmaps and summaries as Python values (the whole 48-bit space would be 2**26 chunks and minutes
# of work); a grow past this total is refused as bad input, naming the limit.
MAX_GROWN_CHUNKS = 1 << 18


class ModelImpl:
    """The reference model behind the protocol."""

    name = "model"

    def __init__(self, params: Params) -> None:
        self.params = params
        self.heap = PageHeap.create(make_geometry(params), params.phys_page_pages, params.huge_page_pages)
        self.grown = 0  # chunks grown so far, at most MAX_GROWN_CHUNKS
        # The platform's address space (trace.check_in_space): a trace file's reader refuses an op outside it
        # (exit 2); a generated or shrunk stream meets it here, as a refusal.
        self.in_space = space_check(params)

    def apply(self, op: Op) -> Outcome | None:
        if not self.in_space([op]):
            try:
                check_in_space(op, self.params)
            except TraceError as e:
                raise InvalidOperation(e.message) from e
        if op.kind == "grow":
            total = self.grown + int(op.args["nchunks"])
            if total > MAX_GROWN_CHUNKS:
                raise ParameterError(
                    f"grow of {op.args['nchunks']:,} chunks would make {total:,}: this oracle models heaps of "
                    f"at most {MAX_GROWN_CHUNKS:,} chunks (1 TiB of 4 MiB chunks)"
                )
            outcome = apply_to_heap(self.heap, op)
            self.grown = total
            return outcome
        return apply_to_heap(self.heap, op)

    def chunk_bits(self, chunk: int) -> int:
        """A grown chunk's in-use bitmap as one int (page i of the chunk is bit i)."""
        return sum(w << (64 * i) for i, w in enumerate(self.heap.alloc_state.alloc_bits(chunk)))
