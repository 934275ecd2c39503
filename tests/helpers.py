"""Helpers shared by the tests (test modules import from here, never from each other)."""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import strategies as st

from model.errors import InvalidOperation
from model.gc.results import HeapSpec, ObjectId, ObjectSpec
from model.pageheap import PageHeap
from oracle.common.jsonlines import iter_lines
from oracle.pagealloc import registry
from oracle.pagealloc.adapters import FastImpl
from oracle.pagealloc.protocol import Implementation, ModelImpl
from oracle.pagealloc.registry import ImplOptions
from oracle.pagealloc.state import hidden_state
from oracle.pagealloc.trace import Op, Outcome, Params, parse_header, parse_op


def fast_with(*faults: str) -> ImplOptions:
    """Options for --impl fast with deliberate bugs switched on."""
    return ImplOptions(faults=frozenset(faults))


def register(monkeypatch: pytest.MonkeyPatch, name: str, make: Callable[[Params], Implementation]) -> None:
    """Make an implementation of the test's own available by name, for this test only."""
    monkeypatch.setitem(registry.IMPLEMENTATIONS, name, lambda params, options: make(params))


class DoubleHandout(FastImpl):
    """fast/, except that every third single-page alloc answers the page the previous alloc handed out."""

    def __init__(self, params: Params) -> None:
        super().__init__(params)
        self.last: int | None = None
        self.count = 0

    def apply(self, op: Op) -> Outcome | None:
        out = super().apply(op)
        if op.kind == "alloc" and out is not None and out["page"] is not None:
            self.count += 1
            if op.args["npages"] == 1 and self.last is not None and self.count % 3 == 0:
                return {"page": self.last, "scav": 0}
            self.last = out["page"]
        return out


class AcceptsDoubleFree(FastImpl):
    """fast/, except that a free of pages not in use is silently accepted."""

    def apply(self, op: Op) -> Outcome | None:
        try:
            return super().apply(op)
        except InvalidOperation:
            if op.kind == "free":
                return None
            raise


def hidden_state_mismatches(path: Path) -> tuple[int, list[str]]:
    """Replay a trace recorded from the runtime on the model; (lines with a go_state, where the model differs)."""
    lines = iter_lines(path.read_text(encoding="utf-8"))
    _, header = next(lines)
    params = parse_header(header)
    model = ModelImpl(params)
    compared, out = 0, []
    for number, text in lines:
        model.apply(parse_op(text, number, params.version))
        go = json.loads(text).get("go_state")
        if go is None:
            continue
        compared += 1
        mine = hidden_state(model.heap)
        if mine != go:
            out.append(f"{path.name} line {number}: model {mine}, runtime {go}")
    return compared, out


# Marking (tests/model/gc, tests/fast/gc, tests/oracle/gc).


def gc_spec(*objects: ObjectSpec, roots: tuple[ObjectId, ...] = (), finalizers: tuple[ObjectId, ...] = ()) -> HeapSpec:
    """A heap snapshot as values."""
    return HeapSpec(tuple(objects), roots, finalizers)


def gc_pair(oid: ObjectId, a: ObjectId | None = None, b: ObjectId | None = None) -> ObjectSpec:
    """A 16-byte object with two pointer slots (offsets 0 and 8)."""
    return ObjectSpec(oid, 16, False, ((0, a), (8, b)))


def gc_leaf(oid: ObjectId, size: int = 16) -> ObjectSpec:
    """A noscan object."""
    return ObjectSpec(oid, size, True)


# (size, noscan, slot offsets): small, one-pointer, noscan, headed, large, and large enough for oblets.
GC_LAYOUTS: list[tuple[int, bool, tuple[int, ...]]] = [
    (16, False, (0, 8)),
    (8, False, (0,)),
    (48, False, (8, 40)),
    (16, True, ()),
    (4000, True, ()),
    (600, False, (0, 592)),
    (40_000, False, (0, 39_992)),
    (300_000, False, (0, 131_064, 131_072, 262_144, 299_992)),
    (140_000, False, (131_072,)),
]

# A heap snapshot with a finalizer, oblets, a headed object, noscan objects and an unknown field.
GC_HEAP_DOC: dict[str, object] = {
    "heap": "gc",
    "version": 1,
    "objects": [
        {"id": 1, "size": 16, "noscan": False, "ptrs": {"0": 2, "8": 3}},
        {"id": 2, "size": 32, "noscan": True},
        {"id": 3, "size": 640, "noscan": False, "ptrs": {"0": 4, "632": None}},
        {"id": 4, "size": 300000, "noscan": False, "ptrs": {"0": None, "140000": 5, "262144": 4}},
        {"id": 5, "size": 16, "noscan": True, "ptrs": {}},
        {"id": 6, "size": 16, "noscan": False, "ptrs": {"0": 7, "8": 6}},
        {"id": 7, "size": 16, "noscan": True},
        {"id": 8, "size": 24, "noscan": True, "extra": "ignored"},
    ],
    "roots": [1],
    "finalizers": [6],
}
# scans: 1 (2 words), 3 (8-byte header, then slot 632 ends at byte 648: 81 words), 4 in three oblets
# (1 + 1117 + 1 words), 6 as a root (2 words)
GC_HEAP_RESULT = {"marked": [1, 2, 3, 4, 5, 7], "freed": [8], "finalize": [6], "scanned_words": 2 + 81 + 1119 + 2}


def write_json(tmp_path: Path, doc: object, name: str = "heap.json") -> Path:
    """A file holding `doc` (a string as is, anything else as JSON)."""
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


