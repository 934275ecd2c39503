"""oracle/gc/machine.py: with the hybrid barrier every check holds; without either half it loses an object."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, Phase, settings

from model.gc.barrier import BARRIERS, HYBRID, NO_DELETION, NO_INSERTION, Barrier
from oracle.cli import main
from oracle.common.errors import TraceError
from oracle.gc.machine import (
    SMALL_LAYOUTS,
    SMALL_MUTATORS,
    SMALL_WORLD,
    GcCycles,
    MachineConfig,
    check_hybrid,
    hunt,
    machine_class,
    run_seed,
)
from oracle.gc.replay import replay_text

# Hypothesis draws a fixed number of examples per seed; the runs are deterministic.
HYBRID_SEEDS = (0, 1)
HYBRID_EXAMPLES = 120


@pytest.mark.slow
def test_the_hybrid_barrier_passes_every_check() -> None:
    assert check_hybrid(HYBRID_SEEDS, HYBRID_EXAMPLES) is None


def test_the_hybrid_barrier_never_loses_an_object_in_the_small_world() -> None:
    assert hunt(HYBRID, seeds=(0, 1), examples=60) is None


@pytest.mark.slow
@pytest.mark.parametrize("barrier", [NO_INSERTION, NO_DELETION], ids=["no-insertion", "no-deletion"])
def test_removing_half_the_barrier_loses_an_object(barrier: Barrier) -> None:
    found = hunt(barrier)
    assert found is not None
    assert "lost object" in found.message and "is reachable" in found.message and "trace:" not in found.message
    # shrunk: a 1-minimal trace of a handful of steps, which loses the object under the broken barrier only
    assert found.steps <= 12 and found.steps < found.found.count("\n") - 1
    failure = replay_text(found.trace, barrier, tricolor=False).failure
    assert failure is not None and any(v.startswith("lost object") for v in failure.violations)
    # Under the full hybrid barrier the same steps lose nothing. The barrier may shade more and so queue
    # more work, which makes the trace's mark_done come too early: refused, still with nothing lost.
    try:
        hybrid = replay_text(found.trace, HYBRID)
    except TraceError as e:
        assert "still queued" in e.message, e.message
    else:
        assert hybrid.ok, hybrid.failure


def test_a_failure_carries_its_trace_and_the_log_keeps_it(capsys: pytest.CaptureFixture[str]) -> None:
    config = MachineConfig(BARRIERS["none"], True, SMALL_WORLD, SMALL_LAYOUTS, finalizers=False,
                           mutators=SMALL_MUTATORS)
    run = settings(max_examples=100, stateful_step_count=30, deadline=None, database=None,
                   suppress_health_check=list(HealthCheck), print_blob=False, phases=[Phase.generate])
    machine = machine_class(config)
    failure = next(f for f in (run_seed(machine, run, s) for s in range(10)) if f is not None)
    assert failure is not None and failure.what == "weak tricolor invariant"
    assert failure.trace == config.log.last_failure and failure.trace.startswith('{"trace": "gc"')
    assert config.log.examples > 0
    assert not replay_text(failure.trace, BARRIERS["none"]).ok  # the trace shows the failure on replay
    assert capsys.readouterr().out == ""  # Hypothesis's report of the failing example is not printed


def test_gc_fuzz_prints_the_trace(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    out = f"{tmp_path}/lost.jsonl"
    assert main(["gc-fuzz", "--barrier", "none", "--out", out]) == 1
    printed = capsys.readouterr().out
    assert "lost an object" in printed and '"trace": "gc"' in printed
    assert main(["gc-replay", out, "--barrier", "none", "--lost-only"]) == 1


def test_machine_classes() -> None:
    machine = machine_class(MachineConfig(BARRIERS["no-deletion"]))
    assert machine.__name__ == "GcCycles_no_deletion" and issubclass(machine, GcCycles)
    assert machine.config.barrier is NO_DELETION and not hasattr(GcCycles, "config")
    # configurations do not share their logs
    assert machine_class(MachineConfig()).config.log is not machine.config.log
