"""The page heap's invariants, each a function returning the violations it finds.

An empty list means the invariant holds. Each message names the page, chunk,
level or cache where it fails, so a failing property test or oracle run says
where to look. `all_violations` runs them all.

  summaries_match_bitmaps   the stored tree equals summarize_levels of the
                            bitmaps at every level
  scavenged_pages_free      no page is both scavenged and in use, but the
                            padding at the heap's base (pad)
  hint_below_in_use         every grown page below the search hint is in use
  caches_consistent         every page a cache holds free is in use in the
                            heap and held by no other cache; a cache's
                            scavenged bits are among its free bits and the
                            padding of its block
  tree_find_is_first_fit    the tree descent finds the same page as the
                            linear first-fit scan, for a spread of sizes
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from model import bitmap, tree, words
from model.pagealloc import PageAlloc
from model.pagecache import CACHE_PAGES
from model.pageheap import PageHeap


def summaries_match_bitmaps(pa: PageAlloc) -> list[str]:
    expected = tree.summarize_levels({c: d.alloc for c, d in pa.chunks.items()}, pa.geometry)
    out = []
    for level, (want, have) in enumerate(zip(expected, pa.tree, strict=True)):
        for index in sorted(set(want) | set(have)):
            w, h = want.get(index), have.get(index)
            if w != h:
                w_text = w.as_tuple() if w else (0, 0, 0)
                h_text = h.as_tuple() if h else (0, 0, 0)
                out.append(f"summary at level {level} entry {index} is {h_text}, bitmaps give {w_text}")
    return out


def scavenged_pages_free(pa: PageAlloc) -> list[str]:
    """No page is both scavenged and in use, but padding (pages pad() marked both, until they are freed)."""
    out = []
    for chunk, data in sorted(pa.chunks.items()):
        padding = data.padded or [0] * len(data.alloc)
        for k, (used, scav, padded) in enumerate(zip(data.alloc, data.scavenged, padding, strict=True)):
            both = used & scav & ~padded
            if both:
                page = pa.geometry.chunk_base(chunk) + 64 * k + words.trailing_zeros(both)
                out.append(f"page {page} is scavenged and in use")
    return out


def hint_below_in_use(pa: PageAlloc) -> list[str]:
    g = pa.geometry
    for chunk in sorted(pa.chunks):
        base = g.chunk_base(chunk)
        if base >= pa.search_page:
            break
        free = bitmap.first_free(pa.chunks[chunk].alloc)
        if free is not None and base + free < pa.search_page:
            return [f"page {base + free} is free but below the search hint {pa.search_page}"]
    return []


def padding_of(heap: PageHeap, base: int | None) -> int:
    """The padding among the 64 pages from base (a cache's block), as a 64-bit mask.

    A cache filled from a block holding padding takes the block's scavenged bits whole, as Go's
    allocToCache does, so its scavenged bits may name those in-use padding pages too.
    """
    if base is None:
        return 0
    g = heap.alloc_state.geometry
    data = heap.alloc_state.chunks.get(g.chunk_of(base))
    if data is None or not data.padded:
        return 0
    return bitmap.block64(data.padded, g.page_in_chunk(base))


def caches_consistent(heap: PageHeap) -> list[str]:
    out = []
    owner: dict[int, int] = {}
    for cache_id, cache in sorted(heap.caches.items()):
        if cache.scav & ~cache.free & ~padding_of(heap, cache.base):
            stray = cache.scav & ~cache.free & ~padding_of(heap, cache.base)
            out.append(f"cache {cache_id} has scavenged bits {stray:#x} outside its free bits and the padding")
        if cache.free == 0:
            continue
        if cache.base is None or cache.base % CACHE_PAGES:
            out.append(f"cache {cache_id} has free pages but base {cache.base}, not 64-page aligned")
            continue
        for i in range(CACHE_PAGES):
            if not (cache.free >> i) & 1:
                continue
            page = cache.base + i
            if not heap.alloc_state.in_heap(page) or not heap.alloc_state.in_use(page):
                out.append(f"page {page} is held by cache {cache_id} but is not in use in the heap")
            if page in owner:
                out.append(f"page {page} is held by caches {owner[page]} and {cache_id}")
            owner[page] = cache_id
    return out


FIRST_FIT_SIZES = (1, 2, 3, 7, 63, 64, 65, 100, 511, 512, 513, 1024, 1500)


def tree_find_is_first_fit(pa: PageAlloc, sizes: Iterable[int] = FIRST_FIT_SIZES) -> list[str]:
    out = []
    alloc_bits = {c: d.alloc for c, d in pa.chunks.items()}
    for n in sizes:
        want = tree.heap_first_fit(alloc_bits, pa.geometry, n)
        try:
            have, _ = tree.tree_find(pa.tree, pa.alloc_bits, pa.geometry, n, pa.search_page)
        except tree.BadSummaryData as e:
            out.append(f"tree find of {n} pages failed: {e}")
            continue
        if have != want:
            out.append(f"tree find of {n} pages gives page {have}, first fit is {want}")
    return out


HEAP_INVARIANTS: dict[str, Callable[[PageHeap], list[str]]] = {
    "summaries_match_bitmaps": lambda h: summaries_match_bitmaps(h.alloc_state),
    "scavenged_pages_free": lambda h: scavenged_pages_free(h.alloc_state),
    "hint_below_in_use": lambda h: hint_below_in_use(h.alloc_state),
    "caches_consistent": caches_consistent,
    "tree_find_is_first_fit": lambda h: tree_find_is_first_fit(h.alloc_state),
}


def all_violations(heap: PageHeap) -> list[str]:
    out = []
    for name, check in HEAP_INVARIANTS.items():
        out.extend(f"{name}: {v}" for v in check(heap))
    return out
