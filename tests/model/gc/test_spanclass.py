"""Size classes and span classes: the committed table is the installed Go's, and placement follows mallocgc."""

from __future__ import annotations

import re

import pytest

from model.errors import InvalidOperation
from model.gc import sizeclasses as table
from model.gc.spanclass import (
    MALLOC_HEADER_BYTES,
    MAX_OBLET_BYTES,
    MIN_SIZE_FOR_MALLOC_HEADER,
    SpanClass,
    objects_per_span,
    oblet_count,
    placement,
    size_class_of,
)
from oracle.gc import sizegen as gc_sizegen
from oracle.golive.toolchain import find_toolchain


@pytest.fixture(scope="module")
def go_table() -> gc_sizegen.SizeClassTable:
    return gc_sizegen.parse_installed()


@pytest.mark.go
def test_committed_table_is_the_installed_gos(go_table: gc_sizegen.SizeClassTable) -> None:
    assert gc_sizegen.differences(go_table) == []
    assert table.NUM_SIZE_CLASSES == 68 == len(table.CLASS_BYTES) == len(table.CLASS_PAGES)


@pytest.mark.go
def test_size_to_class_matches_gos_lookup_arrays(go_table: gc_sizegen.SizeClassTable) -> None:
    div8, div128, max8 = table.SMALL_SIZE_DIV, table.LARGE_SIZE_DIV, table.SMALL_SIZE_MAX
    for size in range(1, table.MAX_SMALL_SIZE + 1):
        if size <= max8 - 8:
            want = go_table.size_to_class8[-(-size // div8)]
        else:
            want = go_table.size_to_class128[-(-(size - max8) // div128)]
        assert size_class_of(size) == want, size


@pytest.mark.go
def test_runtime_constants_are_the_installed_gos() -> None:
    root = find_toolchain().goroot
    mark = (root / "src" / "runtime" / "mgcmark.go").read_text()
    oblet = re.search(r"maxObletBytes\s*=\s*(\d+)\s*<<\s*(\d+)", mark)
    assert oblet is not None and int(oblet.group(1)) << int(oblet.group(2)) == MAX_OBLET_BYTES
    malloc = (root / "src" / "internal" / "runtime" / "gc" / "malloc.go").read_text()
    header = re.search(r"MallocHeaderSize\s*=\s*(\d+)", malloc)
    assert header is not None and int(header.group(1)) == MALLOC_HEADER_BYTES
    assert "MinSizeForMallocHeader = goarch.PtrSize * goarch.PtrBits" in malloc
    assert MIN_SIZE_FOR_MALLOC_HEADER == 8 * 64


def test_span_class_encoding() -> None:
    for size_class in range(68):
        for noscan in (False, True):
            sc = SpanClass.make(size_class, noscan)
            assert sc.value == size_class * 2 + int(noscan)
            assert (sc.size_class, sc.noscan) == (size_class, noscan)
    with pytest.raises(InvalidOperation):
        SpanClass(136)


@pytest.mark.parametrize(
    ("size", "noscan", "span_class", "slot", "pages", "header"),
    [
        (8, False, 2, 8, 1, 0),  # one pointer: size class 1, scan
        (16, True, 5, 16, 1, 0),  # size class 2, noscan
        (24, False, 6, 24, 1, 0),
        (512, False, 52, 512, 1, 0),  # 512 bytes exactly: heap bits in the span, no header
        (520, False, 54, 576, 1, 8),  # 520 + 8-byte header = 528 -> the 576-byte class
        (520, True, 55, 576, 1, 0),  # noscan: no header
        (32760, False, 134, 32768, 4, 8),  # the largest small scan object
        (32761, True, 1, 32768, 4, 0),  # large (over 32760 bytes, even noscan): 4 pages of its own
        (80000, False, 0, 81920, 10, 0),  # the seed's []*int64 of 10,000
    ],
)
def test_placement(size: int, noscan: bool, span_class: int, slot: int, pages: int, header: int) -> None:
    p = placement(size, noscan)
    assert (p.span_class.value, p.slot_bytes, p.span_pages, p.header_bytes) == (span_class, slot, pages, header)
    assert p.header_bytes + size <= p.slot_bytes


@pytest.mark.parametrize(("size", "noscan"), [(0, False), (15, True), (12, False), (-8, False), (2**31, True)])
def test_placement_refuses(size: int, noscan: bool) -> None:
    with pytest.raises(InvalidOperation):
        placement(size, noscan)


def test_objects_per_span_reserves_like_go_1_27() -> None:
    assert objects_per_span(SpanClass.make(1, False)) == (8192 - 128) // 8  # pointer bitmap only (8 < 16)
    assert objects_per_span(SpanClass.make(1, True)) == 8192 // 8
    assert objects_per_span(SpanClass.make(2, True)) == (8192 - 128) // 16  # inline mark bits
    assert objects_per_span(SpanClass.make(2, False)) == (8192 - 128 - 128) // 16  # both
    assert objects_per_span(SpanClass.make(27, False)) == 8192 // 576  # headed: nothing reserved
    assert objects_per_span(SpanClass.make(0, False)) == 1


def test_oblets() -> None:
    assert oblet_count(MAX_OBLET_BYTES) == 1
    assert oblet_count(MAX_OBLET_BYTES + 8192) == 2
    assert oblet_count(placement(300_000, False).slot_bytes) == 3
