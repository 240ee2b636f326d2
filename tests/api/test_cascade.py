"""The ``cascade`` and ``criticality`` queries on the demo enterprise, over both stores.

Every answer is also compared with the same query on a separate memory store loaded from the same demo
file (``reference``), so the memory and Neo4j runs are checked to give identical results.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest

from dtgraph.api import SchemaHolder
from dtgraph.cascade import MAX_SAMPLES, cascade, snapshot
from dtgraph.graph.bulk import import_graph
from dtgraph.graph.service import TwinGraph
from dtgraph.stores.memory import MemoryStore
from tests.api.conftest import Api, CountingStore, codes, data, demo_file

CASCADE = """
query (
  $failed: [ID!]!, $samples: Int = 0, $seed: Int = 0, $horizon: Float = 168, $recovery: Boolean = false
) {
  cascade(failed: $failed, samples: $samples, seed: $seed, horizonHours: $horizon, recovery: $recovery) {
    failed horizonHours samples valueAtRisk valueAtRiskP95 expectedValueAtRisk
    orderValueAtRisk revenueAtRisk
    impacted {
      twinId category state failed hoursToImpact hoursToRecover probability valueAtRisk explanation
      steps { twinId hoursToImpact via }
    }
    rollups { twinId kind state hoursToImpact valueAtRisk }
    customers { customer valueAtRisk }
  }
}
"""

CRITICALITY = """
query ($top: Int = 10, $scope: ID) {
  criticality(top: $top, scope: $scope) {
    twinId category valueAtRisk annualLoss singlePointOfFailureFor timeToSurviveHours
    timeToRecoverHours exposed twin { id model }
  }
}
"""


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The same demo enterprise in a memory store of its own: what every store must answer."""
    folder = tmp_path_factory.mktemp("reference")
    store = MemoryStore(folder / "data", fsync=False)
    assert import_graph(demo_file(folder), store).ok
    graph = TwinGraph(store)
    try:
        yield Api(graph, SchemaHolder(graph))
    finally:
        store.close()


@pytest.fixture(scope="module")
def supplier(reference: Api) -> str:
    """A supplier of the demo whose failure alone reaches customer orders within a week."""
    graph = snapshot(reference.store)
    for twin_id in graph.ids:
        if twin_id.startswith("supplier-") and cascade(graph, [twin_id]).by_category("CustomerOrder"):
            return twin_id
    raise AssertionError("no supplier of the demo reaches an order")


def linked(store: Any, a: str, b: str) -> bool:
    rels = store.relationships([a], direction="both")[a]
    return any({r.source, r.target} == {a, b} for r in rels)


def test_supplier_failure_reaches_orders_with_real_chains(demo: Api, supplier: str) -> None:
    result = data(demo.run(CASCADE, role="reader", failed=[supplier]))["cascade"]
    assert result["failed"] == [supplier]
    assert result["samples"] == 0 and result["valueAtRiskP95"] is None
    assert result["valueAtRisk"] > 0
    impacted = result["impacted"]
    assert impacted[0] == {
        "twinId": supplier,
        "category": "Supplier",
        "state": "down",
        "failed": True,
        "hoursToImpact": 0.0,
        "hoursToRecover": None,
        "probability": 1.0,
        "valueAtRisk": 0.0,
        "explanation": [supplier],
        "steps": [{"twinId": supplier, "hoursToImpact": 0.0, "via": ""}],
    }
    orders = [i for i in impacted if i["category"] == "CustomerOrder"]
    assert orders
    assert {r["twinId"] for r in result["rollups"] if r["kind"] == "CustomerOrder"} == {
        o["twinId"] for o in orders
    }
    for order in orders:
        chain = order["explanation"]
        assert chain[0] == supplier and chain[-1] == order["twinId"]
        assert len(set(chain)) == len(chain)
        assert [s["twinId"] for s in order["steps"]] == chain
        times = [s["hoursToImpact"] for s in order["steps"]]
        assert times == sorted(times) and times[-1] == order["hoursToImpact"] <= 168
        assert all(s["via"] for s in order["steps"][1:])
        for a, b in itertools.pairwise(chain):
            assert linked(demo.store, a, b), f"{a} -> {b} in {chain} is no relationship"
    # degraded twins: partly down, no time; every explanation ends on the twin itself
    for i in impacted:
        assert i["explanation"][-1] == i["twinId"]
        assert (i["state"] == "degraded") == (i["hoursToImpact"] is None)


