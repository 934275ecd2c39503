"""oracle/gc/snapshot.py: the heap snapshot format, read strictly; bad snapshots exit 2 naming the place."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from model.gc.results import HeapSpec, ObjectSpec
from oracle.cli import main
from oracle.common.errors import UsageError
from oracle.gc import snapshot as gc_snapshot
from tests.helpers import GC_HEAP_DOC, write_json


def test_dump_and_load_round_trip() -> None:
    spec = HeapSpec((ObjectSpec("x", 16, False, ((0, "y"), (8, None))), ObjectSpec("y", 16, True)), ("x",), ("y",))
    assert gc_snapshot.loads(gc_snapshot.dumps(spec)) == spec
    assert gc_snapshot.parse(gc_snapshot.to_doc(spec)) == spec
    assert gc_snapshot.dumps(spec).count("\n") > 3  # one object per line


def test_the_example_heap_loads(tmp_path: Path) -> None:
    spec = gc_snapshot.load(write_json(tmp_path, GC_HEAP_DOC))
    assert spec.ids() == (1, 2, 3, 4, 5, 6, 7, 8) and spec.roots == (1,) and spec.finalizers == (6,)
    crlf = write_json(tmp_path, gc_snapshot.dumps(spec).replace("\n", "\r\n"), "crlf.json")
    assert gc_snapshot.load(crlf) == spec  # CRLF line ends are line ends


def bad(change: dict[str, object] | None = None, objects: list[object] | None = None) -> dict[str, object]:
    doc = json.loads(json.dumps(GC_HEAP_DOC))
    if objects is not None:
        doc["objects"] = objects
    doc.update(change or {})
    return doc


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("{not json", "line 1: not valid JSON"),
        ('{"heap": "gc", "heap": "gc"}', 'line 1: duplicate key "heap"'),
        (bad({"heap": "pagealloc"}), '"heap" must be "gc"'),
        (bad({"version": 3}), '"version" must be 1 or 2'),
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
    path = write_json(tmp_path, doc)
    for impl in ("model", "fast"):
        assert main(["mark", str(path), "--impl", impl, "--json"]) == 2
        out = capsys.readouterr()
        assert out.out == ""
        assert str(path) in out.err and out.err.count("\n") == 1
        assert re.search(message, out.err), out.err


ONE_OBJECT = '{"heap": "gc", "version": 1,\n "objects": [\n  {"id": 1, "size": 16, "noscan": true}\n ]}\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # What plain JSON readers accept and the oracle refuses, in a one-line snapshot: at line 1.
        ('{"heap": "gc", "version": 1, "objects": [{"id": 1, "size": NaN, "noscan": true}]}', "line 1: NaN"),
        ('{"heap": "gc", "version": 1, "objects": [{"id": 1' + "0" * 5000 + ', "size": 16, "noscan": true}]}',
         "line 1: an integer of 5001 digits"),
        ('{"heap": "gc", "version": 1, "objects": [], "x": ' + "[" * 100 + "]" * 100 + "}", "line 1: JSON nested"),
        ('{"heap": "gc",\r "version": 1, "objects": []}', "line 1: a carriage return"),
        # In a snapshot of several lines, a problem in the JSON itself is named at its own line.
        (ONE_OBJECT.replace('"size": 16', '"size": 16,,'), "line 3: not valid JSON"),
        (ONE_OBJECT.replace(" ]}", " ],\r}"), "line 4: a carriage return"),
        (ONE_OBJECT.replace('"size": 16', '"size": Infinity'), "Infinity is not a JSON number"),
        (ONE_OBJECT.replace('"id": 1,', '"id": 1, "id": 2,'), 'duplicate key "id"'),
    ],
)
def test_snapshots_are_read_strictly(text: str, message: str) -> None:
    with pytest.raises(gc_snapshot.SnapshotError, match=message):
        gc_snapshot.loads(text)


def test_bad_utf8_is_reported_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "heap.json"
    path.write_bytes(ONE_OBJECT.encode().replace(b'"noscan"', b'"nos\xe9can"'))
    with pytest.raises(gc_snapshot.SnapshotError, match="line 3: not valid UTF-8"):
        gc_snapshot.load(path)


def test_missing_file_and_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UsageError, match="no such file"):
        gc_snapshot.load(tmp_path / "nope.json")
    assert main(["mark", str(tmp_path / "nope.json")]) == 2
    assert "nope.json: no such file" in capsys.readouterr().err
    assert main(["mark", str(write_json(tmp_path, GC_HEAP_DOC)), "--impl", "rust"]) == 2
    (tmp_path / "latin1.json").write_bytes(b'{"heap": "\xe9"}')
    assert main(["mark", str(tmp_path / "latin1.json")]) == 2
    assert "latin1.json: line 1: not valid UTF-8" in capsys.readouterr().err


def test_version_2_has_tiny_objects_ps_and_reads_back() -> None:
    doc = {"heap": "gc", "version": 2, "procs": 2,
           "objects": [{"id": 1, "size": 3, "noscan": True, "p": 1}, {"id": 2, "size": 0, "noscan": True},
                       {"id": 3, "size": 16, "noscan": False, "ptrs": {"0": 1, "8": 2}}],
           "roots": [3]}
    spec = gc_snapshot.parse(doc)
    assert spec.tiny and spec.procs == 2 and spec.objects[0].p == 1
    assert gc_snapshot.loads(gc_snapshot.dumps(spec)) == spec and '"version": 2' in gc_snapshot.dumps(spec)
    # a heap that fits version 1 is still written as version 1, exactly as before
    v1 = HeapSpec((ObjectSpec(1, 16, True),), (1,))
    assert gc_snapshot.dumps(v1).startswith('{"heap": "gc", "version": 1,\n')


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"objects": [{"id": 1, "size": 3, "noscan": True, "p": 2}]}, "p must be a P from 0 to 0"),
        ({"procs": 0}, "procs must be from 1"),
        ({"objects": [{"id": 1, "size": 0, "noscan": False, "ptrs": {}}]}, "at least 1 byte"),
        ({"objects": [{"id": 1, "size": 0, "noscan": True}], "finalizers": [1]}, "zerobase"),
        ({"objects": [{"id": 1, "size": 3, "noscan": True, "p": -1}]}, "p must be an integer >= 0"),
    ],
)
def test_version_2_refuses(change: dict[str, object], message: str) -> None:
    doc = {"heap": "gc", "version": 2, "objects": [], **change}
    with pytest.raises(gc_snapshot.SnapshotError, match=message):
        gc_snapshot.parse(doc)


def test_mark_reads_a_version_2_heap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = {"heap": "gc", "version": 2, "objects": [{"id": 1, "size": 4, "noscan": True},
                                                   {"id": 2, "size": 4, "noscan": True}], "roots": [2]}
    for impl in ("model", "fast"):
        assert main(["mark", str(write_json(tmp_path, doc)), "--impl", impl, "--json", "--compare"]) == 0
        assert json.loads(capsys.readouterr().out)["marked"] == [1, 2]  # 1 shares 2's tiny block


def test_the_tiny_example_is_a_version_2_heap_fast_agrees_on(capsys: pytest.CaptureFixture[str]) -> None:
    path = Path(gc_snapshot.__file__).parent / "examples" / "tiny.json"
    spec = gc_snapshot.load(path)
    assert spec.tiny and any(o.size == 0 for o in spec.objects) and spec.finalizers == ("v2",)
    assert main(["mark", str(path), "--impl", "fast", "--compare", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["finalize"] == ["v2"]
