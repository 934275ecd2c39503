"""Proofs about the per-P page cache: fill, alloc and flush follow SPEC §6 and keep the heap exact.

fill and flush run on a proofs.states heap: two chunks of 128 pages with
symbolic bitmaps and a symbolic search hint, the chunks' leaf summaries
symbolic, so fill takes the hint's chunk (its fast path) or searches the
tree for one page (its slow path), as the state decides. PageCache.alloc
runs on symbolic cache words.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs
import z3

from model import pagecache, words
from model.geometry import Geometry
from model.pagecache import CACHE_PAGES, PageCache
from model.words import MASK64
from proofs.core import Claim, Obligation, Proof
from proofs.definitions import WORD, addition_chain, bv, low, scans_as_formulas, window
from proofs.states import State, as_term, words_after
from proofs.symbolic import Path, explore

CACHE_GEOMETRY = Geometry(chunk_pages=2 * WORD, levels=1, root_bits=1, level_bits=0)  # 2 chunks of 2 words
GROWN_SETS = ((0, 1), (1,), (0,))  # both chunks; chunk 0 never grown; chunk 1 never grown


@attrs.frozen
class Filled:
    """One path of fill: the cache it made, and the heap's bitmaps and hint after it."""

    cache: PageCache
    alloc: dict[int, list[Any]]
    scav: dict[int, list[Any]]
    hint: Any


def explore_fill(state: State) -> list[Path]:
    """model.pagecache.fill on the state's heap, along every path."""

    def run() -> Filled:
        pa = state.heap()
        with scans_as_formulas():
            cache = pagecache.fill(pa)
        alloc, scav = words_after(pa, state.grown)
        return Filled(cache, alloc, scav, as_term(pa.search_page))

    return explore(run, fill_facts(state), logic="QF_BV")


def fill_facts(state: State) -> list[Any]:
    return [*state.disjoint(), *state.hint_facts(), *state.leaf_facts()]


def block_words(state: State, base: Any, alloc: dict[int, list[Any]]) -> Any:
    """The word of `alloc` holding pages [base, base + 64), base 64-aligned (an If over the words)."""
    out: Any = bv(0)
    for c in state.grown:
        for k in range(state.geometry.words_per_chunk):
            out = z3.If(base == state.geometry.chunk_base(c) + WORD * k, alloc[c][k], out)
    return out


def others_unchanged(state: State, base: Any, before: dict[int, list[Any]], after: dict[int, list[Any]]) -> Any:
    g = state.geometry
    return z3.And(
        [
            z3.Or(base == g.chunk_base(c) + WORD * k, after[c][k] == before[c][k])
            for c in state.grown
            for k in range(g.words_per_chunk)
        ]
    )


def fill_claims(state: State, path: Path) -> Any:
    """SPEC §6's fill rule for one path: the block of the heap's lowest free page, every free page
    of it moved to the cache with its scavenged bit, those pages in use and unscavenged in the
    heap, the hint at the block's last page; or no free page, an empty cache and the hint at
    no_free_page (left as it was when its chunk is past every grown chunk)."""
    g = state.geometry
    if path.raised is not None:
        return z3.Not(path.when())
    filled: Filled = path.value
    cache = filled.cache
    exists, first_free = state.first_free()
    if cache.base is None:
        past_end = z3.UGE(state.hint >> g.log_chunk_pages, max(state.grown) + 1)
        hint = z3.If(past_end, state.hint, bv(g.no_free_page))
        same = z3.And(
            [a == b for c in state.grown for a, b in zip(filled.alloc[c], state.alloc[c], strict=True)]
            + [a == b for c in state.grown for a, b in zip(filled.scav[c], state.scav[c], strict=True)]
        )
        outcome = z3.And(z3.Not(exists), cache.free == 0, filled.hint == hint, same)
    else:
        base = as_term(cache.base)
        alloc_block, scav_block = block_words(state, base, state.alloc), block_words(state, base, state.scav)
        free = as_term(cache.free)
        outcome = z3.And(
            exists,
            base == first_free & ~bv(WORD - 1),
            free == ~alloc_block,
            as_term(cache.scav) == scav_block,
            block_words(state, base, filled.alloc) == bv(MASK64),
            block_words(state, base, filled.scav) == scav_block & ~free,
            others_unchanged(state, base, state.alloc, filled.alloc),
            others_unchanged(state, base, state.scav, filled.scav),
            filled.hint == base + CACHE_PAGES - 1,
        )
    return z3.Implies(path.when(), outcome)


