"""Systematic mutants of the runtime's page allocator: `python -m oracle go-mutants --systematic`.

How strong is the oracle on a file of the page allocator? This module
generates single-point mutants of mpagealloc.go, mpallocbits.go,
mpagecache.go and mgcscavenge.go, runs the go campaign (oracle.golive.campaign)
and Go's own page-allocator tests against each, and reports the kill rates
by file and by function, which mutants each kills, and every survivor.
It is one piece because its parts (generating, building once, running, the
report) share the catalog's shape and nothing else uses them.

Platforms. `arch` (model.geometry.ARCHES) picks the runtime built: amd64,
or 386 built with GOARCH=386 (which this machine runs), whose campaign
drives the 32-bit layout. The files mutated are those of RUNTIME_FILES the
platform compiles (`mutated_files`): the four above everywhere, and on 386
mpagealloc_32bit.go too (its build constraint leaves it out of amd64; the
64-bit layout's mpagealloc_64bit.go is not among RUNTIME_FILES). The shared
files come first, so their mutants have the same ids on every platform.
Each platform has its own catalog (what compiles differs: a constant that
overflows a 32-bit uintptr), binary and pristine check (the bundled traces
whose header names the platform). Go's tests run as they are: a test Go
skips on the platform counts as run, a table case Go has on 64-bit
platforms only is not there, and each verdict of Go's tests (the pristine
one is printed first) says how many tests passed and skipped, and how many
subtests passed.
A survivor's classification (survivors.json) holds for the platform it
names (absent: amd64).

Generating. oracle/golive/go/mutgen (a small Go program built with the
toolchain and cached) parses the platform's files with go/parser and emits, per
mutation site, the file, function, line, operator, original and mutated text,
and writes instrumented copies in which every mutant is compiled in behind
its gate (the operators, the gate forms and what is skipped and why are in
mutgen's own comment). Go's source text never enters the project: the
copies are made from GOROOT at build time into temporary files.

Building once. The instrumented copies, the gate (go/mutant_gate.go), its
test hooks (go/mutant_export_test.go), the live driver with its allocator
calls gated (go/live_alloc_mutant_test.go in place of live_alloc_test.go)
and Go's four page-allocator test files, each test and subtest body gated
by mutgen, are overlaid on package runtime and built into ONE test binary
with `go test -c`. Mutants that do not compile (a -1 where the type is
unsigned, a constant index out of range) are found first by compiling
package runtime with all errors shown, attributed by position and left out;
their count and Go's message are in the catalog. The catalog and the
binary are cached (oracle.golive.toolchain.BinaryCache) by the Go tree, its
runtime sources, the project's Go files and the generator.

Running. A mutant is selected at run time: PAGEALLOC_MUTANT=K, given by
oracle.golive.driver to a server started from `mutant_binary(binary, K)`;
0 is the pristine runtime. Before any mutant, id 0 must replay every bundled
conformance trace of its platform clean and pass Go's tests (else the build is broken:
SystematicError, exit 2). Then, per mutant: the server must start (a crash
at start-up is reported as an error, never hidden: the gate keeps mutated
code off the binary's own heap, so it would mean a leak), the campaign runs
for `seconds` with a fixed seed (a failing example, or the runtime failing
outside one, kills; with state, a difference in the hidden state the
campaign's --state compares kills too), and Go's page-allocator tests run in a separate
process with the same binary (any failure, panic or hang kills). Before
its campaign, each mutant passes a pristine-equivalence check: the live
driver's answers to a load that works the binary's own heap hard without
ever opening the gate must equal id 0's byte for byte, or the mutant is
reported as an error (its gate would leak).

The report: per file and per function, the mutants, killed by the campaign,
by Go's tests, by both, by neither, with kill rates; every survivor with
file:line, function, operator, original -> mutated, and its classification
from survivors.json (equivalent, or a blind spot of the campaign), keyed by
file, function, operator, texts and occurrence so it survives line shifts.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from model.errors import ModelError
from model.geometry import ARCHES
from oracle.common.errors import ImplementationFailed, UsageError
from oracle.golive import driver
from oracle.golive.campaign import run_campaign
from oracle.golive.mutation import RUNTIME_FILES
from oracle.golive.toolchain import BinaryCache, GoBuildFailed, Toolchain, digest, run_build, runtime_sources
from oracle.pagealloc.registry import ImplOptions
from oracle.pagealloc.replay import replay
from oracle.pagealloc.trace import parse_header

TEST_FILES = ("mpagealloc_test.go", "mpallocbits_test.go", "mpagecache_test.go", "mgcscavenge_test.go")
MUTGEN = driver.GO_DIR / "mutgen" / "main.go"
GATE_FILES = ("mutant_gate.go", "mutant_export_test.go")  # added to package runtime as they are
LIVE_ALLOC, LIVE_ALLOC_MUTANT = "live_alloc_test.go", "live_alloc_mutant_test.go"
SURVIVORS = Path(__file__).resolve().parent / "survivors.json"
DEFAULT_SECONDS = 5.0  # campaign per mutant
DEFAULT_SHRINK_SECONDS = 1.0  # a kill needs no small trace
GO_TESTS_TIMEOUT = 15  # seconds Go's tests may take under a mutant (they take about 3 pristine)
COMPILE_ROUNDS = 6  # compile-and-leave-out rounds before giving up
FATAL_PREFIXES = ("fatal error:", "panic:", "unexpected fault", "SIG")  # how a Go process says why it died
ERROR_LINE = re.compile(r"^(?:.*/)?([A-Za-z0-9_]+\.go):(\d+)(?::(\d+))?: (.*)$")
DEFAULT_ARCH = "amd64"
# The files of RUNTIME_FILES one platform alone compiles (by their build constraints); all compile the rest.
PLATFORM_FILES = {"mpagealloc_32bit.go": "386"}


class SystematicError(UsageError):
    """The systematic build or its pristine check failed (exit 2): there is nothing meaningful to report."""


def mutated_files(arch: str) -> tuple[str, ...]:
    """The files of RUNTIME_FILES the platform compiles: the shared ones first (same ids everywhere), then its own."""
    if arch not in ARCHES:
        raise UsageError(f"unknown platform {arch!r} (known: {', '.join(ARCHES)})")
    shared = [name for name in RUNTIME_FILES if name not in PLATFORM_FILES]
    return (*shared, *[name for name in RUNTIME_FILES if PLATFORM_FILES.get(name) == arch])


def _platform_env(arch: str) -> dict[str, str]:
    return {} if arch == DEFAULT_ARCH else {"GOARCH": arch}


def _cache_name(what: str, arch: str) -> str:
    return f"runtime-systematic.{what}" if arch == DEFAULT_ARCH else f"runtime-systematic-{arch}.{what}"


# ---- the catalog ----


@dataclass(frozen=True)
class Mutant:
    id: int
    file: str
    func: str
    line: int
    op: str
    orig: str
    mutated: str
    form: str
    check: str = ""

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def describe(self) -> str:
        return f"{self.orig} -> {self.mutated or '<deleted>'}"


@dataclass
class Catalog:
    """What the generator made of a Go tree: the mutants compiled in, those left out and why, the gated tests."""

    mutants: list[Mutant]
    excluded: dict[int, str]  # id -> the compiler's message
    skipped: dict[str, int]  # reason -> mutation points not generated
    tests: dict[str, list[str]]  # test file -> gated tests and subtests
    occurrence: dict[int, int] = field(default_factory=dict)  # id -> index among mutants with the same texts
    arch: str = DEFAULT_ARCH  # the platform the mutants were compiled for (model.geometry.ARCHES)

    @property
    def test_names(self) -> list[str]:
        return [name for names in self.tests.values() for name in names if "/" not in name]

    def to_json(self) -> dict[str, Any]:
        return {
            "mutants": [asdict(m) for m in self.mutants],
            "excluded": {str(k): v for k, v in sorted(self.excluded.items())},
            "skipped": self.skipped,
            "tests": self.tests,
            "arch": self.arch,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Catalog:
        catalog = cls(
            [Mutant(**m) for m in data["mutants"]],
            {int(k): v for k, v in data["excluded"].items()},
            dict(data["skipped"]),
            {k: list(v) for k, v in data["tests"].items()},
            arch=str(data.get("arch", DEFAULT_ARCH)),
        )
        seen: dict[tuple[str, ...], int] = {}
        for m in catalog.mutants:
            key = survivor_key(m)
            catalog.occurrence[m.id] = seen.get(key, 0)
            seen[key] = catalog.occurrence[m.id] + 1
        return catalog


def survivor_key(m: Mutant) -> tuple[str, ...]:
    return (m.file, m.func, m.op, m.orig, m.mutated)


# ---- generating and building ----


def _go_sources() -> list[bytes]:
    return [p.name.encode() + b"\0" + p.read_bytes() for p in sorted([*driver.GO_DIR.glob("*.go"), MUTGEN])]


def build_key(tc: Toolchain, arch: str = DEFAULT_ARCH) -> str:
    return digest([str(tc.goroot), tc.version, *runtime_sources(tc), *_go_sources(), f"GOARCH={arch}",
                   *mutated_files(arch)])


def mutgen_binary(tc: Toolchain, cache: BinaryCache) -> Path:
    def build(out: Path) -> None:
        run_build(tc, [tc.go, "build", "-o", str(out), str(MUTGEN)], MUTGEN.parent, "the mutant generator")

    return cache.get("mutgen", digest([tc.version, MUTGEN.read_bytes()]), build)


def generate(tc: Toolchain, mutgen: Path, out: Path, exclude: Iterable[int] = (), arch: str = DEFAULT_ARCH
             ) -> dict[str, Any]:
    """Run the generator on the platform's files into folder out (instrumented files and catalog.json)."""
    excluded = out / "exclude.txt"
    excluded.write_text("\n".join(str(i) for i in sorted(exclude)))
    files = mutated_files(arch)
    argv = [str(mutgen), "-runtime", str(tc.runtime_dir), "-out", str(out), "-files", ",".join(files),
            "-tests", ",".join(TEST_FILES), "-exclude", str(excluded)]
    res = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=False)
    if res.returncode != 0:
        raise SystematicError(f"the mutant generator failed: {(res.stderr or res.stdout).strip()}")
    return json.loads((out / "catalog.json").read_text())


