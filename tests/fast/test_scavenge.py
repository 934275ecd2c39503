"""fast.scavenge against model.scavenge: the candidate run in a chunk, and the index step by step.

The index is driven directly (no bitmaps): seeded sequences of per-chunk
allocations and frees, whole-chunk ranges, generation changes, set_empty and
finds of both kinds, on chunks spread over several blocks, with the model's
ScavengeIndex beside it; after every step every chunk's data, both cursors,
the high-water mark and the generation must be the model's.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fast import scavenge as fscav
from fast.storage import Layout, Storage
from model import scavenge as mscav
from model.geometry import Geometry
from tests.helpers import as_int, words

MASK64 = (1 << 64) - 1


CHUNK_WORDS = st.lists(words(), min_size=8, max_size=8)


@settings(max_examples=150, deadline=None)
@given(
    CHUNK_WORDS,
    CHUNK_WORDS,
    st.integers(0, 511),
    st.sampled_from([1, 2, 4, 8, 64]),
    st.integers(0, 700),
    st.sampled_from([0, 8, 64, 256, 512]),
)
def test_scavenge_candidate_equals_model(
    used: list[int], scav: list[int], search: int, phys: int, max_pages: int, huge: int
) -> None:
    want = mscav.find_scavenge_candidate(used, scav, search, phys, max_pages, huge)
    assert fscav.scavenge_candidate(as_int(used), as_int(scav), search, phys, max_pages, huge, 512) == want


# 64-page chunks, 16 chunks per block, 128 chunks in all: finds cross blocks often.
GEOMETRY = Geometry(chunk_pages=64, levels=3, root_bits=3, level_bits=2)


class Pair:
    """A fast index and the model's, grown alike, with the test's own count of pages in use per chunk."""

    def __init__(self) -> None:
        self.layout = Layout(GEOMETRY)
        self.storage = Storage(self.layout)
        self.fast = fscav.ScavengeIndex(self.layout, self.storage.block_ids)
        self.model = mscav.ScavengeIndex(GEOMETRY)
        self.in_use: dict[int, int] = {}

    def grow(self, chunk: int, nchunks: int) -> None:
        for bid in self.storage.grow(chunk, nchunks):
            self.fast.add_block(bid)
        self.fast.grow(chunk)
        self.model.grow(chunk)
        for c in range(chunk, chunk + nchunks):
            self.in_use[c] = 0

    def alloc(self, chunk: int, npages: int) -> None:
        self.fast.alloc(chunk, npages)
        self.model.alloc(chunk, npages)
        self.in_use[chunk] += npages

    def free(self, chunk: int, first: int, npages: int) -> None:
        self.fast.free(chunk, npages)
        self.fast.freed_up_to(chunk * GEOMETRY.chunk_pages + first + npages - 1)
        self.model.free(chunk, first, npages)
        self.in_use[chunk] -= npages

    def whole(self, chunk: int, nchunks: int, allocating: bool) -> None:
        """Every page of chunks [chunk, chunk+nchunks) allocated, or freed, at once (a range over chunks)."""
        cp = GEOMETRY.chunk_pages
        for bid, r0, r1 in self.storage.block_rows(chunk, chunk + nchunks - 1):
            self.fast.whole_chunks(bid, r0, r1, cp if allocating else -cp)
        if not allocating:
            self.fast.freed_up_to((chunk + nchunks) * cp - 1)
        for c in range(chunk, chunk + nchunks):
            if allocating:
                self.model.alloc(c, cp)
            else:
                self.model.free(c, 0, cp)
            self.in_use[c] = cp if allocating else 0

    def differences(self) -> list[str]:
        out = []
        for chunk in sorted(self.in_use):
            block = self.fast.blocks[chunk >> self.layout.log_chunks_per_block]
            row = chunk & self.layout.row_mask
            got = (int(block.in_use[row]), int(block.last_in_use[row]), int(block.gen[row]), bool(block.has_free[row]))
            data = self.model.chunks.get(chunk, mscav.ScavChunkData())
            want = (data.in_use, data.last_in_use, data.gen, data.has_free)
            if got != want:
                out.append(f"chunk {chunk}: fast {got}, model {want}")
        f, m = self.fast, self.model
        for name, got, want in [
            (
                "force cursor",
                (f.force_cursor.page, f.force_cursor.marked),
                (m.force_cursor.page, m.force_cursor.marked),
            ),
            (
                "background cursor",
                (f.background_cursor.page, f.background_cursor.marked),
                (m.background_cursor.page, m.background_cursor.marked),
            ),
            ("free high water", f.free_high_water, m.free_high_water),
            ("gen", f.gen, m.gen),
            ("min chunk", f.min_heap_chunk, m.min_heap_chunk),
        ]:
            if got != want:
                out.append(f"{name}: fast {got}, model {want}")
        return out


@pytest.mark.parametrize("seed", range(6))
def test_index_equals_model_step_by_step(seed: int) -> None:
    rng = random.Random(seed)
    pair = Pair()
    cp = GEOMETRY.chunk_pages
    for chunk, nchunks in ((40, 30), (5, 3), (100, 20)):  # blocks 0, 2..4 and 6..7; holes between
        pair.grow(chunk, nchunks)
    assert pair.fast.find(True) is None and pair.model.find(True) is None  # nothing freed yet
    chunks = sorted(pair.in_use)
    found = 0
    for step in range(400):
        r = rng.random()
        chunk = rng.choice(chunks)
        in_use = pair.in_use[chunk]
        if r < 0.35 and in_use < cp:
            pair.alloc(chunk, rng.randint(1, cp - in_use) if rng.random() < 0.3 else 1 + (cp - in_use - 1) // 8)
        elif r < 0.65 and in_use:
            n = rng.randint(1, in_use)
            pair.free(chunk, rng.randint(0, cp - n), n)
        elif r < 0.7:
            n = rng.randint(1, 4)
            run = [c for c in range(chunk, chunk + n) if c in pair.in_use]
            if len(run) == n and all(pair.in_use[c] == 0 for c in run):
                pair.whole(chunk, n, allocating=True)
            elif len(run) == n and all(pair.in_use[c] == cp for c in run):
                pair.whole(chunk, n, allocating=False)
        elif r < 0.77:
            pair.fast.next_gen()
            pair.model.next_gen()
        elif r < 0.8:
            pair.fast.set_empty(chunk)
            pair.model.set_empty(chunk)
        else:
            force = rng.random() < 0.5
            got = pair.fast.find(force)
            assert got == pair.model.find(force), step
            found += got is not None
        assert pair.differences() == [], step
    assert found > 10  # the finds met chunks to scavenge, not only empty indexes


def test_background_find_skips_dense_chunks() -> None:
    """A chunk at or above 31/32 in use is left to the forced scavenger; one below is not."""
    pair = Pair()
    pair.grow(0, 2)
    dense = GEOMETRY.chunk_pages * 31 // 32
    pair.alloc(1, dense + 1)
    pair.free(1, 0, 1)  # chunk 1 has free pages but is dense
    pair.fast.next_gen()
    pair.model.next_gen()
    assert pair.fast.find(False) is None
    assert pair.fast.find(True) == (1, 0)
    pair.alloc(0, 10)
    pair.free(0, 0, 10)
    pair.fast.next_gen()
    pair.model.next_gen()
    assert pair.fast.find(False) == pair.model.find(False) == (0, GEOMETRY.chunk_pages - 1)


def test_counting_past_the_chunk_is_an_internal_error() -> None:
    pair = Pair()
    pair.grow(3, 1)
    with pytest.raises(AssertionError, match="pages in use in one chunk"):
        pair.fast.alloc(3, GEOMETRY.chunk_pages + 1)
    with pytest.raises(AssertionError, match="freeing 1 pages with 0 in use"):
        pair.fast.free(3, 1)
