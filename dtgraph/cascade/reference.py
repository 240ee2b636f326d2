"""The plain networkx reference implementation of cascade analysis: slow, short and easy to check.

The array engine (:mod:`dtgraph.cascade.deterministic`) is tested against these functions on hand-built
and random graphs. They take the twin-level graph of :func:`dtgraph.cascade.snapshot.from_networkx` (edges
pointing the way failure travels; see there for the attributes) and apply the rules of
:mod:`dtgraph.cascade.snapshot` from scratch: roll-up nodes, gates, buffers, lead times.

- :func:`expand` adds the roll-up nodes, named ``(parent, "rollup")``;
- :func:`earliest_failures` is Dijkstra with a count of failed inputs per node (permanent failures);
- :func:`simulate` steps through whole hours (integer data only) with failed twins that recover;
- :func:`single_points_of_failure` uses dominators, for graphs where every gate is "any" or has one input.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Hashable, Mapping
from typing import Any

import networkx as nx

__all__ = ["earliest_failures", "expand", "output_of", "simulate", "single_points_of_failure"]

_PRODUCTION = ("material", "supply")


def _fail_at(gate: str, required: int | None, n: int) -> int:
    """How many failed gated inputs fail a node (0: it has none, so it cannot fail through them)."""
    if n == 0:
        return 0
    if gate == "any":
        return n
    if gate == "kOfN":
        r = min(max(required or n, 1), n)
        return n - r + 1
    return 1


def expand(g: nx.DiGraph[Any]) -> nx.DiGraph[Any]:
    """A copy of ``g`` with the roll-up node of every parent, and each node's ``fail_at`` and ``hierarchy``.

    Node attribute ``fail_at``; edge attribute ``hierarchy`` (True: immediate and never gated).
    """
    h: nx.DiGraph[Any] = nx.DiGraph()
    parent: dict[Any, Any] = {}
    for p, c, data in sorted(g.edges(data=True), key=lambda e: (str(e[0]), str(e[1]))):
        if data.get("kind") == "hierarchy" and c not in parent:
            parent[c] = p

    parents = set(parent.values())

    def takes_part(x: Any) -> bool:
        edges = [*g.in_edges(x, data=True), *g.out_edges(x, data=True)]
        return x in parents or any(d.get("kind", "supply") in _PRODUCTION for _, _, d in edges)

    children: dict[Any, list[Any]] = {}
    for c, p in parent.items():
        if takes_part(c):
            children.setdefault(p, []).append(c)

    def output(x: Any) -> Any:
        return (x, "rollup") if x in children else x

    for node, data in g.nodes(data=True):
        h.add_node(node, **data)
    for p in children:
        h.add_node((p, "rollup"), buffer=0.0, gate="any", rollup_of=p)
        h.add_edge(p, (p, "rollup"), lead=0.0, hierarchy=True, name="")
    for u, v, data in g.edges(data=True):
        hier = data.get("kind") == "hierarchy"
        h.add_edge(u if hier else output(u), v, **data, hierarchy=hier)
    for p, kids in children.items():
        for c in kids:
            feeds_sibling = any(
                d.get("kind", "supply") in _PRODUCTION and w in kids for _, w, d in g.out_edges(c, data=True)
            )
            if not feeds_sibling:
                h.add_edge(output(c), (p, "rollup"), lead=0.0, hierarchy=False, name="")
    for node, data in h.nodes(data=True):
        n = sum(1 for _, _, d in h.in_edges(node, data=True) if not d["hierarchy"])
        data["fail_at"] = _fail_at(data.get("gate", "all"), data.get("required"), n)
    return h


def output_of(h: nx.DiGraph[Any], twin: Any) -> Any:
    """The node whose state a twin delivers: its roll-up node in ``expand``'s graph, if it has one."""
    return (twin, "rollup") if (twin, "rollup") in h else twin


