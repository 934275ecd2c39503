"""Proofs about scavenging: the candidate search, and "no page both scavenged and in use".

scavenge_candidate runs model.scavenge.find_scavenge_candidate on symbolic
bitmaps and states SPEC §7's rule exactly (the same rule as
model.spec.scavenge_candidate). scav_disjoint runs the model's PageAlloc
methods and page-cache functions that change the bitmaps on a proofs.states
heap.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs
import z3

from model import scavenge, spec, words
from model.geometry import Geometry
from model.pagealloc import PageAlloc
from proofs.core import Claim, Obligation, Proof
from proofs.definitions import WORD, bv
from proofs.pagecache import CACHE_GEOMETRY, explore_fill, fill_facts, flush_lemma
from proofs.states import State, as_term, words_after
from proofs.symbolic import explore, replaced

SCAV_WORDS = 2  # a reduced chunk of 128 pages: enough for runs that cross a word boundary
MIN_PAGES = (1, 2, 4, 8, 16, 32, 64)
SEARCH_INDEX = WORD * (SCAV_WORDS - 1) + 17  # in the upper word


@attrs.frozen
class Config:
    min_pages: int
    search_word: int
    huge: bool
    max_zero: bool  # whether max may be 0 (Go's "no limit but one physical page")
    words: int = SCAV_WORDS


CONFIGS = (  # cheapest first, so a seeded bug is usually refuted early
    *(Config(m, SCAV_WORDS - 1, False, False) for m in reversed(MIN_PAGES[1:])),
    Config(1, 0, False, False),
    Config(1, SCAV_WORDS - 1, False, True),
    Config(8, SCAV_WORDS - 1, True, False),
    Config(32, 2, False, False, words=3),  # a run passing through a whole word and stopping in the next
)


class Usable:
    """Which pages of a 128-page chunk may be scavenged: those whose m-aligned group is all free
    and unscavenged, by definition (model.spec.fill_aligned of alloc | scavenged, per word).
    Stated page by page (no shifts by a symbolic amount, which Z3 solves slowly)."""

    def __init__(self, alloc: list[Any], scav: list[Any], m: int) -> None:
        self.unusable = [spec.fill_aligned(a | s, m) for a, s in zip(alloc, scav, strict=True)]
        pages = WORD * len(alloc)
        self.bits = [z3.Extract(p % WORD, p % WORD, self.unusable[p // WORD]) == 0 for p in range(pages)]

    def page(self, p: Any) -> Any:
        return z3.Or([z3.And(p == q, bit) for q, bit in enumerate(self.bits)])

    def all_usable(self, lo: Any, hi: Any) -> Any:
        return z3.And([z3.Implies(_between(lo, q, hi), bit) for q, bit in enumerate(self.bits)])

    def none_usable(self, lo: Any, hi: Any) -> Any:
        return z3.And([z3.Implies(_between(lo, q, hi), z3.Not(bit)) for q, bit in enumerate(self.bits)])


def _between(lo: Any, q: int, hi: Any) -> Any:
    return z3.And(z3.ULE(lo, q), z3.ULT(q, hi))


def grouped_word(name: str, min_pages: int) -> Any:
    """A symbolic word made of whole min-aligned groups (each all ones or all zeros)."""
    seed = z3.BitVec(name, WORD // min_pages)
    groups = [z3.SignExt(min_pages - 1, z3.Extract(g, g, seed)) for g in reversed(range(WORD // min_pages))]
    return groups[0] if len(groups) == 1 else z3.Concat(*groups)


def expected_candidate(
    usable: Usable, top: int, m: int, max_pages: Any, huge: Any, end: Any, bottom: Any
) -> tuple[Any, Any, Any]:
    """SPEC §7's candidate, given the run [bottom, end) of usable pages ending at the highest
    usable page below `top`: (its definition holds, expected start, expected size)."""
    defined = z3.And(
        z3.ULT(0, end), z3.ULE(end, top), usable.page(end - 1), usable.none_usable(end, bv(top)),
        z3.ULT(bottom, end), usable.all_usable(bottom, end), z3.Or(bottom == 0, z3.Not(usable.page(bottom - 1))),
    )
    wanted = z3.If(max_pages == 0, bv(m), (max_pages + m - 1) & ~bv(m - 1))
    run = end - bottom
    size = z3.If(z3.ULE(run, wanted), run, wanted)
    start = end - size
    if huge is not None:
        applies = z3.And(z3.UGT(huge, 1), z3.UGT(huge, m))
        above = (start + huge - 1) & ~(huge - 1)
        below = start & ~(huge - 1)
        start = z3.If(z3.And(applies, z3.ULE(above, end), z3.UGE(below, bottom)), below, start)
    return defined, start, end - start


def scavenge_candidate() -> Iterator[Obligation]:
    """findScavengeCandidate, with no huge pages, returns exactly SPEC §7's run
    (model.spec.scavenge_candidate): the highest run of pages whose physical page is all free
    and unscavenged, ending at or below the top of the search index's word; from its top,
    min(run, max aligned up to whole physical pages) pages.

    The model's function runs along every path of its Python control flow
    (proofs.symbolic) on a reduced chunk of 2 words, with max symbolic (1 to
    4096; 0 too for m = 1, where max means one physical page). For m = 1 the
    allocation and scavenged words are symbolic and independent. For m > 1
    the allocation words are any words made of whole m-page groups and the
    scavenged words 0: the function reads the bitmaps only through
    fillAligned(scavenged | alloc, m) (the m = 1 runs show on the code that
    it reads both), which is always such a word (fill_aligned), so these
    inputs give every value it can read. For each path, with U the unusable
    pages by definition (model.spec.fill_aligned of alloc | scavenged, so no
    part of the mechanism enters the expectation), top the end of the search
    index's word: if the path returns size 0, every page below top is
    unusable; otherwise some page is usable and, for the end and bottom of
    the highest usable run below top (constrained by their definitions, so
    unique), start and size are exactly the rule's.

    Configurations: m = 64, 32, ..., 1 with the search index in the upper
    word; m = 1 with the search index in the lower word (the upper word is
    ignored); m = 32 on a chunk of 3 words, searched from the top word, so
    that the run can pass through a whole word and stop inside the next and
    the first loop can skip two words.

    Composition to Go's 8-word chunk (written): the function walks words
    from the search index's down. Its first loop skips words that are
    entirely unusable, its second extends the run down through words that
    are entirely usable and stops in the first that is not; each step reads
    one word of U and counts leading zeros. With 2 and 3 words every step
    occurs in every order the rule depends on (a skip, two skips, a run
    inside one word, a run that crosses into the word below, a run through a
    whole word that stops in the next, a run down to page 0); in an 8-word
    chunk the same steps repeat, each extra word passed by the first loop
    adding unusable pages above the run and each extra word passed by the
    second adding usable pages to it, which is what the rule's run means.
    tests/model/test_spec.py compares function and definition on 2-word
    chunks with random bitmaps and parameters.
    """
    yield from _candidates([c for c in CONFIGS if not c.huge])


def scavenge_huge_pages() -> Iterator[Obligation]:
    """findScavengeCandidate's huge-page extension is exactly SPEC §7's rule: with huge pages of H
    pages, H > max(1, m), if the huge-page boundary at or above the candidate's start lies at or
    below the run's end, and the boundary at or below the start is still inside the run, the
    start moves down to that boundary (the size grows to match); otherwise nothing changes.

    As scavenge_candidate (the whole result is claimed exactly, against the
    same definitions), for m = 8 on a 2-word chunk with huge pages of 2**h
    pages for every 1 <= h <= 7 (h symbolic, so both H <= m, where the rule
    does not apply, and H > m, where it does, up to a huge page of the whole
    chunk). m enters the extension only through whether it applies and
    through the start being a multiple of m; with m = 1, where the start can
    be any page, tests/model/test_spec.py compares function and definition
    (m = 1 with symbolic huge pages proves too, in some 20 s, too slow for
    the default run).
    """
    yield from _candidates([c for c in CONFIGS if c.huge])


def _candidates(configs: list[Config]) -> Iterator[Obligation]:
    words_alloc = [z3.BitVec(f"alloc{k}", WORD) for k in range(SCAV_WORDS)]
    words_scav = [z3.BitVec(f"scav{k}", WORD) for k in range(SCAV_WORDS)]
    max_pages = z3.BitVec("max", WORD)
    h = z3.BitVec("log_huge", WORD)
    end, bottom = z3.BitVecs("run_end run_bottom", WORD)
    for config in configs:
        m = config.min_pages
        if m == 1:
            alloc, scav = words_alloc[: config.words], words_scav[: config.words]
        else:
            alloc, scav = [grouped_word(f"U{k}", m) for k in range(config.words)], [bv(0)] * config.words
        huge: Any = bv(1) << h if config.huge else None
        search = WORD * config.search_word + 17
        assumptions = [z3.ULE(max_pages, 4096)]
        if not config.max_zero:
            assumptions.append(max_pages != 0)
        if config.huge:
            assumptions += [z3.ULE(1, h), z3.ULE(h, 7)]
        huge_text = "2**h" if config.huge else "off"
        label = f"m={m}, {config.words} words, search word {config.search_word}, huge pages {huge_text}"
        show = [(f"alloc{k}", w) for k, w in enumerate(alloc)] + [(f"scav{k}", w) for k, w in enumerate(scav)]
        show += [("max", max_pages)] + ([("huge", huge)] if config.huge else [])

        def call(
            m: int = m, search: int = search, huge: Any = huge, alloc: list[Any] = alloc, scav: list[Any] = scav
        ) -> tuple[Any, Any]:
            return scavenge.find_scavenge_candidate(alloc, scav, search, m, max_pages, 0 if huge is None else huge)

        paths = explore(call, assumptions, logic="QF_BV")
        usable = Usable(alloc, scav, m)
        top = WORD * (config.search_word + 1)
        none = usable.none_usable(bv(0), bv(top))
        defined, want_start, want_size = expected_candidate(usable, top, m, max_pages, huge, end, bottom)
        for number, path in enumerate(paths, start=1):
            where = f"{label}, path {number}/{len(paths)}"
            if path.raised is not None:
                yield Claim(f"{where} raises {path.raised!r}", z3.BoolVal(False), [*assumptions, *path.condition],
                            show, feasible=True)
                continue
            start, size = (as_term(v) for v in path.value)
            exact = z3.And(z3.Not(none), z3.Implies(defined, z3.And(start == want_start, size == want_size)))
            yield Claim(
                where,
                z3.If(size == 0, none, exact),
                [*assumptions, *path.condition],
                [*show, ("start", start), ("size", size), ("run_end", end), ("run_bottom", bottom)],
                logic="QF_BV",
                feasible=True,
            )


SCAVENGE_CANDIDATE = Proof(
    "scavenge_candidate",
    "findScavengeCandidate returns exactly SPEC §7's run: the highest free unscavenged run of whole physical "
    "pages below the search word, max rounded up to physical pages",
    scavenge_candidate,
    "candidate_ignores_max",
    expected_seconds=15.0,
)

SCAVENGE_HUGE_PAGES = Proof(
    "scavenge_huge_pages",
    "findScavengeCandidate's huge-page extension is exactly SPEC §7's rule",
    scavenge_huge_pages,
    "candidate_huge_size_not_extended",
    expected_seconds=8.0,
)


# scav_disjoint

DISJOINT_GEOMETRY: Geometry = CACHE_GEOMETRY  # two chunks of 128 pages, both grown


def _words(state: State, words_: dict[int, list[Any]]) -> list[Any]:
    """The heap's words in address order (every chunk grown)."""
    return [w for c in state.grown for w in words_[c]]


