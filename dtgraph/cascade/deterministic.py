"""Layer 1, deterministic: which twins a failure reaches, when, why, and the value it puts at risk.

The rule (see :mod:`dtgraph.cascade.snapshot` for the graph): failed twins go down at hour 0. A node goes
down at once when a hierarchy input (its parent, or for a roll-up node the parent itself) is down; and
``buffer`` hours after at least ``fail_at`` of its gated inputs are down, each input felt ``lead`` hours
after it goes down. With permanent failures this makes a node's failure time

    T(v) = min( T(parent) + lead,  buffer(v) + the fail_at-th smallest of T(u) + lead(u, v) over gated u )

which :func:`failure_times` solves like Dijkstra, compiled (:mod:`dtgraph.cascade._kernel`): a node
needing several failed inputs keeps its k earliest arrivals, and the work is in proportion to what the
failure reaches — a failed machine costs its few dozen nodes, not the million of the graph.

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
from scipy.sparse.csgraph import breadth_first_order  # type: ignore[import-untyped]

from dtgraph.cascade._kernel import Kernel
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
    "twins_down",
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


class Outage:
    """Per node: first time down, first time back, hours down in the horizon, and cause.

    Kept as the nodes down within the horizon (``down``, ascending) with their values (``values``), so
    that a cascade that reaches a few nodes costs a few nodes; the arrays over all nodes (``time``,
    ``back``, ``lost``, ``cause``) are made when first asked for. ``cause`` is the edge whose source made
    the node go down first (-1 for failed twins and untouched nodes); ``time`` is ``math.inf`` for nodes
    never down within the horizon.
    """

    __slots__ = ("_arrays", "_at", "down", "n", "values")

    def __init__(self, n: int, down: Ints, time: Floats, back: Floats, lost: Floats, cause: Ints) -> None:
        order = np.argsort(down, kind="stable")
        self.n = n
        self.down: Ints = down[order]
        self.values: tuple[Floats, Floats, Floats, Ints] = (
            time[order],
            back[order],
            lost[order],
            cause[order],
        )
        self._arrays: tuple[Floats, Floats, Floats, Ints] | None = None
        self._at: dict[int, int] | None = None

    def _dense(self) -> tuple[Floats, Floats, Floats, Ints]:
        if self._arrays is None:
            time, back, lost = np.full(self.n, np.inf), np.full(self.n, np.inf), np.zeros(self.n)
            cause = np.full(self.n, -1, dtype=np.int64)
            time[self.down], back[self.down], lost[self.down], cause[self.down] = self.values
            self._arrays = (time, back, lost, cause)
        return self._arrays

    @property
    def time(self) -> Floats:
        return self._dense()[0]

    @property
    def back(self) -> Floats:
        return self._dense()[1]

    @property
    def lost(self) -> Floats:
        return self._dense()[2]

    @property
    def cause(self) -> Ints:
        return self._dense()[3]

    def at(self, node: int) -> tuple[float, int]:
        """A node's first time down (``math.inf``: never) and cause, without the arrays over all nodes."""
        if self._at is None:
            self._at = {v: i for i, v in enumerate(self.down.tolist())}
        i = self._at.get(node)
        if i is None:
            return math.inf, -1
        return float(self.values[0][i]), int(self.values[3][i])


# ---- permanent failures: the compiled kernel ----------------------------------------------------------


