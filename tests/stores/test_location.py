"""Parsing of the --store option."""

from __future__ import annotations

from pathlib import Path

import pytest

from dtgraph.stores import StoreError
from dtgraph.stores.location import DEFAULT_LOCATION, StoreLocation, open_store
from dtgraph.stores.memory import MemoryStore


def test_default_is_the_embedded_store_in_a_data_directory() -> None:
    loc = StoreLocation.parse(None, environ={})
    assert (loc.kind, str(loc)) == ("memory", DEFAULT_LOCATION)


def test_environment_supplies_store_and_credentials() -> None:
    env = {
        "DTGRAPH_STORE": "neo4j+s://x.databases.neo4j.io",
        "DTGRAPH_NEO4J_USER": "u",
        "DTGRAPH_NEO4J_PASSWORD": "p",
        "DTGRAPH_NEO4J_DATABASE": "graph",
    }
    loc = StoreLocation.parse(None, environ=env)
    assert (loc.kind, loc.target, loc.user, loc.password, loc.database) == (
        "neo4j",
        "neo4j+s://x.databases.neo4j.io",
        "u",
        "p",
        "graph",
    )
    assert StoreLocation.parse("bolt://h:7687", user="o", environ=env).user == "o"


def test_unknown_scheme_says_what_is_accepted() -> None:
    with pytest.raises(StoreError, match="memory:DIR"):
        StoreLocation.parse("postgres://db", environ={})


def test_memory_location_opens_a_journalled_store(tmp_path: Path) -> None:
    store = open_store(StoreLocation.parse(f"memory:{tmp_path / 'data'}", environ={}))
    assert isinstance(store, MemoryStore)
    store.close()