POPCOUNT = z3.Function("popcount", z3.BitVecSort(WORD), z3.BitVecSort(WORD))


def _popcounts(term: Any) -> list[Any] | None:
    """The arguments of the POPCOUNT applications a sum of them (and zeros) is made of, or None."""
    if z3.is_app(term) and term.decl().eq(POPCOUNT):
        return [term.arg(0)]
    if z3.is_bv_value(term) and term.as_long() == 0:
        return []
    if z3.is_app_of(term, z3.Z3_OP_BADD):
        out: list[Any] = []
        for k in range(term.num_args()):
            part = _popcounts(term.arg(k))
            if part is None:
                return None
            out += part
        return out
    return None


def _count_claim(count: Any, scav: list[Any], masks: list[Any], facts: list[Any], show: list[Any]) -> Claim:
    """count == sum over words w of popcount(scav[w] & masks[w]). When count is a sum of popcounts
    of scav[w] & something, one per word at most, it is claimed word by word: each argument equals
    scav[w] & masks[w], and every word without one has no page in the range (popcount(0) = 0);
    the sums are then equal term by term. Otherwise the equality is claimed as it stands."""
    args = _popcounts(count)
    by_word: dict[int, Any] = {}
    for x in args or []:
        word = next((w for w, s in enumerate(scav) if z3.is_app_of(x, z3.Z3_OP_BAND) and x.arg(0).eq(s)), None)
        if word is None or word in by_word:
            args = None
            break
        by_word[word] = x
    label = "alloc_range returns the scavenged pages of the range"
    if args is None:
        expected = sum((POPCOUNT(s & m) for s, m in zip(scav, masks, strict=True)), bv(0))
        return Claim(label, count == expected, facts, show, logic="QF_UFBV", feasible=True)
    parts = [by_word[w] == scav[w] & masks[w] if w in by_word else scav[w] & masks[w] == 0 for w in range(len(scav))]
    return Claim(f"{label}, word by word", z3.And(parts), facts, show, logic="QF_BV", feasible=True)


