"""The seeded model bugs: plausible single-point mistakes in the functions the proofs cover.

Each rule is data (proofs.mutation.Mutant): the file and function it edits,
a pattern that occurs exactly once there, its replacement, the proof that
claims the property the bug breaks, and the bug in words. They are the
kinds of slip a reviewer would expect to see: off-by-ones, swapped fields,
a dropped statement, a wrong constant, an inverted or missing condition,
a branch that takes the wrong path. `python -m proofs --mutants` applies
each to a temporary copy of the model and runs its proof there; the proof
must end in a counterexample. Every proof's negative control is one of
them (Proof.control). A proof module may keep bugs of its own in a MUTANTS
tuple; every() gathers them with this table. Bugs that no proof can reach
are listed, with why, in SPEC.md §10.
"""

from __future__ import annotations

from proofs import registry
from proofs.mutation import Edit, Mutant

SUMMARY = "model/summary.py"
BITMAP = "model/bitmap.py"
TREE = "model/tree.py"
PAGEALLOC = "model/pagealloc.py"
PAGECACHE = "model/pagecache.py"
SCAVENGE = "model/scavenge.py"
BARRIER = "model/gc/barrier.py"
CYCLE = "model/gc/cycle.py"
MARK = "model/gc/mark.py"
GEOMETRY = "model/geometry.py"

