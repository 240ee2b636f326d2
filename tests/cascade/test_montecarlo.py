"""Layer 2: Monte Carlo estimates against exact probabilities on small graphs; reproducibility."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from dtgraph.cascade import from_networkx, monte_carlo, reference
from tests.cascade.helpers import graph, reference_by_twin

SAMPLES = 4000


def within(estimate: float, exact: float, samples: int = SAMPLES) -> bool:
    sigma = math.sqrt(max(exact * (1 - exact), 1e-12) / samples)
    return abs(estimate - exact) <= 4.5 * sigma + 1e-12


def _links():
    return graph(
        {"s": {}, "a": {}, "b": {}, "c": {}, "t": {"gate": "any"}, "u": {"rate": 2.0}},
        [
            ("s", "a", {"lead": 1.0, "probability": 0.2}),
            ("a", "t", {"lead": 1.0}),
            ("b", "t", {"lead": 2.0, "probability": 0.3}),
            ("t", "u", {"lead": 1.0, "probability": 0.5}),
            ("c", "u", {"probability": 0.4}),
        ],
    )


def _exact(g, failed, horizon):
    """P(hit) per twin by enumerating which links are down: each disrupted link becomes a failed source."""
    links = [(u, v) for u, v, d in g.edges(data=True) if d.get("probability", 0) > 0]
    p = {(u, v): g.edges[u, v]["probability"] for u, v in links}
    hit: dict[str, float] = {}
    for state in itertools.product((False, True), repeat=len(links)):
        weight = math.prod(p[e] if down else 1 - p[e] for e, down in zip(links, state, strict=True))
        h = g.copy()
        starts = dict.fromkeys(failed, 0.0)
        for (u, v), down in zip(links, state, strict=True):
            if down:
                data = h.edges[u, v]
                h.remove_edge(u, v)
                h.add_edge(("cut", u, v), v, **data)
                starts[("cut", u, v)] = 0.0
        x = reference.expand(h)
        for twin in reference_by_twin(x, reference.earliest_failures(x, starts, horizon)):
            if not twin.startswith("("):
                hit[twin] = hit.get(twin, 0.0) + weight
    return hit


def test_link_disruptions_match_exact_probabilities():
    g = _links()
    horizon = 8760.0  # a year: the annual probability is the horizon's
    exact = _exact(g, ["s"], horizon)
    result = monte_carlo(from_networkx(g), ["s"], horizon=horizon, samples=SAMPLES, seed=11)
    assert exact["t"] == pytest.approx(0.3) and exact["u"] == pytest.approx(1 - 0.7 * 0.5 * 0.6)
    for twin in ("s", "a", "b", "c", "t", "u"):
        assert within(result.probability(twin), exact.get(twin, 0.0)), (twin, result.probability(twin))
    for h in result.hits:
        assert h.low <= h.probability <= h.high


def test_random_recovery_against_the_buffer():
    # s is down for Exp(mean 10) hours; a's buffer of 5 h absorbs outages shorter than that
    g = graph({"s": {"recovery": 10.0}, "a": {"buffer": 5.0}}, [("s", "a", {})])
    result = monte_carlo(from_networkx(g), ["s"], horizon=100.0, samples=SAMPLES, seed=3)
    assert within(result.probability("a"), math.exp(-0.5))


def test_value_at_risk_spread():
    g = graph({"s": {"recovery": 10.0}, "p": {"rate": 1.0}}, [("s", "p", {})])
    result = monte_carlo(from_networkx(g), ["s"], horizon=1000.0, samples=SAMPLES, seed=5)
    # lost revenue = the outage, Exp(mean 10): mean 10, 95th percentile 10 ln 20
    assert result.expected_value == pytest.approx(10.0, rel=0.08)
    assert result.p95_value == pytest.approx(10 * math.log(20), rel=0.08)


def test_seeded_and_reproducible():
    dg = from_networkx(_links())
    one = monte_carlo(dg, ["s"], horizon=8760.0, samples=300, seed=42)
    again = monte_carlo(dg, ["s"], horizon=8760.0, samples=300, seed=42)
    other = monte_carlo(dg, ["s"], horizon=8760.0, samples=300, seed=43)
    assert one.hits == again.hits and np.array_equal(one.values, again.values)
    assert one.hits != other.hits


def test_samples_are_bounded():
    dg = from_networkx(_links())
    with pytest.raises(ValueError, match="between 1 and 50"):
        monte_carlo(dg, ["s"], samples=51, max_samples=50)
    with pytest.raises(ValueError, match="horizon"):
        monte_carlo(dg, ["s"], horizon=math.inf)
