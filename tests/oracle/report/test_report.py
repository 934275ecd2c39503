"""`python -m oracle report`: the page for a failing trace from each adapter kind, its exit codes and its parts.

The page is checked here by parsing its HTML (which line is marked, which
cells are drawn how); tests/oracle/report/test_browser.py checks it in a
real browser.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from oracle import cli
from oracle.golive.driver import driver_binary
from oracle.golive.mutants import mutant
from oracle.golive.toolchain import GoNotFound
from oracle.report.timeline import StateCounter, Timeline
from tests.helpers import HINT_TOO_FAR, DoubleHandout, register

ROOT = Path(__file__).resolve().parents[3]
NEXT_FIT = """\
{"trace": "pagealloc", "version": 3, "params": {"chunk_pages": 64, "phys_page_pages": 1, "huge_page_pages": 0}}
{"op": "grow", "chunk": 0, "nchunks": 1}
{"op": "alloc", "npages": 3, "expect": {"page": 0, "scav": 3}}
{"op": "alloc", "npages": 1, "expect": {"page": 3, "scav": 1}}
{"op": "free", "page": 0, "npages": 3}
{"op": "alloc", "npages": 2, "expect": {"page": 0, "scav": 0}}
"""
FIND_BIT_RANGE = """\
{"trace": "pagealloc", "version": 3, "params": {"chunk_pages": 512, "phys_page_pages": 1, "huge_page_pages": 256}}
{"op": "grow", "chunk": 0, "nchunks": 1}
{"op": "alloc", "npages": 1, "expect": {"page": 0, "scav": 1}}
{"op": "alloc", "npages": 1, "expect": {"page": 1, "scav": 1}}
{"op": "free", "page": 0, "npages": 1}
{"op": "alloc", "npages": 2, "expect": {"page": 2, "scav": 2}}
"""


class Cells(HTMLParser):
    """The page's heap cells by side, its failing row, its trace rows."""

    def __init__(self) -> None:
        super().__init__()
        self.side = ""
        self.cells: dict[str, dict[int, set[str]]] = {"side-left": {}, "side-right": {}}
        self.failing: list[str] = []
        self.rows: list[str] = []
        self.sources: list[str] = []
        self._in_source = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "div" and a.get("id") in self.cells:
            self.side = a["id"] or ""
        if tag == "b" and a.get("data-page") is not None:
            self.cells[self.side][int(a["data-page"] or 0)] = set((a.get("class") or "").split())
        if tag == "tr" and a.get("data-line") is not None:
            self.rows.append(a.get("class") or "")
            if a.get("id") == "failing-line":
                self.failing.append(a["data-line"] or "")
        if tag == "p" and a.get("class") == "source":
            self._in_source = True

    def handle_data(self, data: str) -> None:
        if self._in_source:
            self.sources.append(data)
            self._in_source = False


def page_of(path: Path) -> Cells:
    parser = Cells()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def flagged(page: Cells, side: str, flag: str) -> set[int]:
    return {p for p, classes in page.cells[side].items() if flag in classes}


def report(capsys: pytest.CaptureFixture[str], trace: Path, out: Path, *args: str) -> tuple[int, Cells]:
    before = trace.read_bytes()
    code = cli.main(["report", str(trace), "-o", str(out), *args])
    capsys.readouterr()
    assert trace.read_bytes() == before  # the input is never touched
    return code, page_of(out) if out.exists() else Cells()


def test_fast_with_an_injected_fault(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "hint.jsonl"
    trace.write_text(HINT_TOO_FAR, encoding="utf-8")
    code, page = report(capsys, trace, tmp_path / "hint.html", "--impl", "fast", "--fault", "hint_too_far")
    assert code == 1
    assert page.failing == ["5"]
    assert page.rows[:5] == ["line"] * 4 + ["line failing"] and page.rows[5] == "line notrun"
    assert flagged(page, "side-left", "exp") == {0} and flagged(page, "side-right", "got") == {73}
    assert {0, 73} <= flagged(page, "side-left", "diff") == flagged(page, "side-right", "diff")
    assert "used" in page.cells["side-left"][0] and "scav" in page.cells["side-right"][0]
    assert "padding" in page.cells["side-left"][7]
    assert "own snapshot" in page.sources[1]
    text = (tmp_path / "hint.html").read_text(encoding="utf-8")
    assert "expected {&quot;page&quot;: 0, &quot;scav&quot;: 1}" in text and "got      {&quot;page&quot;: 73" in text
    assert "The states first differed after line 4" in text  # the hint went wrong before any answer did
    assert "<script" not in text and "http" not in text.split("<body>")[1].split("<footer>")[0]


def test_subprocess_with_snapshots(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "hint.jsonl"
    trace.write_text(HINT_TOO_FAR, encoding="utf-8")
    command = f"{shlex.quote(sys.executable)} -m fast.serve --fault hint_too_far"
    code, page = report(capsys, trace, tmp_path / "sub.html", "--impl", "subprocess", "--cmd", command)
    assert code == 1 and page.failing == ["5"]
    assert flagged(page, "side-right", "got") == {73} and "own snapshot" in page.sources[1]


@pytest.fixture(scope="module")
def nextfit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    compiler = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if compiler is None:
        pytest.skip("no C compiler (cc, gcc or clang) on PATH; .ci/run installs gcc")
    binary = tmp_path_factory.mktemp("c") / "nextfit"
    subprocess.run([compiler, "-O2", "-std=c11", "-o", str(binary), str(ROOT / "oracle/examples/c/pagealloc.c")],
                   check=True, capture_output=True, timeout=120)
    return binary


def test_subprocess_without_snapshots_is_reconstructed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], nextfit: Path
) -> None:
    trace = tmp_path / "nextfit.jsonl"
    trace.write_text(NEXT_FIT, encoding="utf-8")
    code, page = report(capsys, trace, tmp_path / "c.html", "--impl", "subprocess", "--cmd", str(nextfit))
    assert code == 1 and page.failing == ["6"]
    assert flagged(page, "side-left", "exp") == {0, 1} and flagged(page, "side-right", "got") == {4, 5}
    assert flagged(page, "side-left", "diff") == {0, 1, 4, 5}
    assert {p for p, c in page.cells["side-right"].items() if "used" in c} == {3, 4, 5}
    assert page.sources[1].startswith("reconstructed:")


