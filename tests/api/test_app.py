"""The server end to end: a running uvicorn on a free port, over real HTTP (httpx) and WebSocket
(websockets, graphql-transport-ws), on the memory store and on a real Neo4j.

Health, readiness and metrics; queries over HTTP and WebSocket; the schema rebuilt after a model upload
without a restart; and every limit with an abusive request (deep nesting, aliases, aliases hidden in
fragments, a huge token count, a 10 MB body, a hanging store, introspection off): each gets a clean
error and the server goes on answering.
"""

from __future__ import annotations

import contextlib
import gc
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect

from dtgraph.api.app import create_app, running
from dtgraph.api.config import Settings, load_settings
from dtgraph.commands.serve import EXAMPLE_QUERIES
from dtgraph.demo import write_ndjson
from dtgraph.graph.bulk import import_graph
from dtgraph.graph.service import TwinGraph
from dtgraph.stores.base import Store
from dtgraph.stores.errors import StoreUnavailable
from dtgraph.stores.memory import MemoryStore
from tests.api.conftest import CountingStore

READER = "reader-key-0123456789"
OPERATOR = "operator-key-0123456789"
MODELER = "modeler-key-0123456789"
KEYS = [
    {"key": READER, "name": "reader", "role": "reader"},
    {"key": OPERATOR, "name": "operator", "role": "operator"},
    {"key": MODELER, "name": "modeler", "role": "modeler"},
]
DEMO_TWINS = 2000  # the size `serve --demo` loads: the example queries are those of the README


def settings(**overrides: Any) -> Settings:
    return load_settings(api_keys=KEYS, **overrides)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def gql(url: str, query: str, key: str | None = READER, **extra: Any) -> httpx.Response:
    headers = bearer(key) if key else {}
    return httpx.post(f"{url}/graphql", json={"query": query, **extra}, headers=headers, timeout=30)


def data(url: str, query: str, key: str | None = READER) -> Any:
    response = gql(url, query, key)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def error_codes(response: httpx.Response) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in response.json()["errors"]]


def alive(url: str) -> None:
    """The server still answers, and still answers GraphQL."""
    assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
    assert data(url, "{ models { id } }")["models"]


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.ndjson"
    with path.open("w", encoding="utf-8") as out:
        write_ndjson(out, twins=DEMO_TWINS)
    return path


def load_demo(store: Store, demo_file: Path) -> Store:
    report = import_graph(demo_file, store)
    assert report.ok, report.issues[:3]
    return store


