"""Seeded bugs in the runtime's page allocator, and the command that hunts them: `python -m oracle go-mutants`.

Each mutant is a rule: a runtime file, a short pattern that must occur in
the pristine file exactly once, and its replacement. Go's source is never
copied into this project: the rule is applied to a temporary copy of the
one file, which `go test -overlay` puts in place of the original when the
live driver is built (oracle.golive.driver.build_driver); GOROOT is not modified.
A pattern that no longer matches exactly once (a newer Go changed the code)
is an error, never "not found", and every mutant must still compile
(`--check` builds them all without fuzzing).

For each mutant, `go-mutants` builds the mutated runtime's test binary
(cached like the pristine one), runs the go campaign (oracle.golive.campaign) with a
fixed seed for up to `--seconds`, and reports whether the campaign found a
difference from the model, how many examples and operations it took, the
seconds to the first failing example and to the shrunk trace on disk
(build time excluded), and the trace. `python -m oracle replay TRACE
--impl go --mutant NAME` reproduces a trace against the mutant.

The bugs are the kinds the issue lists: an off-by-one in summary merging, a
wrong start/end in summarize, findBitRange64 off by one, a cache flush that
forgets scavenged bits, an allocation that keeps scavenged bits, a search
hint moved past free pages, a missed summary update, huge-page extension
ignored; and a few more in the scavenger and the page cache.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from model.errors import ModelError
from oracle.golive import driver as golive
from oracle.golive.campaign import DEFAULT_OUT, print_result, run_campaign
from oracle.golive.driver import Mutation

MUTANTS: tuple[Mutation, ...] = (
    Mutation(
        "merge_end_off_by_one",
        "mpagealloc.go",
        "if ei == 1<<logMaxPagesPerSum {",
        "if ei >= 1<<logMaxPagesPerSum-1 {",
        "mergeSummaries: a child whose free end is one page short of its width is merged as fully free",
    ),
    Mutation(
        "merge_max_off_by_one",
        "mpagealloc.go",
        "most = max(most, end+si, mi)",
        "most = max(most, end+si-min(end+si, 1), mi)",
        "mergeSummaries: a free run across a child boundary counts one page short",
    ),
    Mutation(
        "summarize_wrong_end",
        "mpallocbits.go",
        "\t\tcur = l\n",
        "\t\tcur = min(l, t)\n",
        "summarize: a word's free end is the smaller of its free start and its free end",
    ),
    Mutation(
        "find_bit_range64_off_by_one",
        "mpallocbits.go",
        "p := n - 1",
        "p := n - 2",
        "findBitRange64: finds runs of n-1 set bits when asked for n",
    ),
    Mutation(
        "find_large_n_off_by_one",
        "mpallocbits.go",
        "if s+size >= uint(npages) {",
        "if s+size >= uint(npages)-1 {",
        "findLargeN: accepts a run one page shorter than asked",
    ),
    Mutation(
        "flush_forgets_scavenged",
        "mpagecache.go",
        "if c.scav&(1<<i) != 0 {",
        "if false && c.scav&(1<<i) != 0 {",
        "pageCache.flush: the cache's scavenged bits are not given back to the heap",
    ),
    Mutation(
        "alloc_keeps_scavenged",
        "mpallocbits.go",
        "m.scavenged.clearRange(i, n)",
        "_, _ = i, n",
        "pallocData.allocRange: allocated pages keep their scavenged bits",
    ),
    Mutation(
        "fill_keeps_scavenged",
        "mpagecache.go",
        "chunk.scavenged.clearBlock64(cpi, c.cache&c.scav",
        "chunk.scavenged.clearBlock64(cpi, 0&c.cache&c.scav",
        "allocToCache: pages moved into a cache keep their scavenged bits in the heap",
    ),
    Mutation(
        "hint_past_free_page",
        "mpagealloc.go",
        "searchAddr = offAddr{chunkBase(i) + uintptr(searchIdx)*pageSize}",
        "searchAddr = offAddr{chunkBase(i) + uintptr(searchIdx+1)*pageSize}",
        "alloc: the search hint moves one page past the first free page it saw",
    ),
    Mutation(
        "missed_summary_update",
        "mpagealloc.go",
        "p.update(base, npages, true, false)",
        "if npages > 1 {\n\t\tp.update(base, npages, true, false)\n\t}",
        "free: a single-page free does not update the summaries",
    ),
    Mutation(
        "huge_page_extension_ignored",
        "mgcscavenge.go",
        "if physHugePageSize > pageSize && physHugePageSize > physPageSize {",
        "if false && physHugePageSize > pageSize && physHugePageSize > physPageSize {",
        "findScavengeCandidate: a candidate is not extended down to its huge page boundary",
    ),
    Mutation(
        "scavenge_ignores_max",
        "mgcscavenge.go",
        "size := min(run, uint(max))",
        "size := run",
        "findScavengeCandidate: takes the whole free run however little was asked for",
    ),
    Mutation(
        "dense_threshold_off_by_one",
        "mgcscavenge.go",
        "return sc.inUse < scavChunkHiOccPages\n",
        "return sc.inUse <= scavChunkHiOccPages\n",
        "shouldScavenge: the background scavenger takes a chunk exactly at the density threshold",
    ),
)

# The mutant CI and the quick test hunt: found within a second or two.
QUICK = "flush_forgets_scavenged"


def mutant(name: str) -> Mutation:
    for m in MUTANTS:
        if m.name == name:
            return m
    raise ModelError(f"unknown mutant {name!r} (known: {', '.join(m.name for m in MUTANTS)})")


def check_patterns(tc: golive.Toolchain) -> list[str]:
    """Problems with the rules against this Go tree: patterns that do not occur exactly once."""
    problems = []
    for m in MUTANTS:
        try:
            golive.mutated_source(tc, m)
        except ModelError as e:
            problems.append(str(e))
    return problems


def hunt(
    m: Mutation,
    tc: golive.Toolchain,
    seconds: float,
    seed: int,
    out_dir: Path,
    shrink_seconds: float,
    verbose: bool = False,
) -> dict[str, Any]:
    """Build the mutant and run the campaign on it; one row of the report."""
    started = time.monotonic()
    row: dict[str, Any] = {"mutant": m.name, "file": m.file, "bug": m.bug}
    try:
        binary = golive.build_driver(tc, m)
    except golive.GoBuildFailed as e:
        row.update(found=None, error=f"does not compile: {e}")
        return row
    row["build_seconds"] = round(time.monotonic() - started, 1)
    try:
        result = run_campaign(binary, seconds, seed, None, out_dir, m.name, shrink_seconds)
    except ModelError as e:  # the driver itself failed (not a finding): report it, go on with the next mutant
        row.update(found=None, error=f"campaign failed: {e}")
        return row
    row.update(result.to_json())
    row["mutant"] = m.name
    if verbose:
        print_result(result, sys.stdout, m.name, None)
    return row


def format_table(rows: list[dict[str, Any]]) -> str:
    head = (
        f"{'mutant':<30} {'found':<6} {'examples':>8} {'ops':>9} {'detect s':>9} {'trace s':>8} {'trace ops':>9}  trace"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        if r.get("error"):
            lines.append(f"{r['mutant']:<30} ERROR  {r['error'].splitlines()[0]}")
            continue
        found = "yes" if r["found"] else "no"

        def num(key: str, fmt: str = "{:,}", r: dict[str, Any] = r) -> str:
            return "-" if r.get(key) is None else fmt.format(r[key])

        lines.append(
            f"{r['mutant']:<30} {found:<6} {num('failing_example'):>8} {num('ops_to_failure'):>9} "
            f"{num('detect_seconds', '{:.2f}'):>9} {num('trace_seconds', '{:.2f}'):>8} {num('trace_ops'):>9}  "
            f"{r.get('trace') or '-'}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m oracle go-mutants",
        description="Apply seeded bugs to the runtime's page allocator and check that the go campaign finds them.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="mutants to run (default: all)")
    parser.add_argument("--seconds", type=float, default=60.0, help="campaign time per mutant (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=1, help="campaign seed (default: %(default)s)")
    parser.add_argument("--shrink-seconds", type=float, default=20.0, help="time for shrinking each failure")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where failing traces go (default: %(default)s)")
    parser.add_argument("--goroot", default=None, help="the Go tree to mutate (default: $GOROOT, else go env GOROOT)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--check", action="store_true", help="check every pattern and build every mutant, no fuzzing")
    parser.add_argument("--json", action="store_true", help="print one JSON object per mutant")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each campaign's failure as it is found")
    args = parser.parse_args(argv)

    if args.list:
        for m in MUTANTS:
            print(f"{m.name:<30} {m.file:<15} {m.bug}")
        return 0
    try:
        chosen = [mutant(n) for n in args.names] if args.names else list(MUTANTS)
        tc = golive.find_toolchain(args.goroot)
    except ModelError as e:
        print(f"go-mutants: {e}", file=sys.stderr)
        return 2
    bad = [p for p in check_patterns(tc) if any(p.startswith(f"mutant {m.name}:") for m in chosen)]
    if bad:
        for p in bad:
            print(f"go-mutants: {p}", file=sys.stderr)
        return 2
    if args.check:
        status = 0
        for m in chosen:
            started = time.monotonic()
            try:
                golive.build_driver(tc, m)
                print(f"{m.name:<30} compiles ({time.monotonic() - started:.1f}s)")
            except golive.GoBuildFailed as e:
                print(f"{m.name:<30} DOES NOT COMPILE: {e}")
                status = 2
        return status
    rows = []
    for m in chosen:
        row = hunt(m, tc, args.seconds, args.seed, args.out, args.shrink_seconds, args.verbose and not args.json)
        rows.append(row)
        if args.json:
            print(json.dumps(row), flush=True)
        elif args.verbose:
            print(format_table([row]).splitlines()[-1], flush=True)
    if not args.json:
        print(format_table(rows))
        found = sum(1 for r in rows if r.get("found"))
        print(f"{found} of {len(rows)} mutants found ({args.seconds:g}s campaign each, seed {args.seed})")
    if any(r.get("error") for r in rows):
        return 2
    return 0 if all(r.get("found") for r in rows) else 1
