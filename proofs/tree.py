"""The radix-tree find returns the linear first fit, and its first-free bound (tree_find_first_fit,
tree_find_first_fit_386).

Chunks are abstract here (see AbstractChunk): a chunk is its summary and
its first fits, integers constrained only by facts every real chunk meets
(proved from the quantified definitions of proofs.regions). Everything else
is the model's code: model.tree.tree_find, with its storage (only non-zero
entries stored), and model.bitmap.find_in_chunk at the leaf, whose two scans
(model.spec.first_fit, first_free, the plain definitions) answer from the
abstract chunk.

Only grown chunks are symbolic, and a run of chunks never grown folds as one
region (heap_first_fit), so Go's own trees (model.geometry.AMD64 and I386)
are proved with a few chunks grown as cheaply as the reduced ones:
tree_find_first_fit runs the reduced geometries and Go's amd64 tree,
tree_find_first_fit_386 Go's 386 tree.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs
import z3

from model import spec, summary, tree
from model.geometry import AMD64, ARCHES, I386, Geometry
from model.summary import Triple
from proofs.core import Claim, Obligation, Proof
from proofs.definitions import valid_summary
from proofs.regions import Content, Part, Region, refute
from proofs.symbolic import PresenceDict, explore, replaced

CHUNK = 512  # Go's chunk
TREE_GEOMETRIES = (
    Geometry(chunk_pages=CHUNK, levels=3, root_bits=1, level_bits=1),
    Geometry(chunk_pages=CHUNK, levels=2, root_bits=2, level_bits=1),
    Geometry(chunk_pages=CHUNK, levels=2, root_bits=1, level_bits=2),
)
WIDE_ROOT = Geometry(chunk_pages=CHUNK, levels=1, root_bits=7, level_bits=0)  # 128 root entries: the sorted scan
WIDE_GROWN = (0, 5, 63, 64, 127)  # the grown chunks of the wide root; the others never grown
INTERIOR = 17  # a hint inside a chunk, not at its base
HINTS = (  # per geometry: (chunk, page in it)
    [(0, INTERIOR), (1, 0), (6, 0)],
    [(0, INTERIOR)],
    [(1, 0)],
)
WIDE_HINTS = [(0, INTERIOR), (2, 0), (64, 0), (100, 0)]

# Go's own trees, a few chunks grown (inside the chunks a trace may grow on the platform) and the
# rest never grown. amd64: 2**14 root entries of 4096 chunks (the sorted listing), 5 levels.
AMD64_TOP = ARCHES["amd64"].chunk_limit() - 1  # the highest chunk an amd64 trace may grow
AMD64_GROWN = (0, 1, 4095, 4096, 100 * 4096 + 7, AMD64_TOP)
AMD64_HINTS = [(0, INTERIOR), (1, 0), (4096, 0), (200_000, 0), (AMD64_TOP, 0)]
# 386: a root of 2 entries of 512 chunks, 4 levels of 8-entry blocks below it; chunks 0 and 1023
# are never grown there (model.geometry.Arch).
I386_FIRST, I386_TOP = ARCHES["386"].first_chunk, ARCHES["386"].chunk_limit() - 1
I386_GROWN = (I386_FIRST, I386_FIRST + 1, 9, 511, 512, I386_TOP)
I386_HINTS = [(I386_FIRST, INTERIOR), (9, 0), (512, 0), (600, 0), (I386_TOP, 0)]


GO_TREES = {AMD64: "amd64", I386: "386"}


def geometry_name(g: Geometry) -> str:
    """How an obligation names its geometry: Go's platform for Go's own trees, else the tree's shape."""
    shape = f"{g.levels} levels of {1 << g.root_bits}/{1 << g.level_bits} entries"
    return f"Go's {GO_TREES[g]} tree ({shape})" if g in GO_TREES else shape


class OutsideAbstraction(AssertionError):
    """The code asked an abstract chunk something the proof's abstraction does not answer."""


