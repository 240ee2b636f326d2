"""Layer 1, deterministic: which twins a failure reaches, when, why, and the value it puts at risk.

The rule (see :mod:`dtgraph.cascade.snapshot` for the graph): failed twins go down at hour 0. A node goes
down at once when a hierarchy input (its parent, or for a roll-up node the parent itself) is down; and
``buffer`` hours after at least ``fail_at`` of its gated inputs are down, each input felt ``lead`` hours
after it goes down. With permanent failures this makes a node's failure time

    T(v) = min( T(parent) + lead,  buffer(v) + the fail_at-th smallest of T(u) + lead(u, v) over gated u )

which :func:`failure_times` solves like Dijkstra: shortest paths in C (``scipy.sparse.csgraph``) over the
edges where one input is enough (hierarchy edges, and gated edges into nodes that fail at their first
failed input), in rounds, between which the nodes that need several failed inputs take the k-th smallest
arrival (vectorised). The rounds stop when no such node changes; their number is the depth of "several
inputs" gates along the cascade (alternate suppliers, roll-ups), a handful in practice.

A node fails only for a cause that reaches it from a failed twin: a loop of nodes that each need any one
input (two machines that can run off each other) keeps itself up even when every outside input is down.

With **recovery**, a failed twin is forced down for its recovery hours only, and each node is down while
the rule holds: it recovers once its hierarchy inputs are up and fewer than ``fail_at`` gated inputs are
down. A buffer delays a failure but not a recovery, so a node whose buffer outlasts the outage is never hit
(time to survive beats time to recover). :func:`simulate` computes this exactly as a discrete-event
simulation over the part of the graph the failure reaches.

Value at risk within the horizon: every order (``orderValue``) down by the horizon, plus every product's
``revenuePerHour`` times the hours it is down within the horizon. An explanation is the chain of
predecessors: for each node, the input that made it fail (the k-th arrival of its gate, or its parent).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp  # type: ignore[import-untyped]
from scipy.sparse.csgraph import breadth_first_order, dijkstra  # type: ignore[import-untyped]

from dtgraph.cascade.snapshot import CATEGORIES, KINDS, ROLLUP, DependencyGraph, Floats, Ints

__all__ = [
    "DEFAULT_HORIZON",
    "CascadeResult",
    "Impact",
    "Outage",
    "Step",
    "cascade",
    "explain",
    "failure_times",
    "outage",
    "reachable",
    "report",
    "simulate",
    "value_at_risk",
]

DEFAULT_HORIZON = 168.0
"""Hours: one week, when the caller names no horizon."""

State = Literal["failed", "stopped", "degraded"]


@dataclass(frozen=True, slots=True)
class Step:
    """One link of an explanation: ``twin`` went down at ``time`` because of the previous step, over ``via``.

    ``via`` is the relationship name (``partOf``, ``feeds``, …) or ``roll-up`` (every sink child stopped);
    the first step, a failed twin, has ``via`` "".
    """

    twin: str
    time: float
    via: str


@dataclass(frozen=True, slots=True)
class Impact:
    """A twin the cascade reaches within the horizon."""

    twin: str
    category: str
    state: State
    time: float  # hours until it is down (math.inf for a degraded twin that never stops)
    recovered: float | None  # hours until it is back, if that happens within the horizon
    value: float  # value at risk on this twin within the horizon
    explained: Callable[[], tuple[Step, ...]] = field(repr=False, compare=False, default=tuple)

    @property
    def chain(self) -> tuple[Step, ...]:
        """The chain of dependencies from a failed twin to this one (worked out when asked for)."""
        return self.explained()

    def to_json(self) -> dict[str, Any]:
        return {
            "twin": self.twin,
            "category": self.category,
            "state": self.state,
            "time": None if math.isinf(self.time) else self.time,
            "recovered": self.recovered,
            "value": self.value,
            "chain": [
                {"twin": s.twin, "time": None if math.isinf(s.time) else s.time, "via": s.via}
                for s in self.chain
            ],
        }


@dataclass(slots=True)
class CascadeResult:
    """Layer 1's answer: every impacted twin with time, state and explanation, roll-ups and value at risk."""

    failed: tuple[str, ...]
    horizon: float
    impacts: list[Impact]
    value_at_risk: float
    order_value: float  # of it, orders down by the horizon
    revenue: float  # of it, product revenue lost within the horizon
    customers: dict[str, float] = field(default_factory=dict)  # order value at risk per customer

    def by_category(self, category: str) -> list[Impact]:
        """The impacts on twins of one category (``Line``, ``Plant``, ``CustomerOrder``…), soonest first."""
        return [i for i in self.impacts if i.category == category]

    def impact(self, twin: str) -> Impact | None:
        return next((i for i in self.impacts if i.twin == twin), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "failed": list(self.failed),
            "horizon": self.horizon,
            "valueAtRisk": self.value_at_risk,
            "orderValueAtRisk": self.order_value,
            "revenueAtRisk": self.revenue,
            "customers": self.customers,
            "impacts": [i.to_json() for i in self.impacts],
        }