def test_twins_are_loaded_through_the_data_loader(demo: Api, supplier: str) -> None:
    query = """query ($f: [ID!]!) { cascade(failed: $f) {
        impacted(category: "CustomerOrder", first: 3) { twinId twin { id model } }
        rollups { twinId twin { id } } } }"""
    result = data(demo.run(query, role="reader", f=[supplier]))["cascade"]
    assert len(result["impacted"]) == 3
    for row in result["impacted"]:
        assert row["twin"] == {"id": row["twinId"], "model": "dtmi:dtgraph:CustomerOrder;1"}
    assert all(r["twin"]["id"] == r["twinId"] for r in result["rollups"])


def test_impacted_twins_are_read_as_their_typed_types(demo: Api, supplier: str) -> None:
    query = """query ($f: [ID!]!) { cascade(failed: $f) {
        impacted(category: "CustomerOrder", first: 3) { twinId valueAtRisk
          twin { __typename ... on CustomerOrder { customer orderValue } } } } }"""
    result = data(demo.run(query, role="reader", f=[supplier]))["cascade"]
    assert len(result["impacted"]) == 3
    for row in result["impacted"]:
        order = demo.store.get_twins([row["twinId"]])[row["twinId"]]
        assert row["twin"] == {
            "__typename": "CustomerOrder",
            "customer": order.properties["customer"],
            "orderValue": order.properties["orderValue"],
        }
        assert row["valueAtRisk"] >= order.properties["orderValue"]


def test_results_are_identical_on_every_store(demo: Api, reference: Api, supplier: str) -> None:
    for variables in (
        {"failed": [supplier]},
        {"failed": [supplier], "recovery": True, "horizon": 400.0},
        {"failed": ["site-0", supplier], "horizon": 72.0},
    ):
        assert data(demo.run(CASCADE, **variables)) == data(reference.run(CASCADE, **variables))
    assert data(demo.run(CRITICALITY, top=20)) == data(reference.run(CRITICALITY, top=20))


def test_monte_carlo_is_reproducible_from_a_seed(demo: Api, reference: Api, supplier: str) -> None:
    first = data(demo.run(CASCADE, role="reader", failed=[supplier], samples=200, seed=11))["cascade"]
    again = data(demo.run(CASCADE, role="reader", failed=[supplier], samples=200, seed=11))["cascade"]
    assert first == again
    assert first == data(reference.run(CASCADE, failed=[supplier], samples=200, seed=11))["cascade"]
    assert first["samples"] == 200
    assert first["valueAtRiskP95"] >= first["expectedValueAtRisk"] > 0
    probabilities = {i["twinId"]: i["probability"] for i in first["impacted"] if i["state"] == "down"}
    assert probabilities[supplier] == 1.0
    assert all(0.0 <= p <= 1.0 for p in probabilities.values())
    assert any(0.0 < p < 1.0 for p in probabilities.values())  # random recovery makes some uncertain
    assert all(i["probability"] is None for i in first["impacted"] if i["state"] == "degraded")
    # the deterministic part does not depend on the samples
    plain = data(demo.run(CASCADE, failed=[supplier]))["cascade"]
    assert first["valueAtRisk"] == plain["valueAtRisk"]
    assert [i["twinId"] for i in first["impacted"]] == [i["twinId"] for i in plain["impacted"]]
    other = data(demo.run(CASCADE, failed=[supplier], samples=200, seed=12))["cascade"]
    assert other["expectedValueAtRisk"] != first["expectedValueAtRisk"]


def test_reader_may_run_the_analysis_and_no_role_may_not(demo: Api, supplier: str) -> None:
    assert data(demo.run(CASCADE, role="reader", failed=[supplier]))["cascade"]["impacted"]
    assert data(demo.run(CRITICALITY, role="reader", top=1))["criticality"]
    assert codes(demo.run(CASCADE, role=None, failed=[supplier])) == ["FORBIDDEN"]
    assert codes(demo.run(CRITICALITY, role=None)) == ["FORBIDDEN"]


