"""Results of page-allocator operations: frozen values shared by the model and fast/.

They hold whatever an implementation answered, right or wrong, so they check
only types and ranges; whether an answer is right is the oracle's question.

These are the observable outcomes a trace's `expect` records and the oracle
compares. Page numbers count from page 0 of chunk 0; counts are in pages.
"""

from __future__ import annotations

import attrs

from model.words import MASK64


@attrs.frozen
class AllocResult:
    """First page of the allocation (None when it failed) and how many of its pages were scavenged."""

    page: int | None
    scav: int

    @staticmethod
    def failed() -> AllocResult:
        return AllocResult(None, 0)


@attrs.frozen
class CacheFill:
    """A page cache's contents: 64-page-aligned base, free pages (bit i = base+i) and their scavenged bits."""

    base: int | None
    free: int
    scav: int

    def __attrs_post_init__(self) -> None:
        if not (0 <= self.free <= MASK64 and 0 <= self.scav <= MASK64):
            raise ValueError("cache bitmaps must be 64-bit unsigned integers")

    @staticmethod
    def empty() -> CacheFill:
        return CacheFill(None, 0, 0)


@attrs.frozen
class ScavengeResult:
    released: int
