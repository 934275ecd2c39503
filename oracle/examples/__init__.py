"""Example implementations for the oracle: topdown, a different placement policy (safe level only)."""