def attribute(errors: list[str], generated: dict[str, Any]) -> tuple[dict[int, str], list[str]]:
    """Map compiler errors to the mutants whose code they are in: (id -> message, errors in no mutant's code)."""
    spans = [
        (m["file"], (s["line"], s["col"]), (s["end_line"], s["end_col"]), m["id"], m["mutated"])
        for m in generated["mutants"]
        for s in m["out"]
    ]
    found: dict[int, str] = {}
    stray = []
    for line in errors:
        match = ERROR_LINE.match(line.strip())
        if match is None:
            continue
        name, row, col, message = match.group(1), int(match.group(2)), match.group(3), match.group(4)
        if col is not None:  # innermost span holding the position
            at = (row, int(col))
            inside = [s for s in spans if s[0] == name and s[1] <= at <= s[2]]
            chosen = [max(inside, key=lambda s: s[1])] if inside else []
        else:  # a line only: the innermost spans on it, narrowed by the constant the message names
            inside = [s for s in spans if s[0] == name and s[1][0] <= row <= s[2][0]]
            innermost = [s for s in inside if not any(o is not s and s[1] < o[1] and o[2] <= s[2] for o in inside)]
            quoted = message.split(" ")[0]
            chosen = [s for s in innermost if quoted in s[4]] or innermost
        if not chosen:
            stray.append(line.strip())
        for s in chosen:
            found.setdefault(s[3], message)
    return found, stray


