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
twin's time, so the cascades skip such twins (reachability in C, ``scipy.sparse.csgraph``). Each cascade
is a compiled Dijkstra over the pruned graph (:mod:`dtgraph.cascade._kernel`) that touches only what the
failure reaches; the lists of valued twins each twin stops are worked out only when read.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp  # type: ignore[import-untyped]
from scipy.sparse.csgraph import breadth_first_order  # type: ignore[import-untyped]

from dtgraph.cascade._kernel import Kernel
from dtgraph.cascade.deterministic import DEFAULT_HORIZON
from dtgraph.cascade.snapshot import CATEGORIES, Bools, DependencyGraph, Ints

__all__ = [
    "Criticality",
    "CriticalityResult",
    "SinglePoints",
    "SupplierExposure",
    "criticality",
    "single_points_of_failure",
]

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
    single_points: Mapping[str, list[str]] = field(default_factory=dict)  # twin -> valued twins it stops

    def to_json(self, top: int | None = None) -> dict[str, Any]:
        ranking = self.ranking if top is None else self.ranking[:top]
        return {
            "horizon": self.horizon,
            "ranking": [c.to_json() for c in ranking],
            "singlePointsOfFailure": {c.twin: self.single_points.get(c.twin, []) for c in ranking if c.stops},
            "suppliers": [s.to_json() for s in self.suppliers],
        }


# ---- the pruned graph, compiled ------------------------------------------------------------------------


@dataclass(slots=True)
class _Pruned:
    kernel: Kernel  # the edges between nodes that can reach a valued node
    useful: Bools  # per node: it can reach a valued node
    valued: Ints  # per node: the valued twin it stands for (its output node), or -1


def _pruned(graph: DependencyGraph) -> _Pruned:
    cached = graph.cache.get("criticality")
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
    keep = np.flatnonzero(useful[graph.targets] & useful[graph.edge_source])
    kernel = Kernel.build(
        n,
        graph.edge_source[keep],
        graph.targets[keep],
        keep,
        graph.edge_lead[keep],
        graph.hierarchy[keep],
        graph.buffer,
        graph.fail_at,
    )
    pruned = _Pruned(kernel=kernel, useful=useful, valued=np.where(valued, graph.owner, -1))
    graph.cache["criticality"] = pruned
    return pruned


class SinglePoints(Mapping[str, list[str]]):
    """Twin -> the valued twins (products, orders) it stops on its own, first down first.

    Each list is worked out when asked for (one cascade), so that ranking every twin does not build
    millions of lists nobody reads.
    """

    def __init__(self, graph: DependencyGraph, nodes: dict[str, int]) -> None:
        self._graph = graph
        self._nodes = nodes
        self._lists: dict[str, list[str]] = {}

    def __getitem__(self, twin: str) -> list[str]:
        cached = self._lists.get(twin)
        if cached is None:
            cached = self._lists[twin] = _stopped(self._graph, self._nodes[twin])
        return cached

    def __iter__(self) -> Iterator[str]:
        return iter(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def __repr__(self) -> str:
        return f"SinglePoints({len(self)} twins)"


def _stopped(graph: DependencyGraph, x: int) -> list[str]:
    p = _pruned(graph)
    with p.kernel.scratch() as s:
        nodes, times, _ = p.kernel.spread(s, np.array([x]), np.zeros(1))
    twins = p.valued[nodes]
    hit = twins >= 0
    twins, times = twins[hit], times[hit]
    return [graph.ids[t] for t in twins[np.lexsort((twins, times))].tolist()]


def criticality(
    graph: DependencyGraph, *, horizon: float = DEFAULT_HORIZON, twins: Iterable[str] | None = None
) -> CriticalityResult:
    """Rank twins by the value their failure puts at risk within ``horizon``; single points; TTS vs TTR.

    ``twins`` limits the candidates (default: every twin that can reach a valued twin).
    """
    p = _pruned(graph)
    if twins is None:
        candidates = np.flatnonzero(p.useful[: graph.n_twins])
    else:
        candidates = np.array([graph.index(t) for t in twins], dtype=np.int64)
    value, stops, tts, first = p.kernel.rank(candidates, p.valued, graph.lump, graph.rate, horizon)
    ids = graph.ids
    order = np.lexsort((candidates, -value))  # twins are numbered in order of id
    probability = graph.probability[candidates]
    ranking = [
        Criticality(
            twin=ids[x],
            category=CATEGORIES[c],
            value_at_risk=v,
            annual_loss=v * pr,
            stops=k,
            time_to_survive=t,
        )
        for x, c, v, pr, k, t in zip(
            candidates[order].tolist(),
            graph.category[candidates[order]].tolist(),
            value[order].tolist(),
            probability[order].tolist(),
            stops[order].tolist(),
            tts[order].tolist(),
            strict=True,
        )
    ]
    stopping = stops > 0
    single_points = SinglePoints(graph, {ids[x]: x for x in candidates[stopping].tolist()})
    suppliers: list[SupplierExposure] = []
    is_supplier = graph.category[candidates] == _SUPPLIER
    for x, t, f in zip(
        candidates[is_supplier].tolist(), tts[is_supplier].tolist(), first[is_supplier].tolist(), strict=True
    ):
        ttr = float(graph.recovery[x])
        suppliers.append(
            SupplierExposure(
                supplier=ids[x],
                time_to_survive=t,
                time_to_recover=None if math.isnan(ttr) else ttr,
                first_hit=ids[f] if f >= 0 else None,
            )
        )
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
    twins = np.unique(graph.owner[ancestors])
    p = _pruned(graph)
    if not p.useful[goal]:
        raise ValueError(f"{target!r} is not a valued twin (product, order) nor upstream of one")
    stops = p.kernel.reaches(twins, goal)
    return [graph.ids[x] for x in twins[stops].tolist()]
