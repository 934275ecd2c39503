"""Go's bug history re-injected (oracle.golive.historic): each bug is a go-mutants rule, and the README lists each."""

from __future__ import annotations

from pathlib import Path

from oracle.golive import historic, mutants

README = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")


def test_every_historic_bug_is_a_named_mutant_on_its_platform() -> None:
    names = {m.name: m for m in mutants.MUTANTS}
    for bug in historic.HISTORIC:
        assert names[bug.mutation.name] is bug.mutation
        assert bug.shape.startswith(("original", "closest")), bug.mutation.name
        assert bug.issue.startswith("https://github.com/golang/go/issues/")
    assert {b.mutation.arch for b in historic.HISTORIC} == {"amd64", "386"}


def test_the_readme_table_names_every_historic_bug_and_every_unreachable_one() -> None:
    for bug in historic.HISTORIC:
        number = bug.issue.rsplit("/", 1)[1]
        assert f"[golang/go#{number}]({bug.issue})" in README, number
        assert bug.mutation.name in README
    for issue in historic.UNREACHABLE:
        assert f"golang/go#{issue.rsplit('/', 1)[1]}" in README, issue