@dataclass(slots=True)
class Outage:
    """Per node (arrays over all nodes): first time down, first time back, hours down in the horizon, cause.

    ``cause`` is the edge whose source made the node go down first (-1 for failed twins and untouched
    nodes); ``time`` is ``math.inf`` for nodes never down within the horizon.
    """

    time: Floats
    back: Floats
    lost: Floats
    cause: Ints


# ---- permanent failures: shortest paths in rounds ------------------------------------------------------


@dataclass(slots=True)
class _Compiled:
    matrix: Any  # CSR of (n + 1) x (n + 1): row n is the super-source, its data the start candidates
    keys: Ints  # sorted (u * (n + 1) + v) of the matrix's edges, for mapping predecessors to edges
    edge_of_key: Ints
    k_src: Ints  # gated edges into nodes that need several failed inputs, sorted by target
    k_dst: Ints
    k_lead: Floats
    k_edge: Ints


def _compiled(graph: DependencyGraph) -> _Compiled:
    cached = graph.cache.get("compiled")
    if isinstance(cached, _Compiled):
        return cached
    n = graph.n
    hier = graph.hierarchy
    src, dst = graph.edge_source, graph.targets
    first_one = graph.fail_at[dst] == 1
    single = hier | first_one
    weight = graph.edge_lead + np.where(hier, 0.0, graph.buffer[dst])
    s_edges = np.flatnonzero(single)
    order = np.lexsort((weight[s_edges], dst[s_edges], src[s_edges]))
    s_edges = s_edges[order]
    keep = np.ones(len(s_edges), dtype=bool)
    keep[1:] = (src[s_edges][1:] != src[s_edges][:-1]) | (dst[s_edges][1:] != dst[s_edges][:-1])
    s_edges = s_edges[keep]
    u, v, w = src[s_edges], dst[s_edges], weight[s_edges]
    counts = np.bincount(u, minlength=n + 1)
    counts[n] = n
    indptr = np.concatenate(([0], np.cumsum(counts)))
    indices = np.concatenate((v, np.arange(n)))
    data = np.concatenate((w, np.full(n, np.inf)))
    matrix = sp.csr_array((data, indices, indptr), shape=(n + 1, n + 1))
    keys = u * (n + 1) + v
    k_edges = graph.in_edges[~single[graph.in_edges] & (graph.fail_at[dst[graph.in_edges]] > 1)]
    compiled = _Compiled(
        matrix=matrix,
        keys=keys,
        edge_of_key=s_edges,
        k_src=src[k_edges],
        k_dst=dst[k_edges],
        k_lead=graph.edge_lead[k_edges],
        k_edge=k_edges,
    )
    graph.cache["compiled"] = compiled
    return compiled


SMALL_REGION = 20_000
"""Below this many reachable nodes, :func:`failure_times` runs the event simulation instead of rounds of
shortest paths over the whole graph (whose cost has a part in proportion to the graph, not the cascade)."""


def reachable(graph: DependencyGraph, nodes: Iterable[int]) -> Ints:
    """Every node a failure of ``nodes`` can reach, whatever the gates (breadth first, in C)."""
    matrix = graph.cache.get("reach_matrix")
    if matrix is None:
        n = graph.n
        matrix = sp.csr_array((np.ones(graph.n_edges), graph.targets, graph.indptr), shape=(n, n))
        graph.cache["reach_matrix"] = matrix
    seen = np.zeros(graph.n, dtype=bool)
    for node in nodes:
        if not seen[node]:
            seen[breadth_first_order(matrix, node, directed=True, return_predecessors=False)] = True
    return np.flatnonzero(seen)


