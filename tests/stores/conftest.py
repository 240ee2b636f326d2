"""The ``store`` fixture: every contract test runs against each store, Neo4j included.

The Neo4j parameter uses the session's real server (``neo4j_uri``, ``neo4j_auth`` from
``tests/conftest.py``) and wipes the database first. If the server cannot start, those tests fail:
they never skip. ``-k memory`` selects the memory store alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dtgraph.stores.base import Store
from dtgraph.stores.memory import MemoryStore


@pytest.fixture(params=["memory", "neo4j"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store of each kind."""
    made: Store
    if request.param == "memory":
        made = MemoryStore(tmp_path / "data", fsync=False)
    else:
        from dtgraph.stores.neo4j import Neo4jStore

        uri: str = request.getfixturevalue("neo4j_uri")
        auth: tuple[str, str] | None = request.getfixturevalue("neo4j_auth")
        neo4j = Neo4jStore(uri, auth=auth, database=None)  # the user's home database
        neo4j.wipe()
        made = neo4j
    try:
        yield made
    finally:
        made.close()