def overlay(tc: Toolchain, instrumented: Path, with_tests: bool, arch: str = DEFAULT_ARCH) -> dict[str, str]:
    """The -overlay map: instrumented sources and the gate, and for the test binary the drivers and tests."""
    rd = tc.runtime_dir
    replace = {str(rd / name): str(instrumented / name) for name in mutated_files(arch)}
    gate = GATE_FILES if with_tests else GATE_FILES[:1]  # the test hooks need the test build
    replace.update({str(rd / name): str(driver.GO_DIR / name) for name in gate})
    if with_tests:
        for name in driver.OVERLAY_FILES:
            replace[str(rd / name)] = str(driver.GO_DIR / (LIVE_ALLOC_MUTANT if name == LIVE_ALLOC else name))
        for name in driver.external_test_files(rd):
            replace[str(rd / name)] = str(instrumented / name) if name in TEST_FILES else ""
    return replace


def _write_overlay(folder: Path, replace: dict[str, str]) -> Path:
    path = folder / "overlay.json"
    path.write_text(json.dumps({"Replace": replace}, indent=1))
    return path


def compile_errors(tc: Toolchain, instrumented: Path, workdir: Path, arch: str = DEFAULT_ARCH) -> list[str]:
    """Compile package runtime for the platform from the instrumented sources, every error shown; the error lines."""
    ov = _write_overlay(workdir, overlay(tc, instrumented, with_tests=False, arch=arch))
    res = subprocess.run(
        [tc.go, "build", "-overlay", str(ov), "-gcflags=runtime=-e", "runtime"],
        cwd=workdir, env=tc.env(**_platform_env(arch)), capture_output=True, text=True, timeout=1800, check=False,
    )
    if res.returncode == 0:
        return []
    return [line for line in (res.stdout + res.stderr).splitlines() if ERROR_LINE.match(line.strip())] or [
        (res.stdout + res.stderr).strip() or f"go build exited with status {res.returncode}"
    ]


