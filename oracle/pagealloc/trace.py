"""Trace format v1 for the page allocator: parsing, checking and writing.

A trace is JSON Lines, UTF-8. Line 1 is the header

    {"trace": "pagealloc", "version": 1,
     "params": {"chunk_pages": 512, "phys_page_pages": 1, "huge_page_pages": 256}}

and every later line one operation (SPEC.md, "Trace format"):

    {"op": "grow", "chunk": C, "nchunks": K}
    {"op": "alloc", "npages": N, "expect": {"page": P or null, "scav": S}}
    {"op": "free", "page": P, "npages": N}
    {"op": "cache_fill", "cache": ID, "expect": {"base": P or null, "free": "0x..", "scav": "0x.."}}
    {"op": "cache_alloc", "cache": ID, "npages": N, "expect": {"page": P or null, "scav": S}}
    {"op": "cache_flush", "cache": ID}
    {"op": "scavenge", "npages": N, "expect": {"released": R}}

Version 2 adds the background scavenger's state: `{"op": "next_gen"}` ends a GC cycle, and scavenge takes an
optional `"force": false` for a non-forced (background) scavenge. A version 1
trace is read exactly as before: there, next_gen is an unknown op and a
"force" field an ignored extra field.

This module checks the form of each line (types, ranges, known ops); whether
an operation is possible in the heap's state (a free of a page in use, a
grow over a free chunk) is the model's to decide when the line runs. Every
error is a TraceError naming the line.

Results travel as `Outcome`: the `expect` object of a line, with hex bitmaps
turned into ints so that they compare by value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from model.results import AllocResult, CacheFill, ScavengeResult
from oracle.common.errors import TraceError
from oracle.common.jsonlines import is_int, iter_lines, loads, read_text

FORMAT_NAME = "pagealloc"
VERSION = 2  # the newest version this module reads and writes
VERSIONS = (1, 2)

Outcome = dict[str, Any]


@attrs.frozen
class Params:
    chunk_pages: int = 512
    phys_page_pages: int = 1
    huge_page_pages: int = 0
    version: int = 1  # the header's trace version, which decides the ops allowed

    def to_json(self) -> dict[str, int]:
        return {
            "chunk_pages": self.chunk_pages,
            "phys_page_pages": self.phys_page_pages,
            "huge_page_pages": self.huge_page_pages,
        }


# The range of each header parameter (each must also be a power of two, or 0 for huge_page_pages;
# the model says so). Go's amd64 values are 512, 1 and 256.
PARAM_RANGES = {"chunk_pages": (64, 4096), "phys_page_pages": (1, 64), "huge_page_pages": (0, 4096)}

# For each op: its integer fields with their minimum value, and whether it has a result.
OP_FIELDS: dict[str, dict[str, int]] = {
    "grow": {"chunk": 0, "nchunks": 1},
    "alloc": {"npages": 1},
    "free": {"page": 0, "npages": 1},
    "cache_fill": {"cache": 0},
    "cache_alloc": {"cache": 0, "npages": 1},
    "cache_flush": {"cache": 0},
    "scavenge": {"npages": 1},
    "next_gen": {},
}
# The first trace version that has each op.
OP_SINCE = {"next_gen": 2}
OPS_WITH_RESULT = ("alloc", "cache_fill", "cache_alloc", "scavenge")


@attrs.frozen
class Op:
    kind: str
    args: dict[str, int | bool]
    expect: Outcome | None = None
    line: int = 0

    def to_json(self, expect: Outcome | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.kind, **self.args}
        exp = expect if expect is not None else self.expect
        if exp is not None and self.kind in OPS_WITH_RESULT:
            out["expect"] = outcome_to_json(self.kind, exp)
        return out

    def describe(self) -> str:
        return json.dumps({"op": self.kind, **self.args})


@attrs.frozen
class Trace:
    params: Params
    ops: tuple[Op, ...]


def _int_field(obj: dict[str, Any], name: str, minimum: int, line: int, where: str) -> int:
    if name not in obj:
        raise TraceError(line, f"{where}: missing field {name!r}")
    value = obj[name]
    if not is_int(value):
        raise TraceError(line, f"{where}: field {name!r} must be an integer, got {json.dumps(value)}")
    if value < minimum:
        raise TraceError(line, f"{where}: field {name!r} must be >= {minimum}, got {value}")
    return value


def _page_or_null(obj: dict[str, Any], name: str, line: int, where: str) -> int | None:
    if name not in obj:
        raise TraceError(line, f"{where}: missing field {name!r}")
    if obj[name] is None:
        return None
    return _int_field(obj, name, 0, line, where)


HEX64 = re.compile(r"0[xX][0-9a-fA-F]{16}")


def _hex64(obj: dict[str, Any], name: str, line: int, where: str) -> int:
    """A 64-bit bitmap written as "0x" and exactly 16 ASCII hex digits (no signs, separators or spaces)."""
    if name not in obj:
        raise TraceError(line, f"{where}: missing field {name!r}")
    value = obj[name]
    if not isinstance(value, str) or not HEX64.fullmatch(value):
        raise TraceError(line, f'{where}: field {name!r} must be "0x" and 16 hex digits, got {json.dumps(value)}')
    return int(value[2:], 16)


def parse_expect(kind: str, raw: object, line: int) -> Outcome:
    where = f"{kind} expect"
    if not isinstance(raw, dict):
        raise TraceError(line, f"{where} must be an object, got {json.dumps(raw)}")
    if kind in ("alloc", "cache_alloc"):
        return {"page": _page_or_null(raw, "page", line, where), "scav": _int_field(raw, "scav", 0, line, where)}
    if kind == "cache_fill":
        return {
            "base": _page_or_null(raw, "base", line, where),
            "free": _hex64(raw, "free", line, where),
            "scav": _hex64(raw, "scav", line, where),
        }
    return {"released": _int_field(raw, "released", 0, line, where)}


def parse_op(text: str, line: int, version: int = VERSION) -> Op:
    if not text.strip():
        raise TraceError(line, "blank line")
    obj = loads(text, line)
    if not isinstance(obj, dict):
        raise TraceError(line, "an operation must be a JSON object")
    kind = obj.get("op")
    known = [k for k in OP_FIELDS if OP_SINCE.get(k, 1) <= version]
    if kind not in known:
        later = f" (it needs trace version {OP_SINCE[kind]})" if kind in OP_SINCE else ""
        raise TraceError(
            line, f"unknown op {json.dumps(kind)} in a version {version} trace{later} (known: {', '.join(known)})"
        )
    args: dict[str, int | bool] = {
        name: _int_field(obj, name, minimum, line, kind) for name, minimum in OP_FIELDS[kind].items()
    }
    if kind == "scavenge" and version >= 2 and "force" in obj:
        if not isinstance(obj["force"], bool):
            raise TraceError(line, f"scavenge: field 'force' must be true or false, got {json.dumps(obj['force'])}")
        if not obj["force"]:
            args["force"] = False
    if kind == "cache_alloc" and args["npages"] > 64:
        raise TraceError(line, f"cache_alloc: npages must be <= 64, got {args['npages']}")
    expect = None
    if kind in OPS_WITH_RESULT and "expect" in obj:
        expect = parse_expect(kind, obj["expect"], line)
    return Op(kind, args, expect, line)


def parse_header(text: str) -> Params:
    obj = loads(text, 1, "header")
    if not isinstance(obj, dict) or obj.get("trace") != FORMAT_NAME:
        raise TraceError(1, f'header must be an object with "trace": "{FORMAT_NAME}"')
    version = obj.get("version")
    if not is_int(version) or version not in VERSIONS:
        readable = " and ".join(map(str, VERSIONS))
        raise TraceError(1, f"unsupported trace version {json.dumps(version)} (this reads versions {readable})")
    params = obj.get("params")
    if not isinstance(params, dict):
        raise TraceError(1, 'header: missing object "params"')
    out = Params(
        chunk_pages=_int_field(params, "chunk_pages", 1, 1, "params"),
        phys_page_pages=_int_field(params, "phys_page_pages", 1, 1, "params"),
        huge_page_pages=_int_field(params, "huge_page_pages", 0, 1, "params"),
        version=version,
    )
    for name, (low, high) in PARAM_RANGES.items():
        value = getattr(out, name)
        if not low <= value <= high:
            raise TraceError(1, f"params: {name} must be from {low} to {high}, got {value}")
    return out


def read_header_and_ops(path: Path) -> tuple[Params, Iterator[Op]]:
    """The header now and the operations lazily, so that a bad line stops replay exactly there."""
    lines = iter_lines(read_text(path))
    first = next(lines, None)
    if first is None or not first[1].strip():
        raise TraceError(1, "empty trace: the first line must be the header")
    params = parse_header(first[1])
    return params, (parse_op(line, number, params.version) for number, line in lines)


def load(path: Path) -> Trace:
    params, ops = read_header_and_ops(path)
    return Trace(params, tuple(ops))


def header_json(params: Params) -> dict[str, Any]:
    return {"trace": FORMAT_NAME, "version": params.version, "params": params.to_json()}


def dumps(params: Params, ops: list[tuple[Op, Outcome | None]]) -> str:
    lines = [json.dumps(header_json(params))]
    lines += [json.dumps(op.to_json(expect)) for op, expect in ops]
    return "\n".join(lines) + "\n"


# Outcomes.


def outcome_of(result: AllocResult | CacheFill | ScavengeResult) -> Outcome:
    if isinstance(result, AllocResult):
        return {"page": result.page, "scav": result.scav}
    if isinstance(result, CacheFill):
        return {"base": result.base, "free": result.free, "scav": result.scav}
    return {"released": result.released}


def outcome_to_json(kind: str, outcome: Outcome) -> dict[str, Any]:
    if kind == "cache_fill":
        return {"base": outcome["base"], "free": f"0x{outcome['free']:016x}", "scav": f"0x{outcome['scav']:016x}"}
    return dict(outcome)
