"""Fast numpy implementation of the page allocator (issue: fast allocator and differential oracle).

Not built yet: this package exists so the project layout is in place. It will
import nothing from model/ except shared types (model.results, model.errors,
model.geometry).
"""