def failure_times(
    graph: DependencyGraph, sources: Sequence[int], horizon: float = math.inf, starts: Sequence[float] = ()
) -> Outage:
    """Permanent failures of ``sources`` (nodes) at ``starts`` (default 0): when every node fails.

    Exact for the rule of the module docstring; nodes failing after ``horizon`` count as never failing.
    A failure that can reach few nodes is worked out by :func:`simulate` (the same rule, event by event).
    """
    n = graph.n
    if not any(starts) and n > SMALL_REGION and len(reachable(graph, sources)) <= SMALL_REGION:
        return outage(graph, dict.fromkeys(sources, math.inf), horizon)
    c = _compiled(graph)
    start = np.full(n, np.inf)
    src_nodes = np.asarray(sources, dtype=np.int64)
    start_times = np.asarray(starts, dtype=np.float64) if len(starts) else np.zeros(len(src_nodes))
    np.minimum.at(start, src_nodes, start_times)
    candidate = start.copy()
    data = c.matrix.data
    fail_at, buffer = graph.fail_at, graph.buffer
    while True:
        data[len(data) - n :] = candidate
        dist, pred = dijkstra(c.matrix, indices=n, return_predecessors=True, limit=horizon)
        times = dist[:n]
        # nodes that need several failed inputs: the fail_at-th smallest arrival, plus the buffer
        arrive = times[c.k_src] + c.k_lead
        live = np.flatnonzero(np.isfinite(arrive))
        order = live[np.lexsort((arrive[live], c.k_dst[live]))]
        dst_sorted = c.k_dst[order]
        nodes, first, count = np.unique(dst_sorted, return_index=True, return_counts=True)
        need = fail_at[nodes]
        ready = count >= need
        nodes, pick = nodes[ready], order[first[ready] + need[ready] - 1]
        when = arrive[pick] + buffer[nodes]
        within = when <= horizon
        nodes, pick, when = nodes[within], pick[within], when[within]
        updated = start.copy()
        updated[nodes] = np.minimum(updated[nodes], when)
        if np.array_equal(updated, candidate):
            break
        candidate = updated
    # causes: the edge from the shortest-path predecessor, or the gate's k-th input
    cause = np.full(n, -1, dtype=np.int64)
    reached = np.flatnonzero((pred[:n] >= 0) & (pred[:n] != n))
    if len(reached):
        keys = pred[reached].astype(np.int64) * (n + 1) + reached
        cause[reached] = c.edge_of_key[np.searchsorted(c.keys, keys)]
    by_gate = (pred[:n] == n) & (start > times)
    gate_nodes = np.flatnonzero(by_gate)
    if len(gate_nodes):
        position = np.searchsorted(nodes, gate_nodes)
        cause[gate_nodes] = c.k_edge[pick[position]]
    lost = (
        np.where(np.isfinite(times), np.maximum(horizon - times, 0.0), 0.0)
        if math.isfinite(horizon)
        else (np.where(np.isfinite(times), np.inf, 0.0))
    )
    return Outage(time=times, back=np.full(n, np.inf), lost=lost, cause=cause)


# ---- recovery: a discrete-event simulation --------------------------------------------------------------


def _lists(
    graph: DependencyGraph,
) -> tuple[list[int], list[int], list[float], list[bool], list[float], list[int]]:
    cached = graph.cache.get("lists")
    if cached is None:
        cached = graph.cache["lists"] = (
            graph.indptr.tolist(),
            graph.targets.tolist(),
            graph.edge_lead.tolist(),
            graph.hierarchy.tolist(),
            graph.buffer.tolist(),
            graph.fail_at.tolist(),
        )
    return cached


