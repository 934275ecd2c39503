"""How fast `--impl go` runs: `python -m oracle go-bench [--ops N] [--trace FILE]`.

Three figures over one large trace (by default a fresh go-fuzz stream of
--ops operations on a heap of up to 16 chunks, made once by the model and
written to a temporary file; or any trace given with --trace):

  adapter   GoImpl.apply_many over the whole trace in batches: the pipe and
            the runtime alone (JSON both ways, the runtime's pageAlloc);
  replay    `python -m oracle replay TRACE --impl go`: the batched replay,
            where the model judges and expects every line (the model, in
            pure Python, is the slower side);
  unbatched GoImpl.apply one operation at a time (a round trip each), on
            the first 5,000 operations, for comparison.

Timings are printed, never asserted (machines differ).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from model.errors import ModelError
from oracle.golive import driver as golive
from oracle.golive.campaign import Generator
from oracle.pagealloc.trace import Op, Params, dumps, load


def make_trace(path: Path, nops: int, params: Params, max_chunks: int, seed: int = 1) -> None:
    rng = random.Random(f"go-bench:{seed}")
    gen = Generator(rng, params, max_chunks)
    gen.cap = 16
    gen.run(nops)
    path.write_text(dumps(params, list(zip(gen.ops, gen.wants, strict=True))), encoding="utf-8")


def measure(trace: Path, batch: int = 4096) -> dict[str, float]:
    loaded = load(trace)
    ops = list(loaded.ops)
    out: dict[str, float] = {"ops": len(ops)}
    impl = golive.GoImpl(loaded.params)
    started = time.perf_counter()
    for i in range(0, len(ops), batch):
        impl.apply_many(ops[i : i + batch])
    out["adapter_ops_per_s"] = len(ops) / (time.perf_counter() - started)
    report = golive.replay(trace)
    out["replay_ops_per_s"] = report.ops / report.seconds
    out["replay_ok"] = float(report.ok)
    impl = golive.GoImpl(loaded.params)
    first: list[Op] = ops[:5000]
    started = time.perf_counter()
    for op in first:
        try:
            impl.apply(op)
        except ModelError:
            pass
    out["unbatched_ops_per_s"] = len(first) / (time.perf_counter() - started)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m oracle go-bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--ops", type=int, default=100_000, help="operations in the generated trace")
    parser.add_argument("--trace", type=Path, default=None, help="benchmark this trace instead")
    parser.add_argument("--goroot", default=None, help="the Go tree (default: $GOROOT, else go env GOROOT)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    golive.set_goroot(args.goroot)
    try:
        binary = golive.driver_binary()
    except ModelError as e:
        print(f"go-bench: {e}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="go-bench-") as tmp:
        trace = args.trace
        made = 0.0
        if trace is None:
            trace = Path(tmp) / "bench.jsonl"
            started = time.perf_counter()
            hello = golive.server_for(binary).hello
            make_trace(trace, args.ops, golive.runtime_params(binary), int(hello["max_chunks"]))
            made = time.perf_counter() - started
        result = measure(trace)
    if args.json:
        print(json.dumps({k: round(v, 1) for k, v in result.items()}))
        return 0
    if made:
        print(f"trace: {int(result['ops']):,} ops made by the model in {made:.1f}s")
    print(f"adapter   (apply_many, batches of 4096): {result['adapter_ops_per_s']:>10,.0f} ops/s")
    verdict = "all match" if result["replay_ok"] else "MISMATCH"
    print(f"replay    (--impl go, model judging):    {result['replay_ops_per_s']:>10,.0f} ops/s ({verdict})")
    print(f"unbatched (apply, one round trip each):  {result['unbatched_ops_per_s']:>10,.0f} ops/s")
    return 0 if result["replay_ok"] else 1
