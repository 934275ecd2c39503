"""Fuzz campaigns: running the oracle's state machine for a while, on one or more processes, or machines.

`run_once` is one Hypothesis run of the machine (oracle.pagealloc.machine): up to
max_examples test cases of up to `steps` steps, stopping at the first
failure, which Hypothesis then shrinks; the shrunk failure is written as a
trace file (oracle.pagealloc.failures). It returns the counts and the written failure.

`run_campaign` repeats run_once in rounds until the time is up, on `workers`
processes that share one Hypothesis example database, so a failure one
process saved is retried by the others and by later campaigns. The
database is a folder (one machine), or a Redis server (`redis://HOST:PORT`,
Hypothesis's RedisExampleDatabase: campaigns on machines that share no
filesystem share their failures; `open_database`). The machine classes are
named after the implementation, level and faults, and that name keys the
database, so the same campaign on any machine finds the same entries.
A worker stops at its first failure; a latent difference (states that
differ while every result agrees) does not stop it, and is written only if
the time runs out with nothing visible found. Rounds are sized to take
about a second, and the clock is checked between rounds, so a campaign ends
within about a second of its time, or later while a failure is shrunk
(at most shrink_seconds, 30 by default, through Hypothesis's own shrink
deadline) and minimized (oracle.pagealloc.failures).

Progress (elapsed time, steps, steps per second, distinct heap states,
failures) is a live progress bar on a terminal (rich) and nothing
elsewhere; the summary is a table on a terminal and one plain line
elsewhere, or with --json one JSON object. The exit status is 1 when any
failure was found. The campaign also records its progress over time
(oracle.report.timeline: steps, and distinct heap occupancies counted from
the answers by a StateCounter) and writes, beside each failing trace, that
timeline and the failure's report page (oracle.report.page), `TRACE.html`.

`short_campaign` is the few-second campaign the default job runs.
`replay_safe` re-checks a safe-level failure trace.

It is one piece: rounds, workers, the shared database and the progress and
summary they feed are one campaign loop, and split apart each part would
pass the others' state back and forth.
"""

from __future__ import annotations

import contextlib
import io
import json
import multiprocessing as mp
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import attrs
from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis.database import DirectoryBasedExampleDatabase, ExampleDatabase
from hypothesis.errors import Flaky
from hypothesis.internal.conjecture import engine
from hypothesis.stateful import run_state_machine_as_test
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from oracle.common.errors import UsageError
from oracle.common.output import OutputFile
from oracle.pagealloc.failures import WrittenFailure, write_failure
from oracle.pagealloc.levels import MODEL_INVARIANTS_EVERY, Failure, ImplFactory, OracleFailure, Shadow
from oracle.pagealloc.machine import MachineConfig, OracleMachine, RunLog, machine_class
from oracle.pagealloc.probes import clone_of
from oracle.pagealloc.protocol import Implementation
from oracle.pagealloc.registry import ImplOptions, factory
from oracle.pagealloc.state import State, snapshot_of
from oracle.pagealloc.trace import Op, Outcome, Params, read_header_and_ops
from oracle.report.page import write_report
from oracle.report.timeline import StateCounter, Timeline

DEFAULT_DB = Path(".hypothesis/oracle-fuzz")
SHRINK_SECONDS = 30.0
DEFAULT_FAILURES = Path("failures")
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
REDIS_TIMEOUT = 10.0  # seconds one Redis request may take: a campaign never waits on a lost server for long

# Where examples are shared: a folder, a Redis URL (redis://HOST:PORT[/DB]), or None for no database.
DatabaseSpec = Path | str | None


def database_spec(text: str) -> DatabaseSpec:
    """The --db value: "none", a Redis URL, or a folder."""
    if text == "none":
        return None
    if text.startswith(REDIS_SCHEMES):
        return text
    return Path(text)


def open_database(spec: DatabaseSpec, timeout: float = REDIS_TIMEOUT) -> ExampleDatabase | None:
    """Hypothesis's example database for a spec (see database_spec); UsageError if the Redis client is missing."""
    if spec is None:
        return None
    if isinstance(spec, Path):
        return DirectoryBasedExampleDatabase(str(spec))
    try:
        import redis  # here, not at the top: the Redis client is an optional extra, needed only for redis:// URLs
        from hypothesis.extra.redis import RedisExampleDatabase  # here: it imports the redis client too
    except ImportError:
        raise UsageError(f"--db {spec}: needs the Redis client (pip install 'gomem-reference[redis]')") from None
    try:
        client = redis.Redis.from_url(spec, socket_timeout=timeout, socket_connect_timeout=timeout)
    except ValueError as e:
        raise UsageError(f"--db {spec}: not a Redis URL ({e})") from None
    return RedisExampleDatabase(client)