def simulate(
    graph: DependencyGraph,
    recovery: Mapping[int, float],
    horizon: float,
    disrupted: Iterable[int] = (),
) -> dict[int, tuple[float, float, float, int]]:
    """Failed nodes (``recovery``: node → hours down, ``math.inf`` for good) and what follows, event by event.

    ``disrupted`` edges are down for the whole horizon from hour 0, whatever their source does. Returns,
    for every node down within the horizon: (first time down, first time back or ``math.inf``, hours down
    within the horizon, the edge that caused its first failure or -1). Exact for the rule of the module
    docstring; within one instant, changes propagate in causal order.
    """
    indptr, targets, lead, hier, buffer, fail_at = _lists(graph)
    cut = set(disrupted)
    forced: dict[int, float] = {}
    gated: dict[int, int] = {}  # node -> gated inputs down
    parents: dict[int, int] = {}  # node -> hierarchy inputs down
    since: dict[int, float] = {}  # node -> when enough gated inputs went down
    tipping: dict[int, int] = {}  # node -> the edge that made the gate count reach fail_at
    blamed: dict[int, int] = {}  # node -> the hierarchy edge that went down last
    down_from: dict[int, float] = {}
    result: dict[int, list[Any]] = {}  # node -> [first, back, lost, cause]
    events: list[tuple[float, int, int, int, int]] = []  # (time, phase, sequence, node, edge or -1)
    seq = 0
    # at one instant: phase 0, inputs going down; phase 1, inputs coming back; phase 2, checks of nodes.
    # Downs before ups keeps a gate's count continuous when one input takes over from another.
    for node, hours in recovery.items():
        forced[node] = hours
        events.append((0.0, 2, seq, node, -1))
        seq += 1
        if math.isfinite(hours):
            events.append((hours, 2, seq, node, -1))
            seq += 1
    for e in cut:
        events.append((lead[e], 0, seq, targets[e], e))
        seq += 1
    heapq.heapify(events)
    push = heapq.heappush
    while events:
        t, phase, _, v, code = heapq.heappop(events)
        if t > horizon:
            break
        if phase < 2:
            up = phase == 1
            e = code
            if hier[e]:
                parents[v] = parents.get(v, 0) + (-1 if up else 1)
                if not up:
                    blamed[v] = e
                push(events, (t, 2, seq, v, -1))
            else:
                k = fail_at[v]
                count = gated.get(v, 0) + (-1 if up else 1)
                gated[v] = count
                if not up and count == k:
                    since[v] = t
                    tipping[v] = e
                    push(events, (t + buffer[v], 2, seq, v, -1))
                elif up and count == k - 1:
                    since.pop(v, None)
                    push(events, (t, 2, seq, v, -1))
            seq += 1
            continue
        k = fail_at[v]
        started = since.get(v)
        want = (
            t < forced.get(v, -1.0)
            or parents.get(v, 0) > 0
            or (k > 0 and started is not None and t >= started + buffer[v])
        )
        is_down = v in down_from
        if want == is_down:
            continue
        if want:
            down_from[v] = t
            if v not in result:
                if t < forced.get(v, -1.0):
                    cause = -1
                elif parents.get(v, 0) > 0:
                    cause = blamed[v]
                else:
                    cause = tipping[v]
                result[v] = [t, math.inf, 0.0, cause]
        else:
            began = down_from.pop(v)
            entry = result[v]
            entry[2] += t - began
            if math.isinf(entry[1]):
                entry[1] = t
        for e in range(indptr[v], indptr[v + 1]):
            if e in cut:
                continue
            push(events, (t + lead[e], 0 if want else 1, seq, targets[e], e))
            seq += 1
    for v, began in down_from.items():
        result[v][2] += max(horizon - began, 0.0) if math.isfinite(horizon) else math.inf
    return {v: (r[0], r[1], r[2], r[3]) for v, r in result.items()}


def outage(
    graph: DependencyGraph, recovery: Mapping[int, float], horizon: float, disrupted: Iterable[int] = ()
) -> Outage:
    """:func:`simulate` as arrays over all nodes."""
    n = graph.n
    time, back, lost = np.full(n, np.inf), np.full(n, np.inf), np.zeros(n)
    cause = np.full(n, -1, dtype=np.int64)
    for v, (first, end, hours, edge) in simulate(graph, recovery, horizon, disrupted).items():
        time[v], back[v], lost[v], cause[v] = first, end, hours, edge
    return Outage(time=time, back=back, lost=lost, cause=cause)


# ---- the public entry point ----------------------------------------------------------------------------


def cascade(
    graph: DependencyGraph,
    failed: Iterable[str],
    *,
    horizon: float = DEFAULT_HORIZON,
    recovery: bool | Mapping[str, float] = False,
) -> CascadeResult:
    """Fail twins ``failed`` at hour 0 and report what follows within ``horizon`` hours.

    ``recovery``: False, failures are permanent; True, each failed twin is back after its
    ``recoveryHours`` (for good if it has none); a mapping, those hours per twin (the others as True).
    """
    if not horizon > 0:
        raise ValueError(f"the horizon must be a positive number of hours, not {horizon}")
    names = list(dict.fromkeys(failed))
    if not names:
        raise ValueError("name at least one failed twin")
    nodes = [graph.index(name) for name in names]
    if recovery is False:
        result = failure_times(graph, nodes, horizon)
    else:
        hours = {}
        for name, node in zip(names, nodes, strict=True):
            given = recovery.get(name) if isinstance(recovery, Mapping) else None
            own = float(graph.recovery[node])
            hours[node] = float(given) if given is not None else (math.inf if math.isnan(own) else own)
        result = outage(graph, hours, horizon)
    return report(graph, tuple(names), horizon, result)


