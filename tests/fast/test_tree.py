"""fast.tree against model.tree: summaries after updates, and find against first fit and Go's descent.

Trees are built on random bitmaps (words biased towards full, empty and
runs, so free runs cross words and chunks) over chunks grown in a few
ranges with holes between, in a reduced geometry whose blocks are small
(so runs and finds cross blocks) and in amd64's five levels with small
chunks. Every check compares with the model's own definitions.
"""

from __future__ import annotations

import random

import pytest

from fast.state import levels_state
from fast.storage import Layout, Storage
from fast.summary import summarize_int
from fast.tree import BadSummaryData, SummaryTree
from model import tree as mtree
from model.geometry import Geometry
from model.summary import pack

MASK64 = (1 << 64) - 1
GEOMETRIES = {
    "3-levels": Geometry(chunk_pages=64, levels=3, root_bits=3, level_bits=2),
    "amd64-tree": Geometry(chunk_pages=128),
}


def random_word(rng: random.Random) -> int:
    kind = rng.random()
    if kind < 0.3:
        return 0
    if kind < 0.6:
        return MASK64
    if kind < 0.85:
        lo = rng.randint(0, 63)
        hi = rng.randint(lo, 64)
        return ((1 << hi) - 1) & ~((1 << lo) - 1)
    return rng.getrandbits(64)


class Built:
    """A SummaryTree on random bitmaps, with the same bitmaps as the model's word lists."""

    def __init__(self, geometry: Geometry, seed: int, **faults: bool) -> None:
        self.geometry = geometry
        rng = random.Random(seed)
        self.storage = Storage(Layout(geometry))
        self.tree = SummaryTree(self.storage, **faults)
        self.words: dict[int, list[int]] = {}
        self.model_tree: mtree.Tree | None = None
        # Three ranges of up to 40 chunks, each ending at or just past a multiple of half a block: about
        # half of them cross from one block into the next.
        half_block = self.storage.layout.chunks_per_block // 2
        for start in sorted(rng.sample(range(half_block, geometry.total_chunks - 64, half_block), 3)):
            nchunks = rng.randint(1, 40)
            first = max(0, start - rng.randint(0, nchunks - 1))
            if self.storage.first_grown_in(first, first + nchunks) is None:
                self.grow(first, nchunks)
        for chunk in sorted(self.words):
            if rng.random() < 0.3:
                continue  # left fully free: runs of several chunks
            self.set_chunk(chunk, [random_word(rng) for _ in range(geometry.words_per_chunk)])

    def grow(self, chunk: int, nchunks: int) -> None:
        for bid in self.storage.grow(chunk, nchunks):
            self.tree.add_block(bid)
        cp = self.geometry.chunk_pages
        self.tree.update_range(chunk * cp, nchunks * cp, self.tree.free_leaf)
        for c in range(chunk, chunk + nchunks):
            self.words[c] = [0] * self.geometry.words_per_chunk
        self.model_tree = None

    def set_chunk(self, chunk: int, words: list[int]) -> None:
        layout = self.storage.layout
        used = sum(w << (64 * k) for k, w in enumerate(words))
        self.storage.blocks[chunk >> layout.log_chunks_per_block].write_alloc(chunk & layout.row_mask, used)
        self.tree.update_chunk(chunk, used)
        self.words[chunk] = list(words)
        self.model_tree = None

    def model_levels(self) -> list[dict[int, int]]:
        return [
            {i: pack(s, self.geometry) for i, s in level.items()}
            for level in mtree.summarize_levels(self.words, self.geometry)
        ]

    def model_find(self, npages: int, search_page: int) -> object:
        if self.model_tree is None:
            self.model_tree = mtree.summarize_levels(self.words, self.geometry)
        try:
            return mtree.tree_find(self.model_tree, self.words.__getitem__, self.geometry, npages, search_page)
        except mtree.BadSummaryData:
            return "bad summary data"

    def fast_find(self, npages: int, search_page: int) -> object:
        try:
            return self.tree.find(npages, search_page)
        except BadSummaryData:
            return "bad summary data"

    def first_free_page(self) -> int:
        for chunk in sorted(self.words):
            for k, w in enumerate(self.words[chunk]):
                if w != MASK64:
                    return chunk * self.geometry.chunk_pages + 64 * k + ((~w) & -(~w)).bit_length() - 1
        return self.geometry.no_free_page


def sizes(geometry: Geometry) -> list[int]:
    cp = geometry.chunk_pages
    return [1, 2, 7, 63, 64, 65, 130, cp - 1, cp, cp + 1, 3 * cp + 5, 20 * cp]


