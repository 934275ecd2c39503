"""The live runtime's commands: `python -m oracle gen-go-traces | go-fuzz | go-mutants | go-bench`.

Each parses its own options (with oracle.common.cli's one-line usage
errors), resolves the Go tree once — `--goroot`, else $GOROOT (Go's own
convention, read here at the command's boundary and nowhere below), else
the go found — and passes it down as an argument.

  gen-go-traces  record conformance traces from the runtime (oracle.golive.tracegen)
  go-fuzz        a campaign of the model against the runtime (oracle.golive.campaign);
                 --db DIR|redis://HOST:PORT shares failures and seeds with other
                 campaigns (oracle.golive.sharing); a progress bar on a terminal,
                 and the report page beside a failing trace (run_go_campaign)
  go-mutants     seeded runtime bugs, each hunted by a campaign (oracle.golive.mutants);
                 --systematic: generated single-point mutants, against the campaign
                 and Go's own tests, a kill-rate report (oracle.golive.systematic)
  go-bench       ops/s of the live adapter and of replay against it (oracle.golive.bench)

Exit codes: 0 nothing differed, 1 a difference (or a mutant not found),
2 bad usage, no Go toolchain, or a mutant that does not apply or compile.
go-mutants --systematic exits 0 once its report is out (the report is the
result; survivors are findings about the oracle, not failures), 2 on bad
usage or when its build or pristine check fails.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from model.geometry import ARCHES
from oracle.common.cli import Parser, count, positive_seconds, run_command, seconds, share
from oracle.common.errors import EXIT_BAD_INPUT, UsageError
from oracle.common.output import OutputFile
from oracle.golive import bench, campaign, mutants, sharing, systematic, tracegen
from oracle.golive.driver import build_driver
from oracle.golive.mutation import Mutation
from oracle.golive.toolchain import GoBuildFailed, find_toolchain, goroot_of
from oracle.pagealloc.fuzz import database_spec
from oracle.pagealloc.registry import ImplOptions
from oracle.report.page import write_report
from oracle.report.timeline import Timeline


def _goroot_option(parser: Parser) -> None:
    parser.add_argument("--goroot", default=None, help="the Go tree (default: $GOROOT, else go env GOROOT)")


def gen_go_traces(argv: list[str]) -> int:
    parser = Parser(
        prog="python -m oracle gen-go-traces",
        description="Generate page-allocator conformance traces from the real Go runtime.",
    )
    parser.add_argument("--out", type=Path, default=tracegen.DEFAULT_OUT, help="output directory (default: bundled)")
    parser.add_argument("--profiles", nargs="+", choices=tracegen.PROFILES, default=list(tracegen.PROFILES),
                        metavar="PROFILE", help=f"profiles (default: all of {', '.join(tracegen.PROFILES)})")
    parser.add_argument("--seed", type=count(0), nargs="+", default=None,
                        help="seed(s) for every selected profile (default: the committed set's seeds)")
    parser.add_argument("--ops", type=count(1), default=None, help="operations per trace (default: 1500-2000)")
    parser.add_argument("--arch", choices=(*tracegen.ARCHES, "all"), default="all",
                        help="the runtime's platform: amd64, 386 (GOARCH=386 on this machine) or all (default)")
    _goroot_option(parser)
    parser.add_argument("--no-variants", dest="variants", action="store_false",
                        help="skip the page-size variants (phys_page_pages 8 / huge_page_pages 0)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the full go test output")
    args = parser.parse_args(argv)

    def body() -> int:
        tc = find_toolchain(goroot_of(args.goroot))
        arches = tracegen.ARCHES if args.arch == "all" else (args.arch,)
        return tracegen.generate(tc, args.out, list(args.profiles), args.seed, args.ops, args.variants, args.verbose,
                                 arches)

    return run_command("gen-go-traces", body)


def go_fuzz(argv: list[str]) -> int:
    parser = Parser(
        prog="python -m oracle go-fuzz",
        description="Differential fuzzing of the real Go runtime's page allocator against the model.",
    )
    parser.add_argument("--seconds", type=seconds, default=30.0, help="time budget (default: %(default)s)")
    parser.add_argument("--seed", type=count(0), default=1, help="campaign seed (default: %(default)s)")
    parser.add_argument("--examples", type=count(1), default=None, help="stop after this many examples")
    _goroot_option(parser)
    parser.add_argument("--mutant", default=None, help="apply a seeded bug (python -m oracle go-mutants --list)")
    parser.add_argument("--arch", choices=tuple(ARCHES), default=None,
                        help="the runtime's platform: amd64, or 386 built with GOARCH=386 (default: the mutant's, "
                        "else amd64)")
    parser.add_argument("--out", type=Path, default=campaign.DEFAULT_OUT, help="where failing traces go")
    parser.add_argument("--shrink-seconds", type=seconds, default=30.0, help="time for shrinking a failure")
    parser.add_argument("--timeout", type=positive_seconds, default=campaign.CAMPAIGN_TIMEOUT,
                        help="seconds an answer may take before the runtime counts as hung (default: %(default)s)")
    parser.add_argument("--state", action="store_true", help="also compare the search hint and scavenge cursors")
    parser.add_argument("--runtime-sizes-only", action="store_true", help="never substitute page sizes")
    parser.add_argument("--judge", choices=campaign.JUDGES, default="fast",
                        help="who generates and answers each example first: fast (fast/, the model re-judging "
                        "every difference and a share of the examples) or model (every example; slower) "
                        "(default: %(default)s)")
    parser.add_argument("--model-share", type=share, default=campaign.MODEL_SHARE,
                        help="with --judge fast, the share of examples the model generates and judges "
                        "(default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--db", default=None, metavar="DIR|redis://HOST:PORT",
                        help="share failures and seeds with other campaigns: a folder, or a Redis server for "
                        "campaigns on several machines (default: none; with it, --seed is the first seed claimed)")
    args = parser.parse_args(argv)

    def body() -> int:
        mutation = mutants.mutant(args.mutant) if args.mutant else None
        goroot = goroot_of(args.goroot)
        arch = args.arch or (mutation.arch if mutation else "amd64")
        try:
            binary = build_driver(find_toolchain(goroot), mutation, arch=arch)
        except GoBuildFailed as e:
            print(f"go-fuzz: {e}", file=sys.stderr)
            return EXIT_BAD_INPUT
        return run_go_campaign(
            binary, mutation, args.goroot, args.db, args.json,
            seconds=args.seconds, seed=args.seed, max_examples=args.examples, out_dir=args.out,
            shrink_seconds=args.shrink_seconds, state=args.state, variants=not args.runtime_sizes_only,
            timeout=args.timeout, judge=args.judge, model_share=args.model_share,
        )

    return run_command("go-fuzz", body)


class GoProgress:
    """The go campaign's live progress bar (on a terminal only) and its timeline of ops and examples."""

    def __init__(self, label: str, seconds: float, stream: TextIO) -> None:
        self.seconds = seconds
        self.timeline = Timeline("ops", "examples")
        self.last = -1.0
        self.bar: Progress | None = None
        if stream.isatty():
            self.bar = Progress(
                TextColumn(f"go-fuzz {label}"), BarColumn(), TimeElapsedColumn(),
                TextColumn("of {task.fields[budget]}s · {task.fields[examples]:,} examples · {task.fields[ops]:,} ops"),
                console=Console(file=stream),
            )
            self.task = self.bar.add_task("go", total=max(seconds, 1e-9), budget=f"{seconds:g}", examples=0, ops=0)
            self.bar.start()

    def update(self, result: campaign.CampaignResult) -> None:
        if result.seconds - self.last < 0.2:
            return
        self.last = result.seconds
        self.timeline.add(result.seconds, result.ops, result.examples)
        if self.bar is not None:
            self.bar.update(self.task, completed=min(result.seconds, self.seconds), examples=result.examples,
                            ops=result.ops)

    def done(self, result: campaign.CampaignResult) -> None:
        self.timeline.add(result.seconds, result.ops, result.examples)
        if self.bar is not None:
            self.bar.stop()


