"""Run proofs and their negative controls; importable, with no side effects until called.

`run(names, progress)` runs each named proof (all by default, in registry
order) and then its control, and returns one ProofResult per run. The
`oracle` package calls it from its default job; `python -m proofs` prints it.

A proof runs in this process on the working tree's model. Its control is the
seeded bug the proof names (proofs.mutants): the same proof runs in a child
interpreter on a temporary copy of the model with that bug applied
(proofs.mutation), and passes when it ends in a counterexample.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from typing import Any

import attrs

from proofs import mutants
from proofs.core import DEFAULT_PROOF_SECONDS, Deadline, Kind, Outcome, Proof, ProofResult, discharge_all
from proofs.mutation import MutantError, run_in_copy
from proofs.registry import PROOFS, by_name

Progress = Callable[[str], None]


class UnknownProof(KeyError):
    """A name that is not a proof in the registry."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown proof"


def select(names: Sequence[str] | None) -> list[Proof]:
    if not names:
        return list(PROOFS)
    table = by_name()
    unknown = [n for n in names if n not in table]
    if unknown:
        raise UnknownProof(f"unknown proof name(s): {', '.join(unknown)}; known: {', '.join(table)}")
    seen: list[str] = []
    for n in names:
        if n not in seen:
            seen.append(n)
    return [table[n] for n in seen]


def run_one(proof: Proof, kind: Kind, seconds: float = DEFAULT_PROOF_SECONDS) -> ProofResult:
    """Run a proof (kind "proof", on the model as imported) or its control (kind "control",
    on a copy of the model holding the proof's seeded bug)."""
    if kind == "control":
        return run_control(proof, seconds)
    began = time.monotonic()
    try:
        outcome = discharge_all(proof.check(), Deadline(seconds))
    except Exception as e:  # the code under proof (or the proof) raised: report, don't crash the run
        outcome = Outcome("error", f"{type(e).__name__}: {e}")
    elapsed = time.monotonic() - began
    counterexample = outcome.detail if outcome.status == "counterexample" else None
    note = None if outcome.status == "counterexample" else outcome.detail
    return ProofResult(proof.name, kind, outcome.status, elapsed, proof.statement, counterexample, note)


def run_control(proof: Proof, seconds: float = DEFAULT_PROOF_SECONDS) -> ProofResult:
    """The proof's obligations on a copy of the model holding its control's seeded bug."""
    name = f"{proof.name}_control"
    began = time.monotonic()
    try:
        mutant = mutants.by_name()[proof.control]
        result = run_in_copy(mutant, [proof.name], seconds)[0]
    except (KeyError, MutantError) as e:
        return ProofResult(name, "control", "error", 0.0, proof.statement, None, f"control {proof.control}: {e}")
    elapsed = time.monotonic() - began
    return ProofResult(name, "control", result.status, elapsed, proof.statement, result.counterexample, result.note)


def default_jobs() -> int:
    """One job per CPU, at most 2 (the suite is sized for a 2-core machine)."""
    return max(1, min(2, os.cpu_count() or 1))


def _fork_context() -> Any:
    try:
        return multiprocessing.get_context("fork")
    except ValueError:  # no fork on this platform: run sequentially
        return None


def _task(name: str, kind: Kind, seconds: float) -> ProofResult:
    return run_one(by_name()[name], kind, seconds)


def run(
    names: Sequence[str] | None = None,
    progress: Progress | None = None,
    seconds_per_proof: float = DEFAULT_PROOF_SECONDS,
    jobs: int | None = None,
) -> list[ProofResult]:
    """Run the named proofs (all when None or empty) and their controls.

    Raises UnknownProof before running anything if a name is not a proof.
    `progress`, if given, receives one line per proof once it and its
    control have run. With jobs > 1 (default: default_jobs()), proofs and
    controls run in that many forked worker processes; results come back in
    registry order, proof then control, whatever the order they finish in.
    """
    proofs = select(names)
    workers = default_jobs() if jobs is None else max(1, jobs)
    context = _fork_context() if workers > 1 else None
    done: dict[tuple[str, Kind], ProofResult] = {}
    reported: list[str] = []

    def record(result: ProofResult, name: str, kind: Kind) -> None:
        done[(name, kind)] = result
        if progress is not None and (name, "proof") in done and (name, "control") in done:
            reported.append(name)
            progress(progress_line(len(reported), len(proofs), done[(name, "proof")], done[(name, "control")]))

    kinds: tuple[Kind, Kind] = ("proof", "control")
    if context is None:
        for proof in proofs:
            for kind in kinds:
                record(run_one(proof, kind, seconds_per_proof), proof.name, kind)
    else:
        order = sorted(proofs, key=lambda p: -p.expected_seconds)
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {
                pool.submit(_task, proof.name, kind, seconds_per_proof): (proof, kind)
                for proof in order
                for kind in kinds
            }
            for future in as_completed(futures):
                proof, kind = futures[future]
                try:
                    result = future.result()
                except Exception as e:  # a worker died: report it as this run's error
                    name = proof.name if kind == "proof" else f"{proof.name}_control"
                    result = ProofResult(name, kind, "error", 0.0, proof.statement, None, f"worker failed: {e!r}")
                record(result, proof.name, kind)
    return [done[(p.name, kind)] for p in proofs for kind in kinds]


