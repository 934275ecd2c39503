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

import json
import random
import tempfile
import time
from pathlib import Path

from oracle.golive import driver as golive
from oracle.pagealloc.generate import Generator
from oracle.pagealloc.protocol import answer
from oracle.pagealloc.registry import ImplOptions
from oracle.pagealloc.replay import replay
from oracle.pagealloc.trace import Op, Params, dumps, load


def make_trace(path: Path, nops: int, params: Params, max_chunks: int, seed: int = 1) -> None:
    rng = random.Random(f"go-bench:{seed}")
    gen = Generator(rng, params, max_chunks)
    gen.cap = 16
    gen.run(nops)
    path.write_text(dumps(params, list(zip(gen.ops, gen.wants, strict=True))), encoding="utf-8")


def measure(trace: Path, binary: Path, batch: int = 4096) -> dict[str, float]:
    loaded = load(trace)
    ops = list(loaded.ops)
    out: dict[str, float] = {"ops": len(ops)}
    impl = golive.GoImpl(loaded.params, binary)
    started = time.perf_counter()
    for i in range(0, len(ops), batch):
        impl.apply_many(ops[i : i + batch])
    out["adapter_ops_per_s"] = len(ops) / (time.perf_counter() - started)
    report = replay(trace, "go", options=ImplOptions(binary=binary))
    out["replay_ops_per_s"] = report.ops / report.seconds
    out["replay_ok"] = float(report.ok)
    impl = golive.GoImpl(loaded.params, binary)
    first: list[Op] = ops[:5000]
    started = time.perf_counter()
    for op in first:
        answer(impl, op)
    out["unbatched_ops_per_s"] = len(first) / (time.perf_counter() - started)
    return out


def run(binary: Path, ops: int, trace: Path | None, as_json: bool) -> int:
    """Measure and print; 0, or 1 if the replay found a mismatch."""
    with tempfile.TemporaryDirectory(prefix="go-bench-") as tmp:
        made = 0.0
        if trace is None:
            trace = Path(tmp) / "bench.jsonl"
            started = time.perf_counter()
            hello = golive.server_for(binary).hello
            make_trace(trace, ops, golive.runtime_params(binary), int(hello["max_chunks"]))
            made = time.perf_counter() - started
        result = measure(trace, binary)
    if as_json:
        print(json.dumps({k: round(v, 1) for k, v in result.items()}))
        return 0 if result["replay_ok"] else 1
    if made:
        print(f"trace: {int(result['ops']):,} ops made by the model in {made:.1f}s")
    print(f"adapter   (apply_many, batches of 4096): {result['adapter_ops_per_s']:>10,.0f} ops/s")
    verdict = "all match" if result["replay_ok"] else "MISMATCH"
    print(f"replay    (--impl go, model judging):    {result['replay_ops_per_s']:>10,.0f} ops/s ({verdict})")
    print(f"unbatched (apply, one round trip each):  {result['unbatched_ops_per_s']:>10,.0f} ops/s")
    return 0 if result["replay_ok"] else 1
