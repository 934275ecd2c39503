"""`python -m fast.serve`: fast/ behind the oracle's subprocess protocol (SPEC.md).

This is the example of an implementation in another process: it reads one
JSON line at a time from stdin and answers each with one JSON line on
stdout, flushed at once:

  {"trace": "pagealloc", "version": 1, "params": {...}}  -> {"ok": true, "snapshot": true}
      a new, empty heap with those params ({"error": ...} if they are bad)
  {"op": "alloc", "npages": 3}                            -> {"page": 17, "scav": 3}
  {"op": "cache_fill", "cache": 0}                        -> {"base": 64, "free": "0x..", "scav": "0x.."}
  {"op": "scavenge", "npages": 8[, "force": false]}       -> {"released": 8}
  {"op": "grow" | "free" | "cache_flush" | "next_gen" | "pad"...} -> {}
  {"op": "snapshot"}                                      -> {"state": {...}} (fast.state)
  anything the heap refuses or cannot read                -> {"error": "why"}

`--fault NAME` (repeatable) builds every heap with that fault of
fast.faults, to show an oracle finding it through the protocol.
It imports nothing from oracle/: the protocol is small enough to speak here.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, TextIO

from fast.faults import ALL_FAULTS, check_names
from fast.pageheap import FastPageHeap
from fast.state import state_to_json
from model.errors import ModelError
from model.geometry import ARCHES
from model.results import AllocResult, CacheFill, ScavengeResult

_OP_FIELDS = {
    "grow": ("chunk", "nchunks"),
    "alloc": ("npages",),
    "free": ("page", "npages"),
    "cache_fill": ("cache",),
    "cache_alloc": ("cache", "npages"),
    "cache_flush": ("cache",),
    "scavenge": ("npages",),
    "next_gen": (),
    "pad": ("page", "npages"),
    "snapshot": (),
}


def _result(value: AllocResult | CacheFill | ScavengeResult | None) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, AllocResult):
        return {"page": value.page, "scav": value.scav}
    if isinstance(value, CacheFill):
        return {"base": value.base, "free": f"0x{value.free:016x}", "scav": f"0x{value.scav:016x}"}
    return {"released": value.released}


class Session:
    def __init__(self, faults: frozenset[str]) -> None:
        self.faults = faults
        self.heap: FastPageHeap | None = None

    def handle(self, line: str) -> dict[str, Any]:
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            return {"error": f"not JSON: {e.msg}"}
        if not isinstance(obj, dict):
            return {"error": "expected a JSON object"}
        if "trace" in obj:
            return self.start(obj)
        if self.heap is None:
            return {"error": "no header yet"}
        kind = obj.get("op")
        if kind not in _OP_FIELDS:
            return {"error": f"unknown op {kind!r}"}
        args = [obj.get(name) for name in _OP_FIELDS[kind]]
        if not all(type(a) is int for a in args):
            return {"error": f"{kind} needs integer fields {list(_OP_FIELDS[kind])}"}
        try:
            if kind == "snapshot":
                return {"state": state_to_json(self.heap.state())}
            if kind == "scavenge":
                force = obj.get("force", True)
                if not isinstance(force, bool):
                    return {"error": "scavenge: force must be true or false"}
                return _result(self.heap.scavenge(args[0], force=force))
            method = getattr(self.heap, kind)
            return _result(method(*args))
        except ModelError as e:
            return {"error": str(e)}

    def start(self, header: dict[str, Any]) -> dict[str, Any]:
        params = header.get("params")
        if header.get("trace") != "pagealloc" or header.get("version") not in (1, 2, 3) or not isinstance(params, dict):
            return {"error": "expected a pagealloc trace header of version 1, 2 or 3"}
        try:
            arch = ARCHES.get(params.get("arch", "amd64"))
            if arch is None:
                return {"error": f"unknown arch {params.get('arch')!r} (known: {', '.join(ARCHES)})"}
            geometry = arch.geometry(params.get("chunk_pages", 512))
            self.heap = FastPageHeap(
                geometry, params.get("phys_page_pages", 1), params.get("huge_page_pages", 0), self.faults
            )
        except (ModelError, TypeError) as e:
            self.heap = None
            return {"error": str(e)}
        return {"ok": True, "snapshot": True}


def serve(stdin: TextIO, stdout: TextIO, faults: frozenset[str] = frozenset()) -> None:
    session = Session(faults)
    for line in stdin:
        if not line.strip():
            continue
        stdout.write(json.dumps(session.handle(line)) + "\n")
        stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fast.serve", description=__doc__.split("\n\n")[0])
    parser.add_argument("--fault", action="append", default=[], choices=sorted(ALL_FAULTS))
    args = parser.parse_args(argv)
    serve(sys.stdin, sys.stdout, check_names(args.fault))
    return 0


if __name__ == "__main__":
    sys.exit(main())
