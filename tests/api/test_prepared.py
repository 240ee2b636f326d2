"""Prepared queries (:mod:`dtgraph.api.prepared`) answer exactly as strawberry's path does.

Two running servers over the same demo store, on each store kind: one with prepared queries, one
without. Every request of a corpus (found and missing twins, traversals, typed lists with filters,
documents of several operations, mutations beside queries, wrong and missing variables, errors
raised by resolvers, aliases and fragments, a forbidden mutation) is sent three times to each: the
status, the content type and the body must be the same every time, and the metrics of both servers
must count the same operations and errors. The counter of prepared answers says which requests took
the prepared path: a query text from its second request on, never a mutation, a GET, a body with
``extensions`` or a text strawberry refused.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from dtgraph.api.app import create_app, running
from dtgraph.api.config import load_settings
from dtgraph.graph.service import TwinGraph
from dtgraph.stores.memory import MemoryStore
from tests.api.conftest import Api
from tests.graph.conftest import documents

READER = "reader-key-0123456789"
MODELER = "modeler-key-0123456789"
KEYS = [
    {"key": READER, "name": "reader", "role": "reader"},
    {"key": MODELER, "name": "modeler", "role": "modeler"},
]
TWIN = "query Twin($id: ID!) { twin(id: $id) { id model properties } }"
HOPS = (
    "query Supply($id: ID!) { twin(id: $id) { id "
    'related(name: "consumes") { id related(name: "supplies", direction: IN) { id } } } }'
)
MACHINES = (
    "query Machines($s: Entity_status) { machines(first: 5, where: {status: {eq: $s}}) "
    "{ edges { node { id name status } } pageInfo { hasNextPage endCursor } } }"
)
TWO = "query A($id: ID!) { twin(id: $id) { id } } query B { models { id } }"
BESIDE_MUTATION = (
    "query Read($id: ID!) { twin(id: $id) { id } } mutation Drop($id: ID!) { deleteTwins(ids: [$id]) }"
)
FRAGMENTS = (
    "query F($id: ID!) { first: twin(id: $id) { ...T } again: twin(id: $id) { __typename ...T } } "
    "fragment T on Twin { id model }"
)
INVALID = "{ twin(id: 1) { nope } }"
UNPARSABLE = "{ twin(id: 1 { id } }"
TOO_DEEP = 'query Deep($id: ID!) { twin(id: $id) { related(name: "consumes", depth: 999) { id } } }'


@dataclass
class Servers:
    prepared: str  # base URLs
    plain: str
    ids: list[str]
    lines: list[str]


@pytest.fixture(scope="module")
def servers(demo: Api) -> Iterator[Servers]:
    store = demo.store
    settings_ = load_settings(api_keys=KEYS, max_page_size=1000)
    ids = [twin.id for twin in store.query_twins(limit=5).twins]
    lines = [twin.id for twin in store.query_twins("dtmi:dtgraph:Line;1", limit=3).twins]
    assert ids and lines
    with (
        running(create_app(settings_, TwinGraph(store))) as prepared,
        running(create_app(settings_, TwinGraph(store), prepared=False)) as plain,
    ):
        yield Servers(prepared, plain, ids, lines)


def post(url: str, body: dict[str, Any], key: str = READER) -> tuple[int, str, Any]:
    response = httpx.post(f"{url}/graphql", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    kind = response.headers["content-type"]
    return response.status_code, kind, response.json() if kind == "application/json" else response.text


def prepared_count(url: str) -> float:
    return metric(url, "dtgraph_graphql_prepared")[()]


def metric(url: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    text = httpx.get(f"{url}/metrics").text
    for family in text_string_to_metric_families(text):
        if family.name == name:
            return {
                tuple(sorted(sample.labels.items())): sample.value
                for sample in family.samples
                if sample.name.endswith("_total")
            }
    return {}


def same_answers(servers: Servers, body: dict[str, Any], key: str = READER, times: int = 3) -> list[Any]:
    """The answers of both servers to ``body`` sent ``times`` times, checked equal; the bodies."""
    answers = []
    for _ in range(times):
        mine, theirs = post(servers.prepared, body, key), post(servers.plain, body, key)
        assert mine == theirs, (body, mine, theirs)
        answers.append(mine[2])
    return answers


def corpus(servers: Servers) -> list[tuple[dict[str, Any], bool]]:
    """(request body, whether it is answered as prepared once its text is)."""
    some, line = servers.ids[0], servers.lines[0]
    return [
        ({"query": TWIN, "variables": {"id": some}}, True),
        ({"query": TWIN, "variables": {"id": "no-such-twin"}}, True),
        ({"query": TWIN, "variables": {"id": 5}}, True),  # coerced to "5": no such twin
        ({"query": TWIN, "variables": {"id": None}}, True),  # a null for ID!: a variable error
        ({"query": TWIN, "variables": {}}, True),  # missing
        ({"query": TWIN}, True),
        ({"query": TWIN, "variables": {"id": some}, "operationName": "Twin"}, True),
        ({"query": TWIN, "variables": {"id": some}, "operationName": "Other"}, False),  # unknown name
        ({"query": HOPS, "variables": {"id": line}}, True),
        ({"query": MACHINES, "variables": {"s": "operational"}}, True),
        ({"query": MACHINES, "variables": {"s": "broken"}}, True),  # not a value of the enum
        ({"query": MACHINES, "variables": {"s": None}}, True),
        ({"query": TWO, "variables": {"id": some}, "operationName": "A"}, True),
        ({"query": TWO, "operationName": "B"}, True),
        ({"query": TWO}, False),  # no operation name: strawberry's error
        ({"query": BESIDE_MUTATION, "variables": {"id": some}, "operationName": "Read"}, True),
        ({"query": BESIDE_MUTATION, "variables": {"id": some}, "operationName": "Drop"}, False),  # FORBIDDEN
        ({"query": FRAGMENTS, "variables": {"id": some}}, True),
        ({"query": TOO_DEEP, "variables": {"id": line}}, True),  # an ApiError: BAD_USER_INPUT
        ({"query": INVALID}, False),  # fails validation
        ({"query": UNPARSABLE}, False),
        ({"query": TWIN, "variables": {"id": some}, "extensions": {}}, False),
        ({"query": TWIN, "variables": [some]}, False),  # variables not an object: strawberry's 400
    ]


def test_every_request_is_answered_as_strawberry_answers_it(servers: Servers) -> None:
    metrics = ("dtgraph_graphql_requests", "dtgraph_graphql_errors")
    before = {name: (metric(servers.prepared, name), metric(servers.plain, name)) for name in metrics}
    texts: set[str] = set()  # prepared: strawberry has validated them (whatever the rest of the request)
    for body, eligible in corpus(servers):
        count = prepared_count(servers.prepared)
        answers = same_answers(servers, body)
        taken = prepared_count(servers.prepared) - count
        expected = (3 if body["query"] in texts else 2) if eligible else 0
        assert taken == expected, (body, taken, answers[-1])
        if body["query"] not in (INVALID, UNPARSABLE):
            texts.add(body["query"])
    assert prepared_count(servers.plain) == 0
    for name in metrics:
        old_mine, old_theirs = before[name]
        mine, theirs = metric(servers.prepared, name), metric(servers.plain, name)
        grown = {k: v - old_mine.get(k, 0) for k, v in mine.items()}
        assert grown == {k: v - old_theirs.get(k, 0) for k, v in theirs.items()}, name
        assert any(grown.values()), name
    # the corpus covers what it claims: answers with data, with errors, and both
    bodies = [same_answers(servers, body, times=1)[0] for body, _ in corpus(servers)]
    assert any("errors" not in b and b.get("data") for b in bodies)
    assert any("errors" in b and b.get("data") for b in bodies)
    assert any(isinstance(b, dict) and "errors" in b and not b.get("data") for b in bodies)


def test_a_get_and_a_form_post_take_strawberrys_path(servers: Servers) -> None:
    some = servers.ids[0]
    same_answers(servers, {"query": TWIN, "variables": {"id": some}})
    count = prepared_count(servers.prepared)
    headers = {"Authorization": f"Bearer {READER}"}
    params = {"query": TWIN, "variables": f'{{"id": "{some}"}}'}
    got = httpx.get(f"{servers.prepared}/graphql", params=params, headers=headers)
    assert got.status_code == 200 and got.json()["data"]["twin"]["id"] == some
    text = httpx.post(
        f"{servers.prepared}/graphql",
        content=f'{{"query": "{TWIN}", "variables": {{"id": "{some}"}}}}',
        headers={**headers, "Content-Type": "text/plain"},
    )
    assert (
        text.status_code
        == httpx.post(
            f"{servers.plain}/graphql", content=text.request.content, headers=dict(text.request.headers)
        ).status_code
    )
    assert prepared_count(servers.prepared) == count


def test_a_mutation_is_never_prepared(servers: Servers) -> None:
    body = {"query": "mutation { deleteTwins(ids: []) }"}  # a modeler may not: FORBIDDEN each time
    count = prepared_count(servers.prepared)
    answers = same_answers(servers, body, MODELER)
    assert answers[0]["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert prepared_count(servers.prepared) == count


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_variables_are_answered_alike(servers: Servers, data: st.DataObject) -> None:
    query = data.draw(st.sampled_from([TWIN, HOPS, FRAGMENTS]))
    ident = data.draw(
        st.one_of(
            st.sampled_from(servers.ids + servers.lines),
            st.text(max_size=30),
            st.integers(),
            st.none(),
            st.lists(st.text(max_size=3), max_size=2),
        )
    )
    same_answers(servers, {"query": query, "variables": {"id": ident}}, times=2)


def test_a_rebuilt_schema_starts_with_no_prepared_texts(tmp_path: Path) -> None:
    store = MemoryStore(tmp_path / "data", fsync=False)
    graph = TwinGraph(store)
    graph.upload_models(documents())
    query = {"query": "{ models { id } }"}
    model = {
        "@context": "dtmi:dtdl:context;3",
        "@id": "dtmi:test:Kettle;1",
        "@type": "Interface",
        "contents": [{"@type": "Property", "name": "litres", "schema": "double"}],
    }
    try:
        with running(create_app(load_settings(api_keys=KEYS), graph)) as url:
            before = [post(url, query)[2] for _ in range(2)]
            assert before[0] == before[1] and prepared_count(url) == 1
            upload = {
                "query": "mutation($m: [JSON!]!) { uploadModels(models: $m) { id } }",
                "variables": {"m": [model]},
            }
            assert post(url, upload, MODELER)[2] == {"data": {"uploadModels": [{"id": "dtmi:test:Kettle;1"}]}}
            after = [post(url, query)[2] for _ in range(2)]
            assert prepared_count(url) == 2  # the first after the upload went through strawberry again
            ids = {m["id"] for m in after[0]["data"]["models"]}
            assert after[0] == after[1] and ids == {m["id"] for m in before[0]["data"]["models"]} | {
                model["@id"]
            }
    finally:
        store.close()
