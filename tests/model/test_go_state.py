"""The model's hidden state matches the real runtime's, step by step.

The Go trace generator records, after every line, the runtime's search hint
(searchAddr) and both scavenge cursors (searchAddrForce and searchAddrBg,
with their marks) in a
`go_state` field that trace readers ignore. Results alone would not show a
wrong hint (the hint only speeds up search); this compares them directly.
"""

from __future__ import annotations

import json
from pathlib import Path

from oracle.cli import bundled_traces
from oracle.pagealloc.protocol import ModelImpl
from oracle.pagealloc.trace import iter_lines, parse_header, parse_op


def hidden_state_mismatches(path: Path) -> tuple[int, list[str]]:
    lines = iter_lines(path.read_text(encoding="utf-8"))
    _, header = next(lines)
    params = parse_header(header)
    model = ModelImpl(params)
    pa = model.heap.alloc_state
    compared, out = 0, []
    for number, text in lines:
        model.apply(parse_op(text, number, params.version))
        go = json.loads(text).get("go_state")
        if go is None:
            continue
        compared += 1
        hint = None if pa.search_page == pa.geometry.no_free_page else pa.search_page
        force, bg = pa.scav.force_cursor, pa.scav.background_cursor
        mine = {
            "search_page": hint,
            "force_cursor": force.page,
            "force_marked": force.marked and force.page is not None,
            "bg_cursor": bg.page,
            "bg_marked": bg.marked and bg.page is not None,
        }
        if mine != go:
            out.append(f"{path.name} line {number}: model {mine}, runtime {go}")
    return compared, out


def test_search_hint_and_scavenge_cursor_match_the_runtime() -> None:
    total = 0
    for path in bundled_traces():
        compared, mismatches = hidden_state_mismatches(path)
        assert not mismatches, mismatches[:5]
        total += compared
    assert total > 10_000
