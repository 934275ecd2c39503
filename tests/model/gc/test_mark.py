"""model/gc/mark.py: noscan objects are marked and never scanned, scan work to the last slot, oblets."""

from __future__ import annotations

import pytest

from model.gc import invariants as inv
from model.gc.heap import GcHeap
from model.gc.mark import NoscanScanned, WorkItem, mark_stw
from model.gc.results import ObjectSpec
from tests.helpers import gc_leaf, gc_pair, gc_spec


def test_noscan_objects_are_marked_never_queued_or_scanned() -> None:
    heap = GcHeap.from_spec(gc_spec(gc_pair(1, 2, 3), gc_leaf(2), gc_pair(3, 2), gc_leaf(4), roots=(1,)))
    marker = mark_stw(heap)
    assert heap.marked_ids() == {1, 2, 3}
    assert marker.queued_ever == {1, 3} and marker.scanned_ever == {1, 3}
    assert inv.noscan_violations(marker) == []
    assert marker.stats.scan_items == 2 and marker.stats.slots_scanned == 4
    with pytest.raises(NoscanScanned):
        marker.scanobject(WorkItem(2))


def test_noscan_check_catches_a_marker_that_queues_noscan_objects() -> None:
    heap = GcHeap.from_spec(gc_spec(gc_pair(1, 2), gc_leaf(2), roots=(1,)))
    marker = mark_stw(heap)
    marker.queued_ever.add(2)
    assert inv.noscan_violations(marker) == ["noscan object 2 was queued"]


def test_scanned_words_count_to_the_last_pointer_slot_with_the_header() -> None:
    # 600 bytes with pointers: an 8-byte malloc header first, so slot 592 ends at byte 8 + 600 -> 76 words.
    heap = GcHeap.from_spec(gc_spec(ObjectSpec(1, 600, False, ((0, None), (592, None))), roots=(1,)))
    assert mark_stw(heap).stats.scanned_words == 76
    heap = GcHeap.from_spec(gc_spec(ObjectSpec(1, 512, False, ((0, None), (8, None))), roots=(1,)))
    assert mark_stw(heap).stats.scanned_words == 2


def test_large_objects_are_scanned_in_oblets() -> None:
    big = ObjectSpec(1, 300_000, False, ((0, None), (140_000, 2), (262_144, 3), (299_992, None)))
    heap = GcHeap.from_spec(gc_spec(big, gc_leaf(2), gc_leaf(3), roots=(1,)))
    marker = mark_stw(heap)
    assert heap.marked_ids() == {1, 2, 3}
    assert marker.stats.scan_items == 3
    # oblet 0: slot 0 -> 1 word; oblet 1: up to 140000 -> 1117 words; oblet 2: up to 299992 -> 4732 words
    assert marker.stats.scanned_words == 1 + (140_000 - 131_072 + 8) // 8 + (299_992 - 262_144 + 8) // 8
