"""Helpers shared by the tests (test modules import from here, never from each other)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from model.errors import InvalidOperation
from oracle.common.jsonlines import iter_lines
from oracle.pagealloc import registry
from oracle.pagealloc.adapters import FastImpl
from oracle.pagealloc.protocol import Implementation, ModelImpl
from oracle.pagealloc.registry import ImplOptions
from oracle.pagealloc.state import hidden_state
from oracle.pagealloc.trace import Op, Outcome, Params, parse_header, parse_op


def fast_with(*faults: str) -> ImplOptions:
    """Options for --impl fast with deliberate bugs switched on."""
    return ImplOptions(faults=frozenset(faults))


def register(monkeypatch: pytest.MonkeyPatch, name: str, make: Callable[[Params], Implementation]) -> None:
    """Make an implementation of the test's own available by name, for this test only."""
    monkeypatch.setitem(registry.IMPLEMENTATIONS, name, lambda params, options: make(params))


class DoubleHandout(FastImpl):
    """fast/, except that every third single-page alloc answers the page the previous alloc handed out."""

    def __init__(self, params: Params) -> None:
        super().__init__(params)
        self.last: int | None = None
        self.count = 0

    def apply(self, op: Op) -> Outcome | None:
        out = super().apply(op)
        if op.kind == "alloc" and out is not None and out["page"] is not None:
            self.count += 1
            if op.args["npages"] == 1 and self.last is not None and self.count % 3 == 0:
                return {"page": self.last, "scav": 0}
            self.last = out["page"]
        return out


class AcceptsDoubleFree(FastImpl):
    """fast/, except that a free of pages not in use is silently accepted."""

    def apply(self, op: Op) -> Outcome | None:
        try:
            return super().apply(op)
        except InvalidOperation:
            if op.kind == "free":
                return None
            raise


def hidden_state_mismatches(path: Path) -> tuple[int, list[str]]:
    """Replay a trace recorded from the runtime on the model; (lines with a go_state, where the model differs)."""
    lines = iter_lines(path.read_text(encoding="utf-8"))
    _, header = next(lines)
    params = parse_header(header)
    model = ModelImpl(params)
    compared, out = 0, []
    for number, text in lines:
        model.apply(parse_op(text, number, params.version))
        go = json.loads(text).get("go_state")
        if go is None:
            continue
        compared += 1
        mine = hidden_state(model.heap)
        if mine != go:
            out.append(f"{path.name} line {number}: model {mine}, runtime {go}")
    return compared, out
