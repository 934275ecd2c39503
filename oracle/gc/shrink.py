"""Shrinking a failing GC trace to a 1-minimal one: no single line, object or pointer can go.

A trace fails when replaying it (oracle.gc.replay, with the chosen barrier)
reports a lost object. Two passes take turns until neither changes the
trace:

  steps   delta debugging on the step lines (oracle.common.shrink.ddmin:
          remove runs of lines, the run length halving down to one line,
          until no single line can go);
  header  simplify the header's heap, keeping the first simplification
          that still fails: drop an object (with every pointer, root and
          stack entry that named it), clear one pointer, drop one root,
          clear one stack entry.

A line that becomes invalid after a removal (say, a load through a slot
that is now nil) makes the candidate a bad trace, which does not fail, so
the shrinker never keeps it.

The result is 1-minimal: removing any one step, object or pointer of it no
longer loses an object. Both passes try candidates in a fixed order, so the
result is deterministic.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from model.gc.barrier import Barrier
from oracle.common.errors import TraceError
from oracle.common.jsonlines import loads_object
from oracle.common.shrink import ddmin
from oracle.gc.replay import replay_text

Predicate = Callable[[str], bool]
Header = dict[str, Any]


def loses_object(barrier: Barrier) -> Predicate:
    """Whether a trace, replayed under `barrier` without the tricolor check, loses an object."""

    def failing(text: str) -> bool:
        try:
            report = replay_text(text, barrier, tricolor=False)
        except TraceError:
            return False
        failure = report.failure
        return failure is not None and failure.kind == "invariant" and any(
            v.startswith("lost object") for v in failure.violations
        )

    return failing


def _text(header: Header, ops: list[str]) -> str:
    return "\n".join([json.dumps(header), *ops]) + "\n"


def _without_object(header: Header, oid: Any) -> Header:
    h = copy.deepcopy(header)
    heap = h["heap"]
    heap["objects"] = [o for o in heap["objects"] if o["id"] != oid]
    for o in heap["objects"]:
        for k, v in o.get("ptrs", {}).items():
            if v == oid:
                o["ptrs"][k] = None
    heap["roots"] = [r for r in heap.get("roots", []) if r != oid]
    heap["finalizers"] = [f for f in heap.get("finalizers", []) if f != oid]
    if "stacks" in h:
        h["stacks"] = [[None if x == oid else x for x in stack] for stack in h["stacks"]]
    return h


def _header_candidates(header: Header) -> list[Header]:
    """Simpler headers, in the order they are tried: objects dropped, pointers, roots and stack entries cleared."""
    heap = header.get("heap")
    if heap is None:
        return []
    out = [_without_object(header, o["id"]) for o in heap["objects"]]
    for i, o in enumerate(heap["objects"]):
        for k, v in o.get("ptrs", {}).items():
            if v is not None:
                h = copy.deepcopy(header)
                h["heap"]["objects"][i]["ptrs"][k] = None
                out.append(h)
    for i in range(len(heap.get("roots", []))):
        h = copy.deepcopy(header)
        del h["heap"]["roots"][i]
        out.append(h)
    for g, stack in enumerate(header.get("stacks", [])):
        for i, x in enumerate(stack):
            if x is not None:
                h = copy.deepcopy(header)
                h["stacks"][g][i] = None
                out.append(h)
    return out


def _steps_fail(header: Header, failing: Predicate) -> Callable[[list[str]], bool]:
    """Whether step lines still fail under `header`."""
    return lambda ops: failing(_text(header, ops))


def simpler_header(header: Header, ops: list[str], failing: Predicate) -> Header:
    """The first simpler header with which the steps still fail, or `header` if there is none."""
    for candidate in _header_candidates(header):
        if failing(_text(candidate, ops)):
            return candidate
    return header


def shrink_trace(text: str, failing: Predicate) -> str:
    """A 1-minimal failing trace from a failing one (returned unchanged if it does not fail)."""
    if not failing(text):
        return text
    lines = text.rstrip("\n").split("\n")
    header = loads_object(lines[0], 1, "header")
    ops = lines[1:]
    while True:
        before = _text(header, ops)
        ops = ddmin(ops, _steps_fail(header, failing))
        header = simpler_header(header, ops, failing)
        if _text(header, ops) == before:
            return before
