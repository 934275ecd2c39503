"""GC trace formats v1 and v2: collection cycles as JSON Lines of mutator, collector and sweep steps.

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

Version 2 (SPEC.md Part II, G8) adds the small-object path:

    header "params" may give "procs" (Ps, default 1); a header "pages":
    {"arenas": [page, ...]} says new spans' pages come from the trace (a
    run recorded from Go: each alloc that takes a new span names it in its
    expect's "span"; the arenas, first pages in Go's order, set the heap
    reclaimer's walk, and a gc, mark_termination or sweep line may give
    them anew as "arenas", and as "page_marks" the spans whose page mark
    Go had set at mark termination: Green Tea sets it for a span of
    16..512-byte scan objects only when one span scan sees more than one
    new mark, which depends on the order its queues deliver work).
    alloc: "p" (the P, default 0); "global" instead of "g" and "slot" puts
    the object in a global; size 0 and noscan sizes under 16 are allowed.
    {"op": "mark_termination"}   end the cycle, spans left to sweep lazily
    {"op": "gc"}                 a whole cycle: gc_start .. mark_termination
    {"op": "sweep_one"}          one step of the background sweeper
    {"op": "finish_sweep"}       sweep termination
    Any line may carry an expect with any of its op's expect fields
    (V2_EXPECT_FIELDS), and only those given are compared: "span", "index",
    "offset" (where an alloc put its object), "freed", "finalize" (what
    the step's sweeping freed and queued), "swept" (the spans it swept, in
    order), "marked", "scanned", "ran", and the state the step changed:
    "spans" (each changed span as [page, class, npages, sweepgen - heap's,
    freeindex, alloc_count, "alloc bits in hex", where] or [page, null]
    when gone), "sets" ([class, set, [pages in queue order]] for each set
    whose live entries changed; sets "ps", "pu", "fs", "fu" are partial
    or full, swept or unswept) and "tiny" ([p, page, slot, offset] or
    [p, null] for each P whose tiny block changed).

This module checks each line's form (fields, types, ranges, and that
every id is of the trace's one kind: IdKind); whether a step is possible in
the world's state is the model's to decide when it runs (model.gc.cycle).
Lines are read strictly (oracle.common.jsonlines: no duplicate keys, NaN,
huge integers or deep nesting). Every error is a TraceError naming the line.
Version 1 lines are read exactly as they always were.
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
VERSIONS = (1, 2)
MAX_GOROUTINES = 64
MAX_STACK_SLOTS = 64
MAX_GLOBALS = 1 << 16
MAX_PROCS = 64
MAX_SPAN_CLASS = 2 * 68 - 1
SET_NAMES = ("ps", "pu", "fs", "fu")

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
V2_OPS = ("mark_termination", "gc", "sweep_one", "finish_sweep")
STATE_FIELDS = ("spans", "sets", "tiny")
SWEEP_FIELDS = ("freed", "finalize", "swept")
V2_EXPECT_FIELDS: dict[str, tuple[str, ...]] = {
    **{op: STATE_FIELDS for op in OP_FIELDS},
    **{op: STATE_FIELDS for op in V2_OPS},
    "alloc": ("span", "index", "offset", *SWEEP_FIELDS, *STATE_FIELDS),
    "run_finalizers": ("ran", *STATE_FIELDS),
    "gc_start": (*SWEEP_FIELDS, *STATE_FIELDS),
    "drain": ("scanned", *STATE_FIELDS),
    "mark_done": ("marked", *STATE_FIELDS),
    "sweep": (*SWEEP_FIELDS, *STATE_FIELDS),
    "mark_termination": (*SWEEP_FIELDS, *STATE_FIELDS),
    "gc": ("marked", *SWEEP_FIELDS, *STATE_FIELDS),
    "sweep_one": (*SWEEP_FIELDS, *STATE_FIELDS),
    "finish_sweep": (*SWEEP_FIELDS, *STATE_FIELDS),
}
ARENA_OPS = ("gc", "mark_termination", "sweep")


@attrs.frozen
class GcParams:
    goroutines: int = 1
    stack_slots: int = 4
    globals: int = 4
    procs: int = 1  # version 2

    def to_json(self) -> dict[str, int]:
        out = attrs.asdict(self)
        if self.procs == 1:
            del out["procs"]
        return out


@attrs.frozen
class GcHeader:
    """A trace's header: its version, params, heap, stacks, and the recorded arenas (version 2 "pages")."""

    version: int
    params: GcParams
    heap: HeapSpec | None = None
    stacks: Stacks | None = None
    arenas: tuple[int, ...] | None = None  # set when new spans' pages come from the trace