@pytest.mark.parametrize("name", GEOMETRIES)
@pytest.mark.parametrize("seed", range(8))
def test_updates_keep_every_level_equal_to_the_model(name: str, seed: int) -> None:
    built = Built(GEOMETRIES[name], seed)
    assert levels_state(built.tree) == built.model_levels()
    assert built.tree.check() == []
    # Rewrite a few chunks, including back to fully free and fully in use.
    rng = random.Random(seed + 100)
    for chunk in rng.sample(sorted(built.words), min(5, len(built.words))):
        words = rng.choice([[0], [MASK64], [random_word(rng)]]) * built.geometry.words_per_chunk
        built.set_chunk(chunk, words)
        assert levels_state(built.tree) == built.model_levels()


@pytest.mark.parametrize("name", GEOMETRIES)
@pytest.mark.parametrize("seed", range(8))
def test_find_is_first_fit(name: str, seed: int) -> None:
    """From a hint below which every page is in use, find gives heap_first_fit (model.tree's definition)."""
    built = Built(GEOMETRIES[name], seed)
    hint = built.first_free_page()
    for npages in sizes(built.geometry):
        page, _ = built.tree.find(npages, hint)
        assert page == mtree.heap_first_fit(built.words, built.geometry, npages), npages
        assert built.tree.find(npages, 0)[0] == page


@pytest.mark.parametrize("name", GEOMETRIES)
@pytest.mark.parametrize("seed", range(8))
def test_find_follows_go_descent_from_any_hint(name: str, seed: int) -> None:
    """From any hint, fit and first-free bound are model.tree.tree_find's (or both find bad summary data)."""
    built = Built(GEOMETRIES[name], seed)
    rng = random.Random(seed + 200)
    grown_pages = [c * built.geometry.chunk_pages for c in built.words]
    hints = [0, built.geometry.no_free_page, *(p + rng.randrange(built.geometry.chunk_pages) for p in grown_pages[:6])]
    for hint in hints:
        for npages in sizes(built.geometry):
            assert built.fast_find(npages, hint) == built.model_find(npages, hint), (hint, npages)


def test_find_on_an_empty_or_full_tree() -> None:
    g = GEOMETRIES["3-levels"]
    storage = Storage(Layout(g))
    tree = SummaryTree(storage)
    assert tree.find(1, 0) == (None, g.no_free_page)
    for bid in storage.grow(17, 2):
        tree.add_block(bid)
    tree.update_range(17 * 64, 128, 0)  # both chunks all in use
    assert tree.find(1, 0) == (None, g.no_free_page)
    tree.update_range(17 * 64, 128, tree.free_leaf)
    assert tree.find(128, 0) == (17 * 64, 17 * 64)
    assert tree.find(129, 0) == (None, g.no_free_page)


def test_a_run_crosses_adjacent_root_entries_but_not_a_gap() -> None:
    """Root entries without a block are visited by no scan: the gap they leave must still end a run."""
    g = GEOMETRIES["3-levels"]  # 16 chunks of 64 pages per root entry
    storage = Storage(Layout(g))
    tree = SummaryTree(storage)
    for chunk in (15, 32):  # the last chunk of root entry 0, the first of root entry 2
        for bid in storage.grow(chunk, 1):
            tree.add_block(bid)
        tree.update_range(chunk * 64, 64, tree.free_leaf)
    assert tree.find(100, 0) == (None, g.no_free_page)
    for bid in storage.grow(16, 1):  # now root entries 0 and 1 are adjacent, and free across
        tree.add_block(bid)
    tree.update_range(16 * 64, 64, tree.free_leaf)
    assert tree.find(100, 0)[0] == 15 * 64
    assert tree.find(129, 0) == (None, g.no_free_page)


def test_check_finds_a_corrupt_entry_and_resummarize_repairs_it() -> None:
    built = Built(GEOMETRIES["amd64-tree"], 3)
    want = levels_state(built.tree)
    bid = built.storage.block_ids[0]
    built.tree.blocks[bid].entries[2][5] ^= 1 << 22
    problems = built.tree.check()
    assert len(problems) == 1 and problems[0].startswith(f"level 2 entry {(bid << 6) + 5}: stored")
    built.tree.root_view[bid] ^= 1
    assert len(built.tree.check()) == 2
    built.tree.resummarize()
    assert built.tree.check() == []
    assert levels_state(built.tree) == want


def test_a_summary_promising_too_much_is_bad_summary_data() -> None:
    built = Built(GEOMETRIES["3-levels"], 1)
    chunk = min(built.words)
    built.set_chunk(chunk, [MASK64 ^ (((1 << 40) - 1) << 10)])  # 40 free pages in the middle of the chunk
    layout = built.storage.layout
    # The bitmap now says all in use; the (stale) summaries still promise the 40 pages.
    built.storage.blocks[chunk >> layout.log_chunks_per_block].write_alloc(chunk & layout.row_mask, MASK64)
    with pytest.raises(BadSummaryData, match=f"chunk {chunk}'s summary promised 40 free pages"):
        built.tree.find(40, chunk * 64)


