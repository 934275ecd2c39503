"""Span sets and the central lists of a span class (Go: spanSet in mspanset.go, mcentral in mcentral.go).

A SpanSet is a first-in first-out queue of spans: push appends, pop takes
the oldest (Go's lock-free spanSet has a head and a tail index over blocks
of 512 entries; pop advances the head). Nothing else removes an entry.

An MCentral holds, for one span class, four sets: partial (spans with a
free slot) and full (none), each twice. Which of the two is *swept* and
which *unswept* depends on the heap's sweepgen, which grows by 2 each
cycle: the swept sets are partial[sweepgen/2 % 2] and full[sweepgen/2 % 2],
so when a cycle ends and sweepgen moves on, the spans swept this cycle are
in the unswept sets of the next without moving (Go: mcentral.partialSwept
and friends).

Entries can go stale: the heap reclaimer sweeps spans wherever they are
and cannot take them out of the unswept set they sit in, and a swept span
can later be freed. Whoever pops an unswept set skips an entry whose span
is no longer unswept (model.gc.mheap: try_acquire). `live` filters the
entries that still mean something: in a swept set every entry, in an
unswept set those whose span still needs sweeping.

Invariant (model.gc.invariants.span_set_violations): every in-use span
that is not cached by a P has exactly one live entry, in a set of its own
class whose role (swept or not) and kind (partial or full) match the span.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

import attrs

from model.gc.span import Span
from model.gc.spanclass import SpanClass

PARTIAL, FULL = "partial", "full"
SWEPT, UNSWEPT = "swept", "unswept"


@attrs.define
class SpanSet:
    entries: deque[Span] = attrs.Factory(deque)

    def push(self, span: Span) -> None:
        self.entries.append(span)

    def pop(self) -> Span | None:
        return self.entries.popleft() if self.entries else None

    def __iter__(self) -> Iterator[Span]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


def role_index(sweepgen: int, role: str) -> int:
    """Which of the two sets of a kind plays `role` at this sweepgen."""
    swept = sweepgen // 2 % 2
    return swept if role == SWEPT else 1 - swept


@attrs.define
class MCentral:
    span_class: SpanClass
    partial: tuple[SpanSet, SpanSet] = attrs.Factory(lambda: (SpanSet(), SpanSet()))
    full: tuple[SpanSet, SpanSet] = attrs.Factory(lambda: (SpanSet(), SpanSet()))

    def set(self, kind: str, role: str, sweepgen: int) -> SpanSet:
        return (self.partial if kind == PARTIAL else self.full)[role_index(sweepgen, role)]

    def partial_swept(self, sweepgen: int) -> SpanSet:
        return self.set(PARTIAL, SWEPT, sweepgen)

    def partial_unswept(self, sweepgen: int) -> SpanSet:
        return self.set(PARTIAL, UNSWEPT, sweepgen)

    def full_swept(self, sweepgen: int) -> SpanSet:
        return self.set(FULL, SWEPT, sweepgen)

    def full_unswept(self, sweepgen: int) -> SpanSet:
        return self.set(FULL, UNSWEPT, sweepgen)

    def live(self, kind: str, role: str, sweepgen: int) -> list[Span]:
        """The entries that still hold their span (see the module comment), in queue order."""
        entries = self.set(kind, role, sweepgen)
        if role == SWEPT:
            return list(entries)
        return [s for s in entries if s.in_use and s.sweepgen == sweepgen - 2]

    def sets(self, sweepgen: int) -> Iterator[tuple[str, str, SpanSet]]:
        for kind in (PARTIAL, FULL):
            for role in (SWEPT, UNSWEPT):
                yield kind, role, self.set(kind, role, sweepgen)
