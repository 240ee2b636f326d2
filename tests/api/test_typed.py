"""The typed part of the schema, generated from the library models, on the demo enterprise (both stores)."""

from __future__ import annotations

from tests.api.conftest import Api, codes, data

MACHINES = """query($where: MachineFilter, $first: Int, $after: String) {
    machines(where: $where, first: $first, after: $after) {
        edges { node { id status ratedPower machineType } } pageInfo { hasNextPage endCursor } } }"""


def all_machines(api: Api) -> list[dict]:
    return [e["node"] for e in data(api.run(MACHINES, first=1000))["machines"]["edges"]]


def test_typed_fields_and_relationships(demo: Api) -> None:
    got = data(
        demo.run(
            """{ twin(id: "site-0-plant-0-line-0-machine-0") { __typename ... on Machine {
                name status inputGate ratedPower bufferHours
                partOf { __typename id designRate partOf { __typename id floorArea } }
                dependsOn { __typename id kind ... on PowerSupply { ratedPower } }
                feeds { id } consumes { __typename id partNumber } } } }"""
        )
    )["twin"]
    assert got["__typename"] == "Machine"
    assert got["status"] in ("operational", "degraded", "failed", "maintenance", "offline")
    assert got["inputGate"] == "all" and isinstance(got["ratedPower"], float)
    assert [p["id"] for p in got["partOf"]] == ["site-0-plant-0-line-0"]
    assert got["partOf"][0]["__typename"] == "Line"
    assert got["partOf"][0]["partOf"][0] == {
        "__typename": "Plant",
        "id": "site-0-plant-0",
        "floorArea": got["partOf"][0]["partOf"][0]["floorArea"],
    }
    assert got["dependsOn"] and all(u["__typename"].endswith("Supply") for u in got["dependsOn"])
    assert [f["id"] for f in got["feeds"]] == ["site-0-plant-0-line-0-machine-1"]
    assert got["consumes"] and all(p["partNumber"] for p in got["consumes"])


def test_interfaces_of_extended_models(demo: Api) -> None:
    got = data(
        demo.run(
            """{ assets(first: 1000) { edges { node { __typename id name serialNumber
                ... on Machine { machineType } ... on Site { timeZone } } } } }"""
        )
    )["assets"]["edges"]
    kinds = {e["node"]["__typename"] for e in got}
    assert {"Machine", "Site", "Line", "Plant"} <= kinds
    assert all("machineType" in e["node"] for e in got if e["node"]["__typename"] == "Machine")
    schema = demo.holder.schema.as_str()
    assert "type Machine implements Twin & AssetInterface & EntityInterface" in schema
    assert "interface AssetInterface implements Twin & EntityInterface" in schema


def test_typed_filters(demo: Api) -> None:
    machines = all_machines(demo)
    assert len(machines) > 100
    cases = [
        ({"status": {"eq": "failed"}}, lambda m: m["status"] == "failed"),
        ({"status": {"in": ["failed", "degraded"]}}, lambda m: m["status"] in ("failed", "degraded")),
        (
            {"ratedPower": {"gt": 100, "le": 300}},
            lambda m: m["ratedPower"] is not None and 100 < m["ratedPower"] <= 300,
        ),
        (
            {"machineType": {"eq": "lathe"}, "status": {"ne": "operational"}},
            lambda m: m["machineType"] == "lathe" and m["status"] != "operational",
        ),
        ({"machineType": {"exists": False}}, lambda m: m["machineType"] is None),
    ]
    for where, expected in cases:
        got = [e["node"] for e in data(demo.run(MACHINES, where=where, first=1000))["machines"]["edges"]]
        assert got == [m for m in machines if expected(m)], where
    suppliers = data(
        demo.run(
            """{ suppliers(where: {location: {country: {eq: "DE"}}}, first: 1000) {
                edges { node { location { country } } } } }"""
        )
    )["suppliers"]["edges"]
    assert suppliers and all(e["node"]["location"]["country"] == "DE" for e in suppliers)
    assert codes(demo.run('{ machines(where: {status: {eq: "exploded"}}) { edges { cursor } } }')) == [
        "GRAPHQL_VALIDATION_FAILED"
    ]


def test_typed_pagination(demo: Api) -> None:
    machines = all_machines(demo)
    seen: list[dict] = []
    after = None
    while True:
        page = data(demo.run(MACHINES, first=70, after=after))["machines"]
        seen += [e["node"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == machines
