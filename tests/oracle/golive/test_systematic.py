"""Systematic mutants of the runtime's page allocator (oracle.golive.systematic, `go-mutants --systematic`).

One binary per platform holds every mutant (built once and cached; a cold
build takes a minute or two, a warm one nothing). The tests check that:

  * each platform mutates the files of the page allocator it compiles
    (amd64 the four shared files, 386 mpagealloc_32bit.go too, as Go's own
    build constraints say), and the shared files' mutants have the same ids
    on both;
  * the generator makes mutants of every operator for the four files, leaves
    out what does not compile, and gates each of Go's page-allocator tests;
  * the instrumented sources use the documented gate forms, and code only
    the runtime's own heap runs is not mutated;
  * id 0 is the pristine runtime: a bundled trace replays clean, Go's tests
    pass (on 386 too, where some of Go's table cases do not exist); and a
    selected mutant stays off the binary's own heap: outside the gate, the
    driver answers exactly as with id 0 under a heavy heap load;
  * a known mutant is killed by the campaign, its trace reproduces against
    that mutant only, and Go's tests kill it too; a mutant of the 32-bit
    layout is killed by the 386 campaign; a mutant of the background
    scavenger's pacing is killed by Go's tests and not by the campaign;
  * Go's tests count a skipped test as run, and a test that did not run
    makes an error, not a survivor;
  * --file, --func, --id, --sample and --arch choose what they say, and bad
    usage exits 2 with one line;
  * a survivor's classification applies to the mutant its key names, on
    the platform it names.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from oracle import cli
from oracle.common.errors import UsageError
from oracle.golive import driver, systematic
from oracle.golive.mutation import RUNTIME_FILES
from oracle.golive.systematic import Catalog, Mutant, Row, Verdict
from oracle.golive.toolchain import find_toolchain
from oracle.pagealloc.registry import ImplOptions
from oracle.pagealloc.replay import replay
from oracle.pagealloc.trace import parse_header

OPERATORS = {"relational", "logical", "literal+1", "literal-1", "result+1", "result-1", "shift-direction",
             "shift+1", "shift-1", "negate", "delete"}
SHARED = ("mpagealloc.go", "mpallocbits.go", "mpagecache.go", "mgcscavenge.go")
ROOT = Path(__file__).resolve().parents[3]
TRACE = ROOT / "oracle" / "pagealloc" / "traces" / "go_churn_seed1.jsonl"


@pytest.fixture(scope="module")
def built() -> tuple[Path, Catalog]:
    return systematic.build_binary(find_toolchain())


@pytest.fixture(scope="module")
def built386() -> tuple[Path, Catalog]:
    return systematic.build_binary(find_toolchain(), arch="386")


def the(catalog: Catalog, func: str, op: str, orig: str) -> Mutant:
    [m] = [m for m in catalog.mutants if m.func == func and m.op == op and m.orig == orig]
    return m


def test_selecting_a_mutant_is_a_binary_path(tmp_path: Path) -> None:
    binary = tmp_path / "runtime-systematic.test-abc"
    binary.write_text("")
    link = driver.mutant_binary(binary, 17)
    assert link.is_symlink() and link.resolve() == binary.resolve()
    assert driver.mutant_of(link) == 17 and driver.mutant_of(binary) == 0
    assert driver.mutant_binary(binary, 17) == link and driver.mutant_of(driver.mutant_binary(binary, 0)) == 0


def test_each_platform_names_its_files() -> None:
    assert systematic.mutated_files("amd64") == SHARED
    assert systematic.mutated_files("386") == (*SHARED, "mpagealloc_32bit.go")
    assert set(systematic.mutated_files("386")) == set(RUNTIME_FILES)
    with pytest.raises(UsageError):
        systematic.mutated_files("arm")


@pytest.mark.go
@pytest.mark.parametrize("arch", ["amd64", "386"])
def test_each_platform_mutates_what_go_compiles_there(arch: str) -> None:
    tc = find_toolchain()
    res = subprocess.run([tc.go, "list", "-f", "{{join .GoFiles \" \"}}", "runtime"], env=tc.env(GOARCH=arch),
                         capture_output=True, text=True, timeout=120, check=True)
    compiled = set(res.stdout.split())
    assert set(systematic.mutated_files(arch)) == set(RUNTIME_FILES) & compiled


@pytest.mark.go
def test_generator_covers_the_four_files_and_gates_go_tests(built: tuple[Path, Catalog]) -> None:
    _, catalog = built
    assert catalog.arch == "amd64" and {m.file for m in catalog.mutants} == set(SHARED)
    for name in SHARED:
        ops = {m.op for m in catalog.mutants if m.file == name}
        assert len([m for m in catalog.mutants if m.file == name]) >= 50, name
        assert {"relational", "literal+1", "delete", "negate"} <= ops, name
    assert {m.op for m in catalog.mutants} == OPERATORS
    assert len({m.id for m in catalog.mutants}) == len(catalog.mutants)
    assert catalog.excluded and all(isinstance(why, str) and why for why in catalog.excluded.values())
    assert not set(catalog.excluded) & {m.id for m in catalog.mutants}
    assert catalog.skipped.get("constant declaration", 0) > 0
    runtime_dir = find_toolchain().runtime_dir
    expected = sorted(
        name
        for test_file in systematic.TEST_FILES
        for name in re.findall(r"^func (Test\w+)\(t \*testing\.T\)", (runtime_dir / test_file).read_text(), re.M)
    )
    assert sorted(catalog.test_names) == expected and len(expected) >= 20
    assert sum(len(v) for v in catalog.tests.values()) > len(expected)  # subtest bodies too


@pytest.mark.go
def test_the_386_catalog_adds_the_32bit_layout_with_the_same_ids(built: tuple[Path, Catalog],
                                                                   built386: tuple[Path, Catalog]) -> None:
    _, amd64 = built
    _, i386 = built386
    assert i386.arch == "386"
    own = [m for m in i386.mutants if m.file == "mpagealloc_32bit.go"]
    assert len(own) >= 40 and {m.func for m in own} >= {"pageAlloc.sysInit", "pageAlloc.sysGrow"}
    assert min(m.id for m in own) > max(m.id for m in i386.mutants if m.file != "mpagealloc_32bit.go")
    by_id = {m.id: m for m in amd64.mutants}
    shared = [m for m in i386.mutants if m.id in by_id]
    assert len(shared) >= len(amd64.mutants) - 10  # a few compile on one platform only
    assert all(systematic.survivor_key(m) == systematic.survivor_key(by_id[m.id]) for m in shared)
    assert i386.test_names == amd64.test_names


@pytest.mark.go
def test_instrumented_sources_use_the_documented_gates(tmp_path: Path, built386: tuple[Path, Catalog]) -> None:
    tc = find_toolchain()
    generated = systematic.generate(tc, systematic.mutgen_binary(tc, systematic.BinaryCache()), tmp_path)
    source = (tmp_path / "mpagealloc.go").read_text()
    first = generated["mutants"][0]["id"]
    assert f"if mutOn({first})" in source or f"(mutOn({first})" in source
    assert re.search(r"\(!\(mutIn\(\d+, \d+\) && p\.test\) && \(", source)  # a condition, data-checked
    assert re.search(r"if mutOn\(\d+\) && p\.test \{", source)  # a statement, data-checked
    assert "func mergeSummaries" in source and "mutOn(" in source.split("func mergeSummaries")[1]
    for test_file in systematic.TEST_FILES:
        text = (tmp_path / test_file).read_text()
        assert text.count("defer MutantTestUngate(MutantTestGate());") == len(generated["tests"][test_file])
    assert not (tmp_path / "mpagealloc_32bit.go").exists()
    # scavengeIndex.sysInit: the test allocator's branch is mutated, the else (the runtime's own array) is not
    _, i386 = built386
    init = {m.orig for m in i386.mutants if m.func == "scavengeIndex.sysInit" and m.op == "delete"}
    assert "mappedReady = scavIndexSize" in init and "s.chunks = scavengeIndexArray[:]" not in init


@pytest.mark.go
def test_mutant_zero_is_the_pristine_runtime(built: tuple[Path, Catalog]) -> None:
    binary, catalog = built
    link = driver.mutant_binary(binary, 0)
    try:
        report = replay(TRACE, "go", options=ImplOptions(binary=link))
    finally:
        driver.close_server(link)
    assert report.ok and report.ops > 1000, report.mismatch.describe() if report.mismatch else ""
    verdict = systematic.run_go_tests(binary, 0, catalog.test_names)
    assert verdict.killed is False, verdict.detail


def _subtests(verdict: Verdict) -> int:
    found = re.search(r"\((\d+) subtests\)", verdict.detail)
    assert found, verdict.detail
    return int(found.group(1))


@pytest.mark.go
@pytest.mark.slow
def test_mutant_zero_is_the_pristine_386_runtime(built: tuple[Path, Catalog], built386: tuple[Path, Catalog]) -> None:
    binary, catalog = built386
    traces = systematic.bundled_traces("386")
    assert traces and all(parse_header(p.read_text().splitlines()[0]).arch == "386" for p in traces)
    assert not set(traces) & set(systematic.bundled_traces("amd64"))
    checked = systematic.pristine_check(binary, catalog.test_names, "386")
    assert f"{len(traces)} bundled traces replay clean" in checked
    # Go's tests pass on 386, with fewer table cases than on amd64 (some exist on 64-bit platforms only)
    on386 = systematic.run_go_tests(binary, 0, catalog.test_names)
    on_amd64 = systematic.run_go_tests(built[0], 0, built[1].test_names)
    assert on386.killed is False and on_amd64.killed is False
    assert 0 < _subtests(on386) < _subtests(on_amd64)


def _fake_go_tests(tmp_path: Path, output: str, status: int = 0) -> Path:
    script = tmp_path / "fake.test"
    script.write_text(f"#!/bin/sh\ncat <<'EOF'\n{output}\nEOF\nexit {status}\n")
    script.chmod(0o755)
    return script


def test_go_tests_count_a_skip_as_run_and_a_missing_test_as_an_error(tmp_path: Path) -> None:
    ran = _fake_go_tests(tmp_path, "--- PASS: TestA (0.00s)\n    --- PASS: TestA/x (0.00s)\n--- SKIP: TestB (0.00s)")
    verdict = systematic.run_go_tests(ran, 5, ["TestA", "TestB"])
    assert verdict.killed is False and "1 tests pass (1 subtests), 1 skip" == verdict.detail
    missing = _fake_go_tests(tmp_path, "--- PASS: TestA (0.00s)")
    assert systematic.run_go_tests(missing, 5, ["TestA", "TestB"]).killed is None
    failed = _fake_go_tests(tmp_path, "--- FAIL: TestB (0.00s)", status=1)
    verdict = systematic.run_go_tests(failed, 5, ["TestA", "TestB"])
    assert verdict.killed is True and "TestB" in verdict.detail


def _heap_load(binary: Path, mutant: int) -> bytes:
    """Answers of the driver to a load that works the binary's own heap hard, outside the gate but for headers."""
    header = json.dumps({"trace": "pagealloc", "version": 2,
                         "params": {"chunk_pages": 512, "phys_page_pages": 1, "huge_page_pages": 256}})
    refused = json.dumps({"op": "cache_alloc", "cache": 99, "npages": 1})  # refused: the message is allocated
    lines = [line for _ in range(600) for line in [header, *[refused] * 20]]
    env = {**os.environ, driver.LIVE_ENV: "1", driver.MUTANT_ENV: str(mutant)}
    res = subprocess.run([str(binary), f"-test.run=^{driver.TEST_NAME}$", "-test.count=1"],
                         input=("\n".join(lines) + "\n").encode(), capture_output=True, env=env, timeout=120,
                         check=False)
    assert res.returncode == 0, res.stderr.decode()[-2000:]
    return res.stdout


