"""The picture of two heaps around a failing line, as plain data: which chunks, each page's kind, the tree path.

Page kinds (`page_kind`), from a state in oracle.pagealloc.state's layout:

  none     the chunk was never grown
  used     in use (handed out, or held by the heap)
  padding  in use and scavenged: pad's pages (trace version 3)
  free     free and not scavenged
  scav     free and scavenged (released to the OS)
  cache    in use in the bitmap but held, free, by a page cache

`chunks_to_show` picks at most MAX_CHUNKS chunks: those holding the pages
either side's answer names, the pages whose kinds differ, and their
neighbours; `differing_pages` lists the pages whose kind differs between
the two sides (in the chunks shown).

`tree_path` gives, level by level from the root, a window of tree entries
around the path to a page on each side (the page the model found, the page
the implementation gave): at each level the block of sibling entries the
search scans there, each with both sides' summary (start, max, end) and
whether it lies on either path or differs.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from model.geometry import Geometry
from model.summary import unpack_triple
from oracle.pagealloc.state import State

MAX_CHUNKS = 8
ROOT_WINDOW = 8  # root-level entries shown around the path (the root level has 2**14 entries)
KINDS = ("none", "used", "padding", "free", "scav", "cache")


def cache_pages(state: State) -> set[int]:
    """Pages some cache holds free."""
    out = set()
    for cache in state["caches"].values():
        base, free = cache["base"], cache["free"]
        if base is None:
            continue
        out.update(base + i for i in range(64) if free >> i & 1)
    return out


def page_kind(state: State | None, page: int, chunk_pages: int, cached: set[int]) -> str:
    if state is None:
        return "none"
    chunk = state["chunks"].get(page // chunk_pages)
    if chunk is None:
        return "none"
    i = page % chunk_pages
    used = chunk["alloc"][i // 64] >> (i % 64) & 1
    scav = chunk["scav"][i // 64] >> (i % 64) & 1
    if page in cached:
        return "cache"
    if used:
        return "padding" if scav else "used"
    return "scav" if scav else "free"


def _differing_chunks(a: State | None, b: State | None, chunk_pages: int) -> list[int]:
    if a is None or b is None:
        return []
    out = []
    for chunk in sorted(set(a["chunks"]) | set(b["chunks"])):
        x, y = a["chunks"].get(chunk), b["chunks"].get(chunk)
        if x != y:
            out.append(chunk)
    held_a, held_b = cache_pages(a), cache_pages(b)
    return sorted(set(out) | {p // chunk_pages for p in held_a ^ held_b})


def chunks_to_show(a: State | None, b: State | None, focus: Iterable[int], chunk_pages: int) -> list[int]:
    """At most MAX_CHUNKS chunks around the focus pages and where the states differ, in address order."""
    grown = set(a["chunks"] if a else ()) | set(b["chunks"] if b else ())
    wanted: list[int] = []
    for page in focus:
        wanted.append(page // chunk_pages)
    wanted += _differing_chunks(a, b, chunk_pages)[:MAX_CHUNKS]
    if not wanted:
        wanted = sorted(grown)[:4]
    chosen: list[int] = []
    for chunk in wanted:
        if chunk not in chosen and len(chosen) < MAX_CHUNKS:
            chosen.append(chunk)
    for chunk in list(chosen):  # neighbours, where there is room: where runs and summaries meet
        for near in (chunk - 1, chunk + 1):
            if near in grown and near not in chosen and len(chosen) < MAX_CHUNKS:
                chosen.append(near)
    return sorted(chosen)


def differing_pages(a: State | None, b: State | None, chunks: list[int], chunk_pages: int) -> set[int]:
    if a is None or b is None:
        return set()
    held_a, held_b = cache_pages(a), cache_pages(b)
    out = set()
    for chunk in chunks:
        if a["chunks"].get(chunk) == b["chunks"].get(chunk) and not (held_a ^ held_b):
            continue
        for page in range(chunk * chunk_pages, (chunk + 1) * chunk_pages):
            if page_kind(a, page, chunk_pages, held_a) != page_kind(b, page, chunk_pages, held_b):
                out.add(page)
    return out


@attrs.frozen
class Entry:
    index: int
    left: tuple[int, int, int]
    right: tuple[int, int, int]
    on_left_path: bool
    on_right_path: bool

    @property
    def differs(self) -> bool:
        return self.left != self.right


@attrs.frozen
class Level:
    level: int
    pages_per_entry: int
    entries: list[Entry]


def _summary(state: State | None, level: int, index: int, geometry: Geometry) -> tuple[int, int, int]:
    if state is None or level >= len(state["levels"]):
        return (0, 0, 0)
    start, most, end = unpack_triple(state["levels"][level].get(index, 0), geometry)
    return int(start), int(most), int(end)


def tree_path(geometry: Geometry, left: State | None, right: State | None, left_page: int | None,
              right_page: int | None) -> list[Level]:
    """The entries along both paths, level by level (see the module comment)."""
    if left_page is None and right_page is None:
        return []
    out = []
    for level in range(geometry.levels):
        on_left = geometry.entry_of(level, left_page) if left_page is not None else None
        on_right = geometry.entry_of(level, right_page) if right_page is not None else None
        indexes: set[int] = set()
        for index in (on_left, on_right):
            if index is None:
                continue
            if level == 0:
                lo = max(index - ROOT_WINDOW // 2, 0)
                indexes.update(range(lo, min(lo + ROOT_WINDOW, geometry.level_entries(0))))
            else:
                block = 1 << geometry.block_bits(level)
                first = index - index % block
                indexes.update(range(first, first + block))
        entries = [
            Entry(i, _summary(left, level, i, geometry), _summary(right, level, i, geometry), i == on_left,
                  i == on_right)
            for i in sorted(indexes)
        ]
        out.append(Level(level, 1 << geometry.level_log_pages(level), entries))
    return out
