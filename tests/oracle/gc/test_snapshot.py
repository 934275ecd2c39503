"""The heap snapshot format and `python -m oracle mark`: output, agreement of impls, bad input."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from model.gc.results import HeapSpec, ObjectSpec
from oracle.cli import main
from oracle.gc import snapshot as gc_snapshot

HEAP = {
    "heap": "gc",
    "version": 1,
    "objects": [
        {"id": 1, "size": 16, "noscan": False, "ptrs": {"0": 2, "8": 3}},
        {"id": 2, "size": 32, "noscan": True},
        {"id": 3, "size": 640, "noscan": False, "ptrs": {"0": 4, "632": None}},
        {"id": 4, "size": 300000, "noscan": False, "ptrs": {"0": None, "140000": 5, "262144": 4}},
        {"id": 5, "size": 16, "noscan": True, "ptrs": {}},
        {"id": 6, "size": 16, "noscan": False, "ptrs": {"0": 7, "8": 6}},
        {"id": 7, "size": 16, "noscan": True},
        {"id": 8, "size": 24, "noscan": True, "extra": "ignored"},
    ],
    "roots": [1],
    "finalizers": [6],
}
# scans: 1 (2 words), 3 (8-byte header, then slot 632 ends at byte 648: 81 words), 4 in three oblets (1 + 1117 + 1 words), 6 as a root (2 words)
EXPECTED = {"marked": [1, 2, 3, 4, 5, 7], "freed": [8], "finalize": [6], "scanned_words": 2 + 81 + 1119 + 2}


def write(tmp_path: Path, doc: object, name: str = "heap.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


@pytest.mark.parametrize("impl", ["model", "fast"])
def test_mark_json(tmp_path: Path, capsys: pytest.CaptureFixture[str], impl: str) -> None:
    assert main(["mark", str(write(tmp_path, HEAP)), "--impl", impl, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == EXPECTED


def test_mark_extended_and_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mark", str(write(tmp_path, HEAP)), "--impl", "fast", "--json", "--extended", "--compare"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out) == {**EXPECTED, "scan_items": 6, "slots_scanned": 9}
    assert "agrees with the model" in out.err


def test_mark_human_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mark", str(write(tmp_path, HEAP))]) == 0
    assert "marked 6, freed 1, finalize 1, scanned words 1,204" in capsys.readouterr().out


def test_string_ids_sort(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = {"heap": "gc", "version": 1, "roots": ["b"], "objects": [
        {"id": "b", "size": 8, "noscan": False, "ptrs": {"0": "a"}},
        {"id": "a", "size": 16, "noscan": True},
        {"id": "c", "size": 16, "noscan": True},
    ]}
    assert main(["mark", str(write(tmp_path, doc)), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"marked": ["a", "b"], "freed": ["c"], "finalize": [],
                                                   "scanned_words": 1}


def test_dump_and_load_round_trip() -> None:
    spec = HeapSpec((ObjectSpec("x", 16, False, ((0, "y"), (8, None))), ObjectSpec("y", 16, True)), ("x",), ("y",))
    assert gc_snapshot.loads(gc_snapshot.dumps(spec)) == spec
    assert gc_snapshot.parse(gc_snapshot.to_doc(spec)) == spec


def bad(change: dict[str, object] | None = None, objects: list[object] | None = None) -> dict[str, object]:
    doc = json.loads(json.dumps(HEAP))
    if objects is not None:
        doc["objects"] = objects
    doc.update(change or {})
    return doc


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("{not json", "invalid JSON"),
        ('{"heap": "gc", "heap": "gc"}', "duplicate key"),
        (bad({"heap": "pagealloc"}), '"heap" must be "gc"'),
        (bad({"version": 2}), '"version" must be 1'),
        (bad({"objects": {}}), '"objects" must be a list'),
        (bad({"roots": [9]}), "roots\\[0\\]: unknown id 9"),
        (bad({"roots": [True]}), "roots\\[0\\]: an id must be"),
        (bad({"finalizers": [6, 6]}), "already has a finalizer"),
        (bad(objects=[{"id": 1, "size": 16}]), "objects\\[0\\]: missing field 'noscan'"),
        (bad(objects=[{"id": 1, "size": "16", "noscan": True}]), "objects\\[0\\] \\(id 1\\): size must be an integer"),
        (bad(objects=[{"id": 1, "size": 16.0, "noscan": True}]), "size must be an integer"),
        (bad(objects=[{"id": 1, "size": 0, "noscan": True}]), "at least 1 byte"),
        (bad({"roots": []}, objects=[{"id": 1, "size": 12, "noscan": True}]), "tiny allocator"),
        (bad({"roots": []}, objects=[{"id": 1, "size": 12, "noscan": False, "ptrs": {"0": None}}]), "multiple of 8"),
        (bad(objects=[{"id": 1, "size": 16, "noscan": "no"}]), "noscan must be true or false"),
        (bad({"roots": []}, objects=[{"id": 1, "size": 16, "noscan": False, "ptrs": {"08": None}}]), "decimal"),
        (bad({"roots": []}, objects=[{"id": 1, "size": 16, "noscan": False, "ptrs": {"4": None}}]), "multiple of 8"),
        (bad({"roots": []}, objects=[{"id": 1, "size": 16, "noscan": False, "ptrs": {"0": 5}}]), "unknown id 5"),
        (bad({"roots": []}, objects=[{"id": 1, "size": 16, "noscan": True, "ptrs": {"0": None}}]), "no pointer slots"),
        (bad({"roots": []}, objects=[{"id": 1, "size": 16, "noscan": False}]), "at least one pointer slot"),
        (bad({"roots": []}, objects=[{"id": -1, "size": 16, "noscan": True}]), "objects\\[0\\].id"),
    ],
)
def test_bad_snapshots_exit_2_naming_the_place(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], doc: object, message: str
) -> None:
    path = write(tmp_path, doc)
    for impl in ("model", "fast"):
        assert main(["mark", str(path), "--impl", impl, "--json"]) == 2
        out = capsys.readouterr()
        assert out.out == ""
        assert str(path) in out.err
        assert re.search(message, out.err), out.err


def test_missing_file_and_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mark", str(tmp_path / "nope.json")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["mark", str(write(tmp_path, HEAP)), "--impl", "rust"]) == 2
    (tmp_path / "latin1.json").write_bytes(b'{"heap": "\xe9"}')
    assert main(["mark", str(tmp_path / "latin1.json")]) == 2
    assert "not UTF-8" in capsys.readouterr().err
