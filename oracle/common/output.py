"""Output files and folders that never replace an input and are checked before any work.

A command that writes (`replay --emit OUT`, `gc-replay --emit OUT`, the
failure traces of a campaign) takes its output location through here, at
the start, before it runs anything:

  * OUT must not be, or lead by a link to, any of the command's inputs
    (the evidence a user replays must survive the replay);
  * OUT's folder must exist and be writable, OUT itself must not be a
    folder, and the disk must have room for what is about to be written;
  * a folder for failure traces must be a folder, or creatable.

Problems raise UsageError (exit 2) naming the path. The file is then
written atomically: to a temporary file in the same folder, renamed over
OUT only when complete, so an interrupted run leaves OUT as it was.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from oracle.common.errors import UsageError

MIN_FREE_BYTES = 1 << 20


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


class OutputFile:
    """A file the command will write at the end; checked now (see the module comment)."""

    def __init__(self, path: Path, inputs: Sequence[Path] = (), what: str = "output", expected_bytes: int = 0) -> None:
        self.path = path
        self.what = what
        for source in inputs:
            if _same_file(path, source):
                raise UsageError(f"{what} {path}: is the input {source}; write the output somewhere else")
        if path.is_dir():
            raise UsageError(f"{what} {path}: is a directory")
        if path.exists() and not path.is_file():
            raise UsageError(f"{what} {path}: exists and is not a regular file")
        folder = path.parent if str(path.parent) else Path(".")
        if not folder.is_dir():
            raise UsageError(f"{what} {path}: the folder {folder} does not exist")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise UsageError(f"{what} {path}: the folder {folder} is not writable")
        need = max(expected_bytes, MIN_FREE_BYTES)
        with contextlib.suppress(OSError):
            free = shutil.disk_usage(folder).free
            if free < need:
                raise UsageError(f"{what} {path}: only {free:,} bytes free on its disk, {need:,} needed")

    def write_text(self, text: str) -> None:
        """Write atomically; UsageError if the disk refuses (OUT is then left as it was)."""
        folder = self.path.parent if str(self.path.parent) else Path(".")
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(tmp, self.path)
        except OSError as e:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise UsageError(f"{self.what} {self.path}: cannot write it ({e.strerror or e})") from None


def output_folder(path: Path, what: str = "output folder") -> Path:
    """A folder to write new files into: it is one, or can be made; UsageError otherwise."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{what} {path}: exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"{what} {path}: cannot create it ({e.strerror or e})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {path}: is not writable")
    return path


def new_file(folder: Path, name: str, suffix: str = ".jsonl") -> Path:
    """A path in folder that does not exist yet: name, or name-2, name-3, ..."""
    path = folder / f"{name}{suffix}"
    n = 1
    while path.exists():
        n += 1
        path = folder / f"{name}-{n}{suffix}"
    return path
