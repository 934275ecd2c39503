"""What a proof is, how its obligations are discharged, and what a run reports.

A proof is a named property with a function that yields *obligations* about
the model's own functions, as imported: the working tree's model, or (for
the negative control and the seeded bugs of `--mutants`) a temporary copy of
it holding one seeded bug (proofs.mutation). An obligation is either a Z3
claim, valid when its negation is unsatisfiable under its assumptions, or a
concrete check (an exhaustive enumeration of a bounded domain).

  * A proof is `proved` when every obligation is; the first obligation that
    is not stops it, with that obligation's status (`counterexample`,
    `unknown` when Z3 gives up or the time runs out, `error` when the code
    under proof raises).
  * A control is run on the same obligations with the seeded bug and is
    refuted (status `counterexample`) at the first obligation that fails. A
    control that "proves" shows that the property could not tell a wrong
    function from a right one: the run fails, as it does for any proof that
    is not proved.

Obligations are produced lazily, so a control stops at its first
counterexample without building the rest, and every solver call gets the
time left in the proof's budget, so a hang ends as `unknown`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar
from typing import Any, Literal

import attrs
import z3

Status = Literal["proved", "counterexample", "unknown", "error"]
Kind = Literal["proof", "control"]

DEFAULT_PROOF_SECONDS = 300.0
"""Wall-clock budget for one proof or one control; past it the run is `unknown`. No proof needs
more than about 15 s of CPU; the margin is for a machine whose cores other work shares (at a load
of 10 on 2 cores the slowest proofs take some 90 s)."""


@attrs.frozen
class ProofResult:
    """The outcome of one proof or control, as `python -m proofs` reports it."""

    name: str
    kind: Kind
    status: Status
    seconds: float
    statement: str
    counterexample: str | None = None
    note: str | None = None

    @property
    def passed(self) -> bool:
        """A proof passes when proved, a control when refuted."""
        return self.status == ("proved" if self.kind == "proof" else "counterexample")

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "statement": self.statement,
            "counterexample": self.counterexample,
            "note": self.note,
        }


@attrs.frozen
class Outcome:
    status: Status
    detail: str | None = None


class Deadline:
    """Wall-clock budget shared by every obligation of one proof run."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.end - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0


class OutOfTime(Exception):
    """The proof's budget ran out (in a solver call or in path exploration)."""


_budget: ContextVar[Deadline | None] = ContextVar("proof_budget", default=None)


def current_deadline() -> Deadline:
    """The deadline of the proof being run (a fresh default budget outside a run)."""
    deadline = _budget.get()
    return deadline if deadline is not None else Deadline(DEFAULT_PROOF_SECONDS)


class Obligation:
    label: str

    def discharge(self, deadline: Deadline) -> Outcome:
        raise NotImplementedError


def new_solver(logic: str | None = None) -> z3.Solver:
    return z3.SolverFor(logic) if logic else z3.Solver()


def solver_timeout_ms(deadline: Deadline) -> int:
    remaining = deadline.remaining()
    if remaining <= 0:
        raise OutOfTime("the proof's time budget ran out")
    return max(1, int(remaining * 1000))


def describe_value(value: z3.ExprRef) -> str:
    if z3.is_bv_value(value):
        v = value.as_long()
        return f"{v:#x}" if v > 64 else str(v)
    if z3.is_int_value(value):
        return str(value.as_long())
    return str(value)


def describe_model(model: z3.ModelRef, show: Sequence[tuple[str, z3.ExprRef]]) -> str:
    if not show:
        show = [(str(d.name()), d()) for d in sorted(model.decls(), key=lambda d: str(d.name())) if d.arity() == 0]
    text = ", ".join(f"{name}={describe_value(model.eval(term, model_completion=True))}" for name, term in show)
    return text or "false as stated (no free variables)"


@attrs.frozen
class Claim(Obligation):
    """`claim` holds whenever every assumption does (checked by refuting its negation).

    Unless `feasible` says the assumptions are already known to be
    satisfiable (a path condition the explorer found a model for), they are
    checked first: contradictory assumptions would make any claim hold, so
    they are reported as an error instead.
    """

    label: str
    claim: Any
    assumptions: Sequence[Any] = ()
    show: Sequence[tuple[str, Any]] = ()
    logic: str | None = None
    feasible: bool = False

    def discharge(self, deadline: Deadline) -> Outcome:
        if self.assumptions and not self.feasible:
            check = new_solver(self.logic)
            check.set("timeout", solver_timeout_ms(deadline))
            check.add(*self.assumptions)
            answer = check.check()
            if answer == z3.unsat:
                return Outcome("error", f"{self.label}: the assumptions contradict each other (vacuous)")
            if answer != z3.sat:
                return Outcome("unknown", f"{self.label}: assumptions: {check.reason_unknown()}")
        solver = new_solver(self.logic)
        solver.set("timeout", solver_timeout_ms(deadline))
        solver.add(*self.assumptions)
        solver.add(z3.Not(self.claim))
        answer = solver.check()
        if answer == z3.unsat:
            return Outcome("proved")
        if answer == z3.sat:
            return Outcome("counterexample", f"{self.label}: {describe_model(solver.model(), self.show)}")
        reason = solver.reason_unknown()
        if deadline.expired():
            reason = "the proof's time budget ran out"
        return Outcome("unknown", f"{self.label}: {reason}")


@attrs.frozen
class Check(Obligation):
    """A concrete check: `run` returns None when it holds, else a counterexample."""

    label: str
    run: Callable[[], str | None]

    def discharge(self, deadline: Deadline) -> Outcome:
        failure = self.run()
        if failure is None:
            return Outcome("proved")
        return Outcome("counterexample", f"{self.label}: {failure}")


Obligations = Iterable[Obligation]


@attrs.frozen
class Proof:
    """A property of the model's code, proved by the obligations `check()` yields.

    `check` evaluates the model's own functions (whatever `model` is
    imported: the working tree, or a copy holding a seeded bug); its
    docstring states the property in plain words, what is reduced and why
    the reduction carries, and what is argued in writing. `control` names
    the seeded bug (proofs.mutants) the negative control runs the same
    obligations against: a single-point mistake in the function under
    proof, which must be refuted with a counterexample.
    """

    name: str
    statement: str
    check: Callable[[], Obligations]
    control: str
    expected_seconds: float = 1.0  # for scheduling parallel runs, longest first

    @property
    def doc(self) -> str:
        return (self.check.__doc__ or "").strip()


def discharge_all(obligations: Iterable[Obligation], deadline: Deadline) -> Outcome:
    """Discharge in order; stop at the first obligation that is not proved.

    The obligations may be a generator: it runs with `deadline` as the
    current deadline, which explorations inside it use.
    """
    token = _budget.set(deadline)
    try:
        return _discharge_all(obligations, deadline)
    finally:
        _budget.reset(token)


def _discharge_all(obligations: Iterable[Obligation], deadline: Deadline) -> Outcome:
    iterator: Iterator[Obligation] = iter(obligations)
    count = 0
    while True:
        if deadline.expired():
            return Outcome("unknown", f"time budget ran out after {count} obligations")
        try:
            obligation = next(iterator)
        except StopIteration:
            return Outcome("proved", f"{count} obligations")
        except OutOfTime as e:
            return Outcome("unknown", str(e))
        try:
            outcome = obligation.discharge(deadline)
        except OutOfTime as e:
            return Outcome("unknown", f"{obligation.label}: {e}")
        count += 1
        if outcome.status != "proved":
            return outcome
