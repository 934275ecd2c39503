"""Pacing trace format v1: heap events in, the pacer's decisions and goals out, as JSON Lines.

Line 1 is the header; every later line is one event (SPEC.md Part III,
"Pacing trace format"):

    {"trace": "pacer", "version": 1,
     "params": {"phys_page_bytes": 4096, "force_gc_period_ns": 120000000000},
     "state": {"gc_percent": 100, "memory_limit": 9223372036854775807, "heap_marked": N,
               "last_heap_scan": N, "last_stack_scan": N, "globals_scan": N, "cons_mark": F,
               "last_heap_goal": N, "last_heap_in_use": N, "cycles": N},
     "stats": STATS, "source": {...ignored...}}

    {"op": "commit", "sweep_done": B, "stats": STATS, "expect": {...}}
    {"op": "set_gogc", "percent": P, "sweep_done": B, "expect": {"old": P0}}
    {"op": "set_memory_limit", "bytes": L, "sweep_done": B, "expect": {"old": L0}}
    {"op": "alloc", "bytes": N, "stats": STATS, "expect": {"gc_started": B}}
    {"op": "gc_start", "kind": "manual" | "heap" | "time"}
    {"op": "gc_end", "marked": N, "heap_scan": N, "stack_scan": N, "globals_scan": N,
     "heap_in_use": N, "cons_mark": F, "stats": STATS, "expect": {...}}
    {"op": "tick", "since_gc_ns": N, "expect": {"gc_started": B}}
    {"op": "observe", "stats": STATS, "metrics": {NAME: N, ...}, "expect": {...}}

STATS is {"heap_live", "heap_in_use", "heap_free", "heap_released",
"heap_alloc", "mapped_ready"} (model.gc.pacer.MemStats): each line that
carries it sets the runtime's statistics after the line's own effect. Every
`expect` field is optional; the keys each op may expect are EXPECT_KEYS.
Fields marked optional in OP_FIELDS may be left out.

This module checks each line's form (fields, types, ranges); whether an
event is possible in the pacer's state (a gc_end with no cycle running) is
the model's to decide when it runs. Lines are read strictly
(oracle.common.jsonlines). Every error is a TraceError naming the line.
"""

from __future__ import annotations

import json
import math
from typing import Any

import attrs

from model.gc.pacer import MAX_INT64, TRIGGER_KINDS, MemStats
from model.words import MASK64
from oracle.common.errors import TraceError
from oracle.common.jsonlines import is_int, loads_object

FORMAT_NAME = "pacer"
VERSION = 1

Outcome = dict[str, Any]

# Field kinds: u64 (0..2**64-1), i64, i32, bool, float (finite, >= 0), kind (a trigger kind),
# stats, metrics; a trailing "?" makes the field optional.
OP_FIELDS: dict[str, dict[str, str]] = {
    "commit": {"sweep_done": "bool", "stats": "stats?"},
    "set_gogc": {"percent": "i32", "sweep_done": "bool"},
    "set_memory_limit": {"bytes": "i64", "sweep_done": "bool"},
    "alloc": {"bytes": "u64", "stats": "stats?"},
    "gc_start": {"kind": "kind"},
    "gc_end": {
        "marked": "u64", "heap_scan": "u64", "stack_scan": "u64", "globals_scan": "u64?",
        "heap_in_use": "u64", "cons_mark": "float", "stats": "stats?",
    },
    "tick": {"since_gc_ns": "u64"},
    "observe": {"stats": "stats?", "metrics": "metrics?"},
}

PACING_KEYS = (
    "heap_minimum", "gc_percent_heap_goal", "memory_limit_heap_goal", "heap_goal",
    "trigger_min", "trigger_max", "trigger", "runway", "sweep_dist_min_trigger",
)
SCAVENGE_KEYS = ("scav_gc_percent_goal", "scav_memory_limit_goal", "scav_need")
SETTING_KEYS = ("gc_percent", "memory_limit")
EXPECT_KEYS: dict[str, tuple[str, ...]] = {
    "commit": (*PACING_KEYS, *SCAVENGE_KEYS, *SETTING_KEYS),
    "set_gogc": ("old", *PACING_KEYS, *SCAVENGE_KEYS, *SETTING_KEYS),
    "set_memory_limit": ("old", *PACING_KEYS, *SCAVENGE_KEYS, *SETTING_KEYS),
    "alloc": ("gc_started",),
    "gc_start": (),
    "gc_end": (*PACING_KEYS, "last_heap_goal", *SETTING_KEYS),
    "tick": ("gc_started",),
    "observe": (*PACING_KEYS, *SETTING_KEYS),
}
BOOL_EXPECTS = ("gc_started",)
SIGNED_EXPECTS = ("old", "gc_percent", "memory_limit")

