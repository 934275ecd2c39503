"""Proofs about summaries: packing, summarizing a word, merging, and the merge's algebra.

Each proof evaluates model.summary's functions on Z3 terms: pack_triple,
unpack_triple and is_packable (the snapshot encoding); summarize_word on both
its paths; merge_pair, merge_row and summarize_words (what the tree stores).

The packed encoding is the one summary rule whose numbers differ between Go's
platforms (the field width is the root entry's page count), so it is proved
once per platform: pack_roundtrip on amd64 (and a reduced geometry),
pack_roundtrip_386 on 386, each against Go's layout written out bit by bit
(GO_PACKED_LAYOUTS). Summarizing and merging are the same on every platform:
the chunk (512 pages, 8 words) and the 8 children of an entry below the root
are, and merge_concat and merge_assoc hold for regions of any width.

The module is one piece, over 550 lines, because it is the proof module of
model/summary.py (a rule in model/X.py, its proof in proofs/X.py), and its
five proofs are all of that module's functions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import z3

from model import spec, summary, tree, words
from model.errors import ParameterError
from model.geometry import AMD64, ARCHES, I386, Arch, Geometry
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

GO_PACKED_LAYOUTS: dict[str, dict[str, tuple[int, int]]] = {
    # Go's pallocSum fields, each as its lowest and highest bit, written out from mpagealloc.go's
    # packPallocSum: field width logMaxPackedValue = logPallocChunkPages + (summaryLevels - 1) *
    # summaryLevelBits, start lowest; bit 63 alone is the fully free root entry. Not derived from
    # model.geometry, so a geometry that derives the width wrongly disagrees with it.
    "amd64": {"start": (0, 20), "max": (21, 41), "end": (42, 62)},  # 9 + 4 * 3 = 21 bits
    "386": {"start": (0, 17), "max": (18, 35), "end": (36, 53)},  # 9 + 3 * 3 = 18 bits; 54-62 unused
}

ROW = 8  # children per row: Go's 8 words per chunk and 8 children per entry


# pack_roundtrip, pack_roundtrip_386


def pack_roundtrip() -> Iterator[Obligation]:
    """unpack(pack(s, m, e)) == (s, m, e) for every summary pack accepts, pack accepts exactly the
    consistent triples (start and end at most max) that survive the round trip, and both put
    each field where Go's amd64 layout does, bit by bit.

    Fields are arbitrary 64-bit values, so "accepts exactly" covers every
    triple: one with a field above max_packed, or with max == max_packed but
    not fully free, is refused because the encoding would lose it. The fully
    free root entry (max_packed, max_packed, max_packed), which does not fit
    in a field, is Go's special case: it packs to the single bit 1 << 63 and
    unpacks back. The layout (model.spec.packed_bit_owner: start in bits
    0-20, max in 21-41, end in 42-62 on amd64, bit 63 for the fully free
    entry) is checked bit by bit for pack_triple on every packable triple and
    for unpack_triple on every word without bit 63, so a pair that agrees on
    another layout (start and end swapped in both) does not prove; and
    packed_bit_owner itself is checked against Go's amd64 layout written out
    (GO_PACKED_LAYOUTS), so a field width derived wrongly from the geometry
    does not prove either. Checked for Go's amd64 geometry (21-bit fields)
    and a reduced one (9-bit fields); the concrete checks confirm that `pack`,
    the checked entry point, raises ParameterError for refused summaries. On
    amd64 the fully free case is reachable: root entry 1 (chunks 4096 to
    8191) lies inside the chunks a trace may grow (model.geometry.ARCHES).
    386 has its own proof, pack_roundtrip_386. The model packs summaries
    only for state snapshots (oracle.pagealloc.state); the tree stores them
    unpacked.
    """
    yield Check("Go's amd64 layout: 21-bit fields, start 0-20, max 21-41, end 42-62", _pinned_layout("amd64", AMD64))
    for g in PACK_GEOMETRIES:
        yield from _pack_claims(g)
    yield Check("pack refuses what it cannot encode (21-bit fields)", lambda: _pack_refusals(AMD64))


def pack_roundtrip_386() -> Iterator[Obligation]:
    """On Go's 386 geometry (model.geometry.I386: 4 levels, a root of two entries of 2**18
    pages): the packed fields are 18 bits, start in bits 0-17, max in 18-35, end in 36-53
    (54-62 unused), as Go's packPallocSum lays them out there; pack and unpack round-trip,
    accept exactly the consistent triples and follow that layout bit by bit, as
    pack_roundtrip states for amd64; and no summary a 386 heap holds is ever the fully free
    one, so the bit-63 case never arises on 386.

    1. The layout is pinned: model.spec.packed_bit_owner on I386 is Go's 386
       layout written out (GO_PACKED_LAYOUTS), max_packed is 2**18; then the
       claims of pack_roundtrip on I386 (the fully free (2**18, 2**18, 2**18)
       <-> 1 << 63 included: the functions map it like Go's do, whoever
       calls them).
    2. Fully free never arises. Only a root entry could reach max_packed
       (an entry at level l >= 1 covers at most 2**15 pages). Every 386 root
       entry holds a chunk no 386 trace grows (Check): chunk 0 (address 0,
       Go's "no memory" and "not grown yet") in entry 0, chunk 1023 (whose
       limit 2**32 wraps) in entry 1 (ARCHES["386"], first_chunk and
       chunk_limit). A chunk never grown has the zero summary. The root entry
       holding it is merged up the model's way (model.summary.merge_row)
       through 3 levels of 8 children, every other child any valid summary
       of its width (proofs.definitions.valid_summary, which every real
       summary meets: merge_assoc, merge_concat); for all of them its max is
       below 2**18 and its start and end at most its max (integers: the
       merge's arithmetic on 64-bit words is the same for values below
       2**19). pack_triple of every such summary, as 64-bit words, leaves
       bit 63 clear.
    3. The bound is reached: with every chunk a 386 trace may grow grown and
       free, model.tree.summarize_levels gives root entries (0, 2**18 - 512,
       2**18 - 512) and (2**18 - 512, 2**18 - 512, 0), packed in fields.
    The same holds in Go's own 386 runtime, for the same reasons: its heap
    never maps address 0 (grow takes chunk index 0 for "nothing grown yet";
    alloc returns address 0 for failure) and mheap.sysAlloc refuses an arena
    whose end wraps, so its leaves for chunks 0 and 1023 stay zero and
    mergeSummaries never builds a root max of 2**18.
    """
    yield Check("Go's 386 layout: 18-bit fields, start 0-17, max 18-35, end 36-53", _pinned_layout("386", I386))
    yield from _pack_claims(I386)
    yield Check("pack refuses what it cannot encode (18-bit fields)", lambda: _pack_refusals(I386))
    yield from _never_fully_free(ARCHES["386"])
    yield Check("the fullest 386 heap: root entries packed in fields", lambda: _fullest_heap(ARCHES["386"]))


def _pack_claims(g: Geometry) -> Iterator[Obligation]:
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


def _pinned_layout(arch: str, g: Geometry) -> Callable[[], str | None]:
    """A check that model.spec.packed_bit_owner and max_packed on g are Go's layout for arch."""
    layout = GO_PACKED_LAYOUTS[arch]

    def run() -> str | None:
        low_bit, high_bit = layout["max"]
        width = high_bit - low_bit + 1
        if g.log_max_packed != width or g.max_packed != 1 << width:
            return f"the geometry packs {g.log_max_packed}-bit fields, Go's {arch} layout {width}-bit ones"
        for b in range(WORD):
            want = next(((name, b - lo) for name, (lo, hi) in layout.items() if lo <= b <= hi), None)
            got = spec.packed_bit_owner(b, g)
            if got != want:
                return f"bit {b} holds {got} in model.spec's layout, {want} in Go's {arch} layout"
        return None

    return run


