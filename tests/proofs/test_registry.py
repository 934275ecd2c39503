"""Every proof of the registry (proofs.registry.PROOFS, what `python -m proofs` runs) is proved, and its
negative control refuted with a counterexample: one generic runner for all proof modules, page allocator,
marking and pacing alike."""

from __future__ import annotations

import pytest

from proofs import pagealloc, scavenge, tree
from proofs.core import Proof
from proofs.registry import MODULES, PROOFS
from proofs.runner import run_one

# The proofs that take more than about 10 s with their control on this machine.
SLOW = {p.name for module in (pagealloc, scavenge, tree) for p in module.PROOFS} | {
    "merge_concat",
    "cache_roundtrip",
    "pacer_goal_covers_roots",  # ten GOGC values, about 15 s with the control
    "pacer_limit_binds",  # likewise
}


@pytest.mark.z3
@pytest.mark.parametrize(
    "proof", [pytest.param(p, id=p.name, marks=[pytest.mark.slow] if p.name in SLOW else []) for p in PROOFS]
)
def test_proved_and_control_refuted(proof: Proof) -> None:
    proved = run_one(proof, "proof")
    assert proved.status == "proved", proved.note or proved.counterexample
    control = run_one(proof, "control")
    assert control.status == "counterexample", control.note
    assert control.counterexample


def test_every_proof_module_is_registered_and_names_are_unique() -> None:
    assert len({p.name for p in PROOFS}) == len(PROOFS)
    assert {m.__name__ for m in MODULES} >= {"proofs.summary", "proofs.bitmap", "proofs.tree", "proofs.gc.barrier"}
    assert set(SLOW) <= {p.name for p in PROOFS}
