"""Sharing the go campaign's failures and seeds across processes that share no filesystem: a folder or Redis.

The Hypothesis campaigns share their examples through Hypothesis's own
database (oracle.pagealloc.fuzz, `--db`); the go campaign generates its
streams itself (oracle.golive.campaign), so it shares through a Store of
its own, given by the same `--db DIR|redis://HOST:PORT`:

  claim_seed(key, first)  the next seed no process sharing the store has
                          claimed for this key: first, first+1, ... (an
                          atomic counter: Redis INCR, or files created
                          with O_EXCL in a folder), so campaigns on many
                          machines run distinct streams
  publish(key, text)      a shrunk failing trace, stored by its content
  failures(key)           the traces published for this key, oldest first
  record(key, seed, run)  what a campaign of one seed did (examples, ops,
                          seconds, found), for the record

A key names the runtime under test: the Go version the driver reports and
the mutant (or "pristine"), e.g. "go1.27.3/pristine"; traces found against
one runtime are never replayed against another.

The hook the campaign commands call (`fuzz --impl go --db ...`, `go-fuzz
--db ...`), around oracle.golive.campaign.run_campaign, which itself is
unchanged:

  before  replay_shared(): every trace published for the key is written to
          the local failures folder and replayed against this runtime
          (oracle.report.evidence, which also compares the runtime's search
          hint and cursors); the first that still fails is the campaign's
          finding, found again here without searching, as Hypothesis's
          reuse phase does
  seed    claim_seed(): the campaign's seed
  after   share_result(): the campaign's run recorded, its trace published

A Redis store keeps everything under `gomem-go:<key>:` (a counter, a hash
of traces by content digest with their order, a hash of runs by seed); a
folder store under `<folder>/go-campaign/<key>/` (files `seed-N`,
`failures/<digest>.jsonl`, `runs/<seed>.json`). Every Redis request has a
timeout.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import time
from pathlib import Path
from typing import Any, Protocol

import attrs

from oracle.common.errors import UsageError
from oracle.common.output import new_file, output_folder
from oracle.golive import driver as golive
from oracle.golive.campaign import CampaignResult
from oracle.pagealloc.registry import ImplOptions
from oracle.report.evidence import Evidence, gather

REDIS_TIMEOUT = 10.0  # seconds one Redis request may take
SEED_FILES_LIMIT = 1 << 20  # seeds a folder store hands out per key before refusing (a runaway guard)


class Store(Protocol):
    def claim_seed(self, key: str, first: int) -> int: ...
    def publish(self, key: str, text: str) -> bool: ...
    def failures(self, key: str) -> list[str]: ...
    def record(self, key: str, seed: int, run: dict[str, Any]) -> None: ...


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


class FolderStore:
    """A store in a folder (one machine, or a shared disk); see the module comment for the layout."""

    def __init__(self, folder: Path) -> None:
        self.root = folder / "go-campaign"

    def _dir(self, key: str, *parts: str) -> Path:
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", key)
        return output_folder(self.root.joinpath(safe, *parts), "--db folder")

    def claim_seed(self, key: str, first: int) -> int:
        folder = self._dir(key, "seeds")
        for n in range(SEED_FILES_LIMIT):
            try:
                fd = os.open(folder / f"seed-{first + n}", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                continue
            os.close(fd)
            return first + n
        raise UsageError(f"--db {self.root}: {SEED_FILES_LIMIT:,} seeds already claimed for {key}")

    def publish(self, key: str, text: str) -> bool:
        path = self._dir(key, "failures") / f"{digest(text)}.jsonl"
        if path.exists():
            return False
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
        return True

    def failures(self, key: str) -> list[str]:
        folder = self._dir(key, "failures")
        paths = sorted(folder.glob("*.jsonl"), key=lambda p: (p.stat().st_mtime, p.name))
        return [p.read_text(encoding="utf-8") for p in paths]

    def record(self, key: str, seed: int, run: dict[str, Any]) -> None:
        (self._dir(key, "runs") / f"{seed}.json").write_text(json.dumps(run) + "\n", encoding="utf-8")


class RedisStore:
    """A store on a Redis server (machines that share no disk); see the module comment for the keys."""

    def __init__(self, url: str, timeout: float = REDIS_TIMEOUT) -> None:
        try:
            import redis  # here, not at the top: the Redis client is an optional extra, needed only for redis:// URLs
        except ImportError:
            raise UsageError(f"--db {url}: needs the Redis client (pip install 'gomem-reference[redis]')") from None
        self.url = url
        try:
            self.client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
            self.client.ping()
        except ValueError as e:
            raise UsageError(f"--db {url}: not a Redis URL ({e})") from None
        except Exception as e:  # the client's ConnectionError, TimeoutError, AuthenticationError...
            raise UsageError(f"--db {url}: the Redis server does not answer ({type(e).__name__}: {e})") from None

    @staticmethod
    def _key(key: str, name: str) -> str:
        return f"gomem-go:{key}:{name}"

    def claim_seed(self, key: str, first: int) -> int:
        return first + int(self.client.incr(self._key(key, "seeds"))) - 1

    def publish(self, key: str, text: str) -> bool:
        name = digest(text)
        if not self.client.hsetnx(self._key(key, "failures"), name, text):
            return False
        self.client.rpush(self._key(key, "order"), name)
        return True

    def failures(self, key: str) -> list[str]:
        names = [n.decode() for n in self.client.lrange(self._key(key, "order"), 0, -1)]
        texts = self.client.hmget(self._key(key, "failures"), names) if names else []
        return [t.decode("utf-8") for t in texts if t is not None]

    def record(self, key: str, seed: int, run: dict[str, Any]) -> None:
        self.client.hset(self._key(key, "runs"), str(seed), json.dumps(run))


def open_store(spec: Path | str | None) -> Store | None:
    """The store for a --db value (as oracle.pagealloc.fuzz.database_spec reads it); None for none."""
    if spec is None:
        return None
    if isinstance(spec, Path):
        if spec.exists() and not spec.is_dir():
            raise UsageError(f"--db {spec}: exists and is not a directory")
        return FolderStore(spec)
    return RedisStore(spec)


def campaign_key(binary: Path, label: str) -> str:
    """The runtime under test: the Go version its driver reports, and the mutant's name or "pristine"."""
    return f"{golive.server_for(binary).hello.get('go_version', 'go')}/{label}"