STATE_FIELDS: dict[str, str] = {
    "gc_percent": "i32", "memory_limit": "i64", "heap_marked": "u64", "last_heap_scan": "u64",
    "last_stack_scan": "u64", "globals_scan": "u64", "cons_mark": "float", "last_heap_goal": "u64",
    "last_heap_in_use": "u64", "cycles": "u64",
}
DEFAULT_STATE: dict[str, Any] = {
    "gc_percent": 100, "memory_limit": MAX_INT64, "heap_marked": 0, "last_heap_scan": 0, "last_stack_scan": 0,
    "globals_scan": 0, "cons_mark": 0.0, "last_heap_goal": 0, "last_heap_in_use": 0, "cycles": 0,
}
DEFAULT_PHYS_PAGE_BYTES = 4096
DEFAULT_FORCE_GC_PERIOD_NS = 120 * 10**9


@attrs.frozen
class PacerParams:
    phys_page_bytes: int = DEFAULT_PHYS_PAGE_BYTES
    force_gc_period_ns: int = DEFAULT_FORCE_GC_PERIOD_NS

    def to_json(self) -> dict[str, int]:
        return attrs.asdict(self)


@attrs.frozen
class Header:
    params: PacerParams
    state: dict[str, Any]
    stats: MemStats
    source: Any = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "trace": FORMAT_NAME, "version": VERSION, "params": self.params.to_json(),
            "state": dict(self.state), "stats": self.stats.to_json(),
        }
        if self.source is not None:
            out["source"] = self.source
        return out


@attrs.frozen
class PacerOp:
    kind: str
    args: dict[str, Any]
    expect: Outcome | None = None
    line: int = 0

    def to_json(self, expect: Outcome | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.kind}
        for name, value in self.args.items():
            out[name] = value.to_json() if isinstance(value, MemStats) else value
        exp = expect if expect is not None else self.expect
        if exp:
            out["expect"] = exp
        return out

    def describe(self) -> str:
        return json.dumps(self.to_json(expect={}))


def _value(raw: Any, kind: str, line: int, where: str) -> Any:
    """One field's value checked against its kind (see OP_FIELDS)."""
    shown = json.dumps(raw)[:80]
    if kind == "bool":
        if not isinstance(raw, bool):
            raise TraceError(line, f"{where} must be true or false, got {shown}")
        return raw
    if kind == "float":
        if isinstance(raw, bool) or not isinstance(raw, (int, float)) or not math.isfinite(raw) or raw < 0:
            raise TraceError(line, f"{where} must be a finite number >= 0, got {shown}")
        return float(raw)
    if kind == "kind":
        if raw not in TRIGGER_KINDS:
            raise TraceError(line, f"{where} must be one of {', '.join(TRIGGER_KINDS)}, got {shown}")
        return raw
    if kind == "stats":
        return _stats(raw, line, where)
    if kind == "metrics":
        if not isinstance(raw, dict) or not all(is_int(v) and 0 <= v <= MASK64 for v in raw.values()):
            raise TraceError(line, f"{where} must be an object of metric names to uint64 values, got {shown}")
        return dict(raw)
    low, high = {"u64": (0, MASK64), "i64": (-(1 << 63), MAX_INT64), "i32": (-(1 << 31), (1 << 31) - 1)}[kind]
    if not is_int(raw) or not low <= raw <= high:
        what = {"u64": "an integer from 0 to 2**64-1", "i64": "a 64-bit signed integer",
                "i32": "a 32-bit signed integer"}[kind]
        raise TraceError(line, f"{where} must be {what}, got {shown}")
    return raw


