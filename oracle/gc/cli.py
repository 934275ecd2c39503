"""Command line of the marking oracle (registered in oracle.cli):

  python -m oracle mark HEAP [--impl model|fast|go] [--json] [--extended] [--compare]
        collect a heap snapshot once: marked, freed, finalize, scanned words
  python -m oracle gc-replay TRACE [--barrier B] [--emit OUT] [--lost-only] [--no-invariants]
        replay a GC trace against the model, compare expects, check invariants
  python -m oracle gc-fuzz [--barrier B] [--seeds N] [--examples N] [--out TRACE] [--db DIR|redis://HOST:PORT]
        run the Hypothesis machine; with a broken barrier, print the shrunk lost-object trace;
        --db shares failing examples with other runs, on this machine or (Redis) others
  python -m oracle gc-bench [--sizes 1e4,1e5,1e6,1e7] [--model-max N] [--reps N] [--no-go] [--gomaxprocs N]
        marking throughput of model, fast and the Go runtime
  python -m oracle gc-noscan [--runs N] [--gomaxprocs N]
        what noscan spans save: runtime.GC() with 20 slices of []*int64 against []int64 in Go,
        beside the model's scanned words for the same heaps
  python -m oracle gc-record [--profiles P,...] [--seeds N,...] [--steps N] [--out DIR]
        record the small-object path from the Go runtime as version 2 traces, and replay each on the model
  python -m oracle gc-spans [--seeds N] [--examples N] [--steps N] [--bugs]
        the span-path state machine; with --bugs, each seeded span-path bug of the model, which it must catch

Options are checked when parsed (oracle.common.cli): a bad one is one line
and exit 2 before any work, and so is an output file that is an input or
cannot be written (oracle.common.output). The Go runs use $GOROOT's tree if
it is set (read here, then passed down), else the go command's own.

Exit codes: 0 ok; 1 implementations disagree, a replay mismatched or broke an
invariant, or the machine found a failure; 2 bad input (a malformed
snapshot or trace, a bad option) or no Go toolchain for --impl go.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path

from fast.gc.mark import collect_snapshot as fast_collect
from model.errors import ModelError
from model.gc.barrier import BARRIERS
from model.gc.cycle import collect_snapshot as model_collect
from model.gc.results import HeapSpec, MarkResult
from oracle.common.cli import Parser, TraceRow, count, replay_rows, run_command
from oracle.common.errors import EXIT_BAD_INPUT, TraceError, UsageError
from oracle.common.jsonlines import read_text
from oracle.common.output import OutputFile
from oracle.gc import bench as gc_bench
from oracle.gc import machine as gc_machine
from oracle.gc import seeded, spanmachine, spanpath
from oracle.gc import snapshot as gc_snapshot
from oracle.gc.gomark import GoUnavailable, go_mark
from oracle.gc.replay import bundled_traces, replay_gc, replay_text
from oracle.golive.toolchain import goroot_of
from oracle.pagealloc.fuzz import check_database, database_spec, open_database

IMPLS = ("model", "fast", "go")
COLLECTORS: dict[str, Callable[[HeapSpec], MarkResult]] = {"model": model_collect, "fast": fast_collect}


def collect_with(impl: str, spec: HeapSpec, goroot: str | None = None) -> MarkResult:
    return go_mark(spec, goroot) if impl == "go" else COLLECTORS[impl](spec)


def _show(result: MarkResult) -> str:
    words = "-" if result.scanned_words is None else f"{result.scanned_words:,}"
    return (
        f"marked {len(result.marked)}, freed {len(result.freed)}, finalize {len(result.finalize)}, "
        f"scanned words {words}\n"
        f"  marked:   {list(result.marked)}\n  freed:    {list(result.freed)}\n  finalize: {list(result.finalize)}"
    )


def differences(got: MarkResult, want: MarkResult) -> list[str]:
    out = []
    for field in ("marked", "freed", "finalize"):
        a, b = set(getattr(got, field)), set(getattr(want, field))
        if a != b:
            out.append(f"{field}: only in impl {sorted(a - b, key=str)}, only in model {sorted(b - a, key=str)}")
    for field in ("scanned_words", "scan_items", "slots_scanned"):
        a, b = getattr(got, field), getattr(want, field)
        if a is not None and b is not None and a != b:
            out.append(f"{field}: impl {a}, model {b}")
    return out


# Checked option values.


def object_count(minimum: int) -> Callable[[str], int]:
    """A number of objects, as a whole number that may be written like 1e6, at least `minimum`."""

    def parse(text: str) -> int:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of objects") from None
        if not math.isfinite(value) or not value.is_integer() or value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r}: must be a whole number >= {minimum} (1e6 is allowed)")
        return int(value)

    parse.__name__ = "object_count"
    return parse


def heap_sizes(text: str) -> list[int]:
    """Comma-separated heap sizes in objects, each >= 1."""
    sizes = [object_count(1)(s.strip()) for s in text.split(",") if s.strip()]
    if not sizes:
        raise argparse.ArgumentTypeError(f"{text!r}: name at least one heap size")
    return sizes


# The jobs.


def cmd_mark(argv: list[str]) -> int:
    p = Parser(prog="python -m oracle mark", description="collect a heap snapshot once")
    p.add_argument("heap", type=Path, help="heap snapshot (JSON, SPEC.md Part II)")
    p.add_argument("--impl", default="model", choices=IMPLS)
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("--extended", action="store_true", help="with --json: also scan_items and slots_scanned")
    p.add_argument("--compare", action="store_true", help="also run the model; exit 1 if the results differ")
    args = p.parse_args(argv)
    return run_command("mark", lambda: _mark(args))


def _mark(args: argparse.Namespace) -> int:
    path: Path = args.heap
    try:
        spec = gc_snapshot.load(path)
        result = collect_with(args.impl, spec, goroot_of())
    except (gc_snapshot.SnapshotError, ModelError) as e:
        print(f"{path}: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except GoUnavailable as e:
        print(f"{path}: --impl go: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.json:
        print(json.dumps(result.to_json(args.extended)))
    else:
        print(f"{path}: impl {args.impl}: {_show(result)}")
    if args.compare:
        diffs = differences(result, collect_with("model", spec))
        if diffs:
            print(f"{path}: impl {args.impl} DIFFERS from the model:\n  " + "\n  ".join(diffs), file=sys.stderr)
            return 1
        print(f"{path}: impl {args.impl} agrees with the model", file=sys.stderr)
    return 0


def cmd_replay(argv: list[str]) -> int:
    p = Parser(prog="python -m oracle gc-replay", description="replay a GC trace against the model")
    p.add_argument("trace", type=Path)
    p.add_argument("--barrier", default="hybrid", choices=sorted(BARRIERS), help="the write barrier to run with")
    p.add_argument("--emit", metavar="OUT", type=Path, help="write the trace back with expects from the model")
    p.add_argument("--lost-only", action="store_true", help="skip the weak tricolor check; report lost objects")
    p.add_argument("--no-invariants", action="store_true", help="compare expects only")
    args = p.parse_args(argv)
    return run_command("gc-replay", lambda: _replay(args))


def _replay(args: argparse.Namespace) -> int:
    path: Path = args.trace
    try:
        read_text(path)  # an unreadable or special file is refused before anything is built
        emit = OutputFile(args.emit, [path], "--emit", path.stat().st_size * 2) if args.emit else None
        report = replay_gc(path, BARRIERS[args.barrier], emit, not args.no_invariants, not args.lost_only)
    except TraceError as e:
        print(f"{path}: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    summary = (f"{path}: {report.ops:,} steps, {report.checked:,} expects checked, {report.seconds:.2f}s, "
               f"barrier {report.barrier}")
    if report.failure is None:
        print(f"{summary}: all match, invariants hold" if not args.no_invariants else f"{summary}: all match")
        return 0
    print(f"{summary}: {'MISMATCH' if report.failure.kind == 'mismatch' else 'INVARIANT BROKEN'}")
    print(report.failure.describe())
    return 1


def replay_bundled() -> int:
    """The default job's part: every bundled small-object-path trace against the model, a line each; 1 if any fails."""
    traces = bundled_traces()
    print(f"\nReplaying {len(traces)} small-object path traces (recorded from Go) against the model:")

    def replay_one(path: Path) -> TraceRow:
        report = replay_gc(path)
        figures = f"{report.ops:>7,} steps {report.checked:>7,} checked {report.seconds:6.2f}s"
        return TraceRow(report.ok, report.ops, figures, report.failure.describe() if report.failure else None)

    worst, steps = replay_rows(traces, replay_one)
    print(f"Small-object path: {len(traces)} traces, {steps:,} steps: "
          + ("all traces match" if worst == 0 else "FAILED"))
    return worst if traces else 2


