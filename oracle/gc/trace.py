"""GC trace format v1: concurrent collection cycles as JSON Lines of mutator and collector steps.

Line 1 is the header; every later line is one step (SPEC.md Part II, "GC trace
format"):

    {"trace": "gc", "version": 1, "params": {"goroutines": 2, "stack_slots": 3, "globals": 2},
     "heap": <optional heap snapshot; its roots fill the first globals>,
     "stacks": <optional, with a heap: initial stack contents, [[id or null, ...], ...] by goroutine>}

    {"op": "alloc", "g": 0, "slot": 0, "id": 7, "size": 32, "noscan": false, "ptrs": [0, 8]}
    {"op": "load", "g": 0, "dst": 1, "src": 0, "off": 8}
    {"op": "store", "g": 0, "dst": 0, "off": 8, "src": 1}        src null stores nil
    {"op": "copy", "g": 0, "dst": 1, "src": 0}                   src null clears the slot
    {"op": "gload", "g": 0, "dst": 1, "global": 0}
    {"op": "gstore", "g": 0, "global": 0, "src": 1}              src null stores nil
    {"op": "set_finalizer", "g": 0, "slot": 1}
    {"op": "run_finalizers", "expect": {"ran": [ids]}}
    {"op": "gc_start"}
    {"op": "markroot", "root": "globals" | "finq" | "specials"}
    {"op": "markroot", "root": "stack", "g": 0}
    {"op": "drain", "n": 1, "expect": {"scanned": 1}}            no n: until the queue is empty
    {"op": "mark_done", "expect": {"marked": [ids]}}
    {"op": "sweep", "expect": {"freed": [ids], "finalize": [ids]}}

This module checks each line's form (fields, types, ranges, and that
every id is of the trace's one kind: IdKind); whether a step is possible in
the world's state is the model's to decide when it runs (model.gc.cycle).
Lines are read strictly (oracle.common.jsonlines: no duplicate keys, NaN,
huge integers or deep nesting). Every error is a TraceError naming the line.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from model.gc.results import HeapSpec, ObjectId, sort_ids
from oracle.common.errors import TraceError
from oracle.common.jsonlines import is_int, loads_object
from oracle.gc import snapshot as gc_snapshot

FORMAT_NAME = "gc"
VERSION = 1
MAX_GOROUTINES = 64
MAX_STACK_SLOTS = 64
MAX_GLOBALS = 1 << 16

Outcome = dict[str, Any]

# For each op: its fields, each "int" (>= 0), "slot?" (int >= 0 or null), "id", "bool", "offsets" or "root".
OP_FIELDS: dict[str, dict[str, str]] = {
    "alloc": {"g": "int", "slot": "int", "id": "id", "size": "int", "noscan": "bool", "ptrs": "offsets"},
    "load": {"g": "int", "dst": "int", "src": "int", "off": "int"},
    "store": {"g": "int", "dst": "int", "off": "int", "src": "slot?"},
    "copy": {"g": "int", "dst": "int", "src": "slot?"},
    "gload": {"g": "int", "dst": "int", "global": "int"},
    "gstore": {"g": "int", "global": "int", "src": "slot?"},
    "set_finalizer": {"g": "int", "slot": "int"},
    "run_finalizers": {},
    "gc_start": {},
    "markroot": {"root": "root"},
    "drain": {},
    "mark_done": {},
    "sweep": {},
}
ROOT_NAMES = ("finq", "globals", "specials", "stack")
EXPECT_FIELDS: dict[str, tuple[str, ...]] = {
    "run_finalizers": ("ran",),
    "drain": ("scanned",),
    "mark_done": ("marked",),
    "sweep": ("freed", "finalize"),
}


@attrs.frozen
class GcParams:
    goroutines: int = 1
    stack_slots: int = 4
    globals: int = 4

    def to_json(self) -> dict[str, int]:
        return attrs.asdict(self)


@attrs.frozen
class GcOp:
    kind: str
    args: dict[str, Any]
    expect: Outcome | None = None
    line: int = 0

    def to_json(self, expect: Outcome | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.kind, **self.args}
        exp = expect if expect is not None else self.expect
        if exp is not None and self.kind in EXPECT_FIELDS:
            out["expect"] = exp
        return out

    def describe(self) -> str:
        return json.dumps({"op": self.kind, **self.args})


Stacks = list[list[ObjectId | None]]


@attrs.define
class IdKind:
    """The kind of a trace's object ids, integers or strings: all of one kind, as in a snapshot.

    Set by the header heap's ids, else by the first alloc; every id a later
    line names (an alloc's, an expect's) must be of that kind, or the line
    is refused, rather than mixing kinds the model cannot order.
    """

    kind: type | None = None  # int or str once known

    @staticmethod
    def of(heap: HeapSpec | None) -> IdKind:
        ids = heap.ids() if heap is not None else ()
        return IdKind(type(ids[0]) if ids else None)

    def check(self, oid: ObjectId, line: int, where: str) -> None:
        kind = int if is_int(oid) else str
        if self.kind is None:
            self.kind = kind
        elif kind is not self.kind:
            want = "integers" if self.kind is int else "strings"
            raise TraceError(line, f"{where}: id {json.dumps(oid)} is not of this trace's kind: its ids are {want}")


def _field(obj: dict[str, Any], name: str, kind: str, line: int, where: str) -> Any:
    if name not in obj:
        raise TraceError(line, f"{where}: missing field {name!r}")
    value = obj[name]
    if kind == "slot?" and value is None:
        return None
    if kind in ("int", "slot?"):
        if not is_int(value) or value < 0:
            raise TraceError(line, f"{where}: field {name!r} must be an integer >= 0, got {json.dumps(value)}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise TraceError(line, f"{where}: field {name!r} must be true or false, got {json.dumps(value)}")
        return value
    if kind == "id":
        if isinstance(value, bool) or not isinstance(value, (int, str)) or value == "" or (is_int(value) and value < 0):
            raise TraceError(
                line, f"{where}: field {name!r} must be an id (integer >= 0 or string), got {json.dumps(value)}"
            )
        return value
    if kind == "offsets":
        if not isinstance(value, list) or not all(is_int(v) and v >= 0 for v in value):
            raise TraceError(line, f"{where}: field {name!r} must be a list of byte offsets, got {json.dumps(value)}")
        return list(value)
    if kind == "root":
        if value not in ROOT_NAMES:
            raise TraceError(line, f"{where}: root must be one of {', '.join(ROOT_NAMES)}, got {json.dumps(value)}")
        return value
    raise AssertionError(kind)


def _ids(raw: object, name: str, line: int, where: str) -> tuple[ObjectId, ...]:
    if not isinstance(raw, list) or not all((is_int(v) and v >= 0) or (isinstance(v, str) and v) for v in raw):
        raise TraceError(line, f"{where}: {name!r} must be a list of ids, got {json.dumps(raw)}")
    try:
        return sort_ids(raw)
    except TypeError:
        raise TraceError(line, f"{where}: {name!r} mixes integer and string ids") from None


def parse_expect(kind: str, raw: object, line: int, ids: IdKind) -> Outcome:
    where = f"{kind} expect"
    if not isinstance(raw, dict):
        raise TraceError(line, f"{where} must be an object, got {json.dumps(raw)}")
    out: Outcome = {}
    for name in EXPECT_FIELDS[kind]:
        if name not in raw:
            raise TraceError(line, f"{where}: missing field {name!r}")
        if name == "scanned":
            out[name] = _field(raw, name, "int", line, where)
        else:
            listed = _ids(raw[name], name, line, where)
            for oid in listed:
                ids.check(oid, line, f"{where}: {name!r}")
            out[name] = list(listed)
    return out


def parse_op(text: str, line: int, ids: IdKind | None = None) -> GcOp:
    """One step line. `ids` is the trace's id kind so far (a new IdKind if not given); an alloc may set it."""
    ids = IdKind() if ids is None else ids
    if not text.strip():
        raise TraceError(line, "blank line")
    obj = loads_object(text, line, "a step")
    kind = obj.get("op")
    if kind not in OP_FIELDS:
        raise TraceError(line, f"unknown op {json.dumps(kind)} (known: {', '.join(OP_FIELDS)})")
    args = {name: _field(obj, name, k, line, kind) for name, k in OP_FIELDS[kind].items()}
    if kind == "alloc":
        ids.check(args["id"], line, "alloc: field 'id'")
    if kind == "markroot" and args["root"] == "stack":
        args["g"] = _field(obj, "g", "int", line, kind)
    if kind == "drain" and "n" in obj:
        n = _field(obj, "n", "int", line, kind)
        if n < 1:
            raise TraceError(line, "drain: field 'n' must be >= 1")
        args["n"] = n
    expect = None
    if kind in EXPECT_FIELDS and "expect" in obj:
        expect = parse_expect(kind, obj["expect"], line, ids)
    return GcOp(kind, args, expect, line)