def run_go_campaign(
    binary: Path,
    mutation: Mutation | None,
    goroot: str | None,
    db: str | None,
    as_json: bool,
    **campaign_options: Any,
) -> int:
    """The go campaign as a command (go-fuzz, fuzz --impl go): sharing, progress, the result, the report page.

    With db, traces other campaigns published for this runtime are replayed first (one that still fails
    is the result, exit 1, with no campaign), the seed is claimed from the store, and the campaign's run
    and trace are shared afterwards (oracle.golive.sharing). A failing trace gets its report page beside
    it (TRACE.html, oracle.report.page), with the campaign's progress over time."""
    label = mutation.name if mutation is not None else "pristine"
    options = ImplOptions(goroot=goroot, mutation=mutation, binary=binary)
    store = sharing.open_store(database_spec(db)) if db is not None else None
    seed: int = campaign_options.pop("seed")
    out_dir: Path = campaign_options.pop("out_dir")
    key = ""
    if store is not None:
        key = sharing.campaign_key(binary, label)
        shared = sharing.replay_shared(store, key, binary, out_dir, label, options)
        if shared is not None:
            return _print_shared(shared, key, options, label, as_json)
        seed = store.claim_seed(key, seed)
    live = GoProgress(label, campaign_options["seconds"], sys.stderr)
    result = campaign.run_campaign(binary, seed=seed, out_dir=out_dir, label=label, progress=live.update,
                                   **campaign_options)
    live.done(result)
    if store is not None:
        sharing.share_result(store, key, seed, result)
    report = _write_page(result.trace, options, live.timeline) if result.trace is not None else None
    if as_json:
        print(json.dumps({**result.to_json(), "report": None if report is None else str(report),
                          "shared_key": key or None}))
    else:
        campaign.print_result(result, sys.stdout, mutation.name if mutation else None, goroot)
        if report is not None:
            print(f"  report: {report}")
    return 1 if result.found else 0


