"""The inspection API: a FastPageHeap's whole observable state as plain values.

The oracle compares this with the model after every step, and fast.serve
sends it over the subprocess protocol (`{"op": "snapshot"}`), so its layout
is the protocol's (SPEC.md):

    search_page   the search hint (Go: searchAddr); no_free_page when full
    end_chunk     one past the highest chunk ever grown
    chunks        {chunk: {"alloc": [words], "scav": [words]}} for every grown
                  chunk: in-use and scavenged bitmaps, page i = bit i % 64 of
                  word i // 64
    levels        one {index: packed summary} per tree level, root first,
                  holding only the non-zero entries (Go's pallocSum packing)
    scav_index    {"chunks": {chunk: [in_use, last_in_use, gen, has_free]} for
                  every chunk whose data is not all zero, "min_chunk",
                  "force_cursor": [page or None, marked],
                  "background_cursor": [page or None, marked],
                  "free_high_water", "gen"}
    caches        {cache id: {"base", "free", "scav"}} for every known id

state_to_json turns it into JSON: keys become strings, and every 64-bit
value (bitmap words, packed summaries, cache maps) a "0x" and 16 hex digits
string, since JSON numbers past 2**53 are not safe in every language.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from fast.pagealloc import FastPageAlloc
from fast.pagecache import PageCache
from fast.scavenge import ScavengeIndex
from fast.storage import Storage
from fast.tree import SummaryTree

State = dict[str, Any]


def heap_state(pa: FastPageAlloc, caches: Mapping[int, PageCache]) -> State:
    """The state of a page heap: its allocator and its caches by id."""
    return {
        "search_page": pa.search_page,
        "end_chunk": pa.end_chunk,
        "chunks": chunks_state(pa.storage),
        "levels": levels_state(pa.tree),
        "scav_index": scav_index_state(pa.scav, pa.storage),
        "caches": {
            cache_id: {"base": c.base, "free": c.free, "scav": c.scav} for cache_id, c in sorted(caches.items())
        },
    }


def chunks_state(storage: Storage) -> dict[int, dict[str, list[int]]]:
    """Both bitmaps of every grown chunk, as lists of words, by chunk."""
    chunks: dict[int, dict[str, list[int]]] = {}
    for bid in storage.block_ids:
        bitmaps = storage.blocks[bid]
        rows = np.flatnonzero(bitmaps.grown)
        numbers = (rows + (bid << storage.layout.log_chunks_per_block)).tolist()
        words = zip(numbers, bitmaps.alloc[rows].tolist(), bitmaps.scavenged[rows].tolist(), strict=True)
        for chunk, alloc, scav in words:
            chunks[chunk] = {"alloc": alloc, "scav": scav}
    return chunks


def levels_state(tree: SummaryTree) -> list[dict[int, int]]:
    """The non-zero packed summaries of every level, root first, by entry index."""
    layout = tree.layout
    levels: list[dict[int, int]] = [{} for _ in range(layout.levels)]
    nonzero = np.flatnonzero(tree.root)
    levels[0] = dict(zip(nonzero.tolist(), tree.root[nonzero].tolist(), strict=True))
    for bid in tree.storage.block_ids:
        # Every summary array is scanned whole: an entry above no grown chunk must be zero, and is shown if not.
        block = tree.blocks[bid]
        for level in range(1, layout.levels):
            values = block.entries[level]
            nonzero = np.flatnonzero(values)
            first = bid << (level * layout.level_bits)
            levels[level].update(zip((nonzero + first).tolist(), values[nonzero].tolist(), strict=True))
    return levels


def scav_index_state(index: ScavengeIndex, storage: Storage) -> dict[str, Any]:
    """The scavenge index: per-chunk data where not all zero, the cursors, the high-water mark, the generation."""
    chunks: dict[int, list[int | bool]] = {}
    for bid in storage.block_ids:
        # The index has data only for grown chunks (the others are never allocated or freed).
        rows = np.flatnonzero(storage.blocks[bid].grown)
        numbers = (rows + (bid << storage.layout.log_chunks_per_block)).tolist()
        counts = index.blocks[bid]
        data = zip(
            numbers,
            counts.in_use[rows].tolist(),
            counts.last_in_use[rows].tolist(),
            counts.gen[rows].tolist(),
            counts.has_free[rows].tolist(),
            strict=True,
        )
        for chunk, in_use, last, gen, has_free in data:
            if in_use or last or gen or has_free:
                chunks[chunk] = [in_use, last, gen, has_free]
    return {
        "chunks": chunks,
        "min_chunk": index.min_heap_chunk,
        "force_cursor": [index.force_cursor.page, index.force_cursor.marked],
        "background_cursor": [index.background_cursor.page, index.background_cursor.marked],
        "free_high_water": index.free_high_water,
        "gen": index.gen,
    }


def hex64(value: int) -> str:
    return f"0x{value:016x}"


def state_to_json(state: State) -> dict[str, Any]:
    index = state["scav_index"]
    return {
        "search_page": state["search_page"],
        "end_chunk": state["end_chunk"],
        "chunks": {
            str(c): {"alloc": [hex64(w) for w in d["alloc"]], "scav": [hex64(w) for w in d["scav"]]}
            for c, d in state["chunks"].items()
        },
        "levels": [{str(i): hex64(p) for i, p in level.items()} for level in state["levels"]],
        "scav_index": {**index, "chunks": {str(c): v for c, v in index["chunks"].items()}},
        "caches": {
            str(i): {"base": c["base"], "free": hex64(c["free"]), "scav": hex64(c["scav"])}
            for i, c in state["caches"].items()
        },
    }
