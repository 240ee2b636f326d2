"""Data loaders: a nested query costs store round trips in proportion to its depth, not its rows.

The store is the real one (memory or Neo4j) behind a proxy that counts calls.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strawberry.dataloader import DataLoader

from dtgraph.api import SchemaHolder
from dtgraph.api.generic import TwinRef, walked
from dtgraph.api.loaders import Loader, Loaders, blocking
from dtgraph.graph.records import Twin as TwinRecord
from dtgraph.graph.service import TwinGraph
from dtgraph.stores.base import Step, Store
from dtgraph.stores.neo4j import Neo4jStore
from tests.api.conftest import Api, CountingStore, data, execute

# three levels below the page: machine → its line (typed) → the line's plant (relationships) → plant's site
QUERY = """query($first: Int!) { machines(first: $first) { edges { node { id
    partOf { id relationships(name: "partOf") { target { id
        related(name: "partOf") { id } } } } } } } }"""


@pytest.mark.parametrize("on_loop", [False, True], ids=["threads", "on-loop"])
def test_calls_do_not_grow_with_rows(demo: Api, on_loop: bool) -> None:
    """``on_loop``: the store's reads that have an asyncio form (Neo4j's) run on the event loop."""
    counting = CountingStore(demo.store)
    graph = TwinGraph(counting)
    holder = SchemaHolder(graph)
    assert holder.schema is not None  # built before counting
    calls = {}
    for first in (5, 100):
        counting.reset()
        got = data(execute(holder, QUERY, graph, on_loop=on_loop, first=first))["machines"]["edges"]
        assert bool(counting.on_loop) is (on_loop and isinstance(demo.store, Neo4jStore))
        assert len(got) == first
        assert all(e["node"]["partOf"][0]["relationships"][0]["target"]["related"] for e in got)
        calls[first] = dict(counting.calls)
    print(f"store calls for {type(demo.store).__name__}: {calls}")
    assert calls[5] == calls[100]
    # one page query, then per level one batch: the lines and the sites with the relationships leading
    # to them (neighbours), the plants' relationships, then the plants (get_twins)
    assert calls[100] == {"query_twins": 1, "neighbours": 2, "relationships": 1, "get_twins": 1}


# lines → the parts they consume → the lines consuming each part, and those lines' plants (typed partOf,
# inside a fragment: read on its own)
GENERIC = """query($first: Int!) { lines(first: $first) { edges { node { id
    related(name: "consumes") { id ... on Part { partNumber }
        related(name: "consumes", direction: IN) { id
            ... on Line { partOf { id } } } } } } } }"""
# machines → their lines → plants → sites, along typed relationship fields
TYPED = """query($first: Int!) { machines(first: $first) { edges { node { id
    partOf { id partOf { name partOf { id name } } } } } } }"""
# from one line: the parts it consumes and who supplies each (the benchmark's 2-hop traversal)
FROM_ONE = """query($name: String = "supplies") { twin(id: "site-0-plant-0-line-0") { id
    related(name: "consumes") { id related(name: $name, direction: IN) { id } } } }"""
# the same with each traversal in a fragment, which look-ahead leaves alone
IN_FRAGMENTS = {
    GENERIC: """query($first: Int!) { lines(first: $first) { edges { node { id
        ... on Twin { related(name: "consumes") { id ... on Part { partNumber }
            ... on Twin { related(name: "consumes", direction: IN) { id
                ... on Line { partOf { id } } } } } } } } } }""",
    TYPED: """query($first: Int!) { machines(first: $first) { edges { node { id
        ... on Machine { partOf { id ... on Line { partOf { name
            ... on Plant { partOf { id name } } } } } } } } } }""",
    FROM_ONE: """query($name: String = "supplies") { twin(id: "site-0-plant-0-line-0") { id
        ... on Twin { related(name: "consumes") { id
            ... on Twin { related(name: $name, direction: IN) { id } } } } } }""",
}


@pytest.mark.parametrize(
    ("query", "planned", "level_by_level"),
    [
        (GENERIC, {"neighbours_along": 1, "neighbours": 1}, {"neighbours": 3}),
        (TYPED, {"neighbours_along": 1}, {"neighbours": 3}),
        (FROM_ONE, {"twins_along": 1}, {"get_twins": 1, "neighbours": 2}),
    ],
)
@pytest.mark.parametrize("on_loop", [False, True], ids=["threads", "on-loop"])
def test_a_nested_traversal_reads_its_levels_in_one_call(
    demo: Api, query: str, planned: dict[str, int], level_by_level: dict[str, int], on_loop: bool
) -> None:
    counting = CountingStore(demo.store)
    graph = TwinGraph(counting)
    holder = SchemaHolder(graph)
    assert holder.schema is not None
    answers, calls = [], []
    for text in (query, IN_FRAGMENTS[query]):
        counting.reset()
        answers.append(data(execute(holder, text, graph, on_loop=on_loop, first=20)))
        if text is query:  # its traversal is planned: read on the loop where the store can
            assert bool(counting.on_loop) is (on_loop and isinstance(demo.store, Neo4jStore))
        calls.append(dict(counting.calls))
    assert answers[0] == answers[1]
    if query == FROM_ONE:
        assert answers[0]["twin"]["related"] and all(p["related"] for p in answers[0]["twin"]["related"])
        assert calls == [planned, level_by_level]
        return
    (edges,) = (page["edges"] for page in answers[0].values())
    assert len(edges) == 20
    assert calls == [{"query_twins": 1, **planned}, {"query_twins": 1, **level_by_level}]


def test_store_calls_of_many_requests_wait_at_the_same_time() -> None:
    # a Neo4j round trip holds its thread: 20 requests waiting at once must not queue behind 6 threads
    together = threading.Barrier(20, timeout=30)

    async def all_at_once() -> list[int]:
        return await asyncio.gather(*(blocking(together.wait) for _ in range(20)))

    assert sorted(asyncio.run(all_at_once())) == list(range(20))


STEPS: list[Step] = [
    ("partOf", "out"),
    ("partOf", "in"),
    ("consumes", "out"),
    ("supplies", "in"),
    (None, "both"),
]


def breadth_first(store: Store, start: str, step: Step, depth: int) -> tuple[list[str], int]:
    """The reference walk, one store call a level: the twins found in order, and the number of levels
    it read (a level whose frontier is empty is not read)."""
    seen, frontier, found, levels = {start}, [start], [], 0
    for _ in range(depth):
        if not frontier:
            break
        answer = store.neighbours(frontier, name=step[0], direction=step[1])
        levels += 1
        following = []
        for twin_id in frontier:
            for _rel, twin in answer.get(twin_id, []):
                if twin.id not in seen:
                    seen.add(twin.id)
                    following.append(twin.id)
        found.extend(following)
        frontier = following
    return found, levels


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(choice=st.data())
def test_walked_answers_from_primed_levels_as_a_breadth_first_walk(demo: Api, choice: st.DataObject) -> None:
    """``walked`` (a traversal answered from the loaders, without awaiting) finds what a breadth-first
    walk finds, in its order, when a chain read has primed every level it needs; else it says so."""
    ids = [twin.id for twin in demo.store.query_twins(limit=300).twins]
    start = choice.draw(st.sampled_from(ids))
    step = choice.draw(st.sampled_from(STEPS))
    primed, depth = choice.draw(st.integers(1, 3)), choice.draw(st.integers(1, 4))

    async def answer() -> list[str] | None:
        loaders = Loaders(demo.store)
        await loaders.chains.load((start, (step,) * primed))
        root = TwinRef(TwinRecord(start, "dtmi:test:Any;1"), "UntypedTwin", loaders)
        found = walked(loaders, root, [step], depth)
        return None if found is None else [t.id for t in found]

    expected, levels = breadth_first(demo.store, start, step, depth)
    assert asyncio.run(answer()) == (expected if levels <= primed else None)


LOADER_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("prime"), st.integers(0, 5), st.integers(0, 99), st.booleans()),
        st.tuples(st.just("load"), st.integers(0, 5)),
        st.tuples(st.just("clear"), st.integers(0, 5)),
        st.tuples(st.just("clear_all")),
        st.tuples(st.just("settle")),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(ops=LOADER_OPS)
def test_loader_answers_as_strawberrys_data_loader(ops: list[tuple[Any, ...]]) -> None:
    """``Loader`` keeps primed values plain until loaded: every load gets what strawberry's
    ``DataLoader`` gives after the same primes, loads and clears, and the store is asked the same."""

    async def run(make: Callable[..., DataLoader[int, str]]) -> tuple[list[str], list[list[int]]]:
        batches: list[list[int]] = []

        async def load_fn(keys: list[int]) -> list[str]:
            batches.append(list(keys))
            return [f"read {k}" for k in keys]

        loader = make(load_fn)
        waiting: list[Awaitable[str]] = []
        answers: list[str] = []
        for op in [*ops, ("settle",)]:
            if op[0] == "prime":
                loader.prime(op[1], f"primed {op[2]}", force=op[3])
            elif op[0] == "load":
                waiting.append(loader.load(op[1]))
            elif op[0] == "clear":
                if isinstance(loader, Loader) or loader.cache_map.get(op[1]) is not None:
                    loader.clear(op[1])  # strawberry's raises for a key it does not hold
            elif op[0] == "clear_all":
                loader.clear_all()
            elif op[0] == "settle":
                answers.extend(await asyncio.gather(*waiting))
                waiting = []
        return answers, batches

    mine = asyncio.run(run(Loader))
    theirs = asyncio.run(run(lambda fn: DataLoader(load_fn=fn)))
    assert mine == theirs


@pytest.mark.parametrize("on_loop", [False, True], ids=["threads", "on-loop"])
def test_a_plan_decided_by_variables_follows_them_from_request_to_request(demo: Api, on_loop: bool) -> None:
    """The same document (parsed once, so the same field nodes) sent with other variable values plans
    the traversal they ask for each time; a plan that depends on no variable is kept between requests."""
    counting = CountingStore(demo.store)
    graph = TwinGraph(counting)
    holder = SchemaHolder(graph)
    assert holder.schema is not None
    for name in ("supplies", "consumes", "supplies", "partOf"):
        answers = []
        for text in (FROM_ONE, IN_FRAGMENTS[FROM_ONE]):
            counting.reset()
            answers.append(data(execute(holder, text, graph, on_loop=on_loop, name=name)))
            if text is FROM_ONE:
                assert counting.calls == {"twins_along": 1}
        assert answers[0] == answers[1], name
    constant = """{ twin(id: "site-0-plant-0-line-0") { id
        related(name: "consumes") { id related(name: "supplies", direction: IN) { id } } } }"""
    for _ in range(2):
        counting.reset()
        found = data(execute(holder, constant, graph, on_loop=on_loop))
        assert counting.calls == {"twins_along": 1}
        assert all(part["related"] for part in found["twin"]["related"])


def test_clearing_forgets_what_each_loader_read(demo: Api) -> None:
    """``Loaders.clear`` (after a write) empties every loader the request made, primed values too, and
    a loader made after it starts empty."""
    ids = [twin.id for twin in demo.store.query_twins(limit=3).twins]

    async def run() -> None:
        loaders = Loaders(demo.store)
        await loaders.twins.load_many(ids)
        loaders.neighbours.prime((ids[0], "partOf", "out"), [])
        assert all(loaders.twins.has(i) for i in ids) and loaders.neighbours.has((ids[0], "partOf", "out"))
        loaders.clear()
        assert not any(loaders.twins.has(i) for i in ids)
        assert not loaders.neighbours.has((ids[0], "partOf", "out"))
        assert not loaders.starts.has((ids[0], (("partOf", "out"),)))
        assert [t.id for t in await loaders.twins.load_many(ids) if t is not None] == ids

    asyncio.run(run())
