"""Run the model's Python code on Z3 terms, one feasible path at a time.

Most of the model's word-level code is straight-line over model.words and
evaluates to a single Z3 term. Some of it branches in Python on a value that
is symbolic in a proof (`if rest != 0`, `while unusable(i) == MASK64`, the
tree descent's comparisons). `explore(fn, assumptions)` runs such code on
every feasible path of its control flow:

  * While it runs, asking Python for the truth of a Z3 term (an `if`, a
    `while`, `and`/`or`, the builtin min) does not raise: the explorer
    decides it. A Boolean term is taken as is, a bit-vector as "not zero".
  * The first run follows a model of the assumptions (concolic execution).
    At each new decision the explorer asks Z3 whether the other side is
    feasible too; if so, it queues that side with the model Z3 gave for it.
    Every run records its path condition (the decisions taken) and what the
    code returned or raised.
  * The paths' conditions are disjoint and, under the assumptions, cover
    every input, so "for every path, assumptions and path condition imply
    the property of that path's result" is the property for every input.

Python's floor division `//` has no Z3 bit-vector counterpart; while
exploring, `a // b` on a bit-vector is the floor of the signed quotient, as
Python computes it for ints, and `a % b` is Z3's signed modulo, which has
Python's sign rule. This is exact for values below 2**63, which page indices
in a chunk are. For a divisor that is a power of two (an int, or a term
1 << h) they are computed as the equal arithmetic shift and mask, which Z3
solves much faster than a divider. A bit-vector used where Python needs an
int (a range bound, a list index) takes one path per value it can have
(`__index__`). The patches are in place only during `explore`, and only the
exploring thread's truth tests are decided (explorations do not nest;
parallel proofs run in separate processes).

Containers for model state indexed by symbolic values, so model code runs
unchanged: BranchingDict (a dict whose lookup at a Z3 key branches over the
stored keys, as Python's lookup would pick one of them or none) and
PresenceDict (a level of the radix tree whose entries count as stored
exactly when their summary is non-zero, the explorer deciding which).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import attrs
import z3

from model.errors import ModelError
from proofs.core import Deadline, OutOfTime, current_deadline, new_solver, solver_timeout_ms

DEFAULT_MAX_PATHS = 5000


class VacuousAssumptions(Exception):
    """The assumptions of an exploration contradict each other: every property would hold."""


class TooManyPaths(OutOfTime):
    pass


@attrs.frozen
class Path:
    condition: tuple[Any, ...]
    value: Any = None
    raised: BaseException | None = None

    def when(self) -> Any:
        return z3.And(*self.condition) if self.condition else z3.BoolVal(True)


def _power_of_two_shift(b: Any) -> Any:
    """log2 of b when b is a power of two: an int, or the term for a Z3 term 1 << h."""
    if isinstance(b, int):
        return b.bit_length() - 1 if b > 0 and b & (b - 1) == 0 else None
    if z3.is_app_of(b, z3.Z3_OP_BSHL) and z3.is_bv_value(b.arg(0)) and b.arg(0).as_long() == 1:
        return b.arg(1)
    return None


def _floor_div(a: Any, b: Any) -> Any:
    shift = _power_of_two_shift(b)
    if shift is not None and isinstance(a, z3.BitVecRef):
        return a >> shift  # arithmetic shift: the floor for signed values
    width = a.size() if isinstance(a, z3.BitVecRef) else b.size()
    n = a if isinstance(a, z3.BitVecRef) else z3.BitVecVal(a, width)
    d = b if isinstance(b, z3.BitVecRef) else z3.BitVecVal(b, width)
    q = n / d  # signed division, truncating towards zero
    return z3.If(z3.And(z3.SRem(n, d) != 0, (n < 0) != (d < 0)), q - 1, q)


_original_mod = z3.BitVecRef.__mod__


def _mod(a: Any, b: Any) -> Any:
    if _power_of_two_shift(b) is not None:
        return a & (b - 1)  # the signed modulo's value for a positive power of two, cheaper to solve
    return _original_mod(a, b)


class _Run:
    """One run of the explored function along a prefix of decisions."""

    def __init__(self, explorer: Explorer, prefix: list[bool], model: z3.ModelRef, solver: z3.Solver) -> None:
        self.explorer = explorer
        self.prefix = prefix
        self.model = model
        self.solver = solver
        self.decisions: list[bool] = []
        self.condition: list[Any] = []
        self.known: dict[int, tuple[Any, bool]] = {}  # conditions already decided on this path (kept alive)

    def decide(self, term: Any) -> bool:
        if z3.is_true(term):
            return True
        if z3.is_false(term):
            return False
        cond = term if z3.is_bool(term) else term != 0
        seen = self.known.get(cond.get_id())
        if seen is not None and seen[0].eq(cond):
            return seen[1]
        index = len(self.decisions)
        if index < len(self.prefix):
            choice = self.prefix[index]
        else:
            choice = z3.is_true(self.model.eval(cond, model_completion=True))
            other = z3.Not(cond) if choice else cond
            model = self.explorer.feasible(self.solver, other)
            if model is not None:
                self.explorer.queue([*self.decisions, not choice], model)
        taken = cond if choice else z3.Not(cond)
        self.known[cond.get_id()] = (cond, choice)
        self.decisions.append(choice)
        self.condition.append(taken)
        self.solver.add(taken)
        return choice


class Explorer:
    def __init__(
        self,
        assumptions: Sequence[Any],
        deadline: Deadline,
        logic: str | None = None,
        max_paths: int = DEFAULT_MAX_PATHS,
        raises: tuple[type[BaseException], ...] = (ModelError, AssertionError),
    ) -> None:
        self.assumptions = list(assumptions)
        self.deadline = deadline
        self.logic = logic
        self.max_paths = max_paths
        self.raises = raises
        self.pending: list[tuple[list[bool], z3.ModelRef]] = []
        self.current: _Run | None = None
        self.checks = 0

    def solver(self) -> z3.Solver:
        s = new_solver(self.logic)
        s.add(*self.assumptions)
        return s

    def feasible(self, solver: z3.Solver, extra: Any) -> z3.ModelRef | None:
        solver.push()
        try:
            solver.set("timeout", solver_timeout_ms(self.deadline))
            solver.add(extra)
            self.checks += 1
            answer = solver.check()
            if answer == z3.unknown:
                raise OutOfTime(f"path feasibility unknown: {solver.reason_unknown()}")
            return solver.model() if answer == z3.sat else None
        finally:
            solver.pop()

    def queue(self, prefix: list[bool], model: z3.ModelRef) -> None:
        self.pending.append((prefix, model))

    def run(self, fn: Callable[[], Any]) -> list[Path]:
        start = self.solver()
        start.set("timeout", solver_timeout_ms(self.deadline))
        answer = start.check()
        if answer == z3.unsat:
            raise VacuousAssumptions("the assumptions of the exploration are unsatisfiable")
        if answer != z3.sat:
            raise OutOfTime(f"assumptions: {start.reason_unknown()}")
        self.pending = [([], start.model())]
        paths: list[Path] = []
        with _symbolic_python(self):
            while self.pending:
                if len(paths) >= self.max_paths:
                    raise TooManyPaths(f"more than {self.max_paths} paths")
                if self.deadline.expired():
                    raise OutOfTime("the proof's time budget ran out while exploring paths")
                prefix, model = self.pending.pop()
                start.push()  # this run's decisions go on top of the assumptions, and come off after it
                self.current = _Run(self, prefix, model, start)
                try:
                    value, raised = fn(), None
                except self.raises as e:
                    value, raised = None, e
                finally:
                    start.pop()
                paths.append(Path(tuple(self.current.condition), value, raised))
                self.current = None
        return paths


_active: list[Explorer] = []
_exploring_thread: list[int] = []
_original_bool = z3.AstRef.__bool__


def _decide(term: Any) -> bool:
    if _exploring_thread and threading.get_ident() != _exploring_thread[-1]:
        return _original_bool(term)  # another thread's Z3 code is not being explored
    explorer = _active[-1]
    if explorer.current is None:
        raise RuntimeError("a Z3 term was used as a Python truth value outside an exploration run")
    return explorer.current.decide(term)


MAX_INDEX = 1 << 12


def _as_index(term: Any) -> int:
    """A bit-vector where Python needs an int (range bounds, list indices): one path per value
    it can take, found by deciding term == 0, term == -1, term == 1, term == -2, ... in turn
    (signed, as the explorer reads bit-vectors as Python ints)."""
    for magnitude in range(MAX_INDEX):
        for value in (magnitude, -magnitude - 1):
            if term == value:
                return value
    raise TooManyPaths(f"{term} used as an index takes values beyond +-{MAX_INDEX}")


@contextmanager
def _symbolic_python(explorer: Explorer) -> Iterator[None]:
    if _active:
        raise RuntimeError("explorations do not nest")
    saved = (z3.AstRef.__bool__, z3.BitVecRef.__mod__)
    _active.append(explorer)
    _exploring_thread.append(threading.get_ident())
    z3.AstRef.__bool__ = lambda self: _decide(self)  # type: ignore[method-assign]
    z3.BitVecRef.__floordiv__ = _floor_div  # type: ignore[attr-defined]
    z3.BitVecRef.__rfloordiv__ = lambda self, other: _floor_div(other, self)  # type: ignore[attr-defined]
    z3.BitVecRef.__mod__ = _mod  # type: ignore[method-assign]
    z3.BitVecRef.__index__ = _as_index  # type: ignore[attr-defined]
    try:
        yield
    finally:
        z3.AstRef.__bool__, z3.BitVecRef.__mod__ = saved  # type: ignore[method-assign]
        del z3.BitVecRef.__floordiv__  # type: ignore[attr-defined]
        del z3.BitVecRef.__rfloordiv__  # type: ignore[attr-defined]
        del z3.BitVecRef.__index__  # type: ignore[attr-defined]
        _exploring_thread.pop()
        _active.pop()


def explore(
    fn: Callable[[], Any],
    assumptions: Sequence[Any],
    deadline: Deadline | None = None,
    logic: str | None = None,
    max_paths: int = DEFAULT_MAX_PATHS,
) -> list[Path]:
    """Every feasible path of `fn()` under the assumptions (see the module docstring).

    The deadline defaults to that of the proof being run."""
    return Explorer(assumptions, deadline or current_deadline(), logic, max_paths).run(fn)


def path_claims(paths: Sequence[Path], holds: Callable[[Any], Any]) -> list[Any]:
    """What a proof claims of each explored path: holds(the path's value) under the path's condition, and a
    path that raised must be impossible."""
    return [z3.Not(p.when()) if p.raised is not None else z3.Implies(p.when(), holds(p.value)) for p in paths]


@contextmanager
def replaced(namespace: Any, name: str, value: Any) -> Iterator[None]:
    """Temporarily rebind `namespace.name` (used only to build negative controls and abstract leaves)."""
    saved = getattr(namespace, name)
    setattr(namespace, name, value)
    try:
        yield
    finally:
        setattr(namespace, name, saved)


def is_symbolic(x: object) -> bool:
    return isinstance(x, z3.ExprRef)


_MISSING = object()


class _LookupDict(dict):  # type: ignore[type-arg]
    """A dict whose lookups go through _key: the stored key a key stands for, or _MISSING."""

    def _key(self, key: Any) -> Any:
        raise NotImplementedError

    def __getitem__(self, key: Any) -> Any:
        k = self._key(key)
        if k is _MISSING:
            raise KeyError(key)
        return dict.__getitem__(self, k)

    def __contains__(self, key: object) -> bool:
        return self._key(key) is not _MISSING

    def get(self, key: Any, default: Any = None) -> Any:
        k = self._key(key)
        return default if k is _MISSING else dict.__getitem__(self, k)


class BranchingDict(_LookupDict):
    """A dict whose lookups also take a Z3 term as key: the explorer decides which stored key
    it equals (one path per key, and one where it equals none). Concrete keys behave as in a
    dict. Model code indexes its chunk maps with page arithmetic; with a symbolic page this
    lets that code run unchanged."""

    def _key(self, key: Any) -> Any:
        if not is_symbolic(key):
            return key if dict.__contains__(self, key) else _MISSING
        for k in list(dict.keys(self)):
            if key == k:
                return k
        return _MISSING

    def setdefault(self, key: Any, default: Any = None) -> Any:
        k = self._key(key)
        if k is _MISSING:
            if is_symbolic(key):
                raise KeyError(f"cannot add the symbolic key {key}")
            dict.__setitem__(self, key, default)
            return default
        return dict.__getitem__(self, k)


class PresenceDict(_LookupDict):
    """A level of the radix tree whose entries are symbolic summaries: an entry counts as stored
    exactly when its `present` term holds (the explorer decides), as the model stores exactly
    the non-zero entries. Keys may be symbolic too (see BranchingDict)."""

    def __init__(self, entries: dict[int, Any], present: Callable[[Any], Any]) -> None:
        super().__init__(entries)
        self.terms = {k: present(v) for k, v in entries.items()}

    def _key(self, key: Any) -> Any:
        if is_symbolic(key):
            for k in list(dict.keys(self)):
                if key == k:
                    return k if self.terms[k] else _MISSING
            return _MISSING
        if not dict.__contains__(self, key):
            return _MISSING
        return key if self.terms[key] else _MISSING

    def items(self) -> Iterator[tuple[Any, Any]]:  # type: ignore[override]
        for k, v in list(dict.items(self)):
            if self.terms[k]:
                yield k, v

    def keys(self) -> Iterator[Any]:  # type: ignore[override]
        return (k for k, _ in self.items())

    def __iter__(self) -> Iterator[Any]:
        return self.keys()
