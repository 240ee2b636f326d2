"""Layer 3, criticality: which single twins matter most, and which suppliers recover too slowly.

For every twin whose failure can reach a valued twin (a product with ``revenuePerHour``, an order with
``orderValue``), one permanent-failure cascade (layer 1's rule) with no horizon gives:

- its **value at risk** within the horizon, for the ranking;
- the valued twins it stops *on its own*, whatever the time: it is a **single point of failure** of each.
  In a graph where every node with several inputs needs any one of them, these are exactly the twins that
  dominate the target in the graph with a virtual source feeding every input-less twin (Lengauer-Tarjan;
  :func:`dtgraph.cascade.reference.single_points_of_failure` is that method, and the tests check that the
  two agree). The cascade generalises it to gates "all" and k of n, buffers and roll-ups;
- its **time to survive** (TTS, Simchi-Levi et al.): the hours until the first valued twin goes down. For
  a supplier this is set against its **time to recover** (TTR, ``recoveryHours``): TTR > TTS means its
  failure reaches customers before it is repaired.

The work is pruned: a twin that cannot reach a valued twin (a sensor, say) cannot change any valued
twin's time, so the cascades skip such twins (reachability in C, ``scipy.sparse.csgraph``); twins with
nothing downstream are not run at all. Each cascade is a Dijkstra over Python lists of the pruned graph.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp  # type: ignore[import-untyped]
from scipy.sparse.csgraph import breadth_first_order  # type: ignore[import-untyped]

from dtgraph.cascade.deterministic import DEFAULT_HORIZON
from dtgraph.cascade.snapshot import CATEGORIES, DependencyGraph, Ints

__all__ = ["Criticality", "CriticalityResult", "SupplierExposure", "criticality", "single_points_of_failure"]

_SUPPLIER = CATEGORIES.index("Supplier")


@dataclass(frozen=True, slots=True)
class Criticality:
    """What the failure of one twin costs."""

    twin: str
    category: str
    value_at_risk: float  # within the horizon
    annual_loss: float  # value at risk times the twin's own failureProbability per year
    stops: int  # valued twins (products, orders) it stops on its own, whatever the time
    time_to_survive: float  # hours until the first valued twin goes down (math.inf: none)

    def to_json(self) -> dict[str, Any]:
        return {
            "twin": self.twin,
            "category": self.category,
            "valueAtRisk": self.value_at_risk,
            "annualLoss": self.annual_loss,
            "stops": self.stops,
            "timeToSurvive": None if math.isinf(self.time_to_survive) else self.time_to_survive,
        }


@dataclass(frozen=True, slots=True)
class SupplierExposure:
    """A supplier's time to survive against its time to recover."""

    supplier: str
    time_to_survive: float  # math.inf: its failure never reaches a valued twin
    time_to_recover: float | None
    first_hit: str | None  # the valued twin that goes down first

    @property
    def exposed(self) -> bool:
        return self.time_to_recover is not None and self.time_to_recover > self.time_to_survive

    def to_json(self) -> dict[str, Any]:
        return {
            "supplier": self.supplier,
            "timeToSurvive": None if math.isinf(self.time_to_survive) else self.time_to_survive,
            "timeToRecover": self.time_to_recover,
            "exposed": self.exposed,
            "firstHit": self.first_hit,
        }


@dataclass(slots=True)
class CriticalityResult:
    horizon: float
    ranking: list[Criticality]  # by value at risk, highest first
    suppliers: list[SupplierExposure]  # exposed first, then by time to survive
    single_points: dict[str, list[str]] = field(default_factory=dict)  # twin -> valued twins it stops

    def to_json(self, top: int | None = None) -> dict[str, Any]:
        ranking = self.ranking if top is None else self.ranking[:top]
        return {
            "horizon": self.horizon,
            "ranking": [c.to_json() for c in ranking],
            "singlePointsOfFailure": {c.twin: self.single_points.get(c.twin, []) for c in ranking if c.stops},
            "suppliers": [s.to_json() for s in self.suppliers],
        }


# ---- the pruned graph as Python lists -------------------------------------------------------------------


@dataclass(slots=True)
class _Pruned:
    useful: Ints  # nodes that can reach a valued node
    indptr: list[int]
    targets: list[int]
    weight: list[float]  # lead, plus the target's buffer for gated edges into first-failure nodes
    single: list[bool]  # one failed input is enough (hierarchy, or a target failing at its first input)
    leaf: list[bool]  # single, into a node with no way on: its time is a minimum, it needs no heap
    lead: list[float]
    buffer: list[float]
    fail_at: list[int]
    valued: list[bool]  # the node carries value (its owner twin has orderValue or revenuePerHour)