def progress_line(number: int, total: int, proof: ProofResult, control: ProofResult) -> str:
    verdict = "ok" if proof.passed and control.passed else "FAILED"
    control_text = "refuted" if control.passed else f"NOT refuted ({control.status})"
    return (
        f"[{number}/{total}] {proof.name}: {proof.status} in {proof.seconds:.1f}s, "
        f"control {control_text} in {control.seconds:.1f}s: {verdict}"
    )


def suite_passed(results: Sequence[ProofResult]) -> bool:
    """Every proof proved and every control refuted (and something ran)."""
    return bool(results) and all(r.passed for r in results)


# Seeded bugs (`python -m proofs --mutants`).


@attrs.frozen
class MutantResult:
    """What the proofs made of one seeded bug: refuted by the proof that claims it, or not."""

    name: str
    proof: str
    bug: str
    status: str  # "refuted", "survived" (the claiming proof did not refute it), "error"
    seconds: float
    counterexample: str | None = None
    note: str | None = None
    also_refuted_by: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.status == "refuted"

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "proof": self.proof,
            "bug": self.bug,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "counterexample": self.counterexample,
            "note": self.note,
            "also_refuted_by": list(self.also_refuted_by),
        }


def select_mutants(names: Sequence[str] | None) -> list[mutants.Mutant]:
    """All seeded bugs, or those named (a mutant's name, or a proof's for every bug it claims)."""
    if not names:
        return list(mutants.every())
    table, proofs = mutants.by_name(), by_name()
    unknown = [n for n in names if n not in table and n not in proofs]
    if unknown:
        raise UnknownProof(f"unknown proof or mutant name(s): {', '.join(unknown)}")
    chosen: list[mutants.Mutant] = []
    for n in names:
        for m in [table[n]] if n in table else mutants.for_proof(n):
            if m not in chosen:
                chosen.append(m)
    return chosen


def run_mutant(mutant: mutants.Mutant, seconds: float = DEFAULT_PROOF_SECONDS) -> MutantResult:
    """Run the proof that claims the bug on a copy of the model holding it; if that proof does not
    refute it, run the other proofs to report whether any does."""
    began = time.monotonic()
    try:
        claimed = run_in_copy(mutant, [mutant.proof], seconds)[0]
    except MutantError as e:
        return MutantResult(mutant.name, mutant.proof, mutant.bug, "error", 0.0, None, str(e))
    if claimed.status == "counterexample":
        elapsed = time.monotonic() - began
        return MutantResult(mutant.name, mutant.proof, mutant.bug, "refuted", elapsed, claimed.counterexample)
    others = [p.name for p in PROOFS if p.name != mutant.proof]
    rest = run_in_copy(mutant, others, seconds, stop_at_refutation=True)
    refuters = tuple(r.name for r in rest if r.status == "counterexample")
    note = f"{mutant.proof}: {claimed.status}" + (f" ({claimed.note})" if claimed.note else "")
    elapsed = time.monotonic() - began
    return MutantResult(mutant.name, mutant.proof, mutant.bug, "survived", elapsed, None, note, refuters)


def run_mutants(
    names: Sequence[str] | None = None,
    progress: Progress | None = None,
    seconds_per_proof: float = DEFAULT_PROOF_SECONDS,
    jobs: int | None = None,
) -> list[MutantResult]:
    """Run the named seeded bugs (all by default); results in table order. Each runs in its own
    child interpreter, so `jobs` threads only wait on them."""
    chosen = select_mutants(names)
    workers = default_jobs() if jobs is None else max(1, jobs)
    done: dict[str, MutantResult] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(run_mutant, m, seconds_per_proof): m for m in chosen}
        for future in as_completed(futures):
            mutant = futures[future]
            try:
                result = future.result()
            except Exception as e:  # the runner itself failed for this mutant: report it, go on
                result = MutantResult(mutant.name, mutant.proof, mutant.bug, "error", 0.0, None, repr(e))
            done[mutant.name] = result
            if progress is not None:
                progress(mutant_line(len(done), len(chosen), result))
    return [done[m.name] for m in chosen]


def mutant_line(number: int, total: int, result: MutantResult) -> str:
    if result.passed:
        verdict = f"refuted by {result.proof} in {result.seconds:.1f}s"
    elif result.status == "error":
        verdict = f"ERROR: {result.note}"
    else:
        refuters = ", ".join(result.also_refuted_by)
        others = f"; refuted by {refuters}" if refuters else "; no proof refutes it"
        verdict = f"SURVIVED {result.proof} ({result.note}){others}"
    return f"[{number}/{total}] {result.name}: {verdict}"
