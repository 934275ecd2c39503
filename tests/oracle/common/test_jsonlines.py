"""Strict JSON Lines: every malformed line refused at its number, whatever the file format."""

from __future__ import annotations

from pathlib import Path

import pytest

from oracle.common.errors import TraceError, UsageError
from oracle.common.jsonlines import (
    MAX_DEPTH,
    MAX_LINE_BYTES,
    iter_lines,
    loads,
    loads_batch,
    loads_document,
    loads_object,
    read_lines,
    split_lines,
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"op": "alloc", "op": "free"}', 'duplicate key "op"'),
        ('{"a": NaN}', "NaN is not a JSON number"),
        ('{"a": -Infinity}', "-Infinity is not a JSON number"),
        ('{"a": ' + "9" * 5000 + "}", "5000 digits"),
        ("[" * 100_000 + "]" * 100_000, f"deeper than {MAX_DEPTH}"),
        ('{"a":\r 1}', "carriage return"),
        ("{", "not valid JSON"),
        ("", "not valid JSON"),
    ],
)
def test_bad_lines_are_refused_at_their_number(text: str, message: str) -> None:
    with pytest.raises(TraceError, match=message) as info:
        loads(text, 17)
    assert info.value.line == 17


def test_good_values_and_objects() -> None:
    assert loads('{"a": [1, {"b": null}], "c": "x\\"["}', 1) == {"a": [1, {"b": None}], "c": 'x"['}
    assert loads("[" * MAX_DEPTH + "]" * MAX_DEPTH, 1) is not None
    with pytest.raises(TraceError, match="must be a JSON object"):
        loads_object("[1]", 3)


def test_lines_and_crlf() -> None:
    assert list(iter_lines("a\r\nb\n")) == [(1, "a"), (2, "b")]
    assert list(iter_lines("a\nb")) == [(1, "a"), (2, "b")]


def test_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(b'{"a": 1}\n{"b": 2}\n{"c": "\xff"}\n')
    with pytest.raises(TraceError, match="not valid UTF-8") as info:
        list(read_lines(bad))
    assert info.value.line == 3
    with pytest.raises(UsageError, match="is a directory"):
        read_lines(tmp_path)
    with pytest.raises(UsageError, match="no such file"):
        read_lines(tmp_path / "missing")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ('{\n  "a": 1,\n  "a": 2\n}', 3, 'duplicate key "a"'),
        ('{\n  "a": [1,\n  2,,]\n}', 3, "not valid JSON"),
        ('{\n\n  "b": NaN}', 3, "NaN"),
        ('{"a":\n' + "1" * 50 + "}", 2, "50 digits"),
        ('{"a": 1,\r "b": 2}', 1, "carriage return"),
    ],
)
def test_documents_over_many_lines_name_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(TraceError, match=message) as info:
        loads_document(text)
    assert info.value.line == line


def test_a_large_document_is_read() -> None:
    doc = "[" + ",\n".join(str(i) for i in range(1_000_000)) + "]"
    assert len(doc) > MAX_LINE_BYTES // 4 and loads_document(doc)[-1] == 999_999


LINES = ['{"op": "alloc", "npages": 3, "expect": {"page": 0, "scav": 3}}', '{"a" :1,"b":{"c": "x"}}', '{"s": "\\u00e9"}']


def test_a_batch_is_decoded_at_once_with_its_key_marks() -> None:
    decoded = loads_batch(LINES)
    assert decoded is not None
    values, marks = decoded
    assert values == [loads(line, 1) for line in LINES]
    assert marks == 3 + 2 + 1 + 1 + 1 + 1  # every key of every object
    assert loads_batch([]) == ([], 0)


def test_a_string_holding_a_key_mark_counts_one_more() -> None:
    # The caller then finds fewer keys than marks and reads the lines one by one.
    decoded = loads_batch(['{"a": "b\\":"}'])
    assert decoded is not None and decoded[1] == 2


@pytest.mark.parametrize(
    "line",
    [
        '{"a": NaN}',
        '{"a": -Infinity}',
        '{"a": ' + "1" * 41 + "}",
        '{"a": [1]}',
        '{"a": 1,\r "b": 2}',
        ' {"a": 1}',
        '{"a": 1} ',
        "1",
        "",
        '{"a": 1}, {"b": 2}',
        '{"a": 1} {"b": 2}',
        '{"a": 1',
        '{"a": "}',
    ],
)
def test_lines_the_quick_path_cannot_vouch_for(line: str) -> None:
    assert loads_batch([LINES[0], line, LINES[1]]) is None


def test_an_object_across_two_lines_is_not_one_line_each() -> None:
    # Together they would decode, but as two lines neither is one object.
    assert loads_batch(['{"a": 1, "b": {"c": 2', "}}"]) is None
    assert loads_batch(['{"a": {"b": 1}, "c": {', '"d": 2}}']) is None


def test_split_lines_equals_iter_lines() -> None:
    for text in ["a\r\nb\n", "a\nb", "", "\n", "a\n\nb\r\n"]:
        assert split_lines(text) == [line for _, line in iter_lines(text)]
