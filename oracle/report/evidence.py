"""What a failure report shows, gathered by replaying the trace: the failing line and both heaps after it.

`gather(path, impl, options, level)` replays a trace the way `python -m
oracle replay` does (exact level: oracle.pagealloc.lockstep, the model as
judge) or the way `fuzz --level safe --replay` does (safe level:
oracle.pagealloc.levels.Shadow), stops at the first failing line, and
returns Evidence: the trace's text, the failing line and its message, and
two Sides, each a heap state in oracle.pagealloc.state's layout with
where it came from.

Exact level. The model side is the model after the failing line. The
implementation side is, in order of preference:
  * its own snapshot after the line (fast/, a subprocess that offers them);
  * else its state reconstructed from its answers: every earlier line
    matched the model, so the model's state before the failing line with
    the implementation's answer applied on top (the pages it handed out
    marked in use, a cache it filled), summaries recomputed from those
    bitmaps. The live runtime adds its own search hint and scavenge
    cursors (its go_state probe).
With snapshots, every line is also compared, so the report names the line
after which the states first differed (up to WATCH_LINES lines).

Safe level. The model cannot judge results, so the left side is what the
safe level knows from the answers so far (pages in use, pages certainly
scavenged); the right side is the implementation's snapshot or its answer
applied to that knowledge. The pages in conflict are those the failing
answer handed out that were already in use.

Replaying a trace never writes anything; a bad line raises TraceError (the
command's exit 2), as replay does.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import attrs

from model.errors import ModelError
from model.summary import pack
from model.tree import summarize_levels
from oracle.common.errors import ImplementationFailed, TraceError
from oracle.common.jsonlines import read_text, split_lines
from oracle.pagealloc import lockstep
from oracle.pagealloc.levels import OracleFailure, Shadow
from oracle.pagealloc.lockstep import AnyOutcome, Line
from oracle.pagealloc.protocol import Crash, Implementation, ModelImpl, Refusal, make_geometry, show
from oracle.pagealloc.registry import ImplOptions, factory
from oracle.pagealloc.replay import build
from oracle.pagealloc.state import State, diff_states, hidden_state, model_state, normalize, snapshot_of
from oracle.pagealloc.trace import Op, Params, read_header_and_ops

WATCH_LINES = 5000  # lines whose states are compared one by one, for the first divergence
CACHE_PAGES = 64


@attrs.frozen
class Side:
    """One heap of the picture: its state, where it came from, and what it answered at the failing line."""

    label: str
    state: State | None
    source: str
    hidden: dict[str, Any] | None  # search_page, force_cursor, bg_cursor (pages; None unknown or cleared)
    answer: str
    pages: tuple[int, int] | None  # (first page, count) the answer names, if any


@attrs.frozen
class Evidence:
    trace: Path
    impl: str
    level: str
    params: Params
    text_lines: list[str]  # the trace file's lines; line 1 is the header
    failing_line: int | None  # None: every line passed
    message: str  # the failure as replay words it, or the verdict
    model: Side
    other: Side
    first_divergence: int | None = None  # the line after which the states first differed
    differences: list[str] = attrs.Factory(list)  # how the states differ after the failing line
    conflict: frozenset[int] = frozenset()  # safe level: pages handed out while already in use
    moment: str = ""  # when the heaps are shown: "after line N", or "before line N" when there was no answer

    @property
    def ok(self) -> bool:
        return self.failing_line is None


def _pages_of(op: Op, answer: Any) -> tuple[int, int] | None:
    """The pages an answer names: an allocation's, a cache fill's block, or the op's own range."""
    if isinstance(answer, dict):
        if op.kind in ("alloc", "cache_alloc") and answer.get("page") is not None:
            return answer["page"], int(op.args["npages"])
        if op.kind == "cache_fill" and answer.get("base") is not None:
            return answer["base"], CACHE_PAGES
    if op.kind in ("free", "pad"):
        return int(op.args["page"]), int(op.args["npages"])
    return None


def summarized(state: State, params: Params) -> State:
    """The state with its summaries recomputed from its in-use bitmaps (Go's pack of each level)."""
    g = make_geometry(params)
    tree = summarize_levels({c: list(d["alloc"]) for c, d in state["chunks"].items()}, g)
    state["levels"] = [{i: pack(s, g) for i, s in level.items()} for level in tree]
    return state


