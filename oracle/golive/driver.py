"""The real Go runtime as an oracle implementation: `--impl go`.

Design
------
The runtime's page allocator (``pageAlloc`` in ``mpagealloc.go``, the page
cache in ``mpagecache.go``, the scavenger and its index in
``mgcscavenge.go``) is reachable only from package runtime's own tests. So,
as the trace generator does (oracle.golive.tracegen), this adapter adds a
driver to package runtime's test build with ``go test -overlay``; GOROOT is
never modified. Six files from ``oracle/golive/go/`` are overlaid:

* ``tracegen_export_test.go`` and ``live_export_test.go`` (package runtime):
  an empty test-mode allocator, a locked grow, the live page sizes, forced
  and background scavenges under substitute page sizes (swapped in with the
  world stopped), nextGen, the hidden state, and read-only validity checks;
* ``live_scavenger_export_test.go`` (package runtime) and
  ``live_scavenger_test.go`` (package runtime_test): a background scavenger
  goroutine of the driver's own, with the stubs of the trace op
  scavenger_wake (version 4);
* ``live_main_test.go`` (package runtime_test): ``TestPageAllocLive``, which
  speaks the oracle's subprocess protocol (oracle.pagealloc.subprocess) on
  stdin and stdout when ``PAGEALLOC_LIVE`` is set, calling its allocator
  through ``live_alloc_test.go`` (which passes the calls on; the
  systematic-mutant build of oracle.golive.systematic replaces it with a
  version that gates them).

Mutant selection. A binary with every systematic mutant compiled in
(oracle.golive.systematic) picks one at start-up from ``PAGEALLOC_MUTANT``.
``mutant_binary(binary, k)`` names such a binary with mutant k selected: a
symbolic link to it, whose name ends in ``.mutant-K``; a server started from
that path gets ``PAGEALLOC_MUTANT=K`` (any other path gets 0, no mutant).
So a selected mutant is just another binary path to every caller (a
campaign, replay), and each has its own server; ``close_server`` ends one.

The overlay also removes package runtime's other external test files
(``package runtime_test``) from the build, so the binary links only what the
driver needs; that halves the build after a change to the runtime (about
30 s instead of 70 s on two cores), which is what mutation testing pays per
mutant. The binary is built once with ``go test -c`` and cached
(oracle.golive.toolchain.BinaryCache) keyed by a hash of the Go tree's path,
its version, the contents of its ``src/runtime`` sources, the overlay
sources and the mutation, so a patched checkout or an edited driver is
rebuilt and an unchanged one is not. It is then run directly
(``-test.run '^TestPageAllocLive$'``) through oracle.common.child: one
long-lived process serves every test case of a campaign (a header resets
the heap), every answer has a deadline, and a crash names the runtime's own
last words (its fatal error or panic line).

Batching. ``GoImpl.apply_many(ops)`` sends a whole batch of lines in one
exchange. The Go side writes each answer as soon as it has it, so when the
runtime throws, every answer before the fatal operation has arrived, and
the crash is pinned to its operation. ``apply(op)`` is a batch of one.

Invariants and conventions:
  * Trace chunk C is the runtime's chunk origin+C (as in the bundled
    traces, so even the search hint coincides): origin BaseChunkIdx on
    amd64, 0 on 386 (model.geometry.Arch). Chunks outside [first_chunk,
    max_chunks) of the hello answer are refused.
  * One build per platform: ``arch`` "386" builds with GOARCH=386 (the
    32-bit page allocator, mpagealloc_32bit.go), which this machine runs;
    a trace's header names its platform, and a driver refuses another's.
  * The driver refuses (``{"error": ...}``, nothing changed) every
    operation the model refuses (a free of a free, unmapped or cached page,
    a grow over a chunk, an unknown cache id, a fill of a non-empty
    cache), since the runtime itself would throw or corrupt its state.
  * ``apply_many`` answers a Refusal for a refused operation, a Crash for
    the operation the runtime died or hung on, and a Crash ("not run") for
    every one after it; ``apply`` raises InvalidOperation and
    ImplementationFailed instead. The next use starts a fresh process.
  * Params: chunk_pages must be the runtime's (512). phys_page_pages and
    huge_page_pages may be anything the model takes; when they differ from
    the runtime's own, every scavenge runs under the substitute sizes.
    ``runtime_params()`` gives the runtime's own, which campaigns use.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from model.errors import InvalidOperation, ParameterError
from model.geometry import ARCHES
from oracle.common.child import ChildProcess
from oracle.common.errors import ImplementationFailed, TraceError, UsageError
from oracle.common.jsonlines import loads_object
from oracle.golive.mutation import Mutation
from oracle.golive.toolchain import BinaryCache, Toolchain, digest, find_toolchain, run_build, runtime_sources
from oracle.pagealloc.protocol import Answer, Crash, Refusal
from oracle.pagealloc.trace import OP_FIELDS, OPS_WITH_RESULT, Op, Outcome, Params, header_json, parse_expect

HERE = Path(__file__).resolve().parent
GO_DIR = HERE / "go"
OVERLAY_FILES = (
    "tracegen_export_test.go",
    "live_export_test.go",
    "live_scavenger_export_test.go",
    "live_scavenger_test.go",
    "live_main_test.go",
    "live_alloc_test.go",
)
LIVE_ENV = "PAGEALLOC_LIVE"
MUTANT_ENV = "PAGEALLOC_MUTANT"
MUTANT_SUFFIX = re.compile(r"\.mutant-(\d+)$")
TEST_NAME = "TestPageAllocLive"
DEFAULT_TIMEOUT = 30.0  # seconds one answer may take before the runtime counts as hung
START_ATTEMPTS = 3  # a mutated runtime may crash on its own heap; so many fresh processes are tried


# ---- building the driver ----


def external_test_files(runtime_dir: Path) -> list[str]:
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


def build_key(tc: Toolchain, mutation: Mutation | None, arch: str = "amd64") -> str:
    overlay = [name.encode() + b"\0" + (GO_DIR / name).read_bytes() for name in OVERLAY_FILES]
    mutated = mutation.key() if mutation else "pristine"
    platform = [] if arch == "amd64" else [f"GOARCH={arch}"]  # amd64 keeps the keys it always had
    return digest([str(tc.goroot), tc.version, *runtime_sources(tc), *overlay, mutated, *platform])


def mutated_source(tc: Toolchain, mutation: Mutation) -> str:
    """The mutated text of the mutation's runtime file (MutationError if the pattern is not there once)."""
    source = tc.runtime_dir / mutation.file
    return mutation.apply(source.read_text(encoding="utf-8") if source.is_file() else "")


