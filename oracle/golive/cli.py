"""The live runtime's commands: `python -m oracle gen-go-traces | go-fuzz | go-mutants | go-bench`.

Each parses its own options (with oracle.common.cli's one-line usage
errors), resolves the Go tree once — `--goroot`, else $GOROOT (Go's own
convention, read here at the command's boundary and nowhere below), else
the go found — and passes it down as an argument.

  gen-go-traces  record conformance traces from the runtime (oracle.golive.tracegen)
  go-fuzz        a campaign of the model against the runtime (oracle.golive.campaign)
  go-mutants     seeded runtime bugs, each hunted by a campaign (oracle.golive.mutants)
  go-bench       ops/s of the live adapter and of replay against it (oracle.golive.bench)

Exit codes: 0 nothing differed, 1 a difference (or a mutant not found),
2 bad usage, no Go toolchain, or a mutant that does not apply or compile.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from oracle.common.cli import Parser, count, positive_seconds, run_command, seconds
from oracle.common.errors import EXIT_BAD_INPUT
from oracle.golive import bench, campaign, mutants, tracegen
from oracle.golive.driver import build_driver
from oracle.golive.toolchain import GoBuildFailed, find_toolchain


def goroot_of(option: str | None) -> str | None:
    """The Go tree a command uses: its --goroot, else $GOROOT, else None (the go found)."""
    return option or os.environ.get("GOROOT") or None


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
    _goroot_option(parser)
    parser.add_argument("--no-variants", dest="variants", action="store_false",
                        help="skip the page-size variants (phys_page_pages 8 / huge_page_pages 0)")
    parser.add_argument("-v", "--verbose", action="store_true", help="show the full go test output")
    args = parser.parse_args(argv)

    def body() -> int:
        tc = find_toolchain(goroot_of(args.goroot))
        return tracegen.generate(tc, args.out, list(args.profiles), args.seed, args.ops, args.variants, args.verbose)

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
    parser.add_argument("--out", type=Path, default=campaign.DEFAULT_OUT, help="where failing traces go")
    parser.add_argument("--shrink-seconds", type=seconds, default=30.0, help="time for shrinking a failure")
    parser.add_argument("--timeout", type=positive_seconds, default=campaign.CAMPAIGN_TIMEOUT,
                        help="seconds an answer may take before the runtime counts as hung (default: %(default)s)")
    parser.add_argument("--state", action="store_true", help="also compare the search hint and scavenge cursors")
    parser.add_argument("--runtime-sizes-only", action="store_true", help="never substitute page sizes")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    def body() -> int:
        mutation = mutants.mutant(args.mutant) if args.mutant else None
        goroot = goroot_of(args.goroot)
        try:
            binary = build_driver(find_toolchain(goroot), mutation)
        except GoBuildFailed as e:
            print(f"go-fuzz: {e}", file=sys.stderr)
            return EXIT_BAD_INPUT
        result = campaign.run_campaign(
            binary,
            args.seconds,
            args.seed,
            args.examples,
            args.out,
            args.mutant or "pristine",
            args.shrink_seconds,
            args.state,
            not args.runtime_sizes_only,
            timeout=args.timeout,
        )
        if args.json:
            print(json.dumps(result.to_json()))
        else:
            campaign.print_result(result, sys.stdout, args.mutant, args.goroot)
        return 1 if result.found else 0

    return run_command("go-fuzz", body)


def go_mutants(argv: list[str]) -> int:
    parser = Parser(
        prog="python -m oracle go-mutants",
        description="Apply seeded bugs to the runtime's page allocator and check that the go campaign finds them.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="mutants to run (default: all)")
    parser.add_argument("--seconds", type=seconds, default=60.0, help="campaign time per mutant (default: %(default)s)")
    parser.add_argument("--seed", type=count(0), default=1, help="campaign seed (default: %(default)s)")
    parser.add_argument("--shrink-seconds", type=seconds, default=20.0, help="time for shrinking each failure")
    parser.add_argument("--out", type=Path, default=campaign.DEFAULT_OUT, help="where failing traces go")
    _goroot_option(parser)
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--check", action="store_true", help="check every pattern and build every mutant, no fuzzing")
    parser.add_argument("--json", action="store_true", help="print one JSON object per mutant")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each campaign's failure as it is found")
    args = parser.parse_args(argv)

    def body() -> int:
        if args.list:
            for m in mutants.MUTANTS:
                print(f"{m.name:<30} {m.file:<15} {m.bug}")
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
        return mutants.hunt_all(chosen, tc, args.seconds, args.seed, args.out, args.shrink_seconds, args.json,
                                args.verbose)

    return run_command("go-mutants", body)


def go_bench(argv: list[str]) -> int:
    parser = Parser(prog="python -m oracle go-bench", description=(bench.__doc__ or "").split("\n\n")[0])
    parser.add_argument("--ops", type=count(1), default=100_000, help="operations in the generated trace")
    parser.add_argument("--trace", type=Path, default=None, help="benchmark this trace instead")
    _goroot_option(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    def body() -> int:
        binary = build_driver(find_toolchain(goroot_of(args.goroot)))
        return bench.run(binary, args.ops, args.trace, args.json)

    return run_command("go-bench", body)


HELP = {
    "gen-go-traces": "regenerate the conformance traces with the real Go runtime",
    "go-fuzz": "differential fuzzing of the live Go runtime against the model",
    "go-mutants": "seeded runtime bugs, each hunted by a go campaign",
    "go-bench": "ops/s of --impl go replaying a large trace",
}
COMMANDS = {"gen-go-traces": gen_go_traces, "go-fuzz": go_fuzz, "go-mutants": go_mutants, "go-bench": go_bench}
