"""fast/'s page allocator takes from model/ only the shared types, and is never on by default with faults."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import fast
from fast import faults
from fast.heap import FastPageHeap

SHARED = {"model.results", "model.errors", "model.geometry"}
PAGE_ALLOCATOR_MODULES = ["__init__", "bitmap", "faults", "heap", "serve", "state", "summary"]


@pytest.mark.parametrize("name", PAGE_ALLOCATOR_MODULES)
def test_imports_from_model_are_shared_types_only(name: str) -> None:
    path = Path(fast.__file__).parent / f"{name}.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    from_model = {m for m in imported if m == "model" or m.startswith("model.")}
    assert from_model <= SHARED, f"fast/{name}.py imports {sorted(from_model - SHARED)}"
    assert not {m for m in imported if m == "oracle" or m.startswith("oracle.")}
    assert ast.get_docstring(tree), f"fast/{name}.py has no module docstring"


def test_no_fault_is_on_by_default() -> None:
    assert faults.FAULTS == set()
    assert FastPageHeap().faults == frozenset()
    with faults.injected(faults.HINT_TOO_FAR):
        assert FastPageHeap().fault_hint
    assert not FastPageHeap().fault_hint
    with pytest.raises(ValueError, match="unknown fault"):
        faults.check_names(["no_such_fault"])
