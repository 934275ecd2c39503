"""Errors the model raises for input it refuses.

Every refusal happens before any state changes: the model checks an
operation completely, then applies it. Messages name what is wrong and where
(a page, a chunk, a cache id), so a trace replayer can prefix a line number.
"""

from __future__ import annotations


class ModelError(ValueError):
    """Base of every refusal by the model."""


class ParameterError(ModelError):
    """A geometry or allocator parameter is out of range."""


class InvalidOperation(ModelError):
    """An operation that the allocator state makes impossible (a bad free, a grow over a chunk)."""
