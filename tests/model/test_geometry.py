"""The geometry: Go's amd64 numbers, and bad geometries refused (model/geometry.py)."""

from __future__ import annotations

import pytest

from model.errors import ParameterError
from model.geometry import AMD64, Geometry


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