@attrs.frozen
class AbstractChunk:
    """A chunk of `width` pages as the proof sees it: its summary (s, m, e), the offset f of its
    first fit of the request's n pages and ff of its first free page (-1 for none)."""

    s: Any
    m: Any
    e: Any
    f: Any
    ff: Any
    n: Any

    def facts(self, width: int) -> list[Any]:
        return [
            valid_summary(self.s, self.m, self.e, width),
            chunk_fit_facts(self.s, self.m, self.e, self.f, width, self.n),
            chunk_fit_facts(self.s, self.m, self.e, self.ff, width, 1),
            z3.Implies(self.f >= 0, self.ff <= self.f),
        ]

    def scan(self, npages: Any, from_idx: Any) -> Any:
        """model.spec.first_fit on this chunk, for the request's n or for one page. From index 0
        it is f (or ff); from a later index it is the same as long as that index is at or below
        the first free page (every page below it in use), and None when the chunk has no free
        page. Anything else is outside the abstraction."""
        if isinstance(npages, int) and npages == 1:
            value = self.ff
        elif z3.is_expr(npages) and npages.eq(self.n):
            value = self.f
        else:
            raise OutsideAbstraction(f"a chunk scan for {npages} pages")
        if not (isinstance(from_idx, int) and from_idx == 0):
            if self.ff < 0:
                return None
            if not from_idx <= self.ff:
                raise OutsideAbstraction(f"a chunk scan from index {from_idx}, past the first free page")
        return value if value >= 0 else None


def first_fit_scan(b: Any, npages: Any, from_idx: Any = 0) -> Any:
    return b.scan(npages, from_idx) if isinstance(b, AbstractChunk) else spec.first_fit(b, npages, from_idx)


def first_free_scan(b: Any, from_idx: Any = 0) -> Any:
    return b.scan(1, from_idx) if isinstance(b, AbstractChunk) else spec.first_free(b, from_idx)


def chunk_fit_facts(s: Any, m: Any, e: Any, f: Any, w: Any, n: Any) -> Any:
    """What the first fit f of n pages in a region of width w with summary (s, m, e) satisfies
    (proved from the definitions below): there is one exactly when max >= n; it lies inside;
    it is 0 when the start run is long enough, else after the start run; and it is at or
    before the end run when that is long enough."""
    return z3.And(
        f >= -1,
        (f >= 0) == (m >= n),
        z3.Implies(f >= 0, f + n <= w),
        z3.Implies(s >= n, f == 0),
        z3.Implies(z3.And(s < n, f >= 0), f >= s + 1),
        z3.Implies(z3.And(e >= n, f >= 0), f <= w - e),
    )


def fit_merge(a: tuple[Triple, Any], wa: Any, b: tuple[Triple, Any], n: Any) -> Any:
    """The first fit of n pages in region a followed by region b, from their summaries and
    first fits: a's if a has one, else the run across the boundary if a.end + b.start >= n,
    else b's (shifted by wa), else none (-1)."""
    (_sa, _ma, ea), fa = a
    (sb, _mb, _eb), fb = b
    return z3.If(fa >= 0, fa, z3.If(ea + sb >= n, wa - ea, z3.If(fb >= 0, wa + fb, -1)))


def end_merge(ea: Any, b_end: Any, wb: Any) -> Any:
    """The free run at the high end of region a followed by region b (width wb)."""
    return z3.If(b_end == wb, ea + wb, b_end)


class SymbolicSummary:
    """A tree entry whose fields are Z3 terms (tree_find reads only these)."""

    def __init__(self, t: Triple) -> None:
        self.start, self.max, self.end = t

    def is_zero(self) -> Any:
        return self.max == 0


