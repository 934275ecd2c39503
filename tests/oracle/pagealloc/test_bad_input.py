"""Bad input and faulty implementations, table-driven: no traceback, no hang, nothing lost, the right blame.

Every case runs one command of `python -m oracle` in this process and checks:
the exit status (0 all match; 1 a failure at a named step; 2 bad input or
usage), that what it prints names the line, option or path at fault, and that
no input file changed. The families:

  lies      an implementation that crashes, exits, refuses a valid line,
            answers garbage, the wrong type, a missing field, an answer where
            none is due, two answers, a non-UTF-8 or duplicate-key line — at
            the first operation of each kind: a failure of that line, exit 1
  waits     one that hangs, closes its output while alive, trickles bytes, or
            answers an endless line: a failure of that line within the
            per-answer deadline (--timeout), exit 1
  blame     one that crashes on, exits at, refuses or garbles the header of a
            valid trace: its failure at line 1, exit 1 (never the trace's)
  report    --emit with a failing implementation: exit 1, nothing written
  data loss --emit onto the input, a link to it, a folder, a missing folder,
            a full disk: refused before the run, exit 2, input unchanged
  parsing   malformed lines of every kind: exit 2 naming the line
  limits    parameters out of their stated ranges, heaps past the modelled
            size: exit 2 naming the limit, at once
  misuse    bad options of every command: one line naming the option, exit 2
"""

from __future__ import annotations

import hashlib
import json
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from oracle import cli
from oracle.common import child
from oracle.pagealloc.protocol import ModelImpl
from oracle.pagealloc.trace import Op, Params, dumps

FAKE = Path(__file__).with_name("fake_server.py")
ROOT = Path(__file__).resolve().parents[3]

# A small valid trace with every op kind early; its expects are the model's.
OPS: list[tuple[str, dict[str, int | bool]]] = [
    ("grow", {"chunk": 0, "nchunks": 2}),
    ("alloc", {"npages": 3}),
    ("cache_fill", {"cache": 0}),
    ("cache_alloc", {"cache": 0, "npages": 1}),
    ("cache_flush", {"cache": 0}),
    ("free", {"page": 0, "npages": 3}),
    ("scavenge", {"npages": 4}),
    ("scavenge", {"npages": 2, "force": False}),
    ("next_gen", {}),
    ("alloc", {"npages": 1}),
]
KINDS = ("grow", "alloc", "cache_fill", "cache_alloc", "cache_flush", "free", "scavenge", "next_gen")
WITH_RESULT = ("alloc", "cache_fill", "cache_alloc", "scavenge")
FIRST_LINE = {kind: 2 + next(i for i, (k, _) in enumerate(OPS) if k == kind) for kind in KINDS}
PARAMS = Params(512, 1, 256, 2)


def trace_text() -> str:
    model = ModelImpl(PARAMS)
    lines = []
    for k, (kind, args) in enumerate(OPS):
        op = Op(kind, args, None, k + 2)
        lines.append((op, model.apply(op)))
    return dumps(PARAMS, lines)


@attrs.frozen
class Case:
    id: str
    argv: tuple[str, ...]  # {trace}, {dir} and {fake MODE KIND} are filled in
    code: int
    says: tuple[str, ...]  # each must appear in what the command printed
    files: tuple[tuple[str, bytes], ...] = ()  # extra input files: (name, content)


def fake(mode: str, kind: str = "") -> str:
    return shlex.join([sys.executable, str(FAKE), mode, *([kind] if kind else [])])


