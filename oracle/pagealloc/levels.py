"""The two conformance levels: how each step of an implementation is judged (Checker: Lockstep, Shadow).

Two conformance levels, each a Checker:

  exact  Lockstep: the model (model.pageheap) runs beside the implementation;
         every result must equal the model's and every refusal be a
         refusal; after every step the two whole states must agree
         (oracle.pagealloc.state: search hint, bitmaps, scavenged bitmaps, every tree
         level's summaries, the scavenge index, the caches) when the
         implementation can show its state; and the model's own invariants
         (model.invariants) must hold, checked every MODEL_INVARIANTS_EVERY
         steps, at the end of every case, and whenever the states differ
         (to tell a model bug from an implementation bug).
         States that differ while no result does are probed at once
         (oracle.pagealloc.probes): an operation whose result differs makes the
         failure, so Hypothesis shrinks towards failures replay can show;
         without one the difference is latent, the case goes on, and a
         latent difference is reported only if nothing visible is found.
  safe   Shadow: for an implementation with another placement policy. The
         model cannot judge results, so each is checked against what is
         known from the results so far: allocated pages were grown and free
         and are handed out once, a cache holds only free pages, scavenged
         counts are possible (pages never allocated since grow are
         scavenged, freed pages are not until a scavenge), a cache gives
         back exactly the scavenged bits it took, invalid operations are
         refused. With a snapshot, the state must match that knowledge too:
         in-use bitmap equal, no scavenged page in use, no scavenged bit
         lost, summaries equal to summarize_levels of its own bitmaps.

A failure raises OracleFailure (an AssertionError) carrying a Failure: the
trace up to and including the failing line (with the model's expects at
the exact level, the implementation's at the safe level), the line, the op,
expected and got, worded as `python -m oracle replay` words a mismatch.
The state machine (oracle.pagealloc.machine) records every failure in its
RunLog; the driver (oracle.pagealloc.fuzz) writes the last one,
Hypothesis's final, shrunk example (oracle.pagealloc.failures).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from model.errors import ModelError
from model.geometry import Geometry
from model.invariants import all_violations
from model.summary import pack, unpack_triple
from model.tree import summarize_levels
from oracle.common.errors import ImplementationFailed
from oracle.pagealloc.lockstep import Mismatch, judge
from oracle.pagealloc.probes import clone_pair, run_probes
from oracle.pagealloc.probes import sequences as probe_sequences
from oracle.pagealloc.protocol import Answer, Implementation, ModelImpl, Refusal, answer, make_geometry, show
from oracle.pagealloc.state import State, diff_states, model_state, snapshot_of
from oracle.pagealloc.trace import OPS_WITH_RESULT, Op, Outcome, Params

CACHE_PAGES = 64
CACHE_IDS = 4
# The model's scavenge index walks every chunk index from its cursor down to the lowest chunk
# (as Go's does), which takes seconds on a heap spread over the address space: scavenge only
# while the heap spans at most SCAVENGE_SPAN chunks (sparse heaps are still grown and allocated in).
# The model's invariants recompute every summary from the bitmaps: check them every this many
# steps, at the end of every test case, and whenever the states differ.
MODEL_INVARIANTS_EVERY = 8
MASK64 = (1 << 64) - 1

ImplFactory = Callable[[Params], Implementation]
TraceLines = list[tuple[Op, Outcome | None]]


@attrs.define
class Failure:
    """What the machine found, with the trace that led there.

    kind: header (the implementation failed or refused a valid header),
    crash (it failed when asked for its state), mismatch (a line's answer
    fails, see oracle.pagealloc.lockstep),
    refusal (an invalid line was not refused), state (the states differ and
    a probe shows it in an answer), latent (the states differ and no probe
    shows it), model (the model breaks its own invariants), safety (the
    safe level's knowledge is contradicted).
    """

    kind: str
    params: Params
    ops: TraceLines
    line: int
    op: Op | None
    answer: Mismatch | None  # the failing line's expected and got, when the failure is one line's answer
    detail: list[str]
    level: str
    impl: str
    probe: Mismatch | None = None
    probe_lines: TraceLines | None = None
    first_divergence: int | None = None

    @property
    def trace_lines(self) -> TraceLines:
        """The lines to write: the trace, and the probe that shows the failure in an answer if there is one."""
        return self.probe_lines if self.probe_lines is not None else self.ops

    @property
    def headline(self) -> str:
        if self.op is None:
            return f"line {self.line}: (the header)"
        return f"line {self.line}: {self.op.describe()}"

    def message(self) -> str:
        if self.kind == "header":
            text = f"{self.headline}\n  the implementation failed the header of a valid trace:"
        elif self.kind == "crash":
            text = f"{self.headline}\n  the implementation failed after this line:"
        elif self.kind in ("state", "latent"):
            text = f"{self.headline}\n  the states differ after this line:"
        elif self.kind == "model":
            text = f"{self.headline}\n  the MODEL breaks its own invariants after this line:"
        elif self.kind == "safety":
            got = show(self.op.kind, self.answer.got) if self.op is not None and self.answer is not None else "nothing"
            text = f"{self.headline}\n  got      {got}\n  which breaks:"
        else:
            assert self.answer is not None
            text = self.answer.describe()
        lines = [text, *(f"    {d}" for d in self.detail)]
        if self.probe is not None:
            lines.append("  replay shows it at")
            lines += ["  " + t for t in self.probe.describe().splitlines()]
        if self.first_divergence is not None and self.first_divergence < self.line:
            lines.append(f"  (the states first differed after line {self.first_divergence})")
        return "\n".join(lines)


class OracleFailure(AssertionError):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message())
        self.failure = failure


class Checker:
    """Runs trace operations on an implementation and checks them at one level."""

    level = "none"

    def __init__(self, params: Params, factory: ImplFactory, impl_name: str) -> None:
        self.params = params
        self.geometry = make_geometry(params)
        self.impl_name = impl_name
        self.ops: TraceLines = []
        self.last_op: Op | None = None
        try:
            self.impl = factory(params)
        except (ImplementationFailed, ModelError) as e:  # it failed (or refused) the header of a valid trace
            raise self.fail("header", None, None, [str(e)], 1) from None

    def snapshot(self) -> State | None:
        """The implementation's state; a failure to give it is a failure at the last line."""
        try:
            return snapshot_of(self.impl)
        except ImplementationFailed as e:
            line = self.last_op.line if self.last_op is not None else 1
            raise self.fail("crash", self.last_op, None, [f"asked for its state, it failed: {e}"], line) from None

    def next_op(self, kind: str, args: dict[str, int | bool]) -> Op:
        return Op(kind, args, None, len(self.ops) + 2)

    def fail(
        self,
        kind: str,
        op: Op | None,
        answer: Mismatch | None,
        detail: list[str],
        line: int | None = None,
    ) -> OracleFailure:
        where = line if line is not None else (op.line if op is not None else 1)
        failure = Failure(kind, self.params, list(self.ops), where, op, answer, detail, self.level, self.impl_name)
        return OracleFailure(failure)

    def apply(self, kind: str, args: dict[str, int | bool]) -> Outcome | None:
        raise NotImplementedError

    def refuse(self, kind: str, args: dict[str, int | bool]) -> None:
        raise NotImplementedError

    def check_state(self, check_model: bool) -> None:
        raise NotImplementedError


class Lockstep(Checker):
    """The exact level: results and states equal to the model's at every step.

    When the states differ but no result does, quick probes on copies of
    both (oracle.pagealloc.probes) look for an operation whose result shows it; one
    that does makes the failure, trace and all. If none does, the
    difference is latent: it is recorded (diverged) and the case goes on,
    since a later step may still show it in a result.
    """

    level = "exact"

    def __init__(self, params: Params, factory: ImplFactory, impl_name: str) -> None:
        self.diverged: Failure | None = None
        self.last_differences: list[str] = []
        self.model = ModelImpl(params)
        super().__init__(params, factory, impl_name)

    def apply(self, kind: str, args: dict[str, int | bool]) -> Outcome | None:
        op = self.next_op(kind, args)
        want = self.model.apply(op)  # ModelError here is a bug of the machine's rules, not a finding
        got = answer(self.impl, op)
        self.ops.append((op, want))
        self.last_op = op
        mismatch = judge(op, want, got)
        if mismatch is not None:
            raise self.fail("mismatch", op, mismatch, [])
        return want

    def fail(
        self,
        kind: str,
        op: Op | None,
        answer: Mismatch | None,
        detail: list[str],
        line: int | None = None,
    ) -> OracleFailure:
        error = super().fail(kind, op, answer, detail, line)
        if self.diverged is not None and kind != "latent":
            error.failure.first_divergence = self.diverged.line
        return error

    def refuse(self, kind: str, args: dict[str, int | bool]) -> None:
        op = self.next_op(kind, args)
        try:
            self.model.apply(op)
        except ModelError as e:
            want: Answer = Refusal(str(e))
        else:
            raise self.fail("model", op, None, ["the model accepted an operation its rules refuse"])
        got = answer(self.impl, op)
        mismatch = judge(op, want, got)
        if mismatch is not None:
            raise self.fail("refusal", op, mismatch, [])

    def check_state(self, check_model: bool) -> None:
        line = self.last_op.line if self.last_op is not None else 1
        snapshot = self.snapshot()
        differences = diff_states(model_state(self.model.heap), snapshot, self.geometry) if snapshot else []
        if check_model or differences:
            # When the states differ, the model's own invariants say which side is wrong.
            violations = all_violations(self.model.heap)
            if violations:
                raise self.fail("model", self.last_op, None, violations[:8], line)
        if not differences or differences == self.last_differences:
            return
        self.last_differences = differences
        pair = clone_pair(self.model, self.impl)
        found = None
        if pair is not None:
            found = run_probes(pair, self.ops, probe_sequences(self.params, self.ops, full=False))
        if found is not None:
            error = self.fail("state", self.last_op, None, differences, line)
            error.failure.probe_lines, error.failure.probe = found
            raise error
        if self.diverged is None:
            self.diverged = self.fail("latent", self.last_op, None, differences, line).failure


class Shadow(Checker):
    """The safe level: results checked against what the results so far make certain."""

    level = "safe"

    def __init__(self, params: Params, factory: ImplFactory, impl_name: str) -> None:
        super().__init__(params, factory, impl_name)
        g = self.geometry
        self.cp = g.chunk_pages
        self.full = (1 << self.cp) - 1
        self.grown: set[int] = set()
        self.used: dict[int, int] = {}  # in use: handed out, or held by a cache
        self.must: dict[int, int] = {}  # free pages certainly scavenged
        self.may: dict[int, int] = {}  # free pages possibly scavenged
        self.padded: dict[int, int] = {}  # pages pad marked in use and scavenged (never freed)
        self.caches: dict[int, tuple[int | None, int, int]] = {}

    def pieces(self, page: int, npages: int) -> list[tuple[int, int]]:
        """(chunk, mask in that chunk) for pages [page, page+npages)."""
        out = []
        while npages > 0:
            chunk, index = page // self.cp, page % self.cp
            count = min(npages, self.cp - index)
            out.append((chunk, ((1 << count) - 1) << index))
            page, npages = page + count, npages - count
        return out

    def count(self, table: dict[int, int], page: int, npages: int) -> int:
        return sum((table.get(c, 0) & m).bit_count() for c, m in self.pieces(page, npages))

    def clear(self, table: dict[int, int], page: int, npages: int) -> None:
        for c, m in self.pieces(page, npages):
            table[c] = table.get(c, 0) & ~m

    def set(self, table: dict[int, int], page: int, npages: int) -> None:
        for c, m in self.pieces(page, npages):
            table[c] = table.get(c, 0) | m

    def apply(self, kind: str, args: dict[str, int | bool]) -> Outcome | None:
        op = self.next_op(kind, args)
        got = answer(self.impl, op)
        self.last_op = op
        if isinstance(got, Refusal):
            self.ops.append((op, None))
            raise self.fail("safety", op, Mismatch(op.line, op, None, got), ["a valid operation was refused"])
        if got is not None and not isinstance(got, dict):  # a crash
            self.ops.append((op, None))
            raise self.fail("safety", op, Mismatch(op.line, op, None, got), ["the implementation failed"])
        self.ops.append((op, got))
        problems = self.check_result(op, got)
        if problems:
            raise self.fail("safety", op, Mismatch(op.line, op, None, got), problems)
        return got

    def check_result(self, op: Op, got: Outcome | None) -> list[str]:
        a = op.args
        if op.kind in OPS_WITH_RESULT:
            if not isinstance(got, dict):
                return ["the implementation answered no result"]
        elif got is not None:
            return ["the implementation answered a result where none is due"]
        assert op.kind not in OPS_WITH_RESULT or got is not None
        if op.kind == "next_gen":
            return []
        if op.kind == "grow":
            for c in range(a["chunk"], a["chunk"] + a["nchunks"]):
                self.grown.add(c)
                self.used[c], self.must[c], self.may[c] = 0, self.full, self.full
            return []
        if op.kind == "alloc":
            assert got is not None
            return self.took(got["page"], a["npages"], got["scav"])
        if op.kind == "free":
            self.clear(self.used, a["page"], a["npages"])
            return []
        if op.kind == "pad":
            problems = self.free_and_grown(a["page"], a["npages"])
            self.set(self.used, a["page"], a["npages"])
            self.set(self.padded, a["page"], a["npages"])
            self.clear(self.must, a["page"], a["npages"])
            self.clear(self.may, a["page"], a["npages"])
            return problems
        if op.kind == "cache_fill":
            assert got is not None
            return self.filled(a["cache"], got)
        if op.kind == "cache_alloc":
            assert got is not None
            return self.cache_took(a["cache"], a["npages"], got)
        if op.kind == "cache_flush":
            base, free, scav = self.caches.get(a["cache"], (None, 0, 0))
            if base is not None and free:
                for i in range(CACHE_PAGES):
                    if free >> i & 1:
                        self.clear(self.used, base + i, 1)
                    if scav >> i & 1:
                        self.set(self.must, base + i, 1)
                        self.set(self.may, base + i, 1)
            self.caches[a["cache"]] = (None, 0, 0)
            return []
        assert got is not None
        return self.scavenged(a["npages"], got["released"])

    def took(self, page: int | None, npages: int, scav: int) -> list[str]:
        if page is None:
            return [] if scav == 0 else [f"a failed alloc reports {scav} scavenged pages"]
        problems = self.free_and_grown(page, npages)
        if problems:
            return problems
        low, high = self.count(self.must, page, npages), self.count(self.may, page, npages)
        if not low <= scav <= high:
            return [f"{scav} of the pages reported scavenged, but between {low} and {high} can be"]
        self.set(self.used, page, npages)
        self.clear(self.must, page, npages)
        self.clear(self.may, page, npages)
        return []

    def free_and_grown(self, page: int, npages: int) -> list[str]:
        for c, m in self.pieces(page, npages):
            if c not in self.grown:
                return [f"page {c * self.cp + (m & -m).bit_length() - 1} is not in the heap"]
            clash = self.used.get(c, 0) & m
            if clash:
                return [f"page {c * self.cp + (clash & -clash).bit_length() - 1} is already in use (handed out twice)"]
        return []

    def filled(self, cache_id: int, got: Outcome) -> list[str]:
        base, free, scav = got["base"], got["free"], got["scav"]
        self.caches[cache_id] = (base, free, scav)
        if base is None:
            return [] if free == 0 and scav == 0 else ["an empty cache fill has pages"]
        if base % CACHE_PAGES or free == 0:
            return [f"a cache base must be a multiple of {CACHE_PAGES} with free pages, got {base} and {free:#x}"]
        padding = 0
        for i in range(CACHE_PAGES):
            padding |= self.count(self.padded, base + i, 1) << i
        if scav & ~free & ~padding:
            return [f"scavenged bits {scav & ~free & ~padding:#x} outside the cache's free pages and the padding"]
        for i in range(CACHE_PAGES):
            if free >> i & 1:
                problems = self.free_and_grown(base + i, 1)
                if problems:
                    return problems
                is_scav = bool(scav >> i & 1)
                if self.count(self.must, base + i, 1) and not is_scav:
                    return [f"page {base + i} is scavenged but the cache says it is not"]
                if is_scav and not self.count(self.may, base + i, 1):
                    return [f"page {base + i} cannot be scavenged but the cache says it is"]
        for i in range(CACHE_PAGES):
            if free >> i & 1:
                self.set(self.used, base + i, 1)
                self.clear(self.must, base + i, 1)
                self.clear(self.may, base + i, 1)
        return []

    def cache_took(self, cache_id: int, npages: int, got: Outcome) -> list[str]:
        base, free, scav = self.caches.get(cache_id, (None, 0, 0))
        page = got["page"]
        if page is None:
            return [] if got["scav"] == 0 else ["a failed cache alloc reports scavenged pages"]
        if base is None or not base <= page <= base + CACHE_PAGES - npages:
            return [f"pages [{page}, {page + npages}) are not in the cache (base {base})"]
        mask = ((1 << npages) - 1) << (page - base)
        if free & mask != mask:
            return [f"pages [{page}, {page + npages}) are not all free in the cache ({free:#x})"]
        if (scav & mask).bit_count() != got["scav"]:
            return [f"{got['scav']} pages reported scavenged, the cache had {(scav & mask).bit_count()}"]
        self.caches[cache_id] = (base, free & ~mask, scav & ~mask)
        return []

    def scavenged(self, npages: int, released: int) -> list[str]:
        unscavenged = 0
        for c in self.grown:
            free = ~self.used.get(c, 0) & self.full
            unscavenged += (free & ~self.must.get(c, 0)).bit_count()
        if not 0 <= released <= unscavenged:
            return [f"released {released} pages, but at most {unscavenged} free pages are unscavenged"]
        if released:
            for c in self.grown:
                free = ~self.used.get(c, 0) & self.full
                self.may[c] = free
                if released == unscavenged:
                    self.must[c] = free
        return []

    def refuse(self, kind: str, args: dict[str, int | bool]) -> None:
        op = self.next_op(kind, args)
        got = answer(self.impl, op)
        mismatch = judge(op, Refusal("the operation is invalid"), got)
        if mismatch is not None:
            raise self.fail("refusal", op, mismatch, [])

    def check_state(self, check_model: bool) -> None:
        snapshot = self.snapshot()
        if snapshot is None:
            return
        problems = self.check_snapshot(snapshot)
        if problems:
            line = self.last_op.line if self.last_op is not None else 1
            raise self.fail("safety", self.last_op, None, ["state: " + p for p in problems[:8]], line)

    def check_snapshot(self, state: State) -> list[str]:
        problems = []
        chunks = state["chunks"]
        if set(chunks) != self.grown:
            problems.append(f"grown chunks {sorted(chunks)[:8]} differ from the grows {sorted(self.grown)[:8]}")
        g = self.geometry
        for c in sorted(self.grown & set(chunks)):
            used = words_to_int(chunks[c]["alloc"])
            scav = words_to_int(chunks[c]["scav"])
            if used != self.used.get(c, 0):
                diff = used ^ self.used.get(c, 0)
                page = c * self.cp + (diff & -diff).bit_length() - 1
                problems.append(f"page {page} is {'in use' if used >> (page % self.cp) & 1 else 'free'} in the bitmap")
            if used & scav & ~self.padded.get(c, 0):
                both = used & scav & ~self.padded.get(c, 0)
                problems.append(f"page {c * self.cp + (both & -both).bit_length() - 1} is scavenged and in use")
            free = ~self.used.get(c, 0) & self.full
            if self.must.get(c, 0) & free & ~scav:
                problems.append(f"chunk {c} lost scavenged bits")
            if scav & free & ~self.may.get(c, 0):
                problems.append(f"chunk {c} has pages scavenged that no scavenge released")
        expected = summarize_levels({c: int_to_words(words_to_int(d["alloc"]), g) for c, d in chunks.items()}, g)
        for level, (want, have) in enumerate(zip(expected, state["levels"], strict=False)):
            for i in sorted(set(want) | set(have)):
                w = pack(want[i], g) if i in want else 0
                h = have.get(i, 0)
                if w != h:
                    problems.append(
                        f"summary at level {level} entry {i} is {triple(h, g)}, its bitmaps give {triple(w, g)}"
                    )
                    break
        return problems


def words_to_int(words: list[int]) -> int:
    value = 0
    for k, w in enumerate(words):
        value |= w << (64 * k)
    return value


def int_to_words(value: int, geometry: Geometry) -> list[int]:
    return [(value >> (64 * k)) & MASK64 for k in range(geometry.words_per_chunk)]


def triple(packed: int, geometry: Geometry) -> tuple[int, int, int]:
    s, m, e = unpack_triple(packed, geometry)
    return int(s), int(m), int(e)