def build_catalog(tc: Toolchain, cache: BinaryCache, log: Callable[[str], None] | None = None,
                  arch: str = DEFAULT_ARCH) -> Catalog:
    """Generate, then leave out what does not compile until package runtime compiles (cached per tree and platform)."""
    mutgen = mutgen_binary(tc, cache)

    def build(out: Path) -> None:
        excluded: dict[int, str] = {}
        with tempfile.TemporaryDirectory(prefix="golive-systematic-") as tmp:
            for _ in range(COMPILE_ROUNDS):
                generated = generate(tc, mutgen, Path(tmp), excluded, arch)
                errors = compile_errors(tc, Path(tmp), Path(tmp), arch)
                if not errors:
                    generated["excluded"] = {str(k): v for k, v in excluded.items()}
                    generated["arch"] = arch
                    out.write_text(json.dumps(generated))
                    return
                found, stray = attribute(errors, generated)
                if stray or not found:
                    raise SystematicError("the instrumented runtime does not compile outside any mutant:\n" +
                                          "\n".join((stray or errors)[:10]))
                excluded.update(found)
                if log is not None:
                    log(f"left out {len(found)} mutants that do not compile")
        raise SystematicError(f"mutants still fail to compile after {COMPILE_ROUNDS} rounds")

    path = cache.get(_cache_name("catalog", arch), build_key(tc, arch), build, log)
    data = json.loads(path.read_text())
    catalog = Catalog.from_json({**data, "arch": arch, "mutants": [
        {k: m.get(k, "") for k in ("id", "file", "func", "line", "op", "orig", "mutated", "form", "check")}
        for m in data["mutants"] if str(m["id"]) not in data["excluded"]
    ]})
    return catalog


def build_binary(tc: Toolchain, cache: BinaryCache | None = None, log: Callable[[str], None] | None = None,
                 arch: str = DEFAULT_ARCH) -> tuple[Path, Catalog]:
    """The one test binary for a platform with every compiling mutant, Go's page-allocator tests and the driver."""
    cache = cache or BinaryCache()
    catalog = build_catalog(tc, cache, log, arch)
    mutgen = mutgen_binary(tc, cache)

    def build(out: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="golive-systematic-") as tmp:
            generate(tc, mutgen, Path(tmp), catalog.excluded, arch)
            ov = _write_overlay(Path(tmp), overlay(tc, Path(tmp), with_tests=True, arch=arch))
            what = "the systematic-mutant runtime" + ("" if arch == DEFAULT_ARCH else f" for {arch}")
            run_build(tc, [tc.go, "test", "-c", "-overlay", str(ov), "-o", str(out), "runtime"], Path(tmp),
                      what, **_platform_env(arch))

    return cache.get(_cache_name("test", arch), build_key(tc, arch), build, log), catalog


# ---- running one mutant ----


@dataclass
class Verdict:
    killed: bool | None  # None: could not be judged (an error)
    detail: str = ""
    seconds: float = 0.0


@dataclass
class Row:
    mutant: Mutant
    campaign: Verdict
    go_tests: Verdict
    classification: dict[str, str] | None = None
    occurrence: int = 0  # among the mutants with the same survivor key

    @property
    def status(self) -> str:
        c, g = self.campaign.killed, self.go_tests.killed
        if c is None or g is None:
            return "error"
        return {(True, True): "both", (True, False): "campaign", (False, True): "go tests"}.get((c, g), "neither")

    def to_json(self) -> dict[str, Any]:
        out = {**asdict(self.mutant), "occurrence": self.occurrence, "status": self.status,
               "campaign": asdict(self.campaign), "go_tests": asdict(self.go_tests)}
        if self.classification is not None:
            out["classification"] = self.classification
        return out


