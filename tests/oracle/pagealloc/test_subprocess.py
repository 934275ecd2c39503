"""The subprocess adapter, end to end with `python -m fast.serve`, and its protocol errors."""

from __future__ import annotations

import io
import json
import shlex
import sys
import textwrap
from pathlib import Path

import pytest

from fast.serve import Session, serve
from model.errors import InvalidOperation, ParameterError
from oracle.common.errors import ImplementationFailed
from oracle.pagealloc.cli import bundled_traces
from oracle.pagealloc.fuzz import run_once
from oracle.pagealloc.registry import ImplOptions
from oracle.pagealloc.replay import replay
from oracle.pagealloc.subprocess import SubprocessImpl
from oracle.pagealloc.trace import Op, Params

SERVE = f"{shlex.quote(sys.executable)} -m fast.serve"


def test_a_go_trace_replays_through_the_protocol() -> None:
    traces = bundled_traces()
    assert traces, "the Go conformance traces are missing"
    report = replay(traces[0], "subprocess")  # default command: python -m fast.serve
    assert report.ok, report.mismatch and report.mismatch.describe()


def test_subprocess_conforms_exactly_with_snapshots(tmp_path: Path) -> None:
    impl = SubprocessImpl(Params(64, 1, 0, 2), SERVE)
    assert impl.can_snapshot
    result = run_once("subprocess", "exact", max_examples=10, steps=30, seed=31, failures_dir=tmp_path, options=ImplOptions(cmd=SERVE))
    assert result.failure is None, result.failure and result.failure.message


def test_a_fault_is_found_through_the_protocol(tmp_path: Path) -> None:
    cmd = f"{SERVE} --fault flush_drops_scavenged"
    result = run_once(
        "subprocess", "exact", max_examples=150, steps=50, seed=32, failures_dir=tmp_path, options=ImplOptions(cmd=cmd), shrink=False
    )
    assert result.failure is not None and result.failure.reproduces
    assert "--cmd" in result.failure.message and "--fault flush_drops_scavenged" in result.failure.message


def test_refusals_travel_as_errors() -> None:
    impl = SubprocessImpl(Params(64, 1, 0, 2), SERVE)
    impl.apply(Op("grow", {"chunk": 0, "nchunks": 1}))
    assert impl.apply(Op("alloc", {"npages": 2})) == {"page": 0, "scav": 2}
    assert impl.apply(Op("cache_fill", {"cache": 0})) == {"base": 0, "free": (1 << 64) - 4, "scav": (1 << 64) - 4}
    with pytest.raises(InvalidOperation, match="cache 0 holds"):
        impl.apply(Op("free", {"page": 40, "npages": 1}))
    assert impl.apply(Op("scavenge", {"npages": 1, "force": False})) == {"released": 0}
    assert impl.apply(Op("next_gen", {})) is None


def program(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / f"{name}.py"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return f"{shlex.quote(sys.executable)} {shlex.quote(str(path))}"


def test_protocol_errors(tmp_path: Path) -> None:
    garbage = program(
        tmp_path,
        "garbage",
        """
        import sys
        for line in sys.stdin:
            print("hello", flush=True)
        """,
    )
    with pytest.raises(ImplementationFailed, match="not valid JSON"):
        SubprocessImpl(Params(), garbage)

    dies = program(
        tmp_path,
        "dies",
        """
        import sys
        sys.stdin.readline()
        print('{"ok": true}', flush=True)
        sys.stdin.readline()
        sys.exit(3)
        """,
    )
    impl = SubprocessImpl(Params(), dies)
    with pytest.raises(ImplementationFailed, match=r"stopped without answering \(exit status 3"):
        impl.apply(Op("alloc", {"npages": 1}))

    picky = program(
        tmp_path,
        "picky",
        """
        import sys
        for line in sys.stdin:
            print('{"error": "only chunk_pages 64"}', flush=True)
        """,
    )
    with pytest.raises(ParameterError, match="only chunk_pages 64"):
        SubprocessImpl(Params(), picky)

    chatty = program(
        tmp_path,
        "chatty",
        """
        import sys
        sys.stdin.readline()
        print('{"ok": true}', flush=True)
        for line in sys.stdin:
            print('{"page": "x"}', flush=True)
        """,
    )
    impl = SubprocessImpl(Params(), chatty)
    with pytest.raises(ImplementationFailed, match="grow has no result"):
        impl.apply(Op("grow", {"chunk": 0, "nchunks": 1}))
    with pytest.raises(ImplementationFailed, match="answered alloc"):
        impl.apply(Op("alloc", {"npages": 1}))


def test_serve_speaks_the_protocol() -> None:
    header = {
        "trace": "pagealloc",
        "version": 2,
        "params": {"chunk_pages": 64, "phys_page_pages": 1, "huge_page_pages": 0},
    }
    lines = [
        json.dumps({"op": "alloc", "npages": 1}),
        json.dumps(header),
        json.dumps({"op": "grow", "chunk": 3, "nchunks": 1}),
        json.dumps({"op": "alloc", "npages": 1}),
        json.dumps({"op": "free", "page": 0, "npages": 1}),
        "not json",
        json.dumps({"op": "snapshot"}),
    ]
    out = io.StringIO()
    serve(io.StringIO("\n".join(lines) + "\n"), out)
    answers = [json.loads(a) for a in out.getvalue().splitlines()]
    assert answers[0] == {"error": "no header yet"}
    assert answers[1] == {"ok": True, "snapshot": True}
    assert answers[2] == {}
    assert answers[3] == {"page": 192, "scav": 1}
    assert "not in the heap" in answers[4]["error"]
    assert "not JSON" in answers[5]["error"]
    assert answers[6]["state"]["chunks"]["3"]["alloc"] == ["0x0000000000000001"]
    assert Session(frozenset()).handle(json.dumps({**header, "version": 7})) == {
        "error": "expected a pagealloc trace header of version 1, 2 or 3"
    }