def tree_find_first_fit() -> Iterator[Obligation]:
    """The radix-tree find (model.tree.tree_find, Go's pageAlloc.find) returns the same page as
    the linear first fit (model.spec.heap_first_fit), for every request size n >= 1 and every
    heap whose pages below the search hint are in use; and every grown page below the
    first-free bound it returns (which alloc turns into the next hint) is in use.

    1. The descent, on reduced geometries with Go's 512-page chunks: 3
       levels of 2 entries, 2 levels of 4 then 2, 2 levels of 2 then 4 (8
       chunks each), and a root of 128 entries with 5 chunks grown (so the
       root scan takes the sorted path for blocks over 64 entries, and jumps
       over chunks never grown); and on Go's amd64 tree itself
       (model.geometry.AMD64: 5 levels, 2**14 root entries of 4096 chunks,
       8-entry blocks below) with 6 chunks grown: 0 and 1 (neighbours in a
       leaf block), 4095 and 4096 (neighbours across two root entries), one
       in root entry 100, and the highest chunk an amd64 trace may grow
       (model.geometry.ARCHES). Each chunk is an AbstractChunk: its summary
       and first fits are symbolic integers constrained only by the facts
       every real chunk meets (3). The levels above are the model's
       merge_row of the chunks' summaries (the stored tree, by
       merge_concat), and an entry is stored exactly when its max is not 0,
       as the model stores only non-zero entries (PresenceDict: the
       explorer decides presence, so absent entries, and the gap path that
       resets the run across them, are covered). The model's tree_find runs
       on them along every path (proofs.symbolic), with n symbolic and every
       page below the search hint in use; at the leaf
       model.bitmap.find_in_chunk runs, its scans model.spec.first_fit and
       first_free (the definitions) answering f and ff of the chunk (a scan
       with other arguments is outside the abstraction and fails the
       proof). Hints: inside chunk 0, at chunk 1 and at chunk 6 on 3
       levels; inside chunk 0 with the 4-entry root; at chunk 1 with 4-entry
       leaf blocks; on the wide root inside chunk 0, at a chunk never grown,
       at 64 (a block of 64 entries, listed densely) and above every grown
       chunk but one. tree_find reads the hint only through the entry
       holding it at each level, so other hints differ only in which entry
       a scan starts at, which these cover (the first, second and a late
       entry of a block, a block that holds the hint and one that does
       not); on amd64's tree inside chunk 0, at chunk 1, at root entry 1's
       first chunk, at a chunk never grown in root entry 48, and at the
       highest chunk. On every path its page is the fold of fit_merge over the
       chunks from page 0, the first fit of the whole heap (2); and for
       every chunk with a free page, its first free page is at or above
       the bound.
    2. fit_merge and end_merge give the first fit and the end run of a
       concatenation: for every content and all widths, given the summary
       and first fit of [0, wa) and of [wa, wa+wb) by the quantified
       definitions (proofs.regions), they are those of [0, wa+wb). By
       induction over the chunks in address order the fold is the first fit
       of the heap (a chunk never grown is all in use: summary (0, 0, 0),
       f = ff = -1; a run of them is folded as one such region of their
       total width, which 2 covers as it covers every width).
    3. chunk_fit_facts holds for the summary and the first fit of every
       region, for n and for 1; the first free page is at or below the first
       fit.
    Why the result carries to every heap on Go's amd64 geometry (5 levels,
    2**14 root entries, 8 children each), not only those with the 6 chunks
    above grown: tree_find runs the same loop at every level, over the
    entries of one block, and its decisions compare n only with sums of the
    entries' fields and widths; the reduced geometries exercise every
    branch of that loop (an absent entry, a run that fits across entries, a
    descent, a run restarting at an entry's end, a run growing through a
    fully free entry, both ways of listing a block's entries) at the root
    and below it, with the search hint inside or before the block, in every
    order up to 4 entries, and a descent followed by a further level. Along
    a longer block the loop only repeats these steps, each preserving what
    the run `size` ending at the current entry means, so the answer is the
    same fold; and a descent into an entry is sound at any level because,
    as in 2, the first fit lies inside that entry once no fit ends before
    it and its max is at least n. The bound is the base of the first stored
    entry met at or after the hint's entry at the deepest level where one
    was met inside the bound, or the chunk's first free page: the same at
    any depth. Go's 386 tree has its own proof, tree_find_first_fit_386.
    """
    for g, hints in zip(TREE_GEOMETRIES, HINTS, strict=True):
        yield from _descent(g, tuple(range(g.total_chunks)), hints)
    yield from _descent(WIDE_ROOT, WIDE_GROWN, WIDE_HINTS)
    yield from _descent(AMD64, AMD64_GROWN, AMD64_HINTS)
    yield from _fit_merge_lemma()
    yield from _chunk_facts_lemma()


def tree_find_first_fit_386() -> Iterator[Obligation]:
    """On Go's 386 tree (model.geometry.I386: 4 levels, a root of 2 entries of 512 chunks,
    8-entry blocks below, 1024 chunks), the radix-tree find returns the linear first fit, and
    every grown page below its first-free bound is in use, as tree_find_first_fit states.

    The descent of tree_find_first_fit (1) on I386 itself, with 6 chunks
    grown inside the chunks a 386 trace may grow (ARCHES["386"]: [1,
    1023)): 1 and 2 (neighbours in leaf block 0, whose chunk 0 is never
    grown), 9 (the next level-2 entry), 511 and 512 (neighbours across the
    two root entries: a run that fits across them is found at the root),
    and 1022 (the highest; root entry 1 ends in chunk 1023, never grown).
    Hints: inside chunk 1, at chunk 9, at chunk 512 (the root scan starts at
    its second entry), at chunk 600 (never grown, inside root entry 1), and
    at chunk 1022. The lemmas the descent stands on (2 and 3 there: the
    fold of fit_merge is the heap's first fit, and the facts of an abstract
    chunk) hold for regions of any width and are proved here too.
    Why it carries to every 386 heap, whichever chunks are grown: the
    argument of tree_find_first_fit, for a root block of 2 entries (which
    its 3-level reduced geometry also has) and 8-entry blocks below it;
    4 levels only repeat the descent one more time. A 386 root entry is
    never fully free (pack_roundtrip_386), so the run-through-a-fully-free-
    entry step never happens at the 386 root; below it, it is the step the
    reduced geometries exercise.
    """
    yield from _descent(I386, I386_GROWN, I386_HINTS)
    yield from _fit_merge_lemma()
    yield from _chunk_facts_lemma()


