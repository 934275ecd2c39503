"""The child-process client: a deadline per answer, a size limit per line, last words on failure."""

from __future__ import annotations

import sys
import textwrap
import time
from pathlib import Path

import pytest

from oracle.common.child import ChildProcess
from oracle.common.errors import ImplementationFailed


def child(tmp_path: Path, body: str, timeout: float = 1.0, max_line: int = 1 << 20) -> ChildProcess:
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(body), encoding="utf-8")
    return ChildProcess(
        [sys.executable, str(script)], "the child", timeout=timeout, max_line=max_line, start_timeout=timeout
    )


ECHO = """
    import sys
    for line in sys.stdin:
        sys.stdout.write(line)
        sys.stdout.flush()
"""


def test_a_batch_comes_back_in_order(tmp_path: Path) -> None:
    c = child(tmp_path, ECHO)
    lines = [f'{{"n": {i}}}\n'.encode() for i in range(20_000)]  # more than any pipe buffer holds
    answers, died = c.exchange(lines)
    assert died is None and answers == [line.rstrip(b"\n") for line in lines]
    assert c.request({"a": 1}) == {"a": 1}
    c.close()


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("import time\nfor line in __import__('sys').stdin:\n    time.sleep(60)\n", "did not answer within 1 s"),
        (
            "import os, sys, time\nsys.stdin.readline()\nos.close(1)\ntime.sleep(60)\n",
            "closed its output without answering",
        ),
        (
            "import sys\nsys.stdin.readline()\nsys.stderr.write('boom: it broke\\n')\nsys.exit(7)\n",
            r"stopped without answering \(exit status 7; its stderr ended with: boom: it broke",
        ),
        (
            "import sys, time\nsys.stdin.readline()\nwhile True:\n    sys.stdout.write('x' * 65536)\n",
            "answered a line longer than 1,048,576 bytes",
        ),
        (
            "import sys, time\nsys.stdin.readline()\nwhile True:\n    sys.stdout.write('x')\n    sys.stdout.flush()\n"
            "    time.sleep(0.05)\n",
            "did not answer within 1 s",
        ),
    ],
    ids=["hang", "closes-output", "crash", "endless-line", "trickle"],
)
def test_failures_are_bounded_and_named(tmp_path: Path, body: str, why: str) -> None:
    c = child(tmp_path, body)
    started = time.monotonic()
    with pytest.raises(ImplementationFailed, match=why):
        c.request({"op": "x"})
    assert time.monotonic() - started < 5
    assert not c.alive()
    with pytest.raises(ImplementationFailed):  # and it stays failed
        c.request({"op": "y"})


def test_a_stderr_flood_neither_blocks_nor_is_kept_whole(tmp_path: Path) -> None:
    body = """
        import sys
        for line in sys.stdin:
            sys.stderr.write("noise " * 100_000 + "\\n")
            sys.stdout.write(line)
            sys.stdout.flush()
    """
    c = child(tmp_path, body, timeout=10.0)
    for i in range(20):
        assert c.request({"i": i}) == {"i": i}
    assert sum(len(line) for line in c.stderr_tail(1000)) <= 1 << 17
    c.close()


def test_extra_and_malformed_answers(tmp_path: Path) -> None:
    twice = child(tmp_path, "import sys\nfor line in sys.stdin:\n    sys.stdout.write(line + line)\n    sys.stdout.flush()\n")
    with pytest.raises(ImplementationFailed, match="more lines than it was sent"):
        twice.request({"i": 1})
    late = child(
        tmp_path,
        "import sys, time\nfor line in sys.stdin:\n    print(line.strip(), flush=True)\n    time.sleep(0.1)\n"
        "    print('{}', flush=True)\n",
    )
    assert late.request({"i": 1}) == {"i": 1}
    time.sleep(0.5)
    with pytest.raises(ImplementationFailed, match="nobody asked for"):
        late.request({"i": 2})
    garbage = child(tmp_path, "import sys\nfor line in sys.stdin:\n    print('{\"a\": 1, \"a\": 2}', flush=True)\n")
    with pytest.raises(ImplementationFailed, match="duplicate key"):
        garbage.request({})


def test_closing_twice_is_harmless(tmp_path: Path) -> None:
    """child.close_all at exit (or a test's cleanup) may close a child its owner closes again later."""
    c = child(tmp_path, ECHO)
    c.close()
    c.close()
    assert not c.alive()