def _pruned(graph: DependencyGraph) -> _Pruned:
    cached = graph.cache.get("pruned")
    if isinstance(cached, _Pruned):
        return cached
    n = graph.n
    owner_value = (graph.lump + graph.rate)[graph.owner] > 0
    out = np.where(graph.rollup >= 0, graph.rollup, np.arange(graph.n_twins))
    valued = np.zeros(n, dtype=bool)
    valued[out[owner_value[: graph.n_twins]]] = True
    # nodes that can reach a valued node: breadth first on the reversed graph from a virtual node
    src = np.concatenate((graph.targets, np.full(int(valued.sum()), n)))
    dst = np.concatenate((graph.edge_source, np.flatnonzero(valued)))
    reverse = sp.csr_array((np.ones(len(src)), (src, dst)), shape=(n + 1, n + 1))
    useful = np.zeros(n + 1, dtype=bool)
    useful[breadth_first_order(reverse, n, directed=True, return_predecessors=False)] = True
    useful = useful[:n]
    keep = useful[graph.targets] & useful[graph.edge_source]
    hier = graph.hierarchy
    single = hier | (graph.fail_at[graph.targets] == 1)
    weight = graph.edge_lead + np.where(hier, 0.0, graph.buffer[graph.targets])
    counts = np.bincount(graph.edge_source[keep], minlength=n)
    dead_end = np.bincount(graph.edge_source[keep], minlength=n) == 0
    leaf = single & dead_end[graph.targets]
    pruned = _Pruned(
        useful=np.flatnonzero(useful),
        indptr=np.concatenate(([0], np.cumsum(counts))).tolist(),
        targets=graph.targets[keep].tolist(),
        weight=weight[keep].tolist(),
        single=single[keep].tolist(),
        leaf=leaf[keep].tolist(),
        lead=graph.edge_lead[keep].tolist(),
        buffer=graph.buffer.tolist(),
        fail_at=graph.fail_at.tolist(),
        valued=valued.tolist(),
    )
    graph.cache["pruned"] = pruned
    return pruned


def _reach(p: _Pruned, start: int) -> dict[int, float]:
    """Permanent failure of ``start``: when each useful node fails (layer 1's rule, no horizon)."""
    indptr, targets, weight, single, lead, leaf = p.indptr, p.targets, p.weight, p.single, p.lead, p.leaf
    done: dict[int, float] = {}
    ends: dict[int, float] = {}  # dead ends reached over single edges: no need to queue them
    inf = math.inf
    arrivals: dict[int, list[float]] = {}
    heap = [(0.0, start)]
    pop, push = heapq.heappop, heapq.heappush
    while heap:
        t, v = pop(heap)
        if v in done:
            continue
        done[v] = t
        for e in range(indptr[v], indptr[v + 1]):
            w = targets[e]
            if w in done:
                continue
            if leaf[e]:
                arrive = t + weight[e]
                if arrive < ends.get(w, inf):
                    ends[w] = arrive
                continue
            if single[e]:
                push(heap, (t + weight[e], w))
                continue
            times = arrivals.setdefault(w, [])
            times.append(t + lead[e])
            k = p.fail_at[w]
            if len(times) >= k:
                push(heap, (sorted(times)[k - 1] + p.buffer[w], w))
    for w, t in ends.items():
        if t < done.get(w, inf):
            done[w] = t
    return done


def criticality(
    graph: DependencyGraph, *, horizon: float = DEFAULT_HORIZON, twins: Iterable[str] | None = None
) -> CriticalityResult:
    """Rank twins by the value their failure puts at risk within ``horizon``; single points; TTS vs TTR.

    ``twins`` limits the candidates (default: every twin that can reach a valued twin).
    """
    p = _pruned(graph)
    n_twins = graph.n_twins
    owner = graph.owner.tolist()
    lump, rate = graph.lump.tolist(), graph.rate.tolist()
    useful = np.zeros(graph.n, dtype=bool)
    useful[p.useful] = True
    candidates = (
        [graph.index(t) for t in twins] if twins is not None else np.flatnonzero(useful[:n_twins]).tolist()
    )
    ranking: list[Criticality] = []
    single_points: dict[str, list[str]] = {}
    suppliers: list[SupplierExposure] = []
    for x in candidates:
        reached = _reach(p, x) if useful[x] else {x: 0.0}
        value = 0.0
        stops: list[tuple[float, int]] = []
        for node, t in reached.items():
            if not p.valued[node]:
                continue
            twin = owner[node]
            stops.append((t, twin))
            if t <= horizon:
                value += lump[twin] + rate[twin] * (horizon - t)
        stops.sort()
        tts = stops[0][0] if stops else math.inf
        twin_id = graph.ids[x]
        ranking.append(
            Criticality(
                twin=twin_id,
                category=CATEGORIES[int(graph.category[x])],
                value_at_risk=value,
                annual_loss=value * float(graph.probability[x]),
                stops=len(stops),
                time_to_survive=tts,
            )
        )
        if stops:
            single_points[twin_id] = [graph.ids[t] for _, t in stops]
        if int(graph.category[x]) == _SUPPLIER:
            ttr = float(graph.recovery[x])
            suppliers.append(
                SupplierExposure(
                    supplier=twin_id,
                    time_to_survive=tts,
                    time_to_recover=None if math.isnan(ttr) else ttr,
                    first_hit=graph.ids[stops[0][1]] if stops else None,
                )
            )
    ranking.sort(key=lambda c: (-c.value_at_risk, c.twin))
    suppliers.sort(key=lambda s: (not s.exposed, s.time_to_survive, s.supplier))
    return CriticalityResult(
        horizon=horizon, ranking=ranking, suppliers=suppliers, single_points=single_points
    )


def single_points_of_failure(graph: DependencyGraph, target: str) -> list[str]:
    """The twins whose failure alone stops ``target``, whatever the time (itself included)."""
    t = graph.index(target)
    goal = int(graph.rollup[t]) if graph.rollup[t] >= 0 else t
    reverse = graph.cache.get("reverse_matrix")
    if reverse is None:
        reverse = graph.cache["reverse_matrix"] = sp.csr_array(
            (np.ones(graph.n_edges), (graph.targets, graph.edge_source)), shape=(graph.n, graph.n)
        )
    ancestors = breadth_first_order(reverse, goal, directed=True, return_predecessors=False)
    twins = sorted({int(graph.owner[a]) for a in ancestors.tolist()})
    p = _pruned(graph)
    if goal not in set(p.useful.tolist()):
        raise ValueError(f"{target!r} is not a valued twin (product, order) nor upstream of one")
    return [graph.ids[x] for x in twins if goal in _reach(p, x)]
