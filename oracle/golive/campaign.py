"""Differential fuzzing of the real Go runtime against the model: `python -m oracle go-fuzz`.

Design
------
The model is the judge. Each test case ("example") is generated from the
MODEL's state alone: a seeded generator picks an operation that the model's
state makes valid (frees only of live allocations, cache operations on known
ids, grows where no chunk is), applies it to the model at once, records the
model's result as the expectation, and goes on. Because the runtime's
answers never steer the generator, a whole example is sent to the runtime in
one batch (oracle.golive.driver.GoImpl.apply_many) and judged afterwards by
the oracle's one rule (oracle.pagealloc.lockstep): the first operation whose
runtime result differs from the model's, or that the runtime refuses, or on
which it crashes or hangs, fails the example. The generator itself is
oracle.pagealloc.generate (the model answering every line).

Params are the runtime's own physical and huge page sizes (read from the
runtime) or, in some examples, other sizes the driver substitutes around
each scavenge.

Shrinking. A failing example is cut after its first failing operation, then
reduced (oracle.golive.shrink, on the oracle's one shrinking core). A
candidate is repaired by leaving out the operations the model then refuses
(removing an allocation removes the frees of its pages), and kept only if
the runtime still differs from the model in the same way (a wrong result
stays a wrong result; a crash stays a crash: a seeded bug also breaks the
runtime's own heap, which may crash by itself). The model's state after
every 32 operations of the
stream is kept, so a candidate replays the model only from the last
checkpoint before its first change; the runtime runs the whole candidate in
one batch.

The shrunk failure is written as a trace (format version 2) whose expects
are the MODEL's results, so `python -m oracle replay FILE --impl go` (with
`--mutant NAME` for a seeded bug, or `--goroot` for a patched tree) stops at
the same line with the runtime's answer as "got".

The runtime's hidden state (search hint, both scavenge cursors and their
marks) is also compared with the model's after every operation of a share
of the examples (STATE_SHARE; all of them with `state=True`); a difference
there fails the example too (replay checks only results, so such a trace
shows the line but not the difference).
"""

from __future__ import annotations

import copy
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import attrs

from model.errors import ModelError
from oracle.common.output import new_file, output_folder
from oracle.golive import driver as golive
from oracle.golive.shrink import KindArgs, shrink_stream
from oracle.pagealloc import lockstep
from oracle.pagealloc.adapters import FastImpl
from oracle.pagealloc.generate import Generator
from oracle.pagealloc.lockstep import Mismatch
from oracle.pagealloc.protocol import Answer, ModelImpl
from oracle.pagealloc.registry import ImplOptions
from oracle.pagealloc.replay import replay
from oracle.pagealloc.state import hidden_state
from oracle.pagealloc.trace import Op, Params, dumps

DEFAULT_OUT = Path("failures")
TRACE_VERSION = 4  # the campaign's streams use every op: padding (3) and the scavenger's goroutine (4) included
JUDGES = ("fast", "model")
MODEL_SHARE = 0.01  # with the fast judge, the share of examples the model generates and judges throughout
STATE_SHARE = 0.2  # the share of examples whose hidden state (search hint, scavenge cursors) is compared too
CAMPAIGN_TIMEOUT = 3.0  # seconds an answer may take in a campaign before the runtime counts as hung


@dataclass
class Finding:
    """A failing example: the operations up to and including the failing one, and what failed."""

    params: Params
    ops: list[Op]
    wants: list[Answer]
    mismatch: Mismatch
    kind: str  # "result" or "state"
    detail: str = ""

    @property
    def index(self) -> int:
        """Of the failing operation in ops."""
        return len(self.ops) - 1

    @property
    def op(self) -> Op:
        return self.ops[-1]

    @property
    def crashed(self) -> bool:
        """The runtime crashed or hung (rather than answering something else than the model)."""
        return self.mismatch.crashed

    def describe(self) -> str:
        if self.kind == "state":
            return f"line {self.op.line}: {self.op.describe()}\n  hidden state after it differs: {self.detail}"
        return self.mismatch.describe()

    def trace_text(self) -> str:
        outcomes = [w if isinstance(w, dict) else None for w in self.wants]
        return dumps(self.params, list(zip(self.ops, outcomes, strict=True)))


