"""The real Go runtime as a marking implementation: build a heap there, collect it, read the verdict.

oracle/gc/go/heapgc.go is compiled once per source, Go tree and version
(oracle.golive.toolchain finds Go and caches the binary) and fed a binary
heap file (write_heap_file). In `mark` mode it allocates every object with a type of
its layout, so pointer-free objects land in noscan spans, holds the roots in
a package-level slice, sets the finalizers, makes a weak.Pointer to every
object, drops everything else, and runs runtime.GC() twice:

  * after the first cycle a nil weak pointer means the object was freed, or
    was unreachable with a finalizer (sweep clears weak pointers before it
    queues the finalizer); the program then waits for the finalizers that
    cycle queued to run;
  * after the second cycle, the objects that only finalizer objects kept
    alive are collected too.

Tiny objects (version 2 snapshots): the program allocates the objects in
one loop that allocates nothing else, right after a collection, with
GOMAXPROCS 1, so they share tiny blocks as the model packs them, and then
moves its P to a fresh tiny block (heapgc.go's build). It runs everything on
one P, so a heap whose objects name another P is refused. Zero-size objects
(Go's zerobase) get no weak pointer and count as never collected.

`go_mark(spec)` turns the first cycle into a MarkResult (marked = weak
pointer still set; finalize = finalizer ran; freed = the rest), with no scan
counts (the runtime does not report them per heap). `model_two_cycles`
gives the model's prediction for both cycles, to compare with `collected2`.

No Go, a failed build, a crash or a run over RUN_SECONDS is GoUnavailable,
one line (the marking commands exit 2 with it).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from model.gc.cycle import GcWorld
from model.gc.results import HeapSpec, MarkResult, ObjectId, sort_ids
from oracle.golive.toolchain import BinaryCache, GoBuildFailed, GoNotFound, Toolchain, digest, find_toolchain, run_build

GO_SOURCE = Path(__file__).resolve().parent / "go" / "heapgc.go"
GO_MOD = "module heapgc\n\ngo 1.24\n"
MAGIC = b"GCHEAP01"
RUN_SECONDS = 900.0  # one run of the program: building and collecting 10^7 objects takes a few minutes


class GoUnavailable(RuntimeError):
    """No Go toolchain, or the program did not build or run; the message is one line."""


def one_line(text: str, first: bool = False) -> str:
    """Go's multi-line output as one line: a panic or fatal error's own line if there is one, else the last
    line (`first`: the first, as for compiler errors), leaving out `# package` headings."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    for line in lines:
        if line.startswith(("panic:", "fatal error:")):
            return line
    if not lines:
        return "(no output)"
    return lines[0] if first else lines[-1]


def _build(tc: Toolchain, out: Path) -> None:
    """go build heapgc.go into `out`, in a module of its own next to it (BinaryCache's temporary folder)."""
    work = out.parent
    (work / "heapgc.go").write_bytes(GO_SOURCE.read_bytes())
    (work / "go.mod").write_text(GO_MOD)
    run_build(tc, [tc.go, "build", "-o", str(out), "."], work, "heapgc", CGO_ENABLED="0")


def build_program(goroot: str | None = None, cache: BinaryCache | None = None) -> Path:
    """The compiled heapgc (oracle.golive.toolchain's binary cache, keyed by the Go tree, its version and the
    source); GoUnavailable, one line, if there is no Go or it does not build."""
    try:
        tc = find_toolchain(goroot)
        key = digest([str(tc.goroot), tc.version, GO_SOURCE.read_bytes(), GO_MOD])
        return (cache or BinaryCache()).get("heapgc", key, lambda out: _build(tc, out))
    except GoNotFound as e:
        raise GoUnavailable(str(e)) from e
    except GoBuildFailed as e:
        head, _, tail = str(e).partition("\n")
        raise GoUnavailable(f"{head.rstrip(':')}: {one_line(tail, first=True)}" if tail else head) from e


