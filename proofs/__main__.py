"""`python -m proofs [--json] [NAME ...]`: run the proofs and their negative controls.
`python -m proofs --mutants [--json] [NAME ...]`: run the seeded model bugs against the proofs.

A progress line per proof (or per seeded bug) goes to stderr; a table (or,
with --json, one JSON object) goes to stdout. Exit codes: 0 every proof
proved and every control refuted (with --mutants: every bug refuted by the
proof that claims it), 1 otherwise, 2 an unknown name or a bad option.
With --mutants a NAME is a seeded bug's name or a proof's (all the bugs it
claims); --list-mutants prints the set and runs nothing. As every command
of the project: a usage error is one line on stderr (exit 2), and a closed
output pipe (`... | head`) ends the command quietly.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import NoReturn

from proofs import mutants
from proofs.core import ProofResult
from proofs.registry import PROOFS
from proofs.runner import MutantResult, UnknownProof, run, run_mutants, suite_passed

COUNTEREXAMPLE_WIDTH = 70


class Parser(argparse.ArgumentParser):
    """argparse with a usage error on one line, `python -m proofs: <what is wrong>`, exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message}\n")


def jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"{text!r}: must be from 1 to 64")
    return value


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = Parser(
        prog="python -m proofs",
        description="Z3 proofs of the page allocator model's invariants, each with a negative control.",
        epilog="proofs: " + ", ".join(p.name for p in PROOFS),
    )
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help="run only these proofs (with --mutants: bugs or proofs; default: all)"
    )
    parser.add_argument(
        "--mutants", action="store_true", help="apply each seeded model bug to a copy of the model and run its proof"
    )
    parser.add_argument("--list-mutants", action="store_true", help="list the seeded bugs and their proofs")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument(
        "--jobs", type=jobs, default=None, help="proofs run in parallel, 1 to 64 (default: one per CPU, at most 2)"
    )
    return parser.parse_args(argv)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def table(results: Sequence[ProofResult]) -> str:
    bugs = mutants.by_name()
    controls = {f"{p.name}_control": bugs[p.control].bug if p.control in bugs else p.control for p in PROOFS}
    rows = [("name", "states", "result", "seconds", "counterexample")]
    for r in results:
        verdict = r.status if r.passed else f"{r.status} (FAIL)"
        states = r.statement if r.kind == "proof" else f"control: {controls.get(r.name) or 'a seeded bug'}"
        detail = r.counterexample or (r.note if r.status in ("unknown", "error") else "") or ""
        rows.append((r.name, states, verdict, f"{r.seconds:.2f}", _clip(detail, COUNTEREXAMPLE_WIDTH)))
    return _render(rows)


def mutant_table(results: Sequence[MutantResult]) -> str:
    rows = [("seeded bug", "proof", "result", "seconds", "counterexample")]
    for r in results:
        verdict = "refuted" if r.passed else f"{r.status} (FAIL)"
        detail = r.counterexample or r.note or ""
        rows.append((r.name, r.proof, verdict, f"{r.seconds:.2f}", _clip(detail, COUNTEREXAMPLE_WIDTH)))
    return _render(rows)


def _render(rows: list[tuple[str, str, str, str, str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for number, row in enumerate(rows):
        cells = [cell.ljust(widths[i]) if i < len(widths) else cell for i, cell in enumerate(row)]
        cells[3] = row[3].rjust(widths[3])
        lines.append("  ".join(cells).rstrip())
        if number == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * len(rows[0][-1]))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly, without a second error when Python flushes at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _main(argv: Sequence[str] | None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    began = time.monotonic()

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    if args.list_mutants:
        for m in mutants.every():
            print(f"{m.name:<40} {m.proof:<22} {m.file}:{m.function or '(module)'}  {m.bug}")
        return 0
    if args.mutants:
        return _main_mutants(args, progress, began)
    try:
        results = run(args.names or None, progress, jobs=args.jobs)
    except UnknownProof as e:
        print(f"python -m proofs: {e}", file=sys.stderr)
        return 2
    passed = suite_passed(results)
    if args.json:
        print(json.dumps({"results": [r.as_json() for r in results]}, indent=2))
    else:
        print(table(results))
        proofs = [r for r in results if r.kind == "proof"]
        controls = [r for r in results if r.kind == "control"]
        print(
            f"\n{sum(r.passed for r in proofs)}/{len(proofs)} proved, "
            f"{sum(r.passed for r in controls)}/{len(controls)} controls refuted, "
            f"{time.monotonic() - began:.1f}s: {'all passed' if passed else 'FAILED'}"
        )
    return 0 if passed else 1


def _main_mutants(args: argparse.Namespace, progress: Callable[[str], None], began: float) -> int:
    try:
        results = run_mutants(args.names or None, progress, jobs=args.jobs)
    except UnknownProof as e:
        print(f"python -m proofs: {e}", file=sys.stderr)
        return 2
    refuted = sum(r.passed for r in results)
    if args.json:
        print(json.dumps({"mutants": [r.as_json() for r in results], "refuted": refuted, "total": len(results)},
                         indent=2))
    else:
        print(mutant_table(results))
        print(
            f"\nscore: {refuted}/{len(results)} seeded bugs refuted by the proof that claims them, "
            f"{time.monotonic() - began:.1f}s: {'all refuted' if refuted == len(results) else 'FAILED'}"
        )
    return 0 if results and refuted == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