@attrs.frozen
class GcOp:
    kind: str
    args: dict[str, Any]
    expect: Outcome | None = None
    line: int = 0

    version: int = 1

    def to_json(self, expect: Outcome | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.kind, **self.args}
        exp = expect if expect is not None else self.expect
        if exp is not None and (self.kind in EXPECT_FIELDS or self.version >= 2):
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


def parse_expect(kind: str, raw: object, line: int, ids: IdKind, version: int = 1) -> Outcome:
    """An expect: in version 1 every field of the op's; from version 2 any of them (V2_EXPECT_FIELDS)."""
    where = f"{kind} expect"
    if not isinstance(raw, dict):
        raise TraceError(line, f"{where} must be an object, got {json.dumps(raw)}")
    out: Outcome = {}
    if version >= 2:
        allowed = V2_EXPECT_FIELDS[kind]
        unknown = [name for name in raw if name not in allowed]
        if unknown:
            raise TraceError(line, f"{where}: unknown field {unknown[0]!r} (an {kind} may expect "
                                   f"{', '.join(allowed)})")
        names = [name for name in allowed if name in raw]
    else:
        names = list(EXPECT_FIELDS[kind])
    for name in names:
        if name not in raw:
            raise TraceError(line, f"{where}: missing field {name!r}")
        value = raw[name]
        if name in ("scanned", "index", "offset"):
            out[name] = _field(raw, name, "int", line, where)
        elif name == "span":
            if not is_int(value) or value < -1:
                raise TraceError(line, f"{where}: 'span' must be a page (-1: the zero base), got {json.dumps(value)}")
            out[name] = value
        elif name == "swept":
            out[name] = _pages(value, name, line, where)
        elif name in STATE_FIELDS:
            out[name] = _state(name, value, line, where)
        else:
            listed = _ids(value, name, line, where)
            for oid in listed:
                ids.check(oid, line, f"{where}: {name!r}")
            out[name] = list(listed)
    return out


def _pages(raw: object, name: str, line: int, where: str) -> list[int]:
    if not isinstance(raw, list) or not all(is_int(v) and v >= 0 for v in raw):
        raise TraceError(line, f"{where}: {name!r} must be a list of pages, got {json.dumps(raw)[:200]}")
    return list(raw)


HEX = frozenset("0123456789abcdef")


def _state(name: str, raw: object, line: int, where: str) -> list[Any]:
    """A state change list: "spans", "sets" or "tiny" records (see the module comment), in a canonical order."""
    bad = TraceError(line, f"{where}: {name!r} must be a list of {name} records, got {json.dumps(raw)[:200]}")
    if not isinstance(raw, list):
        raise bad
    out: list[Any] = []
    for rec in raw:
        if not isinstance(rec, list) or not rec or not is_int(rec[0]) or rec[0] < 0:
            raise bad
        if name == "spans":
            ok = (len(rec) == 2 and rec[1] is None) or (
                len(rec) == 8 and all(is_int(v) for v in rec[1:6]) and 0 <= rec[1] <= MAX_SPAN_CLASS
                and rec[2] >= 1 and rec[4] >= 0 and rec[5] >= 0 and isinstance(rec[6], str) and rec[6]
                and set(rec[6]) <= HEX and isinstance(rec[7], str))
        elif name == "sets":
            ok = (len(rec) == 3 and rec[0] <= MAX_SPAN_CLASS and rec[1] in SET_NAMES and isinstance(rec[2], list)
                  and all(is_int(v) and v >= 0 for v in rec[2]))
        else:
            ok = (len(rec) == 2 and rec[1] is None) or (len(rec) == 4 and all(is_int(v) and v >= 0 for v in rec[1:]))
        if not ok:
            raise bad
        out.append(list(rec))
    return sorted(out, key=lambda r: tuple(r[:2]) if name == "sets" else r[0])


