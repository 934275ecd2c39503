"""Random valid operation streams, each line answered by the implementation that generates them.

The Generator picks, with a seeded random.Random, an operation that the
heap's state makes valid (frees only of live allocations, cache operations
on known ids, grows where no chunk is), applies it at once to the
implementation it drives, records the answer as the line's expect, and goes
on. It knows the state from the answers alone (grown chunks, live
allocations, each cache's free pages), and reads one more thing from the
heap: a chunk's in-use bitmap (`chunk_bits`), to aim allocations at the
exact length of a free run. So the same generator serves the go campaign
(the model answers; oracle.golive.campaign sends the stream to the runtime)
and the benchmarks (fast/ answers, for speed).

Streams cover every op of trace format version 4: grows next to, below,
above (with gaps), far from the heap and across root-entry boundaries;
allocations of every size class (1..8, around 64 and a chunk, several
chunks, the free page count and one more, a chunk's free run and one more),
exhaustion bursts, partial frees that leave holes, whole chunks freed, page
caches (fill, allocations that fail, flush), forced and background
scavenges (huge-page sized ones, ones larger than the heap), GC cycle ends
(next_gen), chunks driven to the scavenger's density threshold, heap-base
padding (version 3) and wakes of the background scavenger's goroutine with
stubs that steer its pacing (version 4).

Weights are per stream ("swarm" testing): each op kind's weight is its base
weight times a factor drawn once per stream, some of them zero, so some
streams hammer a few kinds and reach states a uniform mix rarely does.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Callable
from typing import Any, ClassVar

from model.scavenge import high_occupancy_pages
from oracle.pagealloc.protocol import Implementation, ModelImpl, make_geometry
from oracle.pagealloc.trace import Op, Outcome, Params

CACHE_IDS = 4
PAD_FIRST_GROWTH = 0.3  # the share of streams that start padded, as Go's randomized heap base does
CACHE_PAGES = 64
# Scavenge only while the heap spans at most this many chunks: the scavenge index (the model's and
# the runtime's) walks every chunk index from its cursor down to the lowest chunk.
SCAVENGE_SPAN = 8192
# The most pages a scavenger_wake is meant to release: it scavenges 8 pages (64 KiB) a call, so at most
# about 400 calls of the model's scavenge a wake.
WAKE_PAGES = 3200

ChunkBits = Callable[[int], int]


def free_runs(used: int, chunk_pages: int) -> list[int]:
    """The lengths of the runs of free pages (0 bits) of a chunk's in-use bitmap, low to high."""
    free = ~used & ((1 << chunk_pages) - 1)
    runs = []
    while free:
        free >>= (free & -free).bit_length() - 1  # drop the used pages below the run
        length = (~free & (free + 1)).bit_length() - 1  # trailing ones
        runs.append(length)
        free >>= length
    return runs


def edge_runs(used: int, chunk_pages: int) -> tuple[int, int]:
    """(free pages at the chunk's start, free pages at its end)."""
    if used == 0:
        return chunk_pages, chunk_pages
    start = (used & -used).bit_length() - 1
    end = chunk_pages - used.bit_length()
    return start, end


