"""Page caches: fill, alloc, flush and their refusals (model/pagecache.py)."""

from __future__ import annotations

from model import bitmap
from model.invariants import all_violations
from model.results import AllocResult, CacheFill
from tests.helpers import CP, heap, refused_without_change


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
