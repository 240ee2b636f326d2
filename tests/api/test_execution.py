"""A request leaves no reference cycle: reference counting frees it when it is answered.

graphql-core's executor, the request's data loaders and the tracebacks of its errors used to hold
themselves, so every request's reads lived until the cycle collector found them
(:mod:`dtgraph.api.execution`, ``errors.drop_frames``). The app runs here in this process (httpx over
ASGI), on both stores, with the collector paused and told to keep what it finds. After lookups,
traversals, typed lists and errors (a resolver's, a variable's), through strawberry's path and the
prepared one (each text validated before: graphql-core's validation makes cycles, once for each
text), nothing of the server's (the API, the graph's records, graphql-core, strawberry) may be
garbage in a cycle. A cycle made on purpose among the requests shows that the check sees one.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from graphql import (
    GraphQLField,
    GraphQLList,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLString,
    execute,
    parse,
)

from dtgraph.api.app import create_app
from dtgraph.api.config import load_settings
from dtgraph.api.execution import AcyclicExecutionContext
from dtgraph.graph.records import Twin
from dtgraph.graph.service import TwinGraph
from tests.api.conftest import Api
from tests.api.test_prepared import HOPS, MACHINES, TWIN

SERVER_MODULES = ("dtgraph.api", "dtgraph.graph", "graphql", "strawberry")


@contextmanager
def cyclic_garbage() -> Iterator[list[Any]]:
    """The objects the cycle collector finds unreachable among those made in the block."""
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    found: list[Any] = []
    try:
        yield found
        gc.collect()
        found.extend(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if enabled:
            gc.enable()


def of_server(objects: list[Any]) -> list[str]:
    return sorted({type(o).__module__ + "." + type(o).__qualname__ for o in objects if _of_server(o)})


def _of_server(o: object) -> bool:
    return type(o).__module__.startswith(SERVER_MODULES)


@pytest.mark.parametrize("prepared", [True, False], ids=["prepared", "strawberry"])
def test_requests_leave_no_cycle(demo: Api, prepared: bool) -> None:
    store = demo.store
    twin_id = store.query_twins(limit=1).twins[0].id
    line = store.query_twins("dtmi:dtgraph:Line;1", limit=1).twins[0].id
    requests = [
        (TWIN, {"id": twin_id}),
        (HOPS, {"id": line}),
        (MACHINES, {"s": "operational"}),
        (TWIN, {"id": None}),  # errors: a variable that does not coerce,
        ("query Many { twins(first: 100000) { edges { node { id } } } }", {}),  # an ApiError
    ]
    # no look for other processes' models: its reads on a timer are not the requests'
    settings = load_settings(anonymous_role="reader", models_poll_seconds=0)
    app = create_app(settings, TwinGraph(store), prepared=prepared)

    async def send(client: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> None:
        response = await client.post("/graphql", json={"query": query, "variables": variables})
        assert response.status_code == 200, response.text
        failed = None in variables.values() or "Many" in query
        assert ("errors" in response.json()) == failed, response.text

    async def run() -> tuple[list[Any], list[Any]]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://dtgraph") as client:
                for query, variables in requests:  # validated once (graphql-core's validation
                    await send(client, query, variables)  # makes cycles, once for each text)
                with cyclic_garbage() as answered:
                    for _ in range(2):
                        for query, variables in requests:
                            await send(client, query, variables)
                with cyclic_garbage() as with_cycle:
                    await send(client, *requests[1])
                    cycle: list[Any] = [Twin("dtmi:example:made;1", "dtmi:dtgraph:Line;1", {})]
                    cycle.append(cycle)
                    del cycle
        return answered, with_cycle

    answered, with_cycle = asyncio.run(run())
    assert of_server(answered) == []
    assert of_server(with_cycle) == ["dtgraph.graph.records.Twin"]


def test_serving_collects_the_young_generation_rarely(demo: Api) -> None:
    before = gc.get_threshold()
    app = create_app(load_settings(anonymous_role="reader"), TwinGraph(demo.store))

    async def serving() -> tuple[int, int, int]:
        async with app.router.lifespan_context(app):
            return gc.get_threshold()

    assert asyncio.run(serving()) == (max(before[0], 10_000), *before[1:])
    assert gc.get_threshold() == before


def test_resolver_helpers_work_during_execution_only() -> None:
    helpers: list[Any] = []

    async def words(_root: object, info: GraphQLResolveInfo) -> list[str]:
        async def word(text: str) -> str:
            await asyncio.sleep(0)
            return text

        helpers.append(info.async_helpers)
        info.async_helpers.track([word("tracked")])
        gathered: list[str] = await info.async_helpers.gather([word("a"), word("b")])
        return gathered

    query = GraphQLObjectType("Query", {"words": GraphQLField(GraphQLList(GraphQLString), resolve=words)})
    schema = GraphQLSchema(query)

    async def run() -> Any:
        result = execute(schema, parse("{ words }"), executor_class=AcyclicExecutionContext)
        assert isinstance(result, Awaitable)
        return await result

    result = asyncio.run(run())
    assert result.errors is None and result.data == {"words": ["a", "b"]}
    gc.collect()  # the executor is gone: a resolver that outlived it has nothing to join
    with pytest.raises(RuntimeError, match="has finished"):
        helpers[0].gather([])
    with pytest.raises(RuntimeError, match="has finished"):
        helpers[0].track([])
