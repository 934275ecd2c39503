"""The state of the small-object path as a GC trace (version 2) reports it, and its changes per step.

After every step of a version 2 trace the replayer compares what the step
changed with the line's expect (oracle.gc.trace: "spans", "sets", "tiny"),
so a trace recorded from the Go runtime checks every span transition. The
state, taken from the model (model.gc.mheap.SpanHeap) or built from the Go
driver's dump (oracle.gc.spanpath), is three tables:

  * spans: first page -> [page, span class, npages, sweepgen minus the
    heap's, freeindex, alloc_count, alloc bits, where], for every in-use
    span (the zero base is not a span). Alloc bits are hexadecimal digits,
    slot 0 the lowest bit of the last digit, one digit per 4 slots (so the
    length also says nelems). `where` is "p<N>" when P N caches it, else
    the set holding its live entry ("ps", "pu", "fs", "fu": partial or
    full, swept or unswept), else "-".
  * sets: (span class, set) -> the first pages of its live entries in queue
    order, for every non-empty set.
  * tiny: P -> (page, slot, offset) of its tiny block, or None.

`changes(before, after)` is what a step changed, in the expect's form:
records of the changed spans ([page, null] for a span that is gone), the
new content of every changed set, and the changed tiny blocks.
"""

from __future__ import annotations

from typing import Any

import attrs

from model.gc.mheap import SpanHeap
from model.gc.span import Span
from model.gc.spanset import FULL, PARTIAL, SWEPT, UNSWEPT

SET_NAMES = {(PARTIAL, SWEPT): "ps", (PARTIAL, UNSWEPT): "pu", (FULL, SWEPT): "fs", (FULL, UNSWEPT): "fu"}

SpanRecord = tuple[int, int, int, int, int, int, str, str]


@attrs.frozen
class SpanState:
    spans: dict[int, SpanRecord]
    sets: dict[tuple[int, str], tuple[int, ...]]
    tiny: dict[int, tuple[int, int, int] | None]


def bits_hex(bits: int, nelems: int) -> str:
    digits = max(1, -(-nelems // 4))
    return format(bits & ((1 << nelems) - 1), f"0{digits}x")


def span_record(span: Span, sweepgen: int, where: str) -> SpanRecord:
    return (span.base_page, span.span_class.value, span.npages, span.sweepgen - sweepgen, span.freeindex,
            span.alloc_count, bits_hex(span.alloc_bits, span.nelems), where)


def span_state(heap: SpanHeap) -> SpanState:
    sg = heap.sweepgen
    where: dict[int, str] = {}
    for cache in heap.mcaches:
        for span in cache.alloc.values():
            where[id(span)] = f"p{cache.p}"
    sets: dict[tuple[int, str], tuple[int, ...]] = {}
    for value, central in heap.centrals.items():
        for (kind, role), name in SET_NAMES.items():
            live = central.live(kind, role, sg)
            if live:
                sets[(value, name)] = tuple(s.base_page for s in live)
                for span in live:
                    where.setdefault(id(span), name)
    spans = {page: span_record(span, sg, where.get(id(span), "-")) for page, span in heap.spans.items()}
    tiny = {
        cache.p: (cache.tiny_span.base_page, cache.tiny_index, cache.tiny_offset)
        if cache.tiny_span is not None else None
        for cache in heap.mcaches
    }
    return SpanState(spans, sets, tiny)


def changes(before: SpanState, after: SpanState) -> dict[str, list[Any]]:
    """The step's changes in the expect's form (each list sorted as oracle.gc.trace sorts an expect's)."""
    spans: list[Any] = []
    for page in sorted(before.spans.keys() | after.spans.keys()):
        if before.spans.get(page) != after.spans.get(page):
            record = after.spans.get(page)
            spans.append(list(record) if record is not None else [page, None])
    sets: list[Any] = []
    for key in sorted(before.sets.keys() | after.sets.keys()):
        if before.sets.get(key, ()) != after.sets.get(key, ()):
            sets.append([key[0], key[1], list(after.sets.get(key, ()))])
    tiny: list[Any] = []
    for p in sorted(before.tiny.keys() | after.tiny.keys()):
        if before.tiny.get(p) != after.tiny.get(p):
            block = after.tiny.get(p)
            tiny.append([p, *block] if block is not None else [p, None])
    return {"spans": spans, "sets": sets, "tiny": tiny}
