"""Heap states the oracle compares: the model's and an implementation's, in one plain layout.

An implementation that can show its state (fast/, or a subprocess that
answers `{"op": "snapshot"}`) gives it in the layout of SPEC.md, "Snapshot":

    search_page, end_chunk
    chunks       {chunk: {"alloc": [64-bit words], "scav": [64-bit words]}}
    levels       [{index: packed summary}, ...] root first, non-zero entries only
    scav_index   {"chunks": {chunk: [in_use, last_in_use, gen, has_free]},
                  "min_chunk", "force_cursor": [page, marked],
                  "background_cursor": [page, marked], "free_high_water", "gen"}
    caches       {id: {"base", "free", "scav"}}

model_state builds the same from model.pageheap.PageHeap (snapshot_of asks
any implementation for its own), packing the
model's summaries with model.summary.pack. state_from_json reads the JSON
form (string keys, "0x"-hex 64-bit values).

normalize removes what two correct heaps may legitimately differ in: a
cache whose free map is 0 has no base (the model keeps a stale one), and a
chunk's scavenge data that are all zero are the same as none.

diff_states lists the differences in a fixed order (hint, end, chunks,
bitmaps, summaries level by level, scavenge index, caches), summaries shown
unpacked with model.summary.unpack_triple (Go's decoding, without the
validity checks, so a corrupt packed value is shown rather than raising).
"""

from __future__ import annotations

from typing import Any

from model.geometry import Geometry
from model.pageheap import PageHeap
from model.summary import pack, unpack_triple
from oracle.pagealloc.protocol import Implementation, ModelImpl

State = dict[str, Any]


def model_state(heap: PageHeap) -> State:
    pa = heap.alloc_state
    g = pa.geometry
    scav = pa.scav
    return normalize(
        {
            "search_page": pa.search_page,
            "end_chunk": pa.end_chunk,
            "chunks": {c: {"alloc": list(d.alloc), "scav": list(d.scavenged)} for c, d in pa.chunks.items()},
            "levels": [{i: pack(s, g) for i, s in level.items()} for level in pa.tree],
            "scav_index": {
                "chunks": {c: [d.in_use, d.last_in_use, d.gen, d.has_free] for c, d in scav.chunks.items()},
                "min_chunk": scav.min_heap_chunk,
                "force_cursor": [scav.force_cursor.page, scav.force_cursor.marked],
                "background_cursor": [scav.background_cursor.page, scav.background_cursor.marked],
                "free_high_water": scav.free_high_water,
                "gen": scav.gen,
            },
            "caches": {i: {"base": c.base, "free": c.free, "scav": c.scav} for i, c in heap.caches.items()},
        }
    )


def hidden_state(heap: Any) -> dict[str, Any]:
    """The search hint and the scavenge cursors with their marks, in the live driver's go_state form.

    heap: the model's PageHeap or fast's FastPageHeap (the same attribute names).

    Results alone would not show a wrong hint (the hint only speeds up search), so the conformance
    traces and the go campaign compare these directly with the runtime's.
    """
    pa = heap.alloc_state
    hint = None if pa.search_page == pa.geometry.no_free_page else pa.search_page
    force, bg = pa.scav.force_cursor, pa.scav.background_cursor
    return {
        "search_page": hint,
        "force_cursor": force.page,
        "force_marked": force.marked and force.page is not None,
        "bg_cursor": bg.page,
        "bg_marked": bg.marked and bg.page is not None,
    }


def snapshot_of(impl: Implementation) -> State | None:
    """The implementation's whole state, or None if it cannot show it."""
    if isinstance(impl, ModelImpl):
        return model_state(impl.heap)
    snapshot = getattr(impl, "snapshot", None)
    if snapshot is None:
        return None
    state = snapshot()
    return state if isinstance(state, dict) else None


def _int(value: Any) -> int:
    if isinstance(value, str):
        return int(value, 16)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise ValueError(f"expected an integer or a hex string, got {value!r}")