def build_driver(
    tc: Toolchain,
    mutation: Mutation | None = None,
    cache: BinaryCache | None = None,
    verbose: bool = False,
    arch: str = "amd64",
) -> Path:
    """The test binary with the live driver for a platform (built once per key, then cached)."""
    if arch not in ARCHES:
        raise UsageError(f"unknown platform {arch!r} (known: {', '.join(ARCHES)})")
    patched = mutated_source(tc, mutation) if mutation is not None else None

    def build(out: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="golive-build-") as tmp:
            tmpdir = Path(tmp)
            replace = {str(tc.runtime_dir / name): str(GO_DIR / name) for name in OVERLAY_FILES}
            for name in external_test_files(tc.runtime_dir):
                replace[str(tc.runtime_dir / name)] = ""  # an empty replacement deletes the file from the build
            if mutation is not None and patched is not None:
                copy = tmpdir / mutation.file
                copy.write_text(patched, encoding="utf-8")
                replace[str(tc.runtime_dir / mutation.file)] = str(copy)
            overlay = tmpdir / "overlay.json"
            overlay.write_text(json.dumps({"Replace": replace}, indent=1))
            what = f"mutant {mutation.name}" if mutation else "the live driver"
            what += "" if arch == "amd64" else f" for {arch}"
            argv = [tc.go, "test", "-c", "-overlay", str(overlay), "-o", str(out), "runtime"]
            run_build(tc, argv, tmpdir, what, **({} if arch == "amd64" else {"GOARCH": arch}))

    log = print if verbose else None
    name = "runtime-live.test" if arch == "amd64" else f"runtime-live-{arch}.test"
    return (cache or BinaryCache()).get(name, build_key(tc, mutation, arch), build, log)


