"""The go campaign's own shrink passes (oracle.golive.shrink): moving the heap down, renumbering caches."""

from __future__ import annotations

from oracle.golive.shrink import normalized


def test_the_heap_moves_down_to_the_lowest_chunk_a_trace_may_grow() -> None:
    """On 386 the lowest is chunk 1 (chunk 0 is never grown); pages of frees and pads move with their chunks."""
    stream = [
        ("grow", {"chunk": 7, "nchunks": 2}),
        ("pad", {"page": 7 * 512 + 3, "npages": 2}),
        ("alloc", {"npages": 5}),
        ("free", {"page": 8 * 512, "npages": 1}),
    ]
    on_386 = normalized(stream, 512, first_chunk=1)[0]
    assert on_386 == [
        ("grow", {"chunk": 1, "nchunks": 2}),
        ("pad", {"page": 512 + 3, "npages": 2}),
        ("alloc", {"npages": 5}),
        ("free", {"page": 2 * 512, "npages": 1}),
    ]
    assert normalized(stream, 512)[0][0] == ("grow", {"chunk": 0, "nchunks": 2})


def test_a_heap_already_at_its_lowest_chunk_is_not_moved() -> None:
    stream = [("grow", {"chunk": 1, "nchunks": 1}), ("alloc", {"npages": 1})]
    assert stream not in normalized(stream, 512, first_chunk=1)
    assert normalized(stream, 512, first_chunk=1) == []