def _params(obj: dict[str, Any]) -> GcParams:
    raw = obj.get("params", {})
    if not isinstance(raw, dict):
        raise TraceError(1, "header params must be an object")
    limits = {"goroutines": MAX_GOROUTINES, "stack_slots": MAX_STACK_SLOTS, "globals": MAX_GLOBALS}
    values = {}
    for name, limit in limits.items():
        value = raw.get(name, getattr(GcParams(), name))
        if not is_int(value) or not 0 <= value <= limit:
            raise TraceError(1, f"header params: {name} must be an integer from 0 to {limit}, got {json.dumps(value)}")
        values[name] = value
    return GcParams(**values)


def _stacks(raw: object, params: GcParams, heap: HeapSpec) -> Stacks:
    if (
        not isinstance(raw, list)
        or len(raw) > params.goroutines
        or not all(isinstance(s, list) and len(s) <= params.stack_slots for s in raw)
    ):
        raise TraceError(
            1, "header stacks must be a list of at most `goroutines` lists of at most `stack_slots` ids or nulls"
        )
    known = set(heap.ids())
    for g, stack in enumerate(raw):
        for i, oid in enumerate(stack):
            if oid is not None and not ((is_int(oid) or isinstance(oid, str)) and oid in known):
                raise TraceError(1, f"header stacks[{g}][{i}]: unknown id {json.dumps(oid)}")
    return [list(s) for s in raw]


