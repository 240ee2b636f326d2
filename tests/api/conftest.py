"""Fixtures of the GraphQL schema tests: graphs over both stores, a request runner, a counting store.

- ``demo``: the 2,000-twin demo enterprise imported with ``import_graph``, once per module and store
  (memory, then a real Neo4j); tests that use it only read.
- ``graph``: the small model set of ``tests/graph/conftest.py`` in an empty store of each kind, for
  tests that write.
- ``execute(schema, query, role=..., **variables)``: runs one request as a role through
  ``schema.execute`` (the HTTP app is tested elsewhere) and returns the ExecutionResult.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from strawberry.types import ExecutionResult

from dtgraph.api import ApiConfig, SchemaHolder, make_context
from dtgraph.demo import write_ndjson
from dtgraph.graph.bulk import import_graph
from dtgraph.graph.records import Relationship, RelationshipKey, Twin
from dtgraph.graph.service import TwinGraph
from dtgraph.stores import base
from dtgraph.stores.base import Batch, Capabilities, Change, Direction, Filter, Page, Step, Store
from tests.conftest import empty_store
from tests.graph.conftest import documents

DEMO_TWINS = 2000


def demo_file(folder: Path) -> Path:
    path = folder / "demo.ndjson"
    with path.open("w", encoding="utf-8") as f:
        write_ndjson(f, twins=DEMO_TWINS, seed=7)
    return path


@dataclass
class Api:
    graph: TwinGraph
    holder: SchemaHolder

    @property
    def store(self) -> Store:
        return self.graph.store

    def run(self, query: str, role: str | None = "admin", **variables: Any) -> ExecutionResult:
        return execute(self.holder, query, self.graph, role=role, **variables)


def execute(
    holder: SchemaHolder,
    query: str,
    graph: TwinGraph,
    role: str | None = "admin",
    *,
    on_loop: bool = False,
    **variables: Any,
) -> ExecutionResult:
    """``query`` in a fresh context; ``on_loop``: with the store's async reads where it has them, as
    the server uses them."""

    async def run() -> ExecutionResult:
        ctx = make_context(graph, role)
        reads = graph.store.open_async_reads() if on_loop else None
        if reads is not None:
            ctx.loaders.reads = reads
        try:
            return await holder.schema.execute(query, variable_values=variables or None, context_value=ctx)
        finally:
            if reads is not None:
                await reads.aclose()

    return asyncio.run(run())


def data(result: ExecutionResult) -> Any:
    assert result.errors is None, [(e.message, e.extensions) for e in result.errors]
    return result.data


def codes(result: ExecutionResult) -> list[str]:
    assert result.errors, f"expected errors, got data {result.data}"
    return [str((e.extensions or {}).get("code")) for e in result.errors]


@pytest.fixture(scope="module", params=["memory", "neo4j"])
def demo(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The demo enterprise (2,000 twins) in each store; read-only."""
    folder = tmp_path_factory.mktemp("demo")
    store = empty_store(request.param, request, folder / "data")
    report = import_graph(demo_file(folder), store)
    assert report.ok and report.written, report.as_json()
    graph = TwinGraph(store)
    try:
        yield Api(graph, SchemaHolder(graph, ApiConfig(max_page_size=1000)))
    finally:
        store.close()


