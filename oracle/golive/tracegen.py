"""Generate page-allocator conformance traces with the real Go runtime.

Design
------
The Go runtime's page allocator (``pageAlloc`` in ``mpagealloc.go``, with the
page cache in ``mpagecache.go`` and the scavenger in ``mgcscavenge.go``) is
not reachable from ordinary Go programs, but package runtime's own tests can
reach it through ``export_test.go``. So instead of re-implementing anything,
this tool compiles three extra test files into package runtime's test binary
with ``go test -overlay`` (GOROOT itself is never modified):

* ``go/tracegen_export_test.go`` (package ``runtime``) adds the few
  hooks export_test.go lacks: an empty test-mode allocator, a locked grow, the
  live physical / huge page sizes, and a scavenge that can run under
  substitute page sizes (swapped in with the world stopped, only for the
  duration of the call).
* ``live_scavenger_export_test.go`` (package ``runtime``) and
  ``live_scavenger_test.go`` (package ``runtime_test``), shared with the live
  driver (``oracle/golive/driver.py``): a background scavenger goroutine of
  the generator's own (``LiveScavenger``) and its stubs, woken by the
  ``scavenger`` profile's ``scavenger_wake`` lines.
* ``go/tracegen_main_test.go`` (package ``runtime_test``) holds
  ``TestPageAllocTraceGen``, which is a no-op unless ``PAGEALLOC_TRACEGEN_SPEC``
  is set. It drives the allocator with a seeded ``math/rand`` stream of
  operations that are valid by construction (it tracks live allocations,
  caches and existing chunks) and writes JSON Lines traces (format v1) whose
  ``expect`` fields are the allocator's actual results.

This module writes the overlay file and a spec listing every trace to make
into a temporary directory, runs ``go test`` once for all of them, and reports
the files written. Each profile (``churn``, ``cross_chunk``, ``cache_heavy``,
``scavenge_heavy``, ``exhaustion``, ``sparse``; ``background``, trace version 2;
``padded``, version 3; ``scavenger``, version 4, which wakes the background
scavenger's goroutine among background-scavenging churn) is a different
operation mix; the profile logic lives in the Go file, which also says which
trace version each profile needs (``tgVersion``). Page-size variants rerun a profile
with a different physical page size and/or no huge pages, which only changes
what forced scavenges release.

Platforms. ``--arch 386`` builds the same files with GOARCH=386 (this machine
runs 32-bit binaries), so the runtime's 32-bit page allocator
(``mpagealloc_32bit.go``) answers; its traces name the platform in the header
(``"arch": "386"``) and are bundled as ``go386_*.jsonl``. The ``top`` profile,
32-bit only, drives the ends of that address space (SPEC.md, "Platforms").
The committed set holds both platforms' traces (``--arch all``, the default).

Usage::

    python -m oracle gen-go-traces                     # the committed trace set, both platforms
    python -m oracle gen-go-traces --arch 386 --profiles top --seed 5 --out /tmp/t
    python -m oracle gen-go-traces --profiles churn --seed 7 --ops 800 --out /tmp/t
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from oracle.common.output import output_folder
from oracle.golive.toolchain import Toolchain

HERE = Path(__file__).resolve().parent
GO_DIR = HERE / "go"
DEFAULT_OUT = HERE.parent / "pagealloc" / "traces"
OVERLAY_FILES = (
    "tracegen_export_test.go",
    "live_scavenger_export_test.go",
    "live_scavenger_test.go",
    "tracegen_main_test.go",
)
SPEC_ENV = "PAGEALLOC_TRACEGEN_SPEC"
TEST_NAME = "TestPageAllocTraceGen"

PROFILES = (
    "churn",
    "cross_chunk",
    "cache_heavy",
    "scavenge_heavy",
    "exhaustion",
    "sparse",
    "background",
    "padded",
    "top",
    "scavenger",
)
ARCHES = ("amd64", "386")
ONLY_32BIT = ("top",)  # profiles that need the 32-bit address space

# Seeds used for the committed set when --seed is not given.
DEFAULT_SEEDS: dict[str, tuple[int, ...]] = {
    "churn": (1, 2, 3),
    "cross_chunk": (1,),
    "cache_heavy": (1, 2),
    "scavenge_heavy": (1, 2),
    "exhaustion": (1,),
    "sparse": (1,),
    "background": (1, 2),
    "padded": (1,),
    "scavenger": (1,),
}

# The committed 386 set: the shapes that differ on a 32-bit tree (crossing its root boundary, its top,
# sparse chunks across a small address space), and plain churn and background cycles.
DEFAULT_SEEDS_386: dict[str, tuple[int, ...]] = {
    "churn": (1,),
    "cross_chunk": (1,),
    "exhaustion": (1,),
    "sparse": (1,),
    "background": (1,),
    "top": (1, 2),
}

# Operations per trace when --ops is not given (each trace a few hundred KB: the go_state field on every line).
DEFAULT_OPS: dict[str, int] = {
    "churn": 2000,
    "cross_chunk": 1500,
    "cache_heavy": 2000,
    "scavenge_heavy": 2000,
    "exhaustion": 1500,
    "sparse": 1500,
    "background": 2000,
    "padded": 2000,
    "top": 1500,
    "scavenger": 1500,
}

KIB = 1024


@dataclass(frozen=True)
class Variant:
    """A page-size variant of a profile; None keeps the runtime's own value."""

    profile: str
    tag: str
    phys_page_bytes: int | None
    huge_page_bytes: int | None


