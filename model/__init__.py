"""Reference model of the Go runtime's page allocator.

Deliberately simple: every rule of SPEC.md is a few plain lines in one of
these modules, one mechanism each:

  geometry    pages, chunks and radix-tree levels
  words       64-bit word operations shared by ints and Z3 terms
  bitmap      chunk bitmaps, findBitRange64, fillAligned, in-chunk search
  summary     (start, max, end) summaries: summarize, merge, pack
  tree        the radix tree of summaries and Go's descent
  scavenge    the scavenge index and scavenge candidates
  pagealloc   grow, alloc, free, search hint, forced scavenging
  pagecache   per-P page caches
  pageheap    the allocator plus caches by id: what a trace drives
  invariants  the invariants, as functions returning violations
  spec        plain definitions the mechanisms are checked against: linear
              first fit, summaries and the scavenge candidate by definition
"""
