"""The page-allocator commands: `python -m oracle replay | fuzz | bench`, and the conformance part of the default job.

  replay TRACE   replay one trace against --impl; --emit OUT writes it back
                 with expects from that implementation (oracle.pagealloc.replay)
  fuzz           a differential campaign (oracle.pagealloc.fuzz); --db
                 DIR|redis://HOST:PORT is the example database it shares; with
                 --impl go, the go campaign (oracle.golive.cli.run_go_campaign,
                 which shares through oracle.golive.sharing when --db is given)
  bench          the model and fast on the same workloads (oracle.pagealloc.bench)

Implementation options are resolved here, once, into an ImplOptions that
travels down as an argument: --cmd (or, at this boundary only,
$ORACLE_SUBPROCESS_CMD) for --impl subprocess; --goroot (or $GOROOT) and
--mutant for --impl go; --timeout for both.

Exit codes: 0 every line matched; 1 a line failed (its number, op, expected
and got are printed); 2 bad input or usage (one line naming the trace line,
option or path).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from fast.faults import ALL_FAULTS
from oracle.common.cli import count, positive_seconds, seconds
from oracle.common.errors import EXIT_BAD_INPUT, TraceError, UsageError
from oracle.common.jsonlines import read_text
from oracle.common.output import OutputFile, output_folder
from oracle.golive import campaign as go_campaign
from oracle.golive.cli import run_go_campaign
from oracle.golive.driver import driver_binary, mutated_source
from oracle.golive.mutants import mutant
from oracle.golive.toolchain import GoBuildFailed, find_toolchain, goroot_of
from oracle.pagealloc import bench, fuzz
from oracle.pagealloc.registry import ImplOptions, names
from oracle.pagealloc.replay import ReplayReport, replay

SUBPROCESS_ENV = "ORACLE_SUBPROCESS_CMD"


def bundled_traces() -> list[Path]:
    folder = Path(str(resources.files("oracle.pagealloc") / "traces"))
    return sorted(folder.glob("*.jsonl"))


def add_impl_options(parser: argparse.ArgumentParser, default: str = "model") -> None:
    parser.add_argument("--impl", default=default, choices=names(), help=f"the implementation (default {default})")
    parser.add_argument("--cmd", help=f"with --impl subprocess: the command (default ${SUBPROCESS_ENV}, or fast.serve)")
    parser.add_argument("--goroot", metavar="PATH", help="with --impl go: the Go tree to validate (default: $GOROOT)")
    parser.add_argument("--mutant", metavar="NAME", help="with --impl go: apply a seeded bug (go-mutants --list)")
    parser.add_argument("--fault", action="append", default=[], choices=sorted(ALL_FAULTS),
                        help="with --impl fast: inject a deliberate bug (fast.faults); repeatable")
    parser.add_argument("--timeout", type=positive_seconds, default=None,
                        help="with --impl subprocess or go: seconds one answer may take (default 5; go 30)")


def impl_options(args: argparse.Namespace) -> ImplOptions:
    """The options of --impl, checked (UsageError, GoNotFound: exit 2).

    For --impl go the Go tree is found (and a mutation checked) here; the
    driver is built when a trace's header says for which platform.
    """
    if args.impl != "go" and (args.goroot or args.mutant):
        raise UsageError("--goroot and --mutant need --impl go")
    if args.impl != "subprocess" and args.cmd:
        raise UsageError("--cmd needs --impl subprocess")
    if args.impl != "fast" and args.fault:
        raise UsageError("--fault needs --impl fast")
    cmd = args.cmd or (os.environ.get(SUBPROCESS_ENV) if args.impl == "subprocess" else None)
    if args.impl != "go":
        return ImplOptions(cmd=cmd, timeout=args.timeout, faults=frozenset(args.fault))
    mutation = mutant(args.mutant) if args.mutant else None
    goroot = goroot_of(args.goroot)
    tc = find_toolchain(goroot)
    if mutation is not None:
        mutated_source(tc, mutation)  # MutationError (exit 2) now if it does not apply
    return ImplOptions(goroot=goroot, mutation=mutation, timeout=args.timeout)


def progress_printer(label: str) -> Callable[[int], None] | None:
    if not sys.stderr.isatty():
        return None

    def show(count: int) -> None:
        print(f"\r{label}: {count:,} ops", end="", file=sys.stderr, flush=True)

    return show


def print_report(report: ReplayReport) -> int:
    summary = (
        f"{report.path}: {report.ops:,} ops, {report.checked:,} expects checked, "
        f"{report.seconds:.2f}s, impl {report.impl}"
    )
    if report.header_failure:
        print(f"{summary}: FAILED")
        print(f"line 1: (the header)\n  the implementation failed it: {report.header_failure}")
        return 1
    if report.mismatch is None and not report.emit_refused:
        print(f"{summary}: all match" + (f"; wrote {report.emitted}" if report.emitted else ""))
        return 0
    if report.mismatch is not None:
        print(f"{summary}: MISMATCH")
        print(report.mismatch.describe())
    if report.emit_refused:
        print(f"{summary}: nothing written: {report.emit_refused}")
    return 1


def cmd_replay(args: argparse.Namespace) -> int:
    path = Path(args.trace)
    read_text(path)  # an unreadable, special or non-UTF-8 file is refused before anything is built
    emit = OutputFile(Path(args.emit), [path], "--emit", path.stat().st_size * 2) if args.emit else None
    options = impl_options(args)
    try:
        report = replay(path, args.impl, emit, progress_printer(str(path)), options)
    except TraceError as e:
        print(f"\n{path}: {e}" if sys.stderr.isatty() else f"{path}: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if sys.stderr.isatty():
        print(file=sys.stderr)
    return print_report(report)


def cmd_fuzz(args: argparse.Namespace) -> int:
    if args.impl == "go" and not args.replay:
        return fuzz_go(args)
    if args.replay:
        path = Path(args.replay)
        read_text(path)
        if args.level != "safe":
            raise UsageError("--replay is for safe-level traces; replay exact ones with: python -m oracle replay")
        options = impl_options(args)
        try:
            problem = fuzz.replay_safe(path, args.impl, options)
        except TraceError as e:
            print(f"{path}: {e}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(f"{path}: safe-level check of {args.impl}: {'ok' if problem is None else 'FAILED'}")
        if problem:
            print(problem)
        return 0 if problem is None else 1
    options = impl_options(args)
    failures = output_folder(Path(args.failures), "--failures")
    database = fuzz.database_spec(args.db if args.db is not None else str(fuzz.DEFAULT_DB))
    fuzz.check_database(database)
    config = fuzz.CampaignConfig(
        impl=args.impl,
        level=args.level,
        seconds=args.seconds,
        workers=args.workers,
        steps=args.steps,
        database=database,
        failures_dir=failures,
        options=options,
        shrink_seconds=args.shrink_seconds,
    )
    result = fuzz.run_campaign(config, progress=sys.stderr)
    if args.json:
        print(json.dumps(result.to_json(config)))
    else:
        fuzz.print_summary(config, result, sys.stdout)
    return 1 if result.failures else 0


def fuzz_go(args: argparse.Namespace) -> int:
    """`fuzz --impl go`: the go campaign (oracle.golive.campaign), which batches whole test cases to the runtime.

    Exact conformance: every result equal to the model's, the model running with the runtime's own
    physical and huge page sizes (and in some test cases others, substituted around scavenges)."""
    options = impl_options(args)
    arch = options.mutation.arch if options.mutation else "amd64"  # a mutant runs on its own platform's build
    try:
        binary = options.binary or driver_binary(options.goroot, options.mutation, arch)
    except GoBuildFailed as e:  # the tree (or its mutation) does not build: bad input, exit 2
        raise UsageError(str(e)) from e
    return run_go_campaign(
        binary,
        options.mutation,
        args.goroot,
        args.db if args.db != "none" else None,  # only an explicit --db shares: the go campaign keeps no database
        args.json,
        seconds=args.seconds,
        seed=random.SystemRandom().randrange(1 << 31),  # a new stream each time (with --db: the first to claim)
        out_dir=output_folder(Path(args.failures), "--failures"),
        timeout=args.timeout or go_campaign.CAMPAIGN_TIMEOUT,
    )


def cmd_bench(args: argparse.Namespace) -> int:
    config = bench.BenchConfig()
    if args.quick:
        config = bench.BenchConfig(
            sizes_gib=(1, 64),
            model_ops=300,
            fast_ops=3000,
            summarize_gib=16,
            trace_ops=20_000,
            model_trace_ops=5_000,
            differential_seconds=3.0,
        )
    return bench.main(config, as_json=args.json)


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    rep = sub.add_parser("replay", help="replay one trace and judge every line")
    rep.add_argument("trace")
    add_impl_options(rep)
    rep.add_argument("--emit", metavar="OUT", help="write the trace with expects from the implementation")
    rep.set_defaults(func=cmd_replay)

    fz = sub.add_parser("fuzz", help="run a differential fuzz campaign against an implementation")
    add_impl_options(fz, default="fast")
    fz.add_argument("--level", default="exact", choices=("exact", "safe"), help="conformance level (default exact)")
    fz.add_argument("--seconds", type=seconds, default=60.0, help="how long to fuzz (default 60)")
    fz.add_argument("--workers", type=count(1, 64), default=1, help="processes sharing one example database")
    fz.add_argument("--steps", type=count(1, 10_000), default=50, help="steps per test case (default 50)")
    fz.add_argument("--json", action="store_true", help="print one JSON object instead of the summary")
    fz.add_argument("--failures", default="failures", metavar="DIR", help="failure traces go here (default ./failures)")
    fz.add_argument("--db", default=None, metavar="DIR|redis://HOST:PORT",
                    help='the example database shared by workers and campaigns: a folder, a Redis server '
                    '(campaigns on several machines), or "none" (default .hypothesis/oracle-fuzz; with --impl go, '
                    "failures and seeds are shared only when --db is given)")
    fz.add_argument("--replay", metavar="TRACE", help="re-check a safe-level failure trace instead of fuzzing")
    fz.add_argument("--shrink-seconds", type=seconds, default=30.0, help="time to shrink a failure (default 30)")
    fz.set_defaults(func=cmd_fuzz)

    bn = sub.add_parser("bench", help="benchmark the model against fast and print a table")
    bn.add_argument("--quick", action="store_true", help="small sizes, for a smoke run (figures not comparable)")
    bn.add_argument("--json", action="store_true", help="print the figures as JSON")
    bn.set_defaults(func=cmd_bench)
