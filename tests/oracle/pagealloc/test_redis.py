"""Campaigns beyond one machine: two `fuzz` processes that share nothing but a real Redis server.

A redis-server (Debian's package; .ci/run installs it) is started on a free
loopback port with no persistence, and stopped, with a timeout, after the
module. Two campaign processes run in separate working directories, with
separate failure folders and no example database on disk: the first finds
a seeded bug of fast/ and saves it in Redis; the second, with a time budget
far too short to find that bug by itself, replays it from Redis at once
and writes the same shrunk trace. The GC machine (`gc-fuzz --db`) and the
go campaign (`go-fuzz --db`, oracle.golive.sharing: failures replayed
first, seeds claimed from a counter) are shown the same way. Without
redis-server on PATH, or without the Redis client, the module skips,
saying so.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from oracle import cli
from oracle.golive.toolchain import GoNotFound, find_toolchain
from oracle.pagealloc.fuzz import database_spec, open_database

redis = pytest.importorskip("redis", reason="the Redis client is missing: pip install -e '.[test]'")

FAULT = "missed_level_update"  # fast/ skips a tree level's update: Hypothesis needs dozens of examples to see it


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("no redis-server on PATH (Debian: apt-get install redis-server; .ci/run installs it)")
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(folder), "--protected-mode", "yes"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        deadline = time.monotonic() + 15
        while True:
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    pytest.fail(f"redis-server did not answer on port {port} within 15 s")
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def campaign(folder: Path, url: str, seconds: float) -> tuple[int, dict[str, object]]:
    folder.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "oracle", "fuzz", "--impl", "fast", "--fault", FAULT, "--seconds", str(seconds),
         "--db", url, "--failures", "failures", "--shrink-seconds", "10", "--json"],
        cwd=folder, capture_output=True, text=True, timeout=240,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


@pytest.mark.slow
def test_a_failure_found_by_one_campaign_is_replayed_by_another(tmp_path: Path, redis_url: str) -> None:
    first_code, first = campaign(tmp_path / "a", redis_url, 60)
    assert first_code == 1 and first["failures"] == 1, first
    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    assert client.keys(b"hypothesis-example:*")  # the failing example went into the shared database
    assert not (tmp_path / "a" / ".hypothesis" / "oracle-fuzz").exists()  # and nowhere on disk

    second_code, second = campaign(tmp_path / "b", redis_url, 0.5)
    assert second_code == 1 and second["failures"] == 1, second
    [a_trace], [b_trace] = first["failure_traces"], second["failure_traces"]
    a_path, b_path = tmp_path / "a" / str(a_trace), tmp_path / "b" / str(b_trace)
    assert b_path.read_text() == a_path.read_text()  # the same shrunk failure, found in half a second
    assert isinstance(second["steps"], int) and isinstance(first["steps"], int)
    assert second["steps"] < first["steps"]
    assert (tmp_path / "b" / str(second["reports"][0])).is_file()  # its report page, beside the trace


def test_a_redis_database_round_trips(redis_url: str) -> None:
    spec = database_spec(redis_url)
    assert spec == redis_url
    database = open_database(spec)
    assert database is not None
    database.save(b"key", b"value")
    assert list(database.fetch(b"key")) == [b"value"]
    database.delete(b"key", b"value")
    assert list(database.fetch(b"key")) == []


def test_an_unreachable_server_is_bad_usage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"redis://127.0.0.1:{free_port()}"  # nothing listens there
    assert cli.main(["fuzz", "--seconds", "1", "--db", url, "--failures", str(tmp_path)]) == 2
    assert "does not answer" in capsys.readouterr().err
    assert cli.main(["fuzz", "--seconds", "1", "--db", "redis://127.0.0.1:notaport", "--failures", str(tmp_path)]) == 2


def run(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    folder.mkdir(exist_ok=True)
    done = subprocess.run([sys.executable, "-m", "oracle", *args], cwd=folder, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode in (0, 1), done.stderr
    return done


@pytest.mark.slow
def test_the_gc_machine_shares_a_lost_object(tmp_path: Path, redis_url: str) -> None:
    first = run(tmp_path / "a", "gc-fuzz", "--barrier", "no-deletion", "--db", redis_url)
    assert first.returncode == 1 and "lost an object" in first.stdout
    # One example of one seed finds nothing by itself (the control, deterministic for its seed) ...
    alone = run(tmp_path / "c", "gc-fuzz", "--barrier", "no-deletion", "--seeds", "1", "--examples", "1")
    assert alone.returncode == 0, alone.stdout
    # ... but replays the lost object the first campaign saved in Redis.
    second = run(tmp_path / "b", "gc-fuzz", "--barrier", "no-deletion", "--seeds", "1", "--examples", "1",
                 "--db", redis_url)
    assert second.returncode == 1 and "lost an object" in second.stdout
    assert second.stdout.split("\n", 2)[2] == first.stdout.split("\n", 2)[2]  # the same shrunk trace


@pytest.mark.go
@pytest.mark.slow
def test_the_go_campaign_shares_failures_and_seeds(tmp_path: Path, redis_url: str) -> None:
    go = ["go-fuzz", "--db", redis_url, "--json", "--shrink-seconds", "10"]
    mutant = ["--mutant", "find_bit_range64_off_by_one"]
    try:
        find_toolchain(None)
    except GoNotFound as e:
        pytest.skip(f"no Go toolchain: {e}")
    first = run(tmp_path / "a", *go, *mutant, "--seconds", "60")
    found = json.loads(first.stdout)
    assert first.returncode == 1 and found["found"] and found["shared_key"].endswith("/find_bit_range64_off_by_one")
    second = run(tmp_path / "b", *go, *mutant, "--seconds", "60")
    replayed = json.loads(second.stdout)
    assert second.returncode == 1 and replayed["shared"] is True
    assert (tmp_path / "b" / replayed["trace"]).read_text() == (tmp_path / "a" / found["trace"]).read_text()
    assert (tmp_path / "b" / replayed["report"]).is_file()
    # Pristine campaigns sharing the store run distinct seeds: each claims the next.
    seeds = [json.loads(run(tmp_path / f"p{k}", *go, "--seconds", "1").stdout)["seed"] for k in range(2)]
    assert seeds == [1, 2]
