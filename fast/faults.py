"""Injected faults: deliberate bugs that tests switch on to show the oracle finds them.

A fault is a name in ALL_FAULTS. A FastPageHeap is given its faults when it
is built (`FastPageHeap(..., faults=frozenset({...}))`, `python -m fast.serve
--fault NAME`, `python -m oracle fuzz --fault NAME`) and hands each, as a
plain boolean, to the one mechanism it breaks; a heap built with none pays
nothing for this, and nothing in fast/ ever switches one on by itself.

  merge_width_off_by_one   merging a row of children left to right, the width
                           merged so far is taken one child short when
                           deciding whether the free run at the start goes on
                           into the next child (Go's mergeSummaries with
                           i-1 for i)                          (fast.tree)
  missed_level_update      a free that spans more than one chunk does not
                           re-merge the level just above the leaves (fast.tree)
  flush_drops_scavenged    a cache flush gives the pages back to the heap but
                           forgets their scavenged bits        (fast.pagecache)
  hint_too_far             after a tree search the search hint moves to the end
                           of the allocation, past any free page the search saw
                           before it (a hole too small for the request)
                                                               (fast.pagealloc)
"""

from __future__ import annotations

from collections.abc import Iterable

MERGE_WIDTH_OFF_BY_ONE = "merge_width_off_by_one"
MISSED_LEVEL_UPDATE = "missed_level_update"
FLUSH_DROPS_SCAVENGED = "flush_drops_scavenged"
HINT_TOO_FAR = "hint_too_far"

ALL_FAULTS: frozenset[str] = frozenset(
    {MERGE_WIDTH_OFF_BY_ONE, MISSED_LEVEL_UPDATE, FLUSH_DROPS_SCAVENGED, HINT_TOO_FAR}
)


def check_names(names: Iterable[str]) -> frozenset[str]:
    """The names as a set, refusing any that is not a known fault."""
    chosen = frozenset(names)
    unknown = chosen - ALL_FAULTS
    if unknown:
        raise ValueError(f"unknown fault(s) {sorted(unknown)}; known: {sorted(ALL_FAULTS)}")
    return chosen
