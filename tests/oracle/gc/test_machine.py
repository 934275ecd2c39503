"""The Hypothesis GC machine: with the hybrid barrier every check holds; without either half it loses an object."""

from __future__ import annotations

import pytest

from model.gc.barrier import BARRIERS, HYBRID, NO_DELETION, NO_INSERTION
from oracle.cli import main
from oracle.common.errors import TraceError
from oracle.gc.machine import check_hybrid, hunt, make_machine
from oracle.gc.replay import replay_text

# Hypothesis draws a fixed number of examples per seed; the runs are deterministic.
HYBRID_SEEDS = (0, 1)
HYBRID_EXAMPLES = 120


def test_the_hybrid_barrier_passes_every_check() -> None:
    assert check_hybrid(HYBRID_SEEDS, HYBRID_EXAMPLES) is None


def test_the_hybrid_barrier_never_loses_an_object_in_the_small_world() -> None:
    assert hunt(HYBRID, seeds=(0, 1), examples=60) is None


@pytest.mark.parametrize("barrier", [NO_INSERTION, NO_DELETION], ids=["no-insertion", "no-deletion"])
def test_removing_half_the_barrier_loses_an_object(barrier: object, capsys: pytest.CaptureFixture[str]) -> None:
    found = hunt(barrier)  # type: ignore[arg-type]
    assert found is not None
    assert "lost object" in found.message and "is reachable" in found.message
    # shrunk: a 1-minimal trace of a handful of steps, which loses the object under the broken barrier only
    assert found.steps <= 12
    failure = replay_text(found.trace, barrier, tricolor=False).failure  # type: ignore[arg-type]
    assert failure is not None and any(v.startswith("lost object") for v in failure.violations)
    # Under the full hybrid barrier the same steps lose nothing. The barrier may shade more and so queue
    # more work, which makes the trace's mark_done come too early: refused, still with nothing lost.
    try:
        hybrid = replay_text(found.trace, HYBRID)
    except TraceError as e:
        assert "still queued" in e.message, e.message
    else:
        assert hybrid.ok, hybrid.failure
    with capsys.disabled():
        print(
            f"\nshortest lost-object trace without the {'insertion' if barrier is NO_INSERTION else 'deletion'} "
            f"half (seed {found.seed}, {found.steps} steps):\n{found.trace}"
        )


def test_gc_fuzz_prints_the_trace(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    out = f"{tmp_path}/lost.jsonl"
    assert main(["gc-fuzz", "--barrier", "none", "--out", out]) == 1
    printed = capsys.readouterr().out
    assert "lost an object" in printed and '"trace": "gc"' in printed
    assert main(["gc-replay", out, "--barrier", "none", "--lost-only"]) == 1


def test_machine_names() -> None:
    assert make_machine(BARRIERS["no-deletion"]).__name__ == "GcCycles_no_deletion"
