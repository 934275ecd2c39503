"""The model's hidden state matches the real runtime's, step by step.

The Go trace generator records, after every line, the runtime's search hint
(searchAddr) and both scavenge cursors (searchAddrForce and searchAddrBg,
with their marks) in a
`go_state` field that trace readers ignore. Results alone would not show a
wrong hint (the hint only speeds up search); this compares them directly.
"""

from __future__ import annotations

from oracle.pagealloc.cli import bundled_traces
from tests.helpers import hidden_state_mismatches


def test_search_hint_and_scavenge_cursor_match_the_runtime() -> None:
    total = 0
    for path in bundled_traces():
        compared, mismatches = hidden_state_mismatches(path)
        assert not mismatches, mismatches[:5]
        total += compared
    assert total > 10_000