@dataclass
class ModelRun:
    """The model after running a stream: its ops (with line numbers), results and hidden states."""

    model: ModelImpl
    ops: list[Op]
    wants: list[Any]
    states: list[Any]

    def copy(self) -> ModelRun:
        return ModelRun(copy.deepcopy(self.model), list(self.ops), list(self.wants), list(self.states))


def model_run(
    params: Params,
    stream: list[KindArgs],
    with_state: bool,
    repair: bool = False,
    start: ModelRun | None = None,
) -> ModelRun | None:
    """Run stream on the model (after `start`, a run of a prefix, if given); None if it refuses an operation.

    With repair, an operation the model refuses is left out instead (shrinking removes an
    allocation, and the frees of its pages go with it)."""
    run = start.copy() if start is not None else ModelRun(ModelImpl(params), [], [], [])
    for kind, args in stream:
        op = Op(kind, args, None, len(run.ops) + 2)
        try:
            run.wants.append(run.model.apply(op))
        except ModelError:
            if repair:
                continue
            return None
        run.ops.append(op)
        if with_state:
            run.states.append(hidden_state(run.model.heap))
    return run


class Prefixes:
    """Model runs of prefixes of the stream being shrunk, every STEP operations, so that a candidate
    that keeps the first i operations replays only from the checkpoint at or below i."""

    STEP = 32

    def __init__(self, params: Params, with_state: bool) -> None:
        self.params = params
        self.with_state = with_state
        self.stream: list[KindArgs] = []
        self.runs: dict[int, ModelRun] = {}

    def rebase(self, stream: list[KindArgs]) -> None:
        """The stream changed; keep the checkpoints of the prefix it shares with the old one."""
        same = 0
        for a, b in zip(self.stream, stream, strict=False):
            if a != b:
                break
            same += 1
        self.stream = stream
        self.runs = {k: r for k, r in self.runs.items() if k <= same}

    def at(self, i: int) -> tuple[int, ModelRun | None]:
        """(k, the model run of stream[:k]) for the largest checkpoint k <= i."""
        k = (i // self.STEP) * self.STEP
        if k == 0:
            return 0, None
        if k not in self.runs:
            below, run = self.at(k - 1)
            run = model_run(self.params, self.stream[below:k], self.with_state, start=run)
            assert run is not None and len(run.ops) == k, "the stream being shrunk is valid"
            self.runs[k] = run
        return k, self.runs[k]


class Runner:
    """Runs op streams on the model and on one runtime binary, and judges the runtime's answers."""

    def __init__(self, binary: Path, timeout: float = CAMPAIGN_TIMEOUT) -> None:
        self.binary = binary
        self.timeout = timeout
        self.hello = golive.server_for(binary).hello
        self.max_chunks = int(self.hello["max_chunks"])
        self.candidates = 0

    def runtime_params(self) -> Params:
        return golive.runtime_params(self.binary, TRACE_VERSION)

    def evaluate(
        self,
        params: Params,
        stream: list[KindArgs],
        repair: bool = False,
        prefixes: Prefixes | None = None,
        keep: int = 0,
        with_state: bool = False,
    ) -> Finding | bool | None:
        """A Finding if the runtime differs; None if it agrees; False if the model refuses the stream.

        With prefixes (made with the same with_state), stream[:keep] is known to equal the first keep
        operations of prefixes.stream. with_state also compares the hidden state after every op."""
        self.candidates += 1
        k, start = prefixes.at(keep) if prefixes is not None else (0, None)
        run = model_run(params, stream[k:], with_state, repair, start)
        if run is None:
            return False
        return self.compare(params, run.ops, run.wants, run.states if with_state else None)

    def compare(self, params: Params, ops: list[Op], wants: list[Any], states: list[Any] | None) -> Finding | None:
        """Run ops on the runtime in one batch and judge every answer (and hidden state) against the model's."""
        return self.finish(self.start(params, ops, wants, states))

    def start(self, params: Params, ops: list[Op], wants: list[Any], states: list[Any] | None) -> Sent:
        """Send a stream to the runtime without waiting (finish() judges it): the runtime works meanwhile.

        states: the expected hidden state after each op, to compare too, or None not to."""
        impl = golive.GoImpl(params, self.binary, timeout=self.timeout)
        if states is not None:
            sent = [x for op in ops for x in (op, STATE_PROBE)]
            wanted = [x for pair in zip(wants, states, strict=True) for x in pair]
        else:
            sent, wanted = list(ops), list(wants)
        impl.start_many(sent)
        return Sent(params, ops, wants, states, impl, sent, wanted)

    def finish(self, sent: Sent) -> Finding | None:
        """The runtime's answers to a stream start() sent, judged by the oracle's one rule.

        First, cheaply: when every answer line is, byte for byte, the line the driver writes for the
        wanted answer (golive.answers_as_wanted), every line passes, and nothing is decoded. Any other
        line sends the whole stream through the one rule (oracle.pagealloc.lockstep)."""
        lines, died = sent.impl.receive_lines(sent.sent)
        if died is None and golive.answers_as_wanted(sent.sent, sent.wanted, lines):
            return None
        answers = sent.impl.decode_answers(sent.sent, lines, died)
        states = sent.states
        got, go_states = (answers[0::2], answers[1::2]) if states is not None else (answers, [])
        ops, wants = sent.ops, sent.wants
        for i, line in enumerate(lockstep.run(_Answered(got), ops, None, batch=len(ops) or 1, expects=wants)):
            if line.mismatch is not None:
                return Finding(sent.params, ops[: i + 1], wants[: i + 1], line.mismatch, "result")
            if states is not None and go_states[i] != states[i]:
                detail = f"model {states[i]}, runtime {go_states[i]}"
                mismatch = Mismatch(line.op.line, line.op, line.expected, line.got, "the hidden state differs")
                return Finding(sent.params, ops[: i + 1], wants[: i + 1], mismatch, "state", detail)
        return None


STATE_PROBE = Op("go_state", {}, None, 0)  # the driver's probe of the hidden state, sent after every op with --state


@dataclass
class Sent:
    """A stream on its way to the runtime: what was sent, and what the answers will be judged against."""

    params: Params
    ops: list[Op]
    wants: list[Any]
    states: list[Any] | None
    impl: golive.GoImpl
    sent: list[Op]
    wanted: list[Any]  # what each line of sent must answer: wants, with the states interleaved if compared


class _Answered:
    """The answers already received for a stream, behind the protocol, so the one lockstep loop judges them."""

    name = "go"

    def __init__(self, answers: list[Answer]) -> None:
        self.answers = answers

    def apply(self, op: Op) -> Any:  # pragma: no cover - the loop always asks for the whole batch
        raise NotImplementedError

    def apply_many(self, ops: list[Op]) -> list[Answer]:
        return self.answers[: len(ops)]


def shrink(runner: Runner, finding: Finding, seconds: float) -> Finding:
    """The simplest stream found that the model accepts and on which the runtime still differs the same way."""
    best = finding
    stream: list[KindArgs] = [(op.kind, dict(op.args)) for op in best.ops]
    with_state = finding.kind == "state"  # a state finding must keep its state difference while shrinking
    prefixes = Prefixes(best.params, with_state)
    prefixes.rebase(stream)
    crash = finding.crashed

    found: dict[str, Finding] = {}

    def key(stream: list[KindArgs]) -> str:
        return repr(stream)

    def test(candidate: list[KindArgs], keep: int) -> list[KindArgs] | None:
        result = runner.evaluate(finding.params, candidate, True, prefixes, keep, with_state)
        # Keep the failure's class: a runtime with a seeded bug may also crash on its own heap,
        # which must not turn a wrong result into an unrelated crash while shrinking.
        if isinstance(result, Finding) and result.crashed == crash and result.kind == finding.kind:
            kept = [(op.kind, dict(op.args)) for op in result.ops]
            found[key(kept)] = result
            return kept
        return None

    def accepted(stream: list[KindArgs]) -> None:
        nonlocal best
        best = found[key(stream)]
        prefixes.rebase(stream)

    shrink_stream(stream, test, seconds, finding.params.chunk_pages, accepted, finding.params.space.first_chunk)
    return best


# ---- campaigns ----


@dataclass
class CampaignResult:
    label: str
    seconds: float
    examples: int
    ops: int
    seed: int = 1
    finding: Finding | None = None
    original_ops: int = 0  # the failing example's length before shrinking
    failing_example: int | None = None
    ops_to_failure: int | None = None  # operations run (all examples) up to the first failing one
    detect_seconds: float | None = None  # from the start to the first failing example
    trace_seconds: float | None = None  # from the start to the shrunk trace on disk
    trace: Path | None = None
    shrink_candidates: int = 0
    reproduces: bool | None = None  # the written trace replays to a mismatch at its last line
    notes: list[str] = field(default_factory=list)
    judge: str = "fast"  # who generated and judged the examples first (the model always decides a finding)
    model_examples: int = 0  # examples the model generated and judged throughout

    @property
    def found(self) -> bool:
        return self.finding is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "seed": self.seed,
            "found": self.found,
            "seconds": round(self.seconds, 2),
            "examples": self.examples,
            "ops": self.ops,
            "ops_per_second": round(self.ops / self.seconds, 1) if self.seconds > 0 else 0.0,
            "failing_example": self.failing_example,
            "ops_to_failure": self.ops_to_failure,
            "detect_seconds": None if self.detect_seconds is None else round(self.detect_seconds, 2),
            "trace_seconds": None if self.trace_seconds is None else round(self.trace_seconds, 2),
            "trace": None if self.trace is None else str(self.trace),
            "trace_ops": None if self.finding is None else self.finding.index + 1,
            "original_ops": self.original_ops or None,
            "kind": None if self.finding is None else self.finding.kind,
            "crash": None if self.finding is None else self.finding.crashed,
            "reproduces": self.reproduces,
            "failure": None if self.finding is None else self.finding.describe(),
            "judge": self.judge,
            "model_examples": self.model_examples,
            "notes": self.notes,
        }


