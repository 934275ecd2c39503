"""Allocator states with Z3 bitmaps, on which the model's PageAlloc and page-cache code runs.

A proof builds a model.pagealloc.PageAlloc (a subclass, HeapUnderProof)
whose chunks hold symbolic 64-bit words, whose search hint may be a Z3
term, and whose tree leaves are symbolic summaries; then it calls the
model's own methods (alloc, alloc_range, free, grow, scavenge_one,
model.pagecache.fill and flush) under proofs.symbolic.explore. Two parts of
the state are left out, each because no result of the operation under
proof depends on it:

  * the scavenge index (NoIndex): its page counts and cursors decide only
    which chunk the scavenger visits next; no bitmap, page or hint is
    computed from them. (Not proved: the conformance traces compare the
    index's cursors with Go's at every line, tests/model/test_go_state.py.)
  * updating the tree (HeapUnderProof.update does nothing): every
    operation reads the tree before it changes any bitmap and never after,
    so its answer is the same; that update_tree keeps the tree equal to the
    bitmaps is checked by tests/model/test_spec.py.

The chunk map is a BranchingDict and the leaves a PresenceDict
(proofs.symbolic), so lookups at a symbolic chunk branch over the grown
chunks and an entry counts as stored exactly when its max is not 0.
"""

from __future__ import annotations

from typing import Any

import z3

from model import pagealloc, spec
from model.geometry import Geometry
from model.pagealloc import ChunkData, PageAlloc
from proofs.definitions import WORD, bv, first_fit_formula, pages_vector
from proofs.symbolic import BranchingDict, PresenceDict


class NoIndex:
    """Stands in for the scavenge index (see the module docstring)."""

    def grow(self, first_chunk: int) -> None:
        return None

    def alloc(self, chunk: Any, npages: Any) -> None:
        return None

    def free(self, chunk: Any, page_in_chunk: Any, npages: Any) -> None:
        return None

    def set_empty(self, chunk: Any) -> None:
        return None


class HeapUnderProof(PageAlloc):
    """A PageAlloc whose tree is read but not updated (see the module docstring)."""

    def update(self, page: Any, npages: Any) -> None:
        return None


class SymbolicSummary:
    """A tree entry whose fields are Z3 terms (the model reads start, max, end and is_zero)."""

    def __init__(self, t: tuple[Any, Any, Any]) -> None:
        self.start, self.max, self.end = t

    def is_zero(self) -> Any:
        return self.max == 0


def accept_symbolic_counts(name: str, value: Any, minimum: int = 1) -> Any:
    """model.pagealloc.check_count for a symbolic count: the proof assumes the count's range."""
    return value if z3.is_expr(value) else pagealloc.check_count(name, value, minimum)


class State:
    """Symbolic bitmaps of the grown chunks of a geometry, and the facts every real state meets."""

    def __init__(self, geometry: Geometry, grown: tuple[int, ...], tag: str = "") -> None:
        self.geometry = geometry
        self.grown = grown
        per = geometry.words_per_chunk
        self.alloc = {c: [z3.BitVec(f"{tag}alloc{c}_{k}", WORD) for k in range(per)] for c in grown}
        self.scav = {c: [z3.BitVec(f"{tag}scav{c}_{k}", WORD) for k in range(per)] for c in grown}
        self.hint = z3.BitVec(f"{tag}hint", WORD)
        self.leaves = {c: tuple(z3.BitVecs(f"{tag}s{c} {tag}m{c} {tag}e{c}", WORD)) for c in grown}

    def show(self) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = [("hint", self.hint)]
        for c in self.grown:
            out += [(str(w), w) for w in self.alloc[c]] + [(str(w), w) for w in self.scav[c]]
        return out

    def disjoint(self) -> list[Any]:
        """No page both scavenged and in use."""
        return [a & s == 0 for c in self.grown for a, s in zip(self.alloc[c], self.scav[c], strict=True)]

    def hint_facts(self, hint: Any = None, alloc: dict[int, list[Any]] | None = None) -> list[Any]:
        """The hint is in range and every grown page below it is in use (model.spec.pages_below_in_use)."""
        hint = self.hint if hint is None else hint
        alloc = self.alloc if alloc is None else alloc
        g = self.geometry
        return [z3.ULE(hint, g.no_free_page)] + [
            spec.pages_below_in_use(alloc[c], g.chunk_base(c), hint) for c in self.grown
        ]

    def leaf_facts(self) -> list[Any]:
        """Facts every real leaf summary meets, enough for searches of one page: its fields are in
        range and ordered; it is zero exactly when every page is in use, and full exactly when
        every page is free; its start and end are non-zero exactly when the first and last page
        are free. (Stronger searches use proofs.tree's facts instead.)"""
        g = self.geometry
        width = g.chunk_pages
        out = []
        for c in self.grown:
            s, m, e = self.leaves[c]
            x = pages_vector(self.alloc[c])
            full = x == z3.BitVecVal((1 << width) - 1, width)
            empty = x == 0
            out += [
                z3.ULE(m, width), z3.ULE(s, m), z3.ULE(e, m),
                (m == 0) == full,
                (m == width) == empty, (s == width) == empty, (e == width) == empty,
                (s == 0) == (z3.Extract(0, 0, x) == 1),
                (e == 0) == (z3.Extract(width - 1, width - 1, x) == 1),
            ]
        return out

    def first_free(self, alloc: dict[int, list[Any]] | None = None) -> tuple[Any, Any]:
        """(the heap has a free page, the lowest one) by definition, over the grown chunks."""
        alloc = self.alloc if alloc is None else alloc
        exists: Any = z3.BoolVal(False)
        lowest: Any = bv(self.geometry.no_free_page)
        for c in sorted(self.grown, reverse=True):
            here, index = first_fit_formula(alloc[c], 1, 0)
            lowest = z3.If(here, self.geometry.chunk_base(c) + index, lowest)
            exists = z3.Or(here, exists)
        return exists, lowest

    def heap(self, hint: Any = None, phys: int = 1, huge: int = 0) -> HeapUnderProof:
        """A HeapUnderProof holding these bitmaps (fresh lists, so runs do not share them). The
        geometry has one level, so the leaves are the whole tree."""
        g = self.geometry
        if g.levels != 1:
            raise ValueError("State.heap builds one-level trees only")
        pa = HeapUnderProof(g, phys, huge)
        pa.chunks = BranchingDict(
            {c: ChunkData(list(self.alloc[c]), list(self.scav[c])) for c in self.grown}
        )
        pa.end_chunk = max(self.grown) + 1
        pa.search_page = self.hint if hint is None else hint
        pa.scav = NoIndex()  # type: ignore[assignment]
        leaves = PresenceDict({c: SymbolicSummary(self.leaves[c]) for c in self.grown}, lambda s: s.max != 0)
        pa.tree = [leaves]
        return pa


def words_after(pa: PageAlloc, grown: tuple[int, ...]) -> tuple[dict[int, list[Any]], dict[int, list[Any]]]:
    """The allocation and scavenged words of every grown chunk of pa, as terms."""
    alloc = {c: [_term(w) for w in dict.__getitem__(pa.chunks, c).alloc] for c in grown}
    scav = {c: [_term(w) for w in dict.__getitem__(pa.chunks, c).scavenged] for c in grown}
    return alloc, scav


def _term(w: Any) -> Any:
    return bv(w) if isinstance(w, int) else w


def as_term(v: Any) -> Any:
    return bv(v) if isinstance(v, int) else v

