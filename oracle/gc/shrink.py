"""Shrinking a failing GC trace to a 1-minimal one: no single line, object or pointer can go.

A trace fails when replaying it (oracle.gc.replay, with the chosen barrier)
reports a lost object. The shrinker removes chunks of steps, halving the
chunk size down to single lines (delta debugging), then simplifies the
header's heap: drops objects (with every pointer, root and stack entry that
named them), clears single pointers, roots and stack entries. It repeats
until nothing can be removed. A line that becomes invalid after a removal
(say, a load through a slot that is now nil) makes the candidate a bad
trace, which does not fail, so the shrinker never keeps it.

The result is 1-minimal: removing any one step, object or pointer of it
no longer loses an object. It is deterministic.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from model.gc.barrier import Barrier
from oracle.common.errors import TraceError
from oracle.gc.replay import replay_text

Predicate = Callable[[str], bool]


def loses_object(barrier: Barrier) -> Predicate:
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


def _text(header: dict[str, Any], ops: list[str]) -> str:
    return "\n".join([json.dumps(header), *ops]) + "\n"


def _shrink_ops(header: dict[str, Any], ops: list[str], failing: Predicate) -> list[str]:
    chunk = max(1, len(ops) // 2)
    while True:
        i = 0
        removed = False
        while i < len(ops):
            candidate = ops[:i] + ops[i + chunk:]
            if failing(_text(header, candidate)):
                ops = candidate
                removed = True
            else:
                i += chunk
        if chunk == 1 and not removed:
            return ops
        if not removed:
            chunk = max(1, chunk // 2)


def _without_object(header: dict[str, Any], oid: Any) -> dict[str, Any]:
    h = json.loads(json.dumps(header))
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


def _header_candidates(header: dict[str, Any]) -> list[dict[str, Any]]:
    heap = header.get("heap")
    if heap is None:
        return []
    out = [_without_object(header, o["id"]) for o in heap["objects"]]
    for i, o in enumerate(heap["objects"]):
        for k, v in o.get("ptrs", {}).items():
            if v is not None:
                h = json.loads(json.dumps(header))
                h["heap"]["objects"][i]["ptrs"][k] = None
                out.append(h)
    for i in range(len(heap.get("roots", []))):
        h = json.loads(json.dumps(header))
        del h["heap"]["roots"][i]
        out.append(h)
    for g, stack in enumerate(header.get("stacks", [])):
        for i, x in enumerate(stack):
            if x is not None:
                h = json.loads(json.dumps(header))
                h["stacks"][g][i] = None
                out.append(h)
    return out


def shrink_trace(text: str, failing: Predicate) -> str:
    """A 1-minimal failing trace from a failing one (returned unchanged if it does not fail)."""
    if not failing(text):
        return text
    lines = text.rstrip("\n").split("\n")
    header, ops = json.loads(lines[0]), lines[1:]
    while True:
        before = _text(header, ops)
        ops = _shrink_ops(header, ops, failing)
        for candidate in _header_candidates(header):
            if failing(_text(candidate, ops)):
                header = candidate
                break
        if _text(header, ops) == before:
            return before