_binaries: dict[tuple[str | None, str | None, str], Path] = {}  # memo per process: hashing the runtime takes a moment


def driver_binary(goroot: str | None = None, mutation: Mutation | None = None, arch: str = "amd64") -> Path:
    """build_driver for a Go tree (None: the go found) and platform, memoized per process."""
    key = (goroot, mutation.key() if mutation else None, arch)
    if key not in _binaries:
        _binaries[key] = build_driver(find_toolchain(goroot), mutation, arch=arch)
    return _binaries[key]


def mutant_binary(binary: Path, mutant: int) -> Path:
    """The path that runs `binary` with systematic mutant `mutant` selected (0: none); see the module comment."""
    folder = binary.parent / "mutants"
    folder.mkdir(exist_ok=True)
    link = folder / f"{binary.name}.mutant-{mutant}"
    if not link.is_symlink() or os.readlink(link) != str(binary):
        temporary = folder / f".{link.name}.{os.getpid()}"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(binary)
        os.replace(temporary, link)  # atomic: another process may be making the same link
    return link


def mutant_of(binary: Path) -> int:
    """The systematic mutant a binary path selects (0: none)."""
    found = MUTANT_SUFFIX.search(binary.name)
    return int(found.group(1)) if found else 0


# ---- the running driver ----


def _chatter(line: bytes) -> bool:
    """Lines the Go test framework prints that are not answers."""
    return not line.startswith(b"{")


def _fatal_line(stderr: list[str]) -> str | None:
    """The runtime's own last words in its standard error: its fatal error or panic line."""
    for prefixes in (("fatal error:", "panic:", "unexpected fault", "SIG"), ("runtime:",)):
        for line in stderr:
            if line.startswith(prefixes):
                return line.strip()
    return None


class GoServer:
    """One running test binary serving the protocol, with the runtime's hello answer."""

    def __init__(self, binary: Path, timeout: float) -> None:
        self.binary = binary
        self.workdir = tempfile.TemporaryDirectory(prefix="golive-run-")
        self.child = ChildProcess(
            [str(binary), f"-test.run=^{TEST_NAME}$", "-test.count=1", "-test.timeout=0"],
            f"the Go runtime ({binary.name})",
            timeout=timeout,
            # One P: the driver is one goroutine (and, in a wake, the scavenger's, which it hands over to and
            # waits for); a second P would only let the runtime's GC workers and its scheduler's hand-overs
            # take the core the oracle generates and judges on (the campaign is 15% faster with one).
            env={**os.environ, LIVE_ENV: "1", MUTANT_ENV: str(mutant_of(binary)), "GOMAXPROCS": "1"},
            cwd=self.workdir.name,
            skip=_chatter,
            headline=_fatal_line,
        )
        self.session = 0  # counts headers, so a GoImpl can tell its heap was replaced
        self.hello: dict[str, Any] = self.child.request({"op": "hello"})

    def alive(self) -> bool:
        return self.child.alive()

    def close(self, grace: float = 0.5) -> None:
        self.child.close(grace)
        self.workdir.cleanup()


_servers: dict[Path, GoServer] = {}


def server_for(binary: Path, timeout: float = DEFAULT_TIMEOUT) -> GoServer:
    """The running server of a binary, started (or restarted after a crash) when needed.

    A runtime with a seeded bug in its page allocator also runs its own heap on that bug, so it may
    crash by itself, even before the first operation; a new process is tried START_ATTEMPTS times.
    """
    server = _servers.get(binary)
    if server is not None and server.alive():
        server.child.timeout = timeout
        return server
    for attempt in range(START_ATTEMPTS):
        if server is not None:
            server.close()
        try:
            server = _servers[binary] = GoServer(binary, timeout)
            return server
        except ImplementationFailed:
            _servers.pop(binary, None)
            server = None
            if attempt == START_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def close_server(binary: Path) -> None:
    """End the server of a binary, if one runs (a systematic run ends each mutant's)."""
    server = _servers.pop(binary, None)
    if server is not None:
        server.close()


