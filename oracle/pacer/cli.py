"""Command line of the pacing oracle (registered in oracle.cli):

  python -m oracle pacer-replay TRACE... [--emit OUT] [--no-invariants]
        replay pacing traces against the model: every expect, exact or within its bound,
        and the invariants after every line
  python -m oracle pacer-fuzz [--seconds 60] [--seed N] [--examples N] [--out TRACE]
        the Hypothesis pacing machine, seed after seed, every invariant after every step
  python -m oracle gen-pacer-traces [--profiles P,...] [--seed N] [--steps N] [--out DIR]
        record pacing traces from the live Go runtime (default: the bundled set, into
        oracle/pacer/traces)
  python -m oracle pacer-mutants [NAME...] [--machine-seconds S]
        each seeded pacing bug against the Go conformance traces and the machine

Options are checked when parsed (oracle.common.cli): a bad one is one line
and exit 2 before any work, and so is an output file that is an input or
cannot be written (oracle.common.output). The Go runs use --goroot, else
$GOROOT (read here, then passed down), else the go command's own tree.

Exit codes: 0 ok; 1 a line that differs from the model or breaks an
invariant, a machine failure, a seeded bug no judge caught; 2 bad input (a
malformed or impossible trace line, a bad option) or no Go toolchain.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from oracle.common.cli import Parser, TraceRow, count, positive_seconds, replay_rows, run_command, seconds
from oracle.common.errors import EXIT_BAD_INPUT, TraceError, UsageError
from oracle.common.jsonlines import read_text
from oracle.common.output import OutputFile
from oracle.golive.toolchain import GoBuildFailed, goroot_of
from oracle.pacer import gotrace, machine
from oracle.pacer.replay import Report, bundled_traces, replay_pacer


def describe_report(report: Report) -> str:
    return (f"{report.ops:,} lines, {sum(report.exact.values()):,} exact and {sum(report.bounded.values()):,} "
            f"bounded checks, {report.seconds:.2f}s")


def cmd_replay(argv: list[str]) -> int:
    p = Parser(prog="python -m oracle pacer-replay", description="replay pacing traces against the model")
    p.add_argument("traces", type=Path, nargs="+")
    p.add_argument("--emit", metavar="OUT", type=Path, help="write the trace back with expects from the model")
    p.add_argument("--no-invariants", action="store_true", help="compare expects only")
    args = p.parse_args(argv)
    return run_command("pacer-replay", lambda: _replay(args))


def _replay(args: argparse.Namespace) -> int:
    if args.emit is not None and len(args.traces) != 1:
        raise UsageError("--emit takes one trace")
    worst = 0
    for path in args.traces:
        try:
            read_text(path)
            emit = OutputFile(args.emit, [path], "--emit", path.stat().st_size * 2) if args.emit else None
            report = replay_pacer(path, emit, not args.no_invariants)
        except TraceError as e:
            print(f"{path}: {e}", file=sys.stderr)
            return EXIT_BAD_INPUT
        if report.failure is None:
            print(f"{path}: {describe_report(report)}: all match" +
                  ("" if args.no_invariants else ", invariants hold"))
            continue
        verdict = {"mismatch": "MISMATCH", "bounds": "OUT OF BOUNDS", "invariant": "INVARIANT BROKEN"}
        print(f"{path}: {describe_report(report)}: {verdict[report.failure.kind]}")
        print(report.failure.describe())
        worst = 1
    return worst


def cmd_fuzz(argv: list[str]) -> int:
    p = Parser(prog="python -m oracle pacer-fuzz", description="the Hypothesis pacing machine")
    p.add_argument("--seconds", type=seconds, default=60.0, help="campaign length (default 60; at least one run)")
    p.add_argument("--seed", type=count(0), default=0, help="first seed (default 0)")
    p.add_argument("--examples", type=count(1), default=50, help="examples per seed (default 50)")
    p.add_argument("--out", metavar="TRACE", type=Path, help="write the failing trace here")
    args = p.parse_args(argv)
    return run_command("pacer-fuzz", lambda: _fuzz(args))


def _fuzz(args: argparse.Namespace) -> int:
    out = OutputFile(args.out, [], "--out") if args.out else None
    result = machine.campaign(args.seconds, args.seed, args.examples)
    runs = f"{result.seeds} run" + ("" if result.seeds == 1 else "s")
    head = f"pacer-fuzz: {runs} ({result.examples:,} examples of up to 40 steps) in {result.seconds:.1f}s"
    if result.failure is None:
        print(f"{head}: every invariant held")
        return 0
    print(f"{head}: INVARIANT BROKEN (seed {result.failed_seed}):\n  {result.failure.summary}\n")
    print(result.failure.trace, end="")
    if out is not None:
        out.write_text(result.failure.trace)
    return 1


def cmd_gen(argv: list[str]) -> int:
    p = Parser(prog="python -m oracle gen-pacer-traces", description="record pacing traces from the live runtime")
    p.add_argument("--profiles", help=f"comma-separated, of {', '.join(gotrace.PROFILES)} (default: the bundled set)")
    p.add_argument("--seed", type=count(0), help="one seed for every profile (with --profiles)")
    p.add_argument("--steps", type=count(1), help="steps per trace (with --profiles; default: the bundled counts)")
    p.add_argument("--out", type=Path, default=gotrace.DEFAULT_OUT, help="folder (default: oracle/pacer/traces)")
    p.add_argument("--goroot", help="the Go tree (default: $GOROOT, else the go command's)")
    args = p.parse_args(argv)
    return run_command("gen-pacer-traces", lambda: _gen(args))


def _gen(args: argparse.Namespace) -> int:
    jobs = gotrace.bundled_jobs()
    if args.profiles:
        wanted = [x.strip() for x in args.profiles.split(",") if x.strip()]
        bad = [x for x in wanted if x not in gotrace.PROFILES]
        if bad or not wanted:
            raise UsageError(f"--profiles: unknown {', '.join(bad) or '(none given)'}; known: "
                             f"{', '.join(gotrace.PROFILES)}")
        defaults = {p: n for p, _, n in gotrace.BUNDLED}
        seed = 1 if args.seed is None else args.seed
        jobs = [gotrace.Job(x, seed, args.steps or defaults[x], f"go_{x}_seed{seed}") for x in wanted]
    elif args.seed is not None or args.steps is not None:
        raise UsageError("--seed and --steps need --profiles")
    log: Callable[[str], None] = lambda line: print(f"gen-pacer-traces: {line}", file=sys.stderr)  # noqa: E731
    try:
        written = gotrace.generate(jobs, args.out, goroot_of(args.goroot), log=log)
    except GoBuildFailed as e:
        raise UsageError(str(e).replace("\n", " | ")) from None
    for path in written:
        print(path)
    return 0


def cmd_mutants(argv: list[str]) -> int:
    p = Parser(prog="python -m oracle pacer-mutants",
               description="each seeded pacing bug against the Go conformance traces and the state machine")
    p.add_argument("names", nargs="*", help="seeded bugs (default: all)")
    p.add_argument("--machine-seconds", type=positive_seconds, default=20.0,
                   help="the machine's campaign per bug (default 20)")
    args = p.parse_args(argv)
    return run_command("pacer-mutants", lambda: _mutants(args))


def _mutants(args: argparse.Namespace) -> int:
    traces = bundled_traces()
    if not traces:
        raise UsageError("no bundled pacing traces (python -m oracle gen-pacer-traces makes them)")
    from oracle.pacer import mutants  # here, not at the top: the seeded bugs come with proofs/, which loads Z3

    results = mutants.run(args.names, traces, args.machine_seconds, progress=lambda line: print(line, flush=True))
    print(f"\n{'seeded bug':<28} {'proof':<24} {'go traces':<10} machine")
    for r in results:
        print(f"{r.mutant.name:<28} {r.claimed_by:<24} {'caught' if r.go.caught else 'missed':<10} "
              f"{'caught' if r.machine.caught else 'missed'}")
        for judge, verdict in (("go", r.go), ("machine", r.machine)):
            if verdict.caught:
                print(f"    {judge + ':':<9} {verdict.where[:110]}")
    go = sum(r.go.caught for r in results)
    both = sum(r.go.caught and r.machine.caught for r in results)
    machine_caught = sum(r.machine.caught for r in results)
    missed = [r.mutant.name for r in results if not (r.go.caught or r.machine.caught)]
    print(f"\nseeded bugs: {len(results)}; caught by the Go traces {go}, by the machine {machine_caught}, by both "
          f"{both}; " + ("every one caught" if not missed else f"MISSED by both: {', '.join(missed)}"))
    return 1 if missed else 0


def replay_bundled() -> int:
    """The default job's part: every bundled pacing trace against the model, a line each; 1 if any fails."""
    traces = bundled_traces()
    print(f"\nReplaying {len(traces)} pacing conformance traces against the model:")
    checks = [0, 0]  # exact, bounded

    def replay_one(path: Path) -> TraceRow:
        report = replay_pacer(path)
        exact, bounded = sum(report.exact.values()), sum(report.bounded.values())
        checks[0] += exact
        checks[1] += bounded
        figures = f"{report.ops:>7,} ops {exact:>7,} exact {bounded:>5,} bounded {report.seconds:6.2f}s"
        return TraceRow(report.ok, report.ops, figures, report.failure.describe() if report.failure else None)

    worst, ops = replay_rows(traces, replay_one)
    verdict = "all traces match" if worst == 0 else "FAILED"
    print(f"Pacing: {len(traces)} traces, {ops:,} ops, {checks[0]:,} exact and {checks[1]:,} bounded checks: {verdict}")
    return worst if traces else 2


COMMANDS = {"pacer-replay": cmd_replay, "pacer-fuzz": cmd_fuzz, "gen-pacer-traces": cmd_gen,
            "pacer-mutants": cmd_mutants}

HELP = {
    "pacer-replay": "replay pacing traces (GC triggers, heap goal, memory limit, scavenger goals) against the model",
    "pacer-fuzz": "the Hypothesis pacing machine: every pacing invariant after every step",
    "gen-pacer-traces": "record pacing traces from the live Go runtime (needs Go)",
    "pacer-mutants": "seeded pacing bugs, each against the Go conformance traces and the pacing machine",
}