@attrs.frozen
class HeapArrays:
    """A heap as arrays over objects 0..n-1 (the binary file's content and fast's input)."""

    size: np.ndarray
    noscan: np.ndarray
    indptr: np.ndarray
    offsets: np.ndarray
    targets: np.ndarray
    roots: np.ndarray
    finalizers: np.ndarray

    @staticmethod
    def from_spec(spec: HeapSpec) -> HeapArrays:
        index = {o.id: i for i, o in enumerate(spec.objects)}
        counts = [len(o.ptrs) for o in spec.objects]
        indptr = np.zeros(len(counts) + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        return HeapArrays(
            np.array([o.size for o in spec.objects], dtype=np.int64),
            np.array([o.noscan for o in spec.objects], dtype=np.bool_),
            indptr,
            np.array([off for o in spec.objects for off, _ in o.ptrs], dtype=np.int64),
            np.array([-1 if t is None else index[t] for o in spec.objects for _, t in o.ptrs], dtype=np.int64),
            np.array([index[r] for r in spec.roots], dtype=np.int64),
            np.array([index[f] for f in spec.finalizers], dtype=np.int64),
        )


def write_heap_file(arrays: HeapArrays, path: Path) -> None:
    n, m = arrays.size.shape[0], arrays.offsets.shape[0]
    with path.open("wb") as f:
        f.write(MAGIC)
        f.write(np.array([n, m, arrays.roots.shape[0], arrays.finalizers.shape[0]], dtype="<i8").tobytes())
        f.write(arrays.size.astype("<i4").tobytes())
        f.write(arrays.noscan.astype(np.uint8).tobytes())
        pad = (-(40 + 5 * n)) % 8
        f.write(b"\0" * pad)
        f.write(arrays.indptr.astype("<i8").tobytes())
        f.write(arrays.offsets.astype("<i4").tobytes())
        f.write(arrays.targets.astype("<i4").tobytes())
        f.write(arrays.roots.astype("<i4").tobytes())
        f.write(arrays.finalizers.astype("<i4").tobytes())


def run_program(
    args: list[str], env: dict[str, str] | None = None, timeout: float = RUN_SECONDS, goroot: str | None = None
) -> tuple[dict[str, Any], str]:
    """Run heapgc with `args` (and `env` added to ours); its JSON answer and its stderr (gctrace lines).

    GoUnavailable, one line, if it cannot be built, fails, answers no JSON
    or runs longer than `timeout` seconds (it is killed then).
    """
    exe = build_program(goroot)
    full_env = dict(os.environ)
    full_env.update(env or {})
    try:
        res = subprocess.run([str(exe), *args], capture_output=True, text=True, env=full_env, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise GoUnavailable(f"heapgc {args[0]} did not finish in {timeout:g} s") from None
    if res.returncode != 0:
        raise GoUnavailable(f"heapgc {args[0]} failed (exit {res.returncode}): {one_line(res.stderr)}")
    try:
        answer = json.loads(res.stdout)
    except json.JSONDecodeError:
        raise GoUnavailable(f"heapgc {args[0]} answered no JSON: {one_line(res.stdout)}") from None
    return answer, res.stderr


@attrs.frozen
class GoCollection:
    """What the runtime did with a heap: ids collected after cycle 1, finalizers run, collected after cycle 2."""

    collected1: tuple[ObjectId, ...]
    finalized: tuple[ObjectId, ...]
    collected2: tuple[ObjectId, ...]
    go_version: str

    def first_cycle(self, spec: HeapSpec) -> MarkResult:
        gone = set(self.collected1)
        finalized = set(self.finalized)
        return MarkResult(
            sort_ids(i for i in spec.ids() if i not in gone),
            sort_ids(gone - finalized),
            sort_ids(finalized),
            None,
        )


def go_collect(spec: HeapSpec, goroot: str | None = None) -> GoCollection:
    """Both cycles of the Go program on `spec`, with the Go tree `goroot` (None: the go command's own)."""
    others = [o.id for o in spec.objects if o.p != 0]
    if others:
        raise GoUnavailable(f"the Go program allocates every object on P 0; object {others[0]!r} names P "
                            f"{next(o.p for o in spec.objects if o.p)}")
    ids = spec.ids()
    with tempfile.TemporaryDirectory(prefix="heapgc-") as tmp:
        path = Path(tmp) / "heap.bin"
        write_heap_file(HeapArrays.from_spec(spec), path)
        out, _ = run_program(["mark", str(path)], goroot=goroot)
    return GoCollection(
        sort_ids(ids[i] for i in out["collected1"]),
        sort_ids(ids[i] for i in out["finalized"]),
        sort_ids(ids[i] for i in out["collected2"]),
        out["go"],
    )


def go_mark(spec: HeapSpec, goroot: str | None = None) -> MarkResult:
    return go_collect(spec, goroot).first_cycle(spec)


def model_two_cycles(spec: HeapSpec) -> tuple[MarkResult, tuple[ObjectId, ...]]:
    """The model's first cycle, and every object gone (or finalized) after a second one.

    Between the cycles the queued finalizers run and drop their objects, as
    the Go program waits for them to.
    """
    world = GcWorld.create(0, 0, len(spec.roots), spec=spec)
    world.gc_start()
    marked1 = world.finish_marking()
    stats = world.marker.stats if world.marker else None
    first = world.sweep()
    world.run_finalizers()
    world.gc_start()
    marked2 = set(world.finish_marking())
    world.sweep()
    gone = sort_ids(i for i in spec.ids() if i not in marked2)
    result = MarkResult(marked1, first.freed, first.finalize, stats.scanned_words if stats else None)
    return result, gone
