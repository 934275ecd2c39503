"""The radix-tree find returns the linear first fit (tree_find_first_fit)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import z3

from model import bitmap, summary, tree
from model.geometry import Geometry
from model.summary import Triple
from proofs import broken
from proofs.core import Claim, Obligation, Proof
from proofs.definitions import valid_summary
from proofs.regions import Content, Part, Region, refute
from proofs.summary import Merge
from proofs.symbolic import explore, replaced

TREE_GEOMETRIES = (
    Geometry(chunk_pages=512, levels=3, root_bits=1, level_bits=1),
    Geometry(chunk_pages=512, levels=2, root_bits=2, level_bits=1),
    Geometry(chunk_pages=512, levels=2, root_bits=1, level_bits=2),
)


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


class SymbolicSummary:
    """A tree entry whose fields are Z3 integers (tree_find reads only these)."""

    def __init__(self, t: Triple) -> None:
        self.start, self.max, self.end = t

    def is_zero(self) -> Any:
        return self.max == 0


def tree_find_first_fit(merge: Merge) -> Iterator[Obligation]:
    """The radix-tree find (model.tree.tree_find, Go's pageAlloc.find) returns the same page
    as the linear first-fit scan, for every request size n >= 1 and every heap, when every
    page below the search hint is in use.

    1. The descent, on reduced geometries: 3 levels of 2 entries and 2 levels
       of 4 entries, over 512-page chunks (8 and 16 chunks). Each chunk is
       abstract: a summary (s, m, e) and the offset f of its first fit of n
       pages (-1 for none), all symbolic integers, constrained only by
       valid_summary and chunk_fit_facts, which every real chunk meets (2
       and 3 below). The levels above are the model's merge_row of the
       chunks' summaries (the stored tree, by merge_concat), and the model's
       tree_find runs on them along every path (proofs.symbolic), with n
       symbolic, from a search hint at every chunk (chunks below it all in
       use), and with its search in the chosen chunk's bitmap replaced by f:
       find_in_chunk(b, n, 0) is first_fit(b, n, 0), the lowest page of the
       chunk that starts n free pages inside it, which is f by definition.
       On every path its answer is the fold of fit_merge over the chunks
       from page 0: the first fit of the whole heap, by 2.
    2. fit_merge is the first fit of a concatenation: for every content and
       all widths, given the summary and first fit of [0, wa) and of
       [wa, wa+wb) by the quantified definitions (proofs.regions), it is the
       first fit of [0, wa+wb). By induction over the chunks in address
       order the fold is the first fit of the heap, i.e. heap_first_fit (a
       chunk never grown is all in use: summary (0, 0, 0), f = -1).
    3. chunk_fit_facts holds for the summary and first fit of every region.
    Why the result carries to Go's geometry (5 levels, 2**14 root entries,
    8 children each): tree_find runs the same loop at every level, over the
    entries of one block, and its decisions compare n only with sums of the
    entries' fields and widths; the reduced geometries exercise every
    branch of that loop (a zero entry, a run that fits across entries, a
    descent, a run restarting at an entry's end, a run growing through a
    fully free entry) at the root and below it, with the search hint inside
    or before the block, in every order up to 4 entries, and a descent
    followed by a further level. Along a longer block the loop only repeats
    these steps, each preserving what the run `size` ending at the current
    entry means, so the answer is the same fold; and a descent into an
    entry is sound at any level because, as in 2, the first fit lies inside
    that entry once no fit ends before it and its max is at least n.
    """
    for g in TREE_GEOMETRIES:
        yield from _descent(g, merge)
    yield from _fit_merge_lemma()
    yield from _chunk_facts_lemma()


def _descent(g: Geometry, merge: Merge) -> Iterator[Obligation]:
    width = g.chunk_pages
    n = z3.Int("n")
    chunks = [tuple(z3.Ints(f"s{c} m{c} e{c} f{c}")) for c in range(g.total_chunks)]
    facts = [n >= 1]
    for s, m, e, f in chunks:
        facts += [valid_summary(s, m, e, width), chunk_fit_facts(s, m, e, f, width, n)]
    levels: list[dict[int, Triple]] = [{} for _ in range(g.levels)]
    levels[-1] = {c: t[:3] for c, t in enumerate(chunks)}
    for level in range(g.levels - 2, -1, -1):
        bits = g.block_bits(level + 1)
        child_width = 1 << g.level_log_pages(level + 1)
        for index in range(g.level_entries(level)):
            children = [levels[level + 1][(index << bits) + j] for j in range(1 << bits)]
            levels[level][index] = _merge_row(merge, children, child_width)
    stored = [{k: SymbolicSummary(v) for k, v in level.items()} for level in levels]

    acc: tuple[Triple, Any] = (chunks[0][:3], chunks[0][3])
    covered = width
    for s, m, e, f in chunks[1:]:
        merged = summary.merge_pair(acc[0], covered, (s, m, e), width)
        acc = (merged, fit_merge(acc, covered, ((s, m, e), f), n))
        covered += width
    first_fit = acc[1]

    def leaf_search(chunk: Any, npages: Any, search_index: int) -> tuple[Any, int]:
        return chunks[chunk][3], 0

    show = [("n", n)] + [(str(v), v) for t in chunks for v in t]
    for hint_chunk in range(g.total_chunks):
        hint = g.chunk_base(hint_chunk)
        below = [chunks[c][1] == 0 for c in range(hint_chunk)]

        def run(hint: int = hint) -> Any:
            with replaced(bitmap, "find_in_chunk", leaf_search):
                page, _ = tree.tree_find(stored, lambda chunk: chunk, g, n, hint)
            return page

        paths = explore(run, facts + below)
        claims = []
        for path in paths:
            if path.raised is not None:
                claims.append(z3.Not(path.when()))
            elif path.value is None:
                claims.append(z3.Implies(path.when(), first_fit == -1))
            else:
                claims.append(z3.Implies(path.when(), z3.And(first_fit >= 0, path.value == first_fit)))
        yield Claim(
            f"{g.levels} levels of {1 << g.root_bits}/{1 << g.level_bits} entries, hint at chunk {hint_chunk} "
            f"({len(paths)} paths)",
            z3.And(claims),
            facts + below,
            show,
        )


def _merge_row(merge: Merge, children: list[Triple], width: int) -> Triple:
    if merge is summary.merge_pair:
        return summary.merge_row(children, width)
    merged = children[0]
    for i in range(1, len(children)):
        merged = merge(merged, i * width, children[i], width)
    return merged


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
    for part in Region(content, 0, wa + wb).first_fit_parts(n, merged):
        yield refute("first fit of two regions", hyps, part, side, pages=boundary, content=content)


def _chunk_facts_lemma() -> Iterator[Obligation]:
    content = Content()
    lo, hi, n, s, m, e, f = z3.Ints("lo hi n s m e f")
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


TREE_FIND = Proof(
    "tree_find_first_fit",
    "the radix-tree find returns the linear first fit (reduced geometries, any n; carried to Go's)",
    tree_find_first_fit,
    summary.merge_pair,
    broken.merge_pair_without_junction,
    expected_seconds=6.0,
    control="the tree merged without the a.end + b.start run",
)

PROOFS = (TREE_FIND,)
