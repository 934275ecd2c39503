"""Pacing traces recorded from the live Go runtime: build the driver, run profiles, write traces.

The pacer's state (gcControllerState in mgcpacer.go, the scavenger's goals in
mgcscavenge.go) is internal to package runtime, so, as the page allocator's
trace generator does (oracle.golive.tracegen), two files are added to
package runtime's test build with `go test -c -overlay` (GOROOT is never
modified): `go/pacer_export_test.go` (package runtime: a snapshot of the
pacer taken with the world stopped, optionally around a commit, and a wait
for a running mark phase) and `go/pacer_main_test.go` (package runtime_test:
TestPacerTraceGen, which runs the profiles). The overlay leaves package
runtime's other external tests out of the build (oracle.golive.driver's
external_test_files), and the binary is cached by oracle.golive.toolchain's
BinaryCache, keyed by the Go tree, its version, the runtime's sources and
the driver's.

The binary runs with GOMAXPROCS=1 (fewer goroutines between a snapshot and
the step after it) and a deadline (RUN_SECONDS). Its traces are read back
strictly (oracle.pacer.trace) and written in the project's key order, so a
trace the runtime wrote badly is refused here, naming its line.

Profiles (the Go side holds their logic): gogc (GOGC values from 0 to 400
and off, live data, forced cycles), alloc (cycles the heap trigger starts),
limit (memory limits above, at and below the heap, with GOGC on and off),
periodic (sleeps across a shortened periodic-collection period, set through
the runtime's own test hook), scavenge (a heap that grows and shrinks, so
the scavenger's GOGC goal asks for memory back).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import attrs

from oracle.common.errors import UsageError
from oracle.common.jsonlines import read_lines
from oracle.common.output import OutputFile, output_folder
from oracle.golive.driver import external_test_files
from oracle.golive.toolchain import BinaryCache, Toolchain, digest, find_toolchain, run_build, runtime_sources
from oracle.pacer.trace import dumps, parse_header, parse_op

HERE = Path(__file__).resolve().parent
GO_DIR = HERE / "go"
DEFAULT_OUT = HERE / "traces"
OVERLAY_FILES = ("pacer_export_test.go", "pacer_main_test.go")
SPEC_ENV = "PACER_TRACEGEN_SPEC"
TEST_NAME = "TestPacerTraceGen"
RUN_SECONDS = 300.0  # one run of the driver, all its profiles
PROFILES = ("gogc", "alloc", "limit", "periodic", "scavenge")
PERIODIC_NS = 100_000_000  # the shortened periodic-collection period of the periodic profile (0.1 s)


@attrs.frozen
class Job:
    """One trace for the driver to record."""

    profile: str
    seed: int
    steps: int
    name: str

    @property
    def force_gc_period_ns(self) -> int:
        return PERIODIC_NS if self.profile == "periodic" else 0


# The bundled set: (profile, seed, steps).
BUNDLED: tuple[tuple[str, int, int], ...] = (
    ("gogc", 1, 20),
    ("gogc", 2, 20),
    ("alloc", 1, 400),
    ("alloc", 2, 400),
    ("limit", 1, 16),
    ("limit", 2, 16),
    ("periodic", 1, 15),
    ("scavenge", 1, 3),
)


def bundled_jobs() -> list[Job]:
    return [Job(p, s, n, f"go_{p}_seed{s}") for p, s, n in BUNDLED]


def build_key(tc: Toolchain) -> str:
    overlay = [name.encode() + b"\0" + (GO_DIR / name).read_bytes() for name in OVERLAY_FILES]
    return digest([str(tc.goroot), tc.version, *runtime_sources(tc), *overlay])


def build_driver(tc: Toolchain, cache: BinaryCache | None = None, log: Callable[[str], None] | None = None) -> Path:
    """The runtime test binary with the pacing driver (built once per key, then cached)."""

    def build(out: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="pacer-build-") as tmp:
            replace = {str(tc.runtime_dir / name): str(GO_DIR / name) for name in OVERLAY_FILES}
            for name in external_test_files(tc.runtime_dir):
                if name not in OVERLAY_FILES:
                    replace[str(tc.runtime_dir / name)] = ""  # an empty replacement leaves the file out
            overlay = Path(tmp) / "overlay.json"
            overlay.write_text(json.dumps({"Replace": replace}, indent=1))
            argv = [tc.go, "test", "-c", "-overlay", str(overlay), "-o", str(out), "runtime"]
            run_build(tc, argv, Path(tmp), "the pacing driver")

    return (cache or BinaryCache()).get("runtime-pacer.test", build_key(tc), build, log)


def run_driver(binary: Path, tc: Toolchain, jobs: list[Job], folder: Path, timeout: float = RUN_SECONDS) -> None:
    """Run the driver on the jobs; it writes folder/<name>.raw.jsonl for each."""
    spec = {
        "traces": [
            {"out": str(folder / f"{j.name}.raw.jsonl"), "profile": j.profile, "seed": j.seed, "steps": j.steps,
             "force_gc_period_ns": j.force_gc_period_ns}
            for j in jobs
        ]
    }
    spec_path = folder / "spec.json"
    spec_path.write_text(json.dumps(spec, indent=1))
    argv = [str(binary), "-test.run", f"^{TEST_NAME}$", "-test.count=1", f"-test.timeout={int(timeout)}s"]
    env = tc.env(**{SPEC_ENV: str(spec_path), "GOMAXPROCS": "1", "GODEBUG": ""})
    try:
        res = subprocess.run(argv, cwd=folder, env=env, capture_output=True, text=True, timeout=timeout + 30)
    except subprocess.TimeoutExpired:
        raise UsageError(f"the pacing driver did not finish in {timeout + 30:g} s") from None
    if res.returncode != 0:
        tail = " | ".join((res.stdout + res.stderr).strip().splitlines()[-8:])
        raise UsageError(f"the pacing driver failed (exit {res.returncode}): {tail}")


def canonical(raw: Path) -> str:
    """A driver's trace read strictly and written back in the project's key order."""
    lines = read_lines(raw)
    _, head = next(lines, (1, ""))
    header = parse_header(head)
    ops = [parse_op(text, number).to_json() for number, text in lines]
    return dumps(header, ops)


def generate(
    jobs: list[Job], out: Path, goroot: str | None = None, log: Callable[[str], None] | None = None
) -> list[Path]:
    """Record the jobs' traces with the live runtime into folder `out`; the paths written."""
    folder = output_folder(out, "--out")
    tc = find_toolchain(goroot)
    binary = build_driver(tc, log=log)
    written = []
    with tempfile.TemporaryDirectory(prefix="pacer-traces-") as tmp:
        run_driver(binary, tc, jobs, Path(tmp))
        for job in jobs:
            target = folder / f"{job.name}.jsonl"
            text = canonical(Path(tmp) / f"{job.name}.raw.jsonl")
            OutputFile(target, [], "--out", len(text)).write_text(text)
            written.append(target)
    return written