def server_cases() -> Iterator[Case]:
    replay = ("replay", "{trace}", "--impl", "subprocess", "--timeout", "0.5")
    failing = {
        "crash": "fatal error: the fake server crashed here",
        "exit0": "stopped without answering (exit status 0",
        "refuse": "a valid operation was refused",
        "bad-refusal": "a malformed refusal",
        "garbage": "not valid JSON",
        "hang": "did not answer within 0.5 s",
        "close-stdout": "closed its output without answering",
        "huge-line": "answered a line longer than",
        "trickle": "did not answer within 0.5 s",
        "not-utf8": "not UTF-8",
        "duplicate-key": "duplicate key",
    }
    for mode, why in failing.items():
        for kind in KINDS:
            if mode == "duplicate-key" and kind not in WITH_RESULT:
                continue
            line = FIRST_LINE[kind]
            yield Case(f"lie-{mode}-{kind}", (*replay, "--cmd", fake(mode, kind)), 1, (f"line {line}:", why))
    for kind in KINDS:
        if kind in WITH_RESULT:
            for mode, why in (("wrong-type", "must be"), ("missing-field", "missing field")):
                yield Case(f"lie-{mode}-{kind}", (*replay, "--cmd", fake(mode, kind)), 1, (f"line {FIRST_LINE[kind]}:", why))
        else:
            yield Case(f"lie-answer-{kind}", (*replay, "--cmd", fake("answer", kind)), 1,
                       (f"line {FIRST_LINE[kind]}:", f"{kind} has no result"))
    for kind in KINDS:
        yield Case(f"lie-extra-line-{kind}", (*replay, "--cmd", fake("extra-line", kind)), 1, ("line ", "MISMATCH"))
    header = {
        "crash": "fatal error: the fake server crashed here",
        "exit0": "stopped without answering (exit status 0",
        "notok": "answered the header with",
        "error": "refused params",
        "hang": "did not answer within 5 s",  # the first answer may take oracle.common.child.START_TIMEOUT
        "garbage": "not valid JSON",
    }
    for mode, why in header.items():
        yield Case(f"blame-header-{mode}", (*replay, "--cmd", fake(f"header-{mode}")), 1, ("line 1: (the header)", why))
    yield Case("wait-flood-passes", (*replay, "--cmd", fake("flood")), 0, ("all match",))
    yield Case("ok-passes", (*replay, "--cmd", fake("ok")), 0, ("all match", "10 ops"))
    for kind in ("cache_fill", "alloc", "free"):
        yield Case(
            f"report-emit-crash-{kind}",
            (*replay, "--cmd", fake("crash", kind), "--emit", "{dir}/out.jsonl"),
            1,
            (f"line {FIRST_LINE[kind]}:", "nothing written"),
        )
    yield Case("dead-command", ("replay", "{trace}", "--impl", "subprocess", "--cmd", "/no/such/program"), 1,
               ("line 1: (the header)", "cannot start"))


HEADER = '{"trace": "pagealloc", "version": 2, "params": {"chunk_pages": 512, "phys_page_pages": 1, "huge_page_pages": 0}}'
GROW = '{"op": "grow", "chunk": 0, "nchunks": 1}'
HEX = "0x0000000000000001"


