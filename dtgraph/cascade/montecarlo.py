"""Layer 2, Monte Carlo: how likely each twin is to be hit, and the spread of the value at risk.

Each sample draws, with ``numpy.random.Generator(PCG64(seed))`` (the same seed gives the same answer):

- the **recovery time** of every failed twin: exponential with mean its ``recoveryHours`` (a twin without
  one stays down for good);
- the **links** that are disrupted at the same time: each failure-carrying relationship into the part of
  the graph the failure can reach is down for the whole horizon with probability
  1 - (1 - p)^(horizon / 8760), p its ``failureProbability`` per year (independently of its ends: a cut
  cable, a lost shipment). A disrupted link counts as a failed input of its target from hour ``lead``.

Then layer 1 with recovery (:func:`dtgraph.cascade.deterministic.simulate`) gives the sample's outcome.
All random numbers are drawn up front as arrays; the number of samples is bounded by ``max_samples``.
Results: per twin the probability of being down within the horizon (with a 95 % Wilson interval), the
mean and 95th percentile of the value at risk.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from dtgraph.cascade.deterministic import DEFAULT_HORIZON, Outage, outage, reachable, twins_down
from dtgraph.cascade.snapshot import CATEGORIES, DependencyGraph, Floats, Ints

__all__ = ["HOURS_PER_YEAR", "MAX_SAMPLES", "Hit", "MonteCarloResult", "monte_carlo", "reachable"]

HOURS_PER_YEAR = 8760.0
MAX_SAMPLES = 100_000
"""The most samples one run may ask for (``dtgraph cascade --samples``)."""


@dataclass(frozen=True, slots=True)
class Hit:
    """A twin hit in at least one sample."""

    twin: str
    category: str
    probability: float
    low: float  # 95 % Wilson interval of the probability
    high: float
    mean_time: float  # mean hours to impact over the samples where it is hit

    def to_json(self) -> dict[str, Any]:
        return {
            "twin": self.twin,
            "category": self.category,
            "probability": self.probability,
            "interval": [self.low, self.high],
            "meanTime": self.mean_time,
        }


@dataclass(slots=True)
class MonteCarloResult:
    failed: tuple[str, ...]
    horizon: float
    samples: int
    seed: int
    hits: list[Hit]  # most likely first
    values: Floats  # value at risk of each sample

    @property
    def expected_value(self) -> float:
        return float(self.values.mean()) if len(self.values) else 0.0

    @property
    def p95_value(self) -> float:
        return float(np.percentile(self.values, 95)) if len(self.values) else 0.0

    def probability(self, twin: str) -> float:
        return next((h.probability for h in self.hits if h.twin == twin), 0.0)

    def to_json(self) -> dict[str, Any]:
        return {
            "failed": list(self.failed),
            "horizon": self.horizon,
            "samples": self.samples,
            "seed": self.seed,
            "expectedValueAtRisk": self.expected_value,
            "p95ValueAtRisk": self.p95_value,
            "hits": [h.to_json() for h in self.hits],
        }


def _wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, min(p, centre - half)), min(1.0, max(p, centre + half))


def monte_carlo(
    graph: DependencyGraph,
    failed: Iterable[str],
    *,
    horizon: float = DEFAULT_HORIZON,
    samples: int = 1000,
    seed: int = 0,
    max_samples: int = MAX_SAMPLES,
) -> MonteCarloResult:
    """Sample the failure of ``failed`` ``samples`` times (see the module docstring)."""
    if not 0 < samples <= max_samples:
        raise ValueError(f"samples must be between 1 and {max_samples}, not {samples}")
    if not (horizon > 0 and math.isfinite(horizon)):
        raise ValueError(f"the horizon must be a positive, finite number of hours, not {horizon}")
    names = tuple(dict.fromkeys(failed))
    if not names:
        raise ValueError("name at least one failed twin")
    nodes = [graph.index(name) for name in names]
    means = graph.recovery[nodes]
    region = reachable(graph, nodes)
    inside = np.zeros(graph.n, dtype=bool)
    inside[region] = True
    links = np.flatnonzero(inside[graph.targets] & (graph.edge_probability > 0))
    p_link = 1.0 - (1.0 - graph.edge_probability[links]) ** (horizon / HOURS_PER_YEAR)

    rng = np.random.Generator(np.random.PCG64(seed))
    recovery = rng.exponential(size=(samples, len(nodes))) * np.where(np.isnan(means), 1.0, means)
    recovery[:, np.isnan(means)] = np.inf
    cut = rng.random((samples, len(links))) < p_link

    hit_count = np.zeros(graph.n_twins, dtype=np.int64)
    time_sum = np.zeros(graph.n_twins)
    values = np.zeros(samples)
    memo: dict[tuple[Any, ...], tuple[Ints, Floats, float]] = {}
    for s in range(samples):
        permanent = bool(np.isinf(recovery[s]).all())
        key = (tuple(links[cut[s]].tolist()),) if permanent else None
        cached = memo.get(key) if key is not None else None
        if cached is None:
            result: Outage = outage(
                graph, dict(zip(nodes, recovery[s].tolist(), strict=True)), horizon, links[cut[s]]
            )
            hit, times, _, lost = twins_down(graph, result, horizon)
            lumps, revenue = graph.lump[hit], graph.rate[hit] * lost
            cached = (hit, times, math.fsum([*lumps.tolist(), *revenue.tolist()]))
            if key is not None:
                memo[key] = cached
        hit, times, value = cached
        hit_count[hit] += 1
        time_sum[hit] += times
        values[s] = value
    hits = []
    for i in np.flatnonzero(hit_count).tolist():
        k = int(hit_count[i])
        low, high = _wilson(k, samples)
        hits.append(
            Hit(
                twin=graph.ids[i],
                category=CATEGORIES[int(graph.category[i])],
                probability=k / samples,
                low=low,
                high=high,
                mean_time=float(time_sum[i] / k),
            )
        )
    hits.sort(key=lambda h: (-h.probability, h.mean_time, h.twin))
    return MonteCarloResult(
        failed=names, horizon=horizon, samples=samples, seed=seed, hits=hits, values=values
    )
