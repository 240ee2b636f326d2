"""The array engine against the plain networkx reference on random graphs (hypothesis)."""

from __future__ import annotations

import itertools
import math

import networkx as nx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dtgraph.cascade import from_networkx, reference
from dtgraph.cascade.deterministic import failure_times, outage
from tests.cascade.helpers import close, reference_by_twin, times_by_twin

KINDS = ("material", "supply", "utility")


@st.composite
def graphs(draw, hierarchy=True, positive_leads=False, max_nodes=10):
    n = draw(st.integers(2, max_nodes))
    g = nx.DiGraph()
    for i in range(n):
        gate = draw(st.sampled_from(["all", "any", "kOfN"]))
        g.add_node(
            f"n{i}",
            buffer=float(draw(st.integers(0, 3))),
            gate=gate,
            required=draw(st.integers(1, 3)),
            recovery=float(draw(st.integers(1, 12))),
            rate=float(draw(st.sampled_from([0, 0, 5]))),
        )
    if hierarchy:  # a forest: each node may have a parent of lower index
        for i in range(1, n):
            if draw(st.booleans()) and draw(st.booleans()):
                g.add_edge(f"n{draw(st.integers(0, i - 1))}", f"n{i}", kind="hierarchy", lead=0.0)
    low = 1 if positive_leads else 0
    pairs = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n))
    for u, v in pairs:
        if u != v and not g.has_edge(f"n{u}", f"n{v}") and not g.has_edge(f"n{v}", f"n{u}"):
            g.add_edge(
                f"n{u}", f"n{v}", kind=draw(st.sampled_from(KINDS)), lead=float(draw(st.integers(low, 4)))
            )
    failed = draw(st.lists(st.sampled_from(sorted(g.nodes)), min_size=1, max_size=2, unique=True))
    return g, failed


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs(), st.sampled_from([math.inf, 3.0, 7.0]))
def test_permanent_failures_match_the_reference(case, horizon):
    g, failed = case
    dg = from_networkx(g)
    nodes = [dg.index(f) for f in failed]
    fast = times_by_twin(dg, failure_times(dg, nodes, horizon).time)
    events = times_by_twin(dg, outage(dg, dict.fromkeys(nodes, math.inf), horizon).time)
    h = reference.expand(g)
    expected = reference_by_twin(h, reference.earliest_failures(h, dict.fromkeys(failed, 0.0), horizon))
    assert close(fast, expected), (fast, expected)
    assert close(events, expected), (events, expected)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_explanations_are_chains_of_real_edges(case):
    g, failed = case
    dg = from_networkx(g)
    result = failure_times(dg, [dg.index(f) for f in failed])
    from dtgraph.cascade.deterministic import explain

    for i in range(dg.n_twins):
        node = dg.output(i)
        if math.isinf(result.time[node]):
            continue
        chain = explain(dg, result, node)
        assert chain[0].twin in failed and chain[-1].twin == dg.ids[i]
        assert all(a.time <= b.time + 1e-9 for a, b in itertools.pairwise(chain))
        for a, b in itertools.pairwise(chain):
            assert g.has_edge(a.twin, b.twin) or b.via == "roll-up"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs(hierarchy=False, positive_leads=True, max_nodes=7), st.integers(0, 1))
def test_recovery_matches_the_hour_by_hour_reference(case, permanent):
    g, failed = case
    horizon = 30
    dg = from_networkx(g)
    recovery = {f: (math.inf if permanent else g.nodes[f]["recovery"]) for f in failed}
    result = outage(dg, {dg.index(f): r for f, r in recovery.items()}, horizon)
    h = reference.expand(g)
    windows = reference.simulate(h, recovery, horizon)
    for i, twin in enumerate(dg.ids):
        node = reference.output_of(h, twin)
        expected = windows.get(node, [])
        first = expected[0][0] if expected else math.inf
        info = (twin, expected, failed, list(g.edges(data="lead")), dict(g.nodes(data=True)))
        assert result.time[dg.output(i)] == first, (result.time[dg.output(i)], info)
        if expected:
            back = expected[0][1]
            assert result.back[dg.output(i)] == (back if back <= horizon else math.inf)
            lost = sum(min(e, horizon) - s for s, e in expected)
            assert math.isclose(result.lost[dg.output(i)], lost), (result.lost[dg.output(i)], info)
