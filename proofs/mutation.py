"""Seeded model bugs: textual mutations of one model function, run against the proofs in a copy.

A Mutant names a file of model/, a function in it (a qualified name such as
`PageAlloc.alloc_range`, or "" for module-level code), a pattern that must
occur exactly once in that function's source, and its replacement; `also` may add edits in other
functions for the rare bug that is one mistake made in two places (a layout
misread in both pack and unpack). A pattern that does not occur exactly
once, or a result that does not compile, is a MutantError: a rule never
applies silently as a no-op or somewhere else.

A mutant is run in a temporary copy of model/ and proofs/ with the mutation
applied there; the working tree is never written. A child interpreter
(`python -m proofs.child`) with the copy first on its path imports the
mutated model and runs the named proofs, and reports each ProofResult as a
JSON line; it refuses to run if `model` does not come from the copy. The
negative control of every proof is one of these mutants (proofs.runner),
and `python -m proofs --mutants` runs them all (proofs.mutants holds the
set).
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import attrs

from proofs.core import DEFAULT_PROOF_SECONDS, ProofResult

ROOT = Path(__file__).resolve().parent.parent
COPIED = ("model", "proofs")
STARTUP_SECONDS = 60.0  # allowance for the child interpreter on top of the proofs' own budget


class MutantError(Exception):
    """A mutant that does not apply: no such file or function, or a pattern not there exactly once."""


@attrs.frozen
class Edit:
    """Replace the one occurrence of `pattern` in `function` (qualified name) of `file`."""

    file: str
    function: str
    pattern: str
    replacement: str


@attrs.frozen
class Mutant:
    """A seeded single-point bug, and the proof that claims the property it breaks."""

    name: str
    file: str
    function: str
    pattern: str
    replacement: str
    proof: str
    bug: str
    also: tuple[Edit, ...] = ()

    @property
    def edits(self) -> tuple[Edit, ...]:
        return (Edit(self.file, self.function, self.pattern, self.replacement), *self.also)


def function_span(source: str, qualname: str) -> tuple[int, int]:
    """Character offsets [start, end) of the definition of `qualname` (e.g. `Class.method`) in source;
    the empty name is the whole module (for a module-level table)."""
    if not qualname:
        return 0, len(source)
    tree = ast.parse(source)
    parts = qualname.split(".")
    body: list[ast.stmt] = tree.body
    node: ast.AST | None = None
    for part in parts:
        kinds = ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef
        node = next((n for n in body if isinstance(n, kinds) and n.name == part), None)
        if node is None:
            raise MutantError(f"no definition {qualname!r}")
        body = node.body  # type: ignore[attr-defined]
    assert node is not None and hasattr(node, "lineno") and node.end_lineno is not None  # type: ignore[attr-defined]
    lines = source.splitlines(keepends=True)
    start = sum(len(line) for line in lines[: node.lineno - 1])  # type: ignore[attr-defined]
    end = sum(len(line) for line in lines[: node.end_lineno])  # type: ignore[attr-defined]
    return start, end


def apply_edit(source: str, edit: Edit) -> str:
    """The source with the edit made inside its function; MutantError unless it applies exactly once."""
    start, end = function_span(source, edit.function)
    body = source[start:end]
    count = body.count(edit.pattern)
    if count != 1:
        raise MutantError(
            f"{edit.file}: pattern {edit.pattern!r} occurs {count} times in {edit.function}, not exactly once"
        )
    mutated = source[:start] + body.replace(edit.pattern, edit.replacement) + source[end:]
    try:
        compile(mutated, edit.file, "exec")
    except SyntaxError as e:
        raise MutantError(f"{edit.file}: the mutated {edit.function} does not compile: {e}") from None
    return mutated


def mutate_sources(sources: dict[str, str], mutant: Mutant) -> dict[str, str]:
    """The changed files (path relative to the project root -> text) of a mutant."""
    out: dict[str, str] = {}
    for edit in mutant.edits:
        text = out.get(edit.file, sources.get(edit.file))
        if text is None:
            raise MutantError(f"mutant {mutant.name}: no file {edit.file}")
        try:
            out[edit.file] = apply_edit(text, edit)
        except MutantError as e:
            raise MutantError(f"mutant {mutant.name}: {e}") from None
    return out


def check_applies(mutant: Mutant) -> None:
    """Raise MutantError if the mutant does not apply to the working tree's files."""
    files = {e.file for e in mutant.edits}
    sources = {f: (ROOT / f).read_text(encoding="utf-8") for f in files if (ROOT / f).is_file()}
    mutate_sources(sources, mutant)


@contextmanager
def mutated_copy(mutant: Mutant | None) -> Iterator[Path]:
    """A temporary directory holding model/ and proofs/ with the mutant applied (none: as they are)."""
    with tempfile.TemporaryDirectory(prefix="proofs-mutant-") as tmp:
        root = Path(tmp)
        for package in COPIED:
            shutil.copytree(ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
        if mutant is not None:
            files = {e.file for e in mutant.edits}
            sources = {f: (root / f).read_text(encoding="utf-8") for f in files if (root / f).is_file()}
            for path, text in mutate_sources(sources, mutant).items():
                (root / path).write_text(text, encoding="utf-8")
        yield root


def run_in_copy(
    mutant: Mutant | None,
    names: Sequence[str],
    seconds: float = DEFAULT_PROOF_SECONDS,
    stop_at_refutation: bool = False,
) -> list[ProofResult]:
    """Run the named proofs (as proofs, not controls) on a copy of the model with the mutant applied.

    With stop_at_refutation the child stops after the first proof that ends
    in a counterexample. A child that dies or hangs yields `error` results
    for the proofs it did not report."""
    with mutated_copy(mutant) as root:
        command = [sys.executable, "-m", "proofs.child", "--seconds", str(seconds), *names]
        if stop_at_refutation:
            command.insert(3, "--stop-at-refutation")
        env = dict(os.environ, PYTHONPATH=str(root), PYTHONDONTWRITEBYTECODE="1")
        limit = STARTUP_SECONDS + seconds * max(1, len(names))
        try:
            done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=limit)
            lines, problem = done.stdout.splitlines(), (done.stderr.strip().splitlines() or [""])[-1]
            if done.returncode not in (0, 1):
                problem = f"the child exited with {done.returncode}: {problem}"
        except subprocess.TimeoutExpired as e:
            lines = (e.stdout.decode() if isinstance(e.stdout, bytes) else e.stdout or "").splitlines()
            problem = f"the child ran past {limit:.0f}s"
    results = [ProofResult(**json.loads(line)) for line in lines if line.startswith("{")]
    reported = {r.name for r in results}
    if not stop_at_refutation or not any(r.status == "counterexample" for r in results):
        for name in names:
            if name not in reported:
                note = problem or "no result from the child"
                results.append(ProofResult(name, "proof", "error", 0.0, "", None, note))
    return results
