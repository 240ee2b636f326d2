"""The generic part of the schema on the demo enterprise, against the memory store and a real Neo4j."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dtgraph.api import ApiConfig, SchemaHolder
from tests.api.conftest import DEMO_TWINS, Api, codes, data

MACHINE = "dtmi:dtgraph:Machine;1"
ASSET = "dtmi:dtgraph:Asset;1"
MACHINE_ID = "site-0-plant-0-line-0-machine-0"


def test_models_and_one_model(demo: Api) -> None:
    got = data(demo.run("{ models { id } }"))
    ids = {m["id"] for m in got["models"]}
    assert {MACHINE, ASSET, "dtmi:dtgraph:Entity;1"} <= ids
    got = data(
        demo.run(
            """query($id: String!) { model(id: $id) { id displayName typeName
                extends { id } extendedBy { id }
                contents { kind name definedIn schema target writable } } }""",
            id=ASSET,
        )
    )["model"]
    assert got["id"] == ASSET and got["typeName"] == "Asset"
    assert [m["id"] for m in got["extends"]] == ["dtmi:dtgraph:Entity;1"]
    assert MACHINE in {m["id"] for m in got["extendedBy"]}
    contents = {c["name"]: c for c in got["contents"]}
    assert contents["dependsOn"]["kind"] == "Relationship"
    assert contents["dependsOn"]["target"] == "dtmi:dtgraph:Utility;1"
    assert contents["name"]["kind"] == "Property" and contents["name"]["schema"]["type"] == "string"
    assert contents["name"]["definedIn"] == "dtmi:dtgraph:Entity;1"
    assert data(demo.run('{ model(id: "dtmi:x:Nothing;1") { id } }'))["model"] is None


def test_twin_by_id(demo: Api) -> None:
    got = data(
        demo.run(
            """query($id: ID!) { twin(id: $id) { id model __typename properties
                status: property(name: "status") country: property(name: "location.country") } }""",
            id=MACHINE_ID,
        )
    )["twin"]
    assert got["id"] == MACHINE_ID and got["model"] == MACHINE and got["__typename"] == "Machine"
    assert got["status"] == got["properties"]["status"] and got["country"] is None
    site = data(demo.run('{ twin(id: "site-0") { properties c: property(name: "location.country") } }'))[
        "twin"
    ]
    assert site["c"] == site["properties"]["location"]["country"] == "DE"
    assert data(demo.run('{ twin(id: "no-such-twin") { id } }'))["twin"] is None


def test_pagination_walks_every_twin_once(demo: Api) -> None:
    query = """query($after: String) { twins(first: 500, after: $after) {
        edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }"""
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = data(demo.run(query, after=after))["twins"] if after else data(demo.run(query))["twins"]
        pages += 1
        seen += [e["node"]["id"] for e in page["edges"]]
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert pages == 4 and len(seen) == DEMO_TWINS == len(set(seen)) and seen == sorted(seen)
    # an edge's cursor continues right after that edge
    first = data(demo.run("{ twins(first: 3) { edges { cursor node { id } } } }"))["twins"]["edges"]
    again = data(demo.run(query.replace("500", "2"), after=first[0]["cursor"]))["twins"]["edges"]
    assert [e["node"]["id"] for e in again] == [e["node"]["id"] for e in first[1:]]


def test_page_size_default_and_limits(demo: Api) -> None:
    default = Api(demo.graph, SchemaHolder(demo.graph))  # max_page_size 100
    got = data(default.run("{ twins { edges { node { id } } pageInfo { hasNextPage } } }"))["twins"]
    assert len(got["edges"]) == 100 and got["pageInfo"]["hasNextPage"]
    assert codes(default.run("{ twins(first: 101) { edges { cursor } } }")) == ["BAD_USER_INPUT"]
    assert len(data(demo.run("{ twins(first: 1000) { edges { cursor } } }"))["twins"]["edges"]) == 1000
    assert codes(demo.run("{ twins(first: 1001) { edges { cursor } } }")) == ["BAD_USER_INPUT"]
    assert codes(demo.run("{ twins(first: 0) { edges { cursor } } }")) == ["BAD_USER_INPUT"]
    assert codes(demo.run('{ twins(after: "not a cursor") { edges { cursor } } }')) == ["BAD_USER_INPUT"]
    with pytest.raises(ValueError, match="max_page_size"):
        ApiConfig(max_page_size=1001)


def test_model_with_and_without_subtypes(demo: Api) -> None:
    query = """query($m: String, $sub: Boolean!) { twins(model: $m, includeSubtypes: $sub, first: 100) {
        edges { node { model } } } }"""
    with_subtypes = data(demo.run(query, m=ASSET, sub=True))["twins"]["edges"]
    assert {e["node"]["model"] for e in with_subtypes} > {MACHINE}
    assert data(demo.run(query, m=ASSET, sub=False))["twins"]["edges"] == []
    machines = data(demo.run(query, m=MACHINE, sub=False))["twins"]["edges"]
    assert machines and {e["node"]["model"] for e in machines} == {MACHINE}
    assert codes(demo.run(query, m="dtmi:x:Unknown;1", sub=True)) == ["UNKNOWN_MODEL"]


def test_property_filters_are_pushed_down(demo: Api) -> None:
    query = """query($where: [PropertyFilter!]) { twins(model: "dtmi:dtgraph:Machine;1", where: $where,
        first: 1000) { edges { node { properties } } } }"""
    everything = [e["node"]["properties"] for e in data(demo.run(query, where=[]))["twins"]["edges"]]
    cases = [
        ([{"path": "status", "op": "EQ", "value": "failed"}], lambda p: p.get("status") == "failed"),
        (
            [{"path": "status", "op": "NE", "value": "operational"}],
            lambda p: p.get("status") != "operational",
        ),
        ([{"path": "ratedPower", "op": "GT", "value": 50}], lambda p: p.get("ratedPower", -1) > 50),
        ([{"path": "ratedPower", "op": "LE", "value": 50}], lambda p: 0 <= p.get("ratedPower", -1) <= 50),
        (
            [{"path": "status", "op": "IN", "value": ["failed", "degraded"]}],
            lambda p: p.get("status") in ("failed", "degraded"),
        ),
        ([{"path": "manufacturer", "op": "EXISTS", "value": True}], lambda p: "manufacturer" in p),
        ([{"path": "manufacturer", "op": "EXISTS", "value": False}], lambda p: "manufacturer" not in p),
        (
            [
                {"path": "status", "op": "EQ", "value": "operational"},
                {"path": "ratedPower", "op": "LT", "value": 30},
            ],
            lambda p: p.get("status") == "operational" and p.get("ratedPower", 99) < 30,
        ),
    ]
    for where, expected in cases:
        got = [e["node"]["properties"] for e in data(demo.run(query, where=where))["twins"]["edges"]]
        assert got == [p for p in everything if expected(p)], where
    suppliers = """query($where: [PropertyFilter!]) { twins(model: "dtmi:dtgraph:Supplier;1", where: $where,
        first: 1000) { edges { node { properties } } } }"""
    everything = [e["node"]["properties"] for e in data(demo.run(suppliers))["twins"]["edges"]]
    where = [{"path": "location.country", "op": "EQ", "value": "DE"}]
    got = [e["node"]["properties"] for e in data(demo.run(suppliers, where=where))["twins"]["edges"]]
    assert got and got == [p for p in everything if p.get("location", {}).get("country") == "DE"]
    bad = [{"path": "status", "op": "IN", "value": "failed"}]
    assert codes(demo.run(query, where=bad)) == ["BAD_USER_INPUT"]


def test_relationships_and_related(demo: Api) -> None:
    got = data(
        demo.run(
            """query($id: ID!) { twin(id: $id) {
                out: relationships { id name sourceId targetId source { id } target { id model } properties }
                parent: relationships(name: "partOf") { target { id } }
                children: relationships(name: "partOf", direction: IN) { source { id } }
                two: related(name: "partOf", depth: 2) { id }
                around: related(direction: BOTH) { id } } }""",
            id="site-0-plant-0-line-0",
        )
    )["twin"]
    assert {r["name"] for r in got["out"]} >= {"partOf"}
    assert all(r["sourceId"] == "site-0-plant-0-line-0" == r["source"]["id"] for r in got["out"])
    assert [r["target"]["id"] for r in got["parent"]] == ["site-0-plant-0"]
    assert MACHINE_ID in {r["source"]["id"] for r in got["children"]}
    assert [t["id"] for t in got["two"]] == ["site-0-plant-0", "site-0"]
    around = {t["id"] for t in got["around"]}
    assert "site-0-plant-0" in around and MACHINE_ID in around


def test_containment_hierarchy(demo: Api) -> None:
    got = data(
        demo.run(
            """query($id: ID!) { twin(id: $id) { ancestors { id } } plant: twin(id: "site-0-plant-0") {
                children: descendants(depth: 1) { id model } all: descendants { id } } }""",
            id=MACHINE_ID,
        )
    )
    assert [t["id"] for t in got["twin"]["ancestors"]] == [
        "site-0-plant-0-line-0",
        "site-0-plant-0",
        "site-0",
        "enterprise",
    ]
    children = got["plant"]["children"]
    assert children and {t["model"] for t in children} == {"dtmi:dtgraph:Line;1"}
    everything = {t["id"] for t in got["plant"]["all"]}
    assert MACHINE_ID in everything and {t["id"] for t in children} < everything
    assert codes(demo.run('{ twin(id: "site-0") { descendants(depth: 11) { id } } }')) == ["BAD_USER_INPUT"]


def test_history_and_as_of(demo: Api) -> None:
    query = """query($id: ID!, $t: DateTime!) { twin(id: $id) { history { time kind twinId twin }
        asOf(time: $t) { id model } } }"""
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    result = demo.run(query, id=MACHINE_ID, t=later)
    if demo.store.capabilities.history:
        got = data(result)["twin"]
        assert any(c["twinId"] == MACHINE_ID and c["kind"] == "upsert" for c in got["history"])
        assert got["asOf"] == {"id": MACHINE_ID, "model": MACHINE}
        before = data(demo.run(query, id=MACHINE_ID, t="2000-01-01T00:00:00+00:00"))["twin"]
        assert before["asOf"] is None
    else:
        assert set(codes(result)) == {"UNSUPPORTED"}
        assert "history" in result.errors[0].message
