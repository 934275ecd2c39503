"""The model as an Implementation (oracle.pagealloc.protocol.ModelImpl): what it refuses, and that a refusal changes nothing."""

from __future__ import annotations

import pytest

from model.errors import InvalidOperation
from oracle.pagealloc.protocol import ModelImpl
from oracle.pagealloc.state import model_state
from oracle.pagealloc.trace import Op, Params

PARAMS_386 = Params(512, 1, 0, 2, arch="386")


@pytest.mark.parametrize(
    ("kind", "args"),
    [
        ("grow", {"chunk": 0, "nchunks": 1}),  # address 0: never mapped on 386
        ("grow", {"chunk": 1022, "nchunks": 2}),  # the top chunk's limit wraps to 0
        ("alloc", {"npages": 524288}),  # as many pages as the whole 32-bit address space
        ("scavenge", {"npages": 1 << 20}),
    ],
)
def test_an_op_outside_the_platform_address_space_is_refused(kind: str, args: dict[str, int]) -> None:
    """A generated or shrunk stream meets the address-space rule as a refusal (a trace file's reader: exit 2)."""
    model = ModelImpl(PARAMS_386)
    model.apply(Op("grow", {"chunk": 1, "nchunks": 1}, None, 2))
    before = model_state(model.heap)
    with pytest.raises(InvalidOperation, match="address space"):
        model.apply(Op(kind, args, None, 3))
    assert model_state(model.heap) == before


def test_the_same_ops_are_allowed_on_amd64() -> None:
    model = ModelImpl(Params(512, 1, 0, 2))
    assert model.apply(Op("grow", {"chunk": 0, "nchunks": 1}, None, 2)) is None
    assert model.apply(Op("alloc", {"npages": 524288}, None, 3)) == {"page": None, "scav": 0}
