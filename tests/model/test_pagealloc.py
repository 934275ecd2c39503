"""The page allocator's rules, one test each, with the edge cases SPEC.md names."""

from __future__ import annotations

import copy

import pytest

from model import bitmap
from model.errors import InvalidOperation, ParameterError
from model.geometry import Geometry
from model.invariants import all_violations
from model.pageheap import PageHeap
from model.results import AllocResult, CacheFill

CP = 512  # chunk pages in Go's geometry


def heap(*grows: tuple[int, int], phys: int = 1, huge: int = 0) -> PageHeap:
    h = PageHeap.create(phys_page_pages=phys, huge_page_pages=huge)
    for chunk, n in grows:
        h.grow(chunk, n)
    return h


def refused_without_change(h: PageHeap, action, match: str) -> None:  # type: ignore[no-untyped-def]
    before = copy.deepcopy(h)
    with pytest.raises(InvalidOperation, match=match):
        action()
    assert h == before


def test_grown_pages_are_free_and_scavenged() -> None:
    h = heap((3, 2))
    pa = h.alloc_state
    assert all(not pa.in_use(p) and pa.is_scavenged(p) for p in range(3 * CP, 5 * CP))
    assert pa.leaf(3).as_tuple() == (CP, CP, CP)
    assert pa.search_page == 3 * CP
    assert h.alloc(CP + 1) == AllocResult(3 * CP, CP + 1)  # every page came scavenged
    assert all_violations(h) == []


def test_alloc_is_address_ordered_first_fit() -> None:
    h = heap((0, 1))
    assert h.alloc(10) == AllocResult(0, 10)
    assert h.alloc(5) == AllocResult(10, 5)
    h.free(2, 3)
    assert h.alloc(4) == AllocResult(15, 4)  # the 3-page hole at 2 is too small
    assert h.alloc(3) == AllocResult(2, 0)  # freed pages are not scavenged
    assert all_violations(h) == []


def test_alloc_across_a_chunk_boundary_and_of_several_chunks() -> None:
    h = heap((0, 4))
    assert h.alloc(CP - 4) == AllocResult(0, CP - 4)
    assert h.alloc(10) == AllocResult(CP - 4, 10)  # crosses from chunk 0 into chunk 1
    got = h.alloc(2 * CP + 5)  # spans all of chunk 2
    assert got == AllocResult(CP + 6, 2 * CP + 5)
    pa = h.alloc_state
    assert pa.leaf(2).is_zero() and pa.tree[0][0].max == 4 * CP - (CP + 6) - (2 * CP + 5)
    assert all_violations(h) == []


def test_holes_break_runs() -> None:
    h = heap((0, 1), (2, 1))  # chunk 1 is a hole
    assert h.alloc(CP - 1) == AllocResult(0, CP - 1)
    assert h.alloc(2) == AllocResult(2 * CP, 2)  # 1 free page in chunk 0, then the hole
    assert h.alloc(CP) is not None
    assert h.alloc(CP).page is None  # no CP free pages in a row anywhere
    assert all_violations(h) == []


def test_exhaustion_and_the_search_hint() -> None:
    h = heap((0, 1))
    pa = h.alloc_state
    assert h.alloc(CP) == AllocResult(0, CP)
    assert pa.search_page == 0  # the hint is the first free page seen before the allocation
    h.free(100, 2)
    assert pa.search_page == 0  # a free above the hint leaves it
    assert h.alloc(3) == AllocResult.failed()
    assert pa.search_page == 0  # a failed multi-page alloc leaves the hint
    assert h.alloc(2) == AllocResult(100, 0)
    assert pa.search_page == 100
    assert h.alloc(1) == AllocResult.failed()
    assert pa.search_page == pa.geometry.no_free_page  # a failed single-page alloc marks the heap full
    assert h.alloc(1) == AllocResult.failed()
    h.grow(5, 1)
    assert pa.search_page == 5 * CP  # a grow below the hint moves it down
    assert h.alloc(1) == AllocResult(5 * CP, 1)
    h.free(7, 1)
    assert pa.search_page == 7  # a free below the hint moves it down
    assert all_violations(h) == []