def check_database(spec: DatabaseSpec, timeout: float = 5.0) -> None:
    """Before a campaign starts: a Redis server must answer (UsageError, exit 2, if not); a folder must be usable."""
    if isinstance(spec, Path):
        if spec.exists() and not spec.is_dir():
            raise UsageError(f"--db {spec}: exists and is not a directory")
        return
    database = open_database(spec, timeout)
    if database is None:
        return
    try:
        database.redis.ping()  # type: ignore[attr-defined]
    except Exception as e:  # the client raises its own ConnectionError, TimeoutError, AuthenticationError...
        raise UsageError(f"--db {spec}: the Redis server does not answer ({type(e).__name__}: {e})") from None


class Counted:
    """An implementation whose accepted operations a StateCounter sees (everything else is the implementation's)."""

    def __init__(self, impl: Implementation, counter: StateCounter) -> None:
        self.impl = impl
        self.counter = counter
        self.name = impl.name

    def apply(self, op: Op) -> Outcome | None:
        outcome = self.impl.apply(op)
        self.counter.step(op.kind, op.args, outcome)
        return outcome

    def snapshot(self) -> State | None:
        return snapshot_of(self.impl)

    def clone(self) -> Implementation | None:
        return clone_of(self.impl)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.impl, name)


def counted(make: ImplFactory, counter: StateCounter) -> ImplFactory:
    """The factory, with each new implementation (a new test case, an empty heap) seen by counter."""

    def build(params: Params) -> Implementation:
        impl = make(params)
        counter.start()
        return Counted(impl, counter)

    return build


@contextlib.contextmanager
def shrink_deadline(seconds: float) -> Iterator[None]:
    """Stop shrinking after `seconds` (Hypothesis's own limit is five minutes).

    Hypothesis reads the limit from a module constant of its engine when it
    starts shrinking; without that constant (another Hypothesis version)
    shrinking simply runs to Hypothesis's own limits.
    """
    if not hasattr(engine, "MAX_SHRINKING_SECONDS"):
        yield
        return
    saved = engine.MAX_SHRINKING_SECONDS
    engine.MAX_SHRINKING_SECONDS = seconds  # type: ignore[assignment]
    try:
        yield
    finally:
        engine.MAX_SHRINKING_SECONDS = saved


def machine_for(impl: str = "fast", level: str = "exact", options: ImplOptions | None = None) -> type[OracleMachine]:
    """The state machine of a campaign, as a class Hypothesis (or HypoFuzz) can run by itself.

    `machine_for("fast").TestCase` is a unittest test case: pytest runs it, and HypoFuzz
    (`hypothesis fuzz -- tests/oracle/pagealloc/test_fuzz.py -k Machine`) fuzzes it for as long as
    it is left running, with its own adaptive search, on every core. The class has the name a
    campaign's would, so the example database entries are the same.
    """
    options = options or ImplOptions()
    config = MachineConfig(impl, factory(impl, options), level)
    return machine_class(config, "_".join(sorted(options.faults)))


@attrs.frozen
class RunResult:
    steps: int
    examples: int
    seconds: float
    failure: WrittenFailure | None
    first_failure_example: int | None
    latent: Failure | None = None  # a difference of states no result showed (see oracle.pagealloc.machine.Lockstep)


