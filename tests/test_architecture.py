"""The architecture, checked on every module there is (globbed, never listed by hand).

  * no import cycle anywhere in model/, fast/, proofs/, oracle/;
  * no import inside a function unless a comment on that line says why;
  * the layering: model/ imports nothing of the other three; fast/ only
    model/'s shared types and tables; proofs/ only model/; oracle/ never
    fast/'s internals but through the adapters;
  * every module has a design comment (a docstring) atop it, and one over
    LONG_MODULE lines says in it why it is one piece;
  * code, docstrings and command help do not point at documents outside
    the repository.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("model", "fast", "proofs", "oracle")
LONG_MODULE = 550
# fast/ computes everything itself; from model/ it takes only values both sides share.
FAST_MAY_IMPORT = {
    "model.errors",
    "model.results",
    "model.geometry",
    # The background scavenger's pacing: a few float64 steps per wake, which fast/ runs as the model has them.
    "model.scavenger",
    # Go's size-class tables and the span arithmetic derived from them (fast/gc/mark.py).
    "model.gc.results",
    "model.gc.sizeclasses",
    "model.gc.spanclass",
}


def modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


MODULES = modules()
TREES = {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in MODULES.items()}


def imported(name: str) -> set[str]:
    """The project modules a module imports: `from a import b` counts as a.b when a.b is a module."""
    out = set()
    for node in ast.walk(TREES[name]):
        if isinstance(node, ast.Import):
            out |= {alias.name for alias in node.names if alias.name.split(".")[0] in PACKAGES}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.split(".")[0] not in PACKAGES:
                continue
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                out.add(full if full in MODULES else node.module)
    return {m for m in out if m != name}


def test_modules_are_found() -> None:
    assert len(MODULES) > 60
    assert "oracle.pagealloc.lockstep" in MODULES and "model.gc.mark" in MODULES


def test_no_import_cycles() -> None:
    graph = {name: imported(name) & set(MODULES) for name in MODULES}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


def test_imports_inside_functions_say_why() -> None:
    bad = []
    for name, tree in TREES.items():
        lines = MODULES[name].read_text(encoding="utf-8").splitlines()
        for func in ast.walk(tree):
            if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(func):
                if isinstance(node, ast.Import | ast.ImportFrom) and "#" not in lines[node.lineno - 1]:
                    bad.append(f"{MODULES[name].relative_to(ROOT)}:{node.lineno}")
    assert not bad, f"imports inside functions without a comment saying why: {bad}"


def test_layering() -> None:
    problems = []
    for name in MODULES:
        top = name.split(".")[0]
        deps = imported(name)
        other = {d for d in deps if d.split(".")[0] != top}
        if top == "model" and other:
            problems.append(f"{name} imports {sorted(other)}")
        if top == "fast":
            wrong = {d for d in other if d not in FAST_MAY_IMPORT}
            if wrong:
                problems.append(f"{name} imports {sorted(wrong)}")
        if top == "proofs":
            wrong = {d for d in other if d.split(".")[0] != "model"}
            if wrong:
                problems.append(f"{name} imports {sorted(wrong)}")
    assert not problems, problems


def test_every_module_explains_itself() -> None:
    missing, long_unexplained = [], []
    for name, tree in TREES.items():
        doc = ast.get_docstring(tree)
        if not doc:
            missing.append(name)
        lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
        if lines > LONG_MODULE and (not doc or "one piece" not in doc):
            long_unexplained.append(f"{name} ({lines} lines)")
    assert not missing, f"modules without a design comment: {missing}"
    assert not long_unexplained, f"long modules that do not say why they are one piece: {long_unexplained}"


OUTSIDE = re.compile(r"\b(the seed(?:'s| document| documents)|the issue|issue \d+|\bseed docs?\b)", re.IGNORECASE)


@pytest.mark.parametrize("package", PACKAGES)
def test_no_pointers_to_documents_outside_the_repository(package: str) -> None:
    hits = []
    for path in sorted((ROOT / package).rglob("*")):
        if path.suffix not in (".py", ".go"):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if OUTSIDE.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not hits, hits