def runtime_params(binary: Path, version: int = 2) -> Params:
    """The runtime's own page geometry as trace params (what campaigns give the model)."""
    hello = server_for(binary).hello
    chunk_pages, phys, huge = int(hello["chunk_pages"]), int(hello["phys_page_pages"]), int(hello["huge_page_pages"])
    return Params(chunk_pages, phys, huge, version, arch=str(hello.get("arch", "amd64")))


# ---- the implementation ----


# Each op's line with its integer fields in OP_FIELDS order, to fill with %: the commonest lines, written fast.
_OP_LINES = {
    kind: ('{"op": "' + kind + '"' + "".join(f', "{name}": %d' for name in fields) + "}\n").encode()
    for kind, fields in OP_FIELDS.items()
}
_OP_FIELD_NAMES = {kind: tuple(fields) for kind, fields in OP_FIELDS.items()}


def op_line(op: Op) -> bytes:
    """The protocol line of an op (its fields are ints and bools: written directly, JSON all the same)."""
    args = op.args
    names = _OP_FIELD_NAMES.get(op.kind)
    if names is not None and len(args) == len(names):
        return _OP_LINES[op.kind] % tuple(args[name] for name in names)
    fields = "".join(
        f', "{name}": {"true" if value is True else "false" if value is False else int(value)}'
        for name, value in op.args.items()
    )
    return f'{{"op": "{op.kind}"{fields}}}\n'.encode()


def _page_text(page: int | None) -> str:
    return "null" if page is None else str(page)


def answer_line(kind: str, outcome: Any) -> bytes | None:
    """The line (without its newline) the live driver writes when op `kind` answers `outcome` (an Outcome, None
    for an op without a result, or a go_state dict), byte for byte as live_main_test.go writes it; None
    where the driver's form is not one fixed text (scavenger_wake's float64 values)."""
    if kind not in OPS_WITH_RESULT and kind != "go_state":
        return b"{}"
    if kind == "alloc" or kind == "cache_alloc":
        return f'{{"page": {_page_text(outcome["page"])}, "scav": {outcome["scav"]}}}'.encode()
    if kind == "scavenge":
        return f'{{"released": {outcome["released"]}}}'.encode()
    if kind == "cache_fill":
        return (f'{{"base": {_page_text(outcome["base"])}, "free": "0x{outcome["free"]:016x}", '
                f'"scav": "0x{outcome["scav"]:016x}"}}').encode()
    if kind == "go_state":
        o = outcome
        return (f'{{"search_page": {_page_text(o["search_page"])}, "force_cursor": {_page_text(o["force_cursor"])}, '
                f'"force_marked": {"true" if o["force_marked"] else "false"}, '
                f'"bg_cursor": {_page_text(o["bg_cursor"])}, "bg_marked": {"true" if o["bg_marked"] else "false"}}}'
                ).encode()
    return None


def answers_as_wanted(ops: Sequence[Op], wanted: Sequence[Any], lines: list[bytes]) -> bool:
    """Whether each answer line is exactly the wanted answer to its op (a judge's quick path: no decoding).

    A line equal to answer_line of its wanted answer decodes to that answer; a line whose form is not
    fixed (answer_line None: float64 values) is decoded and compared. So True is the verdict of the
    one rule (oracle.pagealloc.lockstep), which passes a line exactly when its answer equals the want."""
    if len(lines) != len(ops):
        return False
    for op, want, line in zip(ops, wanted, lines, strict=True):
        expected = answer_line(op.kind, want)
        if expected is None:
            try:
                if parse_expect(op.kind, loads_object(line.decode(), op.line, "answer"), op.line) != want:
                    return False
            except (TraceError, UnicodeDecodeError):  # an error line, or not an answer of this op's form
                return False
        elif line != expected:
            return False
    return True