# 64 KiB physical pages give phys_page_pages 8 with Go's 8 KiB pages.
VARIANTS: tuple[Variant, ...] = (
    Variant("scavenge_heavy", "phys8", 64 * KIB, None),
    Variant("scavenge_heavy", "nohuge", None, 0),
    Variant("churn", "phys8_nohuge", 64 * KIB, 0),
)


@dataclass(frozen=True)
class Job:
    """One trace for the Go side to produce."""

    out: Path
    profile: str
    seed: int
    ops: int
    phys_page_bytes: int | None = None
    huge_page_bytes: int | None = None
    arch: str = "amd64"  # the GOARCH the runtime is built for

    def to_json(self) -> dict[str, object]:
        return {
            "out": str(self.out),
            "profile": self.profile,
            "seed": self.seed,
            "ops": self.ops,
            "phys_page_bytes": self.phys_page_bytes,
            "huge_page_bytes": self.huge_page_bytes,
        }


def plan_jobs(
    out_dir: Path,
    profiles: list[str],
    seeds: list[int] | None,
    ops: int | None,
    variants: bool,
    arches: tuple[str, ...] = ("amd64",),
) -> list[Job]:
    """List the traces to make, in a stable order.

    Without seeds, each platform makes its committed set's profiles among
    those asked for; a 32-bit-only profile is skipped on amd64.
    """
    jobs: list[Job] = []
    if "amd64" in arches:
        jobs += _plan_amd64(out_dir, [p for p in profiles if p not in ONLY_32BIT], seeds, ops, variants)
    if "386" in arches:
        for profile in profiles:
            chosen = seeds if seeds is not None else DEFAULT_SEEDS_386.get(profile, ())
            n = ops if ops is not None else DEFAULT_OPS[profile]
            for seed in chosen:
                jobs.append(Job(out_dir / f"go386_{profile}_seed{seed}.jsonl", profile, seed, n, arch="386"))
    return jobs


def _plan_amd64(
    out_dir: Path, profiles: list[str], seeds: list[int] | None, ops: int | None, variants: bool
) -> list[Job]:
    jobs: list[Job] = []
    for profile in profiles:
        n = ops if ops is not None else DEFAULT_OPS[profile]
        for seed in seeds if seeds is not None else DEFAULT_SEEDS[profile]:
            jobs.append(Job(out_dir / f"go_{profile}_seed{seed}.jsonl", profile, seed, n))
        if not variants:
            continue
        for v in VARIANTS:
            if v.profile != profile:
                continue
            for seed in (seeds if seeds is not None else DEFAULT_SEEDS[profile])[:1]:
                jobs.append(
                    Job(
                        out_dir / f"go_{profile}_{v.tag}_seed{seed}.jsonl",
                        profile,
                        seed,
                        n,
                        v.phys_page_bytes,
                        v.huge_page_bytes,
                    )
                )
    return jobs


def run_go(tc: Toolchain, jobs: list[Job], verbose: bool) -> int:
    """Run the Go test once per platform for its jobs; returns the first non-zero go exit status, else 0."""
    for arch in ARCHES:
        mine = [j for j in jobs if j.arch == arch]
        if mine:
            status = _run_go_arch(tc, mine, arch, verbose)
            if status != 0:
                return status
    return 0


def _run_go_arch(tc: Toolchain, jobs: list[Job], arch: str, verbose: bool) -> int:
    runtime_dir = tc.runtime_dir
    if not (runtime_dir / "export_test.go").is_file():
        print(f"gen-go-traces: {runtime_dir} has no export_test.go; is --goroot right?", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="gotracegen-") as tmp:
        tmpdir = Path(tmp)
        overlay = {"Replace": {str(runtime_dir / name): str(GO_DIR / name) for name in OVERLAY_FILES}}
        overlay_path = tmpdir / "overlay.json"
        overlay_path.write_text(json.dumps(overlay, indent=2))
        spec_path = tmpdir / "spec.json"
        spec_path.write_text(json.dumps({"traces": [j.to_json() for j in jobs]}, indent=2))

        env = tc.env(**{SPEC_ENV: str(spec_path), "GOARCH": arch})
        cmd = [
            tc.go,
            "test",
            "-overlay",
            str(overlay_path),
            "-run",
            f"^{TEST_NAME}$",
            "-count=1",
            "-timeout=30m",
            "-v",
            "runtime",
        ]
        if verbose:
            print("gotracegen: running", " ".join(cmd), file=sys.stderr)
        res = subprocess.run(cmd, check=False, cwd=tmpdir, env=env, capture_output=True, text=True)
    output = res.stdout + res.stderr
    for line in output.splitlines():
        # The Go side logs one "tracegen:" summary per trace, plus notes.
        if verbose or "tracegen:" in line:
            print(line.strip())
    if res.returncode != 0:
        if not verbose:
            print(output[-4000:], file=sys.stderr)
        print(f"gotracegen: go test failed (exit {res.returncode})", file=sys.stderr)
    return res.returncode


def generate(
    tc: Toolchain,
    out_dir: Path,
    profiles: list[str],
    seeds: list[int] | None,
    ops: int | None,
    variants: bool,
    verbose: bool,
    arches: tuple[str, ...] = ARCHES,
) -> int:
    """Write the traces; 0, or 1 if the Go side failed."""
    out_dir = output_folder(out_dir.resolve(), "--out")
    jobs = plan_jobs(out_dir, profiles, seeds, ops, variants, arches)
    if not jobs:
        print("gen-go-traces: nothing to make (profile top needs --arch 386)", file=sys.stderr)
        return 2
    if run_go(tc, jobs, verbose) != 0:
        return 1
    for job in jobs:
        with job.out.open(encoding="utf-8") as f:
            nops = sum(1 for _ in f) - 1
        print(f"wrote {job.out} ({nops} ops)")
    return 0
