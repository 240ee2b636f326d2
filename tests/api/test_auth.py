"""API keys and roles: the authenticator alone, the settings that configure it, and the running server
over HTTP and WebSocket (a reader cannot write, a wrong key is refused, anonymous access only when
configured)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from dtgraph.api.app import create_app, running
from dtgraph.api.auth import Authenticator, Identity, Unauthorized
from dtgraph.api.config import ApiKey, ConfigError, Settings, load_settings
from dtgraph.graph.service import TwinGraph
from dtgraph.stores.memory import MemoryStore

REPO = Path(__file__).resolve().parents[2]
READER = "reader-key-0123456789"
OPERATOR = "operator-key-0123456789"
KEYS = [
    {"key": READER, "name": "reader", "role": "reader"},
    {"sha256": hashlib.sha256(OPERATOR.encode()).hexdigest(), "name": "operator", "role": "operator"},
]
MODEL = {
    "@context": "dtmi:dtdl:context;3",
    "@id": "dtmi:test:Room;1",
    "@type": "Interface",
    "contents": [{"@type": "Property", "name": "area", "schema": "double"}],
}
CREATE = "mutation($t: [JSON!]!) { createTwins(twins: $t) { id } }"
TWIN = {"$dtId": "room-1", "$metadata": {"$model": "dtmi:test:Room;1"}, "area": 12.5}


# --- the authenticator ------------------------------------------------------------------------------


def authenticator(anonymous: Any = None) -> Authenticator:
    return Authenticator([ApiKey.model_validate(k) for k in KEYS], anonymous)


def test_keys_and_digests_name_their_holder() -> None:
    auth = authenticator()
    assert auth.identify(f"Bearer {READER}") == Identity("reader", "reader")
    assert auth.identify(f"bearer   {OPERATOR}  ") == Identity("operator", "operator")


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        f"Basic {READER}",
        "Bearer",
        "Bearer ",
        "Bearer wrong-key-0123456789",
        f"Bearer {READER}x",
        READER,
    ],
)
def test_missing_or_wrong_credentials_are_refused(header: str | None) -> None:
    with pytest.raises(Unauthorized):
        authenticator().identify(header)


def test_anonymous_role_only_without_a_key() -> None:
    auth = authenticator("reader")
    assert auth.identify(None) == Identity("anonymous", "reader")
    with pytest.raises(Unauthorized, match="not valid"):
        auth.identify("Bearer wrong-key-0123456789")


# --- settings ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ({"name": "a", "role": "reader"}, "exactly one of 'key' and 'sha256'"),
        ({"name": "a", "role": "reader", "key": READER, "sha256": "0" * 64}, "exactly one"),
        ({"name": "a", "role": "reader", "sha256": "xyz"}, "64 hexadecimal digits"),
        ({"name": "a", "role": "reader", "key": "short"}, "at least 16 characters"),
        ({"name": "a", "role": "root", "key": READER}, "role"),
    ],
)
def test_bad_api_keys_are_configuration_errors(key: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(api_keys=[key])


def test_the_same_name_or_secret_twice_is_an_error() -> None:
    with pytest.raises(ConfigError, match="'a' used twice"):
        load_settings(api_keys=[{"name": "a", "role": "reader", "key": READER}] * 2)
    digest = hashlib.sha256(READER.encode()).hexdigest()
    with pytest.raises(ConfigError, match="same secret"):
        load_settings(
            api_keys=[
                {"name": "a", "role": "reader", "key": READER},
                {"name": "b", "role": "admin", "sha256": digest},
            ]
        )


def test_settings_from_file_environment_and_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "dtgraph.toml"
    config.write_text(
        'host = "0.0.0.0"\nport = 9000\nmax_aliases = 5\nanonymous_role = "reader"\n'
        '[[api_keys]]\nname = "ci"\nrole = "operator"\nsha256 = "' + "ab" * 32 + '"\n'
    )
    monkeypatch.setenv("DTGRAPH_PORT", "9100")  # the environment beats the file
    settings = load_settings(config, max_aliases=7)  # arguments beat both
    assert (settings.host, settings.port, settings.max_aliases) == ("0.0.0.0", 9100, 7)
    assert settings.anonymous_role == "reader"
    assert [(k.name, k.role) for k in settings.api_keys] == [("ci", "operator")]
    monkeypatch.setenv("DTGRAPH_CONFIG", str(config))
    assert load_settings().host == "0.0.0.0"
    json_config = tmp_path / "dtgraph.json"
    json_config.write_text(json.dumps({"max_page_size": 50}))
    assert load_settings(json_config).max_page_size == 50


def test_defaults() -> None:
    settings = Settings()
    assert (settings.host, settings.port, settings.anonymous_role, settings.api_keys) == (
        "127.0.0.1",
        8080,
        None,
        [],
    )
    assert settings.store_location == "memory:dtgraph-data"
    assert (settings.max_page_size, settings.max_query_depth, settings.max_aliases) == (100, 12, 30)


def test_bad_files_and_values_say_what_is_wrong(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("max_page_size = 5000\nmax_alias = 3\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert "max_page_size: Input should be less than or equal to 1000" in str(caught.value)
    assert "max_alias: Extra inputs are not permitted" in str(caught.value)
    config.write_text("port = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config)
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.toml")


def test_the_example_config_is_valid() -> None:
    settings = load_settings(REPO / "server" / "dtgraph.example.toml")
    assert settings.api_keys
    assert settings.anonymous_role is None


# --- the running server -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def graph() -> TwinGraph:
    graph = TwinGraph(MemoryStore())
    graph.upload_models([MODEL])
    return graph


@pytest.fixture(scope="module")
def url(graph: TwinGraph) -> Iterator[str]:
    with running(create_app(load_settings(api_keys=KEYS), graph)) as base:
        yield base


@pytest.fixture(scope="module")
def anonymous_url(graph: TwinGraph) -> Iterator[str]:
    with running(create_app(load_settings(api_keys=KEYS, anonymous_role="reader"), graph)) as base:
        yield base


def post(base: str, query: str, key: str | None = None, **variables: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return httpx.post(f"{base}/graphql", json={"query": query, "variables": variables}, headers=headers)


def test_no_key_is_401(url: str) -> None:
    response = post(url, "{ models { id } }")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    get = httpx.get(f"{url}/graphql", params={"query": "{ models { id } }"})  # a query by GET too
    assert get.status_code == 401


def test_a_bad_key_is_refused(url: str, anonymous_url: str) -> None:
    for base in (url, anonymous_url):  # never downgraded to anonymous
        response = post(base, "{ models { id } }", "wrong-key-0123456789")
        assert response.status_code == 401
        assert response.json()["errors"][0]["message"] == "the API key is not valid"


def test_a_reader_reads_but_cannot_write(url: str) -> None:
    assert post(url, "{ models { id } }", READER).json() == {"data": {"models": [{"id": "dtmi:test:Room;1"}]}}
    response = post(url, CREATE, READER, t=[TWIN])
    assert response.status_code == 200
    assert response.json()["data"] is None
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert "needs role 'operator'" in error["message"]
    assert post(url, '{ twin(id: "room-1") { id } }', READER).json() == {"data": {"twin": None}}


def test_an_operator_writes(url: str) -> None:
    response = post(url, CREATE, OPERATOR, t=[{**TWIN, "$dtId": "room-2"}])
    assert response.json() == {"data": {"createTwins": [{"id": "room-2"}]}}
    assert post(url, '{ twin(id: "room-2") { id } }', READER).json() == {"data": {"twin": {"id": "room-2"}}}


def test_anonymous_reader_when_configured(anonymous_url: str) -> None:
    assert post(anonymous_url, "{ models { id } }").json() == {
        "data": {"models": [{"id": "dtmi:test:Room;1"}]}
    }
    response = post(anonymous_url, CREATE, t=[{**TWIN, "$dtId": "room-3"}])
    assert [e["extensions"]["code"] for e in response.json()["errors"]] == ["FORBIDDEN"]


def test_graphiql_page_needs_no_key(url: str) -> None:
    page = httpx.get(f"{url}/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()


def test_multipart_without_credentials_is_refused(anonymous_url: str) -> None:
    operations = json.dumps(
        {"query": "mutation($f: Upload!) { importGraph(file: $f) { ok } }", "variables": {"f": None}}
    )
    files: dict[str, Any] = {
        "operations": (None, operations),
        "map": (None, '{"0": ["variables.f"]}'),
        "0": ("a.ndjson", b""),
    }
    response = httpx.post(f"{anonymous_url}/graphql", files=files)
    assert response.status_code == 400
    assert "GraphQL-Require-Preflight" in response.json()["errors"][0]["message"]


# --- WebSocket --------------------------------------------------------------------------------------


def ws_query(base: str, payload: dict[str, Any] | None, headers: dict[str, str] | None = None) -> Any:
    """connection_init with ``payload``, then one query; returns its ``next`` payload."""
    uri = base.replace("http://", "ws://") + "/graphql"
    with connect(uri, subprotocols=["graphql-transport-ws"], additional_headers=headers) as ws:  # type: ignore[list-item]
        ws.send(json.dumps({"type": "connection_init", "payload": payload or {}}))
        assert json.loads(ws.recv(timeout=10)) == {"type": "connection_ack"}
        ws.send(json.dumps({"type": "subscribe", "id": "q", "payload": {"query": "{ models { id } }"}}))
        message = json.loads(ws.recv(timeout=10))
        assert message["type"] == "next"
        return message["payload"]


def test_websocket_key_in_connection_init(url: str) -> None:
    assert ws_query(url, {"Authorization": f"Bearer {READER}"}) == {
        "data": {"models": [{"id": "dtmi:test:Room;1"}]}
    }


def test_websocket_key_in_handshake_header(url: str) -> None:
    result = ws_query(url, None, {"Authorization": f"Bearer {READER}"})
    assert result == {"data": {"models": [{"id": "dtmi:test:Room;1"}]}}


def test_websocket_without_a_valid_key_is_closed(url: str) -> None:
    for payload in ({}, {"Authorization": "Bearer wrong-key-0123456789"}, {"Authorization": 3}):
        with pytest.raises(ConnectionClosed) as closed:
            ws_query(url, payload)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


def test_websocket_with_a_wrong_key_in_the_handshake_is_refused(url: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        ws_query(url, None, {"Authorization": "Bearer wrong-key-0123456789"})
    assert refused.value.response.status_code == 403


def test_websocket_anonymous_reader(anonymous_url: str) -> None:
    assert ws_query(anonymous_url, None) == {"data": {"models": [{"id": "dtmi:test:Room;1"}]}}


def test_websocket_connection_init_without_payload_needs_a_key(url: str) -> None:
    with connect(url.replace("http://", "ws://") + "/graphql", subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
        ws.send(json.dumps({"type": "connection_init"}))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