def earliest_failures(
    h: nx.DiGraph[Any], failed: Mapping[Any, float], horizon: float = math.inf
) -> dict[Any, float]:
    """When each node of ``expand``'s graph fails, given failed nodes and their failure times (permanent).

    A node fails ``buffer`` hours after ``fail_at`` of its gated inputs have failed (each felt ``lead``
    hours after the input fails), or at once when a hierarchy input fails. Nodes failing after the horizon
    are left out.
    """
    heap: list[tuple[float, int, Hashable]] = []
    counter = 0
    for node, t in failed.items():
        heapq.heappush(heap, (t, counter, node))
        counter += 1
    arrivals: dict[Any, list[float]] = {}
    done: dict[Any, float] = {}
    while heap:
        t, _, v = heapq.heappop(heap)
        if v in done or t > horizon:
            continue
        done[v] = t
        for _, w, data in h.out_edges(v, data=True):
            if w in done:
                continue
            arrive = t + data.get("lead", 0.0)
            if data["hierarchy"]:
                heapq.heappush(heap, (arrive, counter, w))
            else:
                arrivals.setdefault(w, []).append(arrive)
                k = h.nodes[w]["fail_at"]
                if 0 < k <= len(arrivals[w]):
                    heapq.heappush(
                        heap, (sorted(arrivals[w])[k - 1] + h.nodes[w].get("buffer", 0.0), counter, w)
                    )
            counter += 1
    return done


def simulate(
    h: nx.DiGraph[Any], recovery: Mapping[Any, float], horizon: int
) -> dict[Any, list[tuple[int, int]]]:
    """Down windows ``[start, end)`` of each node, hour by hour, when the nodes of ``recovery`` fail at 0.

    Each failed node is forced down for its recovery hours (``math.inf``: for good). Then a node is down
    at hour t if it is forced down, a hierarchy input was down at t - lead, or at least ``fail_at`` of its
    gated inputs were down (at s - lead) at every hour s of [t - buffer, t]. Whole hours only: every lead,
    buffer and recovery must be an integer. Within an hour, the least set of down nodes that satisfies the
    rule wins. A window still open at the horizon ends at ``math.inf``.
    """
    nodes = list(h.nodes)
    history: dict[Any, list[bool]] = {v: [] for v in nodes}

    def was_down(u: Any, t: int) -> bool:
        return 0 <= t < len(history[u]) and history[u][t]

    for t in range(horizon + 1):
        down: dict[Any, bool] = {v: False for v in nodes}

        def rule(v: Any, t: int = t, down: dict[Any, bool] = down) -> bool:
            if t < recovery.get(v, -1):
                return True
            gated: list[tuple[Any, int]] = []
            for u, _, data in h.in_edges(v, data=True):
                lag = int(data.get("lead", 0))
                if data["hierarchy"]:
                    if down[u] if lag == 0 else was_down(u, t - lag):
                        return True
                else:
                    gated.append((u, lag))
            k = h.nodes[v]["fail_at"]
            if k == 0:
                return False
            for s in range(t - int(h.nodes[v].get("buffer", 0)), t + 1):
                now = sum(1 for u, lag in gated if (down[u] if s == t and lag == 0 else was_down(u, s - lag)))
                if now < k:
                    return False
            return True

        changed = True
        while changed:  # the least fixed point within the hour: start from all up, add what the rule forces
            changed = False
            for v in nodes:
                if not down[v] and rule(v):
                    down[v] = changed = True
        for v in nodes:
            history[v].append(down[v])
    windows: dict[Any, list[tuple[int, int]]] = {}
    for v, states in history.items():
        start = None
        for t, is_down in enumerate(states):
            if is_down and start is None:
                start = t
            elif not is_down and start is not None:
                windows.setdefault(v, []).append((start, t))
                start = None
        if start is not None:
            windows.setdefault(v, []).append((start, math.inf))  # type: ignore[arg-type]
    return windows


def single_points_of_failure(g: nx.DiGraph[Any], target: Any) -> set[Any]:
    """The twins whose failure alone fails ``target``, by dominators (the classic method).

    Valid when every node with more than one gated input has gate "any" and the graph has no roll-up (no
    hierarchy): then a node stays up as long as one path from an input-less node reaches it, so a twin
    stops ``target`` exactly when it lies on every such path — when it dominates ``target`` in the graph
    with a virtual source feeding every node that has no inputs.
    """
    source = ("virtual", "source")
    d: nx.DiGraph[Any] = nx.DiGraph(g.edges())
    d.add_nodes_from(g.nodes)
    roots = [v for v in g.nodes if g.in_degree(v) == 0]
    d.add_edges_from((source, r) for r in roots)
    if target not in nx.descendants(d, source):
        return set()
    idom = nx.immediate_dominators(d, source)
    out = set()
    v = target
    while v != source:
        out.add(v)
        v = idom[v]
    return out
