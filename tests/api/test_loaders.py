"""Data loaders: a nested query costs store round trips in proportion to its depth, not its rows.

The store is the real one (memory or Neo4j) behind a proxy that counts calls.
"""

from __future__ import annotations

import asyncio
import threading

from dtgraph.api import SchemaHolder
from dtgraph.api.loaders import blocking
from dtgraph.graph.service import TwinGraph
from tests.api.conftest import Api, CountingStore, data, execute

# three levels below the page: machine → its line (typed) → the line's plant (relationships) → plant's site
QUERY = """query($first: Int!) { machines(first: $first) { edges { node { id
    partOf { id relationships(name: "partOf") { target { id
        related(name: "partOf") { id } } } } } } } }"""


def test_calls_do_not_grow_with_rows(demo: Api) -> None:
    counting = CountingStore(demo.store)
    graph = TwinGraph(counting)
    holder = SchemaHolder(graph)
    assert holder.schema is not None  # built before counting
    calls = {}
    for first in (5, 100):
        counting.reset()
        got = data(execute(holder, QUERY, graph, first=first))["machines"]["edges"]
        assert len(got) == first
        assert all(e["node"]["partOf"][0]["relationships"][0]["target"]["related"] for e in got)
        calls[first] = dict(counting.calls)
    print(f"store calls for {type(demo.store).__name__}: {calls}")
    assert calls[5] == calls[100]
    # one page query, then per level one batch: the lines and the sites with the relationships leading
    # to them (neighbours), the plants' relationships, then the plants (get_twins)
    assert calls[100] == {"query_twins": 1, "neighbours": 2, "relationships": 1, "get_twins": 1}


def test_store_calls_of_many_requests_wait_at_the_same_time() -> None:
    # a Neo4j round trip holds its thread: 20 requests waiting at once must not queue behind 6 threads
    together = threading.Barrier(20, timeout=30)

    async def all_at_once() -> list[int]:
        return await asyncio.gather(*(blocking(together.wait) for _ in range(20)))

    assert sorted(asyncio.run(all_at_once())) == list(range(20))