def _write_page(trace: Path, options: ImplOptions, timeline: Timeline | None) -> Path | None:
    """The report page beside a failing trace; None if it could not be drawn (the trace is the finding)."""
    page = trace.with_suffix(".html")
    try:
        if timeline is not None:
            timeline.save_beside(trace)
        write_report(trace, "go", OutputFile(page, [trace], "report"), options, "exact", timeline)
    except Exception as e:  # the failure is the finding: a page that cannot be drawn must not hide it
        print(f"go-fuzz: report {page} not written: {type(e).__name__}: {e}", file=sys.stderr)
        return None
    return page


def _print_shared(shared: sharing.SharedFinding, key: str, options: ImplOptions, label: str, as_json: bool) -> int:
    report = _write_page(shared.trace, options, None)
    if as_json:
        print(json.dumps({"label": label, "found": True, "shared": True, "shared_key": key,
                          "trace": str(shared.trace), "failure": shared.evidence.message,
                          "report": None if report is None else str(report)}))
        return 1
    print(f"go-fuzz {label}: a failure another campaign published for {key} fails here too "
          f"(shared trace {shared.published}); no new campaign ran")
    print("  " + shared.evidence.message.replace("\n", "\n  "))
    print(f"  trace: {shared.trace}")
    if report is not None:
        print(f"  report: {report}")
    mutant = options.mutation.name if options.mutation is not None else None
    print(f"  reproduce: {campaign.replay_command(shared.trace, mutant, options.goroot)}")
    return 1


