"""The per-P allocation cache (Go: mcache, mcache.go): one span per span class and the tiny block.

Each P (a processor: the model numbers them 0..procs-1) has an MCache:

  * alloc: span class value -> the span the P allocates from (Go keeps
    emptymspan, a span with no slots, where the model has no entry). A
    cached span is swept (sweepgen sg+3) and is in no span set; when it is
    full the next allocation of its class hands it back to its central
    list and takes another (model.gc.malloc.refill).
  * the tiny block: the 16-byte block of span class TINY_SPAN_CLASS that
    tiny allocations are packed into (Go: tiny, tinyoffset): the span and
    slot, and the offset of its first free byte. None when there is none:
    at first, and after every flush at mark termination (releaseAll),
    which also gives every cached span back.

Invariants: each cached span has the class it is cached under, is in use,
swept and cached by no other P; the tiny block, when set, is an allocated
slot of a span of the tiny class and tiny_offset <= 16.
"""

from __future__ import annotations

import attrs

from model.gc.span import Span
from model.gc.spanclass import TINY_SIZE


@attrs.define
class MCache:
    p: int
    alloc: dict[int, Span] = attrs.Factory(dict)
    tiny_span: Span | None = None
    tiny_index: int = 0
    tiny_offset: int = 0

    @property
    def has_tiny(self) -> bool:
        return self.tiny_span is not None

    def clear_tiny(self) -> None:
        self.tiny_span = None
        self.tiny_index = 0
        self.tiny_offset = 0


def tiny_align(offset: int, size: int) -> int:
    """Where in the tiny block an object of `size` bytes may start at or after `offset` (Go: mallocgcTiny on a
    64-bit machine): 8-aligned when size is a multiple of 8, else 4-aligned for multiples of 4, 2 for even sizes."""
    for align in (8, 4, 2):
        if size % align == 0:
            return -(-offset // align) * align
    return offset


def fits_in_block(offset: int, size: int) -> bool:
    return offset + size <= TINY_SIZE