def bad_line_cases() -> Iterator[Case]:
    """A valid header and grow, then one bad line 3."""
    fill = '{{"op": "cache_fill", "cache": 0, "expect": {{"base": 0, "free": "{}", "scav": "0x0000000000000000"}}}}'
    bad = {
        "hex-underscore": (fill.format("0x0000_00000000001"), "16 hex digits"),
        "hex-space": (fill.format("0x 000000000000001"), "16 hex digits"),
        "hex-sign": (fill.format("0x-000000000000001"), "16 hex digits"),
        "hex-plus": (fill.format("0x+000000000000001"), "16 hex digits"),
        "hex-arabic-digit": (fill.format("0x00000000000000\u0661\u0661"), "16 hex digits"),
        "hex-short": (fill.format("0x1"), "16 hex digits"),
        "hex-long": (fill.format(HEX + "0"), "16 hex digits"),
        "hex-no-prefix": (fill.format("000000000000000001"), "16 hex digits"),
        "hex-number": (fill.replace('"{}"', "{}").format(1), "16 hex digits"),
        "duplicate-op": ('{"op": "alloc", "op": "free", "npages": 1}', 'duplicate key "op"'),
        "duplicate-npages": ('{"op": "alloc", "npages": 1, "npages": 2}', 'duplicate key "npages"'),
        "bare-cr": ('{"op": "alloc",\r "npages": 1}', "carriage return"),
        "huge-number": ('{"op": "alloc", "npages": ' + "9" * 5000 + "}", "5000 digits"),
        "deep-nesting": ('{"op": "alloc", "npages": 1, "x": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested deeper"),
        "nan": ('{"op": "alloc", "npages": NaN}', "NaN"),
        "infinity": ('{"op": "alloc", "npages": Infinity}', "Infinity"),
        "bool-count": ('{"op": "alloc", "npages": true}', "must be an integer"),
        "float-count": ('{"op": "alloc", "npages": 1.0}', "must be an integer"),
        "string-count": ('{"op": "alloc", "npages": "1"}', "must be an integer"),
        "negative-count": ('{"op": "alloc", "npages": -1}', "must be >= 1"),
        "zero-count": ('{"op": "alloc", "npages": 0}', "must be >= 1"),
        "missing-field": ('{"op": "free", "page": 0}', "missing field 'npages'"),
        "unknown-op": ('{"op": "compact"}', 'unknown op "compact"'),
        "no-op": ('{"npages": 1}', "unknown op null"),
        "not-object": ("[1, 2]", "must be a JSON object"),
        "not-json": ("{op: alloc}", "not valid JSON"),
        "blank": ("", "blank line"),
        "expect-not-object": ('{"op": "alloc", "npages": 1, "expect": 5}', "must be an object"),
        "expect-error": ('{"op": "alloc", "npages": 1, "expect": {"error": "x"}}', "missing field 'page'"),
        "force-not-bool": ('{"op": "scavenge", "npages": 1, "force": 0}', "must be true or false"),
        "cache-alloc-65": ('{"op": "cache_alloc", "cache": 0, "npages": 65}', "npages must be <= 64"),
        "free-not-in-use": ('{"op": "free", "page": 5, "npages": 1}', "not in use"),
        "grow-over-chunk": ('{"op": "grow", "chunk": 0, "nchunks": 1}', "already exists"),
        "unknown-cache": ('{"op": "cache_flush", "cache": 7}', "unknown cache id 7"),
        "past-address-space": ('{"op": "grow", "chunk": 67108863, "nchunks": 2}', "address space"),
        "whole-address-space": ('{"op": "grow", "chunk": 1, "nchunks": 67108863}', "address space a trace may grow"),
        "beyond-grown-limit": ('{"op": "grow", "chunk": 1, "nchunks": 262144}', "at most 262,144 chunks"),
    }
    for name, (line, says) in bad.items():
        text = "\n".join([HEADER, GROW, line, GROW]) + "\n"
        yield Case(f"parse-{name}", ("replay", "{dir}/bad.jsonl"), 2, ("line 3:", says), (("bad.jsonl", text.encode()),))
    headers = {
        "empty-file": ("", "line 1: empty trace"),
        "header-not-json": ("{trace", "line 1: header: not valid JSON"),
        "header-wrong-format": ('{"trace": "gc", "version": 1}', 'line 1: header must be an object with "trace"'),
        "header-version-9": ('{"trace": "pagealloc", "version": 9, "params": {}}', "unsupported trace version 9"),
        "header-no-params": ('{"trace": "pagealloc", "version": 1}', 'missing object "params"'),
        "chunk-pages-2**40": (HEADER.replace('"chunk_pages": 512', '"chunk_pages": 1099511627776'), "chunk_pages must be"),
        "chunk-pages-2**70": (HEADER.replace('"chunk_pages": 512', f'"chunk_pages": {2**70}'), "chunk_pages must be"),
        "chunk-pages-3": (HEADER.replace('"chunk_pages": 512', '"chunk_pages": 3'), "chunk_pages must be"),
        "chunk-pages-8192": (HEADER.replace('"chunk_pages": 512', '"chunk_pages": 8192'), "from 64 to 4096"),
        "chunk-pages-96": (HEADER.replace('"chunk_pages": 512', '"chunk_pages": 96'), "power of two"),
        "phys-128": (HEADER.replace('"phys_page_pages": 1', '"phys_page_pages": 128'), "from 1 to 64"),
        "phys-3": (HEADER.replace('"phys_page_pages": 1', '"phys_page_pages": 3'), "power of two"),
        "huge-1024-of-512": (HEADER.replace('"huge_page_pages": 0', '"huge_page_pages": 1024'), "huge_page_pages"),
        "huge-negative": (HEADER.replace('"huge_page_pages": 0', '"huge_page_pages": -1'), "must be >= 0"),
    }
    for name, (header, says) in headers.items():
        text = header + "\n" + GROW + "\n"
        yield Case(f"limit-{name}", ("replay", "{dir}/bad.jsonl"), 2, (says,), (("bad.jsonl", text.encode()),))
    # The 32-bit platform's address space (SPEC.md, "Platforms"): chunks [1, 1023), fewer pages than 1024 chunks.
    header386 = HEADER.replace('"huge_page_pages": 0}', '"huge_page_pages": 0, "arch": "386"}')
    grow386 = '{"op": "grow", "chunk": 1, "nchunks": 1}'
    bad386 = {
        "chunk-0": ('{"op": "grow", "chunk": 0, "nchunks": 1}', "[1, 1023)"),
        "chunk-1023": ('{"op": "grow", "chunk": 1022, "nchunks": 2}', "[1, 1023)"),
        "npages-2**19": ('{"op": "alloc", "npages": 524288}', "address space"),
        "scavenge-2**19": ('{"op": "scavenge", "npages": 524288}', "address space"),
    }
    for name, (line, says) in bad386.items():
        text = "\n".join([header386, grow386, line]) + "\n"
        yield Case(f"386-{name}", ("replay", "{dir}/bad.jsonl"), 2, ("line 3:", says), (("bad.jsonl", text.encode()),))
    unknown = HEADER.replace('"huge_page_pages": 0}', '"huge_page_pages": 0, "arch": "arm"}')
    yield Case("limit-arch-arm", ("replay", "{dir}/bad.jsonl"), 2, ("line 1:", '"arm"'),
               (("bad.jsonl", (unknown + "\n" + GROW + "\n").encode()),))
    # The background scavenger's op (version 4): its fields, its expect's floats, and the version it needs.
    header4 = HEADER.replace('"version": 2', '"version": 4')
    wake = '{{"op": "scavenger_wake", "budget": 8, "ns_per_page": {}, "sleep_pct": 100, "procs": 1{}}}'
    expect = ', "expect": {{"released": 0, "runs": 1, "slept": 0, "ratio": {}, "cooldown": 0, "integral": 0}}'
    bad_wake = {
        "in-version-3": (HEADER, wake.format(1, ""), "(it needs trace version 4)"),
        "ns-zero": (header4, wake.format(0, ""), "must be >= 1"),
        "ns-past-limit": (header4, wake.format(10_000_001, ""), "ns_per_page must be from 1 to 10000000"),
        "no-procs": (header4, wake.format(1, "").replace(', "procs": 1', ""), "missing field 'procs'"),
        "ratio-string": (header4, wake.format(1, expect.format('"0.001"')), "'ratio' must be a finite number"),
        "ratio-bool": (header4, wake.format(1, expect.format("true")), "'ratio' must be a finite number"),
        "ratio-nan": (header4, wake.format(1, expect.format("NaN")), "NaN"),
        "ratio-1e400": (header4, wake.format(1, expect.format("1e400")), "'ratio' must be a finite number"),
        "ratio-10**400": (header4, wake.format(1, expect.format("1" + "0" * 39)), None),
        "386-budget-2**19": (
            header4.replace('"huge_page_pages": 0}', '"huge_page_pages": 0, "arch": "386"}'),
            wake.format(1, "").replace('"budget": 8', '"budget": 524288'),
            "budget 524288 is not below the 386 address space's 524288 pages",
        ),
    }
    for name, (header, line, says) in bad_wake.items():
        grow = GROW if '"arch": "386"' not in header else GROW.replace('"chunk": 0', '"chunk": 1')
        text = "\n".join([header, grow, line]) + "\n"
        if says is None:  # a 40-digit integer is a finite float64: read, then a mismatch (exit 1)
            yield Case(f"wake-{name}", ("replay", "{dir}/bad.jsonl"), 1, ("line 3:",), (("bad.jsonl", text.encode()),))
            continue
        yield Case(f"wake-{name}", ("replay", "{dir}/bad.jsonl"), 2, ("line 3:", says), (("bad.jsonl", text.encode()),))
    utf8 = (HEADER + "\n" + GROW + "\n").encode() + b'{"op": "alloc", "npages": 1, "x": "\xff"}\n'
    yield Case("parse-bad-utf8-line-3", ("replay", "{dir}/bad.jsonl"), 2, ("line 3: not valid UTF-8",),
               (("bad.jsonl", utf8),))


def misuse_cases() -> Iterator[Case]:
    bad_options = {
        "fuzz": [
            ("--seconds", "-1"), ("--seconds", "nan"), ("--seconds", "inf"), ("--seconds", "soon"),
            ("--workers", "0"), ("--workers", "-3"), ("--workers", "1000"), ("--workers", "two"),
            ("--steps", "0"), ("--steps", "-5"), ("--shrink-seconds", "-1"), ("--shrink-seconds", "nan"),
            ("--timeout", "0"), ("--timeout", "-1"), ("--timeout", "nan"), ("--impl", "nonesuch"),
            ("--level", "strict"), ("--fault", "no_such_fault"),
        ],
        "replay": [("--impl", "nonesuch"), ("--timeout", "0"), ("--timeout", "inf"), ("--fault", "no_such_fault")],
        "run": [("--fuzz-seconds", "-1"), ("--fuzz-seconds", "nan"), ("--impl", "nonesuch")],
        "go-fuzz": [("--seconds", "-1"), ("--seconds", "nan"), ("--seed", "-1"), ("--examples", "0"),
                    ("--timeout", "0"), ("--shrink-seconds", "inf"), ("--judge", "oracle"),
                    ("--model-share", "1.5"), ("--model-share", "nan"), ("--model-share", "-0.1")],
        "go-mutants": [("--seconds", "nan"), ("--seed", "x")],
        "go-bench": [("--ops", "-5"), ("--ops", "0"), ("--ops", "many")],
        "gen-go-traces": [("--ops", "-5"), ("--ops", "0"), ("--seed", "-1"), ("--profiles", "nonesuch")],
    }
    for command, pairs in bad_options.items():
        for option, value in pairs:
            argv = (command, "{trace}", option, value) if command == "replay" else (command, option, value)
            yield Case(f"misuse-{command}{option}={value}", argv, 2, (option,))
    trace = ("replay", "{trace}")
    yield Case("misuse-cmd-unbalanced", ("fuzz", "--impl", "subprocess", "--cmd", "'oops"), 2, ("--cmd", "quotation"))
    yield Case("misuse-cmd-empty", ("fuzz", "--impl", "subprocess", "--cmd", " ", "--seconds", "1"), 2, ("--cmd",))
    yield Case("misuse-cmd-without-subprocess", (*trace, "--cmd", "x"), 2, ("--cmd needs --impl subprocess",))
    yield Case("misuse-fault-without-fast", (*trace, "--fault", "hint_too_far"), 2, ("--fault needs --impl fast",))
    yield Case("misuse-goroot-without-go", (*trace, "--goroot", "/tmp"), 2, ("--goroot and --mutant need --impl go",))
    yield Case("misuse-mutant-without-go", (*trace, "--mutant", "x"), 2, ("--goroot and --mutant need --impl go",))
    yield Case("misuse-goroot-missing", (*trace, "--impl", "go", "--goroot", "{dir}/no-such-go"), 2,
               ("no-such-go", "no such directory"))
    yield Case("misuse-goroot-not-a-tree", (*trace, "--impl", "go", "--goroot", "{dir}"), 2, ("not a Go tree",))
    yield Case("misuse-unknown-mutant", (*trace, "--impl", "go", "--mutant", "nonesuch"), 2, ("unknown mutant",))
    yield Case("misuse-replay-directory", ("replay", "{dir}"), 2, ("is a directory",))
    yield Case("misuse-replay-missing", ("replay", "{dir}/missing.jsonl"), 2, ("missing.jsonl", "no such file"))
    yield Case("misuse-replay-special", ("replay", "/dev/null"), 2, ("/dev/null", "not a regular file"))
    yield Case("misuse-fuzz-replay-missing", ("fuzz", "--level", "safe", "--replay", "{dir}/missing.jsonl"), 2,
               ("no such file",))
    yield Case("misuse-fuzz-replay-exact", ("fuzz", "--replay", "{trace}"), 2, ("--replay is for safe-level",))
    yield Case("misuse-failures-is-a-file", ("fuzz", "--seconds", "1", "--failures", "{trace}"), 2,
               ("--failures", "not a directory"))
    yield Case("misuse-unknown-command-option", ("replay", "{trace}", "--frobnicate"), 2, ("--frobnicate",))
    yield Case("misuse-go-mutants-unknown", ("go-mutants", "nonesuch", "--seconds", "1"), 2, ("unknown mutant",))
    yield Case("misuse-go-fuzz-unknown-mutant", ("go-fuzz", "--mutant", "nonesuch"), 2, ("unknown mutant",))


def data_loss_cases() -> Iterator[Case]:
    emit = ("replay", "{trace}", "--emit")
    yield Case("loss-emit-onto-input", (*emit, "{trace}"), 2, ("is the input",))
    yield Case("loss-emit-onto-link", (*emit, "{dir}/link.jsonl"), 2, ("is the input",))
    yield Case("loss-emit-onto-dotted-path", (*emit, "{dir}/./trace.jsonl"), 2, ("is the input",))
    yield Case("loss-emit-into-missing-folder", (*emit, "{dir}/missing/out.jsonl"), 2, ("does not exist",))
    yield Case("loss-emit-onto-folder", (*emit, "{dir}"), 2, ("is a directory",))
    yield Case("loss-emit-onto-special", (*emit, "/dev/null"), 2, ("not a regular file",))
    yield Case("loss-emit-ok", (*emit, "{dir}/out.jsonl"), 0, ("all match", "wrote"))
    yield Case("loss-emit-fast-ok", ("replay", "{trace}", "--impl", "fast", "--emit", "{dir}/out.jsonl"), 0, ("wrote",))


CASES = [*server_cases(), *bad_line_cases(), *misuse_cases(), *data_loss_cases()]


@pytest.fixture(autouse=True)
def no_servers_left() -> Iterator[None]:
    yield
    child.close_all()


def digest(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.is_symlink()
    }


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "trace.jsonl"
    trace.write_text(trace_text(), encoding="utf-8")
    (tmp_path / "link.jsonl").symlink_to(trace)
    for name, content in case.files:
        (tmp_path / name).write_bytes(content)
    before = digest(tmp_path)
    argv = [a.format(trace=trace, dir=tmp_path) for a in case.argv]
    started = time.monotonic()
    code = cli.main(argv)
    seconds = time.monotonic() - started
    out, err = capsys.readouterr()
    printed = out + err
    assert code == case.code, printed
    for words in case.says:
        assert words in printed, printed
    assert "Traceback" not in printed
    if code == 2:
        assert len(err.strip().splitlines()) == 1, err  # bad input or usage: one line
    after = digest(tmp_path)
    assert {k: v for k, v in after.items() if k in before} == before, "an input file changed"
    if "nothing written" in case.says:
        assert "out.jsonl" not in after
    assert seconds < 30


def test_a_full_disk_is_reported_before_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    trace = tmp_path / "trace.jsonl"
    trace.write_text(trace_text(), encoding="utf-8")

    class Full:
        free = 100

    monkeypatch.setattr("oracle.common.output.shutil.disk_usage", lambda folder: Full)
    assert cli.main(["replay", str(trace), "--emit", str(tmp_path / "out.jsonl")]) == 2
    assert "bytes free" in capsys.readouterr().err
    assert not (tmp_path / "out.jsonl").exists()


def test_a_closed_output_pipe_ends_quietly(tmp_path: Path) -> None:
    trace = tmp_path / "trace.jsonl"
    trace.write_text(trace_text(), encoding="utf-8")
    shell = f"{shlex.quote(sys.executable)} -m oracle replay {shlex.quote(str(trace))} | head -c 0"
    res = subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True, text=True, cwd=ROOT,
                         timeout=60)
    assert res.returncode == 0 and res.stderr == ""


def test_a_shrunk_failure_ending_in_a_refused_free_does_not_replay_as_all_match(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "trace.jsonl"
    lines = trace_text().splitlines()
    trace.write_text("\n".join(lines[: FIRST_LINE["free"]]) + "\n", encoding="utf-8")  # ends with the free
    code = cli.main(["replay", str(trace), "--impl", "subprocess", "--cmd", fake("refuse", "free")])
    printed = capsys.readouterr().out
    assert code == 1 and f"line {FIRST_LINE['free']}:" in printed and "refuses this" in printed


def test_the_table_is_large_enough() -> None:
    families = {case.id.split("-")[0] for case in CASES}
    assert len(CASES) >= 150 and {"lie", "blame", "report", "parse", "limit", "misuse", "loss"} <= families
    assert json.dumps([c.id for c in CASES])  # ids are plain strings
