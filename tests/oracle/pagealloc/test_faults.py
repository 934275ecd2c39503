"""The oracle finds bugs: each fault of fast.faults, switched on, is found within a bounded campaign.

For every fault: one Hypothesis run of at most FAULT_BOUND test cases (fixed
seed, no example database) must fail; the failure must be written as a
trace that `python -m oracle replay FILE --impl fast` reproduces with the
fault on (same line, op, expected and got as the oracle's message) and that
replays cleanly against the model, whose expects it holds. One run shrinks,
to show that failures are written shrunk.

Hypothesis also draws constants found in every local module imported so far
(its providers' local-constant pool), so the examples a seed gives would
depend on which tests ran before in the same process; these tests pin that
pool empty, so each bound means the same in any order or selection.
"""

from __future__ import annotations

from pathlib import Path

import hypothesis.internal.conjecture.providers as providers
import pytest

from fast.faults import ALL_FAULTS, FLUSH_DROPS_SCAVENGED
from oracle.pagealloc.fuzz import run_once
from oracle.pagealloc.replay import replay
from oracle.pagealloc.trace import load
from tests.helpers import fast_with

FAULT_BOUND = 150  # test cases; every fault is found in under 100 with these seeds (see the report)


@pytest.fixture(autouse=True)
def no_local_constants(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(providers, "_get_local_constants", providers.Constants)


def words(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("fault", sorted(ALL_FAULTS))
def test_campaign_finds_the_fault(fault: str, tmp_path: Path) -> None:
    result = run_once(
        "fast",
        "exact",
        max_examples=FAULT_BOUND,
        steps=50,
        seed=2024,
        failures_dir=tmp_path,
        options=fast_with(fault),
        shrink=False,
    )
    failure = result.failure
    assert failure is not None, f"{fault} not found in {FAULT_BOUND} test cases"
    assert result.first_failure_example is not None and result.first_failure_example <= FAULT_BOUND
    assert failure.reproduces, failure.message
    report = replay(failure.path, "fast", options=fast_with(fault))
    assert report.mismatch is not None
    assert words(report.mismatch.describe()) in words(failure.message)  # the same words, maybe indented
    assert replay(failure.path, "model").ok
    assert replay(failure.path, "fast").ok  # without the fault, fast agrees with every expect


def test_failures_are_shrunk(tmp_path: Path) -> None:
    result = run_once(
        "fast",
        "exact",
        max_examples=FAULT_BOUND,
        steps=50,
        seed=2025,
        failures_dir=tmp_path,
        options=fast_with(FLUSH_DROPS_SCAVENGED),
        shrink_seconds=8,
    )
    assert result.failure is not None
    trace = load(result.failure.path)
    # grow, cache_fill, cache_flush and the probe that shows the lost scavenged bits
    assert len(trace.ops) <= 6, [op.describe() for op in trace.ops]
    assert any(op.kind == "cache_flush" for op in trace.ops)
