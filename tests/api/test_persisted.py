"""Automatic persisted queries (:mod:`dtgraph.api.persisted`), as Apollo's client sends them, on a
running server over each store: the hash alone, refused until the text was sent with it once; then the
same answers as the text itself, by POST and by GET, through the prepared path. Hashes that do not match,
unknown versions and malformed hashes get coded errors and register nothing. The table of texts keeps
its bounds, checked against a simple reference model.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from dtgraph.api.app import create_app, running
from dtgraph.api.config import load_settings
from dtgraph.api.persisted import PersistedQueries, PersistedQueryError
from dtgraph.graph.service import TwinGraph
from tests.api.conftest import Api
from tests.api.test_prepared import HOPS


@dataclass
class Server:
    url: str
    line: str


@pytest.fixture(scope="module")
def server(demo: Api) -> Iterator[Server]:
    line = demo.store.query_twins("dtmi:dtgraph:Line;1", limit=1).twins[0].id
    with running(create_app(load_settings(anonymous_role="reader"), TwinGraph(demo.store))) as url:
        yield Server(url, line)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def persisted(digest: str, version: int = 1) -> dict[str, Any]:
    return {"persistedQuery": {"version": version, "sha256Hash": digest}}


def post(server: Server, body: dict[str, Any]) -> dict[str, Any]:
    response = httpx.post(f"{server.url}/graphql", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    answer: dict[str, Any] = response.json()
    return answer


def codes(answer: dict[str, Any]) -> list[str]:
    return [error["extensions"]["code"] for error in answer.get("errors", [])]


def prepared_count(server: Server) -> float:
    families = text_string_to_metric_families(httpx.get(f"{server.url}/metrics").text)
    return next(f.samples[0].value for f in families if f.name == "dtgraph_graphql_prepared")


def test_a_hash_is_answered_once_its_text_was_sent(server: Server) -> None:
    query = HOPS + " # apollo"  # a text of this test's own: unknown to the server
    variables = {"id": server.line}
    expected = post(server, {"query": query, "variables": variables})
    assert "errors" not in expected and expected["data"]["twin"]["related"]

    unknown = post(server, {"extensions": persisted(sha(query)), "variables": variables})
    assert unknown == {
        "errors": [{"message": "PersistedQueryNotFound", "extensions": {"code": "PERSISTED_QUERY_NOT_FOUND"}}]
    }
    registered = {"query": query, "extensions": persisted(sha(query)), "variables": variables}
    assert post(server, registered) == expected

    before = prepared_count(server)
    assert post(server, {"extensions": persisted(sha(query)), "variables": variables}) == expected
    assert prepared_count(server) == before + 1  # the known text's prepared path
    got = httpx.get(
        f"{server.url}/graphql",
        params={"extensions": json.dumps(persisted(sha(query))), "variables": json.dumps(variables)},
    )
    assert got.status_code == 200 and got.json() == expected
    # another extension beside it: strawberry's path, the same answer
    both = {"persistedQuery": persisted(sha(query))["persistedQuery"], "tracing": False}
    assert post(server, {"extensions": both, "variables": variables}) == expected


def test_wrong_persisted_queries_get_coded_errors_and_register_nothing(server: Server) -> None:
    query = '{ twin(id: "site-0") { id } } # mismatch'
    other = sha(query + " ")
    assert codes(post(server, {"query": query, "extensions": persisted(other)})) == ["BAD_USER_INPUT"]
    assert codes(post(server, {"extensions": persisted(other)})) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert codes(post(server, {"query": query, "extensions": persisted(sha(query), 2)})) == [
        "PERSISTED_QUERY_NOT_SUPPORTED"
    ]
    for digest in ("ABC", sha(query).upper(), 7):
        body = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}
        assert codes(post(server, body)) == ["BAD_USER_INPUT"], digest
    assert codes(post(server, {"extensions": persisted(sha(query))})) == ["PERSISTED_QUERY_NOT_FOUND"]


# --- the table of texts, against a reference ------------------------------------------------------

texts = st.text(alphabet="abc{} ", min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(st.tuples(st.sampled_from(["keep", "look"]), texts), max_size=40),
    max_texts=st.integers(1, 5),
    max_chars=st.integers(1, 40),
)
def test_the_table_keeps_its_bounds_least_recently_used_first_out(
    steps: list[tuple[str, str]], max_texts: int, max_chars: int
) -> None:
    table = PersistedQueries(max_texts=max_texts, max_chars=max_chars)
    reference: OrderedDict[str, str] = OrderedDict()
    for action, text in steps:
        digest = sha(text)
        if action == "keep":
            assert table.resolve(text, persisted(digest)) == (text, None)
            if len(text) <= max_chars:
                reference.pop(digest, None)
                reference[digest] = text
                while len(reference) > max_texts or sum(map(len, reference.values())) > max_chars:
                    reference.popitem(last=False)
        else:
            try:
                found = table.resolve(None, persisted(digest))
            except PersistedQueryError as exc:
                assert exc.code == "PERSISTED_QUERY_NOT_FOUND"
                found = None
            assert found == ((reference[digest], None) if digest in reference else None)
            if digest in reference:
                reference.move_to_end(digest)
        assert len(table) == len(reference) <= max_texts
