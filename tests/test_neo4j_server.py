"""The session's Neo4j really runs: Community 5.26 over Bolt, with the credentials the fixtures give."""

from __future__ import annotations

import uuid

import neo4j
import pytest


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