def test_copy_is_independent() -> None:
    built = Built(GEOMETRIES["3-levels"], 2)
    before = levels_state(built.tree)
    twin = built.tree.copy(built.storage.copy())
    chunk = min(built.words)
    used = (1 << 64) - 1 if built.words[chunk] == [0] else 0  # a bitmap the chunk does not have
    layout = twin.storage.layout
    twin.storage.blocks[chunk >> layout.log_chunks_per_block].write_alloc(chunk & layout.row_mask, used)
    twin.update_chunk(chunk, used)
    assert levels_state(built.tree) == before
    assert built.tree.check() == []
    assert levels_state(twin) != before
    assert twin.check() == []


@pytest.mark.parametrize("name", [*GEOMETRIES, "amd64"])
@pytest.mark.parametrize("seed", range(3))
def test_resummarize_of_bitmaps_written_directly_equals_the_model(name: str, seed: int) -> None:
    # What the benchmark does: grow, write every bitmap straight into storage, resummarize every level at once.
    geometry = GEOMETRIES.get(name, Geometry())
    rng = random.Random(seed)
    storage = Storage(Layout(geometry))
    tree = SummaryTree(storage)
    per_block = storage.layout.chunks_per_block
    words: dict[int, list[int]] = {}
    for first in sorted(rng.sample(range(per_block // 2, geometry.total_chunks - per_block, per_block), 3)):
        nchunks = rng.randint(1, min(per_block + 3, 300))
        first = min(first + rng.randint(0, per_block // 2), geometry.total_chunks - nchunks)
        if storage.first_grown_in(first, first + nchunks) is not None:
            continue
        for bid in storage.grow(first, nchunks):
            tree.add_block(bid)
        for chunk in range(first, first + nchunks):
            words[chunk] = [random_word(rng) for _ in range(geometry.words_per_chunk)]
            used = sum(w << (64 * k) for k, w in enumerate(words[chunk]))
            storage.blocks[chunk // per_block].write_alloc(chunk % per_block, used)
    tree.resummarize()
    want = [{i: pack(s, geometry) for i, s in level.items()} for level in mtree.summarize_levels(words, geometry)]
    assert levels_state(tree) == want
    assert tree.check() == []


@pytest.mark.parametrize("name", GEOMETRIES)
@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("off_by_one", [False, True])
def test_small_edits_keep_every_level_equal_to_a_fresh_summary(name: str, seed: int, off_by_one: bool) -> None:
    # Runs set and cleared inside one word: most edits keep the chunk's start and end, which is where
    # update_chunk changes a parent's max without merging its row. check() merges every row afresh (with
    # the same fault, if any); the model has the last word.
    built = Built(GEOMETRIES[name], seed, merge_width_off_by_one=off_by_one)
    rng = random.Random(seed + 7)
    chunks = sorted(built.words)
    for _ in range(80):
        chunk = rng.choice(chunks)
        words = list(built.words[chunk])
        k, lo = rng.randrange(len(words)), rng.randrange(64)
        mask = ((1 << rng.randint(1, 64 - lo)) - 1) << lo
        words[k] = words[k] | mask if rng.random() < 0.5 else words[k] & ~mask
        built.set_chunk(chunk, words)
        assert built.tree.check() == []
    if not off_by_one:
        assert levels_state(built.tree) == built.model_levels()


@pytest.mark.parametrize("name", GEOMETRIES)
@pytest.mark.parametrize("seed", range(4))
def test_update_run_equals_summarizing_the_whole_chunk(name: str, seed: int) -> None:
    # Ranges allocated (all free before) and freed (all in use before) in chunks of every kind: the leaf
    # update_run derives from the old leaf and the run around the range must be the chunk's own summary.
    built = Built(GEOMETRIES[name], seed)
    layout = built.storage.layout
    rng = random.Random(seed + 11)
    chunks = sorted(built.words)
    for _ in range(150):
        chunk = rng.choice(chunks)
        bitmaps = built.storage.blocks[chunk >> layout.log_chunks_per_block]
        used = bitmaps.read_alloc(chunk & layout.row_mask)
        allocate = rng.random() < 0.5
        candidates = ~used if allocate else used
        index = rng.randrange(layout.chunk_pages)
        if not (candidates >> index) & 1:
            continue
        npages = 1
        while index + npages < layout.chunk_pages and (candidates >> (index + npages)) & 1 and rng.random() < 0.9:
            npages += 1
        mask = ((1 << npages) - 1) << index
        used = used | mask if allocate else used & ~mask
        bitmaps.write_alloc(chunk & layout.row_mask, used)
        built.tree.update_run(chunk, used, index, npages, allocated=allocate)
        want = built.tree.codec.pack(*summarize_int(used, layout.chunk_pages))
        assert built.tree.leaf(chunk) == want
        assert built.tree.check() == []