def _big_line(binary: Path, mutant: int) -> bytes:
    """Answers of the driver to a hello, a line of 32 MiB (refused) and a hello: the binary's own heap grows."""
    lines = [b'{"op": "hello"}', b'"' + b"x" * (32 << 20) + b'"', b'{"op": "hello"}']
    env = {**os.environ, driver.LIVE_ENV: "1", driver.MUTANT_ENV: str(mutant)}
    res = subprocess.run([str(binary), f"-test.run=^{driver.TEST_NAME}$", "-test.count=1"],
                         input=b"\n".join(lines) + b"\n", capture_output=True, env=env, timeout=120, check=False)
    assert res.returncode == 0, res.stderr.decode()[-2000:]
    return res.stdout


@pytest.mark.go
def test_a_selected_mutant_stays_off_the_binarys_own_heap(built: tuple[Path, Catalog],
                                                          built386: tuple[Path, Catalog]) -> None:
    binary, catalog = built
    pristine = _heap_load(binary, 0)
    assert pristine.count(b'"ok": true') == 600
    hot = [  # used on every allocation of the binary's own heap, so a leaking gate would break it
        the(catalog, "pageCache.alloc", "delete", "c.cache &^= 1 << i"),
        the(catalog, "pallocBits.summarize", "delete", "cur += 64"),
        the(catalog, "mergeSummaries", "delete", "end = ei"),
    ]
    for m in hot:
        assert _heap_load(binary, m.id) == pristine, m
    # The 32-bit layout grows the binary's own heap through the same sysGrow: a line of 32 MiB grows it
    # to about 64 MiB. No header here: a header's heap is the driver's own, and its grows open the gate.
    binary, catalog = built386
    pristine = _big_line(binary, 0)
    assert pristine.count(b'"arch": "386"') == 2 and pristine.count(b'"error"') == 1
    m = the(catalog, "pageAlloc.sysGrow", "delete", "p.summary[l] = p.summary[l][:hi]")
    assert _big_line(binary, m.id) == pristine


