"""proofs/bitmap.py: find_bit_range64, alloc_free_bits, fill_aligned, each with its control."""

from __future__ import annotations

