"""Reading JSON Lines strictly, with the line number of every problem.

Every trace, snapshot and answer the oracle reads goes through here, so that
bad input is refused the same way everywhere and always at its line:

  * the file must be UTF-8 (an error names the line of the first bad byte);
  * lines end at "\\n" only (a final "\\r" is dropped, as in CRLF files); a
    bare "\\r" inside a line is refused rather than read as a line break,
    which would shift every later line number;
  * a line is one JSON value with no duplicate keys (JSON leaves their
    meaning open; Python would keep the last one silently), no NaN or
    Infinity, no integer longer than MAX_INT_DIGITS digits, nesting no
    deeper than MAX_DEPTH, and at most MAX_LINE_BYTES long.

All of it raises oracle.common.errors.TraceError with the line number.

A quick path for many lines at once (loads_batch): the C decoder without
Python hooks, on lines it can vouch for with checks over the whole batch
(one object per line, nothing that would need a hook: no NaN or Infinity,
no long digit runs, no brackets, no carriage returns), plus a count of the
keys written, which its caller compares with the keys decoded to rule out
a dropped duplicate. Where it cannot vouch, it says so, and its caller
reads the lines one by one with loads(), which decides and names the line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from oracle.common.errors import TraceError, UsageError

MAX_INT_DIGITS = 40  # far above any 64-bit count or page number
MAX_DEPTH = 64
MAX_LINE_BYTES = 1 << 24
MAX_DOCUMENT_BYTES = 1 << 30  # a whole multi-line document (a heap snapshot)


class _Refused(ValueError):
    """A value json would accept but the oracle does not."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _Refused(f"duplicate key {json.dumps(key)}")
        out[key] = value
    return out


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _Refused(f"an integer of {len(text.lstrip('-'))} digits (at most {MAX_INT_DIGITS})")
    return int(text)


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


# One decoder, built once: json.loads with hooks would build a new one per call.
_DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_int=_int, parse_constant=_constant)


def _depth_ok(text: str) -> bool:
    """False if brackets nest deeper than MAX_DEPTH (counted outside strings)."""
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def loads(text: str, line: int, what: str = "") -> Any:
    """One JSON value from one line, strictly; TraceError naming the line otherwise."""
    prefix = f"{what}: " if what else ""
    if len(text) > MAX_LINE_BYTES:
        raise TraceError(line, f"{prefix}line of {len(text):,} characters (at most {MAX_LINE_BYTES:,})")
    if "\r" in text:
        raise TraceError(line, f"{prefix}a carriage return inside the line (lines end with a newline)")
    if text.count("[") + text.count("{") > MAX_DEPTH and not _depth_ok(text):
        raise TraceError(line, f"{prefix}JSON nested deeper than {MAX_DEPTH} levels")
    try:
        return _DECODER.decode(text)
    except json.JSONDecodeError as e:
        raise TraceError(line, f"{prefix}not valid JSON: {e.msg} at column {e.colno}") from None
    except _Refused as e:
        raise TraceError(line, f"{prefix}{e}") from None
    except RecursionError:
        raise TraceError(line, f"{prefix}JSON nested too deep") from None


def loads_document(text: str, what: str = "") -> Any:
    """One JSON value spread over any number of lines, as strictly as loads(); errors name their line.

    A syntax error is placed by the decoder; a refused value (a duplicate key, NaN, a huge integer)
    at the line of its first occurrence in the text.
    """
    prefix = f"{what}: " if what else ""
    if len(text) > MAX_DOCUMENT_BYTES:
        raise TraceError(1, f"{prefix}document of {len(text):,} characters (at most {MAX_DOCUMENT_BYTES:,})")
    for number, line in iter_lines(text):
        if "\r" in line:
            raise TraceError(number, f"{prefix}a carriage return inside the line (lines end with a newline)")
    body = text.replace("\r\n", "\n")
    if body.count("[") + body.count("{") > MAX_DEPTH and not _depth_ok(body):
        raise TraceError(1, f"{prefix}JSON nested deeper than {MAX_DEPTH} levels")
    try:
        return _DECODER.decode(body)
    except json.JSONDecodeError as e:
        raise TraceError(e.lineno, f"{prefix}not valid JSON: {e.msg} at column {e.colno}") from None
    except _Refused as e:
        raise TraceError(_line_of_refusal(body, str(e)), f"{prefix}{e}") from None
    except RecursionError:
        raise TraceError(1, f"{prefix}JSON nested too deep") from None