def killed_with_a_trace_that_reproduces(binary: Path, m: Mutant, tmp_path: Path, shrink: float) -> Path:
    """The campaign kills mutant m; its trace fails against m and replays clean on the pristine runtime."""
    verdict = systematic.run_campaign_on(binary, m.id, 20.0, 1, tmp_path, shrink)
    assert verdict.killed is True, verdict.detail
    [trace] = tmp_path.glob("*.jsonl")
    mutant, pristine = driver.mutant_binary(binary, m.id), driver.mutant_binary(binary, 0)
    try:
        assert replay(trace, "go", options=ImplOptions(binary=mutant)).mismatch is not None
        assert replay(trace, "go", options=ImplOptions(binary=pristine)).ok
    finally:
        driver.close_server(mutant)
        driver.close_server(pristine)
    return trace


@pytest.mark.go
def test_a_known_mutant_is_killed_by_the_campaign_and_by_go_tests(built: tuple[Path, Catalog], tmp_path: Path) -> None:
    binary, catalog = built
    m = the(catalog, "mergeSummaries", "relational", "ei == 1<<logMaxPagesPerSum")
    killed_with_a_trace_that_reproduces(binary, m, tmp_path, 5.0)
    assert systematic.run_go_tests(binary, m.id, catalog.test_names).killed is True