def abstract_chunks(
    g: Geometry, grown: tuple[int, ...], n: Any, make: Any = z3.Ints
) -> tuple[dict[int, AbstractChunk], list[Any]]:
    """An AbstractChunk per grown chunk (Z3 integers, or bit-vectors with make=bitvectors), and
    the facts every real chunk meets."""
    chunks = {c: AbstractChunk(*make(f"s{c} m{c} e{c} f{c} ff{c}"), n) for c in grown}
    facts = [n >= 1]
    for chunk in chunks.values():
        facts += chunk.facts(g.chunk_pages)
    return chunks, facts


def stored_levels(g: Geometry, chunks: dict[int, AbstractChunk]) -> list[PresenceDict]:
    """The stored tree: the model's merges of the chunks' summaries, an entry stored when non-zero."""
    return [PresenceDict(level, lambda s: s.max != 0) for level in _levels(g, chunks)]


def _descent(g: Geometry, grown: tuple[int, ...], hints: list[tuple[int, int]]) -> Iterator[Obligation]:
    n = z3.Int("n")
    chunks, facts = abstract_chunks(g, grown, n)
    stored = stored_levels(g, chunks)
    first_fit, first_free_ok = heap_first_fit(g, chunks, n)
    show = [("n", n)] + [(str(v), v) for c in chunks.values() for v in (c.s, c.m, c.e, c.f, c.ff)]
    for hint_chunk, offset in hints:
        hint = g.chunk_base(hint_chunk) + offset
        below = [ch.m == 0 for c, ch in chunks.items() if c < hint_chunk]
        if hint_chunk in chunks:
            below.append(z3.Or(chunks[hint_chunk].ff == -1, chunks[hint_chunk].ff >= offset))

        def run(hint: int = hint) -> Any:
            with replaced(spec, "first_fit", first_fit_scan), replaced(spec, "first_free", first_free_scan):
                return tree.tree_find(stored, lambda chunk: chunks[chunk], g, n, hint)

        paths = explore(run, facts + below)
        claims = []
        for path in paths:
            if path.raised is not None:
                claims.append(z3.Not(path.when()))
                continue
            page, bound = path.value
            if page is None:
                claims.append(z3.Implies(path.when(), first_fit == -1))
            else:
                claims.append(z3.Implies(path.when(), z3.And(first_fit >= 0, page == first_fit, first_free_ok(bound))))
        yield Claim(
            f"{geometry_name(g)}, {len(grown)} chunks grown, "
            f"hint at chunk {hint_chunk} + {offset} ({len(paths)} paths)",
            z3.And(claims),
            facts + below,
            show,
        )


def _levels(g: Geometry, chunks: dict[int, AbstractChunk]) -> list[dict[int, Any]]:
    """Every level of the stored tree: the chunks' summaries, merged up with the model's merge_row."""
    triples: list[dict[int, Triple]] = [{} for _ in range(g.levels)]
    triples[-1] = {c: (ch.s, ch.m, ch.e) for c, ch in chunks.items()}
    for level in range(g.levels - 2, -1, -1):
        bits = g.block_bits(level + 1)
        child_width = 1 << g.level_log_pages(level + 1)
        for index in sorted({c >> bits for c in triples[level + 1]}):
            children = [triples[level + 1].get((index << bits) + j, (0, 0, 0)) for j in range(1 << bits)]
            triples[level][index] = summary.merge_row(children, child_width)
    return [{k: SymbolicSummary(v) for k, v in level.items()} for level in triples]


