"""fast.faults: no fault unless given to the constructor, and each given fault breaks its own mechanism."""

from __future__ import annotations

import pytest

from fast import faults
from fast.pageheap import FastPageHeap
from model.geometry import Geometry

G = Geometry(chunk_pages=64)


def test_no_fault_unless_given() -> None:
    assert FastPageHeap().faults == frozenset()
    assert FastPageHeap(faults=frozenset({faults.HINT_TOO_FAR})).faults == {faults.HINT_TOO_FAR}
    with pytest.raises(ValueError, match="unknown fault"):
        FastPageHeap(faults=frozenset({"no_such_fault"}))


def pair(fault: str) -> tuple[FastPageHeap, FastPageHeap]:
    """A heap without faults and one with `fault`, both of G."""
    return FastPageHeap(G), FastPageHeap(G, faults=frozenset({fault}))


def test_merge_width_off_by_one_breaks_merged_summaries() -> None:
    clean, broken = pair(faults.MERGE_WIDTH_OFF_BY_ONE)
    for heap in (clean, broken):
        heap.grow(0, 9)
    assert clean.state()["chunks"] == broken.state()["chunks"]
    assert clean.state()["levels"][-1] == broken.state()["levels"][-1]  # leaves are summarized, not merged
    assert clean.state()["levels"][-2] != broken.state()["levels"][-2]


def test_missed_level_update_leaves_a_stale_level_after_a_multi_chunk_free() -> None:
    clean, broken = pair(faults.MISSED_LEVEL_UPDATE)
    for heap in (clean, broken):
        heap.grow(0, 4)
        heap.alloc(200)
        heap.free(10, 150)
    assert clean.check_summaries() == []
    assert broken.check_summaries() != []


def test_flush_drops_scavenged_forgets_the_cache_scavenged_bits() -> None:
    clean, broken = pair(faults.FLUSH_DROPS_SCAVENGED)
    for heap in (clean, broken):
        heap.grow(0, 1)
        heap.cache_fill(0)
        heap.cache_flush(0)
    assert clean.state()["chunks"][0]["scav"] == [(1 << 64) - 1]
    assert broken.state()["chunks"][0]["scav"] == [0]


def test_hint_too_far_skips_a_hole_after_a_tree_search() -> None:
    clean, broken = pair(faults.HINT_TOO_FAR)
    for heap in (clean, broken):
        heap.grow(0, 3)
        for _ in range(3):
            heap.alloc(10)
        heap.free(10, 10)  # a hole of 10 pages at 10, too small for what comes next
        assert heap.alloc(100).page == 30  # does not fit after the hint in chunk 0: a tree search
    assert clean.alloc(5).page == 10
    assert broken.alloc(5).page == 130
