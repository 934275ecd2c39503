"""The page allocator's rules, one test each, with the edge cases SPEC.md names."""

from __future__ import annotations

import pytest

from model.errors import ParameterError
from model.geometry import Geometry
from model.invariants import all_violations
from model.pageheap import PageHeap
from model.results import AllocResult
from tests.helpers import CP, heap, refused_without_change


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


def test_parameters_are_checked() -> None:
    with pytest.raises(ParameterError):
        PageHeap.create(phys_page_pages=3)
    with pytest.raises(ParameterError):
        PageHeap.create(phys_page_pages=128)
    with pytest.raises(ParameterError):
        PageHeap.create(huge_page_pages=1024)
    with pytest.raises(ParameterError):
        PageHeap.create(Geometry(chunk_pages=64), huge_page_pages=128)


def test_padding_is_in_use_scavenged_and_never_freed() -> None:
    h = heap((0, 1))
    h.pad(0, 5)
    pa = h.alloc_state
    assert all(pa.in_use(p) and pa.is_scavenged(p) for p in range(5))
    assert pa.search_page == 0  # padding does not move the hint (Go's markRandomPaddingPages does not)
    assert h.alloc(1) == AllocResult(5, 1)
    refused_without_change(h, lambda: h.free(3, 1), "padding at the heap's base")
    refused_without_change(h, lambda: h.pad(4, 2), "pad of page 4, which is in use")
    refused_without_change(h, lambda: h.pad(CP, 1), "not in the heap")
    fill = h.cache_fill(0)  # the block holding the padding: its scavenged word names the padding too
    assert fill.scav & 0b11111 == 0b11111 and fill.free & 0b11111 == 0
    assert all_violations(h) == []
    h.alloc_state.chunks[0].padded[0] = 0  # without the record of the padding, it is a violation
    assert any("scavenged and in use" in v for v in all_violations(h))
