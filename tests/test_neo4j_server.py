"""The session's Neo4j really runs: Community 5.26 over Bolt, with the credentials the fixtures give."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import neo4j
import pytest

from tests.neo4j_server import SCRIPT, _free_port


@pytest.fixture
def driver(neo4j_uri, neo4j_auth):
    with neo4j.GraphDatabase.driver(neo4j_uri, auth=neo4j_auth) as driver:
        yield driver


def test_is_neo4j_community_5_26(driver):
    records, _, _ = driver.execute_query("CALL dbms.components() YIELD name, versions, edition")
    (component,) = records
    assert component["name"] == "Neo4j Kernel"
    assert component["versions"][0].startswith("5.26."), component["versions"]
    assert component["edition"] == "community"


def test_writes_and_reads_back_a_node(driver):
    key = str(uuid.uuid4())
    driver.execute_query(
        "CREATE (:DtgraphServerCheck {key: $key, value: $value})", key=key, value=21.5, database_="neo4j"
    )
    try:
        records, _, _ = driver.execute_query(
            "MATCH (n:DtgraphServerCheck {key: $key}) RETURN n.value AS value", key=key, database_="neo4j"
        )
        assert [r["value"] for r in records] == [21.5]
    finally:
        driver.execute_query("MATCH (n:DtgraphServerCheck {key: $key}) DELETE n", key=key, database_="neo4j")


def test_authentication_is_enforced(neo4j_uri, neo4j_auth):
    if neo4j_auth is None:
        pytest.fail("this check needs a server with authentication (unset DTGRAPH_TEST_NEO4J_AUTH=none)")
    user, _ = neo4j_auth
    with (
        neo4j.GraphDatabase.driver(neo4j_uri, auth=(user, "not-the-password")) as driver,
        pytest.raises(neo4j.exceptions.AuthError),
    ):
        driver.verify_connectivity()


def test_a_server_stops_when_the_process_that_owns_it_ends(tmp_path):
    # the tests start their servers with --owner <the test process>: a run killed before its teardown
    # leaves no Neo4j behind
    owner = subprocess.Popen(["sleep", "600"])
    run = tmp_path / "run"
    try:
        started = subprocess.run(
            [
                *(str(SCRIPT), "start", "--port", str(_free_port()), "--data", str(tmp_path / "data")),
                *("--run", str(run), "--heap", "256m", "--pagecache", "64m", "--owner", str(owner.pid)),
            ],
            env=_ENV,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert started.returncode == 0, started.stdout + started.stderr
        assert _status(run) == 0
    finally:
        owner.kill()
        owner.wait()
    for _ in range(600):  # the launcher notices within a second or so; a minute at most
        if _status(run) == 3:
            break
        time.sleep(0.1)
    else:
        subprocess.run([str(SCRIPT), "stop", "--run", str(run)], env=_ENV, capture_output=True, timeout=120)
        pytest.fail("the server did not stop after its owner ended")
    assert "owner process" in (run / "neo4j.log").read_text()


def _status(run: Path) -> int:
    command = [str(SCRIPT), "status", "--run", str(run)]
    return subprocess.run(command, env=_ENV, capture_output=True, timeout=60).returncode


# a developer's own settings for their server must not reach this one
_ENV = {k: v for k, v in os.environ.items() if not k.startswith("DTGRAPH_NEO4J_")}