def cmd_fuzz(argv: list[str]) -> int:
    p = Parser(prog="python -m oracle gc-fuzz", description="the Hypothesis GC machine")
    p.add_argument("--barrier", default="hybrid", choices=sorted(BARRIERS))
    p.add_argument("--seeds", type=count(1), default=20, help="Hypothesis runs, one per seed (default 20)")
    p.add_argument("--examples", type=count(1), default=200, help="examples per run (default 200)")
    p.add_argument("--out", metavar="TRACE", type=Path, help="write the shrunk failing trace here")
    p.add_argument("--db", default="none", metavar="DIR|redis://HOST:PORT",
                   help='an example database shared with other runs: a folder, a Redis server, or "none" (default)')
    args = p.parse_args(argv)
    return run_command("gc-fuzz", lambda: _fuzz(args))


def _fuzz(args: argparse.Namespace) -> int:
    out = OutputFile(args.out, [], "--out") if args.out else None
    spec = database_spec(args.db)
    check_database(spec)
    database = open_database(spec)
    if args.barrier == "hybrid":
        failure = gc_machine.check_hybrid(range(args.seeds), args.examples, database=database)
        if failure is None:
            print(f"gc-fuzz: hybrid barrier, {args.seeds} runs of {args.examples} examples: every invariant held, "
                  "model and fast agreed")
            return 0
        print(f"gc-fuzz: hybrid barrier FAILED:\n{failure}")
        return 1
    found = gc_machine.hunt(BARRIERS[args.barrier], range(args.seeds), args.examples, database=database)
    if found is None:
        print(f"gc-fuzz: barrier {args.barrier}: no lost object in {args.seeds} runs of {args.examples} examples")
        return 0
    found_steps = found.found.count("\n") - 1
    print(f"gc-fuzz: barrier {args.barrier}: lost an object (seed {found.seed}; found as {found_steps} steps, "
          f"shrunk to {found.steps}):\n  {found.message}\n")
    print(found.trace, end="")
    if out is not None:
        out.write_text(found.trace)
    return 1


