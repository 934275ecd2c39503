"""Z3 proofs of the page allocator model's invariants.

Each proof evaluates the model's own functions (model.words, model.summary,
model.bitmap, model.pagecache, model.scavenge, model.tree) on Z3 terms, so
what is proved is the code the oracle runs. Code that branches in Python on
symbolic values is run along every feasible path (proofs.symbolic); what
is too large to evaluate whole is proved compositionally, the composition
argument written in the proof's docstring. Every proof has a negative
control: the same obligations against a deliberately broken variant
(proofs.broken), which Z3 must refute.

  core         ProofResult, obligations (Claim, Check), Proof, deadlines
  definitions  the independent definitions words are checked against
  regions      summaries and first fits of regions of any width (quantified
               definitions, used through their instances)
  symbolic     path exploration of model code on Z3 terms
  broken       the negative controls' variants
  summaries    pack_roundtrip, summarize_word, merge_concat, merge_assoc
  bits         find_bit_range64, alloc_free_bits, fill_aligned
  cache        cache_roundtrip, cache_first_held
  scavenging   scav_disjoint, scavenge_candidate
  search       tree_find_first_fit
  registry     every proof, in run order
  runner       run(names, progress) -> [ProofResult]; `python -m proofs`

Importing the package runs nothing.
"""