MUTANTS: tuple[Mutant, ...] = (
    # pack_roundtrip
    Mutant(
        "pack_without_full_case", SUMMARY, "pack_triple",
        "return words.ite(most == geometry.max_packed, PACKED_FULL_BIT, fields)", "return fields",
        "pack_roundtrip", "pack forgets the fully free root entry, whose max does not fit in a field",
    ),
    Mutant(
        "pack_fields_swapped", SUMMARY, "pack_triple",
        "(start & field) | words.shl(most & field, bits) | words.shl(end & field, 2 * bits)",
        "(end & field) | words.shl(most & field, bits) | words.shl(start & field, 2 * bits)",
        "pack_roundtrip",
        "pack and unpack agree on a layout with start and end swapped (Go's has start in the low bits)",
        also=(Edit(
            SUMMARY, "unpack_triple",
            "words.ite(full, limit, packed & field),\n"
            "        words.ite(full, limit, words.lshr(packed, bits) & field),\n"
            "        words.ite(full, limit, words.lshr(packed, 2 * bits) & field),",
            "words.ite(full, limit, words.lshr(packed, 2 * bits) & field),\n"
            "        words.ite(full, limit, words.lshr(packed, bits) & field),\n"
            "        words.ite(full, limit, packed & field),",
        ),),
    ),
    Mutant(
        "unpack_mask_too_wide", SUMMARY, "unpack_triple",
        "field = geometry.max_packed - 1", "field = 2 * geometry.max_packed - 1",
        "pack_roundtrip", "unpack reads each field one bit too wide",
    ),
    Mutant(
        "packable_ignores_end", SUMMARY, "is_packable",
        "words.both(start == limit, end == limit)", "start == limit",
        "pack_roundtrip", "pack accepts a max of 2**21 whose end is not, which it then encodes as fully free",
    ),
    # pack_roundtrip_386
    Mutant(
        "packed_width_amd64_levels", GEOMETRY, "Geometry.log_max_packed",
        "(self.levels - 1) * self.level_bits", "4 * self.level_bits",
        "pack_roundtrip_386",
        "the packed field width counts amd64's four levels below the root: 21-bit fields on 386, not Go's 18",
    ),
    Mutant(
        "arch_386_grows_chunk_zero", GEOMETRY, "", "origin=0, first_chunk=1)", "origin=0, first_chunk=0)",
        "pack_roundtrip_386", "386 traces may grow chunk 0 (address 0), so root entry 0 may be wholly free",
    ),
    Mutant(
        "arch_top_chunk_growable", GEOMETRY, "Arch.chunk_limit",
        "top_wraps = address_bits >= self.uintptr_bits", "top_wraps = address_bits > self.uintptr_bits",
        "pack_roundtrip_386",
        "the chunk whose limit is 2**32 counts as growable on 386, so root entry 1 may be wholly free",
    ),
    # summarize_word
    Mutant(
        "summarize_word_63_rounds", SUMMARY, "summarize_word", "for _ in range(64):", "for _ in range(63):",
        "summarize_word", "one smear round too few: a fully free word gets max 63",
    ),
    Mutant(
        "summarize_word_stops_on_x", SUMMARY, "summarize_word",
        "if words.is_concrete(free) and free == 0:", "if words.is_concrete(free) and x == 0:",
        "summarize_word", "the int path's shortcut tests the word instead of what is left of it",
    ),
    Mutant(
        "summarize_word_start_end_swapped", SUMMARY, "summarize_word",
        "return (words.trailing_zeros(x), longest, words.leading_zeros(x))",
        "return (words.leading_zeros(x), longest, words.trailing_zeros(x))",
        "summarize_word", "start and end swapped (the low end is the trailing zeros)",
    ),
    Mutant(
        "summarize_word_shift_without_and", SUMMARY, "summarize_word",
        "free = free & words.lshr(free, 1)", "free = words.lshr(free, 1)",
        "summarize_word", "a smear round shifts the free bits instead of shortening every run",
    ),
    # merge_concat
    Mutant(
        "merge_without_junction", SUMMARY, "merge_pair",
        "most = words.maximum(words.maximum(a_max, b_max), a_end + b_start)",
        "most = words.maximum(a_max, b_max)",
        "merge_concat", "merge forgets the free run across the boundary",
    ),
    Mutant(
        "merge_junction_wrong_ends", SUMMARY, "merge_pair", "a_end + b_start)", "a_start + b_end)",
        "merge_concat", "the run across the boundary joins the wrong ends of the two regions",
    ),
    Mutant(
        "merge_row_width", SUMMARY, "merge_row",
        "merged = merge_pair(merged, i * child_width, children[i], child_width)",
        "merged = merge_pair(merged, child_width, children[i], child_width)",
        "merge_concat", "a row's merge takes what it has merged so far for one child's width",
    ),
    Mutant(
        "summarize_words_width", SUMMARY, "summarize_words",
        "return merge_row([summarize_word(w) for w in bits], 64)",
        "return merge_row([summarize_word(w) for w in bits], len(bits))",
        "merge_concat", "a chunk's words merged with the number of words as their width",
    ),
    # merge_assoc
    Mutant(
        "merge_end_one_short", SUMMARY, "merge_pair",
        "end = words.ite(b_end == b_width, a_end + b_width, b_end)",
        "end = words.ite(b_end == b_width, a_end + b_width - 1, b_end)",
        "merge_assoc", "when the right region is fully free, the end run is one page short",
    ),
    Mutant(
        "merge_start_tests_right_width", SUMMARY, "merge_pair",
        "start = words.ite(a_start == a_width, a_start + b_start, a_start)",
        "start = words.ite(a_start == b_width, a_start + b_start, a_start)",
        "merge_assoc", "the left region counts as fully free when its start equals the right one's width",
    ),
    Mutant(
        "merge_row_skips_second_child", SUMMARY, "merge_row",
        "for i in range(1, len(children)):", "for i in range(2, len(children)):",
        "merge_assoc", "a row's merge starts one child too late",
    ),
    # find_bit_range64
    Mutant(
        "find_bit_range64_shrinks_by_n", BITMAP, "find_bit_range64",
        "p = n - 1  # how many", "p = n  # how many",
        "find_bit_range64", "runs are shrunk by n instead of n - 1: it looks for n + 1 set bits",
    ),
    Mutant(
        "find_bit_range64_first_gap_two", BITMAP, "find_bit_range64",
        "k = 1  # every gap", "k = 2  # every gap",
        "find_bit_range64", "the first shift is by two, which can join runs separated by one zero",
    ),
    Mutant(
        "find_bit_range64_last_shift_left", BITMAP, "find_bit_range64",
        "c = c & words.lshr(c, p)", "c = c & words.shl(c, p)",
        "find_bit_range64", "the last shift goes the wrong way: the survivors mark ends of runs, not starts",
    ),
    Mutant(
        "find_bit_range64_highest", BITMAP, "find_bit_range64",
        "return words.trailing_zeros(c)", "return words.leading_zeros(c)",
        "find_bit_range64", "it counts from the wrong end",
    ),
    # alloc_free_bits
    Mutant(
        "range_mask_one_past", BITMAP, "range_mask",
        "hi = _offset_in_word(i + n, word_index)", "hi = _offset_in_word(i + n + 1, word_index)",
        "alloc_free_bits", "a range's mask runs one page past its end",
    ),
    Mutant(
        "touched_words_drop_last", BITMAP, "touched_bounds",
        "min((i + n - 1) // 64 + 1, nwords)", "min((i + n - 1) // 64, nwords)",
        "alloc_free_bits", "the int path skips the word holding a range's last page",
    ),
    Mutant(
        "offset_in_word_63", BITMAP, "_offset_in_word",
        "words.minimum(page - base, 64)", "words.minimum(page - base, 63)",
        "alloc_free_bits", "an offset into a word is clamped to 63, so a range never covers a word's top page",
    ),
    Mutant(
        "clear_range_without_not", BITMAP, "clear_range",
        "b[k] &= words.bnot(range_mask(k, i, n))", "b[k] &= range_mask(k, i, n)",
        "alloc_free_bits", "clearing a range keeps only the range",
    ),
    Mutant(
        "popcnt_range_counts_range", BITMAP, "popcnt_range",
        "words.popcount(b[k] & range_mask(k, i, n))", "words.popcount(range_mask(k, i, n))",
        "alloc_free_bits", "the count is the range's size, not its set pages",
    ),
    # fill_aligned
    Mutant(
        "fill_aligned_short_spread", BITMAP, "fill_aligned",
        "words.lshr(zero_groups, m - 1)", "words.lshr(zero_groups, m - 2)",
        "fill_aligned", "each group's top bit is spread one bit short, so an empty group is not cleared",
    ),
    Mutant(
        "fill_aligned_unmasked_add", BITMAP, "fill_aligned", "words.add(x & c, c)", "words.add(x, c)",
        "fill_aligned", "the carry trick adds the whole word, so a group's top bit carries into the next group",
    ),
    Mutant(
        "fill_aligned_drop_c", BITMAP, "fill_aligned", "words.add(x & c, c) | x | c)", "words.add(x & c, c) | x)",
        "fill_aligned", "the low bits of each group are not forced on, so they survive the inversion",
    ),
    Mutant(
        "fill_aligned_constant_16", BITMAP, "", "16: 0x7FFF7FFF7FFF7FFF,", "16: 0x7FFF7FFF7FFF7FF,",
        "fill_aligned", "a digit dropped from the constant for 16-page groups",
    ),
    # chunk_search
    Mutant(
        "first_fit_one_early", "model/spec.py", "first_fit", "return i - npages + 1", "return i - npages",
        "chunk_search", "the in-chunk search returns the page before the run it found",
    ),
    Mutant(
        "first_fit_run_not_reset", "model/spec.py", "first_fit", "run = 0\n            continue", "continue",
        "chunk_search", "a page in use does not end the run being counted",
    ),
    Mutant(
        "first_free_stops_at_full_word", "model/spec.py", "first_free",
        "continue  # a full word", "break  # a full word",
        "chunk_search", "the search for a free page gives up at the first full word",
    ),
    Mutant(
        "find_in_chunk_from_search_index", BITMAP, "find_in_chunk",
        "word_start = search_idx - search_idx % 64", "word_start = search_idx",
        "chunk_search", "the chunk is searched from the search index, not from the start of its word",
    ),
    # cache_roundtrip
    Mutant(
        "cache_alloc_keeps_scavenged", PAGECACHE, "PageCache.alloc", "        self.scav &= words.bnot(mask)\n", "",
        "cache_roundtrip", "a cache allocation leaves the scavenged bits of the pages it hands out",
    ),
    Mutant(
        "cache_alloc_accepts_no_run", PAGECACHE, "PageCache.alloc", "if i >= CACHE_PAGES:", "if i > CACHE_PAGES:",
        "cache_roundtrip", "findBitRange64's 'none' (64) is taken for a page",
    ),
    Mutant(
        "fill_hint_one_past", PAGECACHE, "fill",
        "pa.search_page = cache.base + CACHE_PAGES - 1", "pa.search_page = cache.base + CACHE_PAGES",
        "cache_roundtrip", "after a fill the hint is one past the block instead of its last page",
    ),
    Mutant(
        "fill_slow_path_keeps_hint", PAGECACHE, "fill", "            pa.search_page = g.no_free_page\n", "",
        "cache_roundtrip", "a fill that finds no free page leaves the hint instead of marking the heap full",
    ),
    Mutant(
        "fill_block_unaligned", PAGECACHE, "fill",
        "cache = PageCache(g.chunk_base(chunk) + 64 * word, free, scav)",
        "cache = PageCache(g.chunk_base(chunk) + index, free, scav)",
        "cache_roundtrip", "the cache's base is the free page found, not its 64-page block",
    ),
    Mutant(
        "fill_leaves_block_free", PAGECACHE, "fill", "    data.alloc[word] |= free\n", "",
        "cache_roundtrip", "a fill does not mark the pages it takes in use",
    ),
    Mutant(
        "flush_restores_free_as_scavenged", PAGECACHE, "flush",
        "if (cache.scav >> i) & 1:", "if (cache.free >> i) & 1:",
        "cache_roundtrip", "flush marks every returned page scavenged, not just those the cache had scavenged",
    ),
    # cache_first_held
    Mutant(
        "first_held_one_past", PAGECACHE, "PageCache.first_held",
        "min(page + npages, self.base + CACHE_PAGES)", "min(page + npages + 1, self.base + CACHE_PAGES)",
        "cache_first_held", "the range asked about is taken one page too long",
    ),
    Mutant(
        "first_held_unshifted", PAGECACHE, "PageCache.first_held",
        "words.shl(words.low_mask(hi - lo), lo - self.base)", "words.shl(words.low_mask(hi - lo), lo)",
        "cache_first_held", "the mask is placed at the page number instead of the offset in the block",
    ),
    Mutant(
        "first_held_highest", PAGECACHE, "PageCache.first_held",
        "self.base + words.trailing_zeros(held)", "self.base + 63 - words.leading_zeros(held)",
        "cache_first_held", "it reports the highest held page, not the lowest",
    ),
    Mutant(
        "first_held_unclamped", PAGECACHE, "PageCache.first_held",
        "lo, hi = max(page, self.base),", "lo, hi = page,",
        "cache_first_held", "a range starting below the block is not clamped to it",
    ),
    # scav_disjoint
    Mutant(
        "alloc_range_keeps_scavenged", PAGEALLOC, "PageAlloc.alloc_range",
        "            bitmap.clear_range(data.scavenged, index, count)\n", "",
        "scav_disjoint", "allocating pages does not clear their scavenged bits",
    ),
    Mutant(
        "alloc_range_clears_one_short", PAGEALLOC, "PageAlloc.alloc_range",
        "bitmap.clear_range(data.scavenged, index, count)", "bitmap.clear_range(data.scavenged, index, count - 1)",
        "scav_disjoint", "allocating clears the scavenged bits of all but the last page",
    ),
    Mutant(
        "alloc_range_counts_after_clearing", PAGEALLOC, "PageAlloc.alloc_range",
        "scav += bitmap.popcnt_range(data.scavenged, index, count)\n"
        "            bitmap.set_range(data.alloc, index, count)\n"
        "            bitmap.clear_range(data.scavenged, index, count)",
        "bitmap.set_range(data.alloc, index, count)\n"
        "            bitmap.clear_range(data.scavenged, index, count)\n"
        "            scav += bitmap.popcnt_range(data.scavenged, index, count)",
        "scav_disjoint", "the scavenged pages are counted after their bits were cleared",
    ),
    Mutant(
        "fill_keeps_scavenged", PAGECACHE, "fill", "    data.scavenged[word] &= words.bnot(free & scav)\n", "",
        "scav_disjoint", "the pages a fill takes stay scavenged in the heap while in use",
    ),
    Mutant(
        "scavenge_one_marks_max_pages", PAGEALLOC, "PageAlloc.scavenge_one",
        "bitmap.set_range(data.scavenged, start, size)", "bitmap.set_range(data.scavenged, start, max_pages)",
        "scav_disjoint", "the scavenger marks the pages it still wants, not the candidate's",
    ),
    # scavenge_candidate
    Mutant(
        "candidate_ignores_max", SCAVENGE, "find_scavenge_candidate", "size = min(run, max_pages)", "size = run",
        "scavenge_candidate", "the candidate takes the whole run whatever was asked",
    ),
    Mutant(
        "candidate_ignores_alloc", SCAVENGE, "find_scavenge_candidate",
        "bitmap.fill_aligned(scavenged[k] | alloc[k], min_pages)", "bitmap.fill_aligned(scavenged[k], min_pages)",
        "scavenge_candidate", "pages in use count as scavengeable",
    ),

    Mutant(
        "candidate_max_rounded_down", SCAVENGE, "find_scavenge_candidate",
        "-(-max_pages // min_pages) * min_pages", "max_pages // min_pages * min_pages",
        "scavenge_candidate", "max is rounded down to whole physical pages instead of up",
    ),
    Mutant(
        "candidate_end_one_short", SCAVENGE, "find_scavenge_candidate",
        "end = 64 * i + 64 - top_used", "end = 64 * i + 63 - top_used",
        "scavenge_candidate", "the run's top is one page low",
    ),
    Mutant(
        "candidate_run_through_used_word", SCAVENGE, "find_scavenge_candidate",
        "            if y != 0:\n                break\n", "",
        "scavenge_candidate", "the run keeps extending down past a word with unusable pages",
    ),
    # scavenge_huge_pages
    Mutant(
        "candidate_huge_size_not_extended", SCAVENGE, "find_scavenge_candidate",
        "                size += start - huge_below\n", "",
        "scavenge_huge_pages", "the start moves down to the huge-page boundary but the size stays",
    ),
    Mutant(
        "candidate_huge_boundary_strict", SCAVENGE, "find_scavenge_candidate",
        "if huge_below >= end - run:", "if huge_below > end - run:",
        "scavenge_huge_pages", "a run that starts exactly on a huge-page boundary is not extended down to it",
    ),
    Mutant(
        "candidate_huge_above_strict", SCAVENGE, "find_scavenge_candidate",
        "if huge_above <= end:", "if huge_above < end:",
        "scavenge_huge_pages", "a range ending exactly at a huge-page boundary is not extended",
    ),
    # tree_find_first_fit
    Mutant(
        "tree_find_gap_keeps_run", TREE, "tree_find",
        "size = 0  # a zero entry", "pass  # a zero entry",
        "tree_find_first_fit", "the free run is carried across an absent (zero) entry",
    ),
    Mutant(
        "tree_find_fit_strict", TREE, "tree_find", "if size + s.start >= npages:", "if size + s.start > npages:",
        "tree_find_first_fit", "a run of exactly n pages across entries is not taken",
    ),
    Mutant(
        "tree_find_full_entry_resets", TREE, "tree_find", "size += width", "size = width",
        "tree_find_first_fit", "a fully free entry restarts the run instead of extending it",
    ),
    Mutant(
        "tree_find_hint_any_block", TREE, "tree_find",
        "if search_index - search_index % block == i:", "if True:",
        "tree_find_first_fit", "the scan starts at the hint's position even in a block that does not hold the hint",
    ),
    Mutant(
        "tree_find_bound_unbounded", TREE, "tree_find",
        "if bound_lo <= base and base + size - 1 <= bound_hi:", "if bound_lo <= base:",
        "tree_find_first_fit", "the first-free bound moves to entries outside the current bound",
    ),
    Mutant(
        "tree_find_bound_at_fit", TREE, "tree_find",
        "free_page = g.chunk_base(chunk) + first_free", "free_page = g.chunk_base(chunk) + index",
        "tree_find_first_fit", "at the chunk, the bound is the fit found instead of the first free page",
    ),
    Mutant(
        "nonzero_entries_sorted_skips_first", TREE, "nonzero_entries", "lo <= k < hi", "lo < k < hi",
        "tree_find_first_fit", "the sorted listing of a wide block leaves out the block's first entry",
    ),
    # tree_find_first_fit_386
    Mutant(
        "tree_find_descend_strict", TREE, "tree_find", "if s.max >= npages:", "if s.max > npages:",
        "tree_find_first_fit_386", "an entry whose longest run is exactly n pages is not descended into",
    ),
    Mutant(
        "tree_find_restart_base_at_entry_start", TREE, "tree_find",
        "base = (j + 1) * width - size", "base = j * width",
        "tree_find_first_fit_386", "a run restarting at an entry's end run is taken to begin at the entry's start",
    ),
    Mutant(
        "tree_find_scan_past_hint_entry", TREE, "tree_find",
        "j0 = search_index % block", "j0 = search_index % block + 1",
        "tree_find_first_fit_386", "the scan of the block holding the hint starts one entry past the hint's",
    ),
    # search_hint
    Mutant(
        "free_keeps_hint", PAGEALLOC, "PageAlloc.free",
        "        if page < self.search_page:\n            self.search_page = page\n", "",
        "search_hint", "free does not move the hint down to the freed pages",
    ),
    Mutant(
        "grow_hint_inverted", PAGEALLOC, "PageAlloc.grow", "if base < self.search_page:", "if base > self.search_page:",
        "search_hint", "grow moves the hint up to new chunks instead of down",
    ),
    Mutant(
        "alloc_hint_at_fit", PAGEALLOC, "PageAlloc.alloc",
        "page, hint = g.chunk_base(chunk) + found, g.chunk_base(chunk) + first_free",
        "page, hint = g.chunk_base(chunk) + found, g.chunk_base(chunk) + found",
        "search_hint", "the fast path offers the fit as the new hint, skipping free pages before it",
    ),
    Mutant(
        "find_hint_from_page", PAGEALLOC, "PageAlloc.find",
        "return page, self.find_mapped(first_free)", "return page, self.find_mapped(page)",
        "search_hint", "the tree path offers the fit as the new hint instead of the first-free bound",
    ),
    Mutant(
        "failed_alloc_any_size_full", PAGEALLOC, "PageAlloc.alloc", "if npages == 1:", "if npages >= 1:",
        "search_hint", "any failed allocation marks the heap full, though smaller runs may be free",
    ),
    Mutant(
        "scavenge_one_moves_hint_up", PAGEALLOC, "PageAlloc.scavenge_one",
        "if first < self.search_page:\n                    self.search_page = first",
        "self.search_page = first",
        "search_hint", "the scavenger sets the hint to its run even when that is higher",
    ),
    Mutant(
        "find_mapped_highest", PAGEALLOC, "PageAlloc.find_mapped", "min(above)", "max(above)",
        "search_hint", "the next grown page is taken from the highest grown chunk",
    ),
    Mutant(
        "flush_keeps_hint", PAGECACHE, "flush",
        "    if cache.base < pa.search_page:\n        pa.search_page = cache.base\n", "",
        "search_hint", "flush gives pages back without moving the hint down to them",
    ),
    # write_barrier
    Mutant(
        "barrier_without_deletion", BARRIER, "shades", "out.append((True, old))", "pass",
        "write_barrier", "the deletion half is missing: the overwritten pointer is not shaded",
    ),
    Mutant(
        "barrier_without_insertion", BARRIER, "shades", "out.append((stack_grey, new))", "pass",
        "write_barrier", "the insertion half is missing: the written pointer is never shaded",
    ),
    Mutant(
        "barrier_insertion_when_black", BARRIER, "shades",
        "out.append((stack_grey, new))", "out.append((not stack_grey, new))",
        "write_barrier", "the written pointer is shaded when the stack is black instead of grey",
    ),
    Mutant(
        "greyobject_noscan_unmarked", MARK, "Marker.greyobject",
        "obj.span.set_marked(obj.index)\n        self.stats.greyed += 1\n"
        "        if obj.span.noscan:\n            return",
        "if obj.span.noscan:\n            return\n"
        "        obj.span.set_marked(obj.index)\n        self.stats.greyed += 1",
        "write_barrier", "a noscan object is skipped before being marked, so shading leaves it white",
    ),
    Mutant(
        "gstore_without_barrier", CYCLE, "GcWorld.gstore",
        "        self.write_barrier(g, self.heap.globals[index], new)\n", "",
        "write_barrier", "a store into a global bypasses the barrier",
    ),
)


def every() -> tuple[Mutant, ...]:
    """This table and the MUTANTS of every registered proof module, in that order."""
    return MUTANTS + tuple(m for module in registry.MODULES for m in getattr(module, "MUTANTS", ()))


def by_name() -> dict[str, Mutant]:
    return {m.name: m for m in every()}


def for_proof(name: str) -> list[Mutant]:
    return [m for m in every() if m.proof == name]