def run_once(
    impl: str = "fast",
    level: str = "exact",
    max_examples: int = 100,
    steps: int = 50,
    database: DatabaseSpec = None,
    failures_dir: Path = DEFAULT_FAILURES,
    options: ImplOptions | None = None,
    params: Params | None = None,
    derandomize: bool = False,
    seed: int | None = None,
    on_step: Callable[[], None] | None = None,
    model_invariants_every: int = MODEL_INVARIANTS_EVERY,
    shrink: bool = True,
    shrink_seconds: float = SHRINK_SECONDS,
    report_latent: bool = True,
    states: StateCounter | None = None,
) -> RunResult:
    """One Hypothesis run; a failure is shrunk (unless shrink is False) and written to failures_dir.

    A latent difference (states differ, no result does) is written as the
    failure when nothing else failed, unless report_latent is False: then it
    is only returned, for a campaign that goes on looking for a visible one.
    states, if given, counts the distinct heap occupancies the run goes through.
    """
    options = options or ImplOptions()
    make = factory(impl, options)
    log = RunLog(on_step=on_step)
    config = MachineConfig(impl, make if states is None else counted(make, states), level, params,
                           model_invariants_every, log=log)
    tag = "_".join(sorted(options.faults))
    cls = machine_class(config, tag)
    if seed is not None:
        cls._hypothesis_internal_use_seed = seed  # type: ignore[attr-defined]  # what @seed sets
    run_settings = settings(
        max_examples=max_examples,
        stateful_step_count=steps,
        deadline=None,
        database=open_database(database),
        derandomize=derandomize,
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        verbosity=Verbosity.quiet,
        print_blob=False,
        phases=[p for p in Phase if shrink or p not in (Phase.shrink, Phase.explain)],
    )
    started = time.perf_counter()
    written = None
    with contextlib.redirect_stdout(io.StringIO()), shrink_deadline(shrink_seconds):
        try:
            run_state_machine_as_test(cls, settings=run_settings)
        except Exception as e:
            failure = log.last_failure
            if failure is None or not isinstance(e, OracleFailure | AssertionError | Flaky):
                raise
            written = write_failure(failure, failures_dir, make, options)
            if isinstance(e, Flaky):
                note = (
                    "\n  (the implementation answered differently when Hypothesis ran this case again: "
                    "it is flaky, so this is the last failing run as found)"
                )
                written = attrs.evolve(written, message=written.message + note)
        if written is None and log.latent is not None and report_latent:
            # No result ever differed, but the states did: report the shortest such case (not shrunk).
            written = write_failure(log.latent, failures_dir, make, options)
            log.first_failure_example = log.first_failure_example or log.examples
    seconds = time.perf_counter() - started
    return RunResult(log.steps, log.examples, seconds, written, log.first_failure_example, log.latent)


@attrs.frozen
class CampaignConfig:
    impl: str = "fast"
    level: str = "exact"
    seconds: float = 60.0
    workers: int = 1
    steps: int = 50
    database: DatabaseSpec = DEFAULT_DB
    failures_dir: Path = DEFAULT_FAILURES
    options: ImplOptions = attrs.field(factory=ImplOptions)
    shrink_seconds: float = SHRINK_SECONDS


@attrs.frozen
class CampaignResult:
    steps: int
    seconds: float
    examples: int
    failures: list[WrittenFailure]
    states: int | None = None  # distinct heap occupancies seen (oracle.report.timeline.StateCounter)
    timeline: Timeline = attrs.field(factory=Timeline, eq=False)

    @property
    def steps_per_second(self) -> float:
        return self.steps / self.seconds if self.seconds > 0 else 0.0

    def to_json(self, config: CampaignConfig) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "steps_per_second": round(self.steps_per_second, 1),
            "failures": len(self.failures),
            "failure_traces": [str(f.path) for f in self.failures],
            "seconds": round(self.seconds, 2),
            "examples": self.examples,
            "impl": config.impl,
            "level": config.level,
            "distinct_states": self.states,
            "reports": [str(f.path.with_suffix(".html")) for f in self.failures
                        if f.path.with_suffix(".html").is_file()],
        }


def _worker_rounds(
    config: CampaignConfig, deadline: float, on_step: Callable[[], None], states: StateCounter | None = None
) -> tuple[int, int, WrittenFailure | None]:
    """Rounds of run_once until the deadline or a failure: (steps, examples, failure).

    A latent difference does not stop the rounds: a later round may show the
    same bug in a result, which replay can reproduce. The shortest latent one
    is written only if the time runs out with nothing else found.
    """
    steps = examples = 0
    per_round = 5
    latent: Failure | None = None
    while time.monotonic() < deadline:
        result = run_once(
            config.impl,
            config.level,
            max_examples=per_round,
            steps=config.steps,
            database=config.database,
            failures_dir=config.failures_dir,
            options=config.options,
            on_step=on_step,
            shrink_seconds=config.shrink_seconds,
            report_latent=False,
            states=states,
        )
        steps += result.steps
        examples += result.examples
        if result.failure is not None:
            return steps, examples, result.failure
        if result.latent is not None and (latent is None or len(result.latent.ops) < len(latent.ops)):
            latent = result.latent
        # Aim at rounds of about a second, never past the deadline by much.
        per_example = result.seconds / max(result.examples, 1)
        left = deadline - time.monotonic()
        per_round = max(1, min(int(1.0 / max(per_example, 1e-3)), int(left / max(per_example, 1e-3)) + 1, 200))
    if latent is not None:
        make = factory(config.impl, config.options)
        written = write_failure(latent, config.failures_dir, make, config.options)
        return steps, examples, written
    return steps, examples, None


