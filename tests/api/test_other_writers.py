"""Models that another process changes in a shared Neo4j database: the graph validates against them and
the server's schema follows them.

Two store objects over the one real Neo4j database stand for two processes (two servers, or a server and
``dtgraph import``): each has its own driver, and nothing passes between them but the database.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from dtgraph.api.app import create_app, running
from dtgraph.api.config import load_settings
from dtgraph.graph.bulk import import_graph
from dtgraph.graph.errors import GraphValidationError
from dtgraph.graph.records import Twin
from dtgraph.graph.service import TwinGraph
from dtgraph.stores.base import Batch
from dtgraph.stores.errors import StoreUnavailable
from dtgraph.stores.memory import MemoryStore
from dtgraph.stores.neo4j import Neo4jStore
from tests.api.conftest import CountingStore
from tests.conftest import empty_store
from tests.graph.conftest import ASSET, documents, interface, prop

VALVE = "dtmi:test:Valve;1"
GATE_VALVE = "dtmi:test:GateValve;1"


def valve() -> dict[str, Any]:
    return interface(VALVE, prop("opening", "double"), extends=ASSET)


def gate_valve() -> dict[str, Any]:
    return interface(GATE_VALVE, prop("turns", "integer"), extends=VALVE)


@pytest.fixture
def two(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Neo4jStore, Neo4jStore]]:
    """The test models in the wiped database, seen through two stores (two processes)."""
    first = empty_store("neo4j", request, tmp_path)
    assert isinstance(first, Neo4jStore)
    TwinGraph(first).upload_models(documents())
    second = Neo4jStore(request.getfixturevalue("neo4j_uri"), auth=request.getfixturevalue("neo4j_auth"))
    try:
        yield first, second
    finally:
        second.close()
        first.close()


def test_the_models_version_counts_each_change_of_models(
    two: tuple[Neo4jStore, Neo4jStore], tmp_path: Path
) -> None:
    store, other = two
    start = store.models_version()
    store.apply(Batch(models=[valve()]))
    assert store.models_version() == other.models_version() == start + 1
    store.apply(Batch(twins=[Twin("v1", VALVE, {"opening": 0.5})]))  # twins: no change of models
    assert store.models_version() == start + 1
    store.apply(Batch(models=[valve(), gate_valve()]))  # a replacement counts too
    assert store.models_version() == start + 2
    store.apply(Batch(delete_twins=["v1"], delete_models=[GATE_VALVE]))
    assert store.models_version() == start + 3
    ndjson = tmp_path / "import.ndjson"  # an import with models (the command line's)
    lines = [
        {"Section": "Header"},
        {"fileVersion": "1.0.0", "author": "tests", "organization": "t"},
        {"Section": "Models"},
        gate_valve(),
    ]
    ndjson.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    report = import_graph(ndjson, other)
    assert report.ok, report.as_json()
    assert store.models_version() == start + 4
    store.wipe()  # the models are gone: a change too
    assert store.models_version() == start + 5


def test_a_memory_store_has_no_other_writer(tmp_path: Path) -> None:
    with MemoryStore(tmp_path / "data", fsync=False) as store:
        assert store.models_version() is None
        graph = TwinGraph(store)
        graph.upload_models(documents())
        assert graph.refresh_models() is False


def test_a_graph_validates_against_models_another_process_wrote(two: tuple[Neo4jStore, Neo4jStore]) -> None:
    first, second = (TwinGraph(store) for store in two)
    assert VALVE not in second.models.interfaces  # read before the other process wrote
    first.upload_models([valve()])
    # a twin of the new model, then a model that extends it: valid only against the models as they are
    second.create_twins([Twin("v1", VALVE, {"opening": 0.25})])
    second.upload_models([gate_valve()])
    assert {VALVE, GATE_VALVE} <= second.models.interfaces.keys()
    assert second.refresh_models() is False  # its own write: nothing to read again
    assert first.refresh_models() is True  # the other's write
    assert GATE_VALVE in first.models.interfaces
    assert first.refresh_models() is False
    # deleted elsewhere: a twin of it is refused here
    second.delete_models([GATE_VALVE])
    with pytest.raises(GraphValidationError) as refused:
        first.create_twins([Twin("g1", GATE_VALVE, {})])
    assert "unknownModel" in {issue.code for issue in refused.value.issues}


def test_the_server_follows_models_another_process_changed(two: tuple[Neo4jStore, Neo4jStore]) -> None:
    served, writer = two
    settings = load_settings(anonymous_role="reader", models_poll_seconds=0.1)
    query = f'{{ model(id: "{VALVE}") {{ id }} twin(id: "v1") {{ __typename }} }}'

    def answer(url: str) -> Any:
        response = httpx.post(f"{url}/graphql", json={"query": query})
        assert response.status_code == 200 and "errors" not in response.json(), response.text
        return response.json()["data"]

    with running(create_app(settings, TwinGraph(served))) as url:
        assert answer(url) == {"model": None, "twin": None}
        other = TwinGraph(writer)
        other.upload_models([valve()])
        other.create_twins([Twin("v1", VALVE, {"opening": 0.25})])
        deadline = time.monotonic() + 10
        while (seen := answer(url))["model"] is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert seen["model"] == {"id": VALVE}
        assert seen["twin"]["__typename"] not in ("UntypedTwin", None)  # a typed twin of the new model


class Away(CountingStore):
    """A real store whose models' version cannot be read while ``away`` (Neo4j restarting)."""

    away = False

    def models_version(self) -> int | None:
        if self.away:
            raise StoreUnavailable("Neo4j is restarting")
        return super().models_version()


def test_a_store_away_for_a_while_is_logged_once(
    two: tuple[Neo4jStore, Neo4jStore], caplog: pytest.LogCaptureFixture
) -> None:
    served, writer = two
    store = Away(served)
    settings = load_settings(anonymous_role="reader", models_poll_seconds=0.05)
    query = f'{{ model(id: "{VALVE}") {{ id }} }}'

    def seen(url: str) -> bool:
        response = httpx.post(f"{url}/graphql", json={"query": query})
        return bool(response.json()["data"]["model"])

    def logged() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == "dtgraph.api.app"]

    with (
        caplog.at_level("INFO", logger="dtgraph.api.app"),
        running(create_app(settings, TwinGraph(store))) as url,
    ):
        store.away = True
        polls = store.calls.get("models_version", 0)
        deadline = time.monotonic() + 10
        while store.calls.get("models_version", 0) < polls + 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert logged() == ["cannot look for models changed by other processes: Neo4j is restarting"]
        TwinGraph(writer).upload_models([valve()])
        store.away = False
        while not seen(url) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert seen(url)
        assert logged()[1:] == [
            "looking for models changed by other processes again",
            f"models changed by another process: {len(documents()) + 1} interfaces",
        ]