def go_mutants(argv: list[str]) -> int:
    parser = Parser(
        prog="python -m oracle go-mutants",
        description="Apply seeded bugs to the runtime's page allocator and check that the go campaign finds them; "
        "with --systematic, every single-point mutant of its sources, against the campaign and Go's own tests.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="mutants to run (default: all)")
    parser.add_argument("--seconds", type=seconds, default=None,
                        help=f"campaign time per mutant (default: 60, or {systematic.DEFAULT_SECONDS:g} with "
                        "--systematic)")
    parser.add_argument("--seed", type=count(0), default=1, help="campaign seed (default: %(default)s)")
    parser.add_argument("--shrink-seconds", type=seconds, default=None,
                        help=f"time for shrinking each failure (default: 20, or {systematic.DEFAULT_SHRINK_SECONDS:g}"
                        " with --systematic)")
    parser.add_argument("--out", type=Path, default=None,
                        help="where failing traces go (default: failures; with --systematic, a temporary folder)")
    _goroot_option(parser)
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--check", action="store_true", help="check every pattern and build every mutant, no fuzzing")
    parser.add_argument("--json", action="store_true", help="print one JSON object per mutant (--systematic: one "
                        "report object; progress goes to stderr)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each campaign's failure as it is found")
    group = parser.add_argument_group("systematic mutants (the exit status is 0 once the report is out)")
    group.add_argument("--systematic", action="store_true",
                       help="generated single-point mutants of mpagealloc.go, mpallocbits.go, mpagecache.go and "
                       "mgcscavenge.go (with --arch 386, mpagealloc_32bit.go too), all in one build, each against "
                       "the campaign and Go's page-allocator tests")
    group.add_argument("--arch", choices=tuple(ARCHES), default=None,
                       help="the platform the runtime is built for: amd64 (default), or 386 (GOARCH=386, the 32-bit "
                       "page allocator)")
    group.add_argument("--file", action="append", default=[], metavar="F", help="only this file's mutants (repeatable)")
    group.add_argument("--func", action="append", default=[], metavar="NAME",
                       help="only mutants in this function, Type.method or a bare name (repeatable)")
    group.add_argument("--id", action="append", default=[], type=count(1), metavar="K",
                       help="only mutant K (repeatable)")
    group.add_argument("--sample", type=count(1), default=None, metavar="N",
                       help="a random sample of N of the chosen mutants, drawn with --seed")
    group.add_argument("--state", action="store_true",
                       help="the campaign also compares the search hint and scavenge cursors (as go-fuzz --state)")
    group.add_argument("--report", type=Path, default=None, metavar="JSON",
                       help="print the report of an earlier --json run again, with the survivors classified afresh")
    args = parser.parse_args(argv)
    systematic_only = [flag for flag, value in (("--file", args.file), ("--func", args.func), ("--id", args.id),
                                                ("--sample", args.sample), ("--report", args.report),
                                                ("--state", args.state), ("--arch", args.arch)) if value]
    if args.systematic and args.names:
        parser.error("--systematic runs generated mutants; seeded mutants by NAME are for the default mode")
    if not args.systematic and systematic_only:
        parser.error(f"{systematic_only[0]} needs --systematic")

    def body() -> int:
        if args.systematic:
            return _systematic(args)
        if args.list:
            width = max(len(m.name) for m in mutants.MUTANTS)
            for m in mutants.MUTANTS:
                print(f"{m.name:<{width}} {m.arch:<5} {m.file:<19} {m.bug}")
            return 0
        chosen = [mutants.mutant(n) for n in args.names] if args.names else list(mutants.MUTANTS)
        tc = find_toolchain(goroot_of(args.goroot))
        bad = [p for p in mutants.check_patterns(tc) if any(p.startswith(f"mutant {m.name}:") for m in chosen)]
        if bad:
            for p in bad:
                print(f"go-mutants: {p}", file=sys.stderr)
            return EXIT_BAD_INPUT
        if args.check:
            return mutants.check_builds(tc, chosen)
        return mutants.hunt_all(chosen, tc, 60.0 if args.seconds is None else args.seconds, args.seed,
                                args.out or campaign.DEFAULT_OUT, 20.0 if args.shrink_seconds is None
                                else args.shrink_seconds, args.json, args.verbose)

    return run_command("go-mutants", body)


def _systematic(args: argparse.Namespace) -> int:
    """go-mutants --systematic: build once, then the report (oracle.golive.systematic)."""
    if args.report is not None:
        try:
            earlier = json.loads(args.report.read_text())
            rows = systematic.rows_from_json(earlier)
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise UsageError(f"--report {args.report}: not a go-mutants --systematic --json report ({e})") from None
        print(systematic.format_report(rows, earlier["about"], len(earlier["go_tests"]),
                                       earlier["seconds_per_mutant"], earlier["seed"], earlier["elapsed_seconds"],
                                       earlier.get("state", False)))
        return 0
    tc = find_toolchain(goroot_of(args.goroot))
    binary, catalog = systematic.ensure_built(tc, verbose=args.verbose, arch=args.arch or systematic.DEFAULT_ARCH)
    chosen = systematic.sample(systematic.select(catalog, args.file, args.func, args.id), args.sample, args.seed)
    if args.check:
        print(systematic.describe_catalog(catalog))
        return 0
    if args.list:
        for m in chosen:
            print(f"#{m.id:<5} {m.where:<20} {m.func:<36} {m.op:<16} {m.describe()}")
        return 0
    secs = systematic.DEFAULT_SECONDS if args.seconds is None else args.seconds
    shrink = systematic.DEFAULT_SHRINK_SECONDS if args.shrink_seconds is None else args.shrink_seconds
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="go-mutants-") as tmp:
        rows = systematic.run(tc, chosen, catalog, binary, secs, args.seed, args.out or Path(tmp), shrink,
                              sys.stderr if args.json else sys.stdout, state=args.state)
    elapsed = time.monotonic() - started
    if args.json:
        print(json.dumps(systematic.report_json(rows, catalog, secs, args.seed, elapsed, args.state)))
    else:
        print(systematic.format_report(rows, systematic.describe_catalog(catalog), len(catalog.test_names), secs,
                                       args.seed, elapsed, args.state))
    return 0