def heap_first_fit(g: Geometry, chunks: dict[int, AbstractChunk], n: Any) -> tuple[Any, Any]:
    """The first fit of the heap, folded with fit_merge over the chunks in address order, and
    "every grown page below this page is in use".

    A run of chunks never grown is one region, all in use, whatever its width: summary
    (0, 0, 0) (merge_concat) and no fit (chunk_fit_facts with max 0). fit_merge and end_merge
    hold for regions of any widths (_fit_merge_lemma), so folding the run as one region is the
    same as folding its chunks one by one, and keeps the terms small when a geometry of Go's
    size has hundreds of chunks never grown between two grown ones."""

    def const(v: int) -> Any:
        return z3.BitVecVal(v, n.size()) if z3.is_bv(n) else z3.IntVal(v)

    fit: Any = const(-1)  # of the empty region [0, 0)
    end: Any = const(0)
    covered = 0
    c = 0
    while c <= max(chunks):
        ch = chunks.get(c)
        if ch is not None:
            s, e, f, chunk_count = ch.s, ch.e, ch.f, 1
        else:
            chunk_count = min(k for k in chunks if k > c) - c
            s, e, f = const(0), const(0), const(-1)
        width = chunk_count * g.chunk_pages
        fit = fit_merge(((0, 0, end), fit), covered, ((s, 0, e), f), n)
        end = end_merge(end, e, width)
        covered += width
        c += chunk_count

    first_free: Any = const(-1)  # the heap's lowest free page, -1 for none
    for c in sorted(chunks, reverse=True):
        ch = chunks[c]
        first_free = z3.If(ch.ff >= 0, g.chunk_base(c) + ch.ff, first_free)

    def below_in_use(page: Any) -> Any:
        return z3.Or(first_free == -1, first_free >= page)

    return fit, below_in_use


def bitvectors(names: str) -> list[Any]:
    return list(z3.BitVecs(names, 64))


def _fit_merge_lemma() -> Iterator[Obligation]:
    content = Content()
    wa, wb, n = z3.Ints("wa wb n")
    a = tuple(z3.Ints("sa ma ea"))
    b = tuple(z3.Ints("sb mb eb"))
    fa, fb = z3.Ints("fa fb")
    left, right = Region(content, 0, wa), Region(content, wa, wa + wb)
    hyps = [
        left.summary_instances(*a),
        left.first_fit_instances(n, fa),
        right.summary_instances(*b),
        right.first_fit_instances(n, fb),
    ]
    merged = fit_merge((a, fa), wa, (b, fb), n)
    side = [wa >= 0, wb >= 0, n >= 1]
    boundary = [wa - a[2], wa - a[2] - 1, wa + b[0]]
    whole = Region(content, 0, wa + wb)
    for part in whole.first_fit_parts(n, merged):
        yield refute("first fit of two regions", hyps, part, side, pages=boundary, content=content)
    summary_hyps = [hyps[0], hyps[2]]
    parts = whole.summary_parts(z3.IntVal(0), wa + wb, end_merge(a[2], b[2], wb), [])
    for part in (p for p in parts if p.name.startswith("end")):
        yield refute("end run of two regions", summary_hyps, part, [wa >= 0, wb >= 0], pages=boundary, content=content)


def _chunk_facts_lemma() -> Iterator[Obligation]:
    content = Content()
    lo, hi, n, s, m, e, f, ff = z3.Ints("lo hi n s m e f ff")
    region = Region(content, lo, hi)
    hyps = [region.summary_instances(s, m, e), region.first_fit_instances(n, f)]
    yield refute(
        "a region's first fit and summary meet chunk_fit_facts",
        hyps,
        Part("chunk_fit_facts", z3.Not(chunk_fit_facts(s, m, e, f, hi - lo, n))),
        side=[lo <= hi, n >= 1],
        starts=[lo, lo + f, hi - e, hyps[0].witness],
        pages=[lo + s],
        content=content,
    )
    fits = [region.first_fit_instances(n, f), region.first_fit_instances(z3.IntVal(1), ff)]
    yield refute(
        "the first free page is at or below the first fit",
        fits,
        Part("ff <= f", z3.Not(z3.Implies(f >= 0, z3.And(ff >= 0, ff <= f)))),
        side=[lo <= hi, n >= 1],
        starts=[lo + f],
        pages=[lo + f],
        content=content,
    )


TREE_FIND = Proof(
    "tree_find_first_fit",
    "the radix-tree find returns the linear first fit, and every grown page below its first-free bound is in use "
    "(reduced geometries and Go's amd64 tree, absent entries, any n and hint; carried to every amd64 heap)",
    tree_find_first_fit,
    "tree_find_fit_strict",
    expected_seconds=11.0,
)

TREE_FIND_386 = Proof(
    "tree_find_first_fit_386",
    "on Go's 386 tree (a root of 2 entries, 4 levels): the radix-tree find returns the linear first fit, "
    "and every grown page below its first-free bound is in use",
    tree_find_first_fit_386,
    "tree_find_descend_strict",
    expected_seconds=2.0,
)

PROOFS = (TREE_FIND, TREE_FIND_386)