def example_params(rng: random.Random, runtime: Params, variants: bool) -> Params:
    """Mostly the runtime's own page sizes; with variants, sometimes others (substituted around scavenges)."""
    if not variants or rng.random() < 0.6:
        return runtime
    phys = rng.choice([1, 2, 4, 8, 16, 32, 64])  # every physical page size Go supports, in runtime pages
    huge = rng.choice([0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512])  # none, or each power of two up to a chunk
    return attrs.evolve(runtime, phys_page_pages=phys, huge_page_pages=huge)


def _recorder(impl: ModelImpl | FastImpl, states: list[Any]) -> Callable[[], None]:
    return lambda: states.append(hidden_state(impl.heap))


def confirm(runner: Runner, finding: Finding, ops: list[Op], result: CampaignResult) -> Finding | None:
    """The model's verdict on an example fast/ generated and the runtime failed.

    The whole stream runs on the model; the runtime's answers are judged against the model's. A
    Finding then is the runtime's. If the runtime agrees with the model, fast/ was wrong: that is
    noted in the result (a bug of fast/, not of the runtime) and the campaign goes on.
    """
    stream = [(op.kind, dict(op.args)) for op in ops]
    with_state = finding.kind == "state"
    run = model_run(finding.params, stream, with_state)
    if run is None:
        result.notes.append(f"example {result.examples - 1}: fast/ generated a line the model refuses")
        return None
    verdict = runner.compare(finding.params, run.ops, run.wants, run.states if with_state else None)
    if verdict is None:
        result.notes.append(
            f"example {result.examples - 1}: fast/ differs from the model and the runtime at "
            f"{finding.op.describe()} (a bug of fast/)"
        )
    return verdict


