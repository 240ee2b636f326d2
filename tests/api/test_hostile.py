"""Hostile strings in every argument: clean errors or empty results, and the store is left as it was.

Both stores run: the Neo4j store builds Cypher, so quotes, backticks, braces and Cypher fragments must
reach it only as parameters (or be refused by the API before).
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.api.conftest import Api, codes, data, state
from tests.graph.conftest import PUMP

HOSTILE = [
    "'",
    '"',
    "`",
    "}",
    "{",
    "\\",
    "') RETURN 1 //",
    "x` DETACH DELETE n //",
    "}) MATCH (n) DETACH DELETE n //",
    "'}) WITH 1 AS x MATCH (n) DETACH DELETE n RETURN x //",
    "dtmi:test:`Pump`;1",
    "$ids",
    "name.`x`",
    "\u202e\u0000\u2028",
    "x" * 5000,
]


@pytest.fixture
def seeded(api: Api) -> Api:
    api.graph.create_twins(
        [
            {
                "$dtId": "p1",
                "$metadata": {"$model": PUMP},
                "motor": {"$metadata": {}},
                "name": "one",
                "speed": 1,
            },
            {"$dtId": "p2", "$metadata": {"$model": PUMP}, "motor": {"$metadata": {}}, "speed": 2},
        ]
    )
    api.graph.create_relationships(
        [{"$relationshipId": "r1", "$sourceId": "p1", "$targetId": "p2", "$relationshipName": "feeds"}]
    )
    return api


def cursor(text: str) -> str:
    return base64.urlsafe_b64encode(("twin:" + text).encode()).decode()


READS: list[tuple[str, dict[str, Any] | None, str | None]] = [
    # (query, expected data or None, expected error code or None); $h is the hostile string
    ("query($h: ID!) { twin(id: $h) { id } }", {"twin": None}, None),
    ("query($h: String!) { model(id: $h) { id } }", {"model": None}, None),
    ("query($h: String!) { twins(model: $h) { edges { cursor } } }", None, "UNKNOWN_MODEL"),
    (
        "query($h: String!) { twins(where: [{path: $h, op: EQ, value: 1}]) { edges { cursor } } }",
        None,
        "BAD_USER_INPUT",
    ),
    (
        'query($h: JSON!) { twins(where: [{path: "name", op: EQ, value: $h}]) { edges { cursor } } }',
        {"twins": {"edges": []}},
        None,
    ),
    (
        'query($h: JSON!) { twins(where: [{path: "name", op: GT, value: $h}]) { edges { node { id } } } }',
        "any",
        None,
    ),
    ("query($h: String!) { twins(after: $h) { edges { cursor } } }", None, "BAD_USER_INPUT"),
    ('query($h: String!) { twin(id: "p1") { relationships(name: $h) { id } } }', None, "BAD_USER_INPUT"),
    ('query($h: String!) { twin(id: "p1") { related(name: $h) { id } } }', None, "BAD_USER_INPUT"),
    ('query($h: String!) { twin(id: "p1") { value: property(name: $h) } }', {"twin": {"value": None}}, None),
    (
        "query($h: String!) { pumps(where: {name: {eq: $h}}) { edges { cursor } } }",
        {"pumps": {"edges": []}},
        None,
    ),
    (
        "query($h: String!) { pumps(where: {name: {in: [$h]}}) { edges { cursor } } }",
        {"pumps": {"edges": []}},
        None,
    ),
    ("query($h: String!) { pumps(where: {name: {lt: $h}}) { edges { node { id } } } }", "any", None),
    ("query($h: String!) { pumps(after: $h) { edges { cursor } } }", None, "BAD_USER_INPUT"),
]


@pytest.mark.parametrize("hostile", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_reads(seeded: Api, hostile: str) -> None:
    before = state(seeded.store)
    for query, expected, code in READS:
        result = seeded.run(query, h=hostile)
        if code is not None:
            assert codes(result) == [code], query
            assert (
                "Cypher" not in result.errors[0].message and "neo4j" not in result.errors[0].message.lower()
            )
        elif expected == "any":
            data(result)
        else:
            assert data(result) == expected, query
    # a well-formed cursor holding the hostile string pages on from where it would sort
    got = data(
        seeded.run("query($a: String!) { twins(after: $a) { edges { node { id } } } }", a=cursor(hostile))
    )
    assert [e["node"]["id"] for e in got["twins"]["edges"]] == [i for i in ("p1", "p2") if i > hostile]
    assert state(seeded.store) == before


@pytest.mark.parametrize("hostile", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_writes_change_nothing(seeded: Api, hostile: str) -> None:
    before = state(seeded.store)
    attempts = [
        ("mutation($h: ID!) { deleteTwins(ids: [$h]) }", {}),
        ("mutation($h: ID!) { patchTwin(id: $h, patch: []) { id } }", {}),
        (
            'mutation($h: JSON!) { patchTwin(id: "p1", patch: [{op: "replace", path: $h, value: 1}]) '
            "{ id } }",
            {},
        ),
        ("mutation($h: String!) { deleteModels(ids: [$h]) }", {}),
        ("mutation($h: String!) { deleteRelationships(keys: [{source: $h, id: $h}]) { id } }", {}),
        ('mutation($h: String!) { deleteRelationships(keys: [{source: "p1", id: $h}]) { id } }', {}),
        (
            "mutation($r: [JSON!]!) { createRelationships(relationships: $r) { id } }",
            {
                "r": [
                    {
                        "$relationshipId": "x",
                        "$sourceId": "p1",
                        "$targetId": "p2",
                        "$relationshipName": hostile,
                    }
                ]
            },
        ),
        (
            "mutation($r: [JSON!]!) { createRelationships(relationships: $r) { id } }",
            {
                "r": [
                    {
                        "$relationshipId": hostile,
                        "$sourceId": "p1",
                        "$targetId": hostile,
                        "$relationshipName": "feeds",
                    }
                ]
            },
        ),
        (
            "mutation($t: [JSON!]!) { createTwins(twins: $t) { id } }",
            {"t": [{"$dtId": "p9", "$metadata": {"$model": hostile}}]},
        ),
        (  # ("$…" members are record metadata: the graph layer drops those it does not know)
            "mutation($t: [JSON!]!) { createTwins(twins: $t) { id } }",
            {
                "t": [
                    {
                        "$dtId": "p9",
                        "$metadata": {"$model": PUMP},
                        "motor": {"$metadata": {}},
                        "_" + hostile: 1,
                    }
                ]
            },
        ),
        (
            "mutation($m: [JSON!]!) { uploadModels(models: $m) { id } }",
            {"m": [{"@context": "dtmi:dtdl:context;3", "@id": hostile, "@type": "Interface"}]},
        ),
    ]
    for mutation, variables in attempts:
        result = (
            seeded.run(mutation, h=hostile, **variables)
            if "$h" in mutation
            else seeded.run(mutation, **variables)
        )
        if result.errors:
            assert all(
                (e.extensions or {}).get("code") not in (None, "INTERNAL_SERVER_ERROR") for e in result.errors
            ), [(e.message, e.extensions) for e in result.errors]
        assert state(seeded.store) == before, mutation


def test_hostile_values_are_stored_verbatim(seeded: Api) -> None:
    for n, hostile in enumerate(HOSTILE[:-1]):
        twin = {"$dtId": f"h{n}", "$metadata": {"$model": PUMP}, "motor": {"$metadata": {}}, "name": hostile}
        data(seeded.run("mutation($t: [JSON!]!) { createTwins(twins: $t) { id } }", t=[twin]))
        got = data(
            seeded.run(
                "query($v: String!) { pumps(where: {name: {eq: $v}}) { edges { node { id name } } } }",
                v=hostile,
            )
        )
        assert got["pumps"]["edges"] == [{"node": {"id": f"h{n}", "name": hostile}}]