@pytest.mark.go
def test_a_32bit_mutant_is_killed_by_the_386_campaign(built386: tuple[Path, Catalog], tmp_path: Path) -> None:
    binary, catalog = built386
    m = the(catalog, "pageAlloc.sysGrow", "delete", "p.summary[l] = p.summary[l][:hi]")
    trace = killed_with_a_trace_that_reproduces(binary, m, tmp_path, 2.0)
    assert parse_header(trace.read_text().splitlines()[0]).arch == "386"


@pytest.mark.go
@pytest.mark.slow
def test_a_background_scavenger_mutant_is_killed_by_both(built: tuple[Path, Catalog], tmp_path: Path) -> None:
    """The scavenger's goroutine, never woken: Go's TestScavenger times out, and so does the campaign's first
    scavenger_wake (the driver's scavenger does not park again within 1 s: a crash at that line)."""
    binary, catalog = built
    m = the(catalog, "scavengerState.wake", "delete", "injectglist(&list)")
    campaign = systematic.run_campaign_on(binary, m.id, 20.0, 1, tmp_path, 1.0)
    assert campaign.killed is True and "scavenger_wake" in campaign.detail, campaign.detail
    verdict = systematic.run_go_tests(binary, m.id, catalog.test_names)
    assert verdict.killed is True and "TestScavenger" in verdict.detail


