"""A deliberately different page allocator: highest address first, for the oracle's safe level.

It keeps the semantics the safe level checks (pages handed out once, only
grown and free pages handed out, grown pages start scavenged, allocating
clears scavenged bits and counts them, a cache takes a 64-page aligned
block's free pages with their scavenged bits and gives them back on flush,
scavenging releases free unscavenged pages) but places everything as high
as it can: alloc(n) takes the highest run of n free pages, a cache fill
the highest block with a free page, and scavenging releases the highest
free pages first. Its results therefore differ from the model's almost
always, so it fails the exact level and passes the safe one; it is how
the tests show that the two levels judge different things.

It is small and slow on purpose: one Python int bitmap per chunk, linear
scans. It refuses invalid operations like the model (model.pageheap).
"""

from __future__ import annotations

from model.errors import InvalidOperation
from model.results import AllocResult, CacheFill, ScavengeResult
from oracle.pagealloc.protocol import apply_to_heap, make_geometry
from oracle.pagealloc.trace import Op, Outcome, Params

CACHE_PAGES = 64


class TopDownHeap:
    def __init__(self, chunk_pages: int, total_chunks: int) -> None:
        self.cp = chunk_pages
        self.total_pages = chunk_pages * total_chunks
        self.used: dict[int, int] = {}  # chunk -> in-use bits
        self.scav: dict[int, int] = {}  # chunk -> scavenged bits
        self.caches: dict[int, tuple[int, int, int]] = {}  # id -> (base, free, scav)
        self.padded: set[int] = set()  # pages pad marked: in use, owned by no allocation, never freed

    def _is_used(self, page: int) -> bool:
        return bool(self.used[page // self.cp] >> (page % self.cp) & 1)

    def _set(self, table: dict[int, int], page: int, on: bool) -> None:
        c, i = divmod(page, self.cp)
        table[c] = table[c] | (1 << i) if on else table[c] & ~(1 << i)

    def grow(self, chunk: int, nchunks: int) -> None:
        if chunk < 0 or nchunks < 1 or (chunk + nchunks) * self.cp > self.total_pages:
            raise InvalidOperation(f"bad grow of [{chunk}, {chunk + nchunks})")
        if any(c in self.used for c in range(chunk, chunk + nchunks)):
            raise InvalidOperation("grow over an existing chunk")
        for c in range(chunk, chunk + nchunks):
            self.used[c] = 0
            self.scav[c] = (1 << self.cp) - 1

    def _free_pages_desc(self) -> list[int]:
        out = []
        for c in sorted(self.used, reverse=True):
            for i in range(self.cp - 1, -1, -1):
                if not self.used[c] >> i & 1:
                    out.append(c * self.cp + i)
        return out

    def alloc(self, npages: int) -> AllocResult:
        if npages < 1:
            raise InvalidOperation("npages must be >= 1")
        run_top = None
        run = 0
        previous = None
        for page in self._free_pages_desc():
            run = run + 1 if previous is not None and page == previous - 1 else 1
            if run == 1:
                run_top = page
            previous = page
            if run == npages:
                assert run_top is not None
                return AllocResult(page, self._take(page, npages))
        return AllocResult(None, 0)

    def _take(self, page: int, npages: int) -> int:
        scav = 0
        for p in range(page, page + npages):
            c, i = divmod(p, self.cp)
            scav += self.scav[c] >> i & 1
            self._set(self.used, p, True)
            self._set(self.scav, p, False)
        return scav

    def free(self, page: int, npages: int) -> None:
        if npages < 1 or page < 0:
            raise InvalidOperation("bad free")
        for p in range(page, page + npages):
            if p // self.cp not in self.used or not self._is_used(p):
                raise InvalidOperation(f"free of page {p}, which is not in use")
            if p in self.padded:
                raise InvalidOperation(f"free of page {p}, which is padding")
            for base, free, _ in self.caches.values():
                if base <= p < base + CACHE_PAGES and free >> (p - base) & 1:
                    raise InvalidOperation(f"free of page {p}, which a cache holds")
        for p in range(page, page + npages):
            self._set(self.used, p, False)

    def cache_fill(self, cache_id: int) -> CacheFill:
        if cache_id < 0:
            raise InvalidOperation("bad cache id")
        if self.caches.get(cache_id, (0, 0, 0))[1]:
            raise InvalidOperation("cache_fill into a cache that is not empty")
        free_pages = self._free_pages_desc()
        if not free_pages:
            self.caches[cache_id] = (0, 0, 0)
            return CacheFill(None, 0, 0)
        base = free_pages[0] - free_pages[0] % CACHE_PAGES
        free = scav = 0
        for i in range(CACHE_PAGES):
            p = base + i
            if not self._is_used(p):
                free |= 1 << i
                c, j = divmod(p, self.cp)
                scav |= (self.scav[c] >> j & 1) << i
                self._set(self.used, p, True)
                self._set(self.scav, p, False)
        self.caches[cache_id] = (base, free, scav)
        return CacheFill(base, free, scav)

    def cache_alloc(self, cache_id: int, npages: int) -> AllocResult:
        if not 1 <= npages <= CACHE_PAGES:
            raise InvalidOperation("cache_alloc takes 1 to 64 pages")
        if cache_id not in self.caches:
            raise InvalidOperation(f"unknown cache id {cache_id}")
        base, free, scav = self.caches[cache_id]
        for i in range(CACHE_PAGES - npages, -1, -1):
            mask = ((1 << npages) - 1) << i
            if free & mask == mask:
                self.caches[cache_id] = (base, free & ~mask, scav & ~mask)
                return AllocResult(base + i, (scav & mask).bit_count())
        return AllocResult(None, 0)

    def cache_flush(self, cache_id: int) -> None:
        if cache_id not in self.caches:
            raise InvalidOperation(f"unknown cache id {cache_id}")
        base, free, scav = self.caches[cache_id]
        for i in range(CACHE_PAGES):
            if free >> i & 1:
                self._set(self.used, base + i, False)
            if scav >> i & 1:
                self._set(self.scav, base + i, True)
        self.caches[cache_id] = (0, 0, 0)

    def pad(self, page: int, npages: int) -> None:
        """Free pages marked in use and scavenged (trace version 3), refused unless all are grown and free."""
        for p in range(page, page + npages):
            if p // self.cp not in self.used or self._is_used(p):
                raise InvalidOperation(f"pad of page {p}, which is not a free page of the heap")
        for p in range(page, page + npages):
            self._set(self.used, p, True)
            self._set(self.scav, p, True)
            self.padded.add(p)

    def next_gen(self) -> None:
        """GC cycles mean nothing to this allocator: it keeps no generations."""

    def scavenge(self, npages: int, force: bool = True) -> ScavengeResult:
        """Release the highest free unscavenged pages; background or forced, the same here."""
        if npages < 1:
            raise InvalidOperation("npages must be >= 1")
        released = 0
        for page in self._free_pages_desc():
            if released >= npages:
                break
            c, i = divmod(page, self.cp)
            if not self.scav[c] >> i & 1:
                self._set(self.scav, page, True)
                released += 1
        return ScavengeResult(released)


class TopDownImpl:
    """The top-down allocator behind the Implementation protocol (no snapshot)."""

    name = "topdown"

    def __init__(self, params: Params) -> None:
        g = make_geometry(params)
        self.heap = TopDownHeap(g.chunk_pages, g.total_chunks)

    def apply(self, op: Op) -> Outcome | None:
        return apply_to_heap(self.heap, op)
