"""Proofs about the per-P page cache: fill, alloc and flush keep the heap's bitmaps exact.

The model's fill and flush work on a PageAlloc. The proofs run them on one
whose chunk bitmaps hold Z3 words, with two things the bitmap properties do
not depend on held fixed:

  * the summary tree is not maintained (`update` does nothing): it is a
    function of the bitmaps (proved in merge_concat) and fill reads it only
    to decide whether the hint's chunk has a free page, which the leaf is
    set up to say;
  * the scavenge index's page counters are not kept (`NoIndex`): they never
    touch the bitmaps;
  * the hint is at the start of the chunk's upper word, with the lower word
    in use, so fill takes the upper word's block, whose base is page 64.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs
import z3

from model import pagecache, words
from model.geometry import Geometry
from model.pagealloc import ChunkData, PageAlloc
from model.pagecache import CACHE_PAGES, PageCache
from model.summary import Summary
from model.words import MASK64
from proofs import broken
from proofs.core import Claim, Obligation, Proof
from proofs.definitions import WORD, addition_chain, all_set, bv, low, window
from proofs.symbolic import Path, explore

CACHE_GEOMETRY = Geometry(chunk_pages=2 * WORD, levels=1, root_bits=0, level_bits=0)
BLOCK_BASE = WORD  # the cached block is the chunk's second word


class NoIndex:
    """Stands in for the scavenge index: fill and flush report page counts to it, nothing else."""

    def alloc(self, chunk: int, npages: Any) -> None:
        return None

    def free(self, chunk: int, page_in_chunk: int, npages: Any) -> None:
        return None


class BitmapsOnly(PageAlloc):
    """A PageAlloc whose summary tree is left alone (see the module docstring)."""

    def update(self, page: int, npages: int) -> None:
        return None


def heap_with_block(alloc_word: Any, scav_word: Any) -> BitmapsOnly:
    """One 128-page chunk: the lower word in use and unscavenged, the upper word symbolic,
    the hint at page 64 (every page below it is in use)."""
    pa = BitmapsOnly(CACHE_GEOMETRY)
    pa.chunks[0] = ChunkData([MASK64, alloc_word], [0, scav_word])
    pa.end_chunk = 1
    pa.search_page = BLOCK_BASE
    pa.tree[-1][0] = Summary(1, 1, 1)  # the leaf only has to say "there is a free page"
    pa.scav = NoIndex()  # type: ignore[assignment]
    return pa


@attrs.frozen
class Filled:
    """One path of fill: the cache it made and the heap's block words after it."""

    cache: PageCache
    alloc_after: list[Any]
    scav_after: list[Any]


def explore_fill(alloc_word: Any, scav_word: Any, assumptions: list[Any]) -> list[Path]:
    def run() -> Filled:
        pa = heap_with_block(alloc_word, scav_word)
        cache = pagecache.fill(pa)
        data = pa.chunks[0]
        return Filled(cache, list(data.alloc), list(data.scavenged))

    return explore(run, assumptions, logic="QF_BV")


def flush_one_page(cache_class: type[PageCache], page: int, scavenged: bool, alloc: Any, scav: Any) -> tuple[Any, Any]:
    """Flush a cache holding only page base+page (scavenged or not) into a symbolic block."""
    pa = heap_with_block(alloc, scav)
    cache = cache_class(BLOCK_BASE, 1 << page, (1 << page) if scavenged else 0)
    pagecache.flush(cache, pa)
    return pa.chunks[0].alloc[1], pa.chunks[0].scavenged[1]


def flush_lemma(cache_class: type[PageCache]) -> Iterator[Obligation]:
    """flush, page by page: returning page i clears exactly its in-use bit, and sets exactly its
    scavenged bit when the cache has it scavenged.

    flush loops over the 64 pages of the block; iteration i reads bits i of
    the cache's free and scav words and calls clear_range / set_range on page
    base+i alone, which change exactly that page (alloc_free_bits). So the
    loop's effect on page base+i is that of a flush of a cache holding page i
    alone, and flush's effect on the block is alloc &= ^free, scavenged |=
    scav, which the proofs below use.
    """
    alloc, scav = z3.BitVecs("block_alloc block_scav", WORD)
    for scavenged in (False, True):
        claims = []
        for i in range(CACHE_PAGES):
            a, s = flush_one_page(cache_class, i, scavenged, alloc, scav)
            claims += [a == alloc & ~bv(1 << i), s == (scav | bv(1 << i) if scavenged else scav)]
        yield Claim(
            f"flush of one {'scavenged' if scavenged else 'unscavenged'} page, for each of the 64",
            z3.And(claims),
            show=[("alloc", alloc), ("scav", scav)],
            logic="QF_BV",
        )