@pytest.fixture(params=["memory", "neo4j"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    """The small test model set in an empty store of each kind."""
    store = empty_store(request.param, request, tmp_path / "data")
    graph = TwinGraph(store)
    graph.upload_models(documents())
    try:
        yield Api(graph, SchemaHolder(graph))
    finally:
        store.close()


def state(store: Store) -> tuple[dict[str, int], list[Any], list[dict[str, Any]]]:
    """Everything a store holds, comparable before and after a request."""
    items = sorted((type(item).__name__, repr(item.to_json())) for item in store.snapshot())
    return store.counts(), items, store.model_documents()


class CountingStore(Store):
    """A real store behind a proxy that counts the calls of each method (not a mock: it delegates)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.calls: dict[str, int] = {}
        self.on_loop = 0  # of the calls, those made through the async reads

    def _count(self, name: str) -> None:
        self.calls[name] = self.calls.get(name, 0) + 1

    def _count_on_loop(self, name: str) -> None:
        self._count(name)
        self.on_loop += 1

    def reset(self) -> None:
        self.calls.clear()
        self.on_loop = 0

    @property
    def capabilities(self) -> Capabilities:
        return self.inner.capabilities

    def apply(self, batch: Batch) -> None:
        self._count("apply")
        self.inner.apply(batch)

    def model_documents(self) -> list[dict[str, Any]]:
        self._count("model_documents")
        return self.inner.model_documents()

    def models_version(self) -> int | None:
        self._count("models_version")
        return self.inner.models_version()

    def get_twins(self, ids: Iterable[str]) -> dict[str, Twin]:
        self._count("get_twins")
        return self.inner.get_twins(ids)

    def get_relationships(self, keys: Iterable[RelationshipKey]) -> dict[RelationshipKey, Relationship]:
        self._count("get_relationships")
        return self.inner.get_relationships(keys)

    def relationships(
        self, twin_ids: Iterable[str], *, name: str | None = None, direction: Direction = "out"
    ) -> dict[str, list[Relationship]]:
        self._count("relationships")
        return self.inner.relationships(twin_ids, name=name, direction=direction)

    def neighbours(
        self, twin_ids: Iterable[str], *, name: str | None = None, direction: Direction = "out"
    ) -> dict[str, list[tuple[Relationship, Twin]]]:
        self._count("neighbours")
        return self.inner.neighbours(twin_ids, name=name, direction=direction)

    def neighbours_along(
        self, twin_ids: Iterable[str], steps: Sequence[Step]
    ) -> list[dict[str, list[tuple[Relationship, Twin]]]]:
        self._count("neighbours_along")
        return self.inner.neighbours_along(twin_ids, steps)

    def twins_along(
        self, twin_ids: Iterable[str], steps: Sequence[Step]
    ) -> tuple[dict[str, Twin], list[dict[str, list[tuple[Relationship, Twin]]]]]:
        self._count("twins_along")
        return self.inner.twins_along(twin_ids, steps)

    def query_twins(
        self,
        model: str | None = None,
        *,
        include_subtypes: bool = True,
        where: Sequence[Filter] = (),
        limit: int = 100,
        after: str | None = None,
    ) -> Page:
        self._count("query_twins")
        return self.inner.query_twins(
            model, include_subtypes=include_subtypes, where=where, limit=limit, after=after
        )

    def snapshot(self) -> Iterator[Twin | Relationship]:
        self._count("snapshot")
        return self.inner.snapshot()

    def counts(self) -> dict[str, int]:
        self._count("counts")
        return self.inner.counts()

    def history(self, twin_id: str) -> list[Change]:
        self._count("history")
        return self.inner.history(twin_id)

    def as_of(self, time: datetime) -> Store:
        self._count("as_of")
        return self.inner.as_of(time)

    def close(self) -> None:
        self.inner.close()

    def open_async_reads(self) -> base.AsyncReads | None:
        reads = self.inner.open_async_reads()
        return None if reads is None else _CountingAsyncReads(reads, self._count_on_loop)


class _CountingAsyncReads:
    """The inner store's async reads, counted under the names of the blocking methods they stand for."""

    def __init__(self, inner: base.AsyncReads, count: Callable[[str], None]) -> None:
        self.inner = inner
        self._count = count

    async def get_twins(self, ids: Iterable[str]) -> dict[str, Twin]:
        self._count("get_twins")
        return await self.inner.get_twins(ids)

    async def neighbours(
        self, twin_ids: Iterable[str], *, name: str | None = None, direction: Direction = "out"
    ) -> dict[str, list[tuple[Relationship, Twin]]]:
        self._count("neighbours")
        return await self.inner.neighbours(twin_ids, name=name, direction=direction)

    async def neighbours_along(self, twin_ids: Iterable[str], steps: Sequence[Step]) -> base.Levels:
        self._count("neighbours_along")
        return await self.inner.neighbours_along(twin_ids, steps)

    async def twins_along(
        self, twin_ids: Iterable[str], steps: Sequence[Step]
    ) -> tuple[dict[str, Twin], base.Levels]:
        self._count("twins_along")
        return await self.inner.twins_along(twin_ids, steps)

    async def aclose(self) -> None:
        await self.inner.aclose()


def ndjson_upload(text: str, name: str = "import.ndjson") -> io.BytesIO:
    upload = io.BytesIO(text.encode("utf-8"))
    upload.name = name
    return upload