def scav_disjoint() -> Iterator[Obligation]:
    """Every operation that changes the bitmaps keeps "no page is both scavenged and in use":
    PageAlloc.alloc_range (what alloc does once it has a page), PageAlloc.free, the
    scavenger's PageAlloc.scavenge_one, page-cache fill and flush.

    On a proofs.states heap of two 128-page chunks with symbolic bitmaps, no
    page both scavenged and in use before, the model's methods run along
    every path:
      * alloc_range(page, n), any range inside the heap (page and n
        symbolic, across the chunk boundary or not): the range becomes in
        use and unscavenged, nothing else changes (page by page, with
        model.spec.range_mask), and it returns the sum over the heap's words
        of popcount(scavenged & the range's part of the word), the number of
        scavenged pages the range had (popcount is left uninterpreted here,
        with popcount(0) = 0; alloc_free_bits proves it counts bits);
      * free(page, n) of any range all in use (free's refusal checks are
        not under proof: the range is assumed in use): the range becomes
        free, nothing else changes;
      * scavenge_one(chunk, search index, max) for the upper chunk, from a
        search index in its upper word (scavenge_candidate covers the
        search), max symbolic, physical pages of one page, and the
        chunk's leaf summary any that meets State.leaf_facts: the real
        candidate search runs (on these very bitmaps) and its run is marked
        scavenged;
      * cache fill, from any hint on its every path (proofs.pagecache);
      * cache flush: page by page (flush_lemma) it turns the block into
        (in use) & ^free, scavenged | scav, which keeps the property
        because a cache's scav bits are among its free bits and its free
        pages are in use in the heap (cache_roundtrip keeps both).
    After each, no page is both scavenged and in use.
    Both platforms: every one of these works page by page inside chunks
    (fill's one-page tree search aside, see cache_roundtrip), and chunks and
    their bitmaps are the same on amd64 and 386, so the two-chunk heap
    stands for both.
    """
    state = State(DISJOINT_GEOMETRY, (0, 1))
    g = state.geometry
    page, n = z3.BitVecs("page n", WORD)
    range_facts = [*state.disjoint(), z3.ULE(1, n), z3.ULE(n, g.no_free_page), z3.ULE(page + n, g.no_free_page),
                   z3.ULE(page, g.no_free_page)]
    before_alloc, before_scav = _words(state, state.alloc), _words(state, state.scav)
    masks = [spec.range_mask(w, page, n) for w in range(len(before_alloc))]
    show = [("page", page), ("n", n), *state.show()[1:]]

    def alloc_range() -> Any:
        pa = state.heap()
        with replaced(words, "popcount", lambda x: POPCOUNT(as_term(x))):
            count = pa.alloc_range(page, n)
        return count, words_after(pa, state.grown)

    claims, counts = [], []
    paths = explore(alloc_range, range_facts, logic="QF_BV")
    count_facts = [*range_facts, POPCOUNT(bv(0)) == 0]
    for path in paths:
        if path.raised is not None:
            claims.append(z3.Not(path.when()))
            continue
        count, (alloc, scav) = path.value
        after_alloc, after_scav = _words(state, alloc), _words(state, scav)
        claims.append(z3.Implies(path.when(), z3.And(
            [a & s == 0 for a, s in zip(after_alloc, after_scav, strict=True)]
            + [a == b | m for a, b, m in zip(after_alloc, before_alloc, masks, strict=True)]
            + [a == b & ~m for a, b, m in zip(after_scav, before_scav, masks, strict=True)]
        )))
        counts.append(_count_claim(as_term(count), before_scav, masks, [*count_facts, *path.condition], show))
    yield Claim(f"alloc_range ({len(paths)} paths)", z3.And(claims), range_facts, show, logic="QF_BV")
    yield from counts

    def free() -> Any:
        pa = state.heap()
        with replaced(PageAlloc, "check_free", lambda self, page, npages: None):
            pa.free(page, n)
        return words_after(pa, state.grown)

    in_use = [a & m == m for a, m in zip(before_alloc, masks, strict=True)]
    paths = explore(free, range_facts + in_use, logic="QF_BV")
    claims = []
    for path in paths:
        if path.raised is not None:
            claims.append(z3.Not(path.when()))
            continue
        after_alloc, after_scav = (_words(state, w) for w in path.value)
        claims.append(z3.Implies(path.when(), z3.And(
            [a & s == 0 for a, s in zip(after_alloc, after_scav, strict=True)]
            + [a == b & ~m for a, b, m in zip(after_alloc, before_alloc, masks, strict=True)]
            + [a == b for a, b in zip(after_scav, before_scav, strict=True)]
        )))
    yield Claim(f"free ({len(paths)} paths)", z3.And(claims), range_facts + in_use, show, logic="QF_BV")

    search, most = SEARCH_INDEX, z3.BitVec("most", WORD)
    for chunk in state.grown[-1:]:  # the chunk is only looked up; its number changes nothing else
        facts = [*state.disjoint(), *state.leaf_facts(), z3.ULE(most, 4096)]

        def scavenge_one(chunk: int = chunk) -> Any:
            pa = state.heap()
            released = pa.scavenge_one(chunk, search, most)
            return released, words_after(pa, state.grown)

        paths = explore(scavenge_one, facts, logic="QF_BV")
        claims = []
        for path in paths:
            if path.raised is not None:
                claims.append(z3.Not(path.when()))
                continue
            after_alloc, after_scav = (_words(state, w) for w in path.value[1])
            claims.append(z3.Implies(path.when(), z3.And(
                [a & s == 0 for a, s in zip(after_alloc, after_scav, strict=True)]
                + [a == b for a, b in zip(after_alloc, before_alloc, strict=True)]
            )))
        yield Claim(
            f"scavenge_one in chunk {chunk} ({len(paths)} paths)",
            z3.And(claims),
            facts,
            [("max", most), *state.show()[1:]],
            logic="QF_BV",
        )

    fill_state = State(CACHE_GEOMETRY, (0, 1), "fill_")
    fills = explore_fill(fill_state)
    claims = []
    for path in fills:
        if path.raised is not None:
            claims.append(z3.Not(path.when()))
            continue
        after = zip(_words(fill_state, path.value.alloc), _words(fill_state, path.value.scav), strict=True)
        claims.append(z3.Implies(path.when(), z3.And([a & s == 0 for a, s in after])))
    yield Claim(f"cache fill ({len(fills)} paths)", z3.And(claims), fill_facts(fill_state), fill_state.show(),
                logic="QF_BV")
    yield from flush_lemma()
    a1, s1, f, c = z3.BitVecs("A S F C", WORD)
    yield Claim(
        "cache flush",
        (a1 & ~f) & (s1 | c) == 0,
        [a1 & s1 == 0, c & ~f == 0, f & ~a1 == 0],
        [("A", a1), ("S", s1), ("F", f), ("C", c)],
        logic="QF_BV",
    )


SCAV_DISJOINT = Proof(
    "scav_disjoint",
    "alloc_range, free, scavenge_one, cache fill and flush keep no page both scavenged and in use",
    scav_disjoint,
    "alloc_range_keeps_scavenged",
    expected_seconds=6.5,
)

PROOFS = (SCAV_DISJOINT, SCAVENGE_CANDIDATE, SCAVENGE_HUGE_PAGES)