def run_campaign(
    binary: Path,
    seconds: float = 30.0,
    seed: int = 1,
    max_examples: int | None = None,
    out_dir: Path = DEFAULT_OUT,
    label: str = "pristine",
    shrink_seconds: float = 30.0,
    state: bool = False,
    variants: bool = True,
    progress: Callable[[CampaignResult], None] | None = None,
    timeout: float = CAMPAIGN_TIMEOUT,
    judge: str = "fast",
    model_share: float = MODEL_SHARE,
) -> CampaignResult:
    """Examples until the time or example budget is spent or one fails; a failure is shrunk and written.

    judge "fast": fast/ generates and answers each example (the first-line judge); an example
    the runtime fails is judged again by the model, which alone decides a finding, and a share
    `model_share` of the examples is generated by the model throughout. judge "model": the model
    generates every example (slower; the reference). The runtime's hidden state (search hint,
    scavenge cursors) is compared after every op of a share STATE_SHARE of the examples, or of
    all of them with state."""
    if judge not in JUDGES:
        raise ValueError(f"judge must be one of {', '.join(JUDGES)}, not {judge!r}")
    runner = Runner(binary, timeout=timeout)
    runtime = runner.runtime_params()
    started = time.monotonic()
    result = CampaignResult(label, 0.0, 0, 0, seed, judge=judge)
    share = random.Random(f"go-fuzz-share:{seed}")

    def generate(index: int) -> tuple[Generator, list[Any] | None, bool]:
        rng = random.Random(f"go-fuzz:{seed}:{index}")
        params = example_params(rng, runtime, variants)
        length = rng.choice([20, 60, 150, 400, 1000])
        by_model = judge == "model" or share.random() < model_share
        impl: ModelImpl | FastImpl = ModelImpl(params) if by_model else FastImpl(params)
        with_state = state or share.random() < STATE_SHARE
        states: list[Any] = []
        record = _recorder(impl, states) if with_state else None
        gen = Generator(rng, params, runner.max_chunks, impl, on_line=record, big_grows=not by_model)
        gen.run(length)
        return gen, states if with_state else None, by_model

    def judge_example(index: int, gen: Generator, sent: Sent, by_model: bool) -> bool:
        """Judge one example the runtime has run; True once a finding is shrunk and written."""
        outcome = runner.finish(sent)
        result.examples += 1
        result.model_examples += by_model
        if isinstance(outcome, Finding) and not by_model:
            outcome = confirm(runner, outcome, gen.ops, result)
        if not isinstance(outcome, Finding):
            result.ops += len(gen.ops)
            if progress is not None:
                result.seconds = time.monotonic() - started
                progress(result)
            return False
        result.ops += outcome.index + 1
        result.failing_example = index
        result.ops_to_failure = result.ops
        result.detect_seconds = time.monotonic() - started
        result.original_ops = outcome.index + 1
        before = runner.candidates
        finding = shrink(runner, outcome, shrink_seconds)
        result.shrink_candidates = runner.candidates - before
        result.finding = finding
        path = new_file(output_folder(out_dir, "failures folder"), f"go_{label}_seed{seed}_ex{index}")
        path.write_text(finding.trace_text(), encoding="utf-8")
        result.trace = path
        result.trace_seconds = time.monotonic() - started
        if finding.kind == "result":
            # A seeded bug may also crash the runtime on its own heap, now and then: try thrice.
            result.reproduces = False
            for _ in range(3):
                again = replay(path, "go", options=ImplOptions(binary=binary))
                if again.mismatch is not None and again.mismatch.line == finding.op.line:
                    result.reproduces = True
                    break
        return True

    # A pipeline of two: the runtime runs example i while example i+1 is generated (two cores busy).
    in_flight: tuple[int, Generator, Sent, bool] | None = None
    index = 0
    while time.monotonic() - started < seconds and (max_examples is None or index < max_examples):
        gen, states, by_model = generate(index)
        if in_flight is not None and judge_example(*in_flight):
            in_flight = None
            break
        in_flight = (index, gen, runner.start(gen.params, gen.ops, gen.wants, states), by_model)
        index += 1
    if in_flight is not None:
        judge_example(*in_flight)
    result.seconds = time.monotonic() - started
    return result