def _set_pages(state: State, params: Params, page: int, npages: int, field: str, on: bool) -> None:
    cp = params.chunk_pages
    for p in range(page, page + npages):
        chunk = state["chunks"].get(p // cp)
        if chunk is None:
            continue  # a page outside the heap: the picture has no cell for it
        i = p % cp
        word = chunk[field][i // 64]
        chunk[field][i // 64] = word | (1 << i % 64) if on else word & ~(1 << i % 64)


def apply_answer(before: State, params: Params, op: Op, answer: Any) -> State:
    """A state with an implementation's answer to op applied on top of `before` (which is not changed)."""
    state = copy.deepcopy(before)
    if isinstance(answer, dict):
        if op.kind == "alloc" and answer.get("page") is not None:
            _set_pages(state, params, answer["page"], int(op.args["npages"]), "alloc", True)
            _set_pages(state, params, answer["page"], int(op.args["npages"]), "scav", False)
        elif op.kind == "cache_fill" and answer.get("base") is not None:
            base, free = answer["base"], answer["free"]
            for i in range(CACHE_PAGES):
                if free >> i & 1:
                    _set_pages(state, params, base + i, 1, "alloc", True)
                    _set_pages(state, params, base + i, 1, "scav", False)
            state["caches"][int(op.args["cache"])] = {"base": base, "free": free, "scav": answer["scav"]}
        elif op.kind == "cache_alloc" and answer.get("page") is not None:
            cache = state["caches"].get(int(op.args["cache"]))
            if cache is not None and cache["base"] is not None and answer["page"] >= cache["base"]:
                taken = ((1 << int(op.args["npages"])) - 1) << (answer["page"] - cache["base"])
                cache["free"] &= ~taken
                cache["scav"] &= ~taken
    elif answer is None and op.kind in ("free", "pad"):
        _set_pages(state, params, int(op.args["page"]), int(op.args["npages"]), "alloc", op.kind == "pad")
    return normalize(summarized(state, params))


def hidden_of_state(state: State, params: Params) -> dict[str, Any]:
    """The search hint and scavenge cursors a state holds, in the go_state form (None: full heap, cleared)."""
    g = make_geometry(params)
    index = state["scav_index"]
    force, background = index["force_cursor"], index["background_cursor"]
    return {
        "search_page": None if state["search_page"] == g.no_free_page else state["search_page"],
        "force_cursor": force[0],
        "force_marked": bool(force[1]) and force[0] is not None,
        "bg_cursor": background[0],
        "bg_marked": bool(background[1]) and background[0] is not None,
    }


def own_snapshot(target: Implementation) -> State | None:
    """The implementation's snapshot, or None when it offers none or fails to give one."""
    try:
        return snapshot_of(target)
    except ImplementationFailed:
        return None


def _go_hidden(target: Implementation, params: Params) -> dict[str, Any] | None:
    """The live runtime's search hint and cursors, if the implementation can tell them (and still runs)."""
    probe = getattr(target, "go_state", None)
    if probe is None:
        return None
    try:
        found = probe()
    except ImplementationFailed:
        return None
    return found if isinstance(found, dict) and "error" not in found else None


def _header_failure(path: Path, impl: str, level: str, params: Params, text: list[str], why: str) -> Evidence:
    empty = model_state(ModelImpl(params).heap)
    model = Side("model", empty, "the model (an empty heap)", None, "accepts the header", None)
    other = Side(impl, None, f"{impl} failed the header", None, f"failed ({why})", None)
    message = f"line 1: (the header)\n  the implementation failed it: {why}"
    return Evidence(path, impl, level, params, text, 1, message, model, other)


def gather(path: Path, impl: str, options: ImplOptions | None = None, level: str = "exact") -> Evidence:
    """Replay the trace at path against impl at the given level (see the module comment)."""
    text = split_lines(read_text(path))
    return gather_safe(path, impl, options, text) if level == "safe" else gather_exact(path, impl, options, text)


def gather_exact(path: Path, impl: str, options: ImplOptions | None, text: list[str]) -> Evidence:
    params, ops = read_header_and_ops(path)
    judge, target = build(params, impl, options)
    if isinstance(target, str):
        return _header_failure(path, impl, "exact", params, text, target)
    behind = ModelImpl(params)  # the model one line behind the judge: the state before the failing line
    geometry = make_geometry(params)
    watch = len(text) <= WATCH_LINES and target is not judge and own_snapshot(target) is not None
    first_divergence: int | None = None
    last_snapshot: State | None = None  # the implementation's own state before the failing line, when watched
    # The live runtime tells its search hint and scavenge cursors: compared after every line, as the go
    # campaign does, a difference there fails the line even though every result agrees.
    watch_hidden = len(text) <= WATCH_LINES and getattr(target, "go_state", None) is not None
    failing: Line | None = None
    last: Line | None = None
    hidden_differs: tuple[Line, dict[str, Any]] | None = None
    for line in lockstep.run(target, ops, judge, batch=1):
        last = line
        if line.mismatch is not None:
            failing = line
            break
        behind.apply(line.op)
        if watch:
            last_snapshot = own_snapshot(target)
            if first_divergence is None and last_snapshot is not None and diff_states(
                model_state(judge.heap), last_snapshot, geometry, limit=1
            ):
                first_divergence = line.op.line
        if watch_hidden:
            theirs_hidden = _go_hidden(target, params)
            if theirs_hidden is not None and theirs_hidden != hidden_state(judge.heap):
                hidden_differs = (line, theirs_hidden)
                break
    go = _go_hidden(target, params)  # the live runtime's own hint and cursors, when it can tell them
    if hidden_differs is not None:
        line, theirs_hidden = hidden_differs
        mine = hidden_state(judge.heap)
        state = model_state(judge.heap)
        state["search_page"] = (theirs_hidden["search_page"] if theirs_hidden["search_page"] is not None
                                else geometry.no_free_page)
        message = (f"line {line.op.line}: {line.op.describe()}\n  every result matches, but the hidden state after "
                   f"it differs:\n  model   {mine}\n  {impl:<7} {theirs_hidden}")
        model = Side("model", model_state(judge.heap), f"the model after line {line.op.line}", mine, "", None)
        other = Side(impl, state, f"the model's heap (every result matched) with {impl}'s own search hint and "
                     "scavenge cursors", theirs_hidden, "", None)
        differences = [f"{key}: model {mine[key]}, {impl} {theirs_hidden[key]}" for key in mine
                       if mine[key] != theirs_hidden.get(key)]
        return Evidence(path, impl, "exact", params, text, line.op.line, message, model, other, line.op.line,
                        differences, moment=f"after line {line.op.line}")
    if failing is None:
        model_after = model_state(judge.heap)
        theirs = own_snapshot(target) if target is not judge else model_after
        source = "its own snapshot" if theirs is not None else f"{impl} offers no snapshot"
        hidden = go or (hidden_of_state(theirs, params) if theirs is not None else None)
        model = Side("model", model_after, "the model after the last line", hidden_state(judge.heap), "", None)
        other = Side(impl, theirs, source, hidden, "", None)
        count = last.op.line if last is not None else 1
        return Evidence(path, impl, "exact", params, text, None, f"every line matches ({count} lines)", model, other)
    op, got = failing.op, failing.got
    expected = failing.expected
    want = expected if not isinstance(expected, AnyOutcome) else None
    answered = show(op.kind, want) if not isinstance(expected, AnyOutcome) else str(expected)
    if isinstance(got, Crash | Refusal):
        # No answer to apply: both heaps as they were before the line, the implementation's own if it shows it.
        model = Side("model", model_state(behind.heap), f"the model before line {op.line}",
                     hidden_state(behind.heap), answered, _pages_of(op, want))
        state = last_snapshot
        own = state is not None
        if own:
            source = f"{impl}'s own snapshot before line {op.line}, where it {got}"
        else:
            state = normalize(summarized(model_state(behind.heap), params))
            source = f"the model's state before line {op.line} (every earlier line matched); there {impl} {got}"
        moment = f"before line {op.line}"
    else:
        model = Side("model", model_state(judge.heap), "the model after the failing line", hidden_state(judge.heap),
                     answered, _pages_of(op, want))
        state = own_snapshot(target) if target is not judge else None
        own = state is not None
        if own:
            source = f"{impl}'s own snapshot after the failing line"
        else:
            state = apply_answer(model_state(behind.heap), params, op, got)
            source = (f"reconstructed: {impl} offers no snapshot, so this is the model's state before line "
                      f"{op.line} (every earlier line matched) with {impl}'s answer applied, summaries recomputed")
        moment = f"after line {op.line}"
    assert state is not None and model.state is not None
    hidden = go or (hidden_of_state(state, params) if own else None)
    if go is not None:
        state["search_page"] = go["search_page"] if go["search_page"] is not None else geometry.no_free_page
        source += "; the search hint and scavenge cursors are the runtime's own"
    differences = diff_states(model.state, state, geometry)
    if not own:  # a reconstruction knows bitmaps, summaries and caches, not the scavenge index
        differences = [d for d in differences if d.startswith(("chunk", "grown", "summary", "cache", "tree"))]
    other = Side(impl, state, source, hidden, show(op.kind, got), _pages_of(op, got))
    message = failing.mismatch.describe() if failing.mismatch is not None else ""
    return Evidence(path, impl, "exact", params, text, op.line, message, model, other, first_divergence, differences,
                    moment=moment)


@attrs.frozen
class Knowledge:
    """A copy of what a Shadow knows (its tables are small dicts of ints, so copying one per line is cheap)."""

    grown: frozenset[int]
    used: dict[int, int]
    must: dict[int, int]
    padded: dict[int, int]
    caches: dict[int, tuple[int | None, int, int]]

    @staticmethod
    def of(shadow: Shadow) -> Knowledge:
        return Knowledge(frozenset(shadow.grown), dict(shadow.used), dict(shadow.must), dict(shadow.padded),
                         dict(shadow.caches))


def knowledge_state(known: Knowledge, params: Params) -> State:
    """What the safe level knows, as a state: pages in use, pages certainly scavenged, the caches."""
    g = make_geometry(params)
    words = g.words_per_chunk
    chunks = {}
    for c in sorted(known.grown):
        used = known.used.get(c, 0)
        scav = known.must.get(c, 0) | (known.padded.get(c, 0) & used)
        chunks[c] = {"alloc": [(used >> 64 * k) & (1 << 64) - 1 for k in range(words)],
                     "scav": [(scav >> 64 * k) & (1 << 64) - 1 for k in range(words)]}
    caches = {i: {"base": b, "free": f, "scav": s} for i, (b, f, s) in known.caches.items()}
    state: State = {
        "search_page": g.no_free_page,
        "end_chunk": max(known.grown) + 1 if known.grown else 0,
        "chunks": chunks,
        "levels": [],
        "scav_index": {"chunks": {}, "min_chunk": None, "force_cursor": [None, False],
                       "background_cursor": [None, False], "free_high_water": 0, "gen": 0},
        "caches": caches,
    }
    return normalize(summarized(state, params))


def gather_safe(path: Path, impl: str, options: ImplOptions | None, text: list[str]) -> Evidence:
    params, ops = read_header_and_ops(path)
    try:
        ModelImpl(params)
    except ModelError as e:
        raise TraceError(1, f"params: {e}") from None
    try:
        shadow = Shadow(params, factory(impl, options), impl)
    except OracleFailure as e:
        return _header_failure(path, impl, "safe", params, text, "; ".join(e.failure.detail) or e.failure.message())
    failure = None
    saved = Knowledge.of(shadow)
    for op in ops:
        saved = Knowledge.of(shadow)
        try:
            shadow.apply(op.kind, dict(op.args))
            shadow.check_state(check_model=False)
        except OracleFailure as e:
            failure = e.failure
            break
    label = "what the safe level knows"
    if failure is None:
        state = knowledge_state(Knowledge.of(shadow), params)
        known = Side(label, state, "the answers so far", None, "", None)
        theirs = own_snapshot(shadow.impl)
        other = Side(impl, theirs, "its own snapshot" if theirs else f"{impl} offers no snapshot", None, "", None)
        return Evidence(path, impl, "safe", params, text, None, "every answer is possible", known, other)
    op = failure.op
    before = knowledge_state(saved, params)
    got: Any = failure.answer.got if failure.answer is not None else None
    known = Side(label, before, f"from the answers before line {failure.line}", None, "a possible answer", None)
    theirs = own_snapshot(shadow.impl) if not isinstance(got, Crash) else None
    if theirs is not None:
        source = f"{impl}'s own snapshot after the failing line"
    elif op is not None:
        theirs = apply_answer(before, params, op, got)
        source = f"reconstructed: that knowledge with {impl}'s answer applied"
    else:
        source = "nothing to show"
    pages = _pages_of(op, got) if op is not None else None
    conflict: set[int] = set()
    if pages is not None and op is not None and op.kind in ("alloc", "cache_alloc", "cache_fill"):
        cp = params.chunk_pages
        for p in range(pages[0], pages[0] + pages[1]):
            chunk = before["chunks"].get(p // cp)
            if chunk is None or chunk["alloc"][p % cp // 64] >> (p % 64) & 1:
                conflict.add(p)
    answer = show(op.kind, got) if op is not None else ""
    other = Side(impl, theirs, source, None, answer, pages)
    return Evidence(path, impl, "safe", params, text, failure.line, failure.message(), known, other,
                    conflict=frozenset(conflict), moment=f"before line {failure.line} (and {impl}'s answer)")

