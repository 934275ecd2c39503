"""The runner and the command line: every proof registered and run in order, and the run's failure modes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import attrs
import pytest
import z3

from proofs import __main__ as cli
from proofs import bitmap as bitmap_proofs
from proofs import runner
from proofs.core import Check, Claim, Obligation, Proof
from proofs.registry import PROOFS, by_name

REQUIRED = (
    "pack_roundtrip",
    "summarize_word",
    "merge_concat",
    "merge_assoc",
    "find_bit_range64",
    "alloc_free_bits",
    "fill_aligned",
    "chunk_search",
    "cache_roundtrip",
    "cache_first_held",
    "scav_disjoint",
    "scavenge_candidate",
    "scavenge_huge_pages",
    "tree_find_first_fit",
    "search_hint",
    "write_barrier",
)


def test_every_required_proof_is_registered_once() -> None:
    names = [p.name for p in PROOFS]
    assert set(REQUIRED) <= set(names)
    assert len(names) == len(set(names))
    assert by_name()["search_hint"].doc.startswith("Every operation")


def _false_claim() -> Iterator[Obligation]:
    x = z3.BitVec("x", 64)
    yield Claim("x & 0xfe == x", x & 0xFE == x, show=[("x", x)])


def test_a_failed_proof_reports_a_counterexample() -> None:
    result = runner.run_one(Proof("wrong", "x & 0xfe == x", _false_claim, "pack_without_full_case"), "proof")
    assert result.status == "counterexample" and not result.passed
    assert result.counterexample is not None and "x=" in result.counterexample
    assert not runner.suite_passed([result])


@pytest.mark.z3
def test_a_control_that_proves_fails_the_run() -> None:
    """fill_aligned's obligations against a bug in pack: they still prove, so the control fails."""
    unrelated = attrs.evolve(bitmap_proofs.FILL_ALIGNED, control="pack_without_full_case")
    control = runner.run_one(unrelated, "control")
    assert control.name == "fill_aligned_control" and control.kind == "control"
    assert control.status == "proved" and not control.passed
    proof = runner.run_one(unrelated, "proof")
    assert proof.passed and not runner.suite_passed([proof, control])


def test_a_control_naming_no_seeded_bug_is_an_error() -> None:
    control = runner.run_one(attrs.evolve(bitmap_proofs.FILL_ALIGNED, control="no_such_bug"), "control")
    assert control.status == "error" and "no_such_bug" in (control.note or "")


def test_running_out_of_time_is_unknown_and_fails() -> None:
    def slow() -> Iterator[Obligation]:
        a, b = z3.BitVecs("a b", 64)
        yield Claim("multiplication commutes", a * b * a == a * a * b)

    result = runner.run_one(Proof("slow", "", slow, ""), "proof", seconds=0.0)
    assert result.status == "unknown" and not result.passed


def test_code_that_raises_is_an_error() -> None:
    def raising() -> Iterator[Obligation]:
        yield Check("fine", lambda: None)
        raise RuntimeError("boom")

    result = runner.run_one(Proof("raising", "", raising, ""), "proof")
    assert result.status == "error" and "boom" in (result.note or "")


def test_contradictory_assumptions_are_not_a_proof() -> None:
    def vacuous() -> Iterator[Obligation]:
        x = z3.BitVec("x", 64)
        yield Claim("anything from x < 0 unsigned", x == 1, assumptions=[z3.ULT(x, 0)])

    result = runner.run_one(Proof("vacuous", "", vacuous, ""), "proof")
    assert result.status == "error" and "vacuous" in (result.note or "")


def test_unknown_names_are_refused() -> None:
    with pytest.raises(runner.UnknownProof):
        runner.run(["no_such_proof"])
    with pytest.raises(runner.UnknownProof):
        runner.select_mutants(["no_such_bug"])


# The command line.


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "proofs", *args], capture_output=True, text=True, timeout=600)


@pytest.mark.z3
def test_json_output_shape() -> None:
    done = _cli("--json", "pack_roundtrip", "fill_aligned")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert list(data) == ["results"]
    rows = data["results"]
    assert [r["name"] for r in rows] == [
        "pack_roundtrip",
        "pack_roundtrip_control",
        "fill_aligned",
        "fill_aligned_control",
    ]
    for row in rows:
        assert {"name", "kind", "status", "seconds"} <= set(row)
        assert row["kind"] in ("proof", "control")
        assert row["status"] == ("proved" if row["kind"] == "proof" else "counterexample")
        assert isinstance(row["seconds"], (int, float)) and row["seconds"] >= 0
    assert "[1/2]" in done.stderr and "[2/2]" in done.stderr


@pytest.mark.z3
def test_table_output_and_unknown_name_exit_code() -> None:
    done = _cli("merge_assoc")
    assert done.returncode == 0, done.stderr
    assert "merge_assoc_control" in done.stdout and "counterexample" in done.stdout
    assert "one page short" in done.stdout  # the control's seeded bug, in words
    assert "1/1 proved, 1/1 controls refuted" in done.stdout
    bad = _cli("merge_assoc", "no_such_proof")
    assert bad.returncode == 2
    assert "no_such_proof" in bad.stderr


@pytest.mark.z3
def test_the_command_fails_when_a_control_is_not_refuted(monkeypatch: pytest.MonkeyPatch) -> None:
    unrelated = attrs.evolve(bitmap_proofs.FILL_ALIGNED, control="pack_without_full_case")
    monkeypatch.setattr(runner, "PROOFS", (unrelated,))
    monkeypatch.setattr(runner, "by_name", lambda: {"fill_aligned": unrelated})
    assert cli.main(["--jobs", "1"]) == 1


def test_usage_errors_are_one_line_and_a_closed_pipe_is_quiet() -> None:
    for args in (["--jobs", "0"], ["--no-such-option"]):
        done = _cli(*args)
        assert done.returncode == 2
        assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("python -m proofs: ")
    piped = subprocess.run(
        f"{sys.executable} -m proofs --list-mutants | head -1", shell=True, capture_output=True, text=True, timeout=120
    )
    assert len(piped.stdout.splitlines()) == 1 and "Error" not in piped.stderr