def _pack_refusals(g: Geometry) -> str | None:
    limit = g.max_packed
    for s in (Summary(0, limit, 0), Summary(limit, limit, limit - 1), Summary(0, limit + 1, 0)):
        try:
            summary.pack(s, g)
        except ParameterError:
            continue
        return f"pack accepted {s.as_tuple()}"
    for s in (Summary(limit, limit, limit), Summary(0, 0, 0), Summary(limit - 1, limit - 1, limit - 1)):
        if summary.unpack(summary.pack(s, g), g) != s:
            return f"pack/unpack changed {s.as_tuple()}"
    return None


def _never_grown_chunk(arch: Arch, root: int) -> int | None:
    """A chunk of root entry `root` that no trace on arch grows, or None if it may grow them all."""
    g = arch.geometry()
    per_root = 1 << (g.level_log_pages(0) - g.log_chunk_pages)
    first, limit = root * per_root, (root + 1) * per_root
    if first < arch.first_chunk:
        return first
    if limit > arch.chunk_limit():
        return limit - 1
    return None


def _never_fully_free(arch: Arch) -> Iterator[Obligation]:
    """Per root entry: it holds a chunk never grown, and so, whatever its other pages, its merged
    summary is consistent with max below max_packed; such a summary packs in fields, bit 63 clear."""
    g = arch.geometry()
    for root in range(g.level_entries(0)):
        chunk = _never_grown_chunk(arch, root)
        label = f"{arch.name} root entry {root} is never fully free"
        if chunk is None:
            first = root << (g.level_log_pages(0) - g.log_chunk_pages)
            reason = f"every chunk of it, from {first}, may be grown, so it may be wholly free and pack to 1 << 63"
            yield Check(label, lambda reason=reason: reason)
            continue
        (start, most, end), facts, show = _root_summary_above(g, chunk)
        yield Claim(
            f"{label} (chunk {chunk} never grown)",
            z3.And(0 <= start, start <= most, 0 <= end, end <= most, most < g.max_packed),
            facts,
            show,
        )
    bits = g.log_max_packed
    t = tuple(z3.BitVecs(f"start max end_{bits}", WORD))
    packed = summary.pack_triple(t, g)
    yield Claim(
        f"a consistent summary with max below {g.max_packed} packs with bit 63 clear ({bits}-bit fields)",
        z3.Extract(spec.PACKED_FULL_BIT, spec.PACKED_FULL_BIT, packed) == 0,
        [summary.is_packable(t, g), z3.ULT(t[1], g.max_packed)],
        [("start", t[0]), ("max", t[1]), ("end", t[2])],
        logic="QF_BV",
    )