def parse_header(text: str) -> tuple[GcParams, HeapSpec | None, Stacks | None]:
    if not text.strip():
        raise TraceError(1, "no header: a GC trace starts with its header line")
    obj = loads_object(text, 1, "header")
    if obj.get("trace") != FORMAT_NAME:
        raise TraceError(1, f'header must have "trace": "{FORMAT_NAME}"')
    if obj.get("version") != VERSION or not is_int(obj.get("version")):
        raise TraceError(1, f'header "version" must be {VERSION}, got {json.dumps(obj.get("version"))}')
    params = _params(obj)
    heap = None
    if "heap" in obj:
        try:
            heap = gc_snapshot.parse(obj["heap"])
        except gc_snapshot.SnapshotError as e:
            raise TraceError(1, f"header heap: {e}") from None
        if len(heap.roots) > params.globals:
            raise TraceError(1, f"header heap has {len(heap.roots)} roots but params allow {params.globals} globals")
    stacks = None
    if "stacks" in obj:
        if heap is None:
            raise TraceError(1, "header stacks need a header heap")
        stacks = _stacks(obj["stacks"], params, heap)
    return params, heap, stacks


def header_json(params: GcParams, heap: HeapSpec | None = None, stacks: Stacks | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"trace": FORMAT_NAME, "version": VERSION, "params": params.to_json()}
    if heap is not None:
        out["heap"] = gc_snapshot.to_doc(heap)
    if stacks is not None:
        out["stacks"] = stacks
    return out


def dumps(params: GcParams, heap: HeapSpec | None, ops: list[dict[str, Any]], stacks: Stacks | None = None) -> str:
    lines = [json.dumps(header_json(params, heap, stacks))] + [json.dumps(op) for op in ops]
    return "\n".join(lines) + "\n"
