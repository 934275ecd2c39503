"""The page allocator's trace format (versions 1 to 4): parsing, checking and writing.

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

Version 2 adds the background scavenger's state: `{"op": "next_gen"}` ends
a GC cycle, and scavenge takes an optional `"force": false` for a
non-forced (background) scavenge. Version 3 adds `{"op": "pad", "page": P,
"npages": N}`: free pages marked in use and scavenged, as Go pads the base
of its first growth. Version 4 adds the background scavenger's goroutine:

    {"op": "scavenger_wake", "budget": B, "ns_per_page": T, "sleep_pct": S, "procs": P,
     "expect": {"released": R, "runs": N, "slept": NS, "ratio": F, "cooldown": NS, "integral": F}}

wakes it with the stubs those fields define (model.scavenger.wake_heap) and
reports what it did until it parked and the pacing state it left (ratio and
integral are float64 values, written as JSON numbers that read back to the
same bits). An older trace is read exactly as before: there, a later
version's op is an unknown op and "force" an ignored extra field.

This module checks the form of each line (types, ranges, known ops); whether
an operation is possible in the heap's state (a free of a page in use, a
grow over a free chunk) is the model's to decide when the line runs. Every
error is a TraceError naming the line.

Results travel as `Outcome`: the `expect` object of a line, with hex bitmaps
turned into ints so that they compare by value.

It is one piece: the strict reader, its two quick paths (which must accept
exactly what it accepts, line for line) and the writer they mirror share one
definition of each line's form.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs

from model.geometry import ARCHES, Arch
from model.results import AllocResult, CacheFill, ScavengeResult
from model.scavenger import WakeResult
from oracle.common.errors import TraceError
from oracle.common.jsonlines import MAX_INT_DIGITS, is_int, loads, loads_batch, read_text, split_lines

FORMAT_NAME = "pagealloc"
VERSION = 4  # the newest version this module reads and writes
VERSIONS = (1, 2, 3, 4)

Outcome = dict[str, Any]


@attrs.frozen
class Params:
    chunk_pages: int = 512
    phys_page_pages: int = 1
    huge_page_pages: int = 0
    version: int = 1  # the header's trace version, which decides the ops allowed
    arch: str = "amd64"  # a key of model.geometry.ARCHES: the tree's shape and the chunks a trace may grow

    def to_json(self) -> dict[str, int | str]:
        out: dict[str, int | str] = {
            "chunk_pages": self.chunk_pages,
            "phys_page_pages": self.phys_page_pages,
            "huge_page_pages": self.huge_page_pages,
        }
        if self.arch != "amd64":  # absent means amd64, so traces without it keep their meaning
            out["arch"] = self.arch
        return out

    @property
    def space(self) -> Arch:
        return ARCHES[self.arch]


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
    "pad": {"page": 0, "npages": 1},
    "scavenger_wake": {"budget": 0, "ns_per_page": 1, "sleep_pct": 0, "procs": 1},
}
# The first trace version that has each op.
OP_SINCE = {"next_gen": 2, "pad": 3, "scavenger_wake": 4}
OPS_WITH_RESULT = ("alloc", "cache_fill", "cache_alloc", "scavenge", "scavenger_wake")
# The fields that count pages (their bytes must fit the platform's addresses: check_in_space).
PAGE_COUNTS = ("npages", "budget")
# Ops only the strict reader (parse_op) reads: rare lines, with float fields the quick paths do not check.
STRICT_ONLY = ("scavenger_wake",)
# scavenger_wake's expect: its integer fields (each >= 0) and its float64 fields (any finite number).
WAKE_COUNTS = ("released", "runs", "slept", "cooldown")
WAKE_FLOATS = ("ratio", "integral")


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
    if kind == "scavenger_wake":
        out: Outcome = {name: _int_field(raw, name, 0, line, where) for name in WAKE_COUNTS}
        out.update({name: _float_field(raw, name, line, where) for name in WAKE_FLOATS})
        return out
    return {"released": _int_field(raw, "released", 0, line, where)}


def _float_field(obj: dict[str, Any], name: str, line: int, where: str) -> float:
    """A float64 written as a JSON number (an integer too); NaN and infinities are not JSON."""
    if name not in obj:
        raise TraceError(line, f"{where}: missing field {name!r}")
    value = obj[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TraceError(line, f"{where}: field {name!r} must be a finite number, got {json.dumps(value)}")
    try:
        return float(value)
    except OverflowError:
        raise TraceError(line, f"{where}: field {name!r} is too large for a float64, got {value}") from None


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
        arch=_arch_field(params),
    )
    for name, (low, high) in PARAM_RANGES.items():
        value = getattr(out, name)
        if not low <= value <= high:
            raise TraceError(1, f"params: {name} must be from {low} to {high}, got {value}")
    return out


def _arch_field(params: dict[str, Any]) -> str:
    arch = params.get("arch", "amd64")
    if arch not in ARCHES:
        known = ", ".join(json.dumps(name) for name in ARCHES)
        raise TraceError(1, f"params: arch must be one of {known} (absent: amd64), got {json.dumps(arch)}")
    return str(arch)


def check_in_space(op: Op, params: Params) -> None:
    """TraceError unless the op stays inside the address space of the trace's arch (model.geometry.Arch).

    A grow may name only chunks [first_chunk, chunk_limit); a page count
    (PAGE_COUNTS) must be below the address space's pages (on 386, its bytes
    must fit 32 bits).
    """
    space = params.space
    args = op.args
    if op.kind == "grow":
        first, limit = space.first_chunk, space.chunk_limit(params.chunk_pages)
        chunk, nchunks = int(args["chunk"]), int(args["nchunks"])
        if chunk < first or chunk + nchunks > limit:
            raise TraceError(
                op.line,
                f"grow of chunks [{chunk}, {chunk + nchunks}) leaves the chunks of the {space.name} address "
                f'space a trace may grow, [{first}, {limit}) (SPEC.md, "Platforms")',
            )
    for name in PAGE_COUNTS:
        count = args.get(name)
        if count is not None and int(count) > space.max_npages(params.chunk_pages):
            raise TraceError(
                op.line,
                f"{op.kind}: {name} {count} is not below the {space.name} address space's "
                f"{space.max_npages(params.chunk_pages) + 1} pages",
            )


def read_header_and_ops(path: Path) -> tuple[Params, Iterator[Op]]:
    """The header now and the operations lazily, so that a bad line stops replay exactly there."""
    lines = split_lines(read_text(path))
    if not lines or not lines[0].strip():
        raise TraceError(1, "empty trace: the first line must be the header")
    params = parse_header(lines[0])
    return params, parse_ops(lines, 1, params.version, params=params)


def space_check(params: Params) -> Callable[[list[Op]], bool]:
    """Whether every op of a batch stays inside the address space (check_in_space), with the limits worked out
    once for the whole trace; a batch that does not is checked again op by op, which raises at the op."""
    space = params.space
    first, limit = space.first_chunk, space.chunk_limit(params.chunk_pages)
    max_npages = space.max_npages(params.chunk_pages)

    def inside(ops: list[Op]) -> bool:
        for op in ops:
            args = op.args
            if op.kind == "grow":
                if args["chunk"] < first or args["chunk"] + args["nchunks"] > limit:
                    return False
            elif args.get("npages", 0) > max_npages or args.get("budget", 0) > max_npages:
                return False
        return True

    return inside


# Lines decoded and checked together on the quick path of parse_ops. Small enough that a batch's Ops are
# gone before they add up to a collection of Python's cyclic garbage collector (with 2,048 a batch, its
# collections took a tenth of a replay), large enough that a batch's own cost does not show.
BATCH_LINES = 128


def parse_ops(
    lines: list[str], first: int, version: int = VERSION, batch_lines: int = BATCH_LINES, params: Params | None = None
) -> Iterator[Op]:
    """parse_op of lines[first:], line first + 1 onwards, lazily: the same Ops, the same first error.
    With params, each op is also checked to stay in the trace's address space (check_in_space).

    Lines go in batches through two quick paths, each accepting only what
    parse_op accepts and giving the same Op: lines exactly as dumps writes
    them are matched by one regular expression per op (_canonical_batch);
    a batch with any other line goes through jsonlines.loads_batch and a
    check of the common line shapes (_quick_batch). A batch neither can
    vouch for (an error in it, or any unusual line) is read again with
    parse_op line by line, which decides and names the line.
    """
    inside = space_check(params) if params is not None else None
    for start in range(first, len(lines), batch_lines):
        batch = lines[start : start + batch_lines]
        ops = _canonical_batch(batch, start + 1, version)
        if ops is None:
            ops = _quick_batch(batch, start + 1, version)
        if ops is None:
            for number, text in enumerate(batch, start=start + 1):
                op = parse_op(text, number, version)
                if params is not None:
                    check_in_space(op, params)
                yield op
        elif inside is None or inside(ops):
            yield from ops
        else:
            for op in ops:
                check_in_space(op, params)  # type: ignore[arg-type]  # inside is set only with params
                yield op


# Lines as dumps writes them: json.dumps of {"op", the fields in OP_FIELDS order, "expect"}, with ", " and
# ": " between items and lower-case hex. A count has no sign and no leading zero, at most MAX_INT_DIGITS digits.
_COUNT = f"(0|[1-9][0-9]{{0,{MAX_INT_DIGITS - 1}}})"
_POSITIVE = f"([1-9][0-9]{{0,{MAX_INT_DIGITS - 1}}})"
_PAGE = f"(null|0|[1-9][0-9]{{0,{MAX_INT_DIGITS - 1}}})"
_HEX = '"0x([0-9a-f]{16})"'


def _shape(*parts: str) -> re.Pattern[str]:
    """A pattern from literal JSON text and groups: parts at odd positions are regular expressions."""
    return re.compile("".join(part if k % 2 else re.escape(part) for k, part in enumerate(parts)))


def _optional(*parts: str) -> str:
    return "(?:" + _shape(*parts).pattern + ")?"


_RESULT = _optional(', "expect": {"page": ', _PAGE, ', "scav": ', _COUNT, "}")
# The ops with a result, whose lines have an expect (and scavenge a force) after their fields.
_CANONICAL = {
    "alloc": _shape('{"op": "alloc", "npages": ', _POSITIVE + _RESULT, "}"),
    "cache_fill": _shape(
        '{"op": "cache_fill", "cache": ',
        _COUNT + _optional(', "expect": {"base": ', _PAGE, ', "free": ', _HEX, ', "scav": ', _HEX, "}"),
        "}",
    ),
    "cache_alloc": _shape('{"op": "cache_alloc", "cache": ', _COUNT, ', "npages": ', _POSITIVE + _RESULT, "}"),
    "scavenge": _shape(
        '{"op": "scavenge", "npages": ',
        _POSITIVE + _optional(', "force": ', "(true|false)") + _optional(', "expect": {"released": ', _COUNT, "}"),
        "}",
    ),
}
# Every other op: its integer fields, in order, and nothing else.
_FIELDS_ONLY = {kind: tuple(fields) for kind, fields in OP_FIELDS.items() if kind not in OPS_WITH_RESULT}
for _kind, _fields in OP_FIELDS.items():
    if _kind not in OPS_WITH_RESULT:
        _parts, _literal = [], '{"op": "' + _kind + '"'
        for _name, _minimum in _fields.items():
            _parts += [_literal + ', "' + _name + '": ', _POSITIVE if _minimum >= 1 else _COUNT]
            _literal = ""
        _CANONICAL[_kind] = _shape(*_parts, _literal + "}")


# The ops each trace version has, by the 8 characters after '{"op": "' (enough to tell every op apart), with
# their shapes.
_CANONICAL_BY_VERSION = {
    version: {
        (f'{kind}", "' if OP_FIELDS[kind] else f'{kind}"}}')[:8]: (kind, shape)
        for kind, shape in _CANONICAL.items()
        if OP_SINCE.get(kind, 1) <= version
    }
    for version in VERSIONS
}


def _canonical_batch(batch: list[str], first_line: int, version: int) -> list[Op] | None:
    """The Ops of a batch of lines as dumps writes them, numbered from first_line; None if any line is not."""
    ops: list[Op] = []
    shapes = _CANONICAL_BY_VERSION.get(version, {})
    new, set_kind, set_args, set_expect, set_line = object.__new__, _SET_KIND, _SET_ARGS, _SET_EXPECT, _SET_LINE
    for line, text in enumerate(batch, first_line):
        kind, shape = shapes.get(text[8:16], ("", None))
        found = shape.fullmatch(text) if shape is not None else None  # the whole line, '{"op": "' included
        if found is None:
            return None
        groups = found.groups()
        args: dict[str, int | bool]
        expect: Outcome | None = None
        if kind == "alloc" or kind == "cache_alloc":
            if kind == "alloc":
                args = {"npages": int(groups[0])}
            else:
                args = {"cache": int(groups[0]), "npages": int(groups[1])}
                if args["npages"] > 64:
                    return None
            page, scav = groups[-2:]
            if page is not None:
                expect = {"page": None if page == "null" else int(page), "scav": int(scav)}
        elif kind == "free":
            args = {"page": int(groups[0]), "npages": int(groups[1])}
        elif kind == "cache_flush":
            args = {"cache": int(groups[0])}
        elif kind == "cache_fill":
            args = {"cache": int(groups[0])}
            if groups[1] is not None:
                base = None if groups[1] == "null" else int(groups[1])
                expect = {"base": base, "free": int(groups[2], 16), "scav": int(groups[3], 16)}
        elif kind == "scavenge":
            args = {"npages": int(groups[0])}
            if version >= 2 and groups[1] == "false":
                args["force"] = False
            if groups[2] is not None:
                expect = {"released": int(groups[2])}
        else:
            args = {name: int(value) for name, value in zip(_FIELDS_ONLY[kind], groups, strict=True)}
        op = new(Op)  # Op(kind, args, expect, line), made as _new_op makes it
        set_kind(op, kind)
        set_args(op, args)
        set_expect(op, expect)
        set_line(op, line)
        ops.append(op)
    return ops


def _new_op(kind: str, args: dict[str, int | bool], expect: Outcome | None, line: int) -> Op:
    """Op(kind, args, expect, line), made by setting its slots directly: a third cheaper, a million times a trace."""
    op = object.__new__(Op)
    _SET_KIND(op, kind)
    _SET_ARGS(op, args)
    _SET_EXPECT(op, expect)
    _SET_LINE(op, line)
    return op


# Op's slots (attrs makes a frozen class with __slots__), set the way its own __init__ sets them.
_SET_KIND, _SET_ARGS, _SET_EXPECT, _SET_LINE = (
    Op.__dict__[name].__set__ for name in ("kind", "args", "expect", "line")
)


# For each trace version, its ops with their integer fields and their minimum values (those the quick path reads).
_FIELDS_BY_VERSION = {
    version: {
        kind: tuple(fields.items())
        for kind, fields in OP_FIELDS.items()
        if OP_SINCE.get(kind, 1) <= version and kind not in STRICT_ONLY
    }
    for version in VERSIONS
}


def _quick_batch(batch: list[str], first_line: int, version: int) -> list[Op] | None:
    """The Ops of a batch of lines numbered from first_line, or None if they must go line by line."""
    decoded = loads_batch(batch)
    fields_of = _FIELDS_BY_VERSION.get(version)
    if decoded is None or fields_of is None:
        return None
    values, marks = decoded
    ops: list[Op] = []
    keys = 0
    line = first_line
    for obj in values:
        kind = obj.get("op")
        fields = fields_of.get(kind) if type(kind) is str else None
        if fields is None:
            return None
        args: dict[str, int | bool] = {}
        for name, minimum in fields:
            value = obj.get(name)
            if type(value) is not int or value < minimum:
                return None
            args[name] = value
        keys += len(obj)
        raw = obj.get("expect")
        if type(raw) is dict:
            keys += len(raw)
        expect = None
        if kind == "cache_alloc":
            if args["npages"] > 64:
                return None
        elif kind == "scavenge" and version >= 2 and "force" in obj:
            force = obj["force"]
            if type(force) is not bool:
                return None
            if not force:
                args["force"] = False
        if raw is not None or "expect" in obj:
            if kind in OPS_WITH_RESULT:
                if type(raw) is not dict:
                    return None
                expect = _quick_expect(kind, raw)
                if expect is None:
                    return None
        ops.append(_new_op(kind, args, expect, line))
        line += 1
    return ops if keys == marks else None


def _quick_expect(kind: str, raw: dict[str, Any]) -> Outcome | None:
    """parse_expect of an expect object, or None if parse_expect would refuse it."""
    if kind == "alloc" or kind == "cache_alloc":
        page, scav = raw.get("page", -1), raw.get("scav")
        if (page is not None and (type(page) is not int or page < 0)) or type(scav) is not int or scav < 0:
            return None
        return {"page": page, "scav": scav}
    if kind == "cache_fill":
        base, free, scav = raw.get("base", -1), raw.get("free"), raw.get("scav")
        if base is not None and (type(base) is not int or base < 0):
            return None
        if type(free) is not str or type(scav) is not str or not HEX64.fullmatch(free) or not HEX64.fullmatch(scav):
            return None
        return {"base": base, "free": int(free[2:], 16), "scav": int(scav[2:], 16)}
    released = raw.get("released")
    if type(released) is not int or released < 0:
        return None
    return {"released": released}


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


def outcome_of(result: AllocResult | CacheFill | ScavengeResult | WakeResult) -> Outcome:
    if isinstance(result, AllocResult):
        return {"page": result.page, "scav": result.scav}
    if isinstance(result, CacheFill):
        return {"base": result.base, "free": result.free, "scav": result.scav}
    if isinstance(result, WakeResult):
        return {
            "released": result.released,
            "runs": result.runs,
            "slept": result.slept_ns,
            "ratio": result.sleep_ratio,
            "cooldown": result.cooldown_ns,
            "integral": result.err_integral,
        }
    return {"released": result.released}


def outcome_to_json(kind: str, outcome: Outcome) -> dict[str, Any]:
    if kind == "cache_fill":
        return {"base": outcome["base"], "free": f"0x{outcome['free']:016x}", "scav": f"0x{outcome['scav']:016x}"}
    return dict(outcome)
