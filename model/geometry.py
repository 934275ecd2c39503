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

Go's 32-bit layout (mpagealloc_32bit.go, e.g. 386): the same pages and
chunks, 4 levels, a root of 2 entries of 2 GiB each, 8 children per entry
below, 32-bit heap addresses, so 1,024 chunks in all.

Both follow from two numbers as Go derives them (malloc.go, mpagealloc.go):
heapAddrBits and summaryLevels give the root's bits as heapAddrBits minus
the chunk's byte bits minus (levels - 1) * 3 (`go_geometry`). `Arch` adds
which chunks a trace may grow on the platform (see its docstring).

A packed summary field has log_max_packed bits, which is exactly
level_log_pages(0): the root entry's page count 2**log_max_packed is the one
value that does not fit, hence the fully-free special case (model.summary).
The fields are 21 bits on amd64, where a 16 GiB root entry may be wholly
free, and 18 bits on 386, where it never is with Go's 512-page chunks: a
root entry is chunks 0-511 or 512-1023, and chunks 0 and 1023 are never
grown (Arch, SPEC.md "Platforms"), so the special case arises on amd64 only.
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


SUMMARY_LEVEL_BITS = 3  # Go: summaryLevelBits, on every platform


def go_geometry(heap_addr_bits: int, summary_levels: int, chunk_pages: int = 512, page_bytes: int = 8192) -> Geometry:
    """The tree Go builds for an address space of 2**heap_addr_bits bytes (mpagealloc.go: summaryL0Bits)."""
    chunk_byte_bits = (chunk_pages * page_bytes).bit_length() - 1
    root_bits = heap_addr_bits - chunk_byte_bits - (summary_levels - 1) * SUMMARY_LEVEL_BITS
    if root_bits < 0:
        raise ParameterError(
            f"an address space of 2**{heap_addr_bits} bytes is smaller than {summary_levels} levels of "
            f"{chunk_pages}-page chunks"
        )
    return Geometry(page_bytes, chunk_pages, summary_levels, root_bits, SUMMARY_LEVEL_BITS)


AMD64 = go_geometry(heap_addr_bits=48, summary_levels=5)
I386 = go_geometry(heap_addr_bits=32, summary_levels=4)


@attrs.frozen
class Arch:
    """A Go platform's page-allocator tree, and the chunks a trace may grow on it.

    A trace numbers chunks from the platform's `origin` (the live driver and
    the trace generator place trace chunk C at the runtime's chunk origin + C)
    and may grow only chunks [first_chunk, chunk_limit):

      * amd64: origin BaseChunkIdx (0xc000, Go's test base, aligned to a root
        entry, so the model's tree, which starts at 0, has Go's shape), up to
        the top of the 48-bit address space.
      * 386: origin 0, a trace's chunks are the address space's own, so a trace
        reaches every entry of the tree. Chunk 0 is left out: its first page is
        address 0, which Go's alloc returns for "no memory" and its grow takes
        for "not grown yet". The last chunk is left out: its limit, 2**32, does
        not fit a uintptr, and Go 1.27's grow of it throws ("attempted to add
        zero-sized address range"); the real heap never maps it, as
        mheap.sysAlloc refuses a region whose end wraps.

    The tree's shape does not depend on chunk_pages (a reduced chunk makes a
    smaller address space); the chunk range is counted in chunks either way.
    """

    name: str
    root_bits: int
    levels: int
    uintptr_bits: int  # the platform's address width; the address space's top fits it only if wider
    origin: int
    first_chunk: int

    def geometry(self, chunk_pages: int = 512) -> Geometry:
        return Geometry(
            chunk_pages=chunk_pages, levels=self.levels, root_bits=self.root_bits, level_bits=SUMMARY_LEVEL_BITS
        )

    def chunk_limit(self, chunk_pages: int = 512) -> int:
        """One past the last chunk a trace may grow (the top chunk is left out where its limit wraps)."""
        g = self.geometry(chunk_pages)
        address_bits = (g.total_pages * g.page_bytes).bit_length() - 1
        top_wraps = address_bits >= self.uintptr_bits
        return g.total_chunks - self.origin - (1 if top_wraps else 0)

    def max_npages(self, chunk_pages: int = 512) -> int:
        """The largest page count one op may name: fewer pages than the address space has."""
        return self.geometry(chunk_pages).total_pages - 1


ARCHES: dict[str, Arch] = {
    "amd64": Arch("amd64", AMD64.root_bits, AMD64.levels, uintptr_bits=64, origin=0xC000, first_chunk=0),
    "386": Arch("386", I386.root_bits, I386.levels, uintptr_bits=32, origin=0, first_chunk=1),
}