def run_go_tests(binary: Path, mutant: int, tests: list[str], timeout: float = GO_TESTS_TIMEOUT) -> Verdict:
    """Go's page-allocator tests under a mutant, in their own process; killed on any failure, panic or hang.

    A test Go skips (on the platform) counts as run; the detail says how many skipped and how many table
    cases (subtests) passed, which differ by platform (some of Go's cases exist on 64-bit platforms only)."""
    started = time.monotonic()
    argv = [str(binary), f"-test.run=^({'|'.join(tests)})$", "-test.count=1", "-test.v", "-test.failfast",
            f"-test.timeout={timeout:g}s"]
    env = {k: v for k, v in os.environ.items() if k != driver.LIVE_ENV}
    env[driver.MUTANT_ENV] = str(mutant)
    with tempfile.TemporaryDirectory(prefix="golive-gotests-") as tmp:
        try:
            res = subprocess.run(argv, cwd=tmp, env=env, capture_output=True, text=True, timeout=timeout + 15,
                                 check=False, errors="replace")
        except subprocess.TimeoutExpired:
            return Verdict(True, "hung", time.monotonic() - started)
    seconds = time.monotonic() - started
    out = res.stdout + res.stderr
    if res.returncode == 0:
        passed = set(re.findall(r"^--- PASS: (\w+) ", out, re.M))
        skipped = set(re.findall(r"^--- SKIP: (\w+) ", out, re.M))
        cases = len(re.findall(r"^\s+--- PASS: ", out, re.M))
        if passed | skipped >= set(tests):
            return Verdict(False, f"{len(passed)} tests pass ({cases} subtests)"
                           + (f", {len(skipped)} skip" if skipped else ""), seconds)
        return Verdict(None, f"only {len(passed | skipped)} of {len(tests)} tests ran", seconds)
    failed = re.findall(r"^\s*--- FAIL: (\S+)", out, re.M)
    fatal = next((ln.strip() for ln in out.splitlines() if ln.startswith(FATAL_PREFIXES)), "")
    return Verdict(True, ", ".join(failed[:3]) + (f" ({fatal})" if fatal else "") or fatal or "failed", seconds)


def outside_gate(binary: Path, mutant: int) -> bytes:
    """The live driver's answers to a load that works the binary's own heap and never opens the gate.

    With no header every operation is refused, with a message allocated on the Go heap; long junk
    lines make large buffers. A selected mutant must not change a byte of the answers (a leak of
    the gate would run its code on the binary's own heap)."""
    junk = b'"' + b"x" * (1 << 18) + b'"'
    lines = [b'{"op": "hello"}', *[b'{"op": "alloc", "npages": 1}'] * 2000, *[junk] * 100]
    env = {**os.environ, driver.LIVE_ENV: "1", driver.MUTANT_ENV: str(mutant)}
    res = subprocess.run([str(binary), f"-test.run=^{driver.TEST_NAME}$", "-test.count=1"],
                         input=b"\n".join(lines) + b"\n", capture_output=True, env=env, timeout=120, check=False)
    tail = res.stderr.decode(errors="replace").strip().splitlines()[-1:] if res.returncode else []
    return res.stdout + "".join(tail).encode()


def pristine_outside_gate(binary: Path, mutant: int, pristine: bytes) -> Verdict | None:
    """An error verdict when the mutant's answers outside the gate differ from the pristine ones (None: equal)."""
    got = outside_gate(binary, mutant)
    if got == pristine:
        return None
    at = next((i for i, (a, b) in enumerate(zip(got.splitlines(), pristine.splitlines(), strict=False)) if a != b),
              min(len(got.splitlines()), len(pristine.splitlines())))
    return Verdict(None, f"differs from the pristine runtime outside the gate, answer {at + 1}")