def test_a_passing_trace_and_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "ok.jsonl"
    trace.write_text(HINT_TOO_FAR, encoding="utf-8")
    code, page = report(capsys, trace, tmp_path / "ok.html", "--impl", "fast")
    assert code == 0 and page.failing == [] and "passes every line" in (tmp_path / "ok.html").read_text()
    assert cli.main(["report", str(trace), "--impl", "fast"]) == 0  # the default: beside the trace
    assert (tmp_path / "ok.html").is_file()
    bad = tmp_path / "bad.jsonl"
    bad.write_text(HINT_TOO_FAR.replace('"npages": 65', '"npages": -65'), encoding="utf-8")
    assert cli.main(["report", str(bad), "-o", str(tmp_path / "bad.html")]) == 2
    assert not (tmp_path / "bad.html").exists()
    assert cli.main(["report", str(trace), "-o", str(trace)]) == 2  # never over its input
    assert cli.main(["report", str(tmp_path / "missing.jsonl")]) == 2
    assert "line 4" in capsys.readouterr().err


def test_the_safe_level(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch, "double", DoubleHandout)
    trace = tmp_path / "double.jsonl"
    lines = [{"trace": "pagealloc", "version": 3,
              "params": {"chunk_pages": 64, "phys_page_pages": 1, "huge_page_pages": 0}},
             {"op": "grow", "chunk": 0, "nchunks": 1}] + [{"op": "alloc", "npages": 1}] * 3
    trace.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    code, page = report(capsys, trace, tmp_path / "safe.html", "--impl", "double", "--level", "safe")
    assert code == 1 and page.failing == ["5"]
    assert flagged(page, "side-right", "got") == {1} and flagged(page, "side-left", "diff") == {1}
    assert "handed out twice" in (tmp_path / "safe.html").read_text()


def test_a_saved_timeline_is_drawn(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "hint.jsonl"
    trace.write_text(HINT_TOO_FAR, encoding="utf-8")
    timeline = Timeline()
    for k in range(5):
        timeline.add(k * 0.5, 100 * k, 7 * k)
    timeline.save_beside(trace)
    report(capsys, trace, tmp_path / "t.html", "--impl", "fast", "--fault", "hint_too_far")
    text = (tmp_path / "t.html").read_text()
    assert '<section id="progress">' in text and text.count("<polyline") == 2 and "400 ops in 2.0 s, 28" in text


def test_state_counter_counts_occupancies() -> None:
    counter = StateCounter()
    counter.start()
    counter.step("grow", {"chunk": 0, "nchunks": 1}, None)  # a chunk, nothing in use
    counter.step("alloc", {"npages": 2}, {"page": 0, "scav": 2})  # pages 0-1 in use
    counter.step("free", {"page": 0, "npages": 2}, None)  # back to the first state
    counter.step("cache_fill", {"cache": 0}, {"base": 0, "free": 3, "scav": 0})  # pages 0-1 held: the second
    counter.step("cache_alloc", {"cache": 0, "npages": 1}, {"page": 0, "scav": 0})  # no change to the heap
    assert len(counter) == 2
    counter.step("cache_flush", {"cache": 0}, None)  # page 1 back, page 0 still in use: a third
    assert len(counter) == 3 and len(counter.take_fresh()) == 3 and counter.take_fresh() == []


@pytest.mark.go
@pytest.mark.slow
def test_a_go_mutant(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        driver_binary(None, mutant("find_bit_range64_off_by_one"))  # built once, cached
    except GoNotFound as e:
        pytest.skip(f"no Go toolchain: {e}")
    trace = tmp_path / "go.jsonl"
    trace.write_text(FIND_BIT_RANGE, encoding="utf-8")
    # The mutant runs the test binary's own heap too, and may crash it by itself (SPEC.md §11): a crash at the
    # header (line 1) is the mutant's, not this page's subject, so the page is made again, at most twice more.
    for _ in range(3):
        code, page = report(capsys, trace, tmp_path / "go.html", "--impl", "go", "--mutant",
                            "find_bit_range64_off_by_one")
        if page.failing != ["1"]:
            break
    assert code == 1 and page.failing == ["6"]
    assert flagged(page, "side-left", "exp") == {2, 3} and flagged(page, "side-right", "got") == {0, 1}
    assert "the runtime's own" in page.sources[1]
    code, page = report(capsys, trace, tmp_path / "pristine.html", "--impl", "go")
    assert code == 0
