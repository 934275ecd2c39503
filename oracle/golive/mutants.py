"""Seeded bugs in the runtime's page allocator, and the command that hunts them: `python -m oracle go-mutants`.

Each mutant is a rule: a runtime file, a short pattern that must occur in
the pristine file exactly once, and its replacement. Go's source is never
copied into this project: the rule is applied to a temporary copy of the
one file, which `go test -overlay` puts in place of the original when the
live driver is built (oracle.golive.driver.build_driver, with
oracle.golive.mutation); GOROOT is not modified.
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

For every single-point mutant of those files rather than these hand-picked
ones, against the campaign and Go's own tests at once, see
oracle.golive.systematic (`go-mutants --systematic`).

The bugs are classic page-allocator mistakes: an off-by-one in summary merging, a
wrong start/end in summarize, findBitRange64 off by one, a cache flush that
forgets scavenged bits, an allocation that keeps scavenged bits, a search
hint moved past free pages, a missed summary update, huge-page extension
ignored; and a few more in the scavenger and the page cache.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from model.errors import ModelError
from oracle.common.errors import UsageError
from oracle.golive import historic
from oracle.golive.campaign import print_result, run_campaign
from oracle.golive.driver import build_driver, mutated_source
from oracle.golive.mutation import Mutation
from oracle.golive.toolchain import GoBuildFailed, Toolchain

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

# The hand-picked mutants, then the bugs of Go's own history re-injected (oracle.golive.historic).
MUTANTS = MUTANTS + historic.mutations()

# The mutant CI and the quick test hunt: found within a second or two.
QUICK = "flush_forgets_scavenged"


def mutant(name: str) -> Mutation:
    for m in MUTANTS:
        if m.name == name:
            return m
    raise UsageError(f"unknown mutant {name!r} (known: {', '.join(m.name for m in MUTANTS)})")


def check_patterns(tc: Toolchain) -> list[str]:
    """Problems with the rules against this Go tree: patterns that do not occur exactly once."""
    problems = []
    for m in MUTANTS:
        try:
            mutated_source(tc, m)
        except UsageError as e:
            problems.append(str(e))
    return problems


def hunt(
    m: Mutation,
    tc: Toolchain,
    seconds: float,
    seed: int,
    out_dir: Path,
    shrink_seconds: float,
    verbose: bool = False,
) -> dict[str, Any]:
    """Build the mutant and run the campaign on it; one row of the report."""
    started = time.monotonic()
    row: dict[str, Any] = {"mutant": m.name, "file": m.file, "bug": m.bug, "arch": m.arch}
    try:
        binary = build_driver(tc, m, arch=m.arch)
    except GoBuildFailed as e:
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


def check_builds(tc: Toolchain, chosen: list[Mutation]) -> int:
    """Build every chosen mutant without fuzzing; 0 if all compile, 2 otherwise."""
    status = 0
    for m in chosen:
        started = time.monotonic()
        try:
            build_driver(tc, m, arch=m.arch)
            print(f"{m.name:<30} compiles ({time.monotonic() - started:.1f}s)")
        except GoBuildFailed as e:
            print(f"{m.name:<30} DOES NOT COMPILE: {e}")
            status = 2
    return status


def hunt_all(
    chosen: list[Mutation],
    tc: Toolchain,
    seconds: float,
    seed: int,
    out_dir: Path,
    shrink_seconds: float,
    as_json: bool,
    verbose: bool,
) -> int:
    """Hunt each mutant and print a row each (or JSON lines); 0 if all were found, 1 if not, 2 on an error."""
    rows = []
    for m in chosen:
        row = hunt(m, tc, seconds, seed, out_dir, shrink_seconds, verbose and not as_json)
        rows.append(row)
        if as_json:
            print(json.dumps(row), flush=True)
        elif verbose:
            print(format_table([row]).splitlines()[-1], flush=True)
    if not as_json:
        print(format_table(rows))
        found = sum(1 for r in rows if r.get("found"))
        print(f"{found} of {len(rows)} mutants found ({seconds:g}s campaign each, seed {seed})")
    if any(r.get("error") for r in rows):
        return 2
    return 0 if all(r.get("found") for r in rows) else 1
