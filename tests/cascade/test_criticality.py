"""Layer 3: single points of failure against dominators; ranking; time to survive vs time to recover."""

from __future__ import annotations

import math

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from dtgraph.cascade import criticality, from_networkx, reference, single_points_of_failure
from tests.cascade.helpers import graph


@st.composite
def any_gated_dags(draw):
    n = draw(st.integers(2, 12))
    g = nx.DiGraph()
    for i in range(n):
        g.add_node(f"n{i:02}", gate="any", rate=1.0 if i == n - 1 else 0.0)
    for v in range(1, n):
        for u in draw(st.lists(st.integers(0, v - 1), max_size=3, unique=True)):
            g.add_edge(f"n{u:02}", f"n{v:02}", lead=float(draw(st.integers(0, 3))))
    return g, f"n{n - 1:02}"


@settings(max_examples=300, deadline=None)
@given(any_gated_dags())
def test_single_points_of_failure_are_the_dominators(case):
    g, target = case
    expected = reference.single_points_of_failure(g, target)
    assert set(single_points_of_failure(from_networkx(g), target)) == expected
    spof = criticality(from_networkx(g), horizon=10.0).single_points
    assert {twin for twin, stops in spof.items() if target in stops} == expected


def _supply():
    # two suppliers of one part (either will do), a sole supplier of another, both needed by the line
    return graph(
        {
            "alt1": {"category": "Supplier", "recovery": 500.0, "probability": 0.1},
            "alt2": {"category": "Supplier", "recovery": 500.0},
            "sole": {"category": "Supplier", "recovery": 100.0, "probability": 0.2},
            "slow": {"category": "Supplier", "recovery": 10.0},
            "p1": {"category": "Part", "gate": "any", "buffer": 48.0},
            "p2": {"category": "Part", "buffer": 24.0},
            "p3": {"category": "Part", "buffer": 240.0},
            "line": {"category": "Line"},
            "prod": {"category": "Product", "rate": 100.0},
            "order": {"category": "CustomerOrder", "value": 10_000.0, "buffer": 72.0},
        },
        [
            ("alt1", "p1", {"lead": 24.0}),
            ("alt2", "p1", {"lead": 24.0}),
            ("sole", "p2", {"lead": 48.0}),
            ("slow", "p3", {"lead": 24.0}),
            ("p1", "line", {}),
            ("p2", "line", {}),
            ("p3", "line", {}),
            ("line", "prod", {}),
            ("prod", "order", {}),
        ],
    )


def test_ranking_single_points_and_supplier_exposure():
    result = criticality(from_networkx(_supply()), horizon=168.0)
    by_twin = {c.twin: c for c in result.ranking}
    # sole -> p2 at 72 h -> line, prod at 72 h; order at 144 h
    assert by_twin["sole"].value_at_risk == 100.0 * (168 - 72) + 10_000.0
    assert by_twin["sole"].annual_loss == by_twin["sole"].value_at_risk * 0.2
    assert by_twin["alt1"].value_at_risk == 0.0 and by_twin["alt1"].stops == 0  # redundancy
    assert result.single_points["sole"] == ["prod", "order"]
    assert "alt1" not in result.single_points
    assert result.ranking[0].twin in ("line", "prod", "p2")  # nearest the value: no delay at all
    suppliers = {s.supplier: s for s in result.suppliers}
    assert suppliers["sole"].time_to_survive == 72.0 and suppliers["sole"].exposed  # TTR 100 > TTS 72
    assert suppliers["slow"].time_to_survive == 264.0 and not suppliers["slow"].exposed
    assert math.isinf(suppliers["alt1"].time_to_survive) and not suppliers["alt1"].exposed
    assert next(s.supplier for s in result.suppliers) == "sole"  # exposed first
    assert by_twin["order"].value_at_risk == 10_000.0 and by_twin["order"].stops == 1
