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
    loads_document,
    loads_object,
    read_lines,
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
