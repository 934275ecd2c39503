"""oracle/gc/spanmachine.py and seeded.py: the span-set invariants hold, and each seeded span-path bug is caught."""

from __future__ import annotations

import pytest

from oracle.gc.replay import replay_text
from oracle.gc.seeded import SEEDED_BUGS, SeededBug, SeededBugError, applied, by_name, caught
from oracle.gc.spanmachine import check


def test_every_check_holds_on_the_model() -> None:
    assert check((0, 1), examples=30, steps=40) is None


@pytest.mark.parametrize("bug", SEEDED_BUGS, ids=[b.name for b in SEEDED_BUGS])
def test_each_seeded_bug_is_caught_and_its_trace_shows_it(bug: SeededBug) -> None:
    failure = caught(bug)
    assert failure is not None and bug.expect in str(failure), failure
    with applied(bug):
        replayed = replay_text(failure.trace).failure
    assert replayed is not None and bug.expect in replayed.describe()
    assert replay_text(failure.trace).ok  # without the bug the same steps hold


def test_a_bug_whose_pattern_is_not_there_exactly_once_is_refused() -> None:
    bug = by_name()["tiny_block_overflow"]
    for pattern in ("no such text", "offset"):
        wrong = SeededBug("x", bug.module, bug.qualname, pattern, "", "", "")
        with pytest.raises(SeededBugError, match="occurs"), applied(wrong):
            pass
    with pytest.raises(SeededBugError, match="has no"), applied(SeededBug("x", bug.module, "nope", "a", "", "", "")):
        pass


def test_applying_restores_the_model() -> None:
    bug = by_name()["tiny_block_kept_at_flush"]
    with applied(bug):
        pass
    assert check((3,), examples=5, steps=30) is None
