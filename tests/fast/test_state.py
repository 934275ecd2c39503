"""fast.state: the whole state of a small heap, worked out by hand, as values and as JSON."""

from __future__ import annotations

import json

from fast.pageheap import FastPageHeap
from fast.state import state_to_json
from model.geometry import Geometry

# 64-page chunks, two levels: 4 root entries of 2 chunks each; packed fields of 6 + 1 = 7 bits.
G = Geometry(chunk_pages=64, levels=2, root_bits=2, level_bits=1)
LEAF = 0 | 61 << 7 | 61 << 14  # chunk 1 after alloc(3): (start 0, max 61, end 61)


def test_state_of_a_small_heap() -> None:
    heap = FastPageHeap(G)
    heap.grow(1, 1)
    assert heap.alloc(3).page == 64
    heap.cache_fill(2)  # takes pages 67..127, scavenged
    heap.cache_flush(2)  # and gives them back, still scavenged
    assert heap.state() == {
        "search_page": 64,
        "end_chunk": 2,
        "chunks": {1: {"alloc": [0b111], "scav": [(1 << 64) - 8]}},
        "levels": [{0: LEAF}, {1: LEAF}],  # root entry 0 = merge(chunk 0 never grown, chunk 1)
        "scav_index": {
            "chunks": {1: [3, 0, 0, True]},
            "min_chunk": 1,
            "force_cursor": [127, True],
            "background_cursor": [None, False],
            "free_high_water": 127,
            "gen": 0,
        },
        "caches": {2: {"base": None, "free": 0, "scav": 0}},
    }


def test_state_to_json_uses_string_keys_and_64_bit_hex() -> None:
    heap = FastPageHeap(G)
    heap.grow(1, 1)
    heap.alloc(3)
    heap.cache_fill(0)
    out = state_to_json(heap.state())
    assert json.loads(json.dumps(out)) == out
    assert out["chunks"] == {"1": {"alloc": ["0xffffffffffffffff"], "scav": ["0x0000000000000000"]}}
    assert out["levels"] == [{}, {}]
    assert out["scav_index"]["chunks"] == {"1": [64, 0, 0, False]}
    assert out["caches"] == {"0": {"base": 64, "free": "0xfffffffffffffff8", "scav": "0xfffffffffffffff8"}}
