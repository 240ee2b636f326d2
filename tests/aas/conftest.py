"""Fixtures of the AAS tests: the sample packages of aas/, and a ``store`` of each kind (memory, Neo4j)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dtgraph.stores.base import Store
from dtgraph.stores.memory import MemoryStore
from tests.conftest import REPO_ROOT, empty_store

SAMPLES = REPO_ROOT / "aas"
PUMP = SAMPLES / "acme-pump.aasx"
MOTOR = SAMPLES / "acme-motor.json"


@pytest.fixture(params=["memory", "neo4j"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store of each kind; Neo4j is the session's real server, wiped first."""
    made = empty_store(request.param, request, tmp_path / "data")
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[MemoryStore]:
    store = MemoryStore(tmp_path / "memory", fsync=False)
    yield store
    store.close()