def value_at_risk(graph: DependencyGraph, result: Outage, horizon: float) -> tuple[Floats, Floats]:
    """Per twin: order value down by the horizon, and revenue lost within it (on its output node)."""
    out = _outputs(graph)
    hit = result.time[out] <= horizon
    return np.where(hit, graph.lump[: graph.n_twins], 0.0), graph.rate[: graph.n_twins] * result.lost[out]


def _outputs(graph: DependencyGraph) -> Ints:
    cached = graph.cache.get("outputs")
    if cached is None:
        twins = np.arange(graph.n_twins)
        cached = graph.cache["outputs"] = np.where(graph.rollup >= 0, graph.rollup, twins)
    return cached


def report(graph: DependencyGraph, failed: tuple[str, ...], horizon: float, result: Outage) -> CascadeResult:
    """Impacts, explanations, roll-ups and value at risk from per-node outage arrays."""
    out = _outputs(graph)
    lumps, revenue = value_at_risk(graph, result, horizon)
    value = lumps + revenue
    failed_set = {graph.index(name) for name in failed}
    twin_time = result.time[out]
    hit = np.flatnonzero(twin_time <= horizon)
    impacts: list[Impact] = []
    categories = graph.category.tolist()
    for i, t, back, v in zip(
        hit.tolist(),
        twin_time[hit].tolist(),
        result.back[out[hit]].tolist(),
        value[hit].tolist(),
        strict=True,
    ):
        impacts.append(
            Impact(
                twin=graph.ids[i],
                category=CATEGORIES[categories[i]],
                state="failed" if i in failed_set else "stopped",
                time=t,
                recovered=back if back <= horizon else None,
                value=v,
                explained=partial(explain, graph, result, int(out[i])),
            )
        )
    # degraded: a rolled-up parent not stopped, with a production child (not a sensor) down
    hier = graph.hierarchy & (graph.edge_source < graph.n_twins) & (graph.targets < graph.n_twins)
    parent, child = graph.edge_source[hier], graph.targets[hier]
    down = (
        (graph.rollup[parent] >= 0)
        & ~(twin_time[parent] <= horizon)
        & (twin_time[child] <= horizon)
        & (graph.category[child] != CATEGORIES.index("Sensor"))
    )
    parent, child = parent[down], child[down]
    order = np.lexsort((child, twin_time[child], parent))
    parent, child = parent[order], child[order]
    first = np.ones(len(parent), dtype=bool)
    first[1:] = parent[1:] != parent[:-1]
    for p, c in zip(parent[first].tolist(), child[first].tolist(), strict=True):
        impacts.append(
            Impact(
                twin=graph.ids[p],
                category=CATEGORIES[categories[p]],
                state="degraded",
                time=math.inf,
                recovered=None,
                value=0.0,
                explained=partial(_degraded, graph, result, int(out[c]), graph.ids[p]),
            )
        )
    impacts.sort(key=lambda i: (i.time, i.twin))
    customers: dict[str, float] = {}
    for i, customer in graph.customer.items():
        if lumps[i] > 0:
            customers[customer] = customers.get(customer, 0.0) + float(lumps[i])
    return CascadeResult(
        failed=failed,
        horizon=horizon,
        impacts=impacts,
        value_at_risk=float(value.sum()),
        order_value=float(lumps.sum()),
        revenue=float(revenue.sum()),
        customers=dict(sorted(customers.items(), key=lambda kv: (-kv[1], kv[0]))),
    )


def _degraded(graph: DependencyGraph, result: Outage, child: int, parent: str) -> tuple[Step, ...]:
    return (*explain(graph, result, child), Step(parent, math.inf, "partOf"))


def explain(graph: DependencyGraph, result: Outage, node: int) -> tuple[Step, ...]:
    """The chain of causes that brought the failure to ``node``, from a failed twin to it."""
    steps: list[Step] = []
    seen: set[int] = set()
    while node >= 0 and node not in seen:
        seen.add(node)
        edge = int(result.cause[node])
        owner = int(graph.owner[node])
        if edge < 0:
            via = ""
        elif int(graph.edge_kind[edge]) == ROLLUP or node >= graph.n_twins:
            via = "roll-up"
        else:
            via = graph.names[int(graph.edge_name[edge])] or KINDS[int(graph.edge_kind[edge])]
        step = Step(graph.ids[owner], float(result.time[node]), via)
        if steps and steps[-1].twin == step.twin:
            steps[-1] = Step(step.twin, steps[-1].time, step.via)  # a twin and its roll-up: one step
        else:
            steps.append(step)
        node = int(graph.edge_source[edge]) if edge >= 0 else -1
    steps.reverse()
    return tuple(steps)