@pytest.mark.go
def test_file_func_id_and_sample_choose_what_they_say(built: tuple[Path, Catalog],
                                                       built386: tuple[Path, Catalog]) -> None:
    _, catalog = built
    chosen = systematic.select(catalog, ["mpagecache"], ["allocN"], [])
    assert chosen and {(m.file, m.func) for m in chosen} == {("mpagecache.go", "pageCache.allocN")}
    assert systematic.select(catalog, [], ["pageCache.allocN"], []) == chosen
    assert [m.id for m in systematic.select(catalog, [], [], [chosen[1].id])] == [chosen[1].id]
    every = systematic.select(catalog, [], [], [])
    drawn = systematic.sample(every, 7, 3)
    assert len(drawn) == 7 and drawn == systematic.sample(every, 7, 3) != systematic.sample(every, 7, 4)
    for files, funcs, ids in ((["nosuch.go"], [], []), ([], ["noSuchFunction"], []), (["mpagecache.go"], ["grow"], []),
                              ([], [], [next(iter(catalog.excluded))])):
        with pytest.raises(UsageError):
            systematic.select(catalog, files, funcs, ids)
    with pytest.raises(UsageError, match="--arch 386"):
        systematic.select(catalog, ["mpagealloc_32bit.go"], [], [])
    _, i386 = built386
    own = systematic.select(i386, ["mpagealloc_32bit"], ["pageAlloc.sysGrow"], [])
    assert own and {(m.file, m.func) for m in own} == {("mpagealloc_32bit.go", "pageAlloc.sysGrow")}