def cache_roundtrip() -> Iterator[Obligation]:
    """Cache fill follows SPEC §6 from any hint, on its fast and slow paths; cache allocations hand
    out only cache pages, each once, with the right scavenged counts; flush gives the pages
    back; so fill, any allocations and flush leave the heap as those allocations made
    directly.

    1. fill (model.pagecache.fill), on a heap of two 128-page chunks (both
       grown, or either never grown) with symbolic bitmaps (no page both
       scavenged and in use), a symbolic hint with every grown page below it
       in use, and symbolic leaf summaries meeting State.leaf_facts; along
       every path (the hint's chunk has a free page, or not and the tree is
       searched for one page with model.tree.tree_find and
       model.bitmap.find_in_chunk, or the hint is past every chunk): the
       cache is the block of the heap's lowest free page (by definition),
       its free word the block's free pages and its scav word their
       scavenged bits, and in the heap the block is all in use and its free
       pages unscavenged, nothing else changed, and the hint is the block's
       last page; or the heap has no free page, the cache is empty, nothing
       changed, and the hint is no_free_page (as it was, if its chunk is
       past every grown chunk).
    2. alloc(n) (PageCache.alloc, explored for every n in 1..64) from any
       cache state F == ^A & ^U, C == S & ^U (A, S the block's words before
       the fill, U the pages handed out so far): it either fails, changes
       nothing, and there is no run of n free pages in F; or hands out pages
       M = [i, i+n) of the block, all in F and so none handed out before;
       its scavenged count is popcount of a word equal to S & M, which is
       what allocRange of M reports on the heap; and it leaves F & ^M,
       C & ^M: the same invariant with U | M.
    3. flush, page by page (flush_lemma): returning page i of a block
       clears exactly its in-use bit and sets exactly its scavenged bit when
       the cache has it scavenged; flush's loop does this for each page of
       the cache independently (iteration i reads bit i of the cache's words
       and touches page base+i only, a written argument), so the block
       becomes (all in use) & ^F and (none scavenged) | C, which under the
       invariant is (A | U, S & ^U): the block after allocRange of every
       range in U applied directly. And from any hint and any block of the
       heap, flush moves the hint down to the block's base when that is
       lower and leaves it otherwise (flush_hint).
    By induction on the number of allocations, 1 and 2 give the invariant at
    the flush, and 3 the equality.
    Both platforms: a cache is 64 pages and a chunk 512 on amd64 and 386
    alike; the tree enters only through fill's slow path, tree_find for one
    page, which tree_find_first_fit and tree_find_first_fit_386 prove on
    each platform's tree, so this two-chunk heap stands for both.
    """
    for grown in GROWN_SETS:
        state = State(CACHE_GEOMETRY, grown)
        paths = explore_fill(state)
        yield Claim(
            f"fill, chunks {grown} grown ({len(paths)} paths)",
            z3.And([fill_claims(state, p) for p in paths]),
            fill_facts(state),
            state.show(),
            logic="QF_BV",
        )
    a, s, u = z3.BitVecs("A S U", WORD)
    state_facts = [a & s == 0, a & u == 0]
    state_show = [("A", a), ("S", s), ("U", u)]
    for n in range(1, CACHE_PAGES + 1):
        yield _alloc_step(n, a, s, u, state_facts, state_show)
    yield from flush_lemma()
    yield from flush_hint()
    f, c = ~a & ~u, s & ~u
    yield Claim(
        "flush under the invariant gives the heap allocRange would",
        z3.And(bv(MASK64) & ~f == a | u, bv(0) | c == s & ~u),
        state_facts,
        state_show,
        logic="QF_BV",
    )