@attrs.frozen
class SharedFinding:
    """A failure another campaign published, which this runtime still fails."""

    trace: Path
    evidence: Evidence
    published: int  # traces published for the key (all were tried, up to this one)


def replay_shared(store: Store, key: str, binary: Path, out_dir: Path, label: str,
                  options: ImplOptions | None = None) -> SharedFinding | None:
    """Replay every trace published for key against this runtime; the first that still fails, written to out_dir."""
    texts = store.failures(key)
    options = options or ImplOptions(binary=binary)
    for number, text in enumerate(texts, start=1):
        path = new_file(output_folder(out_dir, "failures folder"), f"go_{label}_shared_{digest(text)[:12]}")
        path.write_text(text, encoding="utf-8")
        evidence = gather(path, "go", options)
        if not evidence.ok:
            return SharedFinding(path, evidence, number)
        with contextlib.suppress(OSError):
            path.unlink()  # it passes here: nothing to keep
    return None


def share_result(store: Store, key: str, seed: int, result: CampaignResult) -> bool:
    """Record the campaign's run; publish its trace if it found one. True if the trace was new to the store."""
    store.record(key, seed, {"seed": seed, "found": result.found, "examples": result.examples, "ops": result.ops,
                             "seconds": round(result.seconds, 2), "at": time.time()})
    if result.trace is None:
        return False
    return store.publish(key, result.trace.read_text(encoding="utf-8"))
