"""The document cache: a query text seen before is neither parsed nor validated again, and the limits
still refuse every abusive document each time it is sent."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from graphql import DocumentNode
from strawberry.types import ExecutionResult

from dtgraph.api import ApiConfig, make_context
from dtgraph.api.documents import Documents
from dtgraph.api.schema import DtSchema
from dtgraph.graph.service import TwinGraph
from dtgraph.stores.memory import MemoryStore
from tests.api.conftest import codes, data
from tests.graph.conftest import PUMP, documents

QUERY = "query One($id: ID!) { twin(id: $id) { id model } }"


@pytest.fixture
def graph() -> Iterator[TwinGraph]:
    store = MemoryStore()
    graph = TwinGraph(store)
    graph.upload_models(documents())
    graph.create_twins(
        [{"$dtId": f"p{i}", "$metadata": {"$model": PUMP}, "motor": {"$metadata": {}}} for i in range(3)]
    )
    try:
        yield graph
    finally:
        store.close()


def run(schema: DtSchema, graph: TwinGraph, query: str, **variables: Any) -> ExecutionResult:
    ctx = make_context(graph, "reader")
    return asyncio.run(schema.execute(query, variable_values=variables or None, context_value=ctx))


def cache_of(schema: DtSchema) -> Documents:
    return schema.documents


def test_a_query_sent_again_reuses_its_document_and_skips_validation(
    graph: TwinGraph, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = DtSchema(graph.models, ApiConfig(max_query_depth=5, max_aliases=3))
    assert data(run(schema, graph, QUERY, id="p0")) == {"twin": {"id": "p0", "model": PUMP}}
    validated: list[DocumentNode] = []
    import strawberry.schema.schema as strawberry_schema

    original = strawberry_schema.validate_document

    def counting(schema: Any, document: DocumentNode, rules: Any) -> Any:
        validated.append(document)
        return original(schema, document, rules)

    monkeypatch.setattr(strawberry_schema, "validate_document", counting)
    for i in (1, 2):  # other variables, the same text: neither parsed nor validated
        assert data(run(schema, graph, QUERY, id=f"p{i}")) == {"twin": {"id": f"p{i}", "model": PUMP}}
    assert validated == []
    assert len(cache_of(schema)) == 1
    other = '{ twin(id: "p0") { id } }'
    assert data(run(schema, graph, other)) == {"twin": {"id": "p0"}}
    assert len(validated) == 1 and len(cache_of(schema)) == 2


def test_refused_documents_are_refused_every_time(graph: TwinGraph) -> None:
    schema = DtSchema(graph.models, ApiConfig(max_query_depth=4, max_aliases=2))
    deep = '{ twin(id: "p0") { ' + "related { " * 6 + "id" + " }" * 6 + " } }"
    aliased = '{ a: twin(id: "p0") { id } b: twin(id: "p1") { id } c: twin(id: "p2") { id } }'
    wrong = "{ twin(id: 1) { nosuchfield } }"
    broken = "{ twin(id: "
    for _ in range(3):
        for query in (deep, aliased, wrong, broken):
            assert codes(run(schema, graph, query)) == ["GRAPHQL_VALIDATION_FAILED"]
    assert data(run(schema, graph, '{ a: twin(id: "p0") { id } b: twin(id: "p1") { id } }'))


def test_the_cache_is_bounded() -> None:
    cache = Documents(size=2)
    for i in range(5):
        cache.put((f"q{i}", ()), object())  # type: ignore[arg-type]
    assert len(cache) == 2
    assert cache.get(("q0", ())) is None and cache.get(("q4", ())) is not None


def test_each_schema_has_its_own_cache(graph: TwinGraph) -> None:
    first = DtSchema(graph.models)
    second = DtSchema(graph.models)
    run(first, graph, QUERY, id="p0")
    assert len(cache_of(first)) == 1 and len(cache_of(second)) == 0