def test_alloc_raises_the_hint_to_the_first_free_page_seen() -> None:
    h = heap((0, 2))
    pa = h.alloc_state
    assert h.alloc(1) == AllocResult(0, 1)
    assert pa.search_page == 0  # a one-page fit is its own first free page
    assert h.alloc(1) == AllocResult(1, 1)
    assert pa.search_page == 1
    assert h.alloc(CP + 8) == AllocResult(2, CP + 8)  # too long for the hint's chunk: the tree finds it
    assert pa.search_page == 1  # the tree's first-free bound was chunk 0's base, below the hint
    assert h.alloc(1) == AllocResult(CP + 10, 1)  # the tree reaches chunk 1's bitmap
    assert pa.search_page == CP + 10  # ... and its first free page becomes the hint
    h.free(4, 1)
    assert pa.search_page == 4
    assert h.alloc(2) == AllocResult(CP + 11, 2)  # page 4 alone is too small
    assert pa.search_page == 4  # the first free page is still page 4
    assert all_violations(h) == []


def test_bad_frees_are_refused_and_change_nothing() -> None:
    h = heap((0, 1), (4, 1))
    h.alloc(20)
    refused_without_change(h, lambda: h.free(19, 2), "page 20, which is not in use")
    refused_without_change(h, lambda: h.free(CP + 1, 1), "not in the heap")
    refused_without_change(h, lambda: h.free(0, 0), "npages must be an integer >= 1")
    refused_without_change(h, lambda: h.free(-1, 1), "page must be an integer >= 0")
    refused_without_change(h, lambda: h.grow(4, 1), "grow over chunk 4")
    refused_without_change(h, lambda: h.grow(3, 2), "grow over chunk 4")
    refused_without_change(h, lambda: h.grow(1, 0), "nchunks must be an integer >= 1")
    refused_without_change(h, lambda: h.grow(2**26, 1), "address space")
    refused_without_change(h, lambda: h.alloc(0), "npages")


def test_cache_fill_takes_the_block_of_the_first_free_page() -> None:
    h = heap((0, 1))
    h.alloc(70)
    fill = h.cache_fill(0)
    assert fill == CacheFill(64, bitmap.words.MASK64 & ~0x3F, bitmap.words.MASK64 & ~0x3F)
    assert h.alloc_state.search_page == 127
    assert h.alloc(1) == AllocResult(128, 1)
    assert h.cache_alloc(0, 1) == AllocResult(70, 1)
    assert h.cache_alloc(0, 3) == AllocResult(71, 3)
    assert h.cache_alloc(0, 64) == AllocResult.failed()
    assert all_violations(h) == []


def test_cache_fill_next_to_a_hole() -> None:
    h = heap((0, 1), (2, 1))
    h.alloc(CP - 2)
    fill = h.cache_fill(7)  # the last block of chunk 0 has 2 free pages; the hole follows
    assert fill.base == CP - 64 and fill.free == 0b11 << 62
    assert h.cache_fill(8).base == 2 * CP  # the next fill jumps the hole
    assert all_violations(h) == []


def test_cache_alloc_flush_and_scavenged_bits() -> None:
    h = heap((0, 1))
    h.alloc(64)
    h.free(10, 5)  # pages 10..14 free and unscavenged, the rest of block 0 in use
    fill = h.cache_fill(0)
    assert fill == CacheFill(0, 0b11111 << 10, 0)
    assert h.cache_alloc(0, 2) == AllocResult(10, 0)
    h.cache_flush(0)
    assert h.caches[0].is_empty()
    pa = h.alloc_state
    assert [pa.in_use(p) for p in range(9, 16)] == [True, True, True, False, False, False, True]
    h.cache_fill(1)  # block 0 again: pages 12..14
    assert h.cache_alloc(1, 3) == AllocResult(12, 0)
    assert h.cache_fill(1).base == 64  # a used-up cache may be filled again
    h.cache_flush(1)
    assert all(pa.is_scavenged(p) for p in range(64, 128))  # the flush gave the scavenged bits back
    assert all_violations(h) == []


