"""Proofs about summaries: packing, summarizing a word, merging, and the merge's algebra.

Each proof evaluates model.summary's functions on Z3 terms: pack_triple,
unpack_triple and is_packable (the snapshot encoding); summarize_word on both
its paths; merge_pair, merge_row and summarize_words (what the tree stores).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import z3

from model import spec, summary, words
from model.errors import ParameterError
from model.geometry import AMD64, Geometry
from model.summary import Summary, Triple
from model.words import MASK64
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
from proofs.symbolic import explore, replaced

REDUCED = Geometry(chunk_pages=64, levels=2, root_bits=3, level_bits=3)
PACK_GEOMETRIES = (AMD64, REDUCED)

ROW = 8  # children per row: Go's 8 words per chunk and 8 children per entry


# pack_roundtrip


def pack_roundtrip() -> Iterator[Obligation]:
    """unpack(pack(s, m, e)) == (s, m, e) for every summary pack accepts, pack accepts exactly the
    consistent triples (start and end at most max) that survive the round trip, and both put
    each field where Go's layout does, bit by bit.

    Fields are arbitrary 64-bit values, so "accepts exactly" covers every
    triple: one with a field above max_packed, or with max == max_packed but
    not fully free, is refused because the encoding would lose it. The fully
    free root entry (max_packed, max_packed, max_packed), which does not fit
    in a field, is Go's special case: it packs to the single bit 1 << 63 and
    unpacks back. The layout (model.spec.packed_bit_owner: start in bits
    0-20, max in 21-41, end in 42-62 on amd64, bit 63 for the fully free
    entry) is checked bit by bit for pack_triple on every packable triple and
    for unpack_triple on every word without bit 63, so a pair that agrees on
    another layout (start and end swapped in both) does not prove. Checked
    for Go's amd64 geometry (21-bit fields) and a reduced one (9-bit fields);
    the concrete checks confirm that `pack`, the checked entry point, raises
    ParameterError for refused summaries. The model packs summaries only for
    state snapshots (oracle.pagealloc.state); the tree stores them unpacked.
    """
    for g in PACK_GEOMETRIES:
        bits = g.log_max_packed
        s, m, e = z3.BitVecs(f"start max end_{bits}", WORD)
        t = (s, m, e)
        show = [("start", s), ("max", m), ("end", e)]
        packed = summary.pack_triple(t, g)
        back = summary.unpack_triple(packed, g)
        same = z3.And(back[0] == s, back[1] == m, back[2] == e)
        limit = g.max_packed
        yield Claim(
            f"fully free {limit}-page entry round trip ({bits}-bit fields)",
            z3.And(
                summary.pack_triple((limit, limit, limit), g) == 1 << spec.PACKED_FULL_BIT,
                *[v == limit for v in summary.unpack_triple(z3.BitVecVal(1 << spec.PACKED_FULL_BIT, WORD), g)],
            ),
        )
        yield Claim(
            f"round trip of packable triples ({bits}-bit fields)",
            z3.Implies(summary.is_packable(t, g), same),
            show=show,
        )
        consistent = z3.And(z3.ULE(s, m), z3.ULE(e, m))
        yield Claim(
            f"packable exactly when consistent and round-tripping ({bits}-bit fields)",
            summary.is_packable(t, g) == z3.And(consistent, same),
            show=show,
        )
        fields = dict(zip(spec.PACKED_FIELDS, t, strict=True))
        layout = []
        for b in range(WORD):
            owner = spec.packed_bit_owner(b, g)
            want = z3.BitVecVal(0, 1) if owner is None else z3.Extract(owner[1], owner[1], fields[owner[0]])
            layout.append(z3.Extract(b, b, packed) == want)
        yield Claim(
            f"pack puts each field where Go's layout does ({bits}-bit fields)",
            z3.And(layout),
            [summary.is_packable(t, g), z3.ULT(m, limit)],
            show,
        )
        word = z3.BitVec(f"packed_{bits}", WORD)
        read = summary.unpack_triple(word, g)
        expected = {name: z3.BitVecVal(0, WORD) for name in spec.PACKED_FIELDS}
        for b in range(WORD):
            owner = spec.packed_bit_owner(b, g)
            if owner is not None:
                bit = z3.ZeroExt(WORD - 1, z3.Extract(b, b, word))
                expected[owner[0]] = expected[owner[0]] | (bit << owner[1])
        yield Claim(
            f"unpack reads each field where Go's layout puts it ({bits}-bit fields)",
            z3.And([r == expected[name] for r, name in zip(read, spec.PACKED_FIELDS, strict=True)]),
            [z3.Extract(spec.PACKED_FULL_BIT, spec.PACKED_FULL_BIT, word) == 0],
            [("packed", word)],
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
    "unpack(pack(s,m,e)) == (s,m,e) for every valid summary (incl. fully free), in Go's bit layout; "
    "invalid ones refused",
    pack_roundtrip,
    "pack_without_full_case",
)


# summarize_word


def _one_if(flag: Any, like: Any) -> Any:
    return (
        z3.If(flag, z3.BitVecVal(1, like.size()), z3.BitVecVal(0, like.size()))
        if z3.is_bv(like)
        else z3.If(flag, z3.IntVal(1), z3.IntVal(0))
    )


def summarize_word_proof() -> Iterator[Obligation]:
    """summarize_word(x), for every 64-bit in-use word x, is the word's summary by definition:
    start = the longest free run at the start, end = at the end, max = anywhere, on the path
    the oracle runs (ints) as well as on the symbolic one.

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

    The path ints take: for an int, the loop stops at the first round where
    `free` is 0 (a shortcut the symbolic path cannot take). That path is run
    too, on the same Z3 word, with model.words.is_concrete answering True so
    that the shortcut's test is explored (one path per round it stops at,
    65 in all); on each, its result equals the symbolic path's result under
    that path's condition, so it meets the definition as well.
    """
    x = z3.BitVec("x", WORD)
    start, most, end = summary.summarize_word(x)
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
    yield from _integer_path(x, (start, most, end))


def _integer_path(x: Any, symbolic: Triple) -> Iterator[Obligation]:
    """The int path equals the symbolic one. Its max is a prefix of the symbolic path's sum of
    rounds, stopped at a round k whose `free` is 0; every later round's `free` is then 0 too
    (each round only clears bits), so the rest of the sum adds nothing. Where a path's result
    does not have that shape, its equality with the symbolic result is claimed directly."""

    def run() -> Triple:
        with replaced(words, "is_concrete", lambda value: True):
            return summary.summarize_word(x)

    paths = explore(run, [], logic="QF_BV")
    rounds = addition_chain(symbolic[1]) or []
    frees = [_smeared(t) for t in rounds]
    stops, direct = [], []
    for path in paths:
        if path.raised is not None:
            direct.append(z3.Not(path.when()))
            continue
        mine = addition_chain(path.value[1]) if z3.is_expr(path.value[1]) else ([] if path.value[1] == 0 else None)
        k = len(mine) if mine is not None else -1
        prefix = (
            mine is not None
            and k <= len(rounds)
            and all(a.eq(b) for a, b in zip(mine, rounds, strict=False))
            and all(_eq(a, b) for a, b in ((path.value[0], symbolic[0]), (path.value[2], symbolic[2])))
        )
        if prefix and (k == len(rounds) or frees[k] is not None):
            if k < len(rounds):
                stops.append(z3.Implies(path.when(), frees[k] == 0))
        else:
            direct.append(z3.Implies(path.when(), _same(path.value, symbolic)))
    if None not in frees and len(frees) == WORD:
        yield Claim(
            "a round whose free is 0 leaves free 0 in the next",
            z3.And([z3.Implies(frees[j] == 0, frees[j + 1] == 0) for j in range(WORD - 1)]),
            show=[("x", x)],
            logic="QF_BV",
        )
    yield Claim(
        f"the path ints take stops only at a round whose free is 0 ({len(paths)} paths)",
        z3.And(stops),
        show=[("x", x)],
        logic="QF_BV",
    )
    if direct:
        yield Claim(
            f"the path ints take gives the symbolic summary ({len(direct)} paths of another shape)",
            z3.And(direct),
            show=[("x", x)],
        )


def _smeared(term: Any) -> Any:
    """free_k, from a round's term If(free_k == 0, 0, 1); None for another shape."""
    if not z3.is_app_of(term, z3.Z3_OP_ITE) or not z3.is_eq(term.arg(0)):
        return None
    return term.arg(0).arg(0)