def test_unknown_twins_are_not_found(demo: Api, supplier: str) -> None:
    result = demo.run(CASCADE, role="reader", failed=[supplier, "no-such-twin", "nor-this"])
    assert codes(result) == ["NOT_FOUND"]
    assert result.errors is not None
    message = result.errors[0].message
    assert "no-such-twin" in message and "nor-this" in message and supplier not in message
    assert result.errors[0].extensions is not None
    assert result.errors[0].extensions["location"]["ids"] == ["no-such-twin", "nor-this"]
    assert codes(demo.run(CRITICALITY, scope="no-such-site")) == ["NOT_FOUND"]


@pytest.mark.parametrize(
    ("variables", "argument"),
    [
        ({"failed": []}, "failed"),
        ({"samples": -1}, "samples"),
        ({"samples": MAX_SAMPLES + 1}, "samples"),
        ({"seed": -3}, "seed"),
        ({"horizon": 0.0}, "horizonHours"),
        ({"horizon": -5.0}, "horizonHours"),
    ],
)
def test_bad_arguments(demo: Api, supplier: str, variables: dict[str, Any], argument: str) -> None:
    result = demo.run(CASCADE, **{"failed": [supplier], **variables})
    assert codes(result) == ["BAD_USER_INPUT"]
    assert result.errors is not None and result.errors[0].extensions is not None
    assert result.errors[0].extensions["location"] == {"argument": argument}


@pytest.mark.parametrize("top", [0, -1, 101])
def test_criticality_top_is_bounded(demo: Api, top: int) -> None:
    assert codes(demo.run(CRITICALITY, top=top)) == ["BAD_USER_INPUT"]


def test_criticality_top_5_by_value_at_risk(demo: Api) -> None:
    ranking = data(demo.run(CRITICALITY, role="reader", top=5))["criticality"]
    assert len(ranking) == 5
    values = [c["valueAtRisk"] for c in ranking]
    assert values == sorted(values, reverse=True) and values[-1] > 0
    everything = data(demo.run(CRITICALITY, top=100))["criticality"]
    assert everything[:5] == ranking
    assert len(everything) == 100
    for c in ranking:
        assert c["twin"]["id"] == c["twinId"]
        assert c["singlePointOfFailureFor"]
        assert c["timeToSurviveHours"] is not None
        ttr = c["timeToRecoverHours"]
        assert c["exposed"] == (ttr is not None and ttr > c["timeToSurviveHours"])
    # a single point of failure of an order really stops it, on its own
    twin, order = next(
        (c["twinId"], t) for c in ranking for t in c["singlePointOfFailureFor"] if t.startswith("order-")
    )
    alone = data(demo.run(CASCADE, failed=[twin], horizon=10_000.0))["cascade"]["impacted"]
    assert order in {i["twinId"] for i in alone if i["state"] == "down"}


def test_criticality_within_a_scope(demo: Api) -> None:
    query = """query { criticality(top: 100, scope: "site-3") {
        twinId valueAtRisk twin { ancestors { id } } } }"""
    ranking = data(demo.run(query, role="reader"))["criticality"]
    assert ranking
    assert all("site-3" in {a["id"] for a in c["twin"]["ancestors"]} for c in ranking)
    values = [c["valueAtRisk"] for c in ranking]
    assert values == sorted(values, reverse=True)


def test_one_snapshot_per_request(demo: Api, supplier: str) -> None:
    counting = CountingStore(demo.store)
    graph = TwinGraph(counting)
    holder = SchemaHolder(graph)
    query = """query ($f: [ID!]!) {
        a: cascade(failed: $f) { valueAtRisk }
        b: cascade(failed: $f, samples: 20) { valueAtRiskP95 }
        criticality(top: 2) { twinId }
    }"""
    api = Api(graph, holder)
    first = data(api.run(query, role="reader", f=[supplier]))
    assert counting.calls.get("snapshot") == 1
    counting.reset()
    assert data(api.run(query, role="reader", f=[supplier])) == first
    assert counting.calls.get("snapshot") == 1  # a new request reads the store again


def test_schema_shape(demo: Api) -> None:
    sdl = str(demo.holder.schema)
    for line in (
        "cascade(failed: [ID!]!, horizonHours: Float! = 168, samples: Int! = 0, seed: Int! = 0, "
        "recovery: Boolean! = false): CascadeResult!",
        "criticality(top: Int! = 10, scope: ID = null, horizonHours: Float! = 168): [CriticalTwin!]!",
        "explanation: [ID!]!",
        "singlePointOfFailureFor: [ID!]!",
    ):
        assert line in sdl, line
