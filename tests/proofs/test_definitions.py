"""proofs/definitions.py and the proofs' formulas agree with model.spec's definitions on concrete values."""

from __future__ import annotations

from typing import Any

import pytest
import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from model import spec, words
from proofs import scavenge, tree
from proofs.definitions import first_fit_formula, word_summary_definition

pytestmark = pytest.mark.z3

word64 = st.one_of(
    st.integers(0, words.MASK64),
    st.sampled_from([0, words.MASK64, 1 << 63, 0x00FF00FF00FF00FF]),
    st.lists(st.integers(0, 63), max_size=5).map(lambda bs: words.MASK64 ^ sum({1 << b for b in bs})),
)


def _value(term: Any) -> Any:
    term = z3.simplify(term)
    if z3.is_true(term) or z3.is_false(term):
        return z3.is_true(term)
    return term.as_long()


@settings(max_examples=40, deadline=None)
@given(st.lists(word64, min_size=1, max_size=2), st.integers(1, 130), st.integers(0, 127))
def test_the_first_fit_formula_is_model_spec_first_fit(ws: list[int], n: int, start: int) -> None:
    start = min(start, 64 * len(ws) - 1)
    exists, lowest = first_fit_formula(ws, n, start)
    want = spec.first_fit(ws, n, start)
    assert _value(exists) == (want is not None)
    if want is not None:
        assert _value(lowest) == want


@settings(max_examples=40, deadline=None)
@given(word64)
def test_the_per_length_summary_is_model_spec_summary_of(x: int) -> None:
    s, m, e = spec.summary_of(spec.page_flags([x]))
    values = [z3.BitVecVal(v, 64) for v in (s, m, e)]
    assert all(_value(f) for f in word_summary_definition(z3.BitVecVal(x, 64), *values))
    wrong = [z3.BitVecVal(v, 64) for v in (s, m + 1, e)]
    assert not all(_value(f) for f in word_summary_definition(z3.BitVecVal(x, 64), *wrong))


@settings(max_examples=40, deadline=None)
@given(st.lists(word64, min_size=2, max_size=2), st.lists(word64, min_size=2, max_size=2), st.sampled_from([1, 2, 8]))
def test_usable_pages_are_model_spec_scavenge_usable(alloc: list[int], scav: list[int], m: int) -> None:
    usable = scavenge.Usable([z3.BitVecVal(w, 64) for w in alloc], [z3.BitVecVal(w, 64) for w in scav], m)
    assert [_value(b) for b in usable.bits] == spec.scavenge_usable(alloc, scav, m)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.booleans(), max_size=32), st.lists(st.booleans(), max_size=32), st.integers(1, 12))
def test_fit_merge_and_end_merge_are_the_first_fit_and_end_of_a_concatenation(
    a: list[bool], b: list[bool], n: int
) -> None:
    """On concrete regions (True = in use), with model.spec's definitions on each side."""

    def fit(flags: list[bool]) -> int:
        """The first fit in a word holding the region, the pages past it in use."""
        in_use = sum(1 << i for i, used in enumerate(flags) if used) | ((words.MASK64 << len(flags)) & words.MASK64)
        found = spec.first_fit([in_use], n)
        return -1 if found is None else found

    sa, _, ea = spec.summary_of(a)
    sb, _, eb = spec.summary_of(b)
    merged = tree.fit_merge(((sa, 0, ea), z3.IntVal(fit(a))), len(a), ((sb, 0, eb), z3.IntVal(fit(b))), n)
    assert _value(merged) == fit(a + b)
    assert _value(tree.end_merge(z3.IntVal(ea), eb, len(b))) == spec.summary_of(a + b)[2]
