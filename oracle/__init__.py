"""The differential oracle: trace format, replayer and implementation adapters.

It drives the reference model (model/) and another implementation in
lockstep, and reports the first step where they disagree. See oracle.cli for
the commands and SPEC.md for the trace format.
"""