FLUSH_STATE = State(CACHE_GEOMETRY, (0, 1), "flush_")


def flush_lemma() -> Iterator[Obligation]:
    """flush of a cache holding page i alone (scavenged or not), for each i: only page i of the
    block changes, its in-use bit cleared, its scavenged bit set when the cache's is."""
    block = WORD  # the second word of chunk 0
    before_alloc, before_scav = FLUSH_STATE.alloc[0][1], FLUSH_STATE.scav[0][1]
    for scavenged in (False, True):
        claims = []
        for i in range(CACHE_PAGES):
            pa = FLUSH_STATE.heap(hint=0)
            pagecache.flush(PageCache(block, 1 << i, (1 << i) if scavenged else 0), pa)
            alloc, scav = words_after(pa, (0, 1))
            want_scav = before_scav | bv(1 << i) if scavenged else before_scav
            claims += [alloc[0][1] == before_alloc & ~bv(1 << i), scav[0][1] == want_scav]
            claims += [alloc[c][k] == FLUSH_STATE.alloc[c][k] for c, k in ((0, 0), (1, 0), (1, 1))]
            claims += [scav[c][k] == FLUSH_STATE.scav[c][k] for c, k in ((0, 0), (1, 0), (1, 1))]
        yield Claim(
            f"flush of one {'scavenged' if scavenged else 'unscavenged'} page, for each of the 64",
            z3.And(claims),
            show=[("alloc", before_alloc), ("scav", before_scav)],
            logic="QF_BV",
        )


def flush_hint() -> Iterator[Obligation]:
    """flush from any hint, of a cache at any block of the heap: the hint becomes min(hint, base)."""
    base = z3.BitVec("base", WORD)
    facts = [z3.ULE(FLUSH_STATE.hint, CACHE_GEOMETRY.no_free_page), base & (WORD - 1) == 0,
             z3.ULT(base, CACHE_GEOMETRY.no_free_page)]

    def run() -> Any:
        pa = FLUSH_STATE.heap()
        pagecache.flush(PageCache(base, 1, 0), pa)
        return as_term(pa.search_page)

    paths = explore(run, facts, logic="QF_BV")
    hint = FLUSH_STATE.hint
    want = z3.If(z3.ULT(base, hint), base, hint)
    claims = [z3.Not(p.when()) if p.raised is not None else z3.Implies(p.when(), p.value == want) for p in paths]
    yield Claim(
        f"flush moves the hint down to the block's base ({len(paths)} paths)",
        z3.And(claims),
        facts,
        [("hint", hint), ("base", base)],
        logic="QF_BV",
    )


def popcount_argument(term: Any) -> Any | None:
    """x when term is words.popcount(x) (checked by rebuilding it), else None."""
    summands = addition_chain(term)
    if not summands:
        return None
    first = summands[0]
    if first.num_args() != 1 or first.arg(0).num_args() != 1:
        return None
    x = first.arg(0).arg(0)
    return x if z3.is_bv(x) and x.size() == WORD and term.eq(words.popcount(x)) else None


BLOCK_BASE = WORD


