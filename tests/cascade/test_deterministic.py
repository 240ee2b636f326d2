"""Layer 1 on hand-built graphs with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dtgraph.cascade import cascade, from_networkx
from dtgraph.cascade.deterministic import failure_times, outage
from dtgraph.cascade.snapshot import CATEGORIES
from tests.cascade.helpers import graph, times_by_twin
from tests.cascade.test_reference import graphs


def run(g, failed, horizon=1000.0, recovery=False):
    return cascade(from_networkx(g), failed, horizon=horizon, recovery=recovery)


def times(result):
    return {i.twin: i.time for i in result.impacts if i.state != "degraded"}


def test_chain_adds_lead_times_and_buffers():
    g = graph(
        {"a": {}, "b": {"buffer": 0.5}, "c": {"buffer": 2.0}},
        [("a", "b", {"lead": 1.0, "name": "feeds"}), ("b", "c", {"lead": 3.0, "name": "supplies"})],
    )
    result = run(g, ["a"])
    assert times(result) == {"a": 0.0, "b": 1.5, "c": 6.5}
    chain = result.impact("c").chain
    assert [(s.twin, s.time, s.via) for s in chain] == [
        ("a", 0.0, ""),
        ("b", 1.5, "feeds"),
        ("c", 6.5, "supplies"),
    ]
    assert result.impact("a").state == "failed" and result.impact("c").state == "stopped"


@pytest.mark.parametrize(
    ("gate", "expected"),
    [({"gate": "all"}, 1.0), ({"gate": "any"}, 5.0), ({"gate": "kOfN", "required": 2}, 3.0)],
)
def test_diamond_gates(gate, expected):
    # s fails; t needs its inputs a (1 h), b (3 h), c (5 h) per its gate
    g = graph(
        {"s": {}, "a": {}, "b": {}, "c": {}, "t": gate},
        [
            ("s", "a", {}),
            ("s", "b", {}),
            ("s", "c", {}),
            ("a", "t", {"lead": 1.0}),
            ("b", "t", {"lead": 3.0}),
            ("c", "t", {"lead": 5.0}),
        ],
    )
    assert times(run(g, ["s"]))["t"] == expected


def test_redundancy_stops_the_cascade():
    # a part with two suppliers, either will do: one failing is absorbed, both failing is not
    g = graph(
        {"s1": {}, "s2": {}, "part": {"gate": "any", "buffer": 24.0}, "line": {}},
        [("s1", "part", {"lead": 10.0}), ("s2", "part", {"lead": 30.0}), ("part", "line", {})],
    )
    assert set(times(run(g, ["s1"]))) == {"s1"}
    both = run(g, ["s1", "s2"])
    assert times(both) == {"s1": 0.0, "s2": 0.0, "part": 54.0, "line": 54.0}
    assert [s.twin for s in both.impact("line").chain] == ["s2", "part", "line"]  # the last input tipped it


def test_k_of_n_two_of_three():
    g = graph(
        {"s1": {}, "s2": {}, "s3": {}, "part": {"gate": "kOfN", "required": 2}},
        [("s1", "part", {"lead": 1.0}), ("s2", "part", {"lead": 2.0}), ("s3", "part", {"lead": 3.0})],
    )
    assert "part" not in times(run(g, ["s1"]))  # two of three still deliver
    assert times(run(g, ["s1", "s3"]))["part"] == 3.0


def test_buffer_delays_past_the_horizon():
    g = graph({"a": {}, "b": {"buffer": 100.0}, "c": {}}, [("a", "b", {"lead": 10.0}), ("b", "c", {})])
    assert times(run(g, ["a"], horizon=200.0)) == {"a": 0.0, "b": 110.0, "c": 110.0}
    assert times(run(g, ["a"], horizon=109.0)) == {"a": 0.0}
    assert times(run(g, ["a"], horizon=110.0))["c"] == 110.0  # the horizon is inclusive


def test_cycle_in_material_flow():
    # x feeds a; a -> b -> c -> a is a loop (rework): the loop fails from outside, not by itself
    g = graph(
        {"x": {}, "a": {}, "b": {}, "c": {}, "y": {}},
        [
            ("x", "a", {"lead": 1.0, "kind": "material"}),
            ("a", "b", {"lead": 1.0, "kind": "material"}),
            ("b", "c", {"lead": 1.0, "kind": "material"}),
            ("c", "a", {"lead": 1.0, "kind": "material"}),
            ("y", "b", {"lead": 0.5, "kind": "material"}),
        ],
    )
    assert times(run(g, ["x"])) == {"x": 0.0, "a": 1.0, "b": 2.0, "c": 3.0}
    assert times(run(g, ["y"])) == {"y": 0.0, "b": 0.5, "c": 1.5, "a": 2.5}
    dg = from_networkx(g)
    assert times_by_twin(dg, failure_times(dg, [dg.index("c")]).time) == {"c": 0.0, "a": 1.0, "b": 2.0}


def test_cycle_with_any_gates_sustains_itself():
    # two machines that can each run off the other or their own supply: one supply failing is absorbed
    g = graph(
        {"s1": {}, "s2": {}, "a": {"gate": "any"}, "b": {"gate": "any"}},
        [("s1", "a", {}), ("s2", "b", {}), ("a", "b", {}), ("b", "a", {})],
    )
    assert set(times(run(g, ["s1"]))) == {"s1"}
    # documented: failure needs a cause that reaches the node, so a loop of "any" gates keeps itself up
    assert set(times(run(g, ["s1", "s2"]))) == {"s1", "s2"}
    assert set(times(run(g, ["s1", "s2", "a"]))) == {"s1", "s2", "a", "b"}


def _plant(line_gate_parallel: bool = False):
    """A plant with a line of machines m0 -> m1 -> m2 (or m0, m1, m2 in parallel); the line makes p."""
    h = {"kind": "hierarchy", "name": "partOf"}
    machines = {f"m{i}": {"category": "Machine"} for i in range(3)}
    edges = [
        ("plant", "line", h),
        *((("line", m, h)) for m in machines),
        ("line", "p", {"kind": "supply", "name": "produces"}),
    ]
    if not line_gate_parallel:
        edges += [
            ("m0", "m1", {"kind": "material", "lead": 1.0}),
            ("m1", "m2", {"kind": "material", "lead": 2.0}),
        ]
    else:
        edges += [(f"part{i}", f"m{i}", {"kind": "supply"}) for i in range(3)]
    nodes = {
        "plant": {"category": "Plant"},
        "line": {"category": "Line"},
        "p": {"category": "Product", "rate": 10.0, "gate": "any"},
        **machines,
        **{f"part{i}": {"category": "Part"} for i in range(3)},
    }
    return graph(nodes, edges)


def test_rollup_series_line_stops_when_its_last_machine_stops():
    result = run(_plant(), ["m0"], horizon=10.0)
    assert times(result) == {"m0": 0.0, "m1": 1.0, "m2": 3.0, "line": 3.0, "p": 3.0, "plant": 3.0}
    assert [s.twin for s in result.impact("p").chain] == ["m0", "m1", "m2", "line", "p"]
    assert result.impact("line").chain[-1].via == "roll-up"
    assert result.revenue == pytest.approx(10.0 * 7.0)  # p down from hour 3 to the horizon at 10
    # a machine that stops does not stop its siblings through the line
    assert "m0" not in times(run(_plant(), ["m2"]))


def test_rollup_parallel_machines_degrade_then_stop():
    one = run(_plant(line_gate_parallel=True), ["part0"])
    assert times(one) == {"part0": 0.0, "m0": 0.0}
    assert one.impact("line").state == "degraded"
    assert one.impact("plant") is None or one.impact("plant").state == "degraded"
    three = run(_plant(line_gate_parallel=True), ["part0", "part1", "part2"])
    assert times(three)["line"] == 0.0 and times(three)["p"] == 0.0


def test_parent_failure_stops_children_at_once():
    result = run(_plant(), ["plant"])
    assert times(result) == {n: 0.0 for n in ("plant", "line", "m0", "m1", "m2", "p")}
    assert [s.via for s in result.impact("m1").chain] == ["", "partOf", "partOf"]


def test_value_at_risk_and_customers():
    g = graph(
        {
            "line": {},
            "p": {"rate": 100.0, "buffer": 10.0},
            "o1": {"value": 5000.0, "customer": "ACME", "category": "CustomerOrder", "buffer": 20.0},
            "o2": {"value": 7000.0, "customer": "ACME", "category": "CustomerOrder", "buffer": 200.0},
            "o3": {"value": 1000.0, "customer": "Initech", "category": "CustomerOrder"},
        },
        [("line", "p", {}), ("p", "o1", {}), ("p", "o2", {}), ("p", "o3", {})],
    )
    result = run(g, ["line"], horizon=48.0)
    assert result.order_value == 6000.0  # o2 is late only after the horizon
    assert result.revenue == 100.0 * 38.0
    assert result.value_at_risk == 6000.0 + 3800.0
    assert result.customers == {"ACME": 5000.0, "Initech": 1000.0}


def test_recovery_shorter_than_the_buffer_is_absorbed():
    g = graph(
        {"s": {"recovery": 24.0}, "part": {"buffer": 48.0}, "line": {}},
        [("s", "part", {"lead": 10.0}), ("part", "line", {"lead": 1.0})],
    )
    assert set(times(run(g, ["s"], recovery=True))) == {"s"}
    long = run(g, ["s"], recovery={"s": 72.0})
    assert times(long) == {"s": 0.0, "part": 58.0, "line": 59.0}
    assert long.impact("part").recovered == 82.0  # back when supply resumes: 72 + 10, no buffer to refill
    assert long.impact("s").recovered == 72.0
    assert long.impact("line").recovered == 83.0


def test_recovery_and_permanent_agree_when_nobody_recovers():
    g = _plant()
    dg = from_networkx(g)
    node = dg.index("m0")
    assert times_by_twin(dg, failure_times(dg, [node], 50).time) == times_by_twin(
        dg, outage(dg, {node: math.inf}, 50).time
    )


def test_errors_name_the_problem():
    dg = from_networkx(_plant())
    with pytest.raises(KeyError, match="nope"):
        cascade(dg, ["nope"])
    with pytest.raises(ValueError, match="horizon"):
        cascade(dg, ["m0"], horizon=0)
    with pytest.raises(ValueError, match="at least one"):
        cascade(dg, [])


# ---- the report works on the twins down only: against the same sums over arrays of every twin -----------


def _dense_report(dg, failed, horizon, recovery):
    """What the report said when it worked over arrays of every twin: impacts and sums, plainly."""
    nodes = [dg.index(f) for f in failed]
    if recovery:
        result = outage(
            dg,
            {v: float(dg.recovery[v]) if not math.isnan(dg.recovery[v]) else math.inf for v in nodes},
            horizon,
        )
    else:
        result = failure_times(dg, nodes, horizon)
    out = np.array([dg.output(i) for i in range(dg.n_twins)])
    time, lost = result.time[out], result.lost[out]
    hit = time <= horizon
    lumps = np.where(hit, dg.lump[: dg.n_twins], 0.0)
    revenue = dg.rate[: dg.n_twins] * lost
    impacts = {
        (dg.ids[i], "failed" if i in nodes else "stopped", time[i], lumps[i] + revenue[i])
        for i in np.flatnonzero(hit)
    }
    hier = dg.hierarchy & (dg.edge_source < dg.n_twins) & (dg.targets < dg.n_twins)
    for p, c in zip(dg.edge_source[hier], dg.targets[hier], strict=True):
        if dg.rollup[p] >= 0 and not hit[p] and hit[c] and dg.category[c] != CATEGORIES.index("Sensor"):
            impacts.add((dg.ids[p], "degraded", math.inf, 0.0))
    return impacts, math.fsum(lumps + revenue), math.fsum(lumps), math.fsum(revenue)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs(), st.sampled_from([3.0, 7.0, 100.0]), st.booleans())
def test_report_matches_sums_over_every_twin(case, horizon, recovery):
    g, failed = case
    for node, data in g.nodes(data=True):
        data["value"] = 10.0 if node.endswith("1") else 0.0
    dg = from_networkx(g)
    result = cascade(dg, failed, horizon=horizon, recovery=recovery)
    impacts, total, orders, revenue = _dense_report(dg, failed, horizon, recovery)
    assert {(i.twin, i.state, i.time, i.value) for i in result.impacts} == impacts
    assert (result.value_at_risk, result.order_value, result.revenue) == (total, orders, revenue)
    for i in result.impacts:
        assert i.chain[-1].twin == i.twin or i.state == "degraded"
