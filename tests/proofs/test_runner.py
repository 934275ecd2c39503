"""The Z3 proofs: every proof proved, every control refuted, and the runner's own failure modes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
import z3

from proofs import runner
from proofs.core import Check, Claim, Obligation, Proof, ProofResult
from proofs.registry import PROOFS
from proofs.symbolic import VacuousAssumptions, explore

REQUIRED = (
    "pack_roundtrip",
    "summarize_word",
    "merge_concat",
    "merge_assoc",
    "find_bit_range64",
    "alloc_free_bits",
    "scav_disjoint",
    "cache_roundtrip",
    "fill_aligned",
    "scavenge_candidate",
    "tree_find_first_fit",
)


@pytest.fixture(scope="module")
def results() -> list[ProofResult]:
    return runner.run()


def test_every_required_proof_is_registered() -> None:
    names = [p.name for p in PROOFS]
    assert set(REQUIRED) <= set(names)
    assert len(names) == len(set(names))


def test_every_proof_is_proved(results: list[ProofResult]) -> None:
    proofs = {r.name: r for r in results if r.kind == "proof"}
    assert set(proofs) == {p.name for p in PROOFS}
    failed = {n: (r.status, r.note or r.counterexample) for n, r in proofs.items() if r.status != "proved"}
    assert failed == {}


def test_every_control_is_refuted(results: list[ProofResult]) -> None:
    controls = {r.name: r for r in results if r.kind == "control"}
    assert set(controls) == {f"{p.name}_control" for p in PROOFS}
    not_refuted = {n: (r.status, r.note) for n, r in controls.items() if r.status != "counterexample"}
    assert not_refuted == {}
    assert all(r.counterexample for r in controls.values())


def test_results_come_in_registry_order_and_the_suite_passes(results: list[ProofResult]) -> None:
    expected = [name for p in PROOFS for name in (p.name, f"{p.name}_control")]
    assert [r.name for r in results] == expected
    assert runner.suite_passed(results)


# The runner's failure modes, on tiny proofs.


def _words_are_equal(impl: object) -> Iterator[Obligation]:
    x = z3.BitVec("x", 64)
    yield Claim("x & impl == x", x & impl == x, show=[("x", x)])  # type: ignore[operator]


ALL_ONES = (1 << 64) - 1


def test_a_control_that_proves_fails_the_run() -> None:
    """A proof whose 'broken' variant is right: the control proves, so the run must fail."""
    vacuous = Proof("vacuous", "x & all ones == x", _words_are_equal, ALL_ONES, ALL_ONES)
    proof = runner.run_one(vacuous, "proof")
    control = runner.run_one(vacuous, "control")
    assert proof.status == "proved" and proof.passed
    assert control.name == "vacuous_control"
    assert control.status == "proved" and not control.passed
    assert not runner.suite_passed([proof, control])


def test_a_refuted_control_and_a_failed_proof() -> None:
    proof = Proof("wrong", "x & impl == x", _words_are_equal, ALL_ONES - 1, ALL_ONES - 2)
    result = runner.run_one(proof, "proof")
    assert result.status == "counterexample" and not result.passed
    assert result.counterexample is not None and "x=" in result.counterexample
    control = runner.run_one(proof, "control")
    assert control.status == "counterexample" and control.passed
    assert not runner.suite_passed([result, control])


def test_running_out_of_time_is_unknown_and_fails() -> None:
    def slow(impl: object) -> Iterator[Obligation]:
        a, b = z3.BitVecs("a b", 64)
        yield Claim("multiplication commutes", a * b * a == a * a * b)

    result = runner.run_one(Proof("slow", "", slow, None, None), "proof", seconds=0.0)
    assert result.status == "unknown" and not result.passed


def test_code_that_raises_is_an_error() -> None:
    def raising(impl: object) -> Iterator[Obligation]:
        yield Check("fine", lambda: None)
        raise RuntimeError("boom")

    result = runner.run_one(Proof("raising", "", raising, None, None), "proof")
    assert result.status == "error" and "boom" in (result.note or "")


def test_contradictory_assumptions_are_not_a_proof() -> None:
    def vacuous(impl: object) -> Iterator[Obligation]:
        x = z3.BitVec("x", 64)
        yield Claim("anything from x < 0 unsigned", x == 1, assumptions=[z3.ULT(x, 0)])

    result = runner.run_one(Proof("vacuous", "", vacuous, None, None), "proof")
    assert result.status == "error" and "vacuous" in (result.note or "")


def test_exploration_covers_both_branches_and_refuses_vacuous_assumptions() -> None:
    x = z3.BitVec("x", 64)

    def branchy() -> int:
        return 1 if x > 5 else 0

    paths = explore(branchy, [z3.ULT(x, 10)])
    assert sorted(p.value for p in paths) == [0, 1]
    with pytest.raises(VacuousAssumptions):
        explore(branchy, [z3.ULT(x, 0)])


def test_unknown_names_are_refused() -> None:
    with pytest.raises(runner.UnknownProof):
        runner.run(["no_such_proof"])


# The command line.


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "proofs", *args], capture_output=True, text=True, timeout=300)


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


def test_table_output_and_unknown_name_exit_code() -> None:
    done = _cli("merge_assoc")
    assert done.returncode == 0, done.stderr
    assert "merge_assoc_control" in done.stdout and "counterexample" in done.stdout
    assert "1/1 proved, 1/1 controls refuted" in done.stdout
    bad = _cli("merge_assoc", "no_such_proof")
    assert bad.returncode == 2
    assert "no_such_proof" in bad.stderr


def test_the_command_fails_when_a_control_is_not_refuted(monkeypatch: pytest.MonkeyPatch) -> None:
    from proofs import __main__ as cli

    vacuous = Proof("vacuous", "x & all ones == x", _words_are_equal, ALL_ONES, ALL_ONES)
    monkeypatch.setattr(runner, "PROOFS", (vacuous,))
    monkeypatch.setattr(runner, "by_name", lambda: {"vacuous": vacuous})
    assert cli.main(["--jobs", "1"]) == 1