@pytest.fixture(scope="module", params=["memory", "neo4j"])
def server(
    request: pytest.FixtureRequest, demo_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A running server over the demo enterprise, on each store; yields its base URL."""
    store: Store
    if request.param == "memory":
        store = MemoryStore(tmp_path_factory.mktemp("data"), fsync=False)
    else:
        from dtgraph.stores.neo4j import Neo4jStore

        uri: str = request.getfixturevalue("neo4j_uri")
        auth: tuple[str, str] | None = request.getfixturevalue("neo4j_auth")
        store = Neo4jStore(uri, auth=auth)
        store.wipe()
    try:
        load_demo(store, demo_file)
        with running(create_app(settings(), TwinGraph(store))) as url:
            yield url
    finally:
        store.close()


@pytest.fixture
def memory_server(demo_file: Path) -> Iterator[tuple[str, Store]]:
    """A server of its own (tests that write or need special settings use ``serve`` below)."""
    store = load_demo(MemoryStore(), demo_file)
    with running(create_app(settings(), TwinGraph(store))) as url:
        yield url, store


@pytest.fixture
def serve(demo_file: Path) -> Iterator[Any]:
    """``serve(store=None, **settings) -> url``: a server with these settings over the demo."""
    with_servers: list[Any] = []

    def start(store: Store | None = None, **overrides: Any) -> str:
        context = running(
            create_app(settings(**overrides), TwinGraph(store or load_demo(MemoryStore(), demo_file)))
        )
        url = context.__enter__()
        with_servers.append(context)
        return url

    yield start
    for context in reversed(with_servers):
        context.__exit__(None, None, None)


# --- health, readiness, metrics ---------------------------------------------------------------------


def test_the_graph_loaded_before_serving_is_kept_out_of_garbage_collection(
    memory_server: tuple[str, Store],
) -> None:
    _, store = memory_server
    assert gc.is_tracked(store) and gc.get_freeze_count() > 0
    assert id(store) not in {id(o) for o in gc.get_objects()}  # frozen: collections do not walk it


def test_healthz_readyz(server: str) -> None:
    assert httpx.get(f"{server}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{server}/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["twins"] == DEMO_TWINS


class _Unreachable(MemoryStore):
    def counts(self) -> dict[str, int]:
        raise StoreUnavailable("cannot reach the store")


def test_readyz_is_503_while_the_store_is_unreachable(serve: Any) -> None:
    url = serve(_Unreachable())
    assert httpx.get(f"{url}/healthz").status_code == 200
    ready = httpx.get(f"{url}/readyz")
    assert ready.status_code == 503
    assert ready.json() == {"status": "unavailable", "reason": "the store is unavailable"}


def test_metrics(memory_server: tuple[str, Store]) -> None:
    url, _ = memory_server
    data(url, "query Machines { machines(first: 2) { edges { node { id } } } }")
    gql(url, 'mutation Delete { deleteTwins(ids: ["site-0"]) }')  # FORBIDDEN for a reader
    gql(url, "{ nope }")
    httpx.post(f"{url}/graphql", json={"query": "{ models { id } }"})  # no key: 401
    response = httpx.get(f"{url}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'dtgraph_graphql_requests_total{operation="Machines",type="query"} 1.0' in text
    assert 'dtgraph_graphql_requests_total{operation="Delete",type="mutation"} 1.0' in text
    assert 'dtgraph_graphql_request_seconds_count{operation="Machines",type="query"} 1.0' in text
    assert 'dtgraph_graphql_errors_total{code="FORBIDDEN"} 1.0' in text
    assert 'dtgraph_graphql_errors_total{code="GRAPHQL_VALIDATION_FAILED"} 1.0' in text
    assert 'dtgraph_http_requests_total{route="/graphql",status="401"} 1.0' in text
    assert 'dtgraph_store_seconds_count{method="query_twins"}' in text
    families = {family.name: family for family in text_string_to_metric_families(text)}
    for process in ("process_cpu_seconds", "process_resident_memory_bytes", "process_open_fds"):
        assert families[process].samples[0].value > 0, process
    collections = {s.labels["generation"]: s.value for s in families["python_gc_collections"].samples}
    assert set(collections) == {"0", "1", "2"} and collections["0"] > 0
    assert families["python_info"].samples[0].labels["implementation"] == "CPython"


# --- GraphQL over HTTP and WebSocket ----------------------------------------------------------------


@pytest.mark.parametrize(("title", "query"), EXAMPLE_QUERIES, ids=[t for t, _ in EXAMPLE_QUERIES])
def test_example_queries(server: str, title: str, query: str) -> None:
    result = data(server, query)
    assert json.dumps(result).count('"id"') >= 2, result


def test_query_by_get(server: str) -> None:
    response = httpx.get(
        f"{server}/graphql", params={"query": '{ twin(id: "site-0") { id } }'}, headers=bearer(READER)
    )
    assert response.json() == {"data": {"twin": {"id": "site-0"}}}


def test_graphiql_page(server: str) -> None:
    page = httpx.get(f"{server}/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()


def _ws_url(url: str) -> str:
    return url.replace("http://", "ws://") + "/graphql"


def test_query_over_websocket(server: str) -> None:
    with connect(_ws_url(server), subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "graphql-transport-ws"
        ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {READER}"}}))
        assert json.loads(ws.recv(timeout=10)) == {"type": "connection_ack"}
        query = '{ twin(id: "site-0-plant-0") { id model ancestors { id } } }'
        ws.send(json.dumps({"type": "subscribe", "id": "1", "payload": {"query": query}}))
        message = json.loads(ws.recv(timeout=10))
        assert message["type"] == "next" and message["id"] == "1"
        assert message["payload"]["data"]["twin"] == {
            "id": "site-0-plant-0",
            "model": "dtmi:dtgraph:Plant;1",
            "ancestors": [{"id": "site-0"}, {"id": "enterprise"}],
        }
        assert json.loads(ws.recv(timeout=10)) == {"id": "1", "type": "complete"}
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv(timeout=10)) == {"type": "pong"}


def test_schema_follows_model_uploads_without_restart(memory_server: tuple[str, Store]) -> None:
    url, _ = memory_server
    model = {
        "@context": "dtmi:dtdl:context;3",
        "@id": "dtmi:test:Kettle;1",
        "@type": "Interface",
        "contents": [{"@type": "Property", "name": "litres", "schema": "double"}],
    }
    assert error_codes(gql(url, "{ kettles { edges { node { id } } } }")) == ["GRAPHQL_VALIDATION_FAILED"]
    response = gql(
        url, "mutation($m: [JSON!]!) { uploadModels(models: $m) { id } }", MODELER, variables={"m": [model]}
    )
    assert response.json() == {"data": {"uploadModels": [{"id": "dtmi:test:Kettle;1"}]}}
    twin = {"$dtId": "k1", "$metadata": {"$model": "dtmi:test:Kettle;1"}, "litres": 1.5}
    response = gql(
        url, "mutation($t: [JSON!]!) { createTwins(twins: $t) { id } }", OPERATOR, variables={"t": [twin]}
    )
    assert response.json() == {"data": {"createTwins": [{"id": "k1"}]}}
    assert data(url, "{ kettles { edges { node { id litres } } } }") == {
        "kettles": {"edges": [{"node": {"id": "k1", "litres": 1.5}}]}
    }


def test_cors(serve: Any) -> None:
    url = serve(cors_origins=["https://app.example.com"])
    preflight = httpx.options(
        f"{url}/graphql",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
    other = httpx.options(
        f"{url}/graphql",
        headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"},
    )
    assert other.status_code == 400
    assert "access-control-allow-origin" not in other.headers
    response = from_page(url, "https://app.example.com")
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"


def from_page(url: str, origin: str) -> httpx.Response:
    """A query sent as a browser on a page of ``origin`` sends it."""
    return httpx.post(
        f"{url}/graphql", json={"query": "{ models { id } }"}, headers={**bearer(READER), "Origin": origin}
    )


def test_without_cors_origins_no_page_elsewhere_gets_access(serve: Any) -> None:
    url = serve()
    asks = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"}
    preflight = httpx.options(f"{url}/graphql", headers=asks)
    assert preflight.status_code == 405
    assert "access-control-allow-origin" not in preflight.headers
    response = from_page(url, "https://app.example.com")
    assert response.status_code == 200 and response.json()["data"]["models"]
    assert "access-control-allow-origin" not in response.headers


# --- limits -----------------------------------------------------------------------------------------


def test_deep_nesting_is_refused(memory_server: tuple[str, Store]) -> None:
    url, _ = memory_server
    deep = '{ twin(id: "site-0") { ' + "related { " * 20 + "id" + " }" * 20 + " } }"
    response = gql(url, deep)
    assert response.status_code == 200
    assert error_codes(response) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "exceeds maximum operation depth of 12" in response.json()["errors"][0]["message"]
    assert data(url, '{ twin(id: "site-0") { ' + "related { " * 8 + "id" + " }" * 8 + " } }")
    alive(url)


def test_many_aliases_are_refused(memory_server: tuple[str, Store]) -> None:
    url, _ = memory_server
    many = "{ " + " ".join(f'a{i}: twin(id: "site-0") {{ id }}' for i in range(31)) + " }"
    response = gql(url, many)
    assert error_codes(response) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "aliases" in response.json()["errors"][0]["message"]
    # 32 aliases hidden in two fragments of 16: counted where the fragments are spread

    def fragment(name: str) -> str:
        fields = " ".join(f'{name.lower()}{i}: twin(id: "site-0") {{ id }}' for i in range(16))
        return f"fragment {name} on Query {{ {fields} }}"

    hidden = f"query {{ ...F ...G }} {fragment('F')} {fragment('G')}"
    response = gql(url, hidden)
    assert error_codes(response) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "aliases" in response.json()["errors"][0]["message"]
    alive(url)


def test_huge_token_counts_are_refused(memory_server: tuple[str, Store]) -> None:
    url, _ = memory_server
    response = gql(url, "{ " + "models { id } " * 1000 + "}")
    assert response.status_code == 200
    assert "more than 2000 tokens" in response.json()["errors"][0]["message"]
    alive(url)


def test_a_10_mb_body_is_refused(memory_server: tuple[str, Store]) -> None:
    url, _ = memory_server
    body = json.dumps({"query": "{ models { id } }", "variables": {"x": "y" * 10_000_000}}).encode()
    response = httpx.post(
        f"{url}/graphql", content=body, headers={**bearer(READER), "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert error_codes(response) == ["PAYLOAD_TOO_LARGE"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
        for start in range(0, len(body), 65536):
            yield body[start : start + 65536]

    response = httpx.post(
        f"{url}/graphql", content=chunks(), headers={**bearer(READER), "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    alive(url)


def test_a_10_mb_websocket_message_is_refused(memory_server: tuple[str, Store]) -> None:
    url, _ = memory_server
    with connect(_ws_url(url), subprotocols=["graphql-transport-ws"], max_size=None) as ws:  # type: ignore[list-item]
        ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {READER}"}}))
        assert json.loads(ws.recv(timeout=10))["type"] == "connection_ack"
        ws.send(
            json.dumps(
                {
                    "type": "subscribe",
                    "id": "1",
                    "payload": {"query": "{ models { id } }", "variables": {"x": "y" * 10_000_000}},
                }
            )
        )
        with pytest.raises(Exception, match=r"1009|too big"):
            ws.recv(timeout=10)
    alive(url)


class _Hanging(MemoryStore):
    """A store whose twin reads hang, once ``stuck`` (a stuck database), until ``released``."""

    def __init__(self) -> None:
        super().__init__()
        self.stuck = False
        self.released = threading.Event()

    @contextlib.contextmanager
    def immediate_reads(self) -> Iterator[bool]:
        yield False  # it stands for a database: its reads wait, in a worker thread

    def get_twins(self, ids: Any) -> Any:
        if self.stuck:
            self.released.wait(20)
        return super().get_twins(ids)


def test_a_request_past_the_timeout_gets_504(serve: Any, demo_file: Path) -> None:
    store = _Hanging()
    load_demo(store, demo_file)
    url = serve(store, request_timeout=1)
    store.stuck = True
    try:
        started = time.monotonic()
        response = gql(url, '{ twin(id: "site-0") { id } }')
        assert response.status_code == 504
        assert time.monotonic() - started < 10
        assert error_codes(response) == ["TIMEOUT"]
        assert data(url, "{ models { id } }")["models"]  # the server goes on meanwhile
    finally:
        store.released.set()


def test_introspection_can_be_turned_off(serve: Any) -> None:
    url = serve(introspection=False)
    response = gql(url, "{ __schema { types { name } } }")
    assert set(error_codes(response)) == {"GRAPHQL_VALIDATION_FAILED"}
    assert "introspection" in response.json()["errors"][0]["message"].lower()
    alive(url)
    on = serve()
    assert data(on, "{ __schema { queryType { name } } }") == {"__schema": {"queryType": {"name": "Query"}}}


def test_page_size_is_bounded(serve: Any) -> None:
    url = serve(max_page_size=5)
    assert len(data(url, "{ twins { edges { node { id } } } }")["twins"]["edges"]) == 5
    response = gql(url, "{ twins(first: 6) { edges { node { id } } } }")
    assert error_codes(response) == ["BAD_USER_INPUT"]


def test_import_file_upload_over_multipart(memory_server: tuple[str, Store]) -> None:
    url, store = memory_server
    lines = [
        {"Section": "Header"},
        {"fileVersion": "1.0.0", "author": "test", "organization": "test"},
        {"Section": "Twins"},
        {"$dtId": "extra-site", "$metadata": {"$model": "dtmi:dtgraph:Site;1"}, "name": "Extra"},
        {"Section": "Relationships"},
        {
            "$dtId": "extra-site",
            "$relationshipId": "p",
            "$targetId": "enterprise",
            "$relationshipName": "partOf",
        },
    ]
    ndjson = "".join(json.dumps(line) + "\n" for line in lines).encode()
    query = "mutation($f: Upload!) { importGraph(file: $f) { ok written twins relationships } }"
    files: dict[str, Any] = {
        "operations": (None, json.dumps({"query": query, "variables": {"f": None}})),
        "map": (None, json.dumps({"0": ["variables.f"]})),
        "0": ("extra.ndjson", ndjson, "application/x-ndjson"),
    }
    response = httpx.post(f"{url}/graphql", files=files, headers=bearer(OPERATOR), timeout=30)
    assert response.json() == {
        "data": {"importGraph": {"ok": True, "written": True, "twins": 1, "relationships": 1}}
    }
    assert data(url, '{ twin(id: "extra-site") { ancestors { id } } }') == {
        "twin": {"ancestors": [{"id": "enterprise"}]}
    }
    assert store.counts()["twins"] == DEMO_TWINS + 1


def test_websocket_operations_see_writes_made_between_them(memory_server: tuple[str, Store]) -> None:
    url, _ = memory_server
    query = '{ twin(id: "site-1") { id name: property(name: "name") } }'

    def ask(ws: Any, op: str) -> Any:
        ws.send(json.dumps({"type": "subscribe", "id": op, "payload": {"query": query}}))
        message = json.loads(ws.recv(timeout=10))
        assert json.loads(ws.recv(timeout=10)) == {"id": op, "type": "complete"}
        return message["payload"]["data"]["twin"]

    with connect(_ws_url(url), subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {READER}"}}))
        assert json.loads(ws.recv(timeout=10))["type"] == "connection_ack"
        before = ask(ws, "1")
        patch = [{"op": "replace", "path": "/name", "value": "Renamed"}]
        response = gql(
            url,
            'mutation($p: JSON!) { patchTwin(id: "site-1", patch: $p) { id } }',
            OPERATOR,
            variables={"p": patch},
        )
        assert "errors" not in response.json(), response.json()
        assert before["name"] != "Renamed"
        assert ask(ws, "2") == {"id": "site-1", "name": "Renamed"}


def test_answers_are_encoded_as_json_even_beyond_what_orjson_takes() -> None:
    from dtgraph.api.app import _GraphQLView

    view = object.__new__(_GraphQLView)  # encoding reads nothing of the view
    data = {"data": {"twin": {"id": "é\u2028", "n": 1.5, "big": 2**70, "none": None}}}
    assert json.loads(view.encode_json(data)) == data
    assert json.loads(view.encode_json({"data": {"id": "x"}})) == {"data": {"id": "x"}}


@pytest.mark.parametrize("kind", ["memory", "neo4j"])
def test_the_server_reads_on_its_event_loop_where_the_store_can(
    kind: str, demo_file: Path, request: pytest.FixtureRequest
) -> None:
    """Neo4j's twins and traversals are read through the driver's asyncio API on the server's loop
    (opened and closed with the app); the memory store answers on the loop anyway."""
    store: Store
    if kind == "memory":
        store = MemoryStore()
    else:
        from dtgraph.stores.neo4j import Neo4jStore

        store = Neo4jStore(request.getfixturevalue("neo4j_uri"), auth=request.getfixturevalue("neo4j_auth"))
        store.wipe()
    counting = CountingStore(load_demo(store, demo_file))
    try:
        with running(create_app(settings(), TwinGraph(counting))) as url:
            counting.reset()
            got = data(url, '{ twin(id: "site-0") { id related(name: "partOf") { id } } }')
            assert got == {"twin": {"id": "site-0", "related": [{"id": "enterprise"}]}}
            assert counting.calls == {"twins_along": 1}
            assert bool(counting.on_loop) is (kind == "neo4j")
    finally:
        store.close()