def run_campaign_on(binary: Path, mutant: int, seconds: float, seed: int, out_dir: Path,
                    shrink_seconds: float, state: bool = False) -> Verdict:
    """The go campaign against one mutant; None (an error) when its server does not even start."""
    link = driver.mutant_binary(binary, mutant)
    started = time.monotonic()
    try:
        driver.server_for(link)
    except ImplementationFailed as e:
        return Verdict(None, f"crashes at start-up: {e}", time.monotonic() - started)
    try:
        result = run_campaign(link, seconds, seed, None, out_dir, f"mutant{mutant}", shrink_seconds, state)
    except ModelError as e:  # the mutated runtime failed outside an example (at a header, say)
        return Verdict(True, f"the runtime failed: {str(e).splitlines()[0]}", time.monotonic() - started)
    finally:
        driver.close_server(link)
    elapsed = time.monotonic() - started
    if result.finding is None:
        return Verdict(False, f"{result.examples} examples, {result.ops} ops", elapsed)
    what = "crash" if result.finding.crashed else "wrong result"
    return Verdict(True, f"{what} after {result.ops_to_failure} ops: {result.finding.describe().splitlines()[0]}",
                   elapsed)


def bundled_traces(arch: str) -> list[Path]:
    """The bundled conformance traces whose header names the platform."""
    out = []
    for path in sorted(Path(str(resources.files("oracle.pagealloc") / "traces")).glob("*.jsonl")):
        with path.open(encoding="utf-8") as f:
            if parse_header(f.readline()).arch == arch:
                out.append(path)
    return out


def pristine_check(binary: Path, tests: list[str], arch: str = DEFAULT_ARCH) -> str:
    """Id 0 must be the pristine runtime: every bundled trace of its platform replays clean and Go's tests pass.

    Returns what was checked, a line for the progress stream."""
    link = driver.mutant_binary(binary, 0)
    traces = bundled_traces(arch)
    if not traces:
        raise SystematicError(f"no bundled conformance trace names the platform {arch}")
    try:
        for path in traces:
            report = replay(path, "go", options=ImplOptions(binary=link))
            if not report.ok:
                why = report.mismatch.describe() if report.mismatch else report.header_failure or report.emit_refused
                raise SystematicError(f"mutant 0 (pristine) fails {path.name}: {why}")
    finally:
        driver.close_server(link)
    verdict = run_go_tests(binary, 0, tests)
    if verdict.killed is not False:
        raise SystematicError(f"mutant 0 (pristine) fails Go's tests: {verdict.detail}")
    return f"mutant 0 (pristine, {arch}): {len(traces)} bundled traces replay clean; Go's tests: {verdict.detail}"


# ---- choosing, classifying, reporting ----


def select(catalog: Catalog, files: list[str], funcs: list[str], ids: list[int]) -> list[Mutant]:
    """The mutants of the named files and functions (a method by Type.name or name), or with the given ids."""
    chosen = catalog.mutants
    compiled = mutated_files(catalog.arch)
    for name in files:
        full = name.removesuffix(".go") + ".go"
        if full in PLATFORM_FILES and full not in compiled:
            raise UsageError(f"--file {name}: compiled on {PLATFORM_FILES[full]} only (--arch {PLATFORM_FILES[full]})")
        if full not in compiled:
            raise UsageError(f"--file {name}: not one of {', '.join(compiled)}")
    if files:
        wanted = {n.removesuffix(".go") + ".go" for n in files}
        chosen = [m for m in chosen if m.file in wanted]
    if funcs:
        known = {m.func for m in chosen}
        for name in funcs:
            if not any(f == name or f.split(".")[-1] == name for f in known):
                raise UsageError(f"--func {name}: no mutant in a function of that name"
                                 + (f" in {', '.join(files)}" if files else ""))
        chosen = [m for m in chosen if any(m.func == n or m.func.split(".")[-1] == n for n in funcs)]
    if ids:
        by_id = {m.id: m for m in chosen}
        for i in ids:
            if i not in by_id:
                why = catalog.excluded.get(i, "no such mutant" + (" in the selection" if files or funcs else ""))
                raise UsageError(f"--id {i}: {why}")
        chosen = [by_id[i] for i in ids]
    return chosen


def sample(mutants: list[Mutant], n: int | None, seed: int) -> list[Mutant]:
    if n is None or n >= len(mutants):
        return list(mutants)
    return sorted(random.Random(f"systematic:{seed}").sample(mutants, n), key=lambda m: m.id)


