"""Recording the small-object path from the real Go runtime, as version 2 GC traces.

oracle/gc/go/spanpath_export_test.go and spanpath_main_test.go are
overlaid on package runtime's test build (`go test -c -overlay`, GOROOT
untouched, package runtime's external tests left out as in
oracle.golive.driver) and built once per Go tree, version, runtime sources
and driver (oracle.golive.toolchain.BinaryCache). The driver runs the real
mallocgc with GOMAXPROCS=1 and the collector under manual control; the Go
files say what it holds still and how (GOGC off, the background sweeper
held parked, proportional sweeping off, preemption off during each
operation, the program's own spans set aside).

A seeded generator (`generate`) makes a stream of valid steps in a world
of one goroutine with REGISTERS stack slots and GLOBALS globals: allocations
of a profile's sizes (tiny, small noscan and scan, headed, large) into
globals, overwriting what they held; drops (a global set to nil); links (a
pointer to one global's object stored in another's, through the stack
slots); whole cycles (gc), background sweeper steps (sweep_one) and sweep
termination (finish_sweep). `record` runs the stream in Go and writes it
as a version 2 trace whose expects are Go's answers: for every alloc the
span (page), slot and offset it landed in, and for every step how the
spans, central sets and tiny block changed (oracle.gc.spanstate). The
header's "pages" gives Go's arenas, and each gc line the arenas at its
mark termination, so that the model takes new spans' pages from the trace
and walks the reclaimer's arenas in Go's order, and the page marks Go set
(which for spans of 16..512-byte scan objects depend on the order of Green
Tea's span queues; the others the model predicts and the replay checks);
everything else the model predicts.

No Go, a failed build, a crash, a run over RUN_SECONDS, or the driver's
own complaint (it checks that nothing else ran) is GoUnavailable.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import attrs

from oracle.common.errors import TraceError
from oracle.common.jsonlines import loads_object
from oracle.gc.gomark import GoUnavailable, one_line
from oracle.gc.spanstate import SpanState, changes
from oracle.gc.trace import GcParams, header_json
from oracle.golive.driver import external_test_files
from oracle.golive.toolchain import (
    BinaryCache,
    GoBuildFailed,
    GoNotFound,
    Toolchain,
    digest,
    find_toolchain,
    run_build,
    runtime_sources,
)

GO_DIR = Path(__file__).resolve().parent / "go"
OVERLAY_FILES = ("spanpath_export_test.go", "spanpath_main_test.go")
TEST_NAME = "TestSpanPath"
RUN_SECONDS = 120.0
PAGE_SHIFT = 13
GLOBALS = 256
SCRATCH = GLOBALS - 1  # the global bursts of garbage go through
REGISTERS = 2
WHERE = ("p0", "ps", "pu", "fs", "fu")

# Sizes by profile: (size, noscan) choices, repeated for weight.
TINY = [(n, True) for n in (1, 2, 3, 4, 5, 6, 7, 8, 12, 15)]
SMALL_NOSCAN = [(n, True) for n in (16, 24, 32, 48, 64, 100, 128, 256, 500, 1000, 3000)]
SMALL_SCAN = [(n, False) for n in (8, 16, 24, 32, 48, 64, 128, 512, 640, 1024, 4096)]
LARGE = [(40_000, True), (70_000, False)]
PROFILES: dict[str, list[tuple[int, bool]]] = {
    "mixed": TINY * 2 + SMALL_NOSCAN + SMALL_SCAN + LARGE,
    "tiny": TINY * 6 + [(16, True), (24, False), (0, True)],
    "few_classes": [(16, False)] * 6 + [(48, True)] * 6 + [(3, True)] * 3 + [(640, False)] * 2 + LARGE[:1],
}


def build_key(tc: Toolchain) -> str:
    overlay = [name.encode() + b"\0" + (GO_DIR / name).read_bytes() for name in OVERLAY_FILES]
    return digest([str(tc.goroot), tc.version, *runtime_sources(tc), *overlay])


_built: dict[str | None, Path] = {}  # per process: hashing the runtime's sources for the key takes a moment


def build_driver(goroot: str | None = None, cache: BinaryCache | None = None) -> Path:
    """The test binary with the span-path driver (built once per key); GoUnavailable, one line, if it cannot be."""
    if cache is None and goroot in _built and _built[goroot].is_file():
        return _built[goroot]
    try:
        tc = find_toolchain(goroot)

        def build(out: Path) -> None:
            with tempfile.TemporaryDirectory(prefix="spanpath-build-") as tmp:
                replace = {str(tc.runtime_dir / name): str(GO_DIR / name) for name in OVERLAY_FILES}
                for name in external_test_files(tc.runtime_dir):
                    replace[str(tc.runtime_dir / name)] = ""  # an empty replacement leaves the file out
                overlay = Path(tmp) / "overlay.json"
                overlay.write_text(json.dumps({"Replace": replace}))
                run_build(tc, [tc.go, "test", "-c", "-overlay", str(overlay), "-o", str(out), "runtime"], Path(tmp),
                          "the span-path driver")

        binary = (cache or BinaryCache()).get("runtime-spanpath.test", build_key(tc), build)
        if cache is None:
            _built[goroot] = binary
        return binary
    except GoNotFound as e:
        raise GoUnavailable(str(e)) from e
    except GoBuildFailed as e:
        head, _, tail = str(e).partition("\n")
        raise GoUnavailable(f"{head.rstrip(':')}: {one_line(tail, first=True)}" if tail else head) from e


# ---- the stream ----


@attrs.define
class Generator:
    """Valid steps for the driver's world; it tracks which globals hold what."""

    rng: random.Random
    sizes: list[tuple[int, bool]]
    held: dict[int, tuple[int, list[int]]] = attrs.Factory(dict)  # global -> (id, pointer slot offsets)
    next_id: int = 1
    ops: list[dict[str, Any]] = attrs.Factory(list)

    def alloc(self) -> None:
        size, noscan = self.rng.choice(self.sizes)
        ptrs = [] if noscan else [8 * k for k in range(min(size // 8, 3))]
        index = self.rng.randrange(SCRATCH)
        oid = self.next_id
        self.next_id += 1
        self.ops.append({"op": "alloc", "global": index, "id": oid, "size": size, "noscan": noscan, "ptrs": ptrs})
        self.held[index] = (oid, ptrs)

    def burst(self) -> None:
        """Up to 300 objects of one size through the scratch global, each dropped by the next: they fill
        spans, so caches refill and unswept spans are swept by allocation and the reclaimer."""
        size, noscan = self.rng.choice(self.sizes)
        for _ in range(self.rng.randint(10, 300) if size <= 512 else self.rng.randint(2, 12)):
            oid = self.next_id
            self.next_id += 1
            self.ops.append({"op": "alloc", "global": SCRATCH, "id": oid, "size": size, "noscan": noscan,
                             "ptrs": [] if noscan else [0]})
        self.ops.append({"op": "gstore", "g": 0, "global": SCRATCH, "src": None})

    def drop(self) -> None:
        if self.held:
            index = self.rng.choice(sorted(self.held))
            del self.held[index]
            self.ops.append({"op": "gstore", "g": 0, "global": index, "src": None})

    def link(self) -> None:
        holders = sorted(i for i, (_, ptrs) in self.held.items() if ptrs)
        if not holders or not self.held:
            return
        a = self.rng.choice(holders)
        b = self.rng.choice(sorted(self.held))
        off = self.rng.choice(self.held[a][1])
        clear = self.rng.random() < 0.2
        self.ops.append({"op": "gload", "g": 0, "dst": 0, "global": a})
        if not clear:
            self.ops.append({"op": "gload", "g": 0, "dst": 1, "global": b})
        self.ops.append({"op": "store", "g": 0, "dst": 0, "off": off, "src": None if clear else 1})
        self.ops.append({"op": "copy", "g": 0, "dst": 0, "src": None})
        if not clear:
            self.ops.append({"op": "copy", "g": 0, "dst": 1, "src": None})


def generate(seed: int, steps: int, profile: str = "mixed") -> list[dict[str, Any]]:
    """A seeded stream of about `steps` valid steps (version 2 trace lines without expects)."""
    gen = Generator(random.Random(seed), PROFILES[profile])
    while len(gen.ops) < steps:
        roll = gen.rng.random()
        if roll < 0.02:
            gen.burst()
        elif roll < 0.55:
            gen.alloc()
        elif roll < 0.72:
            gen.drop()
        elif roll < 0.88:
            gen.link()
        elif roll < 0.905:
            gen.ops.append({"op": "gc"})
        elif roll < 0.96:
            gen.ops.append({"op": "sweep_one"})
        else:
            gen.ops.append({"op": "finish_sweep"} if gen.rng.random() < 0.3 else {"op": "sweep_one"})
    return gen.ops


def go_line(op: dict[str, Any]) -> str:
    """The driver's line for a step (oracle/gc/go/spanpath_main_test.go)."""
    def reg(value: int | None) -> int:
        return -1 if value is None else value

    match op["op"]:
        case "alloc":
            return f"m {op['global']} {op['size']} {int(op['noscan'])}"
        case "gstore":
            return f"gs {op['global']} {reg(op['src'])}"
        case "gload":
            return f"gl {op['dst']} {op['global']}"
        case "store":
            return f"st {op['dst']} {op['off']} {reg(op['src'])}"
        case "load":
            return f"ld {op['dst']} {op['src']} {op['off']}"
        case "copy":
            return f"cp {op['dst']} {reg(op['src'])}"
        case "gc":
            return "gc"
        case "sweep_one":
            return "so"
        case "finish_sweep":
            return "fs"
    raise ValueError(f"the driver has no step {op['op']!r}")


# ---- running it ----


def run_driver(binary: Path, ops: list[dict[str, Any]], timeout: float = RUN_SECONDS) -> list[dict[str, Any]]:
    """The driver's answer lines (header first) for the steps; GoUnavailable if it fails, hangs or complains."""
    with tempfile.TemporaryDirectory(prefix="spanpath-run-") as tmp:
        ops_path, out_path = Path(tmp) / "ops.txt", Path(tmp) / "out.jsonl"
        ops_path.write_text("".join(go_line(op) + "\n" for op in ops))
        env = {**os.environ, "GOMAXPROCS": "1", "SPANPATH_OPS": str(ops_path), "SPANPATH_OUT": str(out_path)}
        env.pop("GOGC", None)
        env.pop("GODEBUG", None)
        try:
            res = subprocess.run([str(binary), f"-test.run=^{TEST_NAME}$", "-test.count=1"], capture_output=True,
                                 text=True, env=env, cwd=tmp, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise GoUnavailable(f"the span-path driver did not finish in {timeout:g} s") from None
        if res.returncode != 0 or not out_path.is_file():
            raise GoUnavailable(f"the span-path driver failed (exit {res.returncode}): "
                                f"{one_line(res.stdout + res.stderr)}")
        lines = out_path.read_text().splitlines()
    answers = []
    for number, text in enumerate(lines, start=1):
        try:
            answers.append(loads_object(text, number, "driver answer"))
        except TraceError as e:
            raise GoUnavailable(f"the span-path driver wrote a bad line: {e}") from None
    if answers and "error" in answers[-1]:
        raise GoUnavailable(f"the span-path driver: {answers[-1]['error']}")
    if len(answers) != len(ops) + 1:
        raise GoUnavailable(f"the span-path driver answered {len(answers) - 1} of {len(ops)} steps")
    return answers


def go_state(answer: dict[str, Any]) -> SpanState:
    """The state in a driver answer, in oracle.gc.spanstate's tables (pages, not addresses)."""
    spans = {}
    for base, cls, npages, sweep, freeindex, count, _nelems, where, bits in answer["spans"]:
        page = base >> PAGE_SHIFT
        if page in spans:
            raise GoUnavailable(f"the span at page {page} is both {spans[page][7]} and {WHERE[where]}")
        spans[page] = (page, cls, npages, sweep, freeindex, count, bits, WHERE[where])
    sets: dict[tuple[int, str], list[int]] = {}
    for cls, which, base in answer["sets"]:
        sets.setdefault((cls, WHERE[which]), []).append(base >> PAGE_SHIFT)
    tiny = answer["tiny"]
    block = (tiny[0] >> PAGE_SHIFT, tiny[1], tiny[2]) if tiny is not None else None
    return SpanState(spans, {k: tuple(v) for k, v in sets.items()}, {0: block})


def to_trace(ops: list[dict[str, Any]], answers: list[dict[str, Any]]) -> str:
    """The steps with Go's answers as a version 2 trace with recorded pages."""
    head = answers[0]
    arenas = tuple(a >> PAGE_SHIFT for a in head["arenas"])
    params = GcParams(goroutines=1, stack_slots=REGISTERS, globals=GLOBALS)
    header = header_json(params, version=2, arenas=arenas)
    header["go"] = {"version": head["go"], "pages_per_arena": head["pages_per_arena"]}
    lines = [json.dumps(header)]
    state = SpanState({}, {}, {0: None})
    for op, answer in zip(ops, answers[1:], strict=True):
        after = go_state(answer)
        expect: dict[str, Any] = {}
        line = dict(op)
        if op["op"] == "alloc":
            base, index, offset = answer["place"]
            expect.update({"span": base >> PAGE_SHIFT if base else -1, "index": index, "offset": offset})
        if op["op"] == "gc":
            line["arenas"] = [a >> PAGE_SHIFT for a in answer["arenas"]]
            line["page_marks"] = sorted(a >> PAGE_SHIFT for a in answer["page_marks"])
        expect.update(changes(state, after))
        state = after
        line["expect"] = expect
        lines.append(json.dumps(line))
    return "\n".join(lines) + "\n"


def record(seed: int, steps: int, profile: str = "mixed", goroot: str | None = None) -> str:
    """A trace of `steps` generated steps as Go ran them."""
    ops = generate(seed, steps, profile)
    return to_trace(ops, run_driver(build_driver(goroot), ops))
