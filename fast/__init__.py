"""Fast numpy implementations: the model's behaviour, built for speed and size.

The page allocator (what the oracle drives as `--impl fast`), one module per
mechanism, named after the model's:

  storage    the chunks' bitmaps: one block of uint64 arrays per root entry
             in use, and the grown chunks as ranges (find_mapped)
  summary    Go's packed summary encoding; scalar and vectorised summarize
             and merge
  bitmap     searches inside one chunk, its bitmaps read as Python ints
  tree       the radix tree of packed summaries: incremental update, bulk
             resummarize and check, and Go's find descent
  scavenge   the scavenge index in arrays, and the candidate run in a chunk
  pagealloc  FastPageAlloc: grow, alloc, free, the search hint, scavenging
  pagecache  per-P page caches: fill, alloc, flush
  pageheap   FastPageHeap: the trace-level heap, the entry point
  state      the inspection API: the whole state as plain values (and JSON)
  faults     deliberate bugs for tests of the oracle; off unless given
  serve      `python -m fast.serve`: fast behind the oracle's subprocess
             protocol

Marking: gc/mark (frontier marking over CSR arrays, with the noscan mask).

Imports from model/: only shared types, model.errors, model.results and
model.geometry (the refusals, the results and the address-space geometry
must be the model's own for the oracle to compare them), and, for
fast/gc/mark.py, Go's size-class tables and span arithmetic
(model.gc.results, model.gc.sizeclasses, model.gc.spanclass: constant tables
and the allocator's rounding, which marking takes as given rather than
implements). Every rule fast/ implements it computes itself, so that the
oracle (oracle/), checking fast against the model step by step, compares two
independent implementations.
"""

from fast.pageheap import FastPageHeap

__all__ = ["FastPageHeap"]
