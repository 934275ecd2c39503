"""fast.storage: blocks made on demand, grown ranges merged, find_mapped, and a chunk's bitmap as an int."""

from __future__ import annotations

import random

import numpy as np
import pytest

from fast.storage import FULL_WORD, Layout, Storage
from model.errors import ParameterError
from model.geometry import AMD64, Geometry
from model.pagealloc import PageAlloc

SMALL = Geometry(chunk_pages=64, levels=3, root_bits=3, level_bits=2)  # 16 chunks per block, 128 in all


def test_layout_names_amd64_sizes() -> None:
    layout = Layout(AMD64)
    assert (layout.chunk_pages, layout.log_chunk_pages, layout.page_mask) == (512, 9, 511)
    assert (layout.words_per_chunk, layout.bitmap_bytes) == (8, 64)
    assert (layout.chunks_per_block, layout.log_chunks_per_block, layout.row_mask) == (4096, 12, 4095)
    assert (layout.fan_out, layout.root_entries) == (8, 1 << 14)
    assert layout.level_log_pages == (21, 18, 15, 12, 9)
    with pytest.raises(ParameterError, match="at least 2 levels"):
        Layout(Geometry(levels=1))
    with pytest.raises(ParameterError, match="too large"):
        Layout(Geometry(levels=3, root_bits=2, level_bits=11))  # 2**22 chunks of 128 bytes of bitmaps


def test_grow_makes_blocks_and_merges_ranges() -> None:
    storage = Storage(Layout(SMALL))
    assert storage.grow(20, 3) == [1]
    assert storage.grow(14, 2) == [0]  # [14, 16) is block 0; not adjacent to [20, 23)
    assert storage.grow(16, 4) == []  # fills the hole: the three ranges become one
    assert storage.grow(60, 40) == [3, 4, 5, 6]
    assert storage.block_ids == [0, 1, 3, 4, 5, 6]
    assert (storage.range_starts, storage.range_ends) == ([14, 60], [23, 100])
    block = storage.blocks[1]
    assert block.grown.tolist() == [True] * 7 + [False] * 9
    assert (block.alloc[:7] == 0).all() and (block.scavenged[:7] == FULL_WORD).all()
    assert (block.alloc[7:] == 0).all() and (block.scavenged[7:] == 0).all()  # rows never grown stay zero


@pytest.mark.parametrize("seed", range(5))
def test_ranges_and_find_mapped_equal_the_model(seed: int) -> None:
    """first_grown_in and find_mapped against a brute-force set and model.pagealloc.PageAlloc.find_mapped."""
    rng = random.Random(seed)
    storage = Storage(Layout(SMALL))
    model = PageAlloc(SMALL)
    grown: set[int] = set()
    for _ in range(12):
        first, n = rng.randrange(SMALL.total_chunks), rng.randint(1, 12)
        n = min(n, SMALL.total_chunks - first)
        if any(c in grown for c in range(first, first + n)):
            continue
        storage.grow(first, n)
        model.grow(first, n)
        grown.update(range(first, first + n))
        for lo in range(0, SMALL.total_chunks, 3):
            hi = min(SMALL.total_chunks, lo + rng.randint(1, 20))
            inside = [c for c in range(lo, hi) if c in grown]
            assert storage.first_grown_in(lo, hi) == (inside[0] if inside else None)
        for page in range(0, SMALL.total_pages, 37):
            assert storage.find_mapped(page) == model.find_mapped(page)
        for lo, hi in zip(storage.range_starts, storage.range_ends, strict=True):
            assert lo - 1 not in grown and hi not in grown and all(c in grown for c in range(lo, hi))
        for bid in storage.block_ids:
            rows = np.flatnonzero(storage.blocks[bid].grown) + bid * 16
            assert set(rows.tolist()) == {c for c in grown if c // 16 == bid}


def test_a_chunk_bitmap_is_one_little_endian_int() -> None:
    storage = Storage(Layout(AMD64))
    storage.grow(4097, 2)
    block = storage.blocks[1]
    value = (1 << 511) | (0xABCDEF << 64) | 1
    block.write_alloc(2, value)
    assert block.alloc[2].tolist() == [1, 0xABCDEF, 0, 0, 0, 0, 0, 1 << 63]
    assert block.read_alloc(2) == value
    assert block.read_alloc(1) == 0 and block.read_alloc(3) == 0
    assert block.read_scavenged(1) == (1 << 512) - 1  # grown: every page scavenged
    block.scavenged[5, 3] = np.uint64(1 << 5)
    assert block.read_scavenged(5) == 1 << (64 * 3 + 5)
    block.write_scavenged(1, 0)
    assert block.scavenged[1].tolist() == [0] * 8


def test_block_rows_split_by_block() -> None:
    storage = Storage(Layout(SMALL))
    assert storage.block_rows(14, 14) == [(0, 14, 14)]
    assert storage.block_rows(14, 50) == [(0, 14, 15), (1, 0, 15), (2, 0, 15), (3, 0, 2)]


def test_copy_is_independent() -> None:
    storage = Storage(Layout(SMALL))
    storage.grow(3, 20)
    twin = storage.copy()
    twin.blocks[0].write_alloc(3, 7)
    twin.grow(40, 1)
    assert storage.blocks[0].read_alloc(3) == 0
    assert storage.block_ids == [0, 1] and twin.block_ids == [0, 1, 2]
    assert storage.range_starts == [3]
