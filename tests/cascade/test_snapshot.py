"""The snapshot: declarations from the models, roll-up nodes, canonical order, the same from every store."""

from __future__ import annotations

import numpy as np

from dtgraph.cascade import cascade, criticality, from_records, snapshot
from dtgraph.cascade.snapshot import KINDS, DependencyGraph
from dtgraph.demo import generate_records
from dtgraph.graph.records import Relationship, Twin
from dtgraph.library import library_model_set
from tests.cascade.conftest import DEMO_TWINS

ARRAYS = (
    "category", "buffer", "recovery", "probability", "lump", "rate", "gate", "fail_at", "owner", "rollup",
    "indptr", "targets", "edge_source", "edge_lead", "edge_probability", "edge_kind", "edge_name",
)  # fmt: skip


def demo_records(twins=DEMO_TWINS):
    for section, obj in generate_records(twins, 7):
        if section == "Twins":
            yield Twin.from_json(obj)
        elif section == "Relationships":
            yield Relationship.from_json(obj)


def same(a: DependencyGraph, b: DependencyGraph) -> bool:
    arrays = all(np.array_equal(getattr(a, x), getattr(b, x), equal_nan=True) for x in ARRAYS)
    return arrays and a.ids == b.ids and a.names == b.names and a.customer == b.customer


def test_order_of_the_stream_does_not_matter():
    records = list(demo_records(600))
    twins = [r for r in records if isinstance(r, Twin)]
    rels = [r for r in records if isinstance(r, Relationship)]
    models = library_model_set()
    assert same(from_records(records, models), from_records([*twins[::-1], *rels[::-1]], models))


def test_declarations_orient_the_edges():
    g = from_records(demo_records(600), library_model_set())

    def edge(u, v):
        iu, iv = g.index(u), g.index(v)
        for node in {iu, g.output(iu)}:
            for e in range(g.indptr[node], g.indptr[node + 1]):
                if g.targets[e] == iv:
                    return KINDS[g.edge_kind[e]], g.names[g.edge_name[e]]
        return None

    assert edge("site-0-power", "site-0-plant-0-line-0-machine-0") == ("utility", "dependsOn")  # reversed
    assert edge("site-0-plant-0-line-0", "site-0-plant-0-line-0-machine-0") == ("hierarchy", "partOf")
    assert edge("site-0-plant-0-line-0-machine-0", "site-0-plant-0-line-0-machine-1") == ("material", "feeds")
    assert edge("site-0-plant-0-line-0-machine-0", "site-0-plant-0-line-0") is None  # no roll-up back up
    # the roll-up node of a line has its last machine as its only sink
    line = g.index("site-0-plant-0-line-0")
    r = g.rollup[line]
    sinks = {g.label(int(g.edge_source[e])) for e in g.in_edges[g.in_indptr[r] : g.in_indptr[r + 1]]}
    assert sinks == {"site-0-plant-0-line-0", "site-0-plant-0-line-0-machine-4"}
    assert g.fail_at[r] == 1
    # sensors and utilities take no part in roll-ups
    assert g.rollup[g.index("site-0-plant-0-line-0-machine-0")] == -1


def test_the_same_on_every_store(demo_store):
    expected = from_records(demo_records(), library_model_set())
    graph = snapshot(demo_store)
    assert same(graph, expected)
    a = cascade(graph, ["supplier-1-0", "site-0-power"], horizon=300.0)
    b = cascade(expected, ["supplier-1-0", "site-0-power"], horizon=300.0)
    assert a.to_json() == b.to_json()
    top = criticality(graph, horizon=168.0).to_json(top=10)
    assert top == criticality(expected, horizon=168.0).to_json(top=10)


def test_demo_results_are_sensible_and_explained():
    g = from_records(demo_records(), library_model_set())
    power = cascade(g, ["site-0-power"], horizon=24.0)
    # the distribution board takes every machine and plant of the site down at once, nothing else
    down = {i.twin for i in power.impacts if i.state == "stopped"}
    assert all(t == "site-0" or t.startswith(("site-0-", "product-", "order-")) for t in down)
    assert power.impact("site-0").chain[-1].via == "roll-up"  # both plants stopped
    assert power.impact("enterprise").state == "degraded"
    assert all(i.time == 0.0 for i in power.impacts if i.category == "Machine")
    assert power.impact("site-0-plant-0").chain[-1].via == "dependsOn"
    # the grid alone is covered by the generator: the site is only degraded
    grid = cascade(g, ["site-0-grid"], horizon=24.0)
    assert [i.twin for i in grid.impacts if i.state == "stopped"] == []
    assert grid.impact("site-0").state == "degraded"
    # a supplier's failure reaches orders only through parts, lines and products, in that order
    supplier = cascade(g, ["supplier-1-0"], horizon=2000.0)
    orders = supplier.by_category("CustomerOrder")
    assert orders and supplier.order_value > 0
    kinds = [g.category_of(g.index(s.twin)) for s in orders[0].chain]
    assert kinds[0] == "Supplier" and kinds[1] == "Part" and kinds[-2:] == ["Product", "CustomerOrder"]
