"""Example implementations for the oracle, each passing the safe level and failing the exact one on purpose.

  topdown   (Python, in process) highest address first
  c/        (C, a subprocess) nextfit, `c/pagealloc.c`: each allocation
            starts where the previous one ended; it speaks the subprocess
            protocol of SPEC.md §12 and is the example to copy for an
            allocator in C, Rust or Zig (`c/README.md`)
"""
