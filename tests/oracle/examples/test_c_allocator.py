"""The C example allocator (oracle/examples/c): built with the system's compiler, validated at both levels.

It must speak the protocol exactly as SPEC.md §12's transcript shows, pass
the safe level and fail the exact one for the reason its README gives (next
fit: an allocation after a free below the previous one lands elsewhere).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from oracle import cli
from oracle.pagealloc.fuzz import run_once
from oracle.pagealloc.registry import ImplOptions

ROOT = Path(__file__).resolve().parents[3]
SOURCE = ROOT / "oracle" / "examples" / "c" / "pagealloc.c"
HEADER = {"trace": "pagealloc", "version": 3, "params": {"chunk_pages": 64, "phys_page_pages": 1, "huge_page_pages": 0}}


@pytest.fixture(scope="module")
def nextfit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        pytest.skip("no C compiler (cc, gcc or clang) on PATH; .ci/run installs gcc")
    binary = tmp_path_factory.mktemp("c") / "nextfit"
    build = subprocess.run(
        [compiler, "-O2", "-std=c11", "-Wall", "-Wextra", "-Werror", "-o", str(binary), str(SOURCE)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert build.returncode == 0, build.stderr
    return binary


def exchange(binary: Path, lines: list[str]) -> list[str]:
    """Send the lines, close stdin; the answer lines (the program must exit by itself)."""
    done = subprocess.run([str(binary)], input="".join(f"{line}\n" for line in lines), capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def spec_transcript() -> list[tuple[str, str]]:
    text = (ROOT / "SPEC.md").read_text(encoding="utf-8")
    section = text[text.index("### A complete exchange"):]
    block = re.search(r"```\n(.*?)```", section, re.DOTALL)
    assert block is not None
    rows = block.group(1).splitlines()
    sent = [r.removeprefix("> ") for r in rows if r.startswith("> ")]
    answered = [r.removeprefix("< ") for r in rows if r.startswith("< ")]
    assert len(sent) == len(answered) == len(rows) // 2 > 10
    return list(zip(sent, answered, strict=True))


def test_the_spec_transcript_is_what_the_program_answers(nextfit: Path) -> None:
    pairs = spec_transcript()
    got = exchange(nextfit, [sent for sent, _ in pairs])
    assert got == [answer for _, answer in pairs]
    for line in got:
        json.loads(line)  # every answer is one JSON object on one line


def test_headers_and_malformed_lines(nextfit: Path) -> None:
    v4 = json.dumps({**HEADER, "version": 4})
    odd = json.dumps({**HEADER, "params": {"chunk_pages": 96, "phys_page_pages": 1, "huge_page_pages": 0}})
    v1 = json.dumps({**HEADER, "version": 1})
    arch = json.dumps({**HEADER, "params": {**HEADER["params"], "arch": "386"}})  # type: ignore[dict-item]
    amd64 = json.dumps({**HEADER, "params": {**HEADER["params"], "arch": "amd64"}})  # type: ignore[dict-item]
    answers = exchange(nextfit, [v4, '{"op": "alloc", "npages": 1}', odd, "not json", json.dumps(HEADER),
                                 '{"op": "alloc", "npages": -1}', '{"op": "alloc", "npages": 1.5}',
                                 '{"op": "grow", "chunk": 67108863, "nchunks": 2}', v1, '{"op": "next_gen"}',
                                 '{"op": "pad", "page": 0, "npages": 1}', arch, amd64])
    assert "error" in json.loads(answers[0]) and "versions 1 to 3" in answers[0]
    assert json.loads(answers[1]) == {"error": "no header yet"}
    assert "error" in json.loads(answers[2])
    assert "error" in json.loads(answers[3])
    assert json.loads(answers[4]) == {"ok": True, "snapshot": False}
    assert all("error" in json.loads(a) for a in answers[5:8])
    assert json.loads(answers[8]) == {"ok": True, "snapshot": False}
    assert "error" in json.loads(answers[9]) and "error" in json.loads(answers[10])  # version 1 has neither op
    assert "amd64" in json.loads(answers[11])["error"] and json.loads(answers[12]) == {"ok": True, "snapshot": False}


def test_passes_the_safe_level(nextfit: Path, tmp_path: Path) -> None:
    result = run_once("subprocess", "safe", max_examples=30, steps=40, seed=41, failures_dir=tmp_path,
                      options=ImplOptions(cmd=str(nextfit)))
    assert result.failure is None, result.failure and result.failure.message
    assert result.steps > 300


def test_fails_the_exact_level_at_an_allocation(nextfit: Path, tmp_path: Path) -> None:
    result = run_once("subprocess", "exact", max_examples=30, steps=30, seed=42, failures_dir=tmp_path,
                      options=ImplOptions(cmd=str(nextfit)), shrink_seconds=5)
    failure = result.failure
    assert failure is not None and failure.kind == "mismatch" and failure.reproduces
    assert re.search(r'line \d+: \{"op": "(alloc|cache_fill)"', failure.message), failure.message


def test_the_readme_reason_through_the_command_line(
    nextfit: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Next fit: after a free below the previous allocation, the model reuses the freed pages, next fit does not."""
    trace = tmp_path / "nextfit.jsonl"
    lines = [HEADER, {"op": "grow", "chunk": 0, "nchunks": 1},
             {"op": "alloc", "npages": 3, "expect": {"page": 0, "scav": 3}},
             {"op": "alloc", "npages": 1, "expect": {"page": 3, "scav": 1}}, {"op": "free", "page": 0, "npages": 3},
             {"op": "alloc", "npages": 2, "expect": {"page": 0, "scav": 0}}]
    trace.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    assert cli.main(["replay", str(trace), "--impl", "model"]) == 0  # the expects are the model's
    assert cli.main(["replay", str(trace), "--impl", "subprocess", "--cmd", str(nextfit)]) == 1
    out = capsys.readouterr().out
    assert 'line 6: {"op": "alloc", "npages": 2}\n  expected {"page": 0, "scav": 0}\n  got      {"page": 4, "scav": 2}' in out
    assert cli.main(["fuzz", "--impl", "subprocess", "--cmd", str(nextfit), "--level", "safe", "--seconds", "2",
                     "--db", "none", "--failures", str(tmp_path / "f"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["failures"] == 0