def _process_worker(
    config: CampaignConfig, deadline: float, counter: Any, results: Any, fresh: Any
) -> None:  # pragma: no cover - runs in a child process
    pending = 0
    states = StateCounter()

    def on_step() -> None:
        nonlocal pending
        pending += 1
        if pending >= 32:
            with counter.get_lock():
                counter.value += pending
            pending = 0
            new = states.take_fresh()
            if new:
                fresh.put(new)

    try:
        steps, examples, failure = _worker_rounds(config, deadline, on_step, states)
        new = states.take_fresh()
        if new:
            fresh.put(new)
        results.put(("done", steps, examples, failure))
    except BaseException as e:
        results.put(("error", 0, 0, f"{type(e).__name__}: {e}"))


class LiveProgress:
    """The live display: a rich progress bar on a terminal, nothing elsewhere; and the timeline, always."""

    def __init__(self, config: CampaignConfig, stream: TextIO, enabled: bool) -> None:
        self.config = config
        self.started = time.monotonic()
        self.last = -1.0
        self.timeline = Timeline("steps", "distinct heap states")
        self.bar: Progress | None = None
        if enabled and stream.isatty():
            c = config
            self.bar = Progress(
                TextColumn(f"fuzz {c.impl}/{c.level}"),
                BarColumn(),
                TimeElapsedColumn(),
                TextColumn("of {task.fields[budget]}s · {task.fields[steps]:,} steps · {task.fields[rate]:,.0f}/s · "
                           "{task.fields[states]} states · {task.fields[failures]} failures"),
                console=Console(file=stream),
                transient=False,
            )
            self.task = self.bar.add_task("fuzz", total=max(c.seconds, 1e-9), budget=f"{c.seconds:g}", steps=0,
                                          rate=0.0, states="-", failures=0)

    def start(self) -> None:
        if self.bar is not None:
            self.bar.start()

    def show(self, steps: int, failures: int, states: int | None = None, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < 0.2:
            return
        self.last = now
        elapsed = now - self.started
        self.timeline.add(elapsed, steps, states)
        if self.bar is not None:
            rate = steps / elapsed if elapsed > 0 else 0.0
            self.bar.update(self.task, completed=min(elapsed, self.config.seconds), steps=steps, rate=rate,
                            states=f"{states:,}" if states is not None else "-", failures=failures)

    def done(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def run_campaign(config: CampaignConfig, progress: TextIO | None = None) -> CampaignResult:
    """Fuzz for config.seconds on config.workers processes; progress is shown on `progress` if a terminal."""
    factory(config.impl, config.options)  # refuse an unknown implementation before starting anything
    started = time.monotonic()
    deadline = started + config.seconds
    display = LiveProgress(config, progress or sys.stderr, progress is not None)
    failures: list[WrittenFailure] = []
    steps = examples = 0
    seen: set[int] = set()
    if config.workers <= 1:
        count = 0
        states = StateCounter()

        def on_step() -> None:
            nonlocal count
            count += 1
            if count % 8 == 0:  # the display itself draws (and samples the timeline) at most five times a second
                display.show(count, 0, len(states))

        display.start()
        steps, examples, failure = _worker_rounds(config, deadline, on_step, states)
        seen = states.seen
        if failure is not None:
            failures.append(failure)
    else:
        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp.get_context()
        counter = ctx.Value("q", 0)
        results = ctx.Queue()
        fresh = ctx.Queue()  # fingerprints of heap states new to a worker, to count distinct states across all
        procs = [
            ctx.Process(target=_process_worker, args=(config, deadline, counter, results, fresh), daemon=True)
            for _ in range(config.workers)
        ]
        for p in procs:
            p.start()
        display.start()  # after the fork: the display's refresh thread stays in this process

        def drain() -> None:
            while True:
                try:
                    seen.update(fresh.get_nowait())
                except Exception:  # queue.Empty, once nothing is waiting
                    return

        finished = 0
        errors: list[str] = []
        while finished < len(procs):
            try:
                kind, s, e, payload = results.get(timeout=0.2)
            except Exception:
                drain()
                display.show(counter.value, len(failures), len(seen))
                continue
            finished += 1
            steps += s
            examples += e
            if kind == "error":
                errors.append(str(payload))
            elif payload is not None:
                failures.append(payload)
            drain()
            display.show(counter.value, len(failures), len(seen))
        for p in procs:
            p.join()
        drain()
        if errors:
            display.done()
            raise RuntimeError("fuzz worker failed: " + "; ".join(errors))
    found = _distinct(failures)
    display.show(steps, len(found), len(seen), force=True)
    display.done()
    timeline = display.timeline
    found = [with_report(f, config, timeline) for f in found]
    return CampaignResult(steps, time.monotonic() - started, examples, found, len(seen), timeline)


def with_report(failure: WrittenFailure, config: CampaignConfig, timeline: Timeline) -> WrittenFailure:
    """Write the campaign's timeline and the failure's report page beside its trace; the message names the page."""
    page = failure.path.with_suffix(".html")
    try:
        timeline.save_beside(failure.path)
        write_report(failure.path, config.impl, OutputFile(page, [failure.path], "report"), config.options,
                     config.level, timeline)
    except Exception as e:  # the failure is the finding: a page that cannot be drawn must not hide it
        return attrs.evolve(failure, message=failure.message + f"\n  report: not written ({type(e).__name__}: {e})")
    return attrs.evolve(failure, message=failure.message + f"\n  report: {page}")


def _distinct(failures: list[WrittenFailure]) -> list[WrittenFailure]:
    """Failures with distinct traces (workers sharing a database may find the same one)."""
    seen: set[str] = set()
    out = []
    for f in failures:
        text = f.path.read_text(encoding="utf-8")
        if text in seen:
            f.path.unlink(missing_ok=True)
            continue
        seen.add(text)
        out.append(f)
    return out


def print_summary(config: CampaignConfig, result: CampaignResult, out: TextIO) -> None:
    """The summary: one plain line (and each failure) on a pipe or file, a table on a terminal."""
    faults = f", faults {','.join(sorted(config.options.faults))}" if config.options.faults else ""
    failures = f"{len(result.failures)} failure{'s' if len(result.failures) != 1 else ''}"
    if out.isatty():
        table = Table(title=f"fuzz {config.impl} ({config.level}{faults})", show_header=False)
        table.add_column(style="bold")
        table.add_column(justify="right")
        for name, value in (("seconds", f"{result.seconds:.1f}"), ("steps", f"{result.steps:,}"),
                            ("steps/s", f"{result.steps_per_second:,.0f}"), ("examples", f"{result.examples:,}"),
                            ("distinct heap states", "-" if result.states is None else f"{result.states:,}"),
                            ("failures", str(len(result.failures)))):
            table.add_row(name, value)
        console = Console(file=out)
        console.print(table)
        for f in result.failures:
            console.print("FAILURE " + f.message.replace("\n", "\n  "), markup=False, highlight=False)
        return
    print(
        f"fuzz {config.impl} ({config.level}{faults}): {result.seconds:.1f}s, {result.steps:,} steps, "
        f"{result.steps_per_second:,.0f} steps/s, {result.examples:,} examples, {failures}",
        file=out,
    )
    for f in result.failures:
        print("FAILURE " + f.message.replace("\n", "\n  "), file=out)


def short_campaign(seconds: float = 5.0, impl: str = "fast", out: TextIO | None = None) -> int:
    """The default job's campaign: a few seconds of exact-level fuzzing; 0 if nothing failed, else 1."""
    config = CampaignConfig(impl=impl, seconds=seconds, workers=1)
    result = run_campaign(config)
    print_summary(config, result, out or sys.stdout)
    return 1 if result.failures else 0


def replay_safe(path: Path, impl: str, options: ImplOptions | None = None) -> str | None:
    """Re-check a safe-level trace against the implementation; the failure message, or None."""
    params, ops = read_header_and_ops(path)
    checker = Shadow(params, factory(impl, options), impl)
    for op in ops:
        try:
            got = checker.apply(op.kind, dict(op.args))
            checker.check_state(check_model=False)
        except OracleFailure as e:
            return e.failure.message()
        if op.expect is not None and got != op.expect:
            return (
                f"line {op.line}: {op.describe()}\n  the implementation now answers {json.dumps(got)}, "
                f"the trace recorded {json.dumps(op.expect)}: the lines after it no longer apply"
            )
    return None