def _eq(a: Any, b: Any) -> bool:
    return a.eq(b) if z3.is_expr(a) and z3.is_expr(b) else bool(a == b) if not z3.is_expr(a) else False


SUMMARIZE = Proof(
    "summarize_word",
    "summarize_word(x) is (free run at start, longest free run, free run at end) of every 64-bit word, "
    "on the int path and the symbolic one",
    summarize_word_proof,
    "summarize_word_63_rounds",
    expected_seconds=4.0,
)


# merge_concat


def merge_concat() -> Iterator[Obligation]:
    """summarize(a ++ b) == merge(summarize(a), summarize(b)): merging the summaries of two
    adjacent regions gives the summary of their concatenation; merge_row and summarize_words
    fold a row with the right widths, so every stored summary is the summary of its pages.

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
    3. Rows: for rows of 1 to 8 children of any width w (an integer) with
       valid summaries, merge_row of the first k children is merge_pair of
       merge_row of the first k-1 (a region of (k-1)w pages) and child k (w
       pages): the code's fold keeps the width of what it has merged so far.
    4. Chunks: for 1 to 8 symbolic words, summarize_words of the first k is
       merge_pair of summarize_words of the first k-1 (64(k-1) pages) and
       summarize_word of word k (64 pages); summarize_word's result is left
       symbolic here (any triple per word), its value being the subject of
       `summarize_word`.
    The lift, by induction with 2 as the step: by 3, merge_row of children
    that are the summaries of consecutive regions of w pages is the summary
    of the whole row; by 4 and summarize_word (proved), summarize_words of a
    chunk's 8 words is the chunk's summary. An entry at level l is merge_row
    of its 8 children of 2**level_log_pages(l+1) pages (model.tree), so every
    entry is the summary of the pages below it. A chunk never grown counts as
    all in use, and (0, 0, 0) is the summary of an all in-use region of any
    width (last obligation). That model.tree stores these merges (and
    update_tree re-merges what an operation changed) is checked by
    tests/model/test_spec.py, not proved.
    """
    merge = summary.merge_pair
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
    yield from _rows()
    a, b = z3.BitVecs("a b", WORD)
    both = z3.Concat(b, a)
    sa, ma, ea, sb, mb, eb = z3.BitVecs("sa ma ea sb mb eb", WORD)
    word_defs = word_summary_definition(a, sa, ma, ea) + word_summary_definition(b, sb, mb, eb)
    s, m, e = merge((sa, ma, ea), WORD, (sb, mb, eb), WORD)
    whole = word_summary_definition(both, s, m, e, 2 * WORD)
    show = [("a", a), ("b", b)]
    for name, part in zip(("start", "max", "end"), (whole[0], whole[2], whole[1]), strict=True):
        yield Claim(f"{name} of two words", part, assumptions=word_defs, show=show, logic="QF_BV")

    for part in Region(nothing, 0, w).summary_parts(0, 0, 0, [z3.IntVal(0)]):
        yield refute("an all in-use region summarizes to (0, 0, 0)", [all_in_use], part, content=nothing)