def cache_roundtrip(cache_class: type[PageCache]) -> Iterator[Obligation]:
    """Cache fill, then any sequence of cache allocations, then flush, leaves the chunk's
    bitmaps equal to applying those allocations directly (allocRange on the heap), each
    allocation reports the same scavenged count, and no cached page is handed out twice.

    Let A and S be the block's in-use and scavenged words before the fill,
    with no page both (scav_disjoint) and some page free. Let U be the pages
    handed out so far (U & A == 0). The invariant after the fill and after
    every cache allocation is that the cache's free and scav words are
        F == ^A & ^U,   C == S & ^U
    with the heap's block all in use and unscavenged. (This is the same as
    F & U == 0, F | U == ^A, C == S & ^U; the proof states the cache's words
    this way, as terms in A, S, U.)
      1. fill (the model's, explored over every path) takes the block with
         F = ^A, C = S, and leaves the block all in use and unscavenged: the
         invariant with U = 0;
      2. alloc(n) (the model's, explored for every n in 1..64 from any state
         of the invariant) either fails, changes nothing, and there is no run
         of n free pages in F; or hands out pages M = [i, i+n) of the block,
         all in F and so none handed out before (F & U == 0); its scavenged
         count is popcount of a word equal to S & M, which is what allocRange
         of M reports on the heap where U is already allocated (S & ^U has
         the same pages in M); and it leaves F & ^M, C & ^M: the invariant
         with U | M;
      3. flush (flush_lemma) turns the block into (all in use) & ^F and
         (none scavenged) | C, which under the invariant is (A | U, S & ^U):
         the block after allocRange of every range in U applied directly.
    By induction on the number of allocations, 1 and 2 give the invariant at
    the flush, and 3 the equality.
    """
    a, s = z3.BitVecs("A S", WORD)
    base = [a & s == 0, a != bv(MASK64)]
    show = [("A", a), ("S", s)]
    paths = explore_fill(a, s, base)
    claims = []
    for path in paths:
        if path.raised is not None:
            claims.append(z3.Not(path.when()))
            continue
        filled: Filled = path.value
        cache = filled.cache
        claims.append(
            z3.Implies(
                path.when(),
                z3.And(
                    z3.BoolVal(cache.base == BLOCK_BASE),
                    cache.free == ~a,
                    cache.scav == s,
                    filled.alloc_after[1] == bv(MASK64),
                    filled.scav_after[1] == bv(0),
                    filled.alloc_after[0] == bv(MASK64),
                    filled.scav_after[0] == bv(0),
                ),
            )
        )
    yield Claim(f"fill takes the whole block ({len(paths)} paths)", z3.And(claims), base, show, logic="QF_BV")

    u = z3.BitVec("U", WORD)
    state = [a & s == 0, a & u == 0]
    state_show = [("A", a), ("S", s), ("U", u)]
    for n in range(1, CACHE_PAGES + 1):
        yield _alloc_step(cache_class, n, a, s, u, state, state_show)
    yield from flush_lemma(cache_class)
    f, c = ~a & ~u, s & ~u
    yield Claim(
        "flush under the invariant gives the heap allocRange would",
        z3.And(bv(MASK64) & ~f == a | u, bv(0) | c == s & ~u),
        state,
        state_show,
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


def _alloc_step(
    cache_class: type[PageCache],
    n: int,
    a: Any,
    s: Any,
    u: Any,
    state: list[Any],
    show: list[tuple[str, Any]],
) -> Obligation:
    f, c = ~a & ~u, s & ~u

    def run() -> tuple[Any, Any, Any, Any]:
        cache = cache_class(BLOCK_BASE, f, c)
        result = cache.alloc(n)
        return result.page, result.scav, cache.free, cache.scav

    paths = explore(run, state, logic="QF_BV")
    claims = []
    for path in paths:
        if path.raised is not None:
            claims.append(z3.Not(path.when()))
            continue
        page, scav, free_after, scav_after = path.value
        if page is None:
            no_run = z3.Not(z3.Or([all_set(f, window(i, n)) for i in range(WORD - n + 1)]))
            outcome = z3.And(no_run, free_after == f, scav_after == c)
        else:
            i = z3.simplify(page - BLOCK_BASE)
            mask = bv(low(n)) << i
            counted = popcount_argument(_as_bv(scav))
            outcome = z3.And(
                z3.ULE(i + n, WORD),
                mask & ~f == 0,
                z3.BoolVal(counted is not None),
                counted == s & mask if counted is not None else True,
                free_after == ~a & ~(u | mask),
                scav_after == s & ~(u | mask),
            )
        claims.append(z3.Implies(path.when(), outcome))
    return Claim(f"alloc({n}) keeps the invariant ({len(paths)} paths)", z3.And(claims), state, show, logic="QF_BV")


def _as_bv(v: Any) -> Any:
    return bv(v) if isinstance(v, int) else v


CACHE_ROUNDTRIP = Proof(
    "cache_roundtrip",
    "fill, any cache allocs, flush == those allocs applied directly; no cached page handed out twice",
    cache_roundtrip,
    PageCache,
    broken.CacheKeepingScavenged,
    expected_seconds=5.0,
    control="cache alloc keeping the scavenged bits it hands out",
)


HELD_BASE = 5 * CACHE_PAGES  # any 64-aligned base; the page numbers around it are symbolic
HELD_PAGES = 1 << 12  # pages and counts up to 4096, far around the block


def cache_first_held(cache_class: type[PageCache]) -> Iterator[Obligation]:
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
        return cache_class(HELD_BASE, free, 0).first_held(page, npages)

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
            got = _as_bv(path.value)
            lower = z3.Or([z3.And(z3.ULT(q, got), held(q)) for q in block])
            claims.append(z3.Implies(path.when(), z3.And(held(got), z3.Not(lower))))
    yield Claim(f"first_held ({len(paths)} paths)", z3.And(claims), bounds, show, logic="QF_BV")


CACHE_FIRST_HELD = Proof(
    "cache_first_held",
    "a cache's first_held(p, n) is the lowest page of [p, p+n) it holds free, or None if none",
    cache_first_held,
    PageCache,
    broken.CacheHeldOnePast,
    control="first_held looking one page past the range",
)

PROOFS = (CACHE_ROUNDTRIP, CACHE_FIRST_HELD)