@pytest.mark.go
def test_list_command_honours_the_filters(built: tuple[Path, Catalog], built386: tuple[Path, Catalog],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["go-mutants", "--systematic", "--file", "mpagecache.go", "--func", "pageCache.allocN",
                     "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines and all("mpagecache.go:" in line and "pageCache.allocN" in line for line in lines)
    assert cli.main(["go-mutants", "--systematic", "--sample", "5", "--seed", "2", "--list"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 5
    assert cli.main(["go-mutants", "--systematic", "--arch", "386", "--file", "mpagealloc_32bit.go", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len([m for m in built386[1].mutants if m.file == "mpagealloc_32bit.go"])
    assert all("mpagealloc_32bit.go:" in line for line in lines)
    assert cli.main(["go-mutants", "--systematic", "--arch", "386", "--check"]) == 0
    assert "compiled in for 386" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [
    ["--systematic", "merge_end_off_by_one"],
    ["--file", "mpagealloc.go"],
    ["--sample", "3"],
    ["--arch", "386"],
    ["--systematic", "--arch", "arm"],
    ["--systematic", "--sample", "0"],
    ["--systematic", "--id", "0"],
    ["--systematic", "--seconds", "-1"],
])
def test_bad_usage_exits_2_with_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["go-mutants", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("python -m oracle go-mutants")


@pytest.mark.go
@pytest.mark.parametrize("argv", [["--file", "nosuch.go"], ["--func", "noSuchFunction"],
                                  ["--file", "mpagealloc_32bit.go"]])
def test_unknown_file_or_function_exits_2(built: tuple[Path, Catalog], argv: list[str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["go-mutants", "--systematic", *argv, "--list"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("go-mutants: --")


def test_a_classification_names_a_mutant_on_its_platform(tmp_path: Path) -> None:
    def mutant(i: int, orig: str) -> dict[str, object]:
        return {"id": i, "file": "mpagealloc.go", "func": "f", "line": i, "op": "delete", "orig": orig,
                "mutated": "", "form": "statement", "check": ""}

    data = {"mutants": [mutant(1, "a()"), mutant(2, "b()"), mutant(3, "a()")], "excluded": {}, "skipped": {},
            "tests": {}}
    amd64, i386 = Catalog.from_json(data), Catalog.from_json({**data, "arch": "386"})
    assert amd64.occurrence == {1: 0, 2: 0, 3: 1} and i386.arch == "386"
    key = {"file": "mpagealloc.go", "func": "f", "op": "delete", "mutated": ""}
    survivors = tmp_path / "survivors.json"
    survivors.write_text(json.dumps({"survivors": [
        {**key, "orig": "a()", "occurrence": 1, "class": "equivalent", "why": "the second a() is dead"},
        {**key, "orig": "b()", "arch": "386", "class": "blind spot", "why": "32-bit only"},
        {**key, "orig": "c()", "class": "equivalent", "why": "names no mutant"},
    ]}))
    assert systematic.load_classification(amd64, survivors) == {3: {"class": "equivalent",
                                                                    "why": "the second a() is dead"}}
    assert systematic.load_classification(i386, survivors) == {2: {"class": "blind spot", "why": "32-bit only"}}
    rows = [Row(m, Verdict(False), Verdict(False), None, i386.occurrence[m.id]) for m in i386.mutants]
    report = systematic.report_json(rows, i386, 1.0, 1, 1.0)
    assert report["arch"] == "386"
    again = systematic.rows_from_json(json.loads(json.dumps(report)), survivors)
    assert [r.classification for r in again] == [None, {"class": "blind spot", "why": "32-bit only"}, None]


@pytest.mark.go
@pytest.mark.slow
def test_systematic_command_reports_both_oracles(built: tuple[Path, Catalog], capsys: pytest.CaptureFixture[str]
                                                 ) -> None:
    _, catalog = built
    killed = the(catalog, "mergeSummaries", "relational", "ei == 1<<logMaxPagesPerSum")
    assert cli.main(["go-mutants", "--systematic", "--id", str(killed.id), "--seconds", "10", "--json"]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert f"#{killed.id} " in captured.err  # the progress line
    assert "mutant 0 (pristine, amd64)" in captured.err
    [row] = report["mutants"]
    assert row["id"] == killed.id and row["status"] == "both"
    assert report["by_file"]["mpagealloc.go"]["campaign"] == 1 and report["total"]["go_tests"] == 1
    assert report["compiled_in"] == len(catalog.mutants) and report["go_tests"] == catalog.test_names
    assert report["arch"] == "amd64"


@pytest.mark.go
@pytest.mark.slow
def test_every_committed_classification_names_exactly_one_generated_mutant(
    built: tuple[Path, Catalog], built386: tuple[Path, Catalog]
) -> None:
    """survivors.json: each entry, on its platform, is one mutant of that platform's catalog, and says why."""
    entries = json.loads(systematic.SURVIVORS.read_text())["survivors"]
    assert entries
    for _, catalog in (built, built386):
        known = systematic.classifications(systematic.SURVIVORS, catalog.arch)
        named = systematic.load_classification(catalog)
        assert len(named) == len(known), f"{catalog.arch}: an entry names no generated mutant"
        assert all(e["class"] in ("equivalent", "blind spot", "test-only") and e["why"] for e in named.values())
    assert sum(len(systematic.classifications(systematic.SURVIVORS, a)) for a in ("amd64", "386")) == len(entries)