def go_bench(argv: list[str]) -> int:
    parser = Parser(prog="python -m oracle go-bench", description=(bench.__doc__ or "").split("\n\n")[0])
    parser.add_argument("--ops", type=count(1), default=100_000, help="operations in the generated trace")
    parser.add_argument("--trace", type=Path, default=None, help="benchmark this trace instead")
    parser.add_argument("--campaign-seconds", type=seconds, default=15.0,
                        help="seconds of campaign per judge (0 skips; default %(default)s)")
    parser.add_argument("--bug-seconds", type=positive_seconds, default=20.0,
                        help="campaign seconds per seeded bug for bugs per minute (default %(default)s)")
    parser.add_argument("--no-bugs", action="store_true", help="skip bugs per minute")
    _goroot_option(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    def body() -> int:
        tc = find_toolchain(goroot_of(args.goroot))
        binary = build_driver(tc)
        bugs = None if args.no_bugs else (tc, list(mutants.MUTANTS), args.bug_seconds)
        return bench.run(binary, args.ops, args.trace, args.json, args.campaign_seconds, bugs)

    return run_command("go-bench", body)


HELP = {
    "gen-go-traces": "regenerate the conformance traces with the real Go runtime",
    "go-fuzz": "differential fuzzing of the live Go runtime against the model",
    "go-mutants": "seeded runtime bugs, each hunted by a go campaign",
    "go-bench": "ops/s of --impl go replaying a large trace",
}
COMMANDS = {"gen-go-traces": gen_go_traces, "go-fuzz": go_fuzz, "go-mutants": go_mutants, "go-bench": go_bench}
