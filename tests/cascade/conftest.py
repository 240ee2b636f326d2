"""Fixtures of the cascade tests: the demo enterprise loaded into each store (Neo4j really runs)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dtgraph.demo import write_ndjson
from dtgraph.graph.bulk import import_graph
from dtgraph.stores.base import Store
from tests.conftest import empty_store

DEMO_TWINS = 1500


@pytest.fixture(scope="session")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.ndjson"
    with path.open("w", encoding="utf-8") as out:
        write_ndjson(out, twins=DEMO_TWINS, seed=7)
    return path


@pytest.fixture(params=["memory", "neo4j"])
def demo_store(request: pytest.FixtureRequest, tmp_path: Path, demo_file: Path) -> Iterator[Store]:
    """The demo enterprise in an empty store of each kind."""
    made = empty_store(request.param, request, tmp_path / "data")
    try:
        report = import_graph(demo_file, made)
        assert report.ok, report.issues[:5]
        yield made
    finally:
        made.close()
