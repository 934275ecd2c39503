"""oracle/gc/trace.py: GC trace lines read strictly, each id of the trace's one kind, errors at their line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from model.gc.results import HeapSpec, ObjectSpec
from oracle.cli import main
from oracle.common.errors import TraceError
from oracle.gc.replay import replay_text
from oracle.gc.trace import GcParams, IdKind, dumps, parse_header, parse_op, read_header
from tests.helpers import GC_HEADER, gc_trace_text

ALLOC_1 = {"op": "alloc", "g": 0, "slot": 0, "id": 1, "size": 16, "noscan": True, "ptrs": []}
STRING_HEAP = {**GC_HEADER, "heap": {"heap": "gc", "version": 1, "objects": [{"id": "a", "size": 16, "noscan": True}]}}


def line_of_error(text: str) -> tuple[int, str]:
    with pytest.raises(TraceError) as caught:
        replay_text(text)
    return caught.value.line, caught.value.message


def test_a_string_id_in_an_integer_id_trace_is_refused_at_its_line() -> None:
    ops = [ALLOC_1, {**ALLOC_1, "slot": 1, "id": "2"}, {"op": "gc_start"}]
    line, message = line_of_error(gc_trace_text(ops))
    assert line == 3 and "id \"2\"" in message and "integers" in message


def test_an_integer_id_in_a_string_id_trace_is_refused_at_its_line() -> None:
    line, message = line_of_error(gc_trace_text([{**ALLOC_1, "id": 7}], STRING_HEAP))
    assert line == 2 and "id 7" in message and "strings" in message


def test_an_expect_naming_ids_of_the_other_kind_is_refused_at_its_line() -> None:
    ops = [ALLOC_1, {"op": "gc_start"}, {"op": "markroot", "root": "globals"}, {"op": "markroot", "root": "finq"},
           {"op": "markroot", "root": "specials"}, {"op": "markroot", "root": "stack", "g": 0},
           {"op": "markroot", "root": "stack", "g": 1}, {"op": "mark_done", "expect": {"marked": ["1"]}}]
    line, message = line_of_error(gc_trace_text(ops))
    assert line == 9 and "'marked'" in message
    # with the right kind the same trace replays, and the expect is compared
    ops[-1] = {"op": "mark_done", "expect": {"marked": [1]}}
    assert replay_text(gc_trace_text(ops)).ok


def test_id_kind() -> None:
    ids = IdKind.of(HeapSpec((ObjectSpec("a", 16, True),)))
    ids.check("b", 4, "here")
    with pytest.raises(TraceError, match="line 4: here: id 3 "):
        ids.check(3, 4, "here")
    fresh = IdKind.of(None)
    fresh.check(3, 2, "alloc")
    assert fresh.kind is int
    with pytest.raises(TraceError, match="line 5: alloc"):
        parse_op(json.dumps({**ALLOC_1, "id": "x"}), 5, fresh)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"op": "gc_start", "op": "sweep"}', 'duplicate key "op"'),
        ('{"op": "drain", "n": NaN}', "NaN is not a JSON number"),
        ('{"op": "drain", "n": ' + "9" * 50 + "}", "an integer of 50 digits"),
        ('{"op": "gc_start", "x": ' + "[" * 100 + "]" * 100 + "}", "nested deeper"),
        ('{"op": "gc_start",\r "x": 1}', "carriage return"),
        ("", "blank line"),
        ("[1]", "must be a JSON object"),
    ],
)
def test_steps_are_read_strictly_at_their_line(line: str, message: str) -> None:
    number, got = line_of_error(gc_trace_text([{"op": "gc_start"}]) + line + "\n")
    assert number == 3 and message in got, got


def test_the_header_is_read_strictly() -> None:
    with pytest.raises(TraceError, match='line 1: header: duplicate key "version"'):
        parse_header('{"trace": "gc", "version": 1, "version": 1}')
    with pytest.raises(TraceError, match="line 1: header heap: objects\\[0\\]"):
        parse_header(json.dumps({**GC_HEADER, "heap": {"heap": "gc", "version": 1, "objects": [{"id": 1}]}}))


@pytest.mark.parametrize("entry", [True, 1.0, [1], "1"])
def test_header_stacks_name_only_the_heaps_ids(entry: object) -> None:
    header = {**GC_HEADER, "heap": {"heap": "gc", "version": 1, "objects": [{"id": 1, "size": 16, "noscan": True}]},
              "stacks": [[entry]]}
    with pytest.raises(TraceError, match="line 1: header stacks\\[0\\]\\[0\\]: unknown id"):
        parse_header(json.dumps(header))


def test_bad_utf8_is_reported_at_its_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_bytes(gc_trace_text([{"op": "gc_start"}, {"op": "markroot", "root": "globals"}]).encode()
                     .replace(b'"root": "globals"', b'"root": "gl\xf6bals"'))
    assert main(["gc-replay", str(path)]) == 2
    assert capsys.readouterr().err == f"{path}: line 3: not valid UTF-8\n"


@pytest.mark.parametrize("text", ["", "\n", "  \n" + json.dumps({"op": "gc_start"}) + "\n"])
def test_a_trace_without_a_header_is_refused_at_line_1(text: str) -> None:
    assert line_of_error(text) == (1, "no header: a GC trace starts with its header line")


def test_dumps_reads_back() -> None:
    heap = HeapSpec((ObjectSpec(1, 16, False, ((0, None), (8, 1))),), (1,), ())
    text = dumps(GcParams(1, 2, 1), heap, [{"op": "gc_start"}], [[1, None]])
    header, step = text.splitlines()
    assert parse_header(header) == (GcParams(1, 2, 1), heap, [[1, None]])
    assert parse_op(step, 2).kind == "gc_start"


V2_HEADER = {"trace": "gc", "version": 2, "params": {"goroutines": 1, "stack_slots": 2, "globals": 2, "procs": 2}}


def test_version_2_steps_replay_with_their_expects() -> None:
    ops = [
        {"op": "alloc", "global": 0, "p": 1, "id": 1, "size": 5, "noscan": True, "ptrs": [],
         "expect": {"span": 0, "index": 0, "offset": 0}},
        {"op": "alloc", "global": 1, "p": 1, "id": 2, "size": 2, "noscan": True, "ptrs": [],
         "expect": {"offset": 6, "tiny": [[1, 0, 0, 8]]}},
        {"op": "gstore", "g": 0, "global": 0, "src": None},
        {"op": "gc", "expect": {"marked": [1, 2], "swept": [0], "freed": []}},
        {"op": "gstore", "g": 0, "global": 1, "src": None},
        {"op": "gc", "expect": {"marked": [], "tiny": []}},
        {"op": "sweep_one", "expect": {"freed": [1, 2], "spans": [[0, None]], "sets": [[5, "pu", []]]}},
        {"op": "finish_sweep", "expect": {"swept": []}},
    ]
    report = replay_text(gc_trace_text(ops, V2_HEADER))
    assert report.ok and report.checked == 6, report.failure and report.failure.describe()
    ops[1]["expect"] = {"offset": 5}
    failure = replay_text(gc_trace_text(ops, V2_HEADER)).failure
    assert failure is not None and failure.line == 3 and failure.got == {"offset": 6}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"op": "gc"}, "unknown op"),  # version 1 has no gc
        ({"op": "alloc", "global": 0, "id": 1, "size": 16, "noscan": True, "ptrs": []}, "missing field 'g'"),
    ],
)
def test_version_2_steps_are_not_version_1(line: dict[str, object], message: str) -> None:
    with pytest.raises(TraceError, match=message):
        parse_op(json.dumps(line), 2)


@pytest.mark.parametrize(
    ("expect", "message"),
    [
        ({"marked": []}, "unknown field 'marked'"),
        ({"spans": [[1, 4]]}, "'spans' must be a list of spans records"),
        ({"sets": [[4, "xx", []]]}, "'sets' must be"),
        ({"tiny": [[0, 1, 2]]}, "'tiny' must be"),
        ({"span": -2}, "'span' must be a page"),
        ({"swept": [-1]}, "'swept' must be a list of pages"),
    ],
)
def test_bad_version_2_expects_are_refused_at_their_line(expect: dict[str, object], message: str) -> None:
    op = {"op": "alloc", "global": 0, "id": 1, "size": 16, "noscan": True, "ptrs": [], "expect": expect}
    with pytest.raises(TraceError, match=f"line 4: .*{message}"):
        parse_op(json.dumps(op), 4, version=2)


def test_version_2_headers() -> None:
    header = read_header(json.dumps({**V2_HEADER, "pages": {"arenas": [0, 8192]}}))
    assert header.version == 2 and header.params.procs == 2 and header.arenas == (0, 8192)
    with pytest.raises(TraceError, match="procs must be an integer from 1 to 64"):
        read_header(json.dumps({**V2_HEADER, "params": {"procs": 0}}))
    with pytest.raises(TraceError, match='"pages" must be'):
        read_header(json.dumps({**V2_HEADER, "pages": [1]}))
    assert parse_header(json.dumps(GC_HEADER))[0].to_json() == GC_HEADER["params"]  # version 1 writes no procs


def test_a_version_2_trace_emitted_with_the_models_expects_replays(tmp_path: Path) -> None:
    ops = [{"op": "alloc", "global": i % 2, "p": i % 2, "id": i, "size": 1 + i % 20, "noscan": True, "ptrs": []}
           for i in range(1, 40)]
    ops += [{"op": "gc"}, {"op": "sweep_one"}, {"op": "alloc", "global": 0, "id": 99, "size": 5, "noscan": True,
                                                 "ptrs": []}, {"op": "finish_sweep"}]
    bare = tmp_path / "bare.jsonl"
    bare.write_text(gc_trace_text(ops, V2_HEADER))
    out = tmp_path / "full.jsonl"
    assert main(["gc-replay", str(bare), "--emit", str(out)]) == 0
    emitted = [json.loads(line) for line in out.read_text().splitlines()]
    assert emitted[0]["version"] == 2 and all("spans" in line["expect"] for line in emitted[1:])
    assert main(["gc-replay", str(out)]) == 0