GC_HEADER: dict[str, object] = {"trace": "gc", "version": 1,
                                "params": {"goroutines": 2, "stack_slots": 2, "globals": 1}}

# With a grey stack, goroutine 0 pushes object 1 into a global and forgets it: only the insertion half
# of the barrier saves it.
GC_PUSH_HEADER: dict[str, object] = {
    **GC_HEADER,
    "params": {"goroutines": 1, "stack_slots": 2, "globals": 1},
    "heap": {"heap": "gc", "version": 1, "objects": [{"id": 1, "size": 16, "noscan": True}]},
    "stacks": [[None, 1]],
}
GC_PUSH: list[dict[str, object]] = [
    {"op": "gc_start"},
    {"op": "markroot", "root": "globals"},
    {"op": "gstore", "g": 0, "global": 0, "src": 1},
    {"op": "copy", "g": 0, "dst": 1, "src": None},
    {"op": "markroot", "root": "finq"},
    {"op": "markroot", "root": "specials"},
    {"op": "markroot", "root": "stack", "g": 0},
    {"op": "mark_done"},
]


def gc_trace_text(ops: list[dict[str, object]], header: dict[str, object] | None = None) -> str:
    """A GC trace: the header (GC_HEADER by default), then one line per step."""
    return "\n".join(json.dumps(x) for x in [header or GC_HEADER, *ops]) + "\n"


MASK64 = (1 << 64) - 1


@st.composite
def words(draw: st.DrawFn) -> int:
    """A 64-bit bitmap word, drawn to hit the edges: empty, full, one run, one bit, or random."""
    kind = draw(st.sampled_from(["random", "zero", "full", "run", "single"]))
    if kind == "zero":
        return 0
    if kind == "full":
        return MASK64
    if kind == "run":
        lo = draw(st.integers(0, 63))
        hi = draw(st.integers(lo, 64))
        return ((1 << hi) - 1) & ~((1 << lo) - 1)
    if kind == "single":
        return 1 << draw(st.integers(0, 63))
    return draw(st.integers(0, MASK64))


def chunk_bits(nwords: int) -> st.SearchStrategy[list[int]]:
    """A chunk's bitmap as nwords words."""
    return st.lists(words(), min_size=nwords, max_size=nwords)


def as_int(ws: list[int]) -> int:
    """A bitmap of words as one int, word 0 lowest."""
    return sum(w << (64 * k) for k, w in enumerate(ws))


# The model's word-level and page-heap test helpers.

word64 = st.one_of(
    st.integers(0, MASK64),
    st.sampled_from([0, MASK64, 1, 1 << 63, 0x00FF00FF00FF00FF]),
    # sparse and dense words, so long runs of both kinds show up
    st.lists(st.integers(0, 63), max_size=4).map(lambda bs: sum({1 << b for b in bs})),
    st.lists(st.integers(0, 63), max_size=4).map(lambda bs: MASK64 ^ sum({1 << b for b in bs})),
)


def free_runs(bits: list[int]) -> tuple[int, int, int]:
    """(start, max, end) of a list of in-use flags, by counting."""
    n = len(bits)
    start = next((i for i, b in enumerate(bits) if b), n)
    end = next((i for i, b in enumerate(reversed(bits)) if b), n)
    longest = run = 0
    for b in bits:
        run = 0 if b else run + 1
        longest = max(longest, run)
    return start, longest, end


def bits_of(x: int, width: int = 64) -> list[int]:
    return [(x >> i) & 1 for i in range(width)]


CP = 512  # chunk pages in Go's geometry


def heap(*grows: tuple[int, int], phys: int = 1, huge: int = 0) -> PageHeap:
    h = PageHeap.create(phys_page_pages=phys, huge_page_pages=huge)
    for chunk, n in grows:
        h.grow(chunk, n)
    return h


def refused_without_change(h: PageHeap, action, match: str) -> None:  # type: ignore[no-untyped-def]
    before = copy.deepcopy(h)
    with pytest.raises(InvalidOperation, match=match):
        action()
    assert h == before


# Lockstep helpers for the random tests of fast/ beside the model: one alloc, one free, on both sides.
Live = list[tuple[int, int]]  # (first page, pages) of each allocation both sides hold


def alloc_both(model: Any, fast: Any, npages: int, live: Live, step: object = None) -> None:
    """alloc on both sides (page allocators, heaps or caches); the results must be equal; a success is live."""
    want = model.alloc(npages)
    assert fast.alloc(npages) == want, (step, npages)
    if want.page is not None:
        live.append((want.page, npages))


def free_both(model: Any, fast: Any, live: Live, rng: random.Random, keep_head: bool = False) -> None:
    """free a random live allocation on both sides; with keep_head, only a random tail of it (the head stays live)."""
    page, npages = live.pop(rng.randrange(len(live)))
    cut = rng.randint(0, npages - 1) if keep_head else 0
    model.free(page + cut, npages - cut)
    fast.free(page + cut, npages - cut)
    if cut:
        live.append((page, cut))


# A trace that fast/ with the hint_too_far fault fails: the hint skips page 0, so line 5 allocates page 73
# instead (the report page's tests, in a browser and parsed).
HINT_TOO_FAR = """\
{"trace": "pagealloc", "version": 3, "params": {"chunk_pages": 64, "phys_page_pages": 1, "huge_page_pages": 0}}
{"op": "grow", "chunk": 0, "nchunks": 4}
{"op": "pad", "page": 7, "npages": 1}
{"op": "alloc", "npages": 65, "expect": {"page": 8, "scav": 65}}
{"op": "alloc", "npages": 1, "expect": {"page": 0, "scav": 1}}
{"op": "free", "page": 0, "npages": 1}
"""
