"""The server's cascade configuration: setting, ``--cascade-config``, and the GraphQL queries that use it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest

from dtgraph.api import SchemaHolder, make_context
from dtgraph.api.app import create_app, running
from dtgraph.api.cascade import use_cascade_config
from dtgraph.api.config import ConfigError, load_settings
from dtgraph.cascade import CascadeConfigError
from dtgraph.cli import main
from dtgraph.graph.service import TwinGraph
from dtgraph.stores.base import Store
from dtgraph.stores.memory import MemoryStore
from tests.cascade.usermodel import (
    CONTRACT,
    DOCUMENTS,
    FEEDER_FAILS,
    STATION,
    load,
    loaded_store,
    write_config,
)

CASCADE = """
query ($failed: [ID!]!) {
  cascade(failed: $failed, horizonHours: 24) {
    valueAtRisk orderValueAtRisk
    impacted { twinId category hoursToImpact steps { twinId via } }
    rollups { twinId kind }
    customers { customer valueAtRisk }
  }
}
"""

CRITICALITY = "{ criticality(top: 3, horizonHours: 24) { twinId valueAtRisk singlePointOfFailureFor } }"


@pytest.fixture(params=["memory", "neo4j"])
def acme_store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Store]:
    with loaded_store(request, tmp_path) as store:
        yield store


def post(url: str, query: str, **variables) -> dict:
    response = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def test_graphql_cascade_with_the_server_configuration(acme_store, tmp_path):
    settings = load_settings(anonymous_role="reader", cascade_config=write_config(tmp_path))
    with running(create_app(settings, TwinGraph(acme_store))) as url:
        body = post(url, CASCADE, failed=["feeder"])
        assert "errors" not in body, body
        result = body["data"]["cascade"]
        assert {i["twinId"]: i["hoursToImpact"] for i in result["impacted"]} == FEEDER_FAILS
        assert {r["twinId"]: r["kind"] for r in result["rollups"]} == {
            "cell": "Line",
            "sku": "Product",
            "contract": "CustomerOrder",
        }
        assert result["customers"] == [{"customer": "Globex", "valueAtRisk": 1000.0}]
        assert result["valueAtRisk"] == pytest.approx(1000.0 + 10.0 * 16)
        contract = next(i for i in result["impacted"] if i["twinId"] == "contract")
        assert [s["via"] for s in contract["steps"]] == [
            "",
            "poweredBy",
            "fedBy",
            "fedBy",
            "madeAt",
            "covers",
        ]
        ranking = post(url, CRITICALITY)["data"]["criticality"]
        assert ranking[0]["valueAtRisk"] >= 1000.0 and "contract" in ranking[0]["singlePointOfFailureFor"]
    # the same server without it: the acme relationships carry nothing
    with running(create_app(load_settings(anonymous_role="reader"), TwinGraph(acme_store))) as url:
        impacted = post(url, CASCADE, failed=["feeder"])["data"]["cascade"]["impacted"]
        assert [i["twinId"] for i in impacted] == ["feeder"]


HIERARCHY = '{ twin(id: "s1") { ancestors { id } } cell: twin(id: "cell") { descendants { id } } }'


def test_the_containment_hierarchy_follows_the_configuration(acme_store, tmp_path):
    settings = load_settings(anonymous_role="reader", cascade_config=write_config(tmp_path))
    with running(create_app(settings, TwinGraph(acme_store))) as url:
        data = post(url, HIERARCHY)["data"]
        assert [t["id"] for t in data["twin"]["ancestors"]] == ["cell"]
        assert sorted(t["id"] for t in data["cell"]["descendants"]) == ["s1", "s2", "s3"]
    # without it, inCell is just a relationship
    with running(create_app(load_settings(anonymous_role="reader"), TwinGraph(acme_store))) as url:
        data = post(url, HIERARCHY)["data"]
        assert data["twin"]["ancestors"] == [] and data["cell"]["descendants"] == []


def test_settings_read_the_file_and_the_environment(tmp_path, monkeypatch):
    good = write_config(tmp_path)
    assert load_settings(cascade_config=good).cascade_config == good
    monkeypatch.setenv("DTGRAPH_CASCADE_CONFIG", str(good))
    assert load_settings().cascade_config == good
    bad = tmp_path / "bad.toml"
    bad.write_text('[[relationship]]\ninterface = "x"\nname = "y"\ndirection = "up"\nkind = "supply"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(cascade_config=bad)
    assert f"{bad}:4: invalidDirection" in str(caught.value) and "cascade_config" in str(caught.value)


def test_a_configuration_that_does_not_fit_the_models_stops_the_server(tmp_path):
    store = MemoryStore()
    load(store)
    text = write_config(tmp_path).read_text() + '\n[[interface]]\nid = "dtmi:acme:Gone;1"\n'
    settings = load_settings(cascade_config=write_config(tmp_path, text))
    with pytest.raises(CascadeConfigError) as caught:
        create_app(settings, TwinGraph(store))
    assert [i.code for i in caught.value.issues] == ["unknownInterface"]
    # an empty store is checked on the first query instead
    use_cascade_config(TwinGraph(MemoryStore()), write_config(tmp_path))


def test_models_changed_since_the_start(tmp_path):
    store = MemoryStore()
    graph = TwinGraph(store)
    graph.upload_models(DOCUMENTS)
    graph.create_twins([{"$dtId": "s", "$metadata": {"$model": STATION}}])
    use_cascade_config(graph, write_config(tmp_path))
    holder = SchemaHolder(graph)

    def run(query: str, **variables):
        ctx = make_context(graph, "reader")
        return asyncio.run(holder.schema.execute(query, variable_values=variables, context_value=ctx))

    assert run(CASCADE, failed=["s"]).errors is None
    graph.delete_models([CONTRACT])
    result = run(CASCADE, failed=["s"])
    assert result.errors and result.errors[0].extensions["code"] == "INVALID_CASCADE_CONFIG"
    issues = result.errors[0].extensions["location"]["issues"]
    assert [(i["code"], i["line"]) for i in issues] == [("unknownInterface", 23), ("unknownInterface", 43)]
    assert str(tmp_path) not in str(result.errors[0].formatted)  # no server paths to clients
    again = run(CASCADE, failed=["s"])  # the misfit is remembered for these models, and said again
    assert again.errors and again.errors[0].extensions == result.errors[0].extensions
    graph.upload_models([d for d in DOCUMENTS if d["@id"] == CONTRACT])
    assert run(CASCADE, failed=["s"]).errors is None


def test_serve_refuses_an_invalid_configuration(tmp_path, capsys):
    bad = write_config(tmp_path, "[[interface]]\n")
    data = f"memory:{tmp_path / 'data'}"
    assert main(["serve", "--cascade-config", str(bad), "--store", data, "--port", "0"]) == 2
    assert f"{bad}:1: missingKey" in capsys.readouterr().err
    store = MemoryStore(tmp_path / "data")
    load(store)
    store.close()
    unfit = write_config(tmp_path, '[[interface]]\nid = "dtmi:acme:Gone;1"\n')
    assert main(["serve", "--cascade-config", str(unfit), "--store", data, "--port", "0"]) == 2
    assert f"{unfit}:2: unknownInterface" in capsys.readouterr().err
