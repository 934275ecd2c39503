"""Fast numpy implementation of the page allocator: the model's behaviour, built for speed and size.

  heap      FastPageHeap: the trace-level operations (grow, alloc, free,
            cache_fill, cache_alloc, cache_flush, scavenge) on a sparse
            address space of uint64 bitmaps and packed summary arrays
  summary   Go's packed summary encoding; scalar and vectorised summarize
            and merge
  bits      searches inside one chunk, its bitmaps read as Python ints
  state     the inspection API: the whole state as plain values (and JSON)
  faults    deliberate bugs for tests of the oracle; off unless switched on
  serve     `python -m fast.serve`: fast behind the oracle's subprocess
            protocol

fast/ imports from model/ only the shared types: model.results,
model.errors and model.geometry. Everything else it computes itself, and
the oracle (oracle/) checks it against the model step by step.
"""

from fast.heap import FastPageHeap

__all__ = ["FastPageHeap"]