def parse_op(text: str, line: int, ids: IdKind | None = None, version: int = 1) -> GcOp:
    """One step line. `ids` is the trace's id kind so far (a new IdKind if not given); an alloc may set it."""
    ids = IdKind() if ids is None else ids
    if not text.strip():
        raise TraceError(line, "blank line")
    obj = loads_object(text, line, "a step")
    kind = obj.get("op")
    known = (*OP_FIELDS, *V2_OPS) if version >= 2 else tuple(OP_FIELDS)
    if kind not in known:
        raise TraceError(line, f"unknown op {json.dumps(kind)} (known: {', '.join(known)})")
    fields = dict(OP_FIELDS.get(kind, {}))
    if kind == "alloc" and version >= 2 and "global" in obj:
        del fields["g"], fields["slot"]
        fields["global"] = "int"
    args = {name: _field(obj, name, k, line, kind) for name, k in fields.items()}
    if kind == "alloc":
        ids.check(args["id"], line, "alloc: field 'id'")
        if version >= 2 and "p" in obj:
            args["p"] = _field(obj, "p", "int", line, kind)
    if kind == "markroot" and args["root"] == "stack":
        args["g"] = _field(obj, "g", "int", line, kind)
    if kind == "drain" and "n" in obj:
        n = _field(obj, "n", "int", line, kind)
        if n < 1:
            raise TraceError(line, "drain: field 'n' must be >= 1")
        args["n"] = n
    if version >= 2 and kind in ARENA_OPS:
        for name in ("arenas", "page_marks"):
            if name in obj:
                args[name] = _pages(obj[name], name, line, kind)
    expect = None
    if (kind in EXPECT_FIELDS or version >= 2) and "expect" in obj:
        expect = parse_expect(kind, obj["expect"], line, ids, version)
    return GcOp(kind, args, expect, line, version)


def _params(obj: dict[str, Any], version: int = 1) -> GcParams:
    raw = obj.get("params", {})
    if not isinstance(raw, dict):
        raise TraceError(1, "header params must be an object")
    limits = {"goroutines": MAX_GOROUTINES, "stack_slots": MAX_STACK_SLOTS, "globals": MAX_GLOBALS}
    if version >= 2:
        limits["procs"] = MAX_PROCS
    values = {}
    for name, limit in limits.items():
        value = raw.get(name, getattr(GcParams(), name))
        low = 1 if name == "procs" else 0
        if not is_int(value) or not low <= value <= limit:
            raise TraceError(1, f"header params: {name} must be an integer from {low} to {limit}, "
                                f"got {json.dumps(value)}")
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


def read_header(text: str) -> GcHeader:
    """The header line of either version."""
    if not text.strip():
        raise TraceError(1, "no header: a GC trace starts with its header line")
    obj = loads_object(text, 1, "header")
    if obj.get("trace") != FORMAT_NAME:
        raise TraceError(1, f'header must have "trace": "{FORMAT_NAME}"')
    version = obj.get("version")
    if version not in VERSIONS or not is_int(version):
        raise TraceError(1, f'header "version" must be 1 or 2, got {json.dumps(obj.get("version"))}')
    params = _params(obj, version)
    heap = None
    if "heap" in obj:
        try:
            heap = gc_snapshot.parse(obj["heap"])
        except gc_snapshot.SnapshotError as e:
            raise TraceError(1, f"header heap: {e}") from None
        if len(heap.roots) > params.globals:
            raise TraceError(1, f"header heap has {len(heap.roots)} roots but params allow {params.globals} globals")
        if heap.procs > params.procs:
            raise TraceError(1, f"header heap has {heap.procs} Ps but params allow {params.procs}")
    stacks = None
    if "stacks" in obj:
        if heap is None:
            raise TraceError(1, "header stacks need a header heap")
        stacks = _stacks(obj["stacks"], params, heap)
    arenas = None
    if version >= 2 and "pages" in obj:
        pages = obj["pages"]
        if not isinstance(pages, dict) or set(pages) != {"arenas"}:
            raise TraceError(1, 'header "pages" must be {"arenas": [first page of each arena, ...]}')
        arenas = tuple(_pages(pages["arenas"], "arenas", 1, "header pages"))
    return GcHeader(version, params, heap, stacks, arenas)


def parse_header(text: str) -> tuple[GcParams, HeapSpec | None, Stacks | None]:
    header = read_header(text)
    return header.params, header.heap, header.stacks


def header_json(params: GcParams, heap: HeapSpec | None = None, stacks: Stacks | None = None, version: int = 1,
                arenas: tuple[int, ...] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"trace": FORMAT_NAME, "version": version, "params": params.to_json()}
    if heap is not None:
        out["heap"] = gc_snapshot.to_doc(heap)
    if stacks is not None:
        out["stacks"] = stacks
    if arenas is not None:
        out["pages"] = {"arenas": list(arenas)}
    return out


def dumps(params: GcParams, heap: HeapSpec | None, ops: list[dict[str, Any]], stacks: Stacks | None = None,
          version: int = 1) -> str:
    lines = [json.dumps(header_json(params, heap, stacks, version))] + [json.dumps(op) for op in ops]
    return "\n".join(lines) + "\n"
