"""oracle/gc/shrink.py: a failing GC trace shrinks to a 1-minimal one, deterministically."""

from __future__ import annotations

import json

from model.gc.barrier import HYBRID, NO_INSERTION
from oracle.gc.shrink import _header_candidates, loses_object, shrink_trace
from tests.helpers import GC_PUSH, GC_PUSH_HEADER, gc_trace_text

# GC_PUSH (which loses object 1 without the insertion half) with steps and objects that do not matter.
PADDED_HEADER = {
    **GC_PUSH_HEADER,
    "heap": {"heap": "gc", "version": 1, "objects": [
        {"id": 1, "size": 16, "noscan": True},
        {"id": 2, "size": 16, "noscan": False, "ptrs": {"0": 3, "8": None}},
        {"id": 3, "size": 16, "noscan": True},
    ], "roots": [2]},
    "stacks": [[3, 1]],
}
PADDED = [
    {"op": "copy", "g": 0, "dst": 0, "src": None},
    {"op": "alloc", "g": 0, "slot": 0, "id": 9, "size": 16, "noscan": True, "ptrs": []},
    GC_PUSH[0],
    GC_PUSH[1],
    {"op": "drain"},
    {"op": "gload", "g": 0, "dst": 0, "global": 0},
    *GC_PUSH[2:4],
    GC_PUSH[4],
    GC_PUSH[5],
    GC_PUSH[6],
    {"op": "drain"},
    GC_PUSH[7],
]


def test_shrinking_gives_a_1_minimal_trace() -> None:
    fails = loses_object(NO_INSERTION)
    padded = gc_trace_text(PADDED, PADDED_HEADER)
    assert fails(padded)
    shrunk = shrink_trace(padded, fails)
    assert fails(shrunk) and len(shrunk) < len(padded)
    header_line, *steps = shrunk.splitlines()
    header = json.loads(header_line)
    for i in range(len(steps)):  # no single step can go
        assert not fails("\n".join([header_line, *steps[:i], *steps[i + 1:]]) + "\n"), i
    for candidate in _header_candidates(header):  # no object, pointer, root or stack entry can go
        assert not fails("\n".join([json.dumps(candidate), *steps]) + "\n"), candidate
    assert [o["id"] for o in header["heap"]["objects"]] == [1]
    assert shrink_trace(padded, fails) == shrunk  # deterministic


def test_a_trace_that_does_not_fail_is_returned_unchanged() -> None:
    text = gc_trace_text(PADDED, PADDED_HEADER)
    assert shrink_trace(text, loses_object(HYBRID)) == text
    assert not loses_object(NO_INSERTION)("not a trace\n")  # a bad trace does not fail
