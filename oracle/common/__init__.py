"""What every part of the oracle shares.

  errors    the error kinds and the exit status each one means
  jsonlines reading JSON Lines strictly: line numbers, UTF-8, one object a line
  child     one client for child processes that answer JSON lines (the
            subprocess adapter and the live Go driver), with a deadline per
            request and a size limit per line
  shrink    the one delta-debugging core the shrinkers build on
  output    output files that never replace an input and are checked first

Nothing here knows about page allocators or collectors.
"""