def _stats(raw: Any, line: int, where: str) -> MemStats:
    if not isinstance(raw, dict):
        raise TraceError(line, f"{where} must be an object, got {json.dumps(raw)[:80]}")
    values = {}
    for name in MemStats.FIELDS:
        if name not in raw:
            raise TraceError(line, f"{where}: missing field {name!r}")
        values[name] = _value(raw[name], "u64", line, f"{where}: {name!r}")
    stats = MemStats(**values)
    if stats.heap_free + stats.heap_alloc > stats.mapped_ready:
        raise TraceError(line, f"{where}: heap_free + heap_alloc exceed mapped_ready")
    return stats


def _expect(kind: str, raw: Any, line: int) -> Outcome:
    where = f"{kind} expect"
    if not isinstance(raw, dict):
        raise TraceError(line, f"{where} must be an object, got {json.dumps(raw)[:80]}")
    allowed = EXPECT_KEYS[kind]
    out: Outcome = {}
    for name, value in raw.items():
        if name not in allowed:
            raise TraceError(line, f"{where}: unknown field {name!r} (known: {', '.join(allowed) or 'none'})")
        if name in BOOL_EXPECTS:
            out[name] = _value(value, "bool", line, f"{where}: {name!r}")
        elif name in SIGNED_EXPECTS:
            out[name] = _value(value, "i64", line, f"{where}: {name!r}")
        else:
            out[name] = _value(value, "u64", line, f"{where}: {name!r}")
    return out


def parse_op(text: str, line: int) -> PacerOp:
    if not text.strip():
        raise TraceError(line, "blank line")
    obj = loads_object(text, line, "an event")
    kind = obj.get("op")
    if kind not in OP_FIELDS:
        raise TraceError(line, f"unknown op {json.dumps(kind)} (known: {', '.join(OP_FIELDS)})")
    args: dict[str, Any] = {}
    for name, spec in OP_FIELDS[kind].items():
        optional = spec.endswith("?")
        if name not in obj:
            if optional:
                continue
            raise TraceError(line, f"{kind}: missing field {name!r}")
        args[name] = _value(obj[name], spec.rstrip("?"), line, f"{kind}: field {name!r}")
    expect = _expect(kind, obj["expect"], line) if "expect" in obj else None
    return PacerOp(kind, args, expect, line)


def parse_header(text: str) -> Header:
    if not text.strip():
        raise TraceError(1, "no header: a pacing trace starts with its header line")
    obj = loads_object(text, 1, "header")
    if obj.get("trace") != FORMAT_NAME:
        raise TraceError(1, f'header must have "trace": "{FORMAT_NAME}"')
    if obj.get("version") != VERSION or not is_int(obj.get("version")):
        raise TraceError(1, f'header "version" must be {VERSION}, got {json.dumps(obj.get("version"))}')
    raw = obj.get("params", {})
    if not isinstance(raw, dict):
        raise TraceError(1, "header params must be an object")
    phys = raw.get("phys_page_bytes", DEFAULT_PHYS_PAGE_BYTES)
    if not is_int(phys) or not 1 <= phys <= 1 << 30 or phys & (phys - 1):
        raise TraceError(1, f"header params: phys_page_bytes must be a power of two up to 2**30, got {phys!r}")
    period = raw.get("force_gc_period_ns", DEFAULT_FORCE_GC_PERIOD_NS)
    if not is_int(period) or not 1 <= period <= MAX_INT64:
        raise TraceError(1, f"header params: force_gc_period_ns must be an integer >= 1, got {period!r}")
    state_raw = obj.get("state", {})
    if not isinstance(state_raw, dict):
        raise TraceError(1, "header state must be an object")
    state = dict(DEFAULT_STATE)
    for name, value in state_raw.items():
        if name not in STATE_FIELDS:
            raise TraceError(1, f"header state: unknown field {name!r} (known: {', '.join(STATE_FIELDS)})")
        state[name] = _value(value, STATE_FIELDS[name], 1, f"header state: {name!r}")
    if state["memory_limit"] < 0:
        raise TraceError(1, "header state: memory_limit must be >= 0")
    stats = _stats(obj["stats"], 1, "header stats") if "stats" in obj else MemStats()
    return Header(PacerParams(phys, period), state, stats, obj.get("source"))


def dumps(header: Header, ops: list[dict[str, Any]]) -> str:
    lines = [json.dumps(header.to_json())] + [json.dumps(op) for op in ops]
    return "\n".join(lines) + "\n"
