"""The search hint's invariant, kept by every operation that moves the hint (search_hint).

Invariant (SPEC §5): every grown page below the search hint is in use
(model.spec.pages_below_in_use, per chunk). The operations are the model's
own: PageAlloc.alloc, free, grow and scavenge_one, and model.pagecache's
fill and flush.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import z3

from model import pagealloc, pagecache, spec
from model.geometry import AMD64, I386, Geometry
from model.pagealloc import ChunkData, PageAlloc
from model.pagecache import PageCache
from proofs.core import Claim, Obligation, Proof
from proofs.definitions import WORD, bv
from proofs.pagecache import CACHE_GEOMETRY, explore_fill, fill_facts
from proofs.states import HeapUnderProof, NoIndex, State, accept_symbolic_counts, as_term, words_after
from proofs.symbolic import BranchingDict, explore, path_claims, replaced
from proofs.tree import (
    abstract_chunks,
    bitvectors,
    first_fit_scan,
    first_free_scan,
    geometry_name,
    heap_first_fit,
    stored_levels,
)

ALLOC_GEOMETRY = Geometry(chunk_pages=512, levels=2, root_bits=1, level_bits=1)  # 4 chunks of Go's size
ALLOC_CASES: tuple[tuple[Geometry, tuple[int, ...]], ...] = (
    (ALLOC_GEOMETRY, (1, 2, 3)),  # chunk 0 never grown: find_mapped moves a bound there to chunk 1
    (AMD64, (0, 4096)),  # Go's amd64 tree: two root entries, 4095 chunks never grown between them
    (I386, (1, 512)),  # Go's 386 tree: chunk 0 never grown, as on 386; one chunk in each root entry
)
GROW_GEOMETRY = Geometry(chunk_pages=WORD, levels=1, root_bits=2, level_bits=0)  # 4 chunks of one word
GROWS = (((1,), 0, 1), ((1,), 2, 2), ((0, 2), 1, 1), ((0,), 3, 1))  # (grown before, first chunk, count)
LIMIT = 1 << 12  # field values and request sizes stay far below 2**63: signed bit-vector order is numeric order


def _in_range(*values: Any) -> list[Any]:
    return [z3.And(v >= -1, v <= LIMIT) for v in values]


def search_hint() -> Iterator[Obligation]:
    """Every operation that changes the bitmaps or moves the search hint keeps "every grown page
    below the hint is in use", and alloc returns the linear first fit.

    * alloc(n) (PageAlloc.alloc): on 4 chunks of 512 pages in two levels
      (chunk 0 never grown, the others grown), on Go's amd64 tree with
      chunks 0 and 4096 grown (the first chunks of root entries 0 and 1),
      and on Go's 386 tree with chunks 1 and 512 grown (chunk 0 never grown,
      as on 386; one chunk in each root entry), with the chunks
      abstract as in tree_find_first_fit (summaries and first fits as
      symbolic bit-vectors meeting the facts proved there, the tree the
      model's merges of them, an entry stored when non-zero), n and the hint
      symbolic (any page, every grown page below it in use); along every
      path: the hint's chunk's fast path (model.bitmap.find_in_chunk from
      the hint's word, its scans answered from the chunk), the tree search
      (model.tree.tree_find, then find_mapped), and failure. On success the
      page is the heap's first fit and the new hint is at least the old one
      and at most the heap's first free page; on failure there is no fit,
      and the hint is no_free_page after a single-page request and as it
      was otherwise (and as it was when its chunk is past every grown
      chunk). Here alloc_range, which marks the pages in use, returns
      without changing anything: it only sets allocation bits
      (scav_disjoint proves exactly what it does), so every page below the
      new hint, in use before, is in use after.
    * free(page, n) of any range in use, on two 128-page chunks with
      symbolic bitmaps and hint (its refusal checks are not under proof);
    * grow(chunk, count) of new chunks below, between and above grown ones,
      on up to 4 chunks of 64 pages with symbolic bitmaps and hint;
    * scavenge_one(chunk, search index, max), symbolic max: it changes no
      allocation bit and may move the hint down;
    * cache fill from any hint on its every path (proofs.pagecache), and
      flush of a cache at any block of the heap, holding a page in use.
    After each the invariant holds for the new bitmaps and the new hint
    (model.spec.pages_below_in_use, chunk by chunk).
    Both platforms: alloc reads the tree's shape only through tree_find,
    proved on Go's amd64 and 386 trees (tree_find_first_fit,
    tree_find_first_fit_386), and is run on both here as well; the other
    operations touch pages inside chunks and compare the hint with pages,
    which does not depend on the tree above the chunks, and Go's chunk (512
    pages) is the same on both, so their reduced states stand for amd64 and
    386 alike.
    """
    yield from _free()
    yield from _grow()
    yield from _flush()
    yield from _fill()
    yield from _scavenge_one()
    yield from _alloc()


def _alloc() -> Iterator[Obligation]:
    for g, grown in ALLOC_CASES:
        yield alloc_claim(g, grown)


def alloc_claim(g: Geometry, grown: tuple[int, ...]) -> Claim:
    """alloc's claim on geometry g with the chunks `grown` grown (abstract), explored along every path."""
    n = z3.BitVec("n", WORD)
    hint = z3.BitVec("hint", WORD)
    chunks, facts = abstract_chunks(g, grown, n, make=bitvectors)
    for ch in chunks.values():
        facts += _in_range(ch.s, ch.m, ch.e, ch.f, ch.ff)
    facts += [n <= LIMIT, z3.ULE(hint, g.no_free_page)]
    facts += [z3.Implies(ch.ff >= 0, g.chunk_base(c) + ch.ff >= hint) for c, ch in chunks.items()]
    first_fit, below_in_use = heap_first_fit(g, chunks, n)
    end_chunk = max(grown) + 1

    def run() -> tuple[Any, Any]:
        pa = HeapUnderProof(g)
        pa.chunks = BranchingDict({c: ChunkData(chunks[c], []) for c in grown})
        pa.end_chunk = end_chunk
        pa.search_page = hint
        pa.scav = NoIndex()  # type: ignore[assignment]
        pa.tree = stored_levels(g, chunks)  # type: ignore[assignment]
        with (
            replaced(pagealloc, "check_count", accept_symbolic_counts),
            replaced(PageAlloc, "alloc_range", lambda self, page, npages: 0),
            replaced(spec, "first_fit", first_fit_scan),
            replaced(spec, "first_free", first_free_scan),
        ):
            result = pa.alloc(n)
        return result.page, pa.search_page

    def holds(value: tuple[Any, Any]) -> Any:
        page, after = (as_term(v) if v is not None else None for v in value)
        if page is None:
            searched = z3.ULT(hint >> g.log_chunk_pages, end_chunk)
            want = z3.If(z3.And(n == 1, searched), bv(g.no_free_page), hint)
            return z3.And(first_fit == -1, after == want)
        return z3.And(first_fit >= 0, page == first_fit, z3.UGE(after, hint), below_in_use(after))

    paths = explore(run, facts)
    claims = path_claims(paths, holds)
    return Claim(
        f"alloc on {geometry_name(g)}, chunks {grown} grown ({len(paths)} paths)",
        z3.And(claims),
        facts,
        [("n", n), ("hint", hint), *_fields(chunks)],
    )


