"""Proofs about summaries: packing, summarizing a word, merging, and the merge's algebra."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import attrs
import z3

from model import summary
from model.errors import ParameterError
from model.geometry import AMD64, Geometry
from model.summary import Summary, Triple
from model.words import MASK64
from proofs import broken
from proofs.core import Check, Claim, Obligation, Proof
from proofs.definitions import (
    WORD,
    addition_chain,
    has_free_window,
    is_value_of_length,
    valid_summary,
    word_summary_definition,
)
from proofs.regions import Content, Instances, Part, Region, refute

REDUCED = Geometry(chunk_pages=64, levels=2, root_bits=3, level_bits=3)
PACK_GEOMETRIES = (AMD64, REDUCED)

Merge = Callable[[Triple, Any, Triple, Any], Triple]


# pack_roundtrip


@attrs.frozen
class Packing:
    pack_triple: Callable[[Triple, Geometry], Any]
    unpack_triple: Callable[[Any, Geometry], Triple]
    is_packable: Callable[[Triple, Geometry], Any]


def pack_roundtrip(impl: Packing) -> Iterator[Obligation]:
    """unpack(pack(s, m, e)) == (s, m, e) for every summary pack accepts, and pack accepts
    exactly the consistent triples (start and end at most max) that survive the round trip.

    Fields are arbitrary 64-bit values, so "accepts exactly" covers every
    triple: one with a field above max_packed, or with max == max_packed but
    not fully free, is refused because the encoding would lose it. The fully
    free root entry (max_packed, max_packed, max_packed), which does not fit
    in a field, is Go's special case: it packs to the single bit 1 << 63 and
    unpacks back. Checked for Go's amd64 geometry (21-bit fields) and a
    reduced one (9-bit fields); the concrete checks confirm that `pack`, the
    checked entry point, raises ParameterError for refused summaries.
    """
    for g in PACK_GEOMETRIES:
        s, m, e = z3.BitVecs(f"start max end_{g.log_max_packed}", WORD)
        t = (s, m, e)
        show = [("start", s), ("max", m), ("end", e)]
        back = impl.unpack_triple(impl.pack_triple(t, g), g)
        same = z3.And(back[0] == s, back[1] == m, back[2] == e)
        limit = g.max_packed
        yield Claim(
            f"fully free {limit}-page entry round trip ({g.log_max_packed}-bit fields)",
            z3.And(
                impl.pack_triple((limit, limit, limit), g) == summary.PACKED_FULL_BIT,
                *[v == limit for v in impl.unpack_triple(z3.BitVecVal(summary.PACKED_FULL_BIT, WORD), g)],
            ),
        )
        yield Claim(
            f"round trip of packable triples ({g.log_max_packed}-bit fields)",
            z3.Implies(impl.is_packable(t, g), same),
            show=show,
        )
        consistent = z3.And(z3.ULE(s, m), z3.ULE(e, m))
        yield Claim(
            f"packable exactly when consistent and round-tripping ({g.log_max_packed}-bit fields)",
            impl.is_packable(t, g) == z3.And(consistent, same),
            show=show,
        )
    yield Check("pack refuses what it cannot encode", _pack_refusals)


def _pack_refusals() -> str | None:
    limit = AMD64.max_packed
    for s in (Summary(0, limit, 0), Summary(limit, limit, limit - 1), Summary(0, limit + 1, 0)):
        try:
            summary.pack(s, AMD64)
        except ParameterError:
            continue
        return f"pack accepted {s.as_tuple()}"
    for s in (Summary(limit, limit, limit), Summary(0, 0, 0), Summary(limit - 1, limit - 1, limit - 1)):
        if summary.unpack(summary.pack(s, AMD64), AMD64) != s:
            return f"pack/unpack changed {s.as_tuple()}"
    return None


PACK = Proof(
    "pack_roundtrip",
    "unpack(pack(s,m,e)) == (s,m,e) for every valid summary (incl. fully free); invalid ones refused",
    pack_roundtrip,
    Packing(summary.pack_triple, summary.unpack_triple, summary.is_packable),
    Packing(broken.pack_triple_without_full_case, summary.unpack_triple, summary.is_packable),
    control="pack without the fully-free special case",
)


# summarize_word


def _one_if(flag: Any, like: Any) -> Any:
    return (
        z3.If(flag, z3.BitVecVal(1, like.size()), z3.BitVecVal(0, like.size()))
        if z3.is_bv(like)
        else z3.If(flag, z3.IntVal(1), z3.IntVal(0))
    )


def summarize_word_proof(summarize: Callable[[Any], Triple]) -> Iterator[Obligation]:
    """summarize_word(x), for every 64-bit in-use word x, is the word's summary by definition:
    start = the longest free run at the start, end = at the end, max = anywhere.

    The definition is per length (proofs.definitions.word_summary_definition):
    start >= L exactly when pages [0, L) are free, end >= L exactly when
    pages [64-L, 64) are, max >= L exactly when some L consecutive pages are,
    for every L in 1..64, and all three are at most 64.

    start and end are one Z3 query each. max is the sum, over the 64 smear
    rounds, of "free is not yet zero", and a SAT solver is slow to count, so
    the query is split at the rounds' terms t_k, read off the sum the model
    built:
      1. each t_k is 1 exactly when the word has a free run of k+1 pages (a
         bit-vector query per round);
      2. having a free run of L+1 pages implies having one of L (monotone);
      3. a sum of 64 terms, each 1 exactly when its Boolean b_k holds, with
         b_{k+1} implying b_k, is >= L exactly when b_{L-1} holds (a query
         over free Booleans in place of the t_k).
    Substituting 1 into 3 (justified by 2) gives the definition for max.
    """
    x = z3.BitVec("x", WORD)
    start, most, end = summarize(x)
    show = [("x", x)]
    defs = word_summary_definition(x, start, most, end)
    for name, value in (("the all-free word 0", 0), ("the all in-use word 2**64-1", MASK64)):
        yield Claim(name, z3.substitute(z3.And(defs), (x, z3.BitVecVal(value, WORD))))
    yield Claim("start is the free run at the low end", defs[0], show=show, logic="QF_BV")
    yield Claim("end is the free run at the high end", defs[1], show=show, logic="QF_BV")
    rounds = addition_chain(most)
    if rounds is None:
        yield Claim("max is the longest free run", defs[2], show=show)
        return
    for k, t in enumerate(rounds):
        counts = t == _one_if(has_free_window(x, k + 1), t)
        yield Claim(f"smear round {k} counts a free run of {k + 1}", counts, show=show)
    for n in range(1, WORD):
        yield Claim(
            f"a free run of {n + 1} pages contains one of {n}",
            z3.Implies(has_free_window(x, n + 1), has_free_window(x, n)),
            show=show,
            logic="QF_BV",
        )
    flags = [z3.Bool(f"run_of_{k + 1}") for k in range(WORD)]
    counted = z3.substitute(most, *[(t, _one_if(flags[k], t)) for k, t in enumerate(rounds)])
    yield Claim(
        "the sum of the rounds is the longest run",
        is_value_of_length(counted, lambda n: flags[n - 1], WORD),
        assumptions=[z3.Implies(flags[k + 1], flags[k]) for k in range(WORD - 1)],
        show=[(str(f), f) for f in flags],
    )


SUMMARIZE = Proof(
    "summarize_word",
    "summarize_word(x) is (free run at start, longest free run, free run at end) of every 64-bit word",
    summarize_word_proof,
    summary.summarize_word,
    broken.summarize_word_63_rounds,
    expected_seconds=3.0,
    control="summarize_word with 63 smear rounds",
)


# merge_concat


def merge_concat(merge: Merge) -> Iterator[Obligation]:
    """summarize(a ++ b) == merge(summarize(a), summarize(b)): merging the summaries of two
    adjacent regions gives the summary of their concatenation.

    1. Words, bit-exact: for all 64-bit a and b, merge_pair (evaluated on
       64-bit words) of their summaries, as given by the definition that
       `summarize_word` proves summarize_word meets, with widths 64 and 64,
       meets the per-length definition of the summary of the 128-bit b:a.
    2. Any widths: for every content (an uninterpreted predicate on page
       numbers) and all wa, wb >= 0, if (sa, ma, ea) is the summary of
       [0, wa) and (sb, mb, eb) that of [wa, wa + wb) by the quantified
       definition (proofs.regions), then merge_pair of them, evaluated on
       unbounded integers, is the summary of [0, wa + wb). One query per part
       of the definition; a run of max free pages is A's, B's, or the one
       across the boundary starting at wa - ea.
    The lift, from 2 by induction:
      * a chunk: summarize_chunk is merge_row of its word summaries, the left
        fold merged = merge_pair(merged, 64k, s_k, 64). If merged is the
        summary of words 0..k-1 (64k pages), then by 2 with wa = 64k, wb = 64
        the new merged is that of words 0..k; with summarize_word (proved) at
        the base, the fold ends at the chunk's summary, for 512 pages or any
        other multiple of 64;
      * every tree level: an entry is merge_row of its children, each child
        covering 2**level_log_pages(l+1) pages; the same induction with those
        widths makes every entry the summary of the pages below it. A chunk
        never grown counts as all in use, and (0, 0, 0) is the summary of an
        all in-use region of any width (last obligation).
    """
    a, b = z3.BitVecs("a b", WORD)
    both = z3.Concat(b, a)
    sa, ma, ea, sb, mb, eb = z3.BitVecs("sa ma ea sb mb eb", WORD)
    word_defs = word_summary_definition(a, sa, ma, ea) + word_summary_definition(b, sb, mb, eb)
    s, m, e = merge((sa, ma, ea), WORD, (sb, mb, eb), WORD)
    whole = word_summary_definition(both, s, m, e, 2 * WORD)
    show = [("a", a), ("b", b)]
    for name, part in zip(("start", "max", "end"), (whole[0], whole[2], whole[1]), strict=True):
        yield Claim(f"{name} of two words", part, assumptions=word_defs, show=show, logic="QF_BV")

    content = Content()
    wa, wb = z3.Ints("wa wb")
    isa, ima, iea, isb, imb, ieb = z3.Ints("sa ma ea sb mb eb")
    left, right, whole_region = Region(content, 0, wa), Region(content, wa, wa + wb), Region(content, 0, wa + wb)
    hyps = [left.summary_instances(isa, ima, iea), right.summary_instances(isb, imb, ieb)]
    ms, mm, me = merge((isa, ima, iea), wa, (isb, imb, ieb), wb)
    runs = [hyps[0].witness, hyps[1].witness, wa - iea]
    show_general = [(str(v), v) for v in (wa, wb, isa, ima, iea, isb, imb, ieb)]
    for part in whole_region.summary_parts(ms, mm, me, runs):
        yield refute("regions of any widths", hyps, part, side=[wa >= 0, wb >= 0], content=content, show=show_general)
    w = z3.Int("w")
    nothing = Content("nothing_free")
    all_in_use = Instances([w >= 0], [z3.IntVal(0), w - 1], lambda t: [z3.Not(nothing.is_free(t))], lambda p: ([], []))
    for part in Region(nothing, 0, w).summary_parts(0, 0, 0, [z3.IntVal(0)]):
        yield refute("an all in-use region summarizes to (0, 0, 0)", [all_in_use], part, content=nothing)


CONCAT = Proof(
    "merge_concat",
    "summarize(a ++ b) == merge(summarize(a), summarize(b)), for words, any widths, chunks and levels",
    merge_concat,
    summary.merge_pair,
    broken.merge_pair_without_junction,
    expected_seconds=3.0,
    control="merge_pair without the a.end + b.start run",
)


# merge_assoc


def merge_assoc(merge: Merge) -> Iterator[Obligation]:
    """Merging summaries together with the widths they cover is associative, has the
    zero-width summary (0, 0, 0) as identity, and keeps summaries valid, so merging a row of
    children in any grouping gives the parent.

    Summaries are integers of any size. `valid` (proofs.definitions.valid_summary)
    is what the summary of a region of width w satisfies; the first obligation
    proves that every summary by definition is valid, so the algebra below
    applies to every real summary:
      1. summary(lo, hi) by definition implies valid with w = hi - lo;
      2. closure: merging valid summaries gives a valid one of width wa + wb;
      3. associativity: (a.b).c == a.(b.c), widths adding up;
      4. identity: merging with (0, 0, 0) of width 0, on either side, changes nothing;
      5. a row of 8 children of width w: merge_row (left to right, as Go and
         the model do it) equals the balanced grouping ((01)(23))((45)(67)).
    By 2 and 3 every grouping of a row equals every other (the usual
    induction on the number of children), and by 4 empty parts may be
    dropped; 5 is one such instance checked directly on merge_row.
    """
    content = Content()
    lo, hi = z3.Ints("lo hi")
    s, m, e = z3.Ints("s m e")
    facts = Region(content, lo, hi).summary_instances(s, m, e)
    yield refute(
        "a summary by definition is valid",
        [facts],
        Part("valid", z3.Not(valid_summary(s, m, e, hi - lo))),
        side=[lo <= hi],
        starts=[lo, facts.witness],
        content=content,
    )
    names = ("s", "m", "e")
    a = tuple(z3.Ints(" ".join(f"a_{n}" for n in names)))
    b = tuple(z3.Ints(" ".join(f"b_{n}" for n in names)))
    c = tuple(z3.Ints(" ".join(f"c_{n}" for n in names)))
    wa, wb, wc = z3.Ints("wa wb wc")
    valid = [w >= 0 for w in (wa, wb, wc)] + [
        valid_summary(*a, wa),
        valid_summary(*b, wb),
        valid_summary(*c, wc),
    ]
    show = [(f"{v}", v) for v in (*a, wa, *b, wb, *c, wc)]
    yield Claim("merge keeps summaries valid", valid_summary(*merge(a, wa, b, wb), wa + wb), valid, show)
    left = merge(merge(a, wa, b, wb), wa + wb, c, wc)
    right = merge(a, wa, merge(b, wb, c, wc), wb + wc)
    yield Claim("associativity", z3.And([x == y for x, y in zip(left, right, strict=True)]), valid, show)
    zero = (z3.IntVal(0), z3.IntVal(0), z3.IntVal(0))
    yield Claim(
        "zero-width identity",
        z3.And(
            [x == y for x, y in zip(merge(zero, 0, a, wa), a, strict=True)]
            + [x == y for x, y in zip(merge(a, wa, zero, 0), a, strict=True)]
        ),
        valid,
        show,
    )
    w = z3.Int("w")
    kids = [tuple(z3.Ints(f"k{j}_s k{j}_m k{j}_e")) for j in range(8)]
    kid_valid = [w >= 1] + [valid_summary(*k, w) for k in kids]

    def pair(x: tuple[Triple, Any], y: tuple[Triple, Any]) -> tuple[Triple, Any]:
        return merge(x[0], x[1], y[0], y[1]), x[1] + y[1]

    level = [(k, w) for k in kids]
    while len(level) > 1:
        level = [pair(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    row = summary.merge_row(kids, w) if merge is summary.merge_pair else _merge_row_with(merge, kids, w)
    yield Claim(
        "a row of 8 children: left to right == balanced",
        z3.And([x == y for x, y in zip(row, level[0][0], strict=True)]),
        kid_valid,
    )


def _merge_row_with(merge: Merge, children: list[Any], width: Any) -> Triple:
    merged = children[0]
    for i in range(1, len(children)):
        merged = merge(merged, i * width, children[i], width)
    return merged


ASSOC = Proof(
    "merge_assoc",
    "merge with widths is associative with (0,0,0)/width 0 as identity; any grouping of a row gives the parent",
    merge_assoc,
    summary.merge_pair,
    broken.merge_pair_end_off_by_one,
    control="merge_pair whose end is one page short",
)

PROOFS = (PACK, SUMMARIZE, CONCAT, ASSOC)
