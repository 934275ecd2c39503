"""How fast `--impl go` runs, and how fast the go campaign finds bugs: `python -m oracle go-bench`.

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

Then the campaign itself (oracle.golive.campaign), on the pristine runtime
for --campaign-seconds with each judge: `fast` (fast/ generates and judges
first, the model re-judges any difference and a share of the examples) and
`model` (the model generates and judges everything): operations per second.

And bugs per minute (unless --no-bugs): the campaign, fast judge, against
every seeded bug of `go-mutants` (the hand-written ones and the historic
ones) for at most --bug-seconds each, one seed: how many it found, and
found / total campaign minutes spent (a bug not found costs its whole
budget). Mutant binaries are built once and cached; the first run builds
them (about 30 s each).

Timings are printed, never asserted (machines differ).
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from pathlib import Path

from oracle.golive import driver as golive
from oracle.golive.campaign import JUDGES, run_campaign
from oracle.golive.mutation import Mutation
from oracle.golive.toolchain import Toolchain
from oracle.pagealloc.generate import Generator
from oracle.pagealloc.protocol import answer
from oracle.pagealloc.registry import ImplOptions
from oracle.pagealloc.replay import replay
from oracle.pagealloc.trace import Op, Params, dumps, load


def make_trace(path: Path, nops: int, params: Params, max_chunks: int, seed: int = 1) -> None:
    rng = random.Random(f"go-bench:{seed}")
    gen = Generator(rng, params, max_chunks, big_grows=False)  # a heap of up to 16 chunks, plus the shape rules
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


def campaign_rates(binary: Path, seconds: float) -> dict[str, float]:
    """Operations per second of the pristine campaign with each judge."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="go-bench-campaign-") as tmp:
        for judge in JUDGES:
            result = run_campaign(binary, seconds, seed=1, out_dir=Path(tmp), judge=judge)
            out[judge] = result.ops / result.seconds if result.seconds > 0 else 0.0
    return out


def bugs_per_minute(tc: Toolchain, mutations: list[Mutation], seconds: float) -> dict[str, object]:
    """The campaign against each seeded bug: found, seconds to find, and found per minute of campaign."""
    rows = []
    spent = 0.0
    with tempfile.TemporaryDirectory(prefix="go-bench-bugs-") as tmp:
        for m in mutations:
            binary = golive.build_driver(tc, m, arch=m.arch)
            result = run_campaign(binary, seconds, seed=1, out_dir=Path(tmp), label=m.name, shrink_seconds=0)
            took = result.detect_seconds if result.found and result.detect_seconds is not None else result.seconds
            spent += took
            rows.append({"mutant": m.name, "found": result.found, "seconds": round(took, 2)})
    found = sum(1 for r in rows if r["found"])
    return {"rows": rows, "found": found, "of": len(rows), "minutes": spent / 60,
            "per_minute": found / (spent / 60) if spent > 0 else 0.0}


def run(
    binary: Path,
    ops: int,
    trace: Path | None,
    as_json: bool,
    campaign_seconds: float = 0.0,
    bugs: tuple[Toolchain, list[Mutation], float] | None = None,
) -> int:
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
    rates = campaign_rates(binary, campaign_seconds) if campaign_seconds > 0 else {}
    found = bugs_per_minute(*bugs) if bugs is not None else None
    if as_json:
        payload: dict[str, object] = {k: round(v, 1) for k, v in result.items()}
        payload.update({f"campaign_{k}_ops_per_s": round(v, 1) for k, v in rates.items()})
        if found is not None:
            payload["bugs"] = found
        print(json.dumps(payload))
        return 0 if result["replay_ok"] else 1
    if made:
        print(f"trace: {int(result['ops']):,} ops made by the model in {made:.1f}s")
    print(f"adapter   (apply_many, batches of 4096): {result['adapter_ops_per_s']:>10,.0f} ops/s")
    verdict = "all match" if result["replay_ok"] else "MISMATCH"
    print(f"replay    (--impl go, model judging):    {result['replay_ops_per_s']:>10,.0f} ops/s ({verdict})")
    print(f"unbatched (apply, one round trip each):  {result['unbatched_ops_per_s']:>10,.0f} ops/s")
    for judge, rate in rates.items():
        print(f"campaign  (judge {judge + '):':<7}               {rate:>10,.0f} ops/s ({campaign_seconds:g}s)")
    if found is not None:
        for row in found["rows"]:  # type: ignore[attr-defined]
            verdict = f"found in {row['seconds']:.2f}s" if row["found"] else f"NOT found in {row['seconds']:.0f}s"
            print(f"  bug {row['mutant']:<44} {verdict}")
        print(
            f"bugs      {found['found']} of {found['of']} found in {found['minutes']:.1f} campaign minutes: "
            f"{found['per_minute']:.1f} bugs per minute"
        )
    return 0 if result["replay_ok"] else 1
