"""Seeded pacing bugs, each judged by the Go conformance traces and by the state machine.

A seeded bug is one textual edit of one model function (proofs.mutation's
Mutant: a pattern that occurs exactly once in the function, its
replacement). The set is the pacing proofs' own (proofs/gc/pacer.py MUTANTS,
each the control of a proof or refuted by one) plus EXTRA, bugs in rules no
Z3 proof states (the periodic trigger, the heap minimum's scaling, the
scavenger's retain extra, the sweep distance after sweeping).

Each bug is applied to a temporary copy of model/ (proofs.mutation's
mutated_copy, so the working tree is never written), and two judges run in
a child interpreter that imports the mutated model and the working tree's
oracle:

  go       `python -m oracle pacer-replay --no-invariants` on every bundled
           trace recorded from the live runtime (exit 1: a line where the
           mutated model's prediction differs from what Go decided; the
           invariants are left to the machine, so this judge is Go alone);
  machine  `python -m oracle pacer-fuzz` for a few seconds (exit 1: an
           invariant broke; its trace is the evidence).

Before any bug, an unmutated copy must pass both judges and must be the
model the child imports (else the runner refuses: a judge that passes the
unmutated model but imports the working tree would prove nothing).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import attrs

from oracle.common.errors import UsageError
from proofs.gc.pacer import MUTANTS as PROOF_MUTANTS
from proofs.mutation import Mutant, mutated_copy

PACER = "model/gc/pacer.py"
SCAVGOAL = "model/gc/scavgoal.py"
STARTUP_SECONDS = 60.0  # allowance for a child interpreter on top of its own work

EXTRA: tuple[Mutant, ...] = (
    Mutant(
        "periodic_ignores_gogc_off", PACER, "Pacer.time_trigger_fires", "            and self.gc_percent >= 0\n", "",
        "", "the periodic trigger fires with GOGC=off",
    ),
    Mutant(
        "heap_minimum_unscaled", PACER, "heap_minimum", "return udiv(wrap(DEFAULT_HEAP_MINIMUM * as_uint64), 100)",
        "return DEFAULT_HEAP_MINIMUM", "", "the heap minimum is 4 MiB whatever GOGC is",
    ),
    Mutant(
        "retain_extra_dropped", SCAVGOAL, "gc_percent_retained_goal",
        "goal = wrap(goal + goal // (100 // RETAIN_EXTRA_PERCENT))", "goal = wrap(goal)",
        "", "the scavenger's GOGC goal keeps no 10% extra for the allocator",
    ),
    Mutant(
        "sweep_distance_when_swept", PACER, "sweep_distance_trigger", "if sweep_done:", "if not sweep_done:",
        "", "the sweep distance applies when sweeping is done instead of while it is not",
    ),
)

SEEDED: tuple[Mutant, ...] = (*PROOF_MUTANTS, *EXTRA)


def by_name() -> dict[str, Mutant]:
    return {m.name: m for m in SEEDED}


@attrs.frozen
class Verdict:
    """What one judge made of one seeded bug."""

    caught: bool
    seconds: float
    where: str  # the first failing line or invariant, or why it was not caught


@attrs.frozen
class Result:
    mutant: Mutant
    go: Verdict
    machine: Verdict

    @property
    def claimed_by(self) -> str:
        return self.mutant.proof or "-"


def _child(root: Path, args: Sequence[str], timeout: float) -> tuple[int, str]:
    """Run `python -m oracle ARGS` importing the model of `root`; its exit status and its output."""
    env = dict(os.environ, PYTHONPATH=str(root), PYTHONDONTWRITEBYTECODE="1")
    try:
        done = subprocess.run([sys.executable, "-m", "oracle", *args], cwd=root, env=env, capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return -1, f"ran past {timeout:.0f} s"
    return done.returncode, (done.stdout + done.stderr).strip()


def _model_of(root: Path) -> str:
    env = dict(os.environ, PYTHONPATH=str(root), PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run([sys.executable, "-c", "import model.gc.pacer as p; print(p.__file__)"], cwd=root,
                          env=env, capture_output=True, text=True, timeout=STARTUP_SECONDS)
    return done.stdout.strip()


def _first_failure(output: str) -> str:
    """The evidence in a judge's output: the trace, line and first problem, or the machine's seed and
    broken invariant."""
    lines = output.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("pacer-fuzz:") and "BROKEN" in line:
            seed = line.rsplit("(", 1)[-1].rstrip("):")
            detail = lines[i + 1].strip() if i + 1 < len(lines) else ""
            return f"{seed}: {detail}"[:240]
        if any(word in line for word in ("MISMATCH", "OUT OF BOUNDS", "INVARIANT BROKEN")):
            trace = Path(line.split(":", 1)[0]).name
            rest = lines[i + 1:i + 3]
            where = rest[0].split(":", 1)[0] if rest else ""
            detail = rest[1].strip() if len(rest) > 1 else ""
            return f"{trace} {where}: {detail}"[:240]
    return (lines[-1] if lines else "")[:240]


def judge(root: Path, traces: Sequence[Path], machine_seconds: float) -> tuple[Verdict, Verdict]:
    """Both judges on the model in `root`."""
    began = time.monotonic()
    code, out = _child(root, ["pacer-replay", "--no-invariants", *map(str, traces)],
                       STARTUP_SECONDS + 30 * len(traces))
    go = Verdict(code == 1, time.monotonic() - began, _first_failure(out) if code == 1 else f"exit {code}")
    began = time.monotonic()
    code, out = _child(root, ["pacer-fuzz", "--seconds", f"{machine_seconds:g}"],
                       STARTUP_SECONDS + 2 * machine_seconds + 60)
    machine = Verdict(code == 1, time.monotonic() - began, _first_failure(out) if code == 1 else f"exit {code}")
    return go, machine


def run(
    names: Sequence[str] | None, traces: Sequence[Path], machine_seconds: float,
    progress: Callable[[str], None] | None = None,
) -> list[Result]:
    """Every named seeded bug (all by default) under both judges, after the unmutated control."""
    table = by_name()
    unknown = [n for n in names or () if n not in table]
    if unknown:
        raise UsageError(f"unknown seeded bug(s) {', '.join(unknown)}; known: {', '.join(table)}")
    chosen = [table[n] for n in names] if names else list(SEEDED)
    with mutated_copy(None) as root:
        where = _model_of(root)
        if not where.startswith(str(root)):
            raise UsageError(f"a child imports the model from {where or '(nothing)'}, not from the copy {root}")
        go, machine = judge(root, traces, machine_seconds)
        if go.caught or machine.caught:
            raise UsageError(f"the unmutated model fails its own judges: go {go.where}; machine {machine.where}")
    results = []
    for number, mutant in enumerate(chosen, start=1):
        with mutated_copy(mutant) as root:
            go, machine = judge(root, traces, machine_seconds)
        result = Result(mutant, go, machine)
        results.append(result)
        if progress is not None:
            progress(f"[{number}/{len(chosen)}] {mutant.name}: go {'caught' if go.caught else 'missed'} in "
                     f"{go.seconds:.1f}s, machine {'caught' if machine.caught else 'missed'} in {machine.seconds:.1f}s")
    return results