def _fields(chunks: dict[int, Any]) -> list[tuple[str, Any]]:
    return [(str(v), v) for ch in chunks.values() for v in (ch.s, ch.m, ch.e, ch.f, ch.ff)]


def _after_holds(state: State, alloc: dict[int, list[Any]], hint: Any) -> Any:
    g = state.geometry
    return z3.And([spec.pages_below_in_use(words, g.chunk_base(c), hint) for c, words in alloc.items()])


def _claim(label: str, state: State, paths: list[Any], facts: list[Any], show: list[Any]) -> Claim:
    """Every path ends with the invariant holding for its (alloc words, hint)."""
    claims = []
    for path in paths:
        if path.raised is not None:
            claims.append(z3.Not(path.when()))
        else:
            alloc, hint = path.value
            claims.append(z3.Implies(path.when(), _after_holds(state, alloc, as_term(hint))))
    return Claim(f"{label} ({len(paths)} paths)", z3.And(claims), facts, show, logic="QF_BV")


def _free() -> Iterator[Obligation]:
    state = State(CACHE_GEOMETRY, (0, 1), "free_")
    g = state.geometry
    page, n = z3.BitVecs("page n", WORD)
    facts = [*state.hint_facts(), z3.ULE(1, n), z3.ULE(page + n, g.no_free_page), z3.ULE(page, g.no_free_page),
             z3.ULE(n, g.no_free_page)]
    for c in state.grown:
        for k, word in enumerate(state.alloc[c]):
            facts.append(word & spec.range_mask(k, page - g.chunk_base(c), n) == spec.range_mask(
                k, page - g.chunk_base(c), n))

    def run() -> Any:
        pa = state.heap()
        with replaced(PageAlloc, "check_free", lambda self, page, npages: None):
            pa.free(page, n)
        return words_after(pa, state.grown)[0], pa.search_page

    yield _claim("free", state, explore(run, facts, logic="QF_BV"), facts, [("page", page), ("n", n), *state.show()])