def state_from_json(obj: Any) -> State:
    """Read a snapshot in its JSON form; raises ValueError (or KeyError) when it is malformed."""
    index = obj["scav_index"]
    return normalize(
        {
            "search_page": _int(obj["search_page"]),
            "end_chunk": _int(obj["end_chunk"]),
            "chunks": {
                int(c): {"alloc": [_int(w) for w in d["alloc"]], "scav": [_int(w) for w in d["scav"]]}
                for c, d in obj["chunks"].items()
            },
            "levels": [{int(i): _int(p) for i, p in level.items()} for level in obj["levels"]],
            "scav_index": {
                "chunks": {int(c): [int(v[0]), int(v[1]), int(v[2]), bool(v[3])] for c, v in index["chunks"].items()},
                "min_chunk": index["min_chunk"],
                "force_cursor": list(index["force_cursor"]),
                "background_cursor": list(index["background_cursor"]),
                "free_high_water": index["free_high_water"],
                "gen": index["gen"],
            },
            "caches": {
                int(i): {"base": c["base"], "free": _int(c["free"]), "scav": _int(c["scav"])}
                for i, c in obj["caches"].items()
            },
        }
    )


def normalize(state: State) -> State:
    index = state["scav_index"]
    index["chunks"] = {c: list(v) for c, v in index["chunks"].items() if any(v)}
    for cache in state["caches"].values():
        if not cache["free"]:
            cache["base"] = None
    return state


def _triple(packed: int, geometry: Geometry) -> tuple[int, int, int]:
    start, most, end = unpack_triple(packed, geometry)
    return int(start), int(most), int(end)


def diff_states(expected: State, got: State, geometry: Geometry, limit: int = 8) -> list[str]:
    """How `got` differs from `expected` (the model's), at most `limit` messages, most basic first."""
    out: list[str] = []

    def note(message: str) -> bool:
        out.append(message)
        return len(out) >= limit

    for key, name in (("search_page", "search hint"), ("end_chunk", "end chunk")):
        if expected[key] != got[key] and note(f"{name}: model {expected[key]}, impl {got[key]}"):
            return out
    want_chunks, have_chunks = expected["chunks"], got["chunks"]
    if set(want_chunks) != set(have_chunks):
        missing = sorted(set(want_chunks) - set(have_chunks))
        extra = sorted(set(have_chunks) - set(want_chunks))
        if note(f"grown chunks: impl lacks {missing[:5]}, has extra {extra[:5]}"):
            return out
    for chunk in sorted(set(want_chunks) & set(have_chunks)):
        for field, name in (("alloc", "in-use bitmap"), ("scav", "scavenged bitmap")):
            want, have = want_chunks[chunk][field], have_chunks[chunk][field]
            if want != have:
                k = next(
                    (k for k, (a, b) in enumerate(zip(want, have, strict=False)) if a != b), min(len(want), len(have))
                )
                a = f"0x{want[k]:016x}" if k < len(want) else "none"
                b = f"0x{have[k]:016x}" if k < len(have) else "none"
                if note(f"chunk {chunk} {name} word {k}: model {a}, impl {b}"):
                    return out
    if len(expected["levels"]) != len(got["levels"]):
        note(f"tree levels: model {len(expected['levels'])}, impl {len(got['levels'])}")
        return out
    for level, (want_level, have_level) in enumerate(zip(expected["levels"], got["levels"], strict=True)):
        if want_level == have_level:
            continue
        for i in sorted(set(want_level) | set(have_level)):
            want_p, have_p = want_level.get(i, 0), have_level.get(i, 0)
            if want_p == have_p:
                continue
            want_t, have_t = _triple(want_p, geometry), _triple(have_p, geometry)
            if want_t != have_t and note(f"summary at level {level} entry {i}: model {want_t}, impl {have_t}"):
                return out
    want_index, have_index = expected["scav_index"], got["scav_index"]
    for key in ("min_chunk", "force_cursor", "background_cursor", "free_high_water", "gen"):
        if want_index[key] != have_index[key] and note(
            f"scavenge index {key}: model {want_index[key]}, impl {have_index[key]}"
        ):
            return out
    zero = [0, 0, 0, False]
    for chunk in sorted(set(want_index["chunks"]) | set(have_index["chunks"])):
        want_d = want_index["chunks"].get(chunk, zero)
        have_d = have_index["chunks"].get(chunk, zero)
        if want_d != have_d and note(
            f"scavenge index chunk {chunk} [in_use, last_in_use, gen, has_free]: model {want_d}, impl {have_d}"
        ):
            return out
    for cache_id in sorted(set(expected["caches"]) | set(got["caches"])):
        want_c, have_c = expected["caches"].get(cache_id), got["caches"].get(cache_id)
        if want_c != have_c and note(f"cache {cache_id}: model {_show_cache(want_c)}, impl {_show_cache(have_c)}"):
            return out
    return out


def _show_cache(cache: dict[str, Any] | None) -> str:
    if cache is None:
        return "unknown id"
    return f"base {cache['base']} free 0x{cache['free']:016x} scav 0x{cache['scav']:016x}"
