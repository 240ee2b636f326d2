"""Layer 3: single points of failure against dominators; ranking; time to survive vs time to recover."""

from __future__ import annotations

import heapq
import math

import networkx as nx
import numpy as np
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


# ---- the compiled ranking against the plain Python one it replaced -------------------------------------


def _python_reach(graph, start):
    """When each node fails if ``start`` fails for good: the Python Dijkstra the kernel replaced."""
    hier = graph.hierarchy
    single = (hier | (graph.fail_at[graph.targets] == 1)).tolist()
    weight = (graph.edge_lead + np.where(hier, 0.0, graph.buffer[graph.targets])).tolist()
    indptr, targets, lead = graph.indptr.tolist(), graph.targets.tolist(), graph.edge_lead.tolist()
    done, arrivals, heap = {}, {}, [(0.0, start)]
    while heap:
        t, v = heapq.heappop(heap)
        if v in done:
            continue
        done[v] = t
        for e in range(indptr[v], indptr[v + 1]):
            w = targets[e]
            if w in done:
                continue
            if single[e]:
                heapq.heappush(heap, (t + weight[e], w))
                continue
            times = arrivals.setdefault(w, [])
            times.append(t + lead[e])
            k = int(graph.fail_at[w])
            if len(times) >= k:
                heapq.heappush(heap, (sorted(times)[k - 1] + float(graph.buffer[w]), w))
    return done


def _python_criticality(graph, horizon):
    """Per twin: (value at risk, valued twins stopped in order, time to survive)."""
    out = {}
    for x in range(graph.n_twins):
        done = _python_reach(graph, x)
        stops = sorted(
            (t, int(graph.owner[node]))
            for node, t in done.items()
            if node == graph.output(int(graph.owner[node]))
            and graph.lump[graph.owner[node]] + graph.rate[graph.owner[node]] > 0
        )
        terms = [graph.lump[twin] + graph.rate[twin] * (horizon - t) for t, twin in stops if t <= horizon]
        out[graph.ids[x]] = (
            math.fsum(terms),
            [graph.ids[twin] for _, twin in stops],
            stops[0][0] if stops else math.inf,
        )
    return out


@st.composite
def valued_graphs(draw):
    n = draw(st.integers(2, 14))
    g = nx.DiGraph()
    for i in range(n):
        g.add_node(
            f"n{i:02}",
            buffer=float(draw(st.sampled_from([0, 0, 1.5, 3]))),
            gate=draw(st.sampled_from(["all", "any", "kOfN"])),
            required=draw(st.integers(1, 3)),
            rate=float(draw(st.sampled_from([0, 0, 0, 7.25]))),
            value=float(draw(st.sampled_from([0, 0, 0, 100.1]))),
            category=draw(st.sampled_from(["Supplier", "Part", "Machine", "Product"])),
        )
    for i in range(1, n):
        if draw(st.integers(0, 3)) == 0:
            g.add_edge(f"n{draw(st.integers(0, i - 1)):02}", f"n{i:02}", kind="hierarchy")
    for u, v in draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n)):
        a, b = f"n{u:02}", f"n{v:02}"
        if u != v and not g.has_edge(a, b) and not g.has_edge(b, a):
            g.add_edge(
                a,
                b,
                kind=draw(st.sampled_from(["material", "supply"])),
                lead=draw(st.sampled_from([0.0, 0.1, 2.0, 24.7])),
            )
    return g


@settings(max_examples=400, deadline=None)
@given(valued_graphs(), st.sampled_from([5.0, 30.0, 168.0]))
def test_ranking_matches_the_python_dijkstra(g, horizon):
    dg = from_networkx(g)
    result = criticality(dg, horizon=horizon)
    expected = _python_criticality(dg, horizon)
    ranked = {c.twin: c for c in result.ranking}
    for twin, (value, stops, tts) in expected.items():
        if not stops and twin not in ranked:
            continue  # it cannot reach a valued twin: not ranked
        c = ranked.pop(twin)
        assert (c.value_at_risk, c.stops, c.time_to_survive) == (value, len(stops), tts), twin
        assert result.single_points.get(twin, []) == stops
    assert all(c.stops == 0 and c.value_at_risk == 0 for c in ranked.values())
    assert [c.twin for c in result.ranking] == sorted(
        (c.twin for c in result.ranking),
        key=lambda t: (-next(x.value_at_risk for x in result.ranking if x.twin == t), t),
    )
    for s in result.suppliers:
        assert s.time_to_survive == expected[s.supplier][2]
        assert s.first_hit == (expected[s.supplier][1][0] if expected[s.supplier][1] else None)


@st.composite
def chained_graphs(draw):
    """Valued graphs with runs of one-edge links (where the ranking passes times straight on)."""
    g = draw(valued_graphs())
    nodes = sorted(g)
    for i in range(draw(st.integers(0, 6))):
        a, b = draw(st.sampled_from(nodes)), draw(st.sampled_from(nodes))
        link = f"c{i:02}"
        g.add_node(
            link, gate=draw(st.sampled_from(["all", "any"])), buffer=float(draw(st.sampled_from([0, 2.5])))
        )
        g.add_edge(a, link, kind=draw(st.sampled_from(["material", "hierarchy"])), lead=1.25)
        if draw(st.booleans()) and b != link:
            g.add_edge(link, b, kind=draw(st.sampled_from(["material", "hierarchy"])), lead=0.5)
    return g


@settings(max_examples=400, deadline=None)
@given(chained_graphs(), st.sampled_from([5.0, 30.0, 168.0]))
def test_ranking_passes_chains_through_with_the_same_results(g, horizon):
    from dtgraph.cascade.criticality import _pruned

    dg = from_networkx(g)
    p = _pruned(dg)
    sources = np.arange(dg.n_twins)
    fast = p.kernel.rank(sources, p.valued, dg.lump, dg.rate, horizon)
    plain = p.kernel.rank(sources, p.valued, dg.lump, dg.rate, horizon, shortcut=False)
    for a, b in zip(fast, plain, strict=True):
        assert np.array_equal(a, b)
    expected = _python_criticality(dg, horizon)
    value, stops, tts, _ = fast
    for x, twin in enumerate(dg.ids[: dg.n_twins]):
        v, s, t = expected[twin]
        assert (value[x], stops[x], tts[x]) == (v, len(s), t), twin
