"""The pacing oracle: when collections start and how much the scavenger gives back, checked against Go.

  trace       pacing trace format v1 (heap events in, decisions and goals out)
  replay      a trace against the model: every expect exact or within its bound,
              the invariants after every line
  invariants  the pacer's invariants, stated on their own terms
  machine     the Hypothesis pacing machine and its timed campaign
  gotrace     the live runtime's pacer recorded by a driver in package runtime's
              test build (go/pacer_export_test.go, go/pacer_main_test.go)
  mutants     seeded pacing bugs against the Go traces and the machine
  cli         pacer-replay, pacer-fuzz, gen-pacer-traces, pacer-mutants, and the
              default job's replay of the bundled traces (traces/)

The model is model/gc/pacer.py and model/gc/scavgoal.py; the rules and the
format are in SPEC.md Part III.
"""
