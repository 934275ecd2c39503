"""Values shared by the marking model, fast/ and the oracle: heap descriptions and mark results.

A `HeapSpec` is a heap snapshot as values (SPEC.md Part II, "Heap snapshot"):
objects with an id, a size in bytes, a noscan flag and pointer slots at
byte offsets (each holding another object's id or None), the ids held by
roots, and the ids that have a finalizer. It is checked completely when it
is built, so every implementation may assume a well-formed heap:

  * ids are unique, and all integers >= 0 or all non-empty strings;
  * sizes are valid for their kind (model.gc.spanclass.check_object_size):
    size 0 and noscan objects under 16 bytes (the tiny allocator's) only
    when the spec says `tiny` (heap snapshots from version 2 on);
  * each object names the P that allocates it (`p`, below `procs`); a
    zero-size object has no finalizer (Go's zerobase is not in the heap);
  * a noscan object has no pointer slots (its type has no pointers); an
    object that is not noscan has at least one (its type has some);
  * slot offsets are multiples of 8 inside the object, each at most once;
  * every id named by a slot, a root or a finalizer is an object's;
    an object has at most one finalizer.

A `MarkResult` is what one collection finds: the marked objects, the ones
sweep frees, the ones whose finalizer sweep queues instead of freeing them,
and the scan work. Scan work is counted as Go counts it: `scanned_words`
sums, over every scan of an object or oblet, the words from the scan's start
to its last pointer slot (Go: heapScanWork / 8); `scan_items` counts those
scans and `slots_scanned` the pointer slots they read.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from model.errors import InvalidOperation
from model.gc.spanclass import WORD_BYTES, check_object_size

ObjectId = int | str
MAX_PROCS = 256  # Ps a heap may have


class HeapSpecError(InvalidOperation):
    """A heap description is malformed: the message names the object, slot, root or finalizer."""


def sort_ids(ids: Iterable[ObjectId]) -> tuple[ObjectId, ...]:
    return tuple(sorted(ids))  # type: ignore[type-var]


def check_id(value: object, where: str) -> ObjectId:
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise HeapSpecError(f"{where}: an id must be an integer >= 0 or a string, got {value!r}")
    if isinstance(value, int) and value < 0:
        raise HeapSpecError(f"{where}: an id must be an integer >= 0 or a string, got {value!r}")
    if isinstance(value, str) and not value:
        raise HeapSpecError(f"{where}: an id must not be the empty string")
    return value


@attrs.frozen
class ObjectSpec:
    """One object: id, size in bytes, noscan, and its pointer slots as (offset, target or None), by offset."""

    id: ObjectId
    size: int
    noscan: bool
    ptrs: tuple[tuple[int, ObjectId | None], ...] = ()
    p: int = 0  # the P whose caches allocate it

    def slot_offsets(self) -> tuple[int, ...]:
        return tuple(off for off, _ in self.ptrs)


@attrs.frozen
class HeapSpec:
    objects: tuple[ObjectSpec, ...]
    roots: tuple[ObjectId, ...] = ()
    finalizers: tuple[ObjectId, ...] = ()
    tiny: bool = False  # size 0 and tiny noscan objects allowed (heap snapshot version 2)
    procs: int = 1

    def __attrs_post_init__(self) -> None:
        check_heap_spec(self)

    def ids(self) -> tuple[ObjectId, ...]:
        return tuple(o.id for o in self.objects)


def check_heap_spec(spec: HeapSpec) -> None:
    if isinstance(spec.procs, bool) or not isinstance(spec.procs, int) or not 1 <= spec.procs <= MAX_PROCS:
        raise HeapSpecError(f"procs must be from 1 to {MAX_PROCS}, got {spec.procs!r}")
    seen: dict[ObjectId, int] = {}
    kind: type | None = None
    for index, obj in enumerate(spec.objects):
        where = f"objects[{index}]"
        check_id(obj.id, f"{where}.id")
        if kind is None:
            kind = type(obj.id)
        elif type(obj.id) is not kind:
            raise HeapSpecError(f"{where}.id: {obj.id!r} mixes id kinds; ids must be all integers or all strings")
        if obj.id in seen:
            raise HeapSpecError(f"{where}.id: id {obj.id!r} is also objects[{seen[obj.id]}]'s")
        seen[obj.id] = index
    for index, obj in enumerate(spec.objects):
        where = f"objects[{index}] (id {obj.id!r})"
        if not isinstance(obj.noscan, bool):
            raise HeapSpecError(f"{where}: noscan must be true or false, got {obj.noscan!r}")
        try:
            check_object_size(obj.size, obj.noscan, spec.tiny)
        except InvalidOperation as e:
            raise HeapSpecError(f"{where}: {e}") from None
        if isinstance(obj.p, bool) or not isinstance(obj.p, int) or not 0 <= obj.p < spec.procs:
            raise HeapSpecError(f"{where}: p must be a P from 0 to {spec.procs - 1}, got {obj.p!r}")
        if obj.noscan and obj.ptrs:
            raise HeapSpecError(f"{where}: a noscan object has no pointer slots, but ptrs has {len(obj.ptrs)}")
        if not obj.noscan and not obj.ptrs:
            raise HeapSpecError(
                f"{where}: an object that is not noscan has a type with pointers, so at least one pointer slot"
            )
        last = -1
        for off, target in obj.ptrs:
            if isinstance(off, bool) or not isinstance(off, int):
                raise HeapSpecError(f"{where}: slot offset {off!r} is not an integer")
            if off % WORD_BYTES or off < 0 or off + WORD_BYTES > obj.size:
                raise HeapSpecError(
                    f"{where}: slot offset {off} must be a multiple of 8 with the 8-byte slot inside "
                    f"the object's {obj.size} bytes"
                )
            if off <= last:
                raise HeapSpecError(f"{where}: slot offsets must be increasing and distinct, {off} after {last}")
            last = off
            if target is not None and target not in seen:
                raise HeapSpecError(f"{where}: slot {off} points to unknown id {target!r}")
    for i, r in enumerate(spec.roots):
        if r not in seen:
            raise HeapSpecError(f"roots[{i}]: unknown id {r!r}")
    fins: set[ObjectId] = set()
    for i, f in enumerate(spec.finalizers):
        if f not in seen:
            raise HeapSpecError(f"finalizers[{i}]: unknown id {f!r}")
        if f in fins:
            raise HeapSpecError(f"finalizers[{i}]: object {f!r} already has a finalizer (Go allows one)")
        if spec.objects[seen[f]].size == 0:
            raise HeapSpecError(f"finalizers[{i}]: object {f!r} has size 0: it is Go's zerobase, not in the heap")
        fins.add(f)


@attrs.frozen
class MarkResult:
    """One collection's outcome: ids sorted; counts of scan work (None when an implementation cannot tell)."""

    marked: tuple[ObjectId, ...]
    freed: tuple[ObjectId, ...]
    finalize: tuple[ObjectId, ...]
    scanned_words: int | None
    scan_items: int | None = None
    slots_scanned: int | None = None

    def to_json(self, extended: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "marked": list(self.marked),
            "freed": list(self.freed),
            "finalize": list(self.finalize),
            "scanned_words": self.scanned_words,
        }
        if extended:
            out["scan_items"] = self.scan_items
            out["slots_scanned"] = self.slots_scanned
        return out