def _alloc_step(n: int, a: Any, s: Any, u: Any, facts: list[Any], show: list[tuple[str, Any]]) -> Obligation:
    f, c = ~a & ~u, s & ~u

    def run() -> tuple[Any, Any, Any, Any]:
        cache = PageCache(BLOCK_BASE, f, c)
        result = cache.alloc(n)
        return result.page, result.scav, cache.free, cache.scav

    paths = explore(run, facts, logic="QF_BV")
    claims = []
    for path in paths:
        if path.raised is not None:
            claims.append(z3.Not(path.when()))
            continue
        page, scav, free_after, scav_after = path.value
        if page is None:
            no_run = z3.Not(z3.Or([f & window(i, n) == window(i, n) for i in range(WORD - n + 1)]))
            outcome = z3.And(no_run, as_term(free_after) == f, as_term(scav_after) == c)
        else:
            i = z3.simplify(as_term(page) - BLOCK_BASE)
            mask = bv(low(n)) << i
            counted = popcount_argument(as_term(scav))
            outcome = z3.And(
                z3.ULE(i + n, WORD),
                mask & ~f == 0,
                z3.BoolVal(counted is not None),
                counted == s & mask if counted is not None else True,
                as_term(free_after) == ~a & ~(u | mask),
                as_term(scav_after) == s & ~(u | mask),
            )
        claims.append(z3.Implies(path.when(), outcome))
    return Claim(f"alloc({n}) keeps the invariant ({len(paths)} paths)", z3.And(claims), facts, show, logic="QF_BV")


CACHE_ROUNDTRIP = Proof(
    "cache_roundtrip",
    "fill (any hint, fast and slow path), any cache allocs, flush == those allocs applied directly; "
    "the hint after fill and flush as SPEC §6 says; no cached page handed out twice",
    cache_roundtrip,
    "fill_hint_one_past",
    expected_seconds=8.0,
)


HELD_BASE = 5 * CACHE_PAGES  # any 64-aligned base; the page numbers around it are symbolic
HELD_PAGES = 1 << 12  # pages and counts up to 4096, far around the block


def cache_first_held() -> Iterator[Obligation]:
    """PageCache.first_held(p, n) is the lowest page of [p, p+n) that the cache holds free, or
    None when it holds none of them (PageHeap.free relies on it to refuse freeing a page a
    cache still holds, which would let two owners hand it out).

    The model's method runs along every path (proofs.symbolic) with the
    cache's free word, p and n symbolic (p and n up to 4096, around a block
    at page 320). For each path: if it returns None, no page of [p, p+n)
    lies in the block with its free bit set; otherwise it returns such a
    page, and no lower page of [p, p+n) is one.
    """
    free = z3.BitVec("free", WORD)
    page, npages = z3.BitVecs("p n", WORD)
    bounds = [z3.ULE(page, HELD_PAGES), z3.ULE(npages, HELD_PAGES)]
    show = [("free", free), ("p", page), ("n", npages)]

    def run() -> Any:
        return PageCache(HELD_BASE, free, 0).first_held(page, npages)

    def held(q: Any) -> Any:
        """Page q (a term) is in [p, p+n) and held free by the cache."""
        inside = z3.And(z3.ULE(page, q), z3.ULT(q, page + npages))
        in_block = z3.And(z3.ULE(HELD_BASE, q), z3.ULT(q, HELD_BASE + CACHE_PAGES))
        offset = q - HELD_BASE
        return z3.And(inside, in_block, z3.Extract(0, 0, z3.LShR(free, offset)) == 1)

    paths = explore(run, bounds, logic="QF_BV")
    block = [bv(HELD_BASE + i) for i in range(CACHE_PAGES)]
    claims = []
    for path in paths:
        if path.raised is not None:
            claims.append(z3.Not(path.when()))
        elif path.value is None:
            claims.append(z3.Implies(path.when(), z3.Not(z3.Or([held(q) for q in block]))))
        else:
            got = as_term(path.value)
            lower = z3.Or([z3.And(z3.ULT(q, got), held(q)) for q in block])
            claims.append(z3.Implies(path.when(), z3.And(held(got), z3.Not(lower))))
    yield Claim(f"first_held ({len(paths)} paths)", z3.And(claims), bounds, show, logic="QF_BV")


CACHE_FIRST_HELD = Proof(
    "cache_first_held",
    "a cache's first_held(p, n) is the lowest page of [p, p+n) it holds free, or None if none",
    cache_first_held,
    "first_held_one_past",
)

PROOFS = (CACHE_ROUNDTRIP, CACHE_FIRST_HELD)


