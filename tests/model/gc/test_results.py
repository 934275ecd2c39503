"""model/gc/results.py: a heap description is checked completely when it is built."""

from __future__ import annotations

import pytest

from model.gc.results import HeapSpec, HeapSpecError, ObjectSpec
from tests.helpers import gc_pair


@pytest.mark.parametrize(
    ("objects", "roots", "finalizers", "message"),
    [
        ((gc_pair(1), gc_pair(1)), (), (), "also objects"),
        ((gc_pair(1, 7),), (), (), "unknown id 7"),
        ((ObjectSpec(1, 16, True, ((0, None),)),), (), (), "noscan object has no pointer slots"),
        ((ObjectSpec(1, 16, False),), (), (), "at least one pointer slot"),
        ((ObjectSpec(1, 16, False, ((4, None),)),), (), (), "multiple of 8"),
        ((ObjectSpec(1, 16, False, ((16, None),)),), (), (), "inside"),
        ((ObjectSpec(1, 8, True),), (), (), "tiny allocator"),
        ((gc_pair(1), ObjectSpec("x", 16, True)), (), (), "mixes id kinds"),
        ((gc_pair(1),), (2,), (), "roots\\[0\\]: unknown id 2"),
        ((gc_pair(1),), (), (1, 1), "already has a finalizer"),
    ],
)
def test_heap_spec_refuses(objects: tuple, roots: tuple, finalizers: tuple, message: str) -> None:
    with pytest.raises(HeapSpecError, match=message):
        HeapSpec(objects, roots, finalizers)
