"""Trace format v1: every kind of bad line is refused with its line number, and replay/emit work end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oracle.cli import main
from oracle.pagealloc.cli import bundled_traces
from oracle.pagealloc.replay import replay
from oracle.pagealloc.trace import OP_FIELDS, OP_SINCE, TraceError, load, parse_op, parse_ops

HEADER = (
    '{"trace": "pagealloc", "version": 1, "params": {"chunk_pages": 512, "phys_page_pages": 1, "huge_page_pages": 256}}'
)
GOOD = [
    '{"op": "grow", "chunk": 0, "nchunks": 2}',
    '{"op": "alloc", "npages": 3, "expect": {"page": 0, "scav": 3}}',
    '{"op": "cache_fill", "cache": 0, "expect": {"base": 0, "free": "0xFFFFFFFFFFFFFFF8", "scav": "0xfffffffffffffff8"}}',
    '{"op": "cache_alloc", "cache": 0, "npages": 2, "expect": {"page": 3, "scav": 2}}',
    '{"op": "free", "page": 0, "npages": 3, "expect": "ignored on free", "note": "extra fields are ignored"}',
    '{"op": "scavenge", "npages": 1, "expect": {"released": 1}}',
    '{"op": "cache_flush", "cache": 0}',
    '{"op": "alloc", "npages": 1, "expect": {"page": 0, "scav": 0}}',
]


def write(tmp_path: Path, lines: list[str], name: str = "t.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_good_trace_replays(tmp_path: Path) -> None:
    report = replay(write(tmp_path, [HEADER, *GOOD]))
    assert report.ok and report.ops == len(GOOD) and report.checked == 5


def test_every_version_1_op_kind_is_covered_by_the_good_trace() -> None:
    assert {json.loads(line)["op"] for line in GOOD} == {k for k in OP_FIELDS if OP_SINCE.get(k, 1) == 1}


BAD_LINES = [
    ('{"op": "allocate", "npages": 1}', "unknown op"),
    ("", "blank line"),
    ("   ", "blank line"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('{"op": "alloc"}', "missing field 'npages'"),
    ('{"op": "alloc", "npages": 3.0}', "must be an integer, got 3.0"),
    ('{"op": "alloc", "npages": "3"}', 'must be an integer, got "3"'),
    ('{"op": "alloc", "npages": true}', "must be an integer, got true"),
    ('{"op": "alloc", "npages": 0}', "must be >= 1"),
    ('{"op": "free", "page": -1, "npages": 1}', "must be >= 0"),
    ('{"op": "grow", "chunk": 9, "nchunks": 0}', "must be >= 1"),
    ('{"op": "scavenge", "npages": 0}', "must be >= 1"),
    ('{"op": "cache_alloc", "cache": 0, "npages": 65}', "must be <= 64"),
    ('{"op": "alloc", "npages": 1, "expect": {"page": "x", "scav": 0}}', "must be an integer"),
    ('{"op": "cache_fill", "cache": 1, "expect": {"base": null, "free": "0x0", "scav": "0x0"}}', "16 hex digits"),
    ('{"op": "free", "page": 700, "npages": 1}', "page 700, which is not in use"),
    ('{"op": "free", "page": 5000, "npages": 1}', "not in the heap"),
    ('{"op": "free", "page": 10, "npages": 1}', "cache 0 holds"),
    ('{"op": "grow", "chunk": 1, "nchunks": 1}', "grow over chunk 1"),
    ('{"op": "cache_fill", "cache": 0}', "not empty"),
    ('{"op": "cache_alloc", "cache": 5, "npages": 1}', "unknown cache id 5"),
    ('{"op": "cache_flush", "cache": 5}', "unknown cache id 5"),
]


@pytest.mark.parametrize(("line", "message"), BAD_LINES)
def test_bad_line_is_refused_with_its_number(tmp_path: Path, line: str, message: str) -> None:
    prefix = [HEADER, '{"op": "grow", "chunk": 0, "nchunks": 2}', '{"op": "cache_fill", "cache": 0}']
    after = '{"op": "alloc", "npages": 1, "expect": {"page": 999999, "scav": 0}}'  # would mismatch if it ran
    path = write(tmp_path, [*prefix, line, after])
    with pytest.raises(TraceError) as info:
        replay(path)
    assert info.value.line == 4
    assert message in info.value.message
    assert main(["replay", str(path)]) == 2


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("", "empty trace"),
        ('{"trace": "gc", "version": 1, "params": {}}', '"trace": "pagealloc"'),
        ('{"trace": "pagealloc", "version": 9, "params": {}}', "unsupported trace version 9"),
        ('{"trace": "pagealloc", "version": 1.0, "params": {}}', "unsupported trace version 1.0"),
        ('{"trace": "pagealloc", "version": 1}', 'missing object "params"'),
        (
            '{"trace": "pagealloc", "version": 1, "params": {"chunk_pages": 512, "phys_page_pages": 1}}',
            "huge_page_pages",
        ),
        (HEADER.replace('"phys_page_pages": 1', '"phys_page_pages": 3'), "phys_page_pages must be a power of two"),
        (HEADER.replace('"chunk_pages": 512', '"chunk_pages": 100'), "chunk_pages must be a power of two"),
        (HEADER.replace('"huge_page_pages": 256', '"huge_page_pages": 1024'), "huge_page_pages must be 0"),
    ],
)
def test_bad_header_is_line_1(tmp_path: Path, header: str, message: str) -> None:
    path = tmp_path / "h.jsonl"
    path.write_text(header + "\n" + GOOD[0] + "\n", encoding="utf-8")
    with pytest.raises(TraceError) as info:
        replay(path)
    assert info.value.line == 1 and message in info.value.message


def test_a_blank_line_at_the_end_is_bad_but_a_final_newline_is_not(tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    path.write_text(HEADER + "\n" + GOOD[0] + "\n\n", encoding="utf-8")
    with pytest.raises(TraceError, match="line 3: blank line"):
        replay(path)
    path.write_text(HEADER + "\n" + GOOD[0], encoding="utf-8")
    assert replay(path).ops == 1


def test_invalid_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "u.jsonl"
    path.write_bytes(HEADER.encode() + b'\n{"op": "alloc", "npages": 1}\xff\n')
    with pytest.raises(TraceError, match="line 2: not valid UTF-8"):
        replay(path)


def test_mismatch_reports_line_op_expected_and_got(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [HEADER, *GOOD]
    lines[2] = '{"op": "alloc", "npages": 3, "expect": {"page": 1, "scav": 3}}'
    path = write(tmp_path, lines)
    report = replay(path)
    assert report.mismatch is not None and report.mismatch.line == 3 and report.ops == 2  # stopped there
    assert main(["replay", str(path)]) == 1
    out = capsys.readouterr().out
    assert 'line 3: {"op": "alloc", "npages": 3}' in out
    assert 'expected {"page": 1, "scav": 3}' in out and 'got      {"page": 0, "scav": 3}' in out


def test_emit_fills_expects_and_replays_clean(tmp_path: Path) -> None:
    bare = [json.dumps({k: v for k, v in json.loads(line).items() if k != "expect"}) for line in GOOD]
    path = write(tmp_path, [HEADER, *bare])
    out = tmp_path / "out.jsonl"
    assert main(["replay", str(path), "--emit", str(out)]) == 0
    emitted = load(out)
    assert [op.expect for op in emitted.ops] == [op.expect for op in load(write(tmp_path, [HEADER, *GOOD], "g")).ops]
    assert replay(out).ok


def test_hex_compares_by_value_any_case(tmp_path: Path) -> None:
    lines = [HEADER, *GOOD]
    lines[3] = lines[3].replace("0xfffffffffffffff8", "0XFFFFFFFFFFFFFFF8")
    assert replay(write(tmp_path, lines)).ok


def test_missing_file_and_unknown_impl(tmp_path: Path) -> None:
    assert main(["replay", str(tmp_path / "nope.jsonl")]) == 2
    assert main(["replay", str(write(tmp_path, [HEADER])), "--impl", "nonesuch"]) == 2


def test_bundled_traces_exist_and_cover_every_op() -> None:
    traces = bundled_traces()
    assert len(traces) >= 6
    kinds = {op.kind for path in traces for op in load(path).ops}
    assert kinds == set(OP_FIELDS)
    params = {(t.params.phys_page_pages, t.params.huge_page_pages) for t in map(load, traces)}
    assert len(params) >= 2  # more than one page-size setting


def test_bundled_go_traces_replay_without_mismatch() -> None:
    for path in bundled_traces():
        report = replay(path)
        assert report.ok, f"{path.name}: {report.mismatch.describe() if report.mismatch else ''}"
        assert report.checked > 0


def test_default_job_runs_as_a_command() -> None:
    done = subprocess.run([sys.executable, "-m", "oracle"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    # Every bundled conformance trace of each subsystem: page allocator, small-object path, pacing.
    for part in ("Conformance:", "Small-object path:", "Pacing:"):
        assert any(line.startswith(part) and line.endswith("all traces match") for line in done.stdout.splitlines()), part


HEADER_V2 = HEADER.replace('"version": 1', '"version": 2')


def test_version_2_adds_next_gen_and_background_scavenges(tmp_path: Path) -> None:
    lines = [
        HEADER_V2,
        '{"op": "grow", "chunk": 0, "nchunks": 1}',
        '{"op": "alloc", "npages": 512, "expect": {"page": 0, "scav": 512}}',
        '{"op": "free", "page": 0, "npages": 16}',
        # The chunk is dense (496 of 512 pages in use) this cycle: the background scavenger skips it.
        '{"op": "scavenge", "npages": 16, "force": false, "expect": {"released": 0}}',
        '{"op": "next_gen"}',
        # Still dense as of the last cycle, and the cursor was not raised since: nothing.
        '{"op": "scavenge", "npages": 16, "force": false, "expect": {"released": 0}}',
        '{"op": "free", "page": 16, "npages": 16}',
        '{"op": "next_gen"}',
        '{"op": "next_gen"}',
        # Two cycles at 480 pages in use: no longer dense, and next_gen raised the cursor.
        '{"op": "scavenge", "npages": 8, "force": false, "expect": {"released": 8}}',
        '{"op": "scavenge", "npages": 64, "force": true, "expect": {"released": 24}}',
    ]
    path = write(tmp_path, lines)
    report = replay(path)
    assert report.ok, report.mismatch.describe() if report.mismatch else ""
    out = tmp_path / "emitted.jsonl"
    assert main(["replay", str(path), "--emit", str(out)]) == 0
    first, *_ = out.read_text().splitlines()
    assert json.loads(first)["version"] == 2 and '"force": false' in out.read_text()


def test_next_gen_needs_version_2(tmp_path: Path) -> None:
    with pytest.raises(
        TraceError, match=r"line 3: unknown op \"next_gen\" in a version 1 trace \(it needs trace version 2\)"
    ):
        replay(write(tmp_path, [HEADER, GOOD[0], '{"op": "next_gen"}']))


def test_force_must_be_a_boolean_in_version_2(tmp_path: Path) -> None:
    path = write(tmp_path, [HEADER_V2, GOOD[0], '{"op": "scavenge", "npages": 1, "force": 0}'])
    with pytest.raises(TraceError, match="line 3: scavenge: field 'force' must be true or false, got 0"):
        replay(path)


def test_force_is_an_ignored_extra_field_in_version_1(tmp_path: Path) -> None:
    lines = [HEADER, GOOD[0], GOOD[1], '{"op": "free", "page": 0, "npages": 3}']
    forced = '{"op": "scavenge", "npages": 3, "force": false, "expect": {"released": 3}}'
    assert replay(write(tmp_path, [*lines, forced])).ok  # a version 1 scavenge is always forced
    v2 = replay(write(tmp_path, [HEADER_V2, *lines[1:], forced], "v2.jsonl"))
    assert v2.mismatch is not None and v2.mismatch.got == {"released": 0}  # background: no cycle has ended yet


# The quick reading paths (trace.parse_ops) against parse_op line by line: the same ops, the same first error.

LINE_VARIANTS = [
    lambda obj, text: text,  # as dumps writes it
    lambda obj, text: json.dumps(obj, separators=(",", ":")),
    lambda obj, text: json.dumps(dict(reversed(list(obj.items())))),
    lambda obj, text: " " + text,
    lambda obj, text: text + "\t",
    lambda obj, text: text[:-1] + ', "note": {"a": 1, "b": {"c": "d"}}}',
    lambda obj, text: text[:-1] + ', "note": [1, {"x": 2}]}',
    lambda obj, text: text[:-1] + ', "note": "a \\":" }',
    lambda obj, text: text[:-1] + ', "note": {}}',
    lambda obj, text: text.replace('"op"', '"\\u006fp"'),
    lambda obj, text: text.replace('": ', '" : ', 1),
    lambda obj, text: '{"npages": 5, ' + text[1:],  # a duplicate key for the ops that have npages
    lambda obj, text: text[:-1] + ', "op": "free"}',  # a duplicate op
    lambda obj, text: text.replace("1", "1.0", 1),
    lambda obj, text: text.replace("1", "true", 1),
    lambda obj, text: text.replace("1", '"1"', 1),
    lambda obj, text: text.replace("1", "-1", 1),
    lambda obj, text: text.replace("1", "1" * 41, 1),
    lambda obj, text: text.replace("1", "1" * 40, 1),
    lambda obj, text: text.replace("1", "NaN", 1),
    lambda obj, text: text.replace("1", "-Infinity", 1),
    lambda obj, text: text[:-1] + ', "note": NaN}',
    lambda obj, text: text[:-1] + ', "note": -Infinity}',
    lambda obj, text: text[:-1] + ', "note": ' + "9" * 41 + "}",
    lambda obj, text: text[:-1] + ', "note": 1e999}',
    lambda obj, text: text.replace("0x", "0X").upper().replace('"OP"', '"op"'),
    lambda obj, text: text.replace("0x", "0X"),
    lambda obj, text: text.replace("f", "F"),
    lambda obj, text: text[:-1] + ', "expect": null}',
    lambda obj, text: text.replace('"page": 0', '"page": null'),
    lambda obj, text: text.replace("null", "0"),
    lambda obj, text: text.replace(", ", ",\r "),
    lambda obj, text: text + " " + text,
    lambda obj, text: text + ", " + text,
    lambda obj, text: text[:-1],
    lambda obj, text: text[:-2] + "}",
    lambda obj, text: "",
    lambda obj, text: "1",
    lambda obj, text: "null",
    lambda obj, text: '"{}"',
    lambda obj, text: "   ",
    lambda obj, text: "[" + text + "]",
    lambda obj, text: text[:-1] + ', "deep": ' + "[" * 70 + "]" * 70 + "}",
    lambda obj, text: text[:-1] + ', "deep": ' + '{"a": ' * 70 + "1" + "}" * 70 + "}",
    lambda obj, text: text.replace('"op": "', '"op": "x'),
    lambda obj, text: '{"op": "next_gen"}',
    lambda obj, text: '{"op": "scavenge", "npages": 2, "force": false, "expect": {"released": 1}}',
    lambda obj, text: '{"op": "scavenge", "npages": 2, "force": 0}',
    lambda obj, text: '{"op": "cache_alloc", "cache": 1, "npages": 65}',
    lambda obj, text: '{"op": "cache_alloc", "cache": 1, "npages": 64, "expect": {"page": null, "scav": 0}}',
    lambda obj, text: '{"op": "cache_fill", "cache": 2, "expect": {"base": null, "free": "0x0", "scav": "0x0"}}',
    lambda obj, text: '{"op": "cache_fill", "cache": 2, "expect": {"base": 64, "free": " 0x0000000000000001"}}',
    lambda obj, text: '{"op": "alloc", "npages": 2, "expect": {"scav": 0}}',
    lambda obj, text: '{"op": "alloc", "npages": 2, "expect": {"page": -3, "scav": 0}}',
    lambda obj, text: '{"op": "grow", "chunk": 0, "nchunks": 01}',
    lambda obj, text: '{"op": "grow", "chunk": 0, "nchunks": 1, "expect": {"page": 1, "page": 2}}',
]


def _slow(lines: list[str], version: int) -> tuple[list[tuple[object, ...]], tuple[int, str] | None]:
    out = []
    try:
        for number, text in enumerate(lines[1:], start=2):
            op = parse_op(text, number, version)
            out.append((op.kind, list(op.args.items()), op.expect, op.line))
    except TraceError as e:
        return out, (e.line, str(e))
    return out, None


def _quick(lines: list[str], version: int, batch: int) -> tuple[list[tuple[object, ...]], tuple[int, str] | None]:
    out = []
    try:
        for op in parse_ops(lines, 1, version, batch):
            out.append((op.kind, list(op.args.items()), op.expect, op.line))
    except TraceError as e:
        return out, (e.line, str(e))
    return out, None


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, len(LINE_VARIANTS) - 1)), max_size=12),
    st.sampled_from([1, 2]),
    st.sampled_from([1, 3, 2048]),
    st.floats(0, 1),
)
def test_quick_reading_equals_line_by_line(picks: list[tuple[int, int]], version: int, batch: int, plain: float) -> None:
    lines = [HEADER]
    for good, variant in picks:
        text = GOOD[good] if variant == 0 or plain < 0.3 else LINE_VARIANTS[variant](json.loads(GOOD[good]), GOOD[good])
        lines.append(text)
    assert _quick(lines, version, batch) == _slow(lines, version)


@pytest.mark.parametrize("variant", range(len(LINE_VARIANTS)))
def test_quick_reading_of_every_variant_equals_line_by_line(variant: int) -> None:
    for version in (1, 2):
        for good in GOOD:
            lines = [HEADER, LINE_VARIANTS[variant](json.loads(good), good)]
            assert _quick(lines, version, 1) == _slow(lines, version), lines[1]
            lines = [HEADER, *GOOD, lines[1], *GOOD]
            assert _quick(lines, version, 2048) == _slow(lines, version), lines[len(GOOD) + 1]


def test_quick_reading_of_a_generated_trace_equals_line_by_line(tmp_path: Path) -> None:
    # A long trace as dumps writes it, every op kind and expect, read in batches of many sizes.
    text = (bundled_traces()[0]).read_text(encoding="utf-8")
    lines = [json.dumps({k: v for k, v in json.loads(line).items() if k != "go_state"}) for line in text.splitlines()]
    version = json.loads(lines[0])["version"]
    want = _slow(lines, version)
    assert want[1] is None and len(want[0]) > 100
    for batch in (1, 7, 100, 2048):
        assert _quick(lines, version, batch) == want


@pytest.mark.parametrize("impl", ["model", "fast"])
def test_a_386_trace_may_reach_both_ends_of_its_address_space(tmp_path: Path, impl: str) -> None:
    """The edges SPEC.md "Platforms" allows on 386: chunks 1 and 1022, a page count one below the address space's."""
    header = HEADER.replace('"huge_page_pages": 256}', '"huge_page_pages": 256, "arch": "386"}')
    lines = [
        header,
        '{"op": "grow", "chunk": 1, "nchunks": 1}',
        '{"op": "grow", "chunk": 1022, "nchunks": 1}',
        '{"op": "alloc", "npages": 524287, "expect": {"page": null, "scav": 0}}',
        '{"op": "alloc", "npages": 512, "expect": {"page": 512, "scav": 512}}',
        '{"op": "alloc", "npages": 1, "expect": {"page": 523264, "scav": 1}}',
        '{"op": "scavenge", "npages": 524287, "expect": {"released": 0}}',
    ]
    report = replay(write(tmp_path, lines), impl)
    assert report.ok and report.checked == 4, report.mismatch.describe() if report.mismatch else report


def test_a_mismatch_before_a_line_outside_the_address_space_is_reported_first(tmp_path: Path) -> None:
    """Lines are read in batches, but a bad line stops replay exactly there: what comes before it runs first."""
    header = HEADER.replace('"huge_page_pages": 256}', '"huge_page_pages": 256, "arch": "386"}')
    lines = [
        header,
        '{"op": "grow", "chunk": 1, "nchunks": 1}',
        '{"op": "alloc", "npages": 1, "expect": {"page": 7, "scav": 1}}',
        '{"op": "grow", "chunk": 0, "nchunks": 1}',
    ]
    report = replay(write(tmp_path, lines), "model")
    assert report.mismatch is not None and report.mismatch.line == 3
    with pytest.raises(TraceError, match="line 3: grow of chunks"):
        replay(write(tmp_path, [*lines[:2], lines[3]], "bad.jsonl"), "model")
