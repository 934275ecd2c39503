"""The stateful differential oracle: a Hypothesis state machine over trace operations.

A test case is a trace (version 2): params drawn at the start (64-, 128-
or 512-page chunks, physical and huge page sizes), then operations chosen
by rules that keep every one valid: frees only of live allocations (whole,
a prefix, a suffix, all but an edge page, a middle piece, the largest one,
or every live page of one chunk, maybe keeping the page at its edge), cache
operations on known cache ids, grows only where no chunk is, forced and
background scavenges, next_gen. A separate rule tries invalid operations (a
double free, a grow over a chunk or past the address space, a free of a
page a cache holds, an unknown cache, ...) and requires them refused.
Rules aim at the hard states on purpose: heaps of adjacent and far-apart
chunks (at the top of the address space, across a root entry's boundary),
allocations that must span chunks, exhaustion (allocating until it fails,
exactly the free page count and one more), holes, whole chunks emptied,
lone pages at chunk edges (where summaries merge), full chunks, and
scavenging with and without huge pages. Heaps stay under 4,096 pages, and
scavenging under SCAVENGE_SPAN chunks of span, so that a step is cheap.

Each step is judged by a Checker of oracle.pagealloc.levels: Lockstep for
the exact level (the model beside the implementation), Shadow for the safe
level (what the answers so far make certain). A failure raises
OracleFailure; the machine records every failure in its RunLog, and the
driver (oracle.pagealloc.fuzz) writes the last one, Hypothesis's final,
shrunk example (oracle.pagealloc.failures).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from oracle.pagealloc.levels import (
    CACHE_IDS,
    MODEL_INVARIANTS_EVERY,
    Checker,
    Failure,
    ImplFactory,
    Lockstep,
    OracleFailure,
    Shadow,
)
from oracle.pagealloc.probes import SCAVENGE_SPAN
from oracle.pagealloc.protocol import make_geometry
from oracle.pagealloc.trace import Outcome, Params

TRACE_VERSION = 3  # the machine's traces use every op, padding included

# The state machine.


@attrs.define
class RunLog:
    """What the machines of one Hypothesis run share: counts and the last failure."""

    steps: int = 0
    examples: int = 0
    failing_examples: int = 0
    first_failure_example: int | None = None
    last_failure: Failure | None = None
    latent: Failure | None = None  # the shortest difference of states no result showed
    on_step: Callable[[], None] | None = None


@attrs.frozen
class MachineConfig:
    impl_name: str
    factory: ImplFactory
    level: str = "exact"
    params: Params | None = None
    model_invariants_every: int = MODEL_INVARIANTS_EVERY
    max_heap_pages: int = 4096
    log: RunLog = attrs.field(factory=RunLog)


def params_strategy() -> st.SearchStrategy[Params]:
    def with_pages(chunk_pages: int) -> st.SearchStrategy[Params]:
        huge = [h for h in (256, 0, 8, 16, 64, 512) if h <= chunk_pages]
        phys = st.sampled_from([1, 8, 2, 4, 64])
        return st.builds(Params, st.just(chunk_pages), phys, st.sampled_from(huge), st.just(TRACE_VERSION))

    # 64-page chunks first: Hypothesis shrinks towards them, and the model summarizes them 8x faster.
    return st.sampled_from([64, 512, 128]).flatmap(with_pages)


# Where grow puts new chunks; right above the heap (as Go grows) most often, so chunks have neighbours.
GROW_PLACES = ("above", "above", "above", "zero", "gap_above", "below", "below", "far", "top", "root_boundary")
FREE_MODES = ("whole", "prefix", "suffix", "all_but_last", "all_but_first", "middle")


class OracleMachine(RuleBasedStateMachine):
    """Rules that generate valid traces; a Checker runs and judges every line."""

    config: ClassVar[MachineConfig]

    def __init__(self) -> None:
        super().__init__()
        self.cfg = type(self).config
        self.cfg.log.examples += 1
        self.checker: Checker | None = None
        self.grown: set[int] = set()
        self.live: list[tuple[int, int]] = []
        self.caches: dict[int, tuple[int | None, int, int]] = {}
        self.padded: set[int] = set()  # pages pad marked: in use, owned by no allocation
        self.steps = 0
        self.failed = False

    # Running operations.

    def run(self, kind: str, **args: int | bool) -> Outcome | None:
        assert self.checker is not None
        try:
            outcome = self.checker.apply(kind, args)
        except OracleFailure as e:
            self.record(e.failure)
            raise
        self.steps += 1
        self.cfg.log.steps += 1
        if self.cfg.log.on_step is not None:
            self.cfg.log.on_step()
        self.track(kind, args, outcome)
        return outcome

    def record(self, failure: Failure) -> None:
        self.failed = True
        log = self.cfg.log
        log.failing_examples += 1
        if log.first_failure_example is None:
            log.first_failure_example = log.examples
        log.last_failure = failure

    def track(self, kind: str, args: dict[str, int | bool], outcome: Outcome | None) -> None:
        if kind == "grow":
            self.grown.update(range(args["chunk"], args["chunk"] + args["nchunks"]))
        elif kind in ("alloc", "cache_alloc") and outcome is not None and outcome["page"] is not None:
            self.live.append((outcome["page"], args["npages"]))
            if kind == "cache_alloc":
                base, free, scav = self.caches[args["cache"]]
                mask = ((1 << args["npages"]) - 1) << (outcome["page"] - (base or 0))
                self.caches[args["cache"]] = (base, free & ~mask, scav & ~mask)
        elif kind == "cache_fill" and outcome is not None:
            self.caches[args["cache"]] = (outcome["base"], outcome["free"], outcome["scav"])
        elif kind == "cache_flush":
            self.caches[args["cache"]] = (None, 0, 0)

    @property
    def chunk_pages(self) -> int:
        assert self.checker is not None
        return self.checker.params.chunk_pages

    def free_pages(self) -> int:
        held = sum(free.bit_count() for _, free, _ in self.caches.values())
        return len(self.grown) * self.chunk_pages - sum(n for _, n in self.live) - held - len(self.padded)

    # Rules.

    @initialize(data=st.data())
    def start(self, data: st.DataObject) -> None:
        params = self.cfg.params if self.cfg.params is not None else data.draw(params_strategy(), label="params")
        cls = Lockstep if self.cfg.level == "exact" else Shadow
        try:
            self.checker = cls(params, self.cfg.factory, self.cfg.impl_name)
        except OracleFailure as e:
            self.record(e.failure)
            raise

    @rule(data=st.data())
    def grow(self, data: st.DataObject) -> None:
        assert self.checker is not None
        g = self.checker.geometry
        room = self.cfg.max_heap_pages // g.chunk_pages - len(self.grown)
        if room <= 0:
            return
        nchunks = data.draw(st.integers(1, min(room, 4)), label="nchunks")
        place = data.draw(st.sampled_from(GROW_PLACES), label="place")
        space = self.checker.params.space  # the chunks a trace of this platform may grow (SPEC.md, "Platforms")
        first, top = space.first_chunk, space.chunk_limit(g.chunk_pages)
        lowest, highest = (min(self.grown), max(self.grown)) if self.grown else (first, first - 1)
        boundary = 1 << (g.levels - 1) * g.level_bits  # chunks per root entry
        chunk = {
            "above": highest + 1,
            "zero": first,
            "gap_above": highest + 1 + data.draw(st.integers(1, 3), label="gap"),
            "below": lowest - nchunks,
            "far": data.draw(st.integers(first, top - nchunks), label="far"),
            "top": top - nchunks,
            "root_boundary": boundary * data.draw(st.integers(1, 4), label="entry") - 1,
        }[place]
        if chunk < first or chunk + nchunks > top or any(c in self.grown for c in range(chunk, chunk + nchunks)):
            return
        self.run("grow", chunk=chunk, nchunks=nchunks)

    def alloc_sizes(self) -> st.SearchStrategy[int]:
        cp = self.chunk_pages
        free = max(self.free_pages(), 1)
        special = sorted({63, 64, 65, cp - 1, cp, cp + 1, 2 * cp, 2 * cp + 3, free, free + 1})
        return st.one_of(st.integers(1, 8), st.sampled_from(special), st.integers(1, free + 1))

    @rule(data=st.data())
    def alloc(self, data: st.DataObject) -> None:
        self.run("alloc", npages=data.draw(self.alloc_sizes(), label="npages"))

    @rule(data=st.data())
    def alloc_across_chunks(self, data: st.DataObject) -> None:
        """An allocation that must span chunks (it fails when no run is long enough)."""
        cp = self.chunk_pages
        npages = data.draw(st.sampled_from([cp + 1, 2 * cp - 1, 2 * cp, 3 * cp + 5]), label="npages")
        self.run("alloc", npages=npages)

    @rule(data=st.data())
    def exhaust(self, data: st.DataObject) -> None:
        """Allocate until it fails, in pieces of one size, then single pages until that fails too."""
        size = data.draw(st.sampled_from([1, 8, 64, self.chunk_pages]), label="size")
        size = max(size, self.free_pages() // 16)
        for npages in (size, 1):
            for _ in range(24):
                outcome = self.run("alloc", npages=npages)
                if outcome is None or outcome["page"] is None:
                    break

    @precondition(lambda self: bool(self.live))
    @rule(data=st.data())
    def free(self, data: st.DataObject) -> None:
        if data.draw(st.booleans(), label="largest"):
            # The largest live allocation: frees across chunks, and the tree updates they need.
            i = max(range(len(self.live)), key=lambda k: self.live[k][1])
        else:
            i = data.draw(st.integers(0, len(self.live) - 1), label="which")
        page, npages = self.live.pop(i)
        mode = data.draw(st.sampled_from(FREE_MODES), label="mode") if npages > 1 else "whole"
        cut = data.draw(st.integers(1, npages - 1), label="cut") if npages > 1 else 0
        if mode == "whole":
            self.run("free", page=page, npages=npages)
        elif mode == "prefix":
            self.run("free", page=page, npages=cut)
            self.live.append((page + cut, npages - cut))
        elif mode == "suffix":
            self.run("free", page=page + cut, npages=npages - cut)
            self.live.append((page, cut))
        elif mode == "all_but_last":
            self.run("free", page=page, npages=npages - 1)
            self.live.append((page + npages - 1, 1))
        elif mode == "all_but_first":
            self.run("free", page=page + 1, npages=npages - 1)
            self.live.append((page, 1))
        else:
            hi = data.draw(st.integers(cut, npages - 1), label="hi")
            if hi > cut:
                self.run("free", page=page + cut, npages=hi - cut)
            self.live.append((page, cut))
            if hi < npages:
                self.live.append((page + hi, npages - hi))

    @precondition(lambda self: bool(self.live))
    @rule(data=st.data())
    def free_chunk(self, data: st.DataObject) -> None:
        """Free the live pages of one chunk, splitting allocations at its edges; maybe keep one edge page.

        This empties whole chunks between busy ones, and leaves chunks whose only page in use is the
        first or the last, where free runs and summaries meet across chunk boundaries.
        """
        cp = self.chunk_pages
        page, _ = self.live[data.draw(st.integers(0, len(self.live) - 1), label="which")]
        lo = page - page % cp
        hi = lo + cp
        keep = {"all": None, "keep_end": hi - 1, "keep_start": lo}[
            data.draw(st.sampled_from(["all", "keep_end", "keep_start"]), label="mode")
        ]
        remaining: list[tuple[int, int]] = []
        for p, n in self.live:
            a, b = max(p, lo), min(p + n, hi)
            if a >= b:
                remaining.append((p, n))
                continue
            if p < a:
                remaining.append((p, a - p))
            if b < p + n:
                remaining.append((b, p + n - b))
            if keep is not None and a <= keep < b:
                remaining.append((keep, 1))
                pieces = [(a, keep - a), (keep + 1, b - keep - 1)]
            else:
                pieces = [(a, b - a)]
            for q, m in pieces:
                if m > 0:
                    self.run("free", page=q, npages=m)
        self.live = remaining

    @rule(data=st.data())
    def cache_fill(self, data: st.DataObject) -> None:
        empty = [i for i in range(CACHE_IDS) if not self.caches.get(i, (None, 0, 0))[1]]
        if empty:
            self.run("cache_fill", cache=data.draw(st.sampled_from(empty), label="cache"))

    @precondition(lambda self: bool(self.caches))
    @rule(data=st.data())
    def cache_alloc(self, data: st.DataObject) -> None:
        cache_id = data.draw(st.sampled_from(sorted(self.caches)), label="cache")
        npages = data.draw(st.one_of(st.integers(1, 4), st.sampled_from([8, 16, 32, 63, 64])), label="npages")
        for _ in range(data.draw(st.integers(1, 4), label="times")):
            self.run("cache_alloc", cache=cache_id, npages=npages)

    @precondition(lambda self: bool(self.caches))
    @rule(data=st.data())
    def cache_flush(self, data: st.DataObject) -> None:
        self.run("cache_flush", cache=data.draw(st.sampled_from(sorted(self.caches)), label="cache"))

    def span(self) -> int:
        """Chunks from the lowest grown chunk to the highest: what the model's scavenge index walks."""
        return max(self.grown) - min(self.grown) + 1 if self.grown else 0

    @precondition(lambda self: self.span() <= SCAVENGE_SPAN)
    @rule(data=st.data())
    def scavenge(self, data: st.DataObject) -> None:
        assert self.checker is not None
        p = self.checker.params
        sizes = sorted({1, 2, p.phys_page_pages, max(p.huge_page_pages, 1), 64, self.chunk_pages, 1 << 20})
        npages = data.draw(st.sampled_from(sizes), label="npages")
        if data.draw(st.booleans(), label="background"):
            self.run("scavenge", npages=npages, force=False)
        else:
            self.run("scavenge", npages=npages)

    @rule()
    def next_gen(self) -> None:
        """End a GC cycle: the background scavenger's generation and cursor move (trace version 2)."""
        self.run("next_gen")

    @precondition(lambda self: bool(self.grown))
    @rule(data=st.data())
    def pad(self, data: st.DataObject) -> None:
        """Pad free pages of a chunk, as Go pads the base of its first growth (trace version 3)."""
        cp = self.chunk_pages
        chunk = data.draw(st.sampled_from(sorted(self.grown)), label="chunk")
        used = {p + k for p, n in self.live for k in range(n)} | self.padded
        used |= {b + i for b, f, _ in self.caches.values() if b is not None for i in range(64) if f >> i & 1}
        free = [chunk * cp + i for i in range(cp) if chunk * cp + i not in used]
        if not free:
            return
        start = data.draw(st.sampled_from(free[:8]), label="start")
        free_set = set(free)
        run = 1
        while start + run in free_set:
            run += 1
        npages = data.draw(st.integers(1, run), label="npages")
        self.run("pad", page=start, npages=npages)
        self.padded.update(range(start, start + npages))

    @rule(data=st.data())
    def invalid(self, data: st.DataObject) -> None:
        """An operation the rules refuse: it must be refused, and the states must still agree."""
        assert self.checker is not None
        cp = self.chunk_pages
        g = make_geometry(self.checker.params)
        choices: list[tuple[str, dict[str, int | bool]]] = [
            ("free", {"page": g.total_pages - 3, "npages": 3}),
            ("cache_alloc", {"cache": CACHE_IDS + 7, "npages": 1}),
            ("cache_flush", {"cache": CACHE_IDS + 7}),
            ("grow", {"chunk": g.total_chunks - 1, "nchunks": 2}),
        ]
        if self.grown:
            c = data.draw(st.sampled_from(sorted(self.grown)), label="chunk")
            choices.append(("grow", {"chunk": c, "nchunks": 1}))
            used = {p + k for p, n in self.live for k in range(n) if p // cp == c} | self.padded
            used |= {b + i for b, f, _ in self.caches.values() if b is not None for i in range(64) if f >> i & 1}
            free_here = [c * cp + i for i in range(cp) if c * cp + i not in used]
            if free_here:
                choices.append(("free", {"page": free_here[0], "npages": 1}))
        if self.live:
            p, n = self.live[data.draw(st.integers(0, len(self.live) - 1), label="which")]
            if p + n < g.total_pages:
                choices.append(("free", {"page": p, "npages": n + 1}))
        if self.padded:
            choices.append(("free", {"page": min(self.padded), "npages": 1}))
        for cache_id, (base, free, _) in self.caches.items():
            if base is not None and free:
                choices.append(("free", {"page": base + (free & -free).bit_length() - 1, "npages": 1}))
                choices.append(("cache_fill", {"cache": cache_id}))
        kind, args = data.draw(st.sampled_from(choices), label="invalid")
        if kind == "free" and args["page"] + args["npages"] <= g.total_pages:
            # A free that the live set makes valid is not a test of refusal.
            pages = range(args["page"], args["page"] + args["npages"])
            live = {p + k for p, n in self.live for k in range(n)}
            if all(q in live for q in pages):
                return
        try:
            self.checker.refuse(kind, args)
        except OracleFailure as e:
            self.record(e.failure)
            raise

    @invariant()
    def conforms(self) -> None:
        if self.checker is None:  # invariants run once before the initialize rule too
            return
        every = self.cfg.model_invariants_every
        self.check(check_model=every > 0 and self.steps % every == 0)

    def check(self, check_model: bool) -> None:
        assert self.checker is not None
        try:
            self.checker.check_state(check_model)
        except OracleFailure as e:
            self.record(e.failure)
            raise

    def teardown(self) -> None:
        if self.checker is not None and not self.failed and self.cfg.model_invariants_every > 0:
            self.check(check_model=self.steps % self.cfg.model_invariants_every != 0)
        diverged = getattr(self.checker, "diverged", None)
        log = self.cfg.log
        if diverged is not None and not self.failed and (log.latent is None or len(diverged.ops) < len(log.latent.ops)):
            log.latent = diverged


def machine_class(config: MachineConfig, tag: str = "") -> type[OracleMachine]:
    """A machine class bound to a configuration (its name keys Hypothesis's example database)."""
    name = f"Oracle_{config.impl_name}_{config.level}{'_' + tag if tag else ''}"
    return type(name, (OracleMachine,), {"config": config})
