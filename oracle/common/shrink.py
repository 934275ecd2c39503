"""The one delta-debugging core every shrinker of the oracle builds on.

A Reducer holds a failing sequence (trace lines, operations, GC steps) and
a test that says whether a candidate still fails. Passes propose smaller
candidates; the reducer keeps a candidate only when the test accepts it and
it is simpler than the current one, so a reduction can never cycle:

  remove_runs   delta debugging proper: remove runs of items, the run
                length halving from half the sequence down to one item
                (ddmin's complement step, without its subset step, which
                traces rarely satisfy)
  remove_where  remove every item a predicate picks at once (all cache
                operations, every scavenge, ...), for each predicate given
  replace_each  for each position, try smaller versions of that item

`reduce(passes)` runs the passes in turn until none makes progress or the
deadline passes; it always returns a sequence the test accepted (the
original, if nothing smaller fails).

The test gets the candidate and the length of the prefix it shares with the
current sequence (callers with checkpoints replay only what changed), and
returns the sequence to keep — the candidate itself, or a trimmed version of
it (a trace cut after its first failing line) — or None when the candidate
does not fail. `simpler(new, old)` decides "simpler"; by default, shorter.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

Test = Callable[[list[T], int], list[T] | None]
Pass = Callable[["Reducer[T]"], bool]


def shorter(new: Sequence[object], old: Sequence[object]) -> bool:
    return len(new) < len(old)


def shared_prefix(a: Sequence[object], b: Sequence[object]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class Reducer(Generic[T]):
    """A failing sequence being made smaller (see the module comment)."""

    def __init__(
        self,
        items: list[T],
        test: Test[T],
        seconds: float | None = None,
        simpler: Callable[[list[T], list[T]], bool] = shorter,
        accepted: Callable[[list[T]], None] | None = None,
    ) -> None:
        """accepted(items), if given, is told every sequence the reducer keeps."""
        self.items = list(items)
        self.accepted = accepted
        self.test = test
        self.deadline = None if seconds is None else time.monotonic() + seconds
        self.simpler = simpler
        self.tried = 0

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def attempt(self, candidate: list[T], keep: int | None = None) -> bool:
        """Keep the candidate (or what the test trims it to) if it still fails and is simpler."""
        if not candidate or self.out_of_time():
            return False
        self.tried += 1
        prefix = shared_prefix(candidate, self.items) if keep is None else keep
        kept = self.test(candidate, prefix)
        if kept is None or not self.simpler(kept, self.items):
            return False
        self.items = kept
        if self.accepted is not None:
            self.accepted(kept)
        return True

    def remove_runs(self, protect_last: bool = False) -> bool:
        """Remove runs of items, halving the run length down to single items; True if anything went."""
        progress = False
        size = max(len(self.items) // 2, 1)
        while size >= 1 and not self.out_of_time():
            i = 0
            while i < len(self.items) - (1 if protect_last else 0) and not self.out_of_time():
                end = min(i + size, len(self.items) - (1 if protect_last else 0))
                if self.attempt(self.items[:i] + self.items[end:], i):
                    progress = True
                else:
                    i += size
            size //= 2
        return progress

    def remove_where(self, predicates: Iterable[Callable[[T], bool]], protect_last: bool = False) -> bool:
        """For each predicate, remove every item it picks at once; True if any removal was kept."""
        progress = False
        for picks in predicates:
            body, last = (self.items[:-1], self.items[-1:]) if protect_last else (self.items, [])
            candidate = [x for x in body if not picks(x)] + last
            if len(candidate) < len(self.items) and self.attempt(candidate):
                progress = True
        return progress

    def replace_each(self, smaller: Callable[[T], Iterable[T]]) -> bool:
        """At each position, try the smaller versions of its item in order; keep the first that still fails."""
        progress = False
        i = 0
        while i < len(self.items) and not self.out_of_time():
            for version in smaller(self.items[i]):
                if self.attempt([*self.items[:i], version, *self.items[i + 1 :]], i):
                    progress = True
                    break
            i += 1
        return progress

    def reduce(self, passes: Sequence[Pass[T]]) -> list[T]:
        """Run the passes in turn until none makes progress (or time runs out); the smallest failing sequence."""
        progress = True
        while progress and not self.out_of_time():
            progress = False
            for run_pass in passes:
                if run_pass(self):
                    progress = True
        return self.items


def ddmin(items: list[T], fails: Callable[[list[T]], bool], seconds: float | None = None) -> list[T]:
    """The smallest sub-sequence found that still fails, removing runs only (a 1-minimal result given time)."""

    def test(candidate: list[T], _prefix: int) -> list[T] | None:
        return candidate if fails(candidate) else None

    return Reducer(items, test, seconds).reduce([Reducer.remove_runs])
