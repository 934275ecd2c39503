"""A misbehaving implementation for the bad-input tests: fast/ behind the protocol, until it is told to fail.

    python fake_server.py MODE [KIND]

answers like `python -m fast.serve` except at the first operation of KIND
(or at the header, for the header-* modes), where it does what MODE says:
crash, refuse, hang, close its output, answer garbage, too long a line, an
answer where none is due, two answers, ... (see MODES). `flood` answers
correctly but floods its standard error. Not a test module: the tests run it.
"""

from __future__ import annotations

import json
import os
import sys
import time

from fast.serve import Session

MODES = {
    "ok", "flood", "crash", "exit0", "refuse", "bad-refusal", "answer", "garbage", "wrong-type", "missing-field",
    "extra-line", "hang", "close-stdout", "huge-line", "trickle", "not-utf8", "duplicate-key",
    "header-crash", "header-exit0", "header-notok", "header-error", "header-hang", "header-garbage",
}


def main() -> None:
    mode = sys.argv[1]
    kind = sys.argv[2] if len(sys.argv) > 2 else ""
    assert mode in MODES, mode
    session = Session(frozenset())
    out = sys.stdout
    for line in sys.stdin:
        obj = json.loads(line)
        is_header = "trace" in obj
        if mode.startswith("header-") and is_header:
            misbehave(mode.removeprefix("header-"), out, line)
            continue
        if not is_header and obj.get("op") == kind and mode not in ("ok", "flood"):
            misbehave(mode, out, line)
            kind = "done"  # only the first time
            continue
        if mode == "flood":
            sys.stderr.write("noise " * 50_000 + "\n")
        out.write(json.dumps(session.handle(line)) + "\n")
        out.flush()


def misbehave(mode: str, out: object, line: str) -> None:
    write = sys.stdout.write
    if mode == "crash":
        sys.stderr.write("fatal error: the fake server crashed here\n")
        sys.exit(3)
    if mode == "exit0":
        sys.exit(0)
    if mode == "refuse":
        write('{"error": "the fake server refuses this"}\n')
    elif mode == "bad-refusal":
        write('{"error": 5}\n')
    elif mode == "answer":
        write('{"page": 1, "scav": 0}\n')
    elif mode == "garbage":
        write("hello\n")
    elif mode == "wrong-type":
        write('{"page": "x", "scav": 0, "base": "x", "free": 1, "released": "x"}\n')
    elif mode == "missing-field":
        write('{"scav": 0, "free": "0x0000000000000000"}\n')
    elif mode == "extra-line":
        write(json.dumps(Session(frozenset()).handle(line)) + "\n{}\n")
    elif mode == "hang":
        time.sleep(3600)
    elif mode == "close-stdout":
        os.close(1)
        time.sleep(3600)
    elif mode == "huge-line":
        chunk = "x" * (1 << 20)
        for _ in range(20):
            write(chunk)
        write("\n")
    elif mode == "trickle":
        while True:
            write("x")
            sys.stdout.flush()
            time.sleep(0.05)
    elif mode == "not-utf8":
        sys.stdout.buffer.write(b'{"page": "\xff"}\n')
    elif mode == "duplicate-key":
        write('{"page": 0, "page": 1, "scav": 0}\n')
    elif mode == "notok":
        write('{"ok": false}\n')
    elif mode == "error":
        write('{"error": "the fake server takes no such params"}\n')
    sys.stdout.flush()


if __name__ == "__main__":
    main()