def test_cache_rules_refuse_bad_use() -> None:
    h = heap((0, 1))
    h.cache_fill(0)
    refused_without_change(h, lambda: h.cache_fill(0), "not empty")
    refused_without_change(h, lambda: h.cache_alloc(1, 1), "unknown cache id 1")
    refused_without_change(h, lambda: h.cache_flush(3), "unknown cache id 3")
    refused_without_change(h, lambda: h.cache_alloc(0, 65), "at most 64")
    refused_without_change(h, lambda: h.free(5, 1), "cache 0 holds")
    page = h.cache_alloc(0, 1).page
    assert page == 0
    h.free(0, 1)  # a handed-out page may be freed
    h.cache_flush(0)
    h.cache_flush(0)  # flushing an empty cache does nothing
    assert h.cache_alloc(0, 1) == AllocResult.failed()
    assert all_violations(h) == []


def test_cache_fill_on_a_full_heap_is_empty() -> None:
    h = heap((0, 1))
    h.alloc(CP)
    assert h.cache_fill(2) == CacheFill.empty()
    assert h.alloc_state.search_page == h.alloc_state.geometry.no_free_page
    assert h.cache_alloc(2, 1) == AllocResult.failed()


def test_new_chunks_have_nothing_to_scavenge() -> None:
    h = heap((0, 2))
    assert h.scavenge(100).released == 0


def test_scavenge_takes_the_highest_free_unscavenged_run() -> None:
    h = heap((0, 2))
    h.alloc(2 * CP)
    h.free(10, 20)
    h.free(CP + 100, 5)
    assert h.scavenge(3).released == 3  # top of the highest run: pages CP+102..CP+104
    pa = h.alloc_state
    assert [pa.is_scavenged(CP + 100 + i) for i in range(5)] == [False, False, True, True, True]
    assert h.scavenge(10).released == 10  # CP+100..101, then the top 8 of 10..29
    assert [pa.is_scavenged(p) for p in (21, 22, 29)] == [False, True, True]
    assert h.scavenge(1000).released == 12  # runs out: less than asked
    assert h.scavenge(1).released == 0
    assert all_violations(h) == []


def test_scavenge_rounds_to_physical_pages() -> None:
    h = heap((0, 1), phys=4)
    h.alloc(CP)
    h.free(9, 10)  # pages 9..18: only the aligned group 12..15 is whole
    assert h.scavenge(1).released == 4
    pa = h.alloc_state
    assert [p for p in range(CP) if pa.is_scavenged(p)] == [12, 13, 14, 15]
    assert h.scavenge(1).released == 0
    assert all_violations(h) == []


def test_scavenge_extends_to_a_whole_huge_page() -> None:
    h = heap((0, 1), huge=256)
    h.alloc(CP)
    h.free(0, 300)  # the free run 0..299 holds the whole huge page 0..255
    assert h.scavenge(10).released == 10  # 290..299 crosses no huge-page boundary
    assert h.scavenge(50).released == 290  # 240..289 crosses 256: extended down to 0
    pa = h.alloc_state
    assert all(pa.is_scavenged(p) for p in range(300))
    assert all_violations(h) == []


def test_scavenge_huge_page_extension_only_inside_the_run() -> None:
    h = heap((0, 1), huge=256)
    h.alloc(CP)
    h.free(250, 20)  # run 250..269 crosses the boundary at 256 but 0..249 is in use
    assert h.scavenge(5).released == 5  # 265..269: boundary 256 is not inside the taken range
    assert h.scavenge(12).released == 12  # 253..264 crosses 256; 0 is not in the run: no extension
    pa = h.alloc_state
    assert [p for p in range(CP) if pa.is_scavenged(p)] == list(range(253, 270))
    assert all_violations(h) == []


def test_parameters_are_checked() -> None:
    with pytest.raises(ParameterError):
        PageHeap.create(phys_page_pages=3)
    with pytest.raises(ParameterError):
        PageHeap.create(phys_page_pages=128)
    with pytest.raises(ParameterError):
        PageHeap.create(huge_page_pages=1024)
    with pytest.raises(ParameterError):
        PageHeap.create(Geometry(chunk_pages=64), huge_page_pages=128)
