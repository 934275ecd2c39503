"""proofs/summary.py: pack_roundtrip (amd64), pack_roundtrip_386, summarize_word, merge_concat, merge_assoc, each with
its control."""

from __future__ import annotations

import attrs
import pytest

from model.geometry import AMD64, ARCHES, I386
from proofs import summary
from proofs.mutants import by_name, for_proof
from proofs.mutation import run_in_copy


@pytest.mark.z3
def test_the_layout_claim_is_what_catches_a_consistently_swapped_pair() -> None:
    """With start and end swapped in both pack and unpack the round trip still holds; only the
    bit-by-bit layout claim refutes it."""
    result = run_in_copy(by_name()["pack_fields_swapped"], ["pack_roundtrip"])[0]
    assert result.status == "counterexample"
    assert "Go's layout" in (result.counterexample or "")


def test_pack_is_proved_on_each_platform() -> None:
    names = [p.name for p in summary.PROOFS]
    assert "pack_roundtrip" in names and "pack_roundtrip_386" in names
    assert I386 not in summary.PACK_GEOMETRIES and AMD64 in summary.PACK_GEOMETRIES  # 386 has its own proof
    assert summary.PACK_386.control in {m.name for m in for_proof("pack_roundtrip_386")}


def test_the_written_out_layouts_pin_each_platform() -> None:
    assert summary._pinned_layout("386", I386)() is None
    assert summary._pinned_layout("amd64", AMD64)() is None
    wrong = summary._pinned_layout("386", AMD64)()
    assert wrong is not None and "21-bit" in wrong and "18-bit" in wrong
    assert summary.GO_PACKED_LAYOUTS["386"]["end"] == (36, 53)


def test_every_386_root_entry_holds_a_chunk_never_grown() -> None:
    arch = ARCHES["386"]
    assert [summary._never_grown_chunk(arch, root) for root in (0, 1)] == [0, 1023]
    everything = attrs.evolve(arch, first_chunk=0, uintptr_bits=64)  # as if 386 could grow chunks 0 and 1023
    assert [summary._never_grown_chunk(everything, root) for root in (0, 1)] == [None, None]


@pytest.mark.z3
def test_only_the_386_proof_sees_a_field_width_derived_for_amd64() -> None:
    """A geometry that counts amd64's levels for the packed width proves on amd64 and is refuted on 386."""
    amd64, i386 = run_in_copy(by_name()["packed_width_amd64_levels"], ["pack_roundtrip", "pack_roundtrip_386"])
    assert amd64.status == "proved", amd64.counterexample
    assert i386.status == "counterexample" and "18-bit" in (i386.counterexample or "")


@pytest.mark.z3
def test_a_386_heap_growing_chunk_zero_could_be_fully_free() -> None:
    result = run_in_copy(by_name()["arch_386_grows_chunk_zero"], ["pack_roundtrip_386"])[0]
    assert result.status == "counterexample"
    assert "root entry 0" in (result.counterexample or "")
