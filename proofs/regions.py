"""Regions of any width: the definitions of a summary and of a first fit, and their instances.

The content of an address range is an uninterpreted predicate `free(i)` on
integer page numbers, so a property proved here holds for every content and
every width. The definitions are quantified (`summary_formula` and
`first_fit_formula` give them as Z3 formulas, to read); to keep Z3 out of its
incomplete quantifier reasoning, proofs use them quantifier-free:

  * a definition assumed as a hypothesis contributes *instances*: its
    universal statements instantiated at chosen pages (`at_page`) and window
    starts (`at_start`), its existential witness as a fresh constant, and a
    Skolem function for "every longer window has a page in use";
  * a definition to be proved is split into its parts, and each part's
    negation (`Part`) brings fresh constants for what the negation asserts
    exists, and possibly a window it then assumes all free.

`refute` checks one part: the hypotheses' instances plus the part's
negation must be unsatisfiable. Instances are consequences of the
definitions, so unsatisfiable means the quantified part holds; the
instantiation only chooses which consequences Z3 sees. Every hypothesis is
instantiated at every page term in play (the part's constants, every
hypothesis' witness and boundary pages, the Skolem terms), and every
window start in play, which covers the pages the textbook proofs use.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import count
from typing import Any

import attrs
import z3

from proofs.core import Claim

_fresh = count()


def fresh(name: str) -> Any:
    return z3.Int(f"{name}_{next(_fresh)}")


class Content:
    """The free pages of the address space: free(i) for integer page numbers i."""

    def __init__(self, name: str = "free") -> None:
        self.free = z3.Function(name, z3.IntSort(), z3.BoolSort())

    def is_free(self, i: Any) -> Any:
        return self.free(i)

    def all_free(self, a: Any, b: Any) -> Any:
        i = z3.Int("i")
        return z3.ForAll([i], z3.Implies(z3.And(a <= i, i < b), self.is_free(i)))

    def free_at(self, a: Any, b: Any, t: Any) -> Any:
        """The instance at page t of "pages [a, b) are free"."""
        return z3.Implies(z3.And(a <= t, t < b), self.is_free(t))


@attrs.frozen
class Instances:
    """What a hypothesis contributes: ground facts, its own page terms, facts per page and per window start."""

    ground: Sequence[Any]
    pages: Sequence[Any]
    at_page: Callable[[Any], Sequence[Any]]
    at_start: Callable[[Any], tuple[Sequence[Any], Sequence[Any]]]  # (facts, new page terms)
    witness: Any = None  # the start of a run of max free pages, for a summary


@attrs.frozen
class Part:
    """The negation of one part of a definition."""

    name: str
    negation: Any
    pages: Sequence[Any] = ()
    starts: Sequence[Any] = ()
    assumed_free: tuple[Any, Any] | None = None  # a window the negation assumes all free


@attrs.frozen
class Region:
    content: Content
    lo: Any
    hi: Any

    # The summary (s, m, e) of [lo, hi).

    def summary_formula(self, s: Any, m: Any, e: Any) -> Any:
        """(s, m, e) is the summary of [lo, hi): s free pages at the start and then one in use
        (or the end), e likewise at the end, some run of m free pages and none of m + 1."""
        c, lo, hi = self.content, self.lo, self.hi
        p = z3.Int("p")
        return z3.And(
            *self._bounds(s, m, e),
            c.all_free(lo, lo + s),
            z3.Implies(lo + s < hi, z3.Not(c.is_free(lo + s))),
            c.all_free(hi - e, hi),
            z3.Implies(hi - e > lo, z3.Not(c.is_free(hi - e - 1))),
            z3.Exists([p], z3.And(lo <= p, p + m <= hi, c.all_free(p, p + m))),
            z3.ForAll([p], z3.Implies(z3.And(lo <= p, p + m + 1 <= hi), z3.Not(c.all_free(p, p + m + 1)))),
        )

    def _bounds(self, s: Any, m: Any, e: Any) -> list[Any]:
        width = self.hi - self.lo
        return [0 <= s, s <= width, 0 <= e, e <= width, 0 <= m, m <= width]

    def summary_instances(self, s: Any, m: Any, e: Any) -> Instances:
        c, lo, hi = self.content, self.lo, self.hi
        run = fresh("run")
        in_use = z3.Function(f"in_use_{next(_fresh)}", z3.IntSort(), z3.IntSort())
        ground = [
            *self._bounds(s, m, e),
            z3.Implies(lo + s < hi, z3.Not(c.is_free(lo + s))),
            z3.Implies(hi - e > lo, z3.Not(c.is_free(hi - e - 1))),
            lo <= run,
            run + m <= hi,
        ]

        def at_page(t: Any) -> list[Any]:
            return [c.free_at(lo, lo + s, t), c.free_at(hi - e, hi, t), c.free_at(run, run + m, t)]

        def at_start(p: Any) -> tuple[list[Any], list[Any]]:
            q = in_use(p)
            fact = z3.Implies(z3.And(lo <= p, p + m + 1 <= hi), z3.And(p <= q, q < p + m + 1, z3.Not(c.is_free(q))))
            return [fact], [q]

        return Instances(ground, [lo + s, hi - e - 1, hi - e, run, lo, hi - 1], at_page, at_start, run)

    def summary_parts(self, s: Any, m: Any, e: Any, runs: Sequence[Any]) -> list[Part]:
        """The negations of summary_formula's parts; `runs` are candidate starts of a run of m
        free pages (the existential part is proved by showing that one of them is one)."""
        c, lo, hi = self.content, self.lo, self.hi
        start_gap, end_gap, long_run = fresh("start_gap"), fresh("end_gap"), fresh("long_run")
        gaps = [fresh("run_gap") for _ in runs]
        no_run = z3.And(
            [
                z3.Or(r < lo, r + m > hi, z3.And(r <= g, g < r + m, z3.Not(c.is_free(g))))
                for r, g in zip(runs, gaps, strict=True)
            ]
        )
        return [
            Part("bounds", z3.Not(z3.And(*self._bounds(s, m, e)))),
            Part(
                "start run free", z3.And(lo <= start_gap, start_gap < lo + s, z3.Not(c.is_free(start_gap))), [start_gap]
            ),
            Part("start run ends", z3.And(lo + s < hi, c.is_free(lo + s))),
            Part("end run free", z3.And(hi - e <= end_gap, end_gap < hi, z3.Not(c.is_free(end_gap))), [end_gap]),
            Part("end run ends", z3.And(hi - e > lo, c.is_free(hi - e - 1))),
            Part("a run of max exists", no_run, gaps),
            Part(
                "no run longer than max",
                z3.And(lo <= long_run, long_run + m + 1 <= hi),
                [long_run],
                [long_run],
                (long_run, long_run + m + 1),
            ),
        ]

    # The first fit of n pages in [lo, hi).

    def first_fit_formula(self, n: Any, f: Any) -> Any:
        """f is the offset from lo of the lowest page that starts n free pages inside [lo, hi),
        or -1 when there is none."""
        c, lo, hi = self.content, self.lo, self.hi
        p = z3.Int("p")
        return z3.And(
            f >= -1,
            z3.Implies(f >= 0, z3.And(lo + f + n <= hi, c.all_free(lo + f, lo + f + n))),
            z3.ForAll(
                [p],
                z3.Implies(z3.And(lo <= p, p + n <= hi, z3.Or(f < 0, p < lo + f)), z3.Not(c.all_free(p, p + n))),
            ),
        )

    def first_fit_instances(self, n: Any, f: Any) -> Instances:
        c, lo, hi = self.content, self.lo, self.hi
        in_use = z3.Function(f"in_use_{next(_fresh)}", z3.IntSort(), z3.IntSort())
        ground = [f >= -1, z3.Implies(f >= 0, lo + f + n <= hi)]

        def at_page(t: Any) -> list[Any]:
            return [z3.Implies(f >= 0, c.free_at(lo + f, lo + f + n, t))]

        def at_start(p: Any) -> tuple[list[Any], list[Any]]:
            q = in_use(p)
            fact = z3.Implies(
                z3.And(lo <= p, p + n <= hi, z3.Or(f < 0, p < lo + f)),
                z3.And(p <= q, q < p + n, z3.Not(c.is_free(q))),
            )
            return [fact], [q]

        return Instances(ground, [lo + f, lo], at_page, at_start)

    def first_fit_parts(self, n: Any, f: Any) -> list[Part]:
        c, lo, hi = self.content, self.lo, self.hi
        gap, earlier = fresh("fit_gap"), fresh("earlier_fit")
        return [
            Part("range", z3.Or(f < -1, z3.And(f >= 0, lo + f + n > hi))),
            Part("the fit is free", z3.And(f >= 0, lo + f <= gap, gap < lo + f + n, z3.Not(c.is_free(gap))), [gap]),
            Part(
                "no earlier fit",
                z3.And(lo <= earlier, earlier + n <= hi, z3.Or(f < 0, earlier < lo + f)),
                [earlier],
                [earlier],
                (earlier, earlier + n),
            ),
        ]


def refute(
    label: str,
    hypotheses: Sequence[Instances],
    part: Part,
    side: Sequence[Any] = (),
    pages: Sequence[Any] = (),
    starts: Sequence[Any] = (),
    content: Content | None = None,
    show: Sequence[tuple[str, Any]] = (),
) -> Claim:
    """The claim that the hypotheses and side conditions rule out the part's negation.

    The hypotheses' instances and the side conditions are the claim's
    assumptions (checked satisfiable, so the proof is not vacuous); the
    negation, with the instances of the window it assumes free, is refuted."""
    facts: list[Any] = list(side)
    terms: list[Any] = [*part.pages, *pages]
    for h in hypotheses:
        facts.extend(h.ground)
        terms.extend(h.pages)
    for h in hypotheses:
        for p in [*part.starts, *starts, *h.pages]:
            more, new_terms = h.at_start(p)
            facts.extend(more)
            terms.extend(new_terms)
    unique: list[Any] = []
    for t in (z3.IntVal(t) if isinstance(t, int) else t for t in terms):
        if not any(t.eq(u) for u in unique):
            unique.append(t)
    for h in hypotheses:
        for t in unique:
            facts.extend(h.at_page(t))
    negation = [part.negation]
    if part.assumed_free is not None:
        if content is None:
            raise ValueError("a part that assumes a free window needs the content")
        a, b = part.assumed_free
        negation.extend(content.free_at(a, b, t) for t in unique)
    return Claim(f"{label}: {part.name}", z3.Not(z3.And(*negation)), assumptions=facts, show=show)