class GoImpl:
    """The real runtime's pageAlloc behind the oracle's implementation protocol, with a batched path."""

    name = "go"

    def __init__(self, params: Params, binary: Path, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.params = params
        self.binary = binary
        self.timeout = timeout
        for attempt in range(START_ATTEMPTS):
            # The header frees the previous heap first; a runtime broken enough to crash there
            # (a seeded bug) is restarted, and the new heap starts in a fresh process.
            self.server = server_for(binary, timeout)
            try:
                answer = self.server.child.request(header_json(params))
                break
            except ImplementationFailed:
                if attempt == START_ATTEMPTS - 1:
                    raise
        if "error" in answer:
            raise ParameterError(f"the Go runtime refused params {params.to_json()}: {answer['error']}")
        if answer.get("ok") is not True:
            raise ImplementationFailed(f"the Go driver answered the header with {answer!r}")
        self.override = bool(answer.get("override"))
        self.server.session += 1
        self.session = self.server.session
        self.crashed: str | None = None
        self._sent: str | None = None  # why the last start_many could not send, if it could not

    @property
    def runtime(self) -> dict[str, Any]:
        return self.server.hello

    def _live_server(self) -> GoServer:
        if self.crashed is not None:
            raise ImplementationFailed(f"the Go runtime failed earlier in this test case: {self.crashed}")
        if self.server is not _servers.get(self.binary) or self.server.session != self.session:
            raise ImplementationFailed("this Go heap was replaced by another header")
        return self.server

    def apply(self, op: Op) -> Outcome | None:
        [result] = self.apply_many([op])
        if isinstance(result, Refusal):
            raise InvalidOperation(result.reason)
        if isinstance(result, Crash):
            raise ImplementationFailed(result.reason)
        return result

    def apply_many(self, ops: Sequence[Op]) -> list[Answer]:
        """Run ops in one exchange (see the module comment for the answers)."""
        self.start_many(ops)
        return self.finish_many(ops)

    def start_many(self, ops: Sequence[Op]) -> None:
        """Send ops without waiting for the answers; finish_many(ops) collects them (the runtime works meanwhile)."""
        self._sent = None
        if not ops:
            return
        try:
            server = self._live_server()
        except ImplementationFailed as e:
            self._sent = str(e)
            return
        self._sent = server.child.send([op_line(op) for op in ops])

    def finish_many(self, ops: Sequence[Op]) -> list[Answer]:
        """The answers to the ops start_many sent."""
        return self.decode_answers(ops, *self.receive_lines(ops))

    def receive_lines(self, ops: Sequence[Op]) -> tuple[list[bytes], str | None]:
        """The raw answer lines to the ops start_many sent, and why the runtime stopped answering if it did."""
        if not ops:
            return [], None
        if self._sent is not None:
            return [], self._sent
        return self.server.child.receive(self.timeout)

    def decode_answers(self, ops: Sequence[Op], lines: list[bytes], died: str | None) -> list[Answer]:
        """The answers receive_lines got, decoded and checked: finish_many's second half."""
        if not ops:
            return []
        if self._sent is not None:
            return [Crash(self._sent)] * len(ops)
        server = self.server
        results: list[Answer] = []
        for op, line in zip(ops, lines, strict=False):
            try:
                results.append(self._result(op, server.child.decode(line)))
            except ImplementationFailed as e:
                died = str(e)
                break
        if died is not None:
            self.crashed = died
            results.append(Crash(died))
            results += [Crash("not run: the runtime died at an earlier operation")] * (len(ops) - len(results))
        return results

    def go_state(self) -> dict[str, Any]:
        """The runtime's search hint and scavenge cursors (pages; None for the full-heap hint or a cleared cursor)."""
        return self._live_server().child.request({"op": "go_state"}, self.timeout)

    def apply_with_state(self, ops: Sequence[Op]) -> tuple[list[Answer], list[Any]]:
        """apply_many, with the runtime's hidden state (go_state) after each op, in the same exchange."""
        probe = Op("go_state", {}, None, 0)
        mixed = [x for op in ops for x in (op, probe)]
        got = self.apply_many(mixed)
        states = [s if isinstance(s, dict) else str(s) for s in got[1::2]]
        return got[0::2], states

    def _result(self, op: Op, answer: dict[str, Any]) -> Answer:
        if "error" in answer:
            return Refusal(str(answer["error"]))
        if op.kind == "go_state":  # the driver's probe of the hidden state
            return answer
        if op.kind not in OPS_WITH_RESULT:
            if answer:
                raise ImplementationFailed(f"{op.kind} has no result, but the Go driver answered {answer!r}")
            return None
        try:
            return parse_expect(op.kind, answer, op.line)
        except TraceError as e:
            raise ImplementationFailed(f"the Go driver answered {op.kind} with {answer!r}: {e.message}") from None