def cmd_bench(argv: list[str]) -> int:
    p = Parser(prog="python -m oracle gc-bench", description="marking throughput")
    p.add_argument("--sizes", type=heap_sizes, default=[10**4, 10**5, 10**6, 10**7],
                   help="heap sizes in objects (default 1e4,1e5,1e6,1e7)")
    p.add_argument("--model-max", type=object_count(0), default=10**6,
                   help="largest heap the model marks (default 1e6)")
    p.add_argument("--reps", type=count(1), default=3, help="runs per heap; the best is shown (default 3)")
    p.add_argument("--no-go", action="store_true", help="leave out the Go runtime")
    p.add_argument("--gomaxprocs", type=count(0), default=None, help="GOMAXPROCS for the Go runs (default: Go's)")
    args = p.parse_args(argv)
    return run_command("gc-bench", lambda: _bench(args))


def _bench(args: argparse.Namespace) -> int:
    print(gc_bench.table([]))
    for n in args.sizes:
        try:
            rows = gc_bench.bench([n], args.reps, args.model_max, not args.no_go, args.gomaxprocs,
                                  goroot_of())
        except GoUnavailable as e:
            print(f"gc-bench: Go: {e}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print("\n".join(gc_bench.table(rows).split("\n")[1:]), flush=True)
    return 0


def cmd_noscan(argv: list[str]) -> int:
    p = Parser(prog="python -m oracle gc-noscan",
               description="what noscan spans save: []*int64 against []int64 in Go, beside the model's scanned words")
    p.add_argument("--runs", type=count(1), default=3, help="program runs; medians are printed (default 3)")
    p.add_argument("--gomaxprocs", type=count(0), default=1,
                   help="GOMAXPROCS for Go (default 1; 0 for Go's default)")
    args = p.parse_args(argv)
    return run_command("gc-noscan", lambda: _noscan(args))


def _noscan(args: argparse.Namespace) -> int:
    try:
        report = gc_bench.noscan(args.runs, gomaxprocs=args.gomaxprocs or None, goroot=goroot_of())
        print(report.describe())
    except GoUnavailable as e:
        print(f"gc-noscan: Go: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


def names(choices: tuple[str, ...]) -> Callable[[str], list[str]]:
    """A comma-separated list of names, each one of `choices`."""

    def parse(text: str) -> list[str]:
        picked = [t.strip() for t in text.split(",") if t.strip()]
        wrong = [t for t in picked if t not in choices]
        if not picked or wrong:
            raise argparse.ArgumentTypeError(f"{text!r}: choose from {', '.join(choices)}")
        return picked

    parse.__name__ = "names"
    return parse


def seed_list(text: str) -> list[int]:
    """Comma-separated seeds, each a whole number >= 0."""
    try:
        seeds = [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of seeds") from None
    if not seeds or any(s < 0 for s in seeds):
        raise argparse.ArgumentTypeError(f"{text!r}: seeds are whole numbers >= 0")
    return seeds


def cmd_record(argv: list[str]) -> int:
    p = Parser(prog="python -m oracle gc-record",
               description="record the small-object path from the Go runtime and replay it on the model")
    p.add_argument("--profiles", type=names(tuple(spanpath.PROFILES)), default=list(spanpath.PROFILES),
                   help=f"size profiles (default {','.join(spanpath.PROFILES)})")
    p.add_argument("--seeds", type=seed_list, default=[1], help="generator seeds (default 1)")
    p.add_argument("--steps", type=count(1, 100_000), default=2500, help="steps per trace (default 2500)")
    p.add_argument("--out", metavar="DIR", type=Path, help="write the traces here, go_spanpath_PROFILE_seedN.jsonl")
    args = p.parse_args(argv)
    return run_command("gc-record", lambda: _record(args))


def _record(args: argparse.Namespace) -> int:
    if args.out is not None and not args.out.is_dir():
        raise UsageError(f"--out {args.out}: not a folder")
    worst = 0
    for profile in args.profiles:
        for seed in args.seeds:
            name = f"go_spanpath_{profile}_seed{seed}.jsonl"
            try:
                text = spanpath.record(seed, args.steps, profile, goroot_of())
            except GoUnavailable as e:
                print(f"gc-record: Go: {e}", file=sys.stderr)
                return EXIT_BAD_INPUT
            if args.out is not None:
                OutputFile(args.out / name, [], "--out").write_text(text)
            report = replay_text(text)
            verdict = "every placement and span change matches" if report.ok else "MISMATCH"
            print(f"{name}: {report.ops:,} steps, {report.checked:,} expects checked: {verdict}", flush=True)
            if report.failure is not None:
                print(report.failure.describe())
                worst = 1
    return worst


def cmd_spans(argv: list[str]) -> int:
    p = Parser(prog="python -m oracle gc-spans", description="the span-path state machine and its seeded bugs")
    p.add_argument("--seeds", type=count(1), default=3, help="Hypothesis runs, one per seed (default 3)")
    p.add_argument("--examples", type=count(1), default=40, help="examples per run (default 40)")
    p.add_argument("--steps", type=count(1, 10_000), default=40, help="steps per example (default 40)")
    p.add_argument("--bugs", action="store_true", help="also run each seeded bug, which the machine must catch")
    args = p.parse_args(argv)
    return run_command("gc-spans", lambda: _spans(args))


def _spans(args: argparse.Namespace) -> int:
    seeds = range(args.seeds)
    failure = spanmachine.check(seeds, args.examples, args.steps)
    if failure is not None:
        print(f"gc-spans: FAILED: {failure}")
        return 1
    print(f"gc-spans: {args.seeds} runs of {args.examples} examples: every span-set invariant held")
    if not args.bugs:
        return 0
    missed = 0
    for bug in seeded.SEEDED_BUGS:
        found = seeded.caught(bug, seeds, args.examples, args.steps)
        ok = found is not None and bug.expect in str(found)
        missed += not ok
        shown = found.summary if found is not None else "not found"
        print(f"  {bug.name}: {'caught' if ok else 'MISSED'} ({bug.description}): {shown}")
    return 1 if missed else 0


COMMANDS = {"mark": cmd_mark, "gc-replay": cmd_replay, "gc-fuzz": cmd_fuzz, "gc-bench": cmd_bench,
            "gc-noscan": cmd_noscan, "gc-record": cmd_record, "gc-spans": cmd_spans}

HELP = {
    "mark": "collect a heap snapshot: marked, freed, finalize, scanned words (--impl model|fast|go)",
    "gc-replay": "replay a concurrent GC trace against the model, checking every invariant",
    "gc-fuzz": "the Hypothesis GC machine; with a broken barrier, the shortest lost-object trace",
    "gc-bench": "marking throughput (pointers/s) of model, fast and the Go runtime",
    "gc-noscan": "what noscan spans save: runtime.GC() on []*int64 against []int64, beside the model's scanned words",
    "gc-record": "record the small-object path from the Go runtime and check every placement against the model",
    "gc-spans": "the span-path state machine (span-set invariants); --bugs: seeded span-path bugs it must catch",
}
