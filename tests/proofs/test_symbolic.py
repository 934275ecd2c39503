"""proofs/symbolic.py: running model code on Z3 terms along every feasible path."""

from __future__ import annotations

import pytest
import z3

from proofs.core import Deadline
from proofs.symbolic import BranchingDict, PresenceDict, VacuousAssumptions, explore

pytestmark = pytest.mark.z3


def _explore(fn, assumptions):  # type: ignore[no-untyped-def]
    return explore(fn, assumptions, Deadline(60))


def test_exploration_covers_both_branches_and_refuses_vacuous_assumptions() -> None:
    x = z3.BitVec("x", 64)

    def branchy() -> int:
        return 1 if x > 5 else 0

    paths = _explore(branchy, [z3.ULT(x, 10)])
    assert sorted(p.value for p in paths) == [0, 1]
    with pytest.raises(VacuousAssumptions):
        _explore(branchy, [z3.ULT(x, 0)])


def test_a_term_used_as_an_index_takes_each_value_on_its_own_path() -> None:
    x = z3.BitVec("x", 64)
    paths = _explore(lambda: list(range(x)), [z3.ULE(x, 3)])
    assert sorted(len(p.value) for p in paths) == [0, 1, 2, 3]
    words = ["a", "b", "c"]
    assert sorted(p.value for p in _explore(lambda: words[x - 1], [z3.ULE(1, x), z3.ULE(x, 3)])) == ["a", "b", "c"]


def test_floor_division_and_modulo_follow_python_on_signed_values() -> None:
    x = z3.BitVec("x", 64)
    for value in (-65, -64, -1, 0, 63, 64, 130):
        (path,) = _explore(lambda: (x // 64, x % 64), [x == value])
        q, r = (z3.simplify(z3.substitute(t, (x, z3.BitVecVal(value, 64)))) for t in path.value)
        assert (q.as_signed_long(), r.as_signed_long()) == (value // 64, value % 64)


def test_a_branching_dict_looks_a_symbolic_key_up_among_its_keys() -> None:
    key = z3.BitVec("key", 64)
    table = BranchingDict({0: "zero", 2: "two"})
    found = _explore(lambda: (table.get(key, "none"), key in table), [z3.ULE(key, 3)])
    assert sorted(p.value for p in found) == [("none", False), ("two", True), ("zero", True)]
    assert table[2] == "two" and 1 not in table


def test_a_presence_dict_stores_exactly_the_entries_whose_term_holds() -> None:
    a, b = z3.Bools("a b")
    level = PresenceDict({0: a, 1: b}, lambda present: present)
    paths = _explore(lambda: sorted(level.keys()), [])
    assert sorted(map(tuple, (p.value for p in paths))) == [(), (0,), (0, 1), (1,)]
