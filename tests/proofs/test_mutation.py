"""Seeded model bugs: rules that apply exactly once, in a copy of the model, and the --mutants command."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from proofs import __main__ as cli
from proofs import mutants, runner
from proofs.mutation import ROOT, Edit, Mutant, MutantError, apply_edit, check_applies, mutated_copy
from proofs.registry import PROOFS

SOURCE = '''"""A module."""

TABLE = {1: 2}


def f(x):
    return x + 1


class C:
    def g(self, x):
        if x:
            return x + 1
        return 0
'''


def test_an_edit_applies_inside_its_function_only() -> None:
    assert "return x - 1" in apply_edit(SOURCE, Edit("m.py", "f", "x + 1", "x - 1"))
    mutated = apply_edit(SOURCE, Edit("m.py", "C.g", "x + 1", "x + 2"))
    assert "return x + 1\n\n\nclass" in mutated and "return x + 2" in mutated
    assert "{1: 3}" in apply_edit(SOURCE, Edit("m.py", "", "{1: 2}", "{1: 3}"))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (Edit("m.py", "f", "x + 2", "x"), "occurs 0 times"),
        (Edit("m.py", "", "x + 1", "x"), "occurs 2 times"),
        (Edit("m.py", "h", "x", "y"), "no definition"),
        (Edit("m.py", "C.g", "return x + 1", "return x +"), "does not compile"),
    ],
)
def test_an_edit_that_does_not_apply_exactly_once_is_an_error(edit: Edit, message: str) -> None:
    with pytest.raises(MutantError, match=message):
        apply_edit(SOURCE, edit)


def test_the_set_is_sound_as_data() -> None:
    names = [m.name for m in mutants.every()]
    assert len(names) == len(set(names))
    proofs = {p.name: p for p in PROOFS}
    assert {m.proof for m in mutants.every()} == set(proofs)
    for proof in PROOFS:
        claimed = mutants.for_proof(proof.name)
        assert len(claimed) >= 3, proof.name
        assert proof.control in {m.name for m in claimed}, proof.name
    for mutant in mutants.every():
        check_applies(mutant)
        assert mutant.bug and all(e.file.startswith("model/") for e in mutant.edits)


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*.py")):
        h.update(path.read_bytes())
    return h.hexdigest()


def test_a_copy_holds_the_bug_and_the_working_tree_does_not() -> None:
    mutant = mutants.by_name()["merge_end_one_short"]
    before = _digest(ROOT / "model")
    with mutated_copy(mutant) as copy:
        text = (copy / "model" / "summary.py").read_text(encoding="utf-8")
        assert "a_end + b_width - 1" in text
        assert (copy / "proofs" / "registry.py").is_file()
    assert _digest(ROOT / "model") == before
    assert "a_end + b_width - 1" not in (ROOT / "model" / "summary.py").read_text(encoding="utf-8")


def test_the_child_refuses_to_judge_the_working_tree(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "proofs.child", "fill_aligned"], cwd=tmp_path, capture_output=True, text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "not from" in done.stderr


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "proofs", *args], capture_output=True, text=True, timeout=1800)


@pytest.mark.z3
def test_a_quick_subset_of_the_seeded_bugs_is_refuted() -> None:
    quick = ["pack_fields_swapped", "fill_aligned_constant_16", "summarize_word_stops_on_x", "barrier_without_insertion"]
    done = _cli("--mutants", "--json", *quick)
    assert done.returncode == 0, done.stdout + done.stderr
    data = json.loads(done.stdout)
    assert data["refuted"] == data["total"] == len(quick)
    assert [m["name"] for m in data["mutants"]] == quick
    assert all(m["status"] == "refuted" and m["counterexample"] for m in data["mutants"])
    assert done.stderr.count("refuted by") == len(quick)


@pytest.mark.z3
def test_a_surviving_bug_fails_the_command(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A bug in pack, claimed by fill_aligned: fill_aligned proves it, pack_roundtrip refutes it."""
    misfiled = Mutant(
        "misfiled", "model/summary.py", "pack_triple",
        "return words.ite(most == geometry.max_packed, PACKED_FULL_BIT, fields)", "return fields",
        "fill_aligned", "a bug the proof named does not cover",
    )
    monkeypatch.setattr(mutants, "MUTANTS", (misfiled,))
    assert cli.main(["--mutants", "--jobs", "1", "misfiled"]) == 1
    out = capsys.readouterr()
    assert "SURVIVED fill_aligned" in out.err and "refuted by pack_roundtrip" in out.err
    assert "score: 0/1" in out.out


def test_bad_names_and_the_listing() -> None:
    assert _cli("--mutants", "no_such_bug").returncode == 2
    listing = _cli("--list-mutants")
    assert listing.returncode == 0
    assert len(listing.stdout.splitlines()) == len(mutants.every())
    assert runner.select_mutants(["merge_assoc"]) == mutants.for_proof("merge_assoc")


@pytest.mark.z3
@pytest.mark.slow
def test_every_seeded_bug_is_refuted_by_the_proof_that_claims_it() -> None:
    done = _cli("--mutants", "--json")
    data = json.loads(done.stdout)
    survivors = [m["name"] for m in data["mutants"] if m["status"] != "refuted"]
    assert survivors == [] and done.returncode == 0