def _same(a: Triple, b: Triple) -> Any:
    return z3.And([x == y for x, y in zip(a, b, strict=True)])


def _rows() -> Iterator[Obligation]:
    width = z3.Int("w")
    kids = [tuple(z3.Ints(f"k{j}_s k{j}_m k{j}_e")) for j in range(ROW)]
    valid = [width >= 1] + [valid_summary(*k, width) for k in kids]
    claims = [_same(summary.merge_row(kids[:1], width), kids[0])]
    for k in range(2, ROW + 1):
        step = summary.merge_pair(summary.merge_row(kids[: k - 1], width), (k - 1) * width, kids[k - 1], width)
        claims.append(_same(summary.merge_row(kids[:k], width), step))
    yield Claim(
        f"merge_row of k children (k = 1..{ROW}) merges the first k-1, (k-1)w pages, with child k",
        z3.And(claims),
        valid,
        [("w", width)] + [(str(v), v) for k in kids for v in k],
    )
    ws = [z3.BitVec(f"word{j}", WORD) for j in range(ROW)]
    # summarize_word (proved above) as any triple per word: the claim is about the fold's widths.
    summaries = {w.get_id(): tuple(z3.BitVecs(f"{w}_s {w}_m {w}_e", WORD)) for w in ws}
    with replaced(summary, "summarize_word", lambda w: summaries[w.get_id()]):
        claims = [_same(summary.summarize_words(ws[:1]), summaries[ws[0].get_id()])]
        for k in range(2, ROW + 1):
            before, last = summary.summarize_words(ws[: k - 1]), summaries[ws[k - 1].get_id()]
            claims.append(_same(summary.summarize_words(ws[:k]), summary.merge_pair(before, 64 * (k - 1), last, 64)))
    yield Claim(
        f"summarize_words of k words (k = 1..{ROW}) merges the first k-1, 64(k-1) pages, with word k",
        z3.And(claims),
        show=[(str(w), w) for w in ws],
        logic="QF_BV",
    )


CONCAT = Proof(
    "merge_concat",
    "summarize(a ++ b) == merge(summarize(a), summarize(b)), for words, any widths, rows, chunks and levels",
    merge_concat,
    "merge_without_junction",
    expected_seconds=4.0,
)


# merge_assoc


def merge_assoc() -> Iterator[Obligation]:
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
    merge = summary.merge_pair
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
    row = summary.merge_row(kids, w)
    yield Claim(
        "a row of 8 children: left to right == balanced",
        z3.And([x == y for x, y in zip(row, level[0][0], strict=True)]),
        kid_valid,
    )


ASSOC = Proof(
    "merge_assoc",
    "merge with widths is associative with (0,0,0)/width 0 as identity; any grouping of a row gives the parent",
    merge_assoc,
    "merge_end_one_short",
)

PROOFS = (PACK, SUMMARIZE, CONCAT, ASSOC)