def replay_command(path: Path, mutant: str | None, goroot: str | None) -> str:
    extra = f" --mutant {mutant}" if mutant else ""
    extra += f" --goroot {goroot}" if goroot else ""
    return f"python -m oracle replay {path} --impl go{extra}"


def print_result(result: CampaignResult, out: Any, mutant: str | None = None, goroot: str | None = None) -> None:
    rate = result.ops / result.seconds if result.seconds > 0 else 0.0
    print(
        f"go-fuzz {result.label} (seed {result.seed}): {result.seconds:.1f}s, {result.examples:,} examples, "
        f"{result.ops:,} ops "
        f"({rate:,.0f} ops/s): {'FAILURE' if result.found else 'no difference'}",
        file=out,
    )
    if result.finding is not None and result.trace is not None:
        print(
            f"  first failing example #{result.failing_example} after {result.ops_to_failure:,} ops and "
            f"{result.detect_seconds:.1f}s; shrunk from {result.original_ops} to {result.finding.index + 1} ops "
            f"({result.shrink_candidates} candidates); trace written at {result.trace_seconds:.1f}s",
            file=out,
        )
        print("  " + result.finding.describe().replace("\n", "\n  "), file=out)
        print(f"  trace: {result.trace}", file=out)
        print(f"  reproduce: {replay_command(result.trace, mutant, goroot)}", file=out)
