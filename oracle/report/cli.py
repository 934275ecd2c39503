"""`python -m oracle report TRACE --impl X [-o OUT.html] [--level exact|safe]`: the failure report page.

Replays TRACE against the implementation the way `replay` does (or, with
`--level safe`, the way `fuzz --level safe --replay` does) and writes one
self-contained HTML page (oracle.report.page): the trace with its failing
line marked, expected and got, a map of the heap around the failing line
for the model and the implementation side by side, the summaries along
the search path, and the campaign's progress when one was saved beside
the trace. OUT defaults to the trace's name with `.html`, beside it; it is
checked before anything runs and written atomically (never over the trace).

Exit codes: 0 every line passes (the page says so), 1 a line fails (the
page shows it), 2 bad input or usage (a malformed line, a bad option or
path): then nothing is written.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from oracle.common.jsonlines import read_text
from oracle.common.output import OutputFile
from oracle.pagealloc.cli import add_impl_options, impl_options
from oracle.report.page import write_report

HELP = "write one HTML page showing a trace's failing line, both heaps around it and the search path"


def cmd_report(args: argparse.Namespace) -> int:
    trace = Path(args.trace)
    read_text(trace)  # an unreadable, special or non-UTF-8 file is refused before anything is built
    out_path = Path(args.output) if args.output else trace.with_suffix(".html")
    out = OutputFile(out_path, [trace], "-o", 4 << 20)
    options = impl_options(args)
    evidence = write_report(trace, args.impl, out, options, args.level)
    verdict = f"fails at line {evidence.failing_line}" if not evidence.ok else "passes every line"
    print(f"{trace}: {args.impl} ({args.level} level) {verdict}; wrote {out_path}")
    return 0 if evidence.ok else 1


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    rp = sub.add_parser("report", help=HELP)
    rp.add_argument("trace")
    add_impl_options(rp)
    rp.add_argument("-o", "--output", metavar="OUT.html", help="the page to write (default: TRACE with .html)")
    rp.add_argument("--level", default="exact", choices=("exact", "safe"),
                    help="judge as replay does (exact, default) or as the safe level does")
    rp.set_defaults(func=cmd_report)