def _grow() -> Iterator[Obligation]:
    for grown, first, count in GROWS:
        state = State(GROW_GEOMETRY, grown, f"grow{first}_")
        facts = state.hint_facts()

        def run(state: State = state, first: int = first, count: int = count) -> Any:
            pa = state.heap()
            pa.grow(first, count)
            return {c: [as_term(w) for w in d.alloc] for c, d in dict.items(pa.chunks)}, pa.search_page

        paths = explore(run, facts, logic="QF_BV")
        yield _claim(f"grow of chunks [{first}, {first + count}) with {grown} grown", state, paths, facts,
                     state.show())


def _scavenge_one() -> Iterator[Obligation]:
    state = State(CACHE_GEOMETRY, (0, 1), "scav_")
    search, most = WORD + 17, z3.BitVec("most", WORD)
    facts = [*state.disjoint(), *state.hint_facts(), *state.leaf_facts(), z3.ULE(most, 4096)]

    def run() -> Any:
        pa = state.heap()
        pa.scavenge_one(1, search, most)
        return words_after(pa, state.grown)[0], pa.search_page

    yield _claim("scavenge_one", state, explore(run, facts, logic="QF_BV"), facts, state.show())


def _fill() -> Iterator[Obligation]:
    state = State(CACHE_GEOMETRY, (0, 1), "fill_")
    paths = explore_fill(state)
    for path in paths:
        if path.raised is None:
            object.__setattr__(path, "value", (path.value.alloc, path.value.hint))
    yield _claim("cache fill", state, paths, fill_facts(state), state.show())


def _flush() -> Iterator[Obligation]:
    state = State(CACHE_GEOMETRY, (0, 1), "flush_")
    g = state.geometry
    base = z3.BitVec("base", WORD)
    facts = [*state.hint_facts(), base & (WORD - 1) == 0, z3.ULT(base, g.no_free_page)]
    facts += [z3.Implies(base == g.chunk_base(c) + WORD * k, state.alloc[c][k] & 1 == 1)
              for c in state.grown for k in range(g.words_per_chunk)]

    def run() -> Any:
        pa = state.heap()
        pagecache.flush(PageCache(base, 1, 0), pa)
        return words_after(pa, state.grown)[0], pa.search_page

    yield _claim("cache flush of a page in use", state, explore(run, facts, logic="QF_BV"), facts,
                 [("base", base), *state.show()])


SEARCH_HINT = Proof(
    "search_hint",
    "alloc (returning the first fit), free, grow, scavenge_one, cache fill and flush keep every grown page "
    "below the search hint in use",
    search_hint,
    "free_keeps_hint",
    expected_seconds=9.0,
)

PROOFS = (SEARCH_HINT,)
