"""Scavenging: the highest free unscavenged run, physical and huge pages (model/scavenge.py)."""

from __future__ import annotations

from model.invariants import all_violations
from tests.helpers import CP, heap


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
