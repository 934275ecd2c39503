"""`python -m proofs.child [--seconds S] [--stop-at-refutation] NAME...`: run proofs on this copy of the model.

Started by proofs.mutation in a temporary copy of model/ and proofs/ that
holds a seeded bug. It runs each named proof (as a proof) in order and
prints its ProofResult as one JSON line. It exits 2 without running
anything if `model` was not imported from the directory it runs in (so a
mutant can never be judged against the unmutated model).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import model
from proofs.core import DEFAULT_PROOF_SECONDS
from proofs.registry import by_name
from proofs.runner import run_one


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m proofs.child")
    parser.add_argument("names", nargs="+")
    parser.add_argument("--seconds", type=float, default=DEFAULT_PROOF_SECONDS)
    parser.add_argument("--stop-at-refutation", action="store_true")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    here = Path.cwd().resolve()
    if here not in Path(model.__file__).resolve().parents:
        print(f"proofs.child: model comes from {model.__file__}, not from {here}", file=sys.stderr)
        return 2
    table = by_name()
    unknown = [n for n in args.names if n not in table]
    if unknown:
        print(f"proofs.child: unknown proof(s) {', '.join(unknown)}", file=sys.stderr)
        return 2
    for name in args.names:
        result = run_one(table[name], "proof", args.seconds)
        print(json.dumps(result.as_json()), flush=True)
        if args.stop_at_refutation and result.status == "counterexample":
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
