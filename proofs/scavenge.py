"""Proofs about scavenging: the candidate search, and "no page both scavenged and in use"."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import attrs
import z3

from model import bitmap, scavenge
from model.pagecache import PageCache
from model.words import MASK64
from proofs import broken
from proofs.bitmap import CHUNK_WORDS, in_range, page_bit, range_bounds
from proofs.core import Check, Claim, Obligation, Proof
from proofs.definitions import WORD, bv, window
from proofs.pagecache import explore_fill, flush_lemma
from proofs.symbolic import Path, explore, replaced

SCAV_WORDS = 2  # a reduced chunk of 128 pages: enough for runs that cross a word boundary
MIN_PAGES = (1, 2, 4, 8, 16, 32, 64)

Candidate = Callable[..., tuple[Any, Any]]


@attrs.frozen
class CandidateImpl:
    """The function under proof, and the fillAligned it is run with (the control breaks the latter)."""

    find: Candidate
    fill_aligned: Callable[[Any, int], Any]


def _unusable_spec(alloc: Any, scav: Any, min_pages: int) -> Any:
    """The word whose bit p is set unless p's m-aligned group is all free and unscavenged."""
    x = alloc | scav
    groups = [window(g, min_pages) for g in range(0, WORD, min_pages)]
    out = bv(0)
    for g in groups:
        out = out | z3.If(x & g != 0, bv(g), bv(0))
    return out


def _offset(v: Any, k: int) -> Any:
    """v - 64k clamped to [0, 64], for an unsigned bit-vector v."""
    base = WORD * k
    return z3.If(z3.ULE(v, base), bv(0), z3.If(z3.ULE(v - base, WORD), v - base, bv(WORD)))


def _pages_of_word(k: int, lo: Any, hi: Any) -> Any:
    """The bits of word k that lie in pages [lo, hi)."""
    return ((bv(1) << _offset(hi, k)) - 1) & ~((bv(1) << _offset(lo, k)) - 1)


def _as_bv(v: Any) -> Any:
    return bv(v) if isinstance(v, int) else v


@attrs.frozen
class Config:
    min_pages: int
    search_word: int
    huge: bool
    max_zero: bool  # whether max may be 0 (Go's "no limit but one physical page")


CONFIGS = (
    Config(1, SCAV_WORDS - 1, False, True),
    *(Config(m, SCAV_WORDS - 1, False, False) for m in MIN_PAGES[1:]),
    Config(1, 0, False, False),
    Config(1, SCAV_WORDS - 1, True, False),
)


