"""Heap snapshot formats v1 and v2 (JSON): reading, checking and writing.

    {"heap": "gc", "version": 1,
     "objects": [{"id": 1, "size": 32, "noscan": false, "ptrs": {"0": 2, "8": null}},
                 {"id": 2, "size": 16, "noscan": true}],
     "roots": [1],
     "finalizers": [2]}

Version 2 adds what the tiny allocator and per-P caches need: objects of
size 0 and noscan objects under 16 bytes are allowed (version 1 refuses
them, as it always did), an object may name the P that allocates it
(`"p": 0`, default 0), and the heap its number of Ps (`"procs": 1`,
default 1). Objects are allocated in the order listed, each on its P, so
the order decides which tiny objects share a 16-byte block. A heap is
written as version 1 when it fits version 1 (model.gc.results.HeapSpec's
`tiny` is False), else as version 2.

SPEC.md Part II ("Heap snapshot format") is the contract. The text is read
as strictly as a trace line (oracle.common.jsonlines: UTF-8, no duplicate
keys, NaN, huge integers, deep nesting or stray carriage returns; a problem
in the JSON itself is named by its line). This module then checks the
JSON's form (types, key syntax) and hands the values to
model.gc.results.HeapSpec, which checks the heap's meaning (known ids,
slots inside objects, noscan objects without slots). Every error is a
SnapshotError (bad input, exit 2) whose message says where:
`objects[3] (id 7): ...`, or `line 4: ...` for the JSON itself.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from model.gc.results import HeapSpec, HeapSpecError, ObjectId, ObjectSpec, check_id
from oracle.common import jsonlines
from oracle.common.errors import InputError, TraceError
from oracle.common.jsonlines import is_int, read_text

FORMAT_NAME = "gc"
VERSION = 1
VERSIONS = (1, 2)
OFFSET_KEY = re.compile(r"^(0|[1-9][0-9]*)$")


class SnapshotError(InputError):
    """A heap snapshot is malformed or describes an impossible heap."""


def _id_list(doc: dict[str, Any], name: str) -> tuple[ObjectId, ...]:
    value = doc.get(name, [])
    if not isinstance(value, list):
        raise SnapshotError(f"{name}: must be a list of ids, got {type(value).__name__}")
    try:
        return tuple(check_id(v, f"{name}[{i}]") for i, v in enumerate(value))
    except HeapSpecError as e:
        raise SnapshotError(str(e)) from None


def _object(index: int, raw: object, version: int = 1) -> ObjectSpec:
    where = f"objects[{index}]"
    if not isinstance(raw, dict):
        raise SnapshotError(f"{where}: must be a JSON object, got {type(raw).__name__}")
    for key in ("id", "size", "noscan"):
        if key not in raw:
            raise SnapshotError(f"{where}: missing field {key!r}")
    try:
        oid = check_id(raw["id"], f"{where}.id")
    except HeapSpecError as e:
        raise SnapshotError(str(e)) from None
    where = f"{where} (id {oid!r})"
    size, noscan = raw["size"], raw["noscan"]
    if not is_int(size):
        raise SnapshotError(f"{where}: size must be an integer number of bytes, got {size!r}")
    if not isinstance(noscan, bool):
        raise SnapshotError(f"{where}: noscan must be true or false, got {noscan!r}")
    ptrs = raw.get("ptrs", {})
    if not isinstance(ptrs, dict):
        raise SnapshotError(f"{where}: ptrs must be an object from offsets to ids, got {type(ptrs).__name__}")
    slots: list[tuple[int, ObjectId | None]] = []
    for key, target in ptrs.items():
        if not OFFSET_KEY.match(key):
            raise SnapshotError(f"{where}: ptrs key {key!r} is not a decimal byte offset")
        if target is not None:
            try:
                check_id(target, f"{where}: ptrs[{key!r}]")
            except HeapSpecError as e:
                raise SnapshotError(str(e)) from None
        slots.append((int(key), target))
    slots.sort(key=lambda s: s[0])
    p = raw.get("p", 0) if version >= 2 else 0
    if not is_int(p) or p < 0:
        raise SnapshotError(f"{where}: p must be an integer >= 0, got {p!r}")
    return ObjectSpec(oid, size, noscan, tuple(slots), p)


def parse(doc: object) -> HeapSpec:
    if not isinstance(doc, dict):
        raise SnapshotError(f"a heap snapshot is a JSON object, got {type(doc).__name__}")
    if doc.get("heap") != FORMAT_NAME:
        raise SnapshotError(f'"heap" must be "{FORMAT_NAME}", got {doc.get("heap")!r}')
    version = doc.get("version")
    if not is_int(version) or version not in VERSIONS:
        raise SnapshotError(f'"version" must be 1 or 2, got {doc.get("version")!r}')
    objects = doc.get("objects")
    if not isinstance(objects, list):
        raise SnapshotError(f'"objects" must be a list, got {type(objects).__name__}')
    procs = doc.get("procs", 1) if version >= 2 else 1
    if not is_int(procs):
        raise SnapshotError(f'"procs" must be an integer, got {procs!r}')
    specs = tuple(_object(i, raw, version) for i, raw in enumerate(objects))
    try:
        return HeapSpec(specs, _id_list(doc, "roots"), _id_list(doc, "finalizers"), tiny=version >= 2, procs=procs)
    except HeapSpecError as e:
        raise SnapshotError(str(e)) from None


def _document(text: str) -> Any:
    """The one JSON value of a snapshot's text (one line or many), read strictly, errors at their line."""
    try:
        return jsonlines.loads_document(text)
    except TraceError as e:
        raise SnapshotError(str(e)) from None


def loads(text: str) -> HeapSpec:
    return parse(_document(text))


def load(path: Path) -> HeapSpec:
    """A snapshot file; UsageError (naming the path) if it cannot be read, SnapshotError if it is bad."""
    try:
        text = read_text(path)
    except TraceError as e:  # not UTF-8, at a line
        raise SnapshotError(str(e)) from None
    return loads(text)


def version_of(spec: HeapSpec) -> int:
    return 2 if spec.tiny or spec.procs != 1 else 1


def to_doc(spec: HeapSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"heap": FORMAT_NAME, "version": version_of(spec)}
    if spec.procs != 1:
        out["procs"] = spec.procs
    out.update({
        "objects": [object_doc(o) for o in spec.objects],
        "roots": list(spec.roots),
        "finalizers": list(spec.finalizers),
    })
    return out


def object_doc(o: ObjectSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"id": o.id, "size": o.size, "noscan": o.noscan}
    if o.ptrs:
        out["ptrs"] = {str(off): t for off, t in o.ptrs}
    if o.p:
        out["p"] = o.p
    return out


def dumps(spec: HeapSpec) -> str:
    """One object per line, so snapshots diff well."""
    lines = [json.dumps(object_doc(o)) for o in spec.objects]
    body = ",\n  ".join(lines)
    procs = f' "procs": {spec.procs},' if spec.procs != 1 else ""
    return (
        f'{{"heap": "{FORMAT_NAME}", "version": {version_of(spec)},{procs}\n "objects": [\n  {body}\n ],\n'
        f' "roots": {json.dumps(list(spec.roots))},\n "finalizers": {json.dumps(list(spec.finalizers))}}}\n'
    )
