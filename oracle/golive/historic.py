"""Bugs from the history of Go's page allocator, re-injected into Go 1.27's source where the code allows.

Each entry is a real bug from Go's issue tracker, put back as a seeded
mutation (oracle.golive.mutation: one textual replacement in one runtime
file, applied to a temporary copy, never to GOROOT) in the shape it had
when it was reported, or the closest shape today's code allows (the entry
says which). `python -m oracle go-mutants NAME` hunts one like any other
seeded bug and prints the seconds to the first failure and the length of
the shrunk trace.

Some historic bugs cannot be reached from here, and are listed with why
(UNREACHABLE): the amd64 driver's chunks start at BaseChunkIdx (49,152),
and code above the page allocator (mheap) is not driven. Bugs of the 32-bit
layout are hunted on the 386 build (their Mutation's arch), which this
machine runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from oracle.golive.mutation import Mutation


@dataclass(frozen=True)
class HistoricBug:
    mutation: Mutation
    issue: str  # where Go tracked the bug: its go.dev/issue address
    shape: str  # how the re-injected code relates to the original bug


HISTORIC: tuple[HistoricBug, ...] = (
    HistoricBug(
        Mutation(
            "go38605_cache_hint_past_block",
            "mpagecache.go",
            "p.searchAddr = offAddr{c.base + pageSize*(pageCachePages-1)}",
            "p.searchAddr = offAddr{c.base + pageSize*pageCachePages}",
            "allocToCache moves the search hint to the page after the cached block, which may not be mapped",
        ),
        "https://github.com/golang/go/issues/38605",
        "original: before the fix the hint was set one page past the block; the fix made it the block's last page",
    ),
    HistoricBug(
        Mutation(
            "go40191_hint_unmapped_in_discontiguous_heap",
            "mpagealloc.go",
            "\treturn addr, p.findMappedAddr(firstFree.base)\n}",
            "\treturn addr, firstFree.base\n}",
            "find returns a search hint candidate that may lie in unmapped memory between discontiguous chunks",
        ),
        "https://github.com/golang/go/issues/40191",
        "original on find's in-chunk path: the fix added findMappedAddr to both returns of find; this removes it "
        "from the path every allocation that descends to a chunk takes",
    ),
    HistoricBug(
        Mutation(
            "go35445_scavenge_max_unaligned",
            "mgcscavenge.go",
            "max = alignUp(max, minimum)",
            "max = alignUp(max, 1)",
            "findScavengeCandidate splits a run at a max that is not a whole number of physical pages",
        ),
        "https://github.com/golang/go/issues/35445",
        "closest: the original truncated to an unaligned max in scavengeOne (a fatal 'unaligned sysUnused' with "
        "64 KiB physical pages); today's code aligns max up inside findScavengeCandidate, and this undoes that",
    ),
    HistoricBug(
        Mutation(
            "go35954_summary_range_exclusive_limit",
            "mpagealloc.go",
            "hi = int(((limit-1)-arenaBaseOffset)>>levelShift[level]) + 1",
            "hi = int((limit-arenaBaseOffset)>>levelShift[level])",
            "addrsToSummaryRange shifts the exclusive limit, so a limit inside an entry (or 1<<32 wrapped to 0) "
            "leaves that entry out of the summaries grow makes room for",
            arch="386",
        ),
        "https://github.com/golang/go/issues/35954",
        "original: the fix made the limit inclusive before the shift and added one; this takes it back. On 386 "
        "(summary slices as long as the heap) update then indexes past a level's slice, as in the report "
        "(index out of range in update); the report's trigger, a heap reaching 0xff000000 + 16 MiB = 1<<32, "
        "is no longer possible (the heap never maps the last chunk, SPEC.md \"Platforms\"), but a grow whose "
        "limit ends inside a level's entry is the same missing entry",
    ),
    HistoricBug(
        Mutation(
            "go38371_summary_slice_short_of_block",
            "mpagealloc_32bit.go",
            "_, hi = blockAlignSummaryRange(l, lo, hi)\n\t\tif hi > len(p.summary[l]) {\n"
            "\t\t\tp.summary[l] = p.summary[l][:hi]\n",
            # Only the driver's allocator (p.test) has the bug: the test binary's own heap, which grows
            # through the same code before the driver starts, keeps the fix and so stays up.
            "_, blockHi := blockAlignSummaryRange(l, lo, hi)\n\t\tif !p.test {\n\t\t\thi = blockHi\n\t\t}\n"
            "\t\tif p.test && hi > len(p.summary[l]) {\n\t\t\tp.summary[l] = p.summary[l][:hi:hi]\n"
            "\t\t} else if hi > len(p.summary[l]) {\n\t\t\tp.summary[l] = p.summary[l][:hi]\n",
            "the 32-bit sysGrow cuts each level's summary slice at the last grown entry (length and capacity), "
            "not at the end of the block of children update merges (in the driver's allocator only)",
            arch="386",
        ),
        "https://github.com/golang/go/issues/38371",
        "closest: the original was mheap.grow letting base+size wrap past 1<<32 (fixed there, with an overflow "
        "check), after which pageAlloc.update sliced its leaf summaries past their end (slice bounds out of "
        "range in update, on 32-bit only). mheap is above the driver, and a grow past the top of the address "
        "space is refused before it reaches the runtime (SPEC.md \"Platforms\"), so the closest shape in the "
        "page allocator is one where update's slicing again runs past a 32-bit summary slice: the slice stops "
        "at the last grown entry instead of its block's end. Lengthening it alone would not do: Go reserves "
        "every 32-bit summary up front, so a slice's capacity reaches the end of its level and a short length "
        "is never seen by update's slicing; the capacity has to stop short too (slice bounds out of range in "
        "update, on 32-bit only)",
    ),
)

# Bugs of the page allocator's history that this machine cannot reach, and why.
UNREACHABLE: dict[str, str] = {
    "https://github.com/golang/go/issues/63385": (
        "scavengeIndex.sysGrow took the minimum index for unset when it was 0, which happens only for a heap "
        "under 2 GiB (chunk index < 512): the amd64 driver's chunks start at 49,152; the 386 driver reaches "
        "low chunks, but the bug's code (mpagealloc_64bit.go's sysGrow) is not in a 32-bit build, whose "
        "scavenge index is fixed in size and never grows"
    ),
    "https://github.com/golang/go/issues/52682": (
        "mheap.allocSpan freed the edges of a physically aligned allocation back to the page allocator "
        "(needPhysPageAlign, OpenBSD only): the bug is in mheap.go, above the page allocator the driver runs"
    ),
}


def mutations() -> tuple[Mutation, ...]:
    return tuple(bug.mutation for bug in HISTORIC)