def classifications(path: Path = SURVIVORS, arch: str = DEFAULT_ARCH) -> dict[tuple[Any, ...], dict[str, str]]:
    """The survivors' classification (survivors.json) made on a platform (an entry's arch; absent: amd64),
    by survivor key and occurrence (see the module comment)."""
    if not path.is_file():
        return {}
    return {
        (e["file"], e["func"], e["op"], e["orig"], e["mutated"], e.get("occurrence", 0)): {
            "class": e["class"], "why": e["why"]}
        for e in json.loads(path.read_text())["survivors"]
        if e.get("arch", DEFAULT_ARCH) == arch
    }


def load_classification(catalog: Catalog, path: Path = SURVIVORS) -> dict[int, dict[str, str]]:
    """The classification of the catalog's mutants that survivors.json names for its platform, by id."""
    known = classifications(path, catalog.arch)
    out = {}
    for m in catalog.mutants:
        entry = known.get((*survivor_key(m), catalog.occurrence.get(m.id, 0)))
        if entry is not None:
            out[m.id] = entry
    return out


def rows_from_json(report: dict[str, Any], path: Path = SURVIVORS) -> list[Row]:
    """The rows of an earlier --json report, classified afresh from survivors.json (for the report's platform)."""
    known = classifications(path, report.get("arch", DEFAULT_ARCH))
    rows = []
    for r in report["mutants"]:
        m = Mutant(**{k: r[k] for k in ("id", "file", "func", "line", "op", "orig", "mutated", "form", "check")})
        rows.append(Row(m, Verdict(**r["campaign"]), Verdict(**r["go_tests"]), known.get(
            (*survivor_key(m), r.get("occurrence", 0))), r.get("occurrence", 0)))
    return rows


