"""Mutations on both stores: writes, validation errors with codes and locations, roles, schema rebuilds."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from dtgraph.demo import write_ndjson
from tests.api.conftest import Api, codes, data, ndjson_upload, state
from tests.graph.conftest import BIG_PUMP, PUMP, SITE, interface, prop

VALVE = "dtmi:test:Valve;1"


def twin(twin_id: str, model: str = PUMP, **props: Any) -> dict[str, Any]:
    extra = {"motor": {"$metadata": {}}} if model in (PUMP, BIG_PUMP) else {}
    return {"$dtId": twin_id, "$metadata": {"$model": model}, **extra, **props}


def rel(rel_id: str, source: str, target: str, name: str = "feeds", **props: Any) -> dict[str, Any]:
    return {
        "$relationshipId": rel_id,
        "$sourceId": source,
        "$targetId": target,
        "$relationshipName": name,
        **props,
    }


CREATE_TWINS = "mutation($t: [JSON!]!) { createTwins(twins: $t) { id model __typename } }"
CREATE_RELS = (
    "mutation($r: [JSON!]!) { createRelationships(relationships: $r) { id source { id } target { id } } }"
)


def test_twin_and_relationship_lifecycle(api: Api) -> None:
    got = data(
        api.run(CREATE_TWINS, t=[twin("p1", speed=3), twin("p2", BIG_PUMP, stages=2), twin("s1", SITE)])
    )
    assert [(t["id"], t["__typename"]) for t in got["createTwins"]] == [
        ("p1", "Pump"),
        ("p2", "BigPump"),
        ("s1", "Site"),
    ]
    got = data(api.run(CREATE_RELS, r=[rel("r1", "p1", "p2", flow=1.5), rel("r2", "p1", "s1", "locatedIn")]))
    assert [(r["id"], r["target"]["id"]) for r in got["createRelationships"]] == [("r1", "p2"), ("r2", "s1")]
    patched = data(
        api.run(
            'mutation($p: JSON!) { patchTwin(id: "p1", patch: $p) { id ... on Pump { speed name } } }',
            p=[
                {"op": "replace", "path": "/speed", "value": 7},
                {"op": "add", "path": "/name", "value": "one"},
            ],
        )
    )["patchTwin"]
    assert patched == {"id": "p1", "speed": 7, "name": "one"}
    got = data(api.run("{ pumps { edges { node { id feeds { id } locatedIn { city } } } } }"))["pumps"][
        "edges"
    ]
    assert [e["node"]["id"] for e in got] == ["p1", "p2"] and got[0]["node"]["feeds"] == [{"id": "p2"}]
    got = data(api.run('mutation { deleteRelationships(keys: [{source: "p1", id: "r1"}]) { source id } }'))[
        "deleteRelationships"
    ]
    assert got == [{"source": "p1", "id": "r1"}]
    assert data(api.run('mutation { deleteTwins(ids: ["p2"]) }'))["deleteTwins"] == ["p2"]
    assert api.store.counts() == {"models": 5, "twins": 2, "relationships": 1}


def test_every_issue_is_one_error_with_code_and_location(api: Api) -> None:
    data(api.run(CREATE_TWINS, t=[twin("p1")]))
    before = state(api.store)
    result = api.run(
        CREATE_TWINS,
        t=[twin("ok"), twin("p1"), twin("bad", speed="fast", colour="red"), {"$dtId": "x"}, 7],
    )
    assert result.data is None
    found = sorted(
        (e.extensions["code"], json.dumps(e.extensions.get("location"), sort_keys=True))
        for e in result.errors
    )
    assert ("duplicateTwin", json.dumps({"pointer": "/$dtId", "record": 1}, sort_keys=True)) in found or any(
        c == "duplicateTwin" for c, _ in found
    )
    by_code = {e.extensions["code"]: e.extensions.get("location", {}) for e in result.errors}
    assert {"duplicateTwin", "invalidValue", "unknownProperty", "invalidRecord"} <= set(by_code)
    assert by_code["invalidValue"] == {"record": 2, "pointer": "/speed"}
    assert by_code["unknownProperty"] == {"record": 2, "pointer": "/colour"}
    assert all(e.path == ["createTwins"] for e in result.errors)
    assert state(api.store) == before  # nothing written
    result = api.run(CREATE_RELS, r=[rel("r1", "p1", "nobody"), rel("r2", "p1", "p1", "nonsense")])
    assert len(result.errors) >= 2 and all(
        e.extensions["location"]["record"] in (0, 1) for e in result.errors
    )
    assert codes(api.run('mutation { patchTwin(id: "nobody", patch: []) { id } }')) == ["missingTwin"]
    bad_patch = api.run(
        'mutation { patchTwin(id: "p1", patch: [{op: "replace", path: "/speed", value: "x"}]) { id } }'
    )
    assert codes(bad_patch) and state(api.store) == before


def test_models_upload_rebuild_and_delete(api: Api) -> None:
    assert "valves" not in api.holder.schema.as_str()
    valve = interface(VALVE, prop("open", "boolean"), prop("diameter", "double"), extends=SITE)
    got = data(api.run("mutation($m: [JSON!]!) { uploadModels(models: $m) { id typeName } }", m=[valve]))
    assert got["uploadModels"] == [{"id": VALVE, "typeName": "Valve"}]
    # the next request sees the new model, typed, without a restart
    data(api.run(CREATE_TWINS, t=[twin("v1", VALVE, open=True, diameter=0.2, city="Lyon")]))
    got = data(api.run("{ valves(where: {open: {eq: true}}) { edges { node { id open diameter city } } } }"))
    assert got["valves"]["edges"] == [{"node": {"id": "v1", "open": True, "diameter": 0.2, "city": "Lyon"}}]
    got = data(api.run("{ sites { edges { node { __typename id } } } }"))  # Site is now an interface
    assert got["sites"]["edges"] == [{"node": {"__typename": "Valve", "id": "v1"}}]
    assert codes(api.run(f'mutation {{ deleteModels(ids: ["{VALVE}"]) }}')) == ["modelInUse"]
    data(api.run('mutation { deleteTwins(ids: ["v1"]) }'))
    assert data(api.run(f'mutation {{ deleteModels(ids: ["{VALVE}"]) }}'))["deleteModels"] == [VALVE]
    assert "valves" not in api.holder.schema.as_str()
    assert codes(api.run("{ valves { edges { cursor } } }")) == ["GRAPHQL_VALIDATION_FAILED"]


def test_invalid_dtdl_reports_every_error(api: Api) -> None:
    before = state(api.store)
    broken = {
        "@context": "dtmi:dtdl:context;3",
        "@id": "dtmi:test:Broken;1",
        "@type": "Interface",
        "contents": [
            {"@type": "Property", "name": "a"},
            {"@type": "Telemetry", "name": "b", "schema": "nothing"},
        ],
    }
    result = api.run("mutation($m: [JSON!]!) { uploadModels(models: $m) { id } }", m=[broken])
    assert len(result.errors) == 2 and all(e.extensions["location"]["record"] == 0 for e in result.errors)
    assert {e.extensions["location"]["pointer"] for e in result.errors} == {
        "/contents/0",
        "/contents/1/schema",
    }
    text = (
        '{\n  "@context": "dtmi:dtdl:context;3",\n  "@id": "dtmi:test:Text;1",\n  "@type": "Interface",\n'
        '  "contents": [{"@type": "Property", "name": "a"}]\n}\n'
    )
    upload = io.BytesIO(text.encode())
    upload.name = "text.json"
    result = api.run("mutation($f: [Upload!]!) { uploadModelFiles(files: $f) { id } }", f=[upload])
    (error,) = result.errors
    assert error.extensions["location"]["source"] == "text.json"
    assert error.extensions["location"]["line"] == 5 and error.extensions["location"]["column"] >= 1
    assert state(api.store) == before
    good = io.BytesIO(json.dumps(interface("dtmi:test:Gate;1", prop("open", "boolean"))).encode())
    got = data(api.run("mutation($f: [Upload!]!) { uploadModelFiles(files: $f) { id } }", f=[good]))
    assert got["uploadModelFiles"] == [{"id": "dtmi:test:Gate;1"}]


def test_import_graph(api: Api) -> None:
    header = '{"Section": "Header"}\n{"fileVersion": "1.0.0", "author": "t", "organization": "t"}\n'
    body = (
        header
        + '{"Section": "Twins"}\n'
        + json.dumps(twin("i1", speed=1))
        + "\n"
        + json.dumps(twin("i2"))
        + "\n"
    )
    body += (
        '{"Section": "Relationships"}\n'
        + json.dumps({"$dtId": "i1", "$relationshipId": "r", "$targetId": "i2", "$relationshipName": "feeds"})
        + "\n"
    )
    query = """mutation($f: Upload!, $dry: Boolean!) { importGraph(file: $f, dryRun: $dry) {
        ok written twins relationships issues { code line pointer message } } }"""
    got = data(api.run(query, f=ndjson_upload(body), dry=True))["importGraph"]
    assert got == {"ok": True, "written": False, "twins": 2, "relationships": 1, "issues": []}
    assert api.store.counts()["twins"] == 0
    got = data(api.run(query, f=ndjson_upload(body), dry=False))["importGraph"]
    assert got["written"] and api.store.counts()["twins"] == 2
    bad = header + '{"Section": "Twins"}\n' + json.dumps(twin("i3", speed="x")) + "\n"
    got = data(api.run(query, f=ndjson_upload(bad), dry=False))["importGraph"]
    assert not got["ok"] and not got["written"] and got["issues"][0]["line"] == 4
    assert api.store.counts()["twins"] == 2


def test_import_graph_with_models_rebuilds_the_schema(api: Api) -> None:
    stream = io.StringIO()
    write_ndjson(stream, twins=60, seed=3)
    got = data(
        api.run(
            "mutation($f: Upload!) { importGraph(file: $f) { ok written models } }",
            f=ndjson_upload(stream.getvalue()),
        )
    )
    assert got["importGraph"]["written"] and got["importGraph"]["models"] > 10
    edges = data(api.run("{ machines(first: 3) { edges { node { id partOf { id } } } } }"))["machines"][
        "edges"
    ]
    assert len(edges) == 3 and all(e["node"]["partOf"] for e in edges)


MUTATIONS = [
    ("modeler", "mutation { uploadModels(models: [{a: 1}]) { id } }"),
    ("modeler", "mutation($f: [Upload!]!) { uploadModelFiles(files: $f) { id } }"),
    ("modeler", 'mutation { deleteModels(ids: ["dtmi:test:Site;1"]) }'),
    ("operator", "mutation { createTwins(twins: [{a: 1}]) { id } }"),
    ("operator", 'mutation { patchTwin(id: "p1", patch: []) { id } }'),
    ("operator", 'mutation { deleteTwins(ids: ["p1"]) }'),
    ("operator", "mutation { createRelationships(relationships: [{a: 1}]) { id } }"),
    ("operator", 'mutation { deleteRelationships(keys: [{source: "p1", id: "r1"}]) { id } }'),
    ("operator", "mutation($f: Upload!) { importGraph(file: $f) { ok } }"),
]


@pytest.mark.parametrize(
    ("needs", "mutation"), MUTATIONS, ids=[m.split("(")[0].split()[-1] for _, m in MUTATIONS]
)
def test_roles(api: Api, needs: str, mutation: str) -> None:
    data(api.run(CREATE_TWINS, t=[twin("p1"), twin("p2")]))
    data(api.run(CREATE_RELS, r=[rel("r1", "p1", "p2")]))
    before = state(api.store)
    variables: dict[str, Any] = {}
    if "$f: [Upload!]!" in mutation:
        variables["f"] = [io.BytesIO(b"{}")]
    elif "$f: Upload!" in mutation:
        variables["f"] = ndjson_upload("{}\n")
    refused = ["reader", None] + (["modeler"] if needs == "operator" else [])
    for role in refused:
        result = api.run(mutation, role=role, **variables)
        assert codes(result) == ["FORBIDDEN"], role
        assert state(api.store) == before
    assert codes(api.run("{ twins { edges { cursor } } }", role=None)) == ["FORBIDDEN"]
    assert data(api.run("{ twins { edges { cursor } } }", role="reader"))


def test_import_aas_previews_then_loads_a_supplier_package(api: Api) -> None:
    sample = Path(__file__).resolve().parents[2] / "aas" / "acme-motor.json"
    query = """mutation($f: Upload!, $dry: Boolean!) { importAas(file: $f, dryRun: $dry) {
        ok written created models errors { code message } changes { op kind id } } }"""

    def upload() -> io.BytesIO:
        f = io.BytesIO(sample.read_bytes())
        f.name = sample.name  # the reader tells JSON, XML and AASX apart by the name
        return f

    before = api.store.counts()
    preview = data(api.run(query, f=upload(), dry=True))["importAas"]
    assert preview["ok"] and not preview["written"] and preview["created"] > 0
    assert {c["op"] for c in preview["changes"]} == {"create"}
    assert api.store.counts() == before
    loaded = data(api.run(query, f=upload(), dry=False))["importAas"]
    assert loaded["written"] and loaded["created"] == preview["created"]
    shells = data(api.run("{ assetAdministrationShells(first: 5) { edges { node { id } } } }"))
    assert shells["assetAdministrationShells"]["edges"]
    forbidden = api.run(query, role="reader", f=upload(), dry=False)
    assert forbidden.errors and forbidden.errors[0].extensions["code"] == "FORBIDDEN"
