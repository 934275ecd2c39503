"""Command line of the marking oracle (registered in oracle.cli):

  python -m oracle mark HEAP [--impl model|fast|go] [--json] [--extended] [--compare]
        collect a heap snapshot once: marked, freed, finalize, scanned words
  python -m oracle gc-replay TRACE [--barrier B] [--emit OUT] [--lost-only] [--no-invariants]
        replay a GC trace against the model, compare expects, check invariants
  python -m oracle gc-fuzz [--barrier B] [--seeds N] [--examples N] [--out TRACE]
        run the Hypothesis machine; with a broken barrier, print the shrunk lost-object trace
  python -m oracle gc-bench [--sizes 1e4,1e5,1e6,1e7] [--model-max N] [--reps N] [--no-go]
        marking throughput of model, fast and the Go runtime
  python -m oracle gc-noscan [--runs N]
        the seed's []*int64 against []int64 measurement in Go, beside the model's scanned words

Exit codes: 0 ok; 1 implementations disagree, a replay mismatched or broke an
invariant, or the machine found a failure; 2 bad input (a malformed
snapshot or trace, a bad option) or no Go toolchain for --impl go.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from model.errors import ModelError
from model.gc.barrier import BARRIERS
from model.gc.results import MarkResult

JOBS = ("mark", "gc-replay", "gc-fuzz", "gc-bench", "gc-noscan")
IMPLS = ("model", "fast", "go")


def collect_with(impl: str, spec: object) -> MarkResult:
    from model.gc.results import HeapSpec

    assert isinstance(spec, HeapSpec)
    if impl == "model":
        from model.gc.cycle import collect_snapshot

        return collect_snapshot(spec)
    if impl == "fast":
        from fast.gc.mark import collect_snapshot as fast_collect

        return fast_collect(spec)
    from oracle.gc.gomark import go_mark

    return go_mark(spec)


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


def cmd_mark(argv: list[str]) -> int:
    from oracle.gc import snapshot as gc_snapshot
    from oracle.gc.gomark import GoUnavailable

    p = argparse.ArgumentParser(prog="python -m oracle mark", description="collect a heap snapshot once")
    p.add_argument("heap", help="heap snapshot (JSON, SPEC.md Part II)")
    p.add_argument("--impl", default="model", choices=IMPLS)
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("--extended", action="store_true", help="with --json: also scan_items and slots_scanned")
    p.add_argument("--compare", action="store_true", help="also run the model; exit 1 if the results differ")
    try:
        args = p.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0) and 2
    path = Path(args.heap)
    try:
        spec = gc_snapshot.load(path)
    except gc_snapshot.SnapshotError as e:
        print(f"{path}: {e}", file=sys.stderr)
        return 2
    try:
        result = collect_with(args.impl, spec)
    except GoUnavailable as e:
        print(f"{path}: --impl go: {e}", file=sys.stderr)
        return 2
    except ModelError as e:
        print(f"{path}: {e}", file=sys.stderr)
        return 2
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
    from oracle.common.errors import TraceError
    from oracle.gc.replay import replay_gc

    p = argparse.ArgumentParser(prog="python -m oracle gc-replay", description="replay a GC trace against the model")
    p.add_argument("trace")
    p.add_argument("--barrier", default="hybrid", choices=sorted(BARRIERS), help="the write barrier to run with")
    p.add_argument("--emit", metavar="OUT", help="write the trace back with expects from the model")
    p.add_argument("--lost-only", action="store_true", help="skip the weak tricolor check; report lost objects")
    p.add_argument("--no-invariants", action="store_true", help="compare expects only")
    try:
        args = p.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0) and 2
    path = Path(args.trace)
    if not path.is_file():
        print(f"{path}: no such trace file", file=sys.stderr)
        return 2
    try:
        report = replay_gc(path, BARRIERS[args.barrier], Path(args.emit) if args.emit else None,
                           not args.no_invariants, not args.lost_only)
    except TraceError as e:
        print(f"{path}: {e}", file=sys.stderr)
        return 2
    summary = (f"{path}: {report.ops:,} steps, {report.checked:,} expects checked, {report.seconds:.2f}s, "
               f"barrier {report.barrier}")
    if report.failure is None:
        print(f"{summary}: all match, invariants hold" if not args.no_invariants else f"{summary}: all match")
        return 0
    print(f"{summary}: {'MISMATCH' if report.failure.kind == 'mismatch' else 'INVARIANT BROKEN'}")
    print(report.failure.describe())
    return 1


def cmd_fuzz(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m oracle gc-fuzz", description="the Hypothesis GC machine")
    p.add_argument("--barrier", default="hybrid", choices=sorted(BARRIERS))
    p.add_argument("--seeds", type=int, default=20, help="Hypothesis runs, one per seed (default 20)")
    p.add_argument("--examples", type=int, default=200, help="examples per run (default 200)")
    p.add_argument("--out", metavar="TRACE", help="write the shrunk failing trace here")
    try:
        args = p.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0) and 2
    if args.seeds < 1 or args.examples < 1:
        print("gc-fuzz: --seeds and --examples must be >= 1", file=sys.stderr)
        return 2
    barrier = BARRIERS[args.barrier]
    if args.barrier == "hybrid":
        from oracle.gc.machine import check_hybrid

        failure = check_hybrid(range(args.seeds), args.examples)
        if failure is None:
            print(f"gc-fuzz: hybrid barrier, {args.seeds} runs of {args.examples} examples: every invariant held, "
                  "model and fast agreed")
            return 0
        print(f"gc-fuzz: hybrid barrier FAILED:\n{failure}")
        return 1
    from oracle.gc.machine import hunt

    found = hunt(barrier, range(args.seeds), args.examples)
    if found is None:
        print(f"gc-fuzz: barrier {args.barrier}: no lost object in {args.seeds} runs of {args.examples} examples")
        return 0
    found_steps = found.found.count("\n") - 1
    print(f"gc-fuzz: barrier {args.barrier}: lost an object (seed {found.seed}; found as {found_steps} steps, "
          f"shrunk to {found.steps}):\n  {found.message}\n")
    print(found.trace, end="")
    if args.out:
        Path(args.out).write_text(found.trace)
    return 1


def _sizes(text: str) -> list[int]:
    return [int(float(s)) for s in text.split(",") if s.strip()]


def cmd_bench(argv: list[str]) -> int:
    from oracle.gc.bench import bench, table
    from oracle.gc.gomark import GoUnavailable

    p = argparse.ArgumentParser(prog="python -m oracle gc-bench", description="marking throughput")
    p.add_argument("--sizes", default="1e4,1e5,1e6,1e7", help="heap sizes in objects (default 1e4,1e5,1e6,1e7)")
    p.add_argument("--model-max", type=float, default=1e6, help="largest heap the model marks (default 1e6)")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--no-go", action="store_true")
    p.add_argument("--gomaxprocs", type=int, default=None, help="GOMAXPROCS for the Go runs (default: Go's)")
    try:
        args = p.parse_args(argv)
        sizes = _sizes(args.sizes)
    except SystemExit as e:
        return int(e.code or 0) and 2
    except ValueError:
        print(f"gc-bench: bad --sizes {args.sizes!r}", file=sys.stderr)
        return 2
    if not sizes or min(sizes) < 1 or args.reps < 1:
        print("gc-bench: sizes and --reps must be >= 1", file=sys.stderr)
        return 2
    rows = []
    print(table([]))
    for n in sizes:
        try:
            new = bench([n], args.reps, int(args.model_max), not args.no_go, args.gomaxprocs)
        except GoUnavailable as e:
            print(f"gc-bench: Go: {e}", file=sys.stderr)
            return 2
        rows.extend(new)
        print("\n".join(table(new).split("\n")[1:]), flush=True)
    return 0


def cmd_noscan(argv: list[str]) -> int:
    from oracle.gc.bench import noscan
    from oracle.gc.gomark import GoUnavailable

    p = argparse.ArgumentParser(prog="python -m oracle gc-noscan", description="the seed's noscan measurement")
    p.add_argument("--runs", type=int, default=3, help="program runs; medians are printed (default 3)")
    p.add_argument("--gomaxprocs", type=int, default=1, help="GOMAXPROCS for Go (default 1; 0 for Go's default)")
    try:
        args = p.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0) and 2
    try:
        print(noscan(max(1, args.runs), gomaxprocs=args.gomaxprocs or None).describe())
    except GoUnavailable as e:
        print(f"gc-noscan: Go: {e}", file=sys.stderr)
        return 2
    return 0


COMMANDS = {"mark": cmd_mark, "gc-replay": cmd_replay, "gc-fuzz": cmd_fuzz, "gc-bench": cmd_bench,
            "gc-noscan": cmd_noscan}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](argv[1:])


def add_help(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """List the marking jobs in `python -m oracle --help`."""
    helps = {
        "mark": "collect a heap snapshot: marked, freed, finalize, scanned words (--impl model|fast|go)",
        "gc-replay": "replay a concurrent GC trace against the model, checking every invariant",
        "gc-fuzz": "the Hypothesis GC machine; with a broken barrier, the shortest lost-object trace",
        "gc-bench": "marking throughput (pointers/s) of model, fast and the Go runtime",
        "gc-noscan": "the seed's noscan measurement in Go, beside the model's scanned words",
    }
    for name, text in helps.items():
        sub.add_parser(name, help=text, add_help=False)
