"""Z3 proofs of the model's invariants, run on the model's own functions.

Each proof evaluates the model's functions on Z3 terms (or, for the write
barrier, on every state of a bounded world), along every path the code can
take, including the paths ints take; what is proved is the code the oracle
runs. Expected values come from model.spec, the plain definitions, or from
formulas tested against it (definitions, regions). Every proof has a
negative control: the same obligations run on a copy of the model holding
one seeded bug (mutants), which must be refuted with a counterexample.

  core         ProofResult, obligations (Claim, Check), Proof, deadlines
  symbolic     path exploration of model code on Z3 terms; containers that
               branch on symbolic keys
  definitions  word-level definitions as Z3 formulas; model.spec's scans as
               formulas, for use in their place while exploring
  regions      summaries and first fits of regions of any width (quantified
               definitions, used through their instances)
  states       PageAlloc states with Z3 bitmaps, hint and leaves
  summary      pack_roundtrip, pack_roundtrip_386, summarize_word,
               merge_concat, merge_assoc
  bitmap       find_bit_range64, alloc_free_bits, fill_aligned
  pagecache    cache_roundtrip, cache_first_held
  scavenge     scav_disjoint, scavenge_candidate
  tree         tree_find_first_fit, tree_find_first_fit_386 (and the
               abstract chunk they use)
  pagealloc    search_hint
  gc/barrier   write_barrier
  mutation     seeded bugs: apply to a copy of the model, run proofs there
  mutants      the set of seeded bugs, each with the proof that claims it
  child        `python -m proofs.child`: runs proofs in such a copy
  registry     every proof, in run order
  runner       run(names, progress) -> [ProofResult]; run_mutants
  __main__     `python -m proofs [--json] [--mutants] [NAME...]`

Importing the package runs nothing.
"""
