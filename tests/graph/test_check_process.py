"""The check of an import in a forked process (``dtgraph.graph.check_process``): its answers, its
failures, and an import that takes that way end to end."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dtgraph.graph import check_process
from dtgraph.graph.bulk import ImportReport, import_graph
from dtgraph.graph.check_process import CheckProcess
from dtgraph.graph.errors import GraphIssue
from dtgraph.stores.errors import StoreError
from dtgraph.stores.memory import MemoryStore
from tests.graph.conftest import BIG_PUMP, PUMP, SITE
from tests.graph.test_bulk import BAD, _write_case, load_base, rel, sections, state, twin, write_lines
from tests.test_cli_graph import run_cli

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="imports check aside on Linux only")


def test_the_report_comes_back_from_the_child() -> None:
    issue = GraphIssue("invalidValue", "not a number", "/speed", line=7)

    def check(tell: object) -> ImportReport:
        return ImportReport(twins=3, issues=[issue], check_seconds=1.5)

    with CheckProcess(check) as child:
        report = child.report()
    assert (report.twins, report.issues, report.check_seconds) == (3, [issue], 1.5)


def test_a_problem_is_told_before_the_report() -> None:
    read, write = os.pipe()

    def check(tell: object) -> ImportReport:
        assert callable(tell)
        tell()
        tell()  # once only
        os.read(read, 1)  # the parent has seen the problem: finish
        return ImportReport(issues=[GraphIssue("x", "y", "")])

    with CheckProcess(check) as child:
        deadline = time.monotonic() + 30
        while not child.problem_found():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        os.write(write, b".")
        assert not child.report().ok
        assert child.problem_found()


def test_a_check_that_fails_says_why() -> None:
    def check(tell: object) -> ImportReport:
        raise ValueError("the check broke")

    with CheckProcess(check) as child, pytest.raises(StoreError, match="ValueError: the check broke"):
        child.report()


def test_a_child_that_dies_is_an_error_not_a_clean_report() -> None:
    def check(tell: object) -> ImportReport:
        os._exit(3)

    with CheckProcess(check) as child, pytest.raises(StoreError, match="status 3"):
        child.report()


def test_leaving_the_block_stops_a_running_child_and_reaps_it() -> None:
    def check(tell: object) -> ImportReport:
        time.sleep(60)
        return ImportReport()

    started = time.monotonic()
    with CheckProcess(check) as child:
        pid = child._pid
    assert time.monotonic() - started < 30
    with pytest.raises(ChildProcessError):  # reaped: no zombie left
        os.waitpid(pid, 0)


def test_small_files_and_processes_with_threads_do_not_fork(tmp_path: Path) -> None:
    small = tmp_path / "small.ndjson"
    small.write_bytes(b"{}\n")
    big = tmp_path / "big.ndjson"
    big.write_bytes(b" " * check_process.FORK_BYTES)
    assert not check_process.usable(small)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not check_process.usable(big)
    finally:
        stop.set()
        other.join()


@pytest.fixture
def forking(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(check_process, "usable", lambda _path: True)


@pytest.mark.usefixtures("forking")
@pytest.mark.parametrize("chunk", [1, 10_000])
def test_a_bad_file_checked_aside_finds_what_a_dry_run_finds_and_writes_nothing(
    tmp_path: Path, chunk: int
) -> None:
    store = MemoryStore(tmp_path / "data", fsync=False)
    load_base(store, tmp_path)
    journal = store._journal
    assert journal is not None
    before, journal_end = state(store), journal.end
    for case in BAD.values():
        lines, _code, _line = case()
        path = _write_case(tmp_path / "bad.ndjson", lines)
        dry = import_graph(path, store, dry_run=True)
        report = import_graph(path, store, chunk=chunk)
        assert report.checked_aside and not report.ok and not report.written
        assert report.issues == dry.issues
        assert (report.models, report.twins, report.relationships) == (
            dry.models,
            dry.twins,
            dry.relationships,
        )
        assert state(store) == before and journal.end == journal_end
    store.close()


@pytest.mark.usefixtures("forking")
def test_a_sound_file_checked_aside_loads_as_in_one_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = sections(twins=[twin(f"q{i}", speed=i) for i in range(25)])
    path = write_lines(tmp_path / "more.ndjson", lines)
    stores = []
    for aside in (True, False):
        monkeypatch.setattr(check_process, "usable", lambda _path, aside=aside: aside)
        store = MemoryStore(tmp_path / f"data-{aside}", fsync=False)
        load_base(store, tmp_path)
        report = import_graph(path, store, chunk=4)
        assert report.ok and report.written and report.checked_aside is aside
        assert report.twins == 25 and report.seconds >= report.write_seconds
        stores.append(store)
    assert state(stores[0])[:2] == state(stores[1])[:2]  # not the journals: their times differ
    for store in stores:
        store.close()


def test_the_command_checks_a_large_file_aside_and_rejects_a_bad_one_whole(tmp_path: Path) -> None:
    demo = tmp_path / "demo.ndjson"
    twins = 25_000
    assert run_cli("demo", "--twins", str(twins), "-o", demo).returncode == 0
    assert demo.stat().st_size >= check_process.FORK_BYTES
    bad = tmp_path / "bad.ndjson"
    bad.write_bytes(
        demo.read_bytes()
        + json.dumps(
            {"$dtId": "site-0", "$relationshipId": "x", "$targetId": "ghost", "$relationshipName": "partOf"}
        ).encode()
        + b"\n"
    )
    store = f"memory:{tmp_path / 'g'}"
    rejected = run_cli("import", bad, "--store", store, "--json")
    assert rejected.returncode == 1, rejected.stderr
    report = json.loads(rejected.stdout)
    assert report["checkedAside"] and not report["written"]
    last = len(bad.read_bytes().splitlines())
    assert ("missingTwin", last) in [(i["code"], i["line"]) for i in report["issues"]]
    with MemoryStore(tmp_path / "g") as opened:
        assert opened.counts() == {"models": 0, "twins": 0, "relationships": 0}
    loaded = run_cli("import", demo, "--store", store, "--json")
    assert loaded.returncode == 0, loaded.stderr
    report = json.loads(loaded.stdout)
    assert report["checkedAside"] and report["written"] and report["twins"] == twins
    with MemoryStore(tmp_path / "g") as opened:
        assert opened.counts()["twins"] == twins


_IDS = st.sampled_from(["p0", "p1", "p3", "s1", "n0", "n1", "n2", "ghost"])
_TWINS = st.builds(
    lambda twin_id, model, speed: twin(twin_id, model, **({} if speed is None else {"speed": speed})),
    st.sampled_from(["p1", "n0", "n1", "n2"]),
    st.sampled_from([PUMP, BIG_PUMP, SITE, "dtmi:test:Nothing;1"]),
    st.one_of(st.none(), st.integers(-5, 5), st.just("fast")),
)
_RELS = st.builds(
    rel,
    st.sampled_from(["f1", "f9", "g"]),
    _IDS,
    _IDS,
    st.sampled_from(["feeds", "locatedIn", "ownedBy"]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(twins=st.lists(_TWINS, max_size=5), rels=st.lists(_RELS, max_size=6))
def test_checking_aside_gives_the_answers_and_the_graph_of_one_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, twins: list[Any], rels: list[Any]
) -> None:
    """Any file, sound or not, into a store holding a graph already: checked by a forked process
    while written, or checked and written in one pass, the report and the graph after are the same."""
    path = write_lines(tmp_path / "f.ndjson", sections(twins=twins, rels=rels))
    outcomes = []
    for aside in (True, False):
        monkeypatch.setattr(check_process, "usable", lambda _path, aside=aside: aside)
        store = MemoryStore(fsync=False)
        load_base(store, tmp_path)
        report = import_graph(path, store, chunk=2)
        assert report.checked_aside is aside
        outcomes.append((report.issues, report.written, report.twins, report.relationships, state(store)[:2]))
    event("sound" if outcomes[0][1] else "rejected")
    assert outcomes[0] == outcomes[1]