def _root_summary_above(g: Geometry, chunk: int) -> tuple[Triple, list[Any], list[tuple[str, Any]]]:
    """The summary of the root entry holding `chunk`, a chunk never grown (the zero summary),
    merged up with model.summary.merge_row; every other entry on the way is any valid summary of
    its width (integers: merge_row's arithmetic is the same on them as on 64-bit words, whose
    values here stay below 2**19)."""
    page = g.chunk_base(chunk)
    merged: Triple = (z3.IntVal(0), z3.IntVal(0), z3.IntVal(0))
    facts: list[Any] = []
    show: list[tuple[str, Any]] = []
    for level in range(g.levels - 1, 0, -1):
        bits, width = g.block_bits(level), 1 << g.level_log_pages(level)
        on_path = g.entry_of(level, page) & ((1 << bits) - 1)
        children: list[Triple] = []
        for j in range(1 << bits):
            if j == on_path:
                children.append(merged)
                continue
            child = tuple(z3.Ints(f"l{level}_{j}_start l{level}_{j}_max l{level}_{j}_end"))
            facts.append(valid_summary(*child, width))
            show += [(str(v), v) for v in child]
            children.append(child)  # type: ignore[arg-type]
        merged = summary.merge_row(children, width)
    return merged, facts, show


def _fullest_heap(arch: Arch) -> str | None:
    """Every chunk arch's traces may grow, grown and free: the root entries the model's tree holds
    have max max_packed - chunk_pages at most, and pack without bit 63."""
    g = arch.geometry()
    free = {c: [0] * g.words_per_chunk for c in range(arch.first_chunk, arch.chunk_limit())}
    roots = tree.summarize_levels(free, g)[0]
    bound = g.max_packed - g.chunk_pages
    for root, s in sorted(roots.items()):
        if s.max > bound or summary.pack(s, g) >> spec.PACKED_FULL_BIT:
            return f"root entry {root} summarizes to {s.as_tuple()}, packed {summary.pack(s, g):#x}"
    if max(s.max for s in roots.values()) != bound:
        return f"no root entry reaches {bound} free pages: {sorted((k, s.as_tuple()) for k, s in roots.items())}"
    return None


PACK = Proof(
    "pack_roundtrip",
    "unpack(pack(s,m,e)) == (s,m,e) for every valid summary (incl. fully free), in Go's amd64 bit layout; "
    "invalid ones refused",
    pack_roundtrip,
    "pack_without_full_case",
)

PACK_386 = Proof(
    "pack_roundtrip_386",
    "on 386: unpack(pack(s,m,e)) == (s,m,e), refusals, Go's 18-bit layout bit by bit; "
    "no 386 root entry is ever fully free, so bit 63 never arises",
    pack_roundtrip_386,
    "packed_width_amd64_levels",
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

PROOFS = (PACK, PACK_386, SUMMARIZE, CONCAT, ASSOC)