def grouped_word(name: str, min_pages: int) -> Any:
    """A symbolic word made of whole min-aligned groups (each all ones or all zeros)."""
    if min_pages == 1:
        return z3.BitVec(name, WORD)
    seed = z3.BitVec(name, WORD // min_pages)
    groups = [z3.SignExt(min_pages - 1, z3.Extract(g, g, seed)) for g in reversed(range(WORD // min_pages))]
    return groups[0] if len(groups) == 1 else z3.Concat(*groups)


def scavenge_candidate(impl: CandidateImpl) -> Iterator[Obligation]:
    """findScavengeCandidate returns a run of pages that are free, unscavenged and in whole
    physical pages (m-aligned groups), aligned to the physical page, the highest such run at
    or below the search index's word, and at least min(the run, max) long; the huge-page
    extension stays inside the free run and starts on a huge-page boundary.

    Call a page usable when its m-aligned group is all free and unscavenged,
    and U_k the word of unusable pages of word k. The function reads the
    bitmaps only through fillAligned(scav[k] | alloc[k], m), which is U_k
    (first obligation for each m), a word of whole m-groups; fillAligned
    leaves such a word as it is (second), so on (alloc, scav) the function
    computes exactly what it computes on (U, 0). It is therefore explored on
    alloc = any word of whole m-groups and scav = 0, which is every U.

    The model's function runs along every path of its Python control flow
    (proofs.symbolic) on a reduced chunk of 2 words, with max symbolic (1
    to 4096; 0 too for m = 1, where the function replaces it by m). For each
    path, under its condition, with end = start + size and top = the end of
    the search index's word:
      * size == 0 exactly when no page below top is usable;
      * otherwise start < end <= top, no page of [start, end) is unusable,
        start and size are multiples of m, no page of [end, top) is usable,
        and size >= the aligned-up max or page start-1 is unusable or start is
        0 (the whole run was taken); and size <= the aligned-up max, or, when
        the huge-page extension applied, start is a huge-page boundary and
        size < the aligned-up max plus one huge page.

    Configurations: every m in 1, 2, ..., 64 with the search index in the
    upper word and huge pages off; m = 1 with the search index in the lower
    word (the upper word is ignored); m = 1 with huge pages of 2**h pages for
    every 1 <= h <= 7 (symbolic). m enters the function only through U, the
    alignment of max up to m, and whether huge pages apply (huge > m), so the
    function with m on U equals the function with m = 1 on U, max aligned up
    to m and huge pages kept only if larger than m, an input the m = 1 runs
    cover. Hence the huge-page runs for m = 1 cover every m; the extension's
    start is a multiple of the huge page, so of m. A path of the huge-page
    run that returns the very terms some huge-pages-off path returns, under a
    condition containing all that path's decisions, is one where the
    extension did not apply; it is covered by that path's claim and only
    the paths that extend are claimed again (a check confirms some do).

    Composition to Go's 8-word chunk: the function walks words from the
    search index's down. Its first loop skips words that are entirely
    unusable, its second extends the run down through words that are
    entirely usable and stops in the first that is not; each step reads one
    word of U and counts leading zeros. With 2 words every step occurs in
    every order the properties depend on (a skip, a run inside one word, a
    run that crosses into the word below, a run down to page 0); in an
    8-word chunk the same steps repeat, each extra word passed by the first
    loop adding unusable pages above the run and each extra word passed by
    the second adding usable pages to it, which keeps every property.
    """
    alloc = [z3.BitVec(f"alloc{k}", WORD) for k in range(SCAV_WORDS)]
    scav = [z3.BitVec(f"scav{k}", WORD) for k in range(SCAV_WORDS)]
    zero = [bv(0)] * SCAV_WORDS
    max_pages = z3.BitVec("max", WORD)
    h = z3.BitVec("log_huge", WORD)
    for m in MIN_PAGES:
        groups = [grouped_word(f"U{k}", m) for k in range(SCAV_WORDS)]
        yield Claim(
            f"m={m}: fillAligned(scav | alloc) marks exactly the unusable pages",
            z3.And(
                [
                    impl.fill_aligned(scav[k] | alloc[k], m) == _unusable_spec(alloc[k], scav[k], m)
                    for k in range(SCAV_WORDS)
                ]
            ),
            show=[*((f"alloc{k}", alloc[k]) for k in range(2)), *((f"scav{k}", scav[k]) for k in range(2))],
            logic="QF_BV",
        )
        yield Claim(
            f"m={m}: fillAligned keeps a word of whole groups",
            z3.And([impl.fill_aligned(g | 0, m) == g for g in groups]),
            show=[(f"U{k}", g) for k, g in enumerate(groups)],
            logic="QF_BV",
        )
    earlier: dict[tuple[int, int], list[Path]] = {}
    for config in CONFIGS:
        m = config.min_pages
        groups = [grouped_word(f"U{k}", m) for k in range(SCAV_WORDS)]
        unusable = [impl.fill_aligned(g | 0, m) for g in groups]
        huge: Any = bv(1) << h if config.huge else 0
        search = WORD * config.search_word + 17
        assumptions = [z3.ULE(max_pages, 4096)]
        if not config.max_zero:
            assumptions.append(max_pages != 0)
        if config.huge:
            assumptions += [z3.ULE(1, h), z3.ULE(h, 7)]
        label = f"m={m}, search word {config.search_word}, huge pages {'2**h' if config.huge else 'off'}"
        show = [(f"U{k}", g) for k, g in enumerate(groups)] + [("max", max_pages)]
        if config.huge:
            show.append(("huge", huge))

        def call(m: int = m, search: int = search, huge: Any = huge, groups: list[Any] = groups) -> tuple[Any, Any]:
            with replaced(bitmap, "fill_aligned", impl.fill_aligned):
                return impl.find(groups, zero, search, m, max_pages, huge)

        paths = explore(call, assumptions, logic="QF_BV")
        if not config.huge:
            earlier[(m, config.search_word)] = paths
        covered = 0
        top = WORD * (config.search_word + 1)
        below = range(config.search_word + 1)
        everything = z3.Concat(*reversed(unusable))
        aligned_max = z3.If(max_pages == 0, bv(m), (max_pages + m - 1) & ~bv(m - 1))
        for number, path in enumerate(paths, start=1):
            where = f"{label}, path {number}/{len(paths)}"
            if path.raised is not None:
                yield Claim(
                    f"{where} raises {path.raised!r}",
                    z3.BoolVal(False),
                    [*assumptions, *path.condition],
                    show,
                    feasible=True,
                )
                continue
            if config.huge and _subsumed(path, earlier.get((m, config.search_word), [])):
                covered += 1
                continue
            start, size = (_as_bv(v) for v in path.value)
            end = start + size
            before_start = z3.Extract(0, 0, z3.LShR(everything, z3.ZeroExt(WORD, start - 1))) == 1
            longest = z3.Or(
                z3.ULE(size, aligned_max),
                z3.And(start & (huge - 1) == 0, z3.ULT(size, aligned_max + huge)) if config.huge else False,
            )
            found = z3.And(
                z3.ULT(start, end),
                z3.ULE(end, top),
                *[unusable[k] & _pages_of_word(k, start, end) == 0 for k in range(SCAV_WORDS)],
                start & (m - 1) == 0,
                size & (m - 1) == 0,
                *[~unusable[k] & _pages_of_word(k, end, bv(top)) == 0 for k in below],
                z3.Or(z3.UGE(size, aligned_max), start == 0, before_start),
                longest,
            )
            nothing = z3.And([unusable[k] == bv(-1) for k in below])
            yield Claim(
                where,
                z3.If(size == 0, nothing, found),
                [*assumptions, *path.condition],
                [*show, ("start", start), ("size", size)],
                logic="QF_BV",
                feasible=True,
            )
        if config.huge:
            yield Check(
                f"{label}: {covered} of {len(paths)} paths end without the extension, as huge pages off",
                _some_extension(covered, len(paths)),
            )


def _some_extension(covered: int, total: int) -> Callable[[], str | None]:
    return lambda: None if covered < total else "no path takes the extension: the huge-page run proves nothing new"


def _subsumed(path: Path, without_huge: list[Path]) -> bool:
    """A path of the huge-page run that returns exactly the terms a huge-pages-off path returns,
    under a condition that includes all of that path's decisions: the extension did not
    apply, the function computed what it computes with huge pages off, and the off run's
    claim for that path (proved under fewer assumptions) covers it."""
    if path.raised is not None:
        return False
    mine = [_as_bv(v) for v in path.value]
    for other in without_huge:
        if other.raised is not None:
            continue
        theirs = [_as_bv(v) for v in other.value]
        if all(a.eq(b) for a, b in zip(mine, theirs, strict=True)) and all(
            any(c.eq(d) for d in path.condition) for c in other.condition
        ):
            return True
    return False


SCAVENGE_CANDIDATE = Proof(
    "scavenge_candidate",
    "findScavengeCandidate: free, unscavenged, physical-page aligned, highest run; huge extension inside it",
    scavenge_candidate,
    CandidateImpl(scavenge.find_scavenge_candidate, bitmap.fill_aligned),
    CandidateImpl(scavenge.find_scavenge_candidate, broken.fill_aligned_short_spread),
    expected_seconds=20.0,
    control="the candidate search over a broken fillAligned",
)


def alloc_range_bitmaps(alloc: list[Any], scav: list[Any], i: Any, n: Any) -> Any:
    """What PageAlloc.alloc_range does to one chunk's bitmaps: count the scavenged pages of
    the range (its return value), mark the range in use, clear its scavenged bits."""
    count = bitmap.popcnt_range(scav, i, n)
    bitmap.set_range(alloc, i, n)
    bitmap.clear_range(scav, i, n)
    return count


def free_bitmaps(alloc: list[Any], scav: list[Any], i: Any, n: Any) -> None:
    """What PageAlloc.free does to one chunk's bitmaps: clear the range's in-use bits."""
    bitmap.clear_range(alloc, i, n)


def scavenge_bitmaps(alloc: list[Any], scav: list[Any], i: Any, n: Any) -> None:
    """What PageAlloc.scavenge_one does to a chunk's bitmaps once it has a candidate run."""
    bitmap.set_range(scav, i, n)


@attrs.frozen
class ChunkOps:
    alloc: Callable[[list[Any], list[Any], Any, Any], Any]
    free: Callable[[list[Any], list[Any], Any, Any], Any]
    scavenge: Callable[[list[Any], list[Any], Any, Any], Any]
    cache: type[PageCache]


def _disjoint(alloc: list[Any], scav: list[Any]) -> Any:
    return z3.And([a & s == 0 for a, s in zip(alloc, scav, strict=True)])


def scav_disjoint(ops: ChunkOps) -> Iterator[Obligation]:
    """Every operation on a chunk keeps "no page is both scavenged and in use": allocation,
    free, cache fill, cache flush, and one scavenging step.

    On a 512-page chunk of 8 symbolic words per bitmap, with no page both
    scavenged and in use before, and every range [i, i+n) inside the chunk:
      * alloc: PageAlloc.alloc_range, per chunk, counts the range's
        scavenged pages, sets its in-use bits and clears its scavenged bits;
      * free: PageAlloc.free clears the range's in-use bits;
      * scavenge step: PageAlloc.scavenge_one sets the scavenged bits of the
        run find_scavenge_candidate returned, which is free (proved in
        `scavenge_candidate`): the claim assumes exactly that the range is
        free;
    each keeps the property. For the cache (the model's fill and flush, as
    in `cache_roundtrip`): fill (every path) leaves the taken block all in
    use and unscavenged, the rest of the chunk as it was; flush turns the
    block into (in use) & ^free, scavenged | scav (flush_lemma), which keeps
    the property because a cache's scav bits are among its free bits and its
    free pages are in use in the heap (both kept by fill and alloc, see
    `cache_roundtrip`).
    """
    alloc = [z3.BitVec(f"alloc{k}", WORD) for k in range(CHUNK_WORDS)]
    scav = [z3.BitVec(f"scav{k}", WORD) for k in range(CHUNK_WORDS)]
    i, n = z3.BitVecs("i n", WORD)
    before = [_disjoint(alloc, scav), *range_bounds(i, n, CHUNK_WORDS * WORD)]
    show = [("i", i), ("n", n)] + [(f"alloc{k}", a) for k, a in enumerate(alloc)]
    show += [(f"scav{k}", s) for k, s in enumerate(scav)]
    for name, op, extra in (
        ("alloc", ops.alloc, []),
        ("free", ops.free, []),
        (
            "scavenge step on a free range",
            ops.scavenge,
            [z3.Implies(in_range(i, n, p), z3.Not(page_bit(alloc, p))) for p in range(CHUNK_WORDS * WORD)],
        ),
    ):
        a, s = list(alloc), list(scav)
        op(a, s, i, n)
        yield Claim(name, _disjoint(a, s), [*before, *extra], show, logic="QF_BV")

    a1, s1 = z3.BitVecs("A S", WORD)
    block = [a1 & s1 == 0, a1 != bv(MASK64)]
    fills = explore_fill(a1, s1, block)
    yield Claim(
        f"cache fill ({len(fills)} paths)",
        z3.And(
            [
                z3.Not(p.when())
                if p.raised is not None
                else z3.Implies(p.when(), _disjoint(p.value.alloc_after, p.value.scav_after))
                for p in fills
            ]
        ),
        block,
        [("A", a1), ("S", s1)],
        logic="QF_BV",
    )
    yield from flush_lemma(ops.cache)
    f, c = z3.BitVecs("F C", WORD)
    yield Claim(
        "cache flush",
        (a1 & ~f) & (s1 | c) == 0,
        [a1 & s1 == 0, c & ~f == 0, f & ~a1 == 0],
        [("A", a1), ("S", s1), ("F", f), ("C", c)],
        logic="QF_BV",
    )


SCAV_DISJOINT = Proof(
    "scav_disjoint",
    "alloc, free, cache fill, cache flush and a scavenge step keep no page both scavenged and in use",
    scav_disjoint,
    ChunkOps(alloc_range_bitmaps, free_bitmaps, scavenge_bitmaps, PageCache),
    ChunkOps(broken.alloc_range_keeping_scavenged, free_bitmaps, scavenge_bitmaps, PageCache),
    expected_seconds=2.0,
    control="alloc not clearing scavenged bits",
)

PROOFS = (SCAV_DISJOINT, SCAVENGE_CANDIDATE)
