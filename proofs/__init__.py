"""Z3 proofs of the model's invariants (issue: Z3 proofs).

Not built yet: this package exists so the project layout is in place. The
proofs will evaluate the model's own word-level functions (model.words,
model.summary, model.bitmap) on Z3 terms.
"""
