"""oracle/pacer/trace.py: the pacing trace format, read strictly, each error at its line."""

from __future__ import annotations

import json

import pytest

from model.gc.pacer import MAX_INT64
from oracle.common.errors import TraceError
from oracle.pacer.trace import Header, PacerParams, dumps, parse_header, parse_op

STATS = {"heap_live": 1, "heap_in_use": 2, "heap_free": 3, "heap_released": 4, "heap_alloc": 5, "mapped_ready": 9}


def test_header_defaults_and_round_trip() -> None:
    header = parse_header('{"trace": "pacer", "version": 1}')
    assert header.params == PacerParams()
    assert header.state["memory_limit"] == MAX_INT64 and header.state["gc_percent"] == 100
    text = dumps(header, [{"op": "gc_start", "kind": "manual"}])
    again = parse_header(text.splitlines()[0])
    assert again == Header(header.params, header.state, header.stats)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"trace": "gc", "version": 1}', 'must have "trace": "pacer"'),
        ('{"trace": "pacer", "version": 2}', '"version" must be 1'),
        ('{"trace": "pacer", "version": 1, "params": {"phys_page_bytes": 3000}}', "power of two"),
        ('{"trace": "pacer", "version": 1, "state": {"gogc": 1}}', "unknown field 'gogc'"),
        ('{"trace": "pacer", "version": 1, "state": {"memory_limit": -1}}', "memory_limit must be >= 0"),
        ('{"trace": "pacer", "version": 1, "stats": {"heap_live": 1}}', "missing field 'heap_in_use'"),
    ],
)
def test_bad_headers(line: str, message: str) -> None:
    with pytest.raises(TraceError, match=message) as caught:
        parse_header(line)
    assert caught.value.line == 1


def test_ops_parse() -> None:
    op = parse_op(json.dumps({"op": "alloc", "bytes": 8192, "stats": STATS, "expect": {"gc_started": True}}), 4)
    assert op.args["bytes"] == 8192 and op.args["stats"].mapped_ready == 9 and op.expect == {"gc_started": True}
    assert op.to_json()["stats"] == STATS
    end = parse_op('{"op": "gc_end", "marked": 1, "heap_scan": 0, "stack_scan": 0, "heap_in_use": 1, '
                   '"cons_mark": 0.25, "expect": {"last_heap_goal": 5, "heap_goal": 7}}', 2)
    assert end.args["cons_mark"] == 0.25 and "globals_scan" not in end.args
    assert parse_op('{"op": "set_gogc", "percent": -1, "sweep_done": true, "expect": {"old": 100}}', 3).args[
        "percent"] == -1


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("", "blank line"),
        ('{"op": "grow"}', "unknown op"),
        ('{"op": "alloc"}', "missing field 'bytes'"),
        ('{"op": "alloc", "bytes": -1}', "from 0 to 2\\*\\*64-1"),
        ('{"op": "alloc", "bytes": true}', "from 0 to 2\\*\\*64-1"),
        ('{"op": "set_gogc", "percent": 2147483648, "sweep_done": true}', "32-bit"),
        ('{"op": "gc_start", "kind": "sometimes"}', "must be one of"),
        ('{"op": "gc_end", "marked": 1, "heap_scan": 0, "stack_scan": 0, "heap_in_use": 1, "cons_mark": -0.5}',
         "finite number >= 0"),
        ('{"op": "commit", "sweep_done": true, "expect": {"heap_goal": 1, "goal": 2}}', "unknown field 'goal'"),
        ('{"op": "tick", "since_gc_ns": 5, "expect": {"gc_started": 1}}', "true or false"),
        ('{"op": "observe", "stats": {"heap_live": 0, "heap_in_use": 0, "heap_free": 5, "heap_released": 0, '
         '"heap_alloc": 5, "mapped_ready": 9}}', "exceed mapped_ready"),
        ('{"op": "tick", "since_gc_ns": 5, "since_gc_ns": 6}', "duplicate key"),
    ],
)
def test_bad_ops_name_their_line(line: str, message: str) -> None:
    with pytest.raises(TraceError, match=message) as caught:
        parse_op(line, 7)
    assert caught.value.line == 7
