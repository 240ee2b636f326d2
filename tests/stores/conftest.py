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
from tests.conftest import empty_store


@pytest.fixture(params=["memory", "neo4j"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store of each kind."""
    made = empty_store(request.param, request, tmp_path / "data")
    try:
        yield made
    finally:
        made.close()
