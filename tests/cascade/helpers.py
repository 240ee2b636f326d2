"""Small graphs for the cascade tests, built as networkx graphs in the form ``from_networkx`` takes."""

from __future__ import annotations

import math
from typing import Any

import networkx as nx
import numpy as np

from dtgraph.cascade.snapshot import DependencyGraph


def graph(nodes: dict[str, dict[str, Any]], edges: list[tuple[str, str, dict[str, Any]]]) -> nx.DiGraph:
    g: nx.DiGraph = nx.DiGraph()
    for node, attrs in nodes.items():
        g.add_node(node, **attrs)
    for u, v, attrs in edges:
        g.add_edge(u, v, **attrs)
    return g


def times_by_twin(dg: DependencyGraph, times: np.ndarray) -> dict[str, float]:
    """Per twin, the time of its output node (finite ones only)."""
    out = {}
    for i, twin in enumerate(dg.ids):
        t = float(times[dg.output(i)])
        if math.isfinite(t):
            out[twin] = t
    return out


def reference_by_twin(h: nx.DiGraph, done: dict[Any, float]) -> dict[str, float]:
    out = {}
    for node in h.nodes:
        if isinstance(node, tuple):
            continue
        key = (node, "rollup") if (node, "rollup") in h else node
        if key in done:
            out[str(node)] = done[key]
    return out


def close(a: dict[str, float], b: dict[str, float]) -> bool:
    return a.keys() == b.keys() and all(math.isclose(a[k], b[k], rel_tol=1e-9, abs_tol=1e-9) for k in a)