def _line_of_refusal(text: str, message: str) -> int:
    """Where a refused value stands: the second occurrence of a duplicate key, else the first bad token."""
    if message.startswith("duplicate key "):
        key = message.removeprefix("duplicate key ")
        spots = [m.start() for m in re.finditer(re.escape(key) + r"\s*:", text)]
        at = spots[1] if len(spots) > 1 else (spots[0] if spots else 0)
    else:
        found = re.search(r"NaN|-?Infinity|\d{" + str(MAX_INT_DIGITS + 1) + ",}", text)
        at = found.start() if found else 0
    return text.count("\n", 0, at) + 1


# The quick path of loads_batch: the C decoder without hooks, and the mark every key leaves (a closing
# quote, optional spaces or tabs, a colon; it may also occur inside a string, which only adds marks).
_PLAIN_DECODER = json.JSONDecoder()
_KEY_MARK = re.compile(r'"[ \t]*:')
_LONG_INT = re.compile(r"\d{" + str(MAX_INT_DIGITS + 1) + "}")


def loads_batch(lines: list[str]) -> tuple[list[Any], int] | None:
    """Lines that are each one JSON object, decoded at once; None where this quick path cannot vouch for them.

    Returns the objects, in order, and the number of key marks in the lines
    (a closing quote, optional spaces or tabs and a colon: every key has
    one, and a string may hold more). The caller must accept the values
    only if the keys of the objects it reads, counted at every level it
    reads (at most two), add up to exactly that number, and read the lines
    one by one with loads() otherwise. Then every value is what loads()
    gives for its line: no key was dropped as a duplicate (that would leave
    fewer keys than marks), and no object is nested deeper than the levels
    counted except empty ones (any key deeper would be a mark too many).

    None unless every line starts with "{" and ends with "}" (joined with
    ",\n" and wrapped in brackets, that makes each line exactly one element:
    an object left open at a line's end meets ",{" and fails to decode), and
    the lines hold no "[" (so no lists: depth comes from objects alone), no
    carriage return, no NaN or Infinity, no run of more than MAX_INT_DIGITS
    digits, and no more than MAX_LINE_BYTES characters in all.
    """
    if not lines:
        return [], 0
    body = ",\n".join(lines)
    if (
        len(body) > MAX_LINE_BYTES
        or body[:1] != "{"
        or body[-1:] != "}"
        or body.count("},\n{") != len(lines) - 1
        or "[" in body
        or "\r" in body
        or "NaN" in body
        or "Infinity" in body
        or _LONG_INT.search(body) is not None
    ):
        return None
    try:
        values = _PLAIN_DECODER.decode("[" + body + "]")
    except (ValueError, RecursionError):
        return None
    if len(values) != len(lines):
        return None
    marks = body.count('":') if " :" not in body and "\t:" not in body else len(_KEY_MARK.findall(body))
    return values, marks


def loads_object(text: str, line: int, what: str = "") -> dict[str, Any]:
    """loads(), and the value must be a JSON object."""
    value = loads(text, line, what)
    if not isinstance(value, dict):
        prefix = f"{what}: " if what else ""
        raise TraceError(line, f"{prefix}must be a JSON object, got {json.dumps(value)[:60]}")
    return value


def is_int(value: object) -> bool:
    """An integer, and not a bool (JSON true is no count)."""
    return isinstance(value, int) and not isinstance(value, bool)


def iter_lines(text: str) -> Iterator[tuple[int, str]]:
    """(line number, text) for every line; a final newline does not make an extra line, a final CR is dropped."""
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    for number, line in enumerate(lines, start=1):
        yield number, line.removesuffix("\r")


def split_lines(text: str) -> list[str]:
    """The lines iter_lines numbers from 1, as one list."""
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    if "\r" in text:
        lines = [line.removesuffix("\r") for line in lines]
    return lines


def text_line_of(data: bytes, offset: int) -> int:
    """The line number of a byte offset."""
    return data.count(b"\n", 0, offset) + 1


def read_text(path: Path) -> str:
    """A file's text: UsageError if it cannot be read as a regular file, TraceError at the first non-UTF-8 line."""
    if path.is_dir():
        raise UsageError(f"{path}: is a directory, not a file")
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if not path.is_file():
        raise UsageError(f"{path}: not a regular file")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise UsageError(f"{path}: cannot read it ({e.strerror or e})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise TraceError(text_line_of(data, e.start), "not valid UTF-8") from None


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """The numbered lines of a UTF-8 file (see read_text and iter_lines)."""
    return iter_lines(read_text(path))
