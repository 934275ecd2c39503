"""The differential state machine: both conformance levels, on good and on broken implementations.

Each run is one bounded Hypothesis run (oracle.pagealloc.fuzz.run_once) with a fixed
seed, no example database and failures written to a temporary folder; a
test that expects a failure checks its kind, its message and its trace.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from model import bitmap
from model.pagealloc import PageAlloc
from model.results import AllocResult
from oracle.pagealloc.adapters import FastImpl
from oracle.pagealloc.fuzz import run_once
from oracle.pagealloc.replay import replay
from oracle.pagealloc.trace import Op, Params, load
from tests.helpers import AcceptsDoubleFree, DoubleHandout, register


def test_fast_conforms_exactly(tmp_path: Path) -> None:
    result = run_once("fast", "exact", max_examples=30, steps=40, seed=11, failures_dir=tmp_path)
    assert result.failure is None, result.failure and result.failure.message
    assert result.steps > 300 and result.examples >= 30


def test_model_conforms_to_itself(tmp_path: Path) -> None:
    result = run_once("model", "exact", max_examples=10, steps=30, seed=12, failures_dir=tmp_path)
    assert result.failure is None, result.failure and result.failure.message


def test_fast_passes_the_safe_level(tmp_path: Path) -> None:
    result = run_once("fast", "safe", max_examples=20, steps=40, seed=13, failures_dir=tmp_path)
    assert result.failure is None, result.failure and result.failure.message


def test_other_placement_passes_safe_but_not_exact(tmp_path: Path) -> None:
    safe = run_once("topdown", "safe", max_examples=15, steps=30, seed=14, failures_dir=tmp_path)
    assert safe.failure is None, safe.failure and safe.failure.message
    exact = run_once("topdown", "exact", max_examples=15, steps=30, seed=14, failures_dir=tmp_path, shrink=False)
    assert exact.failure is not None and exact.failure.kind == "mismatch"


def test_safe_level_catches_a_page_handed_out_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch, "double", DoubleHandout)
    result = run_once("double", "safe", max_examples=200, steps=40, seed=15, failures_dir=tmp_path, shrink=False)
    assert result.failure is not None and result.failure.kind == "safety"
    assert "in use" in result.failure.message or "in the bitmap" in result.failure.message


@pytest.mark.parametrize("level", ["exact", "safe"])
def test_a_missing_refusal_is_a_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, level: str) -> None:
    register(monkeypatch, "lenient", AcceptsDoubleFree)
    result = run_once("lenient", level, max_examples=200, steps=40, seed=16, failures_dir=tmp_path, shrink=False)
    assert result.failure is not None and result.failure.kind == "refusal"
    assert '"op": "free"' in result.failure.message


def test_a_model_bug_is_blamed_on_the_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The regression once seen in the working tree: frees of at most 3 pages skipped the summary update."""

    def free(self: PageAlloc, page: int, npages: int) -> None:
        self.check_free(page, npages)
        if page < self.search_page:
            self.search_page = page
        for chunk, index, count in self.pieces(page, npages):
            bitmap.clear_range(self.chunks[chunk].alloc, index, count)
            self.scav.free(chunk, index, count)
        if npages > 3:
            self.update(page, npages)

    monkeypatch.setattr(PageAlloc, "free", free)
    result = run_once("fast", "exact", max_examples=100, steps=40, seed=17, failures_dir=tmp_path, shrink=False)
    assert result.failure is not None and result.failure.kind == "model"
    assert "the MODEL breaks its own invariants" in result.failure.message
    assert "summaries_match_bitmaps" in result.failure.message


def test_a_mismatch_is_written_as_a_replayable_trace(tmp_path: Path) -> None:
    """topdown differs from the model at once; the shrunk trace replays to the same words."""
    result = run_once("topdown", "exact", max_examples=20, steps=20, seed=18, failures_dir=tmp_path, shrink_seconds=5)
    failure = result.failure
    assert failure is not None and failure.kind == "mismatch" and failure.reproduces
    trace = load(failure.path)
    assert len(trace.ops) <= 4  # shrunk: a grow and an allocation suffice
    report = replay(failure.path, "topdown")
    assert report.mismatch is not None
    assert report.mismatch.describe() in failure.message
    assert replay(failure.path, "model").ok  # the expects are the model's


def test_results_are_plain_values() -> None:
    impl = FastImpl(Params(64, 1, 0, 2))
    impl.apply(Op("grow", {"chunk": 0, "nchunks": 1}))
    assert impl.apply(Op("alloc", {"npages": 3})) == {"page": 0, "scav": 3}
    assert impl.heap.alloc(1) == AllocResult(3, 1)
