"""Random operation sequences on the model, with every invariant checked after each step.

Besides the model's own invariants (model.invariants) the machine keeps its
own ledger of which pages it holds, so it also checks the allocator's
promises from outside: an allocation returns pages that were free and the
first fit, a cache hands out only pages it held, scavenging releases only
free pages and reports the count it marked.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, precondition, rule

from model import tree
from model.geometry import Geometry
from model.invariants import HEAP_INVARIANTS
from model.pageheap import PageHeap

SMALL = Geometry(chunk_pages=64, levels=3, root_bits=2, level_bits=2)  # 16 chunks of 64 pages


class PageHeapMachine(RuleBasedStateMachine):
    geometry = Geometry()
    max_chunk = 12

    allocations = Bundle("allocations")

    def __init__(self) -> None:
        super().__init__()
        self.heap: PageHeap | None = None
        self.held: set[int] = set()  # pages handed out to us by alloc or cache_alloc

    @rule(phys=st.sampled_from([1, 1, 2, 8]), huge=st.sampled_from([0, 8, 64, 256]), data=st.data())
    @precondition(lambda self: self.heap is None)
    def start(self, phys: int, huge: int, data: st.DataObject) -> None:
        huge = min(huge, self.geometry.chunk_pages)
        self.heap = PageHeap.create(self.geometry, phys, huge)
        self.grow(data)

    def _grown_ok(self, chunk: int, n: int) -> bool:
        assert self.heap is not None
        return all(c not in self.heap.alloc_state.chunks for c in range(chunk, chunk + n))

    @rule(data=st.data())
    @precondition(lambda self: self.heap is not None)
    def grow(self, data: st.DataObject) -> None:
        assert self.heap is not None
        chunk = data.draw(st.integers(0, self.max_chunk))
        n = data.draw(st.integers(1, 3))
        if self._grown_ok(chunk, n) and chunk + n <= self.max_chunk + 3:
            self.heap.grow(chunk, n)

    def _take(self, page: int, n: int) -> None:
        pages = set(range(page, page + n))
        assert not pages & self.held, "an allocation handed out pages we already hold"
        self.held |= pages

    @rule(target=allocations, n=st.one_of(st.integers(1, 8), st.integers(9, 1200)))
    @precondition(lambda self: self.heap is not None)
    def alloc(self, n: int) -> tuple[int, int] | None:
        assert self.heap is not None
        pa = self.heap.alloc_state
        want = tree.heap_first_fit({c: d.alloc for c, d in pa.chunks.items()}, self.geometry, n)
        scav_before = None if want is None else sum(pa.is_scavenged(p) for p in range(want, want + n))
        got = self.heap.alloc(n)
        assert got.page == want
        if got.page is None:
            assert got.scav == 0
            return None
        assert got.scav == scav_before
        self._take(got.page, n)
        return (got.page, n)

    @rule(allocation=consumes(allocations), part=st.sampled_from(["all", "head", "tail"]))
    def free(self, allocation: tuple[int, int] | None, part: str) -> None:
        if allocation is None or self.heap is None:
            return
        page, n = allocation
        if part == "head" and n > 1:
            n = n // 2
        elif part == "tail" and n > 1:
            page, n = page + n // 2, n - n // 2
        self.heap.free(page, n)
        self.held -= set(range(page, page + n))
        if (page, n) != allocation:  # free the rest too, so the ledger stays whole allocations
            rest = sorted(set(range(allocation[0], allocation[0] + allocation[1])) - set(range(page, page + n)))
            self.heap.free(rest[0], len(rest))
            self.held -= set(rest)

    @rule(cache=st.integers(0, 3))
    @precondition(lambda self: self.heap is not None)
    def cache_fill(self, cache: int) -> None:
        assert self.heap is not None
        existing = self.heap.caches.get(cache)
        if existing is not None and not existing.is_empty():
            return
        fill = self.heap.cache_fill(cache)
        if fill.base is not None:
            assert fill.base % 64 == 0 and fill.free != 0
            assert not {fill.base + i for i in range(64) if (fill.free >> i) & 1} & self.held

    @rule(target=allocations, cache=st.integers(0, 3), n=st.one_of(st.just(1), st.integers(2, 64)))
    @precondition(lambda self: self.heap is not None and bool(self.heap.caches))
    def cache_alloc(self, cache: int, n: int) -> tuple[int, int] | None:
        assert self.heap is not None
        c = self.heap.caches.get(cache)
        if c is None:
            return None
        held_before = c.free
        got = self.heap.cache_alloc(cache, n)
        if got.page is None:
            return None
        assert c.base is not None
        mask = ((1 << n) - 1) << (got.page - c.base)
        assert held_before & mask == mask, "the cache handed out pages it did not hold"
        self._take(got.page, n)
        return (got.page, n)

    @rule(cache=st.integers(0, 3))
    @precondition(lambda self: self.heap is not None and bool(self.heap.caches))
    def cache_flush(self, cache: int) -> None:
        assert self.heap is not None
        c = self.heap.caches.get(cache)
        if c is None:
            return
        base, free, scav = c.base, c.free, c.scav
        self.heap.cache_flush(cache)
        pa = self.heap.alloc_state
        for i in range(64):
            if base is not None and (free >> i) & 1:
                assert not pa.in_use(base + i), "a flushed page stayed in use"
                assert pa.is_scavenged(base + i) == bool((scav >> i) & 1), "a flush lost a scavenged bit"

    @rule(n=st.one_of(st.integers(1, 16), st.integers(17, 2000)))
    @precondition(lambda self: self.heap is not None)
    def scavenge(self, n: int) -> None:
        assert self.heap is not None
        pa = self.heap.alloc_state
        before = {c: list(d.scavenged) for c, d in pa.chunks.items()}
        released = self.heap.scavenge(n).released
        newly = sum(
            (a ^ b).bit_count() for c, d in pa.chunks.items() for a, b in zip(before[c], d.scavenged, strict=True)
        )
        assert newly == released
        if released:
            assert released >= min(n, pa.phys_page_pages) and released % pa.phys_page_pages == 0

    @invariant()
    def invariants_hold(self) -> None:
        if self.heap is None:
            return
        for name, check in HEAP_INVARIANTS.items():
            violations = check(self.heap)
            assert not violations, f"{name}: {violations[:3]}"

    @invariant()
    def held_pages_are_in_use(self) -> None:
        if self.heap is None:
            return
        pa = self.heap.alloc_state
        assert all(pa.in_use(p) and not pa.is_scavenged(p) for p in self.held)


class SmallGeometryMachine(PageHeapMachine):
    """The same rules on 64-page chunks with a 3-level tree, so runs cross many tree entries."""

    geometry = SMALL
    max_chunk = 12


PROFILE = settings(max_examples=60, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TestPageHeapMachine = PageHeapMachine.TestCase
TestPageHeapMachine.settings = PROFILE
TestSmallGeometryMachine = SmallGeometryMachine.TestCase
TestSmallGeometryMachine.settings = PROFILE
