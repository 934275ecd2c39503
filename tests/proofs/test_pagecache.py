"""proofs/pagecache.py: cache_roundtrip (fill from any hint, alloc, flush) and cache_first_held."""

from __future__ import annotations

import pytest
import z3

from proofs import pagecache
from proofs.core import Deadline, _budget
from proofs.states import State, as_term


@pytest.mark.z3
def test_fill_is_explored_on_its_fast_and_slow_paths() -> None:
    """Some path takes a block in the hint's own chunk (the fast path), some a block in the next
    chunk although the hint is in the first (the tree search), some none at all."""
    token = _budget.set(Deadline(60))
    try:
        state = State(pagecache.CACHE_GEOMETRY, (0, 1))
        paths = pagecache.explore_fill(state)
    finally:
        _budget.reset(token)
    width = state.geometry.chunk_pages

    def possible(path: object, *facts: object) -> bool:
        solver = z3.Solver()
        solver.add(path.when(), *facts)  # type: ignore[attr-defined]
        return solver.check() == z3.sat

    filled = [p for p in paths if p.raised is None and p.value.cache.base is not None]
    bases = [(p, as_term(p.value.cache.base)) for p in filled]
    assert any(possible(p, z3.ULT(state.hint, width), z3.ULT(b, width)) for p, b in bases)
    assert any(possible(p, z3.ULT(state.hint, width), z3.UGE(b, width)) for p, b in bases)
    assert any(p.raised is None and p.value.cache.base is None for p in paths)