def tally(rows: list[Row], key: Callable[[Row], str]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        t = out.setdefault(key(r), dict.fromkeys(("mutants", "campaign", "go_tests", "both", "campaign_only",
                                                  "go_only", "neither", "errors"), 0))
        t["mutants"] += 1
        s = r.status
        t["errors"] += s == "error"
        t["campaign"] += r.campaign.killed is True
        t["go_tests"] += r.go_tests.killed is True
        t["both"] += s == "both"
        t["campaign_only"] += s == "campaign"
        t["go_only"] += s == "go tests"
        t["neither"] += s == "neither"
    return out


def _rate(killed: int, t: dict[str, int]) -> str:
    judged = t["mutants"] - t["errors"]
    return f"{100 * killed / judged:5.1f}%" if judged else "    -"


def format_report(rows: list[Row], about: str, tests: int, seconds: float, seed: int, elapsed: float,
                  state: bool = False) -> str:
    compared = ", hidden state compared" if state else ""
    lines = [about, f"{len(rows)} mutants run, {seconds:g} s of campaign each (seed {seed}{compared}), Go's {tests} "
             f"page-allocator tests; {elapsed / 60:.1f} min"]
    head = (f"{'':<32} {'mutants':>7} {'campaign':>9} {'rate':>6} {'go tests':>9} {'rate':>6} {'both':>5} "
            f"{'camp.only':>9} {'go only':>7} {'neither':>7} {'errors':>6}")
    for title, key in (("by file", lambda r: r.mutant.file), ("by function", lambda r: r.mutant.func)):
        lines += ["", title, head, "-" * len(head)]
        table = tally(rows, key)
        table_total = tally(rows, lambda r: "total")
        for name, t in [*sorted(table.items()), *table_total.items()]:
            lines.append(
                f"{name[:32]:<32} {t['mutants']:>7} {t['campaign']:>9} {_rate(t['campaign'], t):>6} "
                f"{t['go_tests']:>9} {_rate(t['go_tests'], t):>6} {t['both']:>5} {t['campaign_only']:>9} "
                f"{t['go_only']:>7} {t['neither']:>7} {t['errors']:>6}"
            )
    for title, status in (("killed by Go's tests, not by the campaign", "go tests"),
                          ("survivors (killed by neither)", "neither"), ("errors", "error")):
        chosen = [r for r in rows if r.status == status]
        lines += ["", f"{title}: {len(chosen)}"]
        for r in chosen:
            m = r.mutant
            lines.append(f"  #{m.id} {m.where} {m.func} {m.op}: {m.describe()}")
            if status == "go tests":
                lines.append(f"      Go's tests: {r.go_tests.detail}")
            if status == "error":
                lines.append(f"      {r.campaign.detail if r.campaign.killed is None else r.go_tests.detail}")
            if r.classification:
                lines.append(f"      {r.classification['class']}: {r.classification['why']}")
    return "\n".join(lines)


def progress_line(i: int, n: int, row: Row) -> str:
    m = row.mutant

    def verdict(v: Verdict) -> str:
        return {True: "killed", False: "survived", None: "ERROR"}[v.killed] + f" {v.seconds:.1f}s"

    return (f"[{i}/{n}] #{m.id} {m.where} {m.func} {m.op}: {m.describe()[:60]} | campaign {verdict(row.campaign)}"
            f" | go tests {verdict(row.go_tests)}")


def run(
    tc: Toolchain,
    chosen: list[Mutant],
    catalog: Catalog,
    binary: Path,
    seconds: float,
    seed: int,
    out_dir: Path,
    shrink_seconds: float = DEFAULT_SHRINK_SECONDS,
    progress: TextIO | None = sys.stdout,
    go_tests: bool = True,
    state: bool = False,
) -> list[Row]:
    """Check id 0 is pristine, then run the campaign and Go's tests on each chosen mutant."""
    tests = catalog.test_names
    checked = pristine_check(binary, tests, catalog.arch)
    if progress is not None:
        print(checked, file=progress, flush=True)
    pristine = outside_gate(binary, 0)
    classes = load_classification(catalog)
    rows = []
    for i, m in enumerate(chosen, 1):
        leak = pristine_outside_gate(binary, m.id, pristine)
        campaign = leak or run_campaign_on(binary, m.id, seconds, seed, out_dir, shrink_seconds, state)
        theirs = run_go_tests(binary, m.id, tests) if go_tests else Verdict(None, "not run")
        row = Row(m, campaign, theirs, classes.get(m.id), catalog.occurrence.get(m.id, 0))
        rows.append(row)
        if progress is not None:
            print(progress_line(i, len(chosen), row), file=progress, flush=True)
    return rows


def report_json(rows: list[Row], catalog: Catalog, seconds: float, seed: int, elapsed: float,
                state: bool = False) -> dict[str, Any]:
    return {
        "arch": catalog.arch,
        "seconds_per_mutant": seconds,
        "state": state,
        "seed": seed,
        "elapsed_seconds": round(elapsed, 1),
        "go_tests": catalog.test_names,
        "generated": len(catalog.mutants) + len(catalog.excluded),
        "compiled_in": len(catalog.mutants),
        "excluded_not_compiling": len(catalog.excluded),
        "skipped_points": catalog.skipped,
        "about": describe_catalog(catalog),
        "by_file": tally(rows, lambda r: r.mutant.file),
        "by_function": tally(rows, lambda r: r.mutant.func),
        "total": tally(rows, lambda r: "total")["total"] if rows else {},
        "mutants": [r.to_json() for r in rows],
    }


def describe_catalog(catalog: Catalog) -> str:
    """What --check prints: how many mutants, what was left out or skipped, which tests are gated."""
    by_file: dict[str, int] = {}
    for m in catalog.mutants:
        by_file[m.file] = by_file.get(m.file, 0) + 1
    lines = [f"{len(catalog.mutants)} mutants compiled in for {catalog.arch} "
             f"({', '.join(f'{f} {n}' for f, n in by_file.items())}); "
             f"{len(catalog.excluded)} left out because they do not compile"]
    lines.append("mutation points skipped (the gate cannot wrap them safely, or they are diagnostics): " +
                 ", ".join(f"{why} {n}" for why, n in sorted(catalog.skipped.items())))
    lines.append(f"Go's tests gated: {len(catalog.test_names)} tests, "
                 f"{sum(len(v) for v in catalog.tests.values()) - len(catalog.test_names)} subtest bodies")
    return "\n".join(lines)


def ensure_built(tc: Toolchain, verbose: bool = False, arch: str = DEFAULT_ARCH) -> tuple[Path, Catalog]:
    """build_binary for a platform, with Go's build failures as SystematicError (exit 2)."""
    try:
        return build_binary(tc, log=(lambda s: print(s, file=sys.stderr)) if verbose else None, arch=arch)
    except GoBuildFailed as e:
        raise SystematicError(str(e)) from None