def _kernel(graph: DependencyGraph) -> Kernel:
    cached = graph.cache.get("kernel")
    if not isinstance(cached, Kernel):
        cached = graph.cache["kernel"] = Kernel.build(
            graph.n,
            graph.edge_source,
            graph.targets,
            np.arange(graph.n_edges, dtype=np.int64),
            graph.edge_lead,
            graph.hierarchy,
            graph.buffer,
            graph.fail_at,
        )
    return cached


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
    The work is in proportion to what the failure reaches, not to the graph.
    """
    kernel = _kernel(graph)
    src = np.asarray(sources, dtype=np.int64).reshape(-1)
    at = np.asarray(starts, dtype=np.float64).reshape(-1) if len(starts) else np.zeros(len(src))
    with kernel.scratch() as s:
        nodes, times, causes = kernel.spread(s, src, at, horizon)
    lost = np.maximum(horizon - times, 0.0) if math.isfinite(horizon) else np.full(len(times), np.inf)
    return Outage(graph.n, nodes, times, np.full(len(times), np.inf), lost, causes)


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
    """:func:`simulate` as an :class:`Outage`."""
    events = simulate(graph, recovery, horizon, disrupted)
    rows = list(events.values())
    return Outage(
        graph.n,
        np.fromiter(events, dtype=np.int64, count=len(rows)),
        np.array([r[0] for r in rows], dtype=np.float64),
        np.array([r[1] for r in rows], dtype=np.float64),
        np.array([r[2] for r in rows], dtype=np.float64),
        np.array([r[3] for r in rows], dtype=np.int64),
    )


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


def twins_down(graph: DependencyGraph, result: Outage, horizon: float) -> tuple[Ints, Floats, Floats, Floats]:
    """The twins whose output node is down within the horizon: (twins ascending, time, back, hours lost)."""
    time, back, lost, _ = result.values
    twins = graph.owner[result.down]
    mine = (_outputs(graph)[twins] == result.down) & (time <= horizon)
    return twins[mine], time[mine], back[mine], lost[mine]


def value_at_risk(graph: DependencyGraph, result: Outage, horizon: float) -> tuple[Floats, Floats]:
    """Per twin down within the horizon (as :func:`twins_down` orders them): order value, revenue lost."""
    twins, _, _, lost = twins_down(graph, result, horizon)
    return graph.lump[twins], graph.rate[twins] * lost


def _outputs(graph: DependencyGraph) -> Ints:
    cached = graph.cache.get("outputs")
    if cached is None:
        twins = np.arange(graph.n_twins)
        cached = graph.cache["outputs"] = np.where(graph.rollup >= 0, graph.rollup, twins)
    return cached


def _hierarchy_parents(graph: DependencyGraph, children: Ints) -> tuple[Ints, Ints]:
    """(parent, child) for every hierarchy edge between twins into ``children``, by the in-edge index."""
    start, end = graph.in_indptr[children], graph.in_indptr[children + 1]
    counts = end - start
    offsets = np.repeat(start - (np.cumsum(counts) - counts), counts)
    edges = graph.in_edges[np.arange(int(counts.sum())) + offsets]
    child = np.repeat(children, counts)
    parent = graph.edge_source[edges]
    keep = graph.hierarchy[edges] & (parent < graph.n_twins)
    return parent[keep], child[keep]


def report(graph: DependencyGraph, failed: tuple[str, ...], horizon: float, result: Outage) -> CascadeResult:
    """Impacts, explanations, roll-ups and value at risk: work in proportion to the twins down."""
    out = _outputs(graph)
    hit, hit_time, hit_back, lost = twins_down(graph, result, horizon)
    lumps, revenue = graph.lump[hit], graph.rate[hit] * lost
    value = lumps + revenue
    failed_set = {graph.index(name) for name in failed}
    impacts: list[Impact] = []
    categories = graph.category
    # soonest first, then by id (twins are numbered in order of id): sorted here, not as Python objects
    first_down = np.lexsort((hit, hit_time))
    for i, t, back, v in zip(
        hit[first_down].tolist(),
        hit_time[first_down].tolist(),
        hit_back[first_down].tolist(),
        value[first_down].tolist(),
        strict=True,
    ):
        impacts.append(
            Impact(
                twin=graph.ids[i],
                category=CATEGORIES[int(categories[i])],
                state="failed" if i in failed_set else "stopped",
                time=t,
                recovered=back if back <= horizon else None,
                value=v,
                explained=partial(explain, graph, result, int(out[i])),
            )
        )
    # degraded: a rolled-up parent not stopped, with a production child (not a sensor) down
    production = hit[graph.category[hit] != CATEGORIES.index("Sensor")]
    parent, child = _hierarchy_parents(graph, production)
    down = (graph.rollup[parent] >= 0) & ~np.isin(parent, hit)
    parent, child = parent[down], child[down]
    child_time = hit_time[np.searchsorted(hit, child)]
    order = np.lexsort((child, child_time, parent))
    parent, child = parent[order], child[order]
    first = np.ones(len(parent), dtype=bool)
    first[1:] = parent[1:] != parent[:-1]
    for p, c in zip(parent[first].tolist(), child[first].tolist(), strict=True):
        impacts.append(
            Impact(
                twin=graph.ids[p],
                category=CATEGORIES[int(categories[p])],
                state="degraded",
                time=math.inf,
                recovered=None,
                value=0.0,
                explained=partial(_degraded, graph, result, int(out[c]), graph.ids[p]),
            )
        )
    # degraded twins (never down: time inf) come last, by id, as the lexsort by parent left them
    per_customer: dict[str, list[float]] = {}
    for i, lump in zip(hit.tolist(), lumps.tolist(), strict=True):
        customer = graph.customer.get(i)
        if customer is not None and lump > 0:
            per_customer.setdefault(customer, []).append(lump)
    customers = {c: math.fsum(values) for c, values in per_customer.items()}
    # sums exact (math.fsum): the same twins down give the same figures, whatever the order they came in
    return CascadeResult(
        failed=failed,
        horizon=horizon,
        impacts=impacts,
        value_at_risk=math.fsum(value.tolist()),
        order_value=math.fsum(lumps.tolist()),
        revenue=math.fsum(revenue.tolist()),
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
        time, edge = result.at(node)
        owner = int(graph.owner[node])
        if edge < 0:
            via = ""
        elif int(graph.edge_kind[edge]) == ROLLUP or node >= graph.n_twins:
            via = "roll-up"
        else:
            via = graph.names[int(graph.edge_name[edge])] or KINDS[int(graph.edge_kind[edge])]
        step = Step(graph.ids[owner], time, via)
        if steps and steps[-1].twin == step.twin:
            steps[-1] = Step(step.twin, steps[-1].time, step.via)  # a twin and its roll-up: one step
        else:
            steps.append(step)
        node = int(graph.edge_source[edge]) if edge >= 0 else -1
    steps.reverse()
    return tuple(steps)
