"""Run proofs and their negative controls; importable, with no side effects until called.

`run(names, progress)` runs each named proof (all by default, in registry
order) and then its control, and returns one ProofResult per run. The
`oracle` package calls it from its default job; `python -m proofs` prints it.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from proofs.core import DEFAULT_PROOF_SECONDS, Deadline, Kind, Outcome, Proof, ProofResult, discharge_all
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
    """Run a proof (kind "proof", the model's implementation) or its control (the broken one)."""
    impl = proof.model if kind == "proof" else proof.broken
    name = proof.name if kind == "proof" else f"{proof.name}_control"
    began = time.monotonic()
    try:
        outcome = discharge_all(proof.check(impl), Deadline(seconds))
    except Exception as e:  # the code under proof (or the proof) raised: report, don't crash the run
        outcome = Outcome("error", f"{type(e).__name__}: {e}")
    elapsed = time.monotonic() - began
    counterexample = outcome.detail if outcome.status == "counterexample" else None
    note = None if outcome.status == "counterexample" else outcome.detail
    return ProofResult(name, kind, outcome.status, elapsed, proof.statement, counterexample, note)


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