class Generator:
    """One stream: random valid operations, each answered by `impl` (see the module comment)."""

    BASE_WEIGHTS: ClassVar[dict[str, float]] = {
        "grow": 3,
        "alloc": 10,
        "exhaust": 1,
        "free": 8,
        "free_chunk": 1,
        "cache_fill": 2,
        "cache_alloc": 3,
        "cache_flush": 2,
        "scavenge": 2,
        "scavenge_bg": 2,
        "next_gen": 1.5,
        "densify": 1,
        "straddle": 0.7,
        "root_grow": 0.15,
        "pad": 0.3,
        "scavenger_wake": 1,
    }

    def __init__(
        self,
        rng: random.Random,
        params: Params,
        max_chunks: int,
        impl: Implementation | None = None,
        chunk_bits: ChunkBits | None = None,
        on_line: Callable[[], None] | None = None,
        swarm: bool = True,
        big_grows: bool = True,
    ) -> None:
        """impl answers every line (default: a fresh model); chunk_bits reads its bitmaps (default: impl.chunk_bits).

        big_grows False leaves out grows of a whole root entry (seconds of work for the model).

        on_line, if given, runs after every line (the campaign records the model's hidden state there).
        """
        self.rng = rng
        self.params = params
        self.geometry = make_geometry(params)
        if impl is None:
            impl = ModelImpl(params)
        self.impl = impl
        if chunk_bits is None:
            chunk_bits = impl.chunk_bits  # type: ignore[attr-defined]  # the model and fast/ both have it
        self.chunk_bits = chunk_bits
        self.on_line = on_line
        space = params.space
        # Grows stay in [first_chunk, max_chunks): the chunks a trace may grow on the platform, and below
        # the implementation's own limit.
        self.first_chunk = space.first_chunk
        self.max_chunks = min(max_chunks, space.chunk_limit(params.chunk_pages))
        g = self.geometry
        self.root_entry_chunks = 1 << (g.level_log_pages(0) - g.log_chunk_pages)  # chunks under one root entry
        # Where the address space's top wraps a uintptr (32-bit platforms), its last chunks are a shape.
        self.top_weight = 0.5 if space.uintptr_bits == 32 else 0.0
        self.max_npages = space.max_npages(params.chunk_pages)  # a count's bytes fit the platform's addresses
        self.cap = rng.choice([1, 2, 3, 4, 6, 8, 12, 16])
        self.ops: list[Op] = []
        self.wants: list[Outcome | None] = []
        self.chunks: list[int] = []  # the grown chunks in order (a heap may hold a whole root entry of them)
        self.shaped = 0  # chunks the shape rules grew (straddle, root_grow): not counted against cap
        self.live: list[tuple[int, int]] = []  # allocations handed out and not freed: (page, npages)
        self.in_use = 0  # pages handed out and not freed: the sum of live's counts, kept as it changes
        self.caches: dict[int, tuple[int | None, int]] = {}  # id -> (base, free pages)
        if swarm:
            self.weights = {k: w * rng.choice([0.0, 0.3, 1.0, 1.0, 2.0, 4.0]) for k, w in self.BASE_WEIGHTS.items()}
            self.weights["alloc"] = max(self.weights["alloc"], 2.0)
            self.weights["free"] = max(self.weights["free"], 2.0)
            self.weights["grow"] = max(self.weights["grow"], 0.5)
        else:
            self.weights = dict(self.BASE_WEIGHTS)
        if not big_grows:
            self.weights.pop("root_grow", None)
        self.rules: dict[str, Callable[[], None]] = {
            "grow": self.grow,
            "alloc": self.alloc,
            "exhaust": self.exhaust,
            "free": self.free,
            "free_chunk": self.free_chunk,
            "cache_fill": self.cache_fill,
            "cache_alloc": self.cache_alloc,
            "cache_flush": self.cache_flush,
            "scavenge": self.scavenge,
            "scavenge_bg": self.scavenge_bg,
            "next_gen": self.next_gen,
            "densify": self.densify,
            "straddle": self.straddle,
            "root_grow": self.root_grow,
            "pad": self.pad,
            "scavenger_wake": self.scavenger_wake,
        }

    def run(self, length: int) -> None:
        kinds = list(self.weights)
        cumulative = list(itertools.accumulate(self.weights[k] for k in kinds))  # choices then need not sum them
        rules = [self.rules[k] for k in kinds]
        while not self.chunks:
            self.grow()
        if self.params.version >= 3 and self.rng.random() < PAD_FIRST_GROWTH:
            # As Go pads the base of its first growth: a random number of pages from its start.
            cp = self.params.chunk_pages
            self.emit("pad", page=self.chunks[0] * cp, npages=self.rng.randint(1, cp - 1))
        choices, ops = self.rng.choices, self.ops
        while len(ops) < length:
            choices(rules, cum_weights=cumulative)[0]()

    def emit(self, kind: str, **args: Any) -> Outcome | None:
        op = Op(kind, args, None, len(self.ops) + 2)
        want = self.impl.apply(op)  # a refusal here is a bug of the generator, not a finding
        self.ops.append(op)
        self.wants.append(want)
        if self.on_line is not None:
            self.on_line()
        if kind == "grow":
            new = range(args["chunk"], args["chunk"] + args["nchunks"])
            at = bisect.bisect_left(self.chunks, args["chunk"])
            self.chunks[at:at] = new
        elif kind == "free":
            self.in_use -= args["npages"]
        elif kind in ("alloc", "cache_alloc") and want is not None and want["page"] is not None:
            self.live.append((want["page"], args["npages"]))
            self.in_use += args["npages"]
            if kind == "cache_alloc":
                base, free = self.caches[args["cache"]]
                taken = ((1 << args["npages"]) - 1) << (want["page"] - (base or 0))
                self.caches[args["cache"]] = (base, free & ~taken)
        elif kind == "cache_fill" and want is not None:
            self.caches[args["cache"]] = (want["base"], want["free"])
        elif kind == "cache_flush":
            self.caches[args["cache"]] = (None, 0)
        return want

    # Sizes.

    def free_pages(self) -> int:
        held = sum(free.bit_count() for _, free in self.caches.values())
        return len(self.chunks) * self.params.chunk_pages - self.in_use - held

    def alloc_size(self) -> int:
        cp, free = self.params.chunk_pages, max(self.free_pages(), 1)
        r = self.rng.random()
        if r < 0.5:
            return self.rng.randint(1, 8)
        if r < 0.75:
            return self.rng.choice(
                [9, 16, 31, 63, 64, 65, 127, 128, 129, 192, 256, cp - 1, cp, cp + 1, 2 * cp, 2 * cp + 3]
            )
        if r < 0.85:
            return self.rng.randint(1, free + 1)
        if r < 0.92 or not self.chunks:
            return self.rng.choice([free, free + 1, max(free // 2, 1)])
        # Exactly the length of a free run of a chunk, or one page more: the boundary cases of every
        # search (a run one page short of the request, before one that fits, in the same chunk).
        chunk = self.rng.choice(self.chunks)
        used = self.chunk_bits(chunk)
        runs = free_runs(used, cp)
        start, end = edge_runs(used, cp)
        longest = max(runs, default=0)
        return max(1, self.rng.choice([*(runs or [1]), longest, start + end]) + self.rng.choice([0, 1]))

    # Rules.

    def grow(self) -> None:
        room = self.cap - (len(self.chunks) - self.shaped)
        if room <= 0:
            return
        k = min(room, self.rng.choice([1, 1, 1, 2, 3, 4]))
        first, root = self.first_chunk, self.root_entry_chunks
        lowest, highest = (self.chunks[0], self.chunks[-1]) if self.chunks else (first, first - 1)
        place = self.rng.choices(
            ["above", "gap", "below", "lowest", "root_boundary", "near", "far", "top"],
            [6, 3, 2, 1, 1, 2, 0.3, self.top_weight],
        )[0]
        chunk = {
            "above": highest + 1,
            "gap": highest + 1 + self.rng.randint(1, 3),
            "below": lowest - k - self.rng.choice([0, 0, 1, 2]),
            "lowest": first,
            "root_boundary": root * self.rng.randint(1, max(1, min(3, self.max_chunks // root)))
            - self.rng.randint(1, k),
            "near": self.rng.randint(first, max(first, min(3 * root, self.max_chunks - k))),
            "far": self.rng.randint(first, max(first, self.max_chunks - k)),
            "top": self.max_chunks - k - self.rng.choice([0, 0, 1, 5]),
        }[place]
        if place == "root_boundary" and k == 1 and room >= 2:
            k = 2  # the chunk below a root entry's boundary and the one above it
        if chunk < first or chunk + k > self.max_chunks or self.any_grown(chunk, k):
            return
        self.emit("grow", chunk=chunk, nchunks=k)

    def alloc(self) -> None:
        self.emit("alloc", npages=self.alloc_size())

    def exhaust(self) -> None:
        size = self.rng.choice([1, 2, 8, 64, self.params.chunk_pages])
        size = max(size, self.free_pages() // 40)
        for npages in (size, 1):
            for _ in range(60):
                want = self.emit("alloc", npages=npages)
                if want is None or want["page"] is None:
                    break

    def free_part(self, i: int, offset: int, count: int) -> None:
        page, npages = self.live.pop(i)
        self.emit("free", page=page + offset, npages=count)
        if offset:
            self.live.append((page, offset))
        if offset + count < npages:
            self.live.append((page + offset + count, npages - offset - count))

    def free(self) -> None:
        if not self.live:
            return
        i = self.rng.randrange(len(self.live))
        _, n = self.live[i]
        mode = self.rng.choice(["whole", "whole", "prefix", "suffix", "middle", "one", "words"]) if n > 1 else "whole"
        if mode == "whole":
            self.free_part(i, 0, n)
        elif mode == "prefix":
            self.free_part(i, 0, self.rng.randint(1, n - 1))
        elif mode == "suffix":
            cut = self.rng.randint(1, n - 1)
            self.free_part(i, cut, n - cut)
        elif mode == "middle":
            lo = self.rng.randint(0, n - 1)
            self.free_part(i, lo, self.rng.randint(1, n - lo))
        elif mode == "words" and n >= 64:
            # Whole 64-page words of the bitmap, starting on a word boundary: the word-at-a-time paths
            # of setting and clearing ranges.
            page = self.live[i][0]
            first = (-page) % 64
            words = (n - first) // 64
            if words == 0:
                self.free_part(i, 0, n)
                return
            start = first + 64 * self.rng.randrange(words)
            count = 64 * self.rng.randint(1, (n - start) // 64)
            self.free_part(i, start, count)
        else:
            self.free_part(i, self.rng.randrange(n), 1)

    def free_chunk(self) -> None:
        if not self.live:
            return
        chunk = self.live[self.rng.randrange(len(self.live))][0] // self.params.chunk_pages
        keep = []
        for page, npages in self.live:
            if page // self.params.chunk_pages == chunk:
                self.emit("free", page=page, npages=npages)
            else:
                keep.append((page, npages))
        self.live = keep

    def cache_fill(self) -> None:
        empty = [i for i in range(CACHE_IDS) if not self.caches.get(i, (None, 0))[1]]
        if empty:
            self.emit("cache_fill", cache=self.rng.choice(empty))

    def cache_alloc(self) -> None:
        if not self.caches:
            return
        cache = self.rng.choice(sorted(self.caches))
        npages = self.rng.choice([1, 1, 1, 2, 3, 4, 5, 8, 16, 32, 63, 64])
        for _ in range(self.rng.randint(1, 6)):
            self.emit("cache_alloc", cache=cache, npages=npages)

    def cache_flush(self) -> None:
        if self.caches:
            self.emit("cache_flush", cache=self.rng.choice(sorted(self.caches)))

    def span(self) -> int:
        return self.chunks[-1] - self.chunks[0] + 1 if self.chunks else 0

    def scavenge_size(self) -> int:
        p = self.params
        fixed = [1, 2, 3, p.phys_page_pages, max(p.huge_page_pages, 1), 64, 100, p.chunk_pages, 1 << 20]
        return min(self.rng.choice([*fixed, self.rng.randint(1, 2 * p.chunk_pages)]), self.max_npages)

    def scavenge(self) -> None:
        if self.span() <= SCAVENGE_SPAN:
            self.emit("scavenge", npages=self.scavenge_size())

    def scavenge_bg(self) -> None:
        if self.span() <= SCAVENGE_SPAN:
            self.emit("scavenge", npages=self.scavenge_size(), force=False)

    def next_gen(self) -> None:
        self.emit("next_gen")

    def scavenger_wake(self) -> None:
        """Wake the background scavenger (trace version 4) with stubs that steer its pacing: a cost per page
        from cheap to slow, timers that fire on time, early or late, and a policy that stops it soon or never.

        Sleeps much shorter than asked make the scavenger look CPU-hungry, so the controller clamps its
        output at the minimum; sleeps much longer, the opposite; several wakes in a row carry the
        controller's integral from one to the next."""
        if self.params.version < 4 or self.span() > SCAVENGE_SPAN:
            return
        budget = self.rng.choice([0, 1, 8, 9, 100, 1000, self.free_pages(), WAKE_PAGES, 1 << 30])
        if budget > WAKE_PAGES and self.free_pages() > WAKE_PAGES:
            budget = WAKE_PAGES  # "never stop" only where the heap runs out first
        budget = min(budget, self.max_npages)  # a page count: its bytes fit the platform's addresses
        ns_per_page = self.rng.choice([300, 1250, 10_000, 125_000, 10_000_000])
        if budget <= 100 and self.rng.random() < 0.3:
            ns_per_page = 1  # a scavenge of one page takes 1 ns: the smallest time a stub reports
        sleep_pct = self.rng.choice([0, 1, 50, 100, 100, 150, 1000, 10_000])
        procs = self.rng.choice([1, 1, 2, 8, 1024])
        for _ in range(self.rng.choice([1, 1, 2, 4])):
            self.emit("scavenger_wake", budget=budget, ns_per_page=ns_per_page, sleep_pct=sleep_pct, procs=procs)

    def fresh_block(self, nchunks: int, align: int) -> int | None:
        """The first chunk of `nchunks` ungrown chunks at an `align`-aligned chunk just above the heap, if room."""
        highest = self.chunks[-1] if self.chunks else self.first_chunk - 1
        start = (highest + 1 + align - 1) // align * align + align * self.rng.choice([0, 0, 1])
        if start < self.first_chunk or start + nchunks > self.max_chunks or self.any_grown(start, nchunks):
            return None
        return start

    def any_grown(self, chunk: int, nchunks: int) -> bool:
        """Whether a chunk of [chunk, chunk+nchunks) is grown."""
        at = bisect.bisect_left(self.chunks, chunk)
        return at < len(self.chunks) and self.chunks[at] < chunk + nchunks

    def straddle(self) -> None:
        """A free run across two chunk boundaries with a wholly free chunk inside, in one aligned block of
        8 chunks, with a longer run later in the same block, then a request just longer than the first run.

        The tree's descent enters the block for the later run and scans its chunks in order: the first
        run (end of one chunk, a whole chunk, start of the next) is summed entry by entry, and only an
        exact sum tells that it is too short. Right after, sometimes, the same request without the later
        run (it must fail).
        """
        cp = self.params.chunk_pages
        fan = 8
        block = self.fresh_block(fan, fan)
        if block is None:
            return
        self.emit("grow", chunk=block, nchunks=fan)
        self.shaped += fan
        want = self.emit("alloc", npages=fan * cp)
        if want is None or want["page"] != block * cp:
            return  # it went elsewhere (a lower run was long enough): the stream is still valid
        i = len(self.live) - 1
        k = self.rng.choice([0, 1, 2])  # the first run: end of chunk k, all of k+1, start of k+2
        a, c = self.rng.randint(1, cp - 1), self.rng.randint(1, cp - 1)
        while a + c > 2 * cp - 2:
            a, c = max(1, a // 2), max(1, c // 2)
        d = self.rng.randint(1, min(cp, 3 * cp - (a + cp + c)))
        # Free the later run (the last three chunks), then the first run; what stays live is split off.
        self.free_part(i, (fan - 3) * cp, 3 * cp)
        i = next(j for j, (p, _) in enumerate(self.live) if p == block * cp)
        self.free_part(i, (k + 1) * cp - a, a + cp + c)
        self.emit("alloc", npages=a + cp + c + d)

    def pad(self) -> None:
        """Padding on some free pages of a chunk (trace version 3): in use and scavenged at once."""
        if self.params.version < 3 or not self.chunks:
            return
        cp = self.params.chunk_pages
        chunk = self.rng.choice(self.chunks)
        free = ~self.chunk_bits(chunk) & ((1 << cp) - 1)
        if not free:
            return
        start = (free & -free).bit_length() - 1
        run = (~(free >> start) & ((free >> start) + 1)).bit_length() - 1
        self.emit("pad", page=chunk * cp + start, npages=self.rng.randint(1, run))

    def root_grow(self) -> None:
        """A whole root entry of chunks (16 GiB on amd64), so a root summary is fully free."""
        chunk = self.fresh_block(self.root_entry_chunks, self.root_entry_chunks)
        if chunk is None:
            return
        self.emit("grow", chunk=chunk, nchunks=self.root_entry_chunks)
        self.shaped += self.root_entry_chunks
        if self.rng.random() < 0.5:
            self.emit("alloc", npages=self.rng.choice([1, self.params.chunk_pages * self.root_entry_chunks // 2]))

    def densify(self) -> None:
        """Leave a chunk with about the scavenger's density threshold (31/32) of its pages in use and
        some free, then maybe scavenge in the background: the chunk is skipped exactly when dense."""
        cp = self.params.chunk_pages
        target = high_occupancy_pages(self.geometry) + self.rng.choice([-1, 0, 0, 1])
        holes = self.rng.randint(1, 3)
        want = self.emit("alloc", npages=min(target + holes, cp))
        if want is None or want["page"] is None:
            return
        for _ in range(holes):
            i = len(self.live) - 1
            _, n = self.live[i]
            if n > 2:
                self.free_part(i, self.rng.randint(1, n - 2), 1)
        if self.rng.random() < 0.5:
            if self.rng.random() < 0.5:
                self.next_gen()
            self.scavenge_bg()


def churn_size(rng: random.Random) -> int:
    """A page count as a busy program asks for them: mostly a few pages, now and then thousands."""
    r = rng.random()
    if r < 0.70:
        return rng.randint(1, 8)
    if r < 0.90:
        return rng.randint(9, 64)
    if r < 0.98:
        return rng.randint(65, 512)
    return rng.randint(513, 4096)


class ChurnGenerator(Generator):
    """The benchmarks' workload: steady churn on a large heap, grown high in the address space.

    The same generator with another profile: no swarm weights; the heap grows
    above `base_chunk` in steps of 1 to 1,024 chunks up to `max_heap_chunks`;
    allocations follow churn_size; frees are of whole allocations, and at
    most `live_cap` allocations are live (an alloc then frees instead).
    """

    BASE_WEIGHTS: ClassVar[dict[str, float]] = {
        "grow": 0.05,
        "alloc": 45,
        "free": 40,
        "cache_fill": 2.5,
        "cache_flush": 2.5,
        "cache_alloc": 9.5,
        "scavenge": 0.5,
    }

    def __init__(
        self,
        rng: random.Random,
        params: Params,
        impl: Implementation,
        chunk_bits: ChunkBits,
        base_chunk: int,
        max_heap_chunks: int,
        live_cap: int,
    ) -> None:
        super().__init__(rng, params, make_geometry(params).total_chunks, impl, chunk_bits, swarm=False)
        self.cap = max_heap_chunks
        self.next_chunk = base_chunk
        self.live_cap = live_cap

    def grow(self) -> None:
        k = self.rng.choice([1, 4, 64, 1024])
        if len(self.chunks) + k > self.cap:
            return
        self.emit("grow", chunk=self.next_chunk, nchunks=k)
        self.next_chunk += k + self.rng.choice([0, 0, 0, 3])

    def alloc(self) -> None:
        if len(self.live) >= self.live_cap:
            self.free()
            return
        self.emit("alloc", npages=churn_size(self.rng))

    def free(self) -> None:
        if self.live:
            i = self.rng.randrange(len(self.live))
            self.live[i], self.live[-1] = self.live[-1], self.live[i]
            self.free_part(len(self.live) - 1, 0, self.live[-1][1])

    def scavenge(self) -> None:
        self.emit("scavenge", npages=self.rng.choice([1, 16, 256, 4096]))
