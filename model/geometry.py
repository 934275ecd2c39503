"""Geometry of the page allocator: page size, chunk size and the radix tree.

Everything the model computes about addresses goes through one `Geometry`
value, so that a reduced geometry (small chunks, few levels) can be modelled
and proved with the same code as Go's amd64 layout.

Pages are numbered from 0 at the base of the modelled address space; chunk c
holds pages [c * chunk_pages, (c + 1) * chunk_pages). The radix tree has
`levels` levels; level 0 (the root) has 2**root_bits entries and every entry
above the leaves has 2**level_bits children. A leaf entry covers one chunk, an
entry at level l covers 2**level_log_pages(l) pages.

Go's amd64 layout (mpagealloc.go, mpagealloc_64bit.go): 8 KiB pages, 512-page
chunks (4 MiB), 5 levels, 2**14 root entries of 16 GiB each, 8 children per
entry below, 48-bit heap addresses.

A packed summary field has log_max_packed bits, which is exactly
level_log_pages(0): the root entry's page count 2**log_max_packed is the one
value that does not fit, hence the fully-free special case (model.summary).
"""

from __future__ import annotations

import attrs

from model.errors import ParameterError


def is_power_of_two(n: int) -> bool:
    return isinstance(n, int) and not isinstance(n, bool) and n > 0 and n & (n - 1) == 0


def _positive_power_of_two(instance: object, attribute: attrs.Attribute, value: int) -> None:
    if not is_power_of_two(value):
        raise ParameterError(f"{attribute.name} must be a power of two, got {value!r}")


def _positive_int(instance: object, attribute: attrs.Attribute, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ParameterError(f"{attribute.name} must be an integer >= 1, got {value!r}")


def _non_negative_int(instance: object, attribute: attrs.Attribute, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ParameterError(f"{attribute.name} must be an integer >= 0, got {value!r}")


WORD_BITS = 64


@attrs.frozen
class Geometry:
    """Sizes of pages, chunks and tree levels; every derived number is a method."""

    page_bytes: int = attrs.field(default=8192, validator=_positive_power_of_two)
    chunk_pages: int = attrs.field(default=512, validator=_positive_power_of_two)
    levels: int = attrs.field(default=5, validator=_positive_int)
    root_bits: int = attrs.field(default=14, validator=_non_negative_int)
    level_bits: int = attrs.field(default=3, validator=_non_negative_int)

    def __attrs_post_init__(self) -> None:
        if self.chunk_pages % WORD_BITS != 0:
            raise ParameterError(
                f"chunk_pages must be a multiple of {WORD_BITS} (bitmaps are 64-bit words), got {self.chunk_pages}"
            )

    @property
    def log_chunk_pages(self) -> int:
        return self.chunk_pages.bit_length() - 1

    @property
    def words_per_chunk(self) -> int:
        return self.chunk_pages // WORD_BITS

    @property
    def log_max_packed(self) -> int:
        """Bits per packed summary field (Go: logMaxPackedValue, 21 on amd64)."""
        return self.log_chunk_pages + (self.levels - 1) * self.level_bits

    @property
    def max_packed(self) -> int:
        """Largest value a packed field stands for (Go: maxPackedValue)."""
        return 1 << self.log_max_packed

    def block_bits(self, level: int) -> int:
        """log2 of the number of entries scanned together at `level` (Go: levelBits)."""
        return self.root_bits if level == 0 else self.level_bits

    def level_log_pages(self, level: int) -> int:
        """log2 of the pages one entry at `level` covers (Go: levelLogPages)."""
        return self.log_chunk_pages + (self.levels - 1 - level) * self.level_bits

    def level_entries(self, level: int) -> int:
        """Number of entries at `level` across the whole address space."""
        return 1 << (self.root_bits + level * self.level_bits)

    @property
    def total_chunks(self) -> int:
        return self.level_entries(self.levels - 1)

    @property
    def total_pages(self) -> int:
        return self.total_chunks * self.chunk_pages

    @property
    def no_free_page(self) -> int:
        """The search hint's value when the heap is known to be full (Go: maxSearchAddr).

        It is one past the last page of the address space, so "every page below
        the hint is in use" holds for it like for any other value.
        """
        return self.total_pages

    def chunk_of(self, page: int) -> int:
        return page >> self.log_chunk_pages

    def chunk_base(self, chunk: int) -> int:
        return chunk << self.log_chunk_pages

    def page_in_chunk(self, page: int) -> int:
        return page & (self.chunk_pages - 1)

    def entry_of(self, level: int, page: int) -> int:
        """Index of the entry at `level` that covers `page` (Go: offAddrToLevelIndex)."""
        return page >> self.level_log_pages(level)

    def entry_base(self, level: int, index: int) -> int:
        """First page covered by entry `index` at `level` (Go: levelIndexToOffAddr)."""
        return index << self.level_log_pages(level)


AMD64 = Geometry()
