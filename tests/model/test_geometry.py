"""The geometry: Go's amd64 and 386 numbers, each platform's chunk range, bad geometries refused (model/geometry.py)."""

from __future__ import annotations

import re

import pytest

from model.errors import ParameterError
from model.geometry import AMD64, ARCHES, I386, Geometry, go_geometry
from oracle.golive.toolchain import find_toolchain


def test_geometry_of_amd64() -> None:
    g = AMD64
    assert (g.levels, g.block_bits(0), g.block_bits(1), g.chunk_pages) == (5, 14, 3, 512)
    assert g.level_log_pages(0) == 21 and g.level_log_pages(4) == 9
    assert g.total_chunks == 2**26  # 48-bit addresses / 4 MiB chunks
    assert g.entry_of(0, 2**21) == 1 and g.entry_base(3, 1) == 4096


@pytest.mark.parametrize(
    "kwargs",
    [{"chunk_pages": 500}, {"chunk_pages": 32}, {"levels": 0}, {"page_bytes": 3}, {"level_bits": -1}],
)
def test_bad_geometry_is_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(ParameterError):
        Geometry(**kwargs)


def test_geometry_of_386() -> None:
    g = I386
    assert (g.levels, 1 << g.block_bits(0), 1 << g.block_bits(1)) == (4, 2, 8)  # a root of two entries
    assert g.level_log_pages(0) == 18 and (1 << g.level_log_pages(0)) * g.page_bytes == 2 << 30  # 2 GiB each
    assert g.total_chunks == 1024 and g.total_pages * g.page_bytes == 1 << 32
    assert g.log_max_packed == 18  # 18-bit packed fields; 1 << 18 is a whole root entry, the fully-free case


def _go_constant(text: str, name: str) -> int:
    found = re.search(rf"^\s*{name}\s*=\s*(\d+)\s*$", text, re.MULTILINE)
    assert found, f"{name} not found"
    return int(found.group(1))


@pytest.mark.parametrize(
    ("arch", "source", "heap_addr_bits"), [("amd64", "mpagealloc_64bit.go", 48), ("386", "mpagealloc_32bit.go", 32)]
)
def test_each_arch_is_derived_as_go_derives_it(arch: str, source: str, heap_addr_bits: int) -> None:
    """summaryLevels from Go's own source; the rest follows from heapAddrBits as mpagealloc.go says."""
    runtime = find_toolchain().runtime_dir
    levels = _go_constant((runtime / source).read_text(), "summaryLevels")
    level_bits = _go_constant((runtime / "mpagealloc.go").read_text(), "summaryLevelBits")
    assert level_bits == 3
    g = go_geometry(heap_addr_bits, levels)
    assert ARCHES[arch].geometry() == g
    assert g.root_bits == heap_addr_bits - 22 - (levels - 1) * level_bits  # summaryL0Bits


def test_chunks_a_trace_may_grow() -> None:
    amd64, i386 = ARCHES["amd64"], ARCHES["386"]
    assert (amd64.first_chunk, amd64.chunk_limit()) == (0, (1 << 26) - 0xC000)  # from BaseChunkIdx to the top
    assert (i386.first_chunk, i386.chunk_limit()) == (1, 1023)  # neither address 0 nor the chunk ending at 2**32
    assert i386.max_npages() == (1 << 19) - 1  # a page count whose bytes fit 32 bits
    assert i386.chunk_limit(64) == 1024  # a reduced chunk leaves the top below 2**32


def test_an_address_space_too_small_for_its_levels_is_refused() -> None:
    with pytest.raises(ParameterError, match="smaller than"):
        go_geometry(heap_addr_bits=24, summary_levels=4)
