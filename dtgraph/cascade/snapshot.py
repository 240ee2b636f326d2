"""The dependency snapshot: the graph of "failure flows from u to v" as compact arrays.

:func:`snapshot` reads a store once (``Store.snapshot()`` streams twins, then relationships) and keeps only
what cascade analysis needs. Which relationships carry failure, and which way, what each twin counts as and
which properties hold its buffer, recovery time, gate and value, come from the :class:`Semantics` of the
models: the library's ``cascade.toml`` and, for models of your own, a cascade configuration (see
:mod:`dtgraph.cascade.semantics`); a relationship nobody declared carries none.

Nodes are the twins, sorted by id (so that every store gives the same arrays), followed by one **roll-up
node** per hierarchy parent that has production children (see below). Edges point the way failure travels
and are of two sorts:

- **hierarchy** edges (parent → child, and a parent's own state → its roll-up node): the target stops at
  once when the source stops; no buffer, never counted by a gate;
- **gated** edges (material, utility, supply, and sink child → roll-up node): the target fails ``buffer``
  hours after ``fail_at`` of its gated inputs have failed (each input's failure felt ``lead`` hours later).

``fail_at`` comes from the twin's ``inputGate`` over its n gated inputs: ``all`` (the default) fails at the
first failed input (1), ``any`` at the last (n), ``kOfN`` with ``requiredInputs`` r at n - r + 1; 0 means the
node has no gated input and cannot fail through one.

**Roll-up.** A hierarchy child *takes part in production* if it has a material or supply relationship, or
children of its own (sensors and utilities do not). Among a parent's production children the **sinks** are
those that feed (material or supply) no production sibling: the last machine of a line, the last line of a
plant. The parent's roll-up node fails when the parent itself stops or when *every* sink has stopped — the
parent has nothing left to deliver. Every non-hierarchy edge leaving the parent leaves from its roll-up node
(a line whose machines all stopped makes no product); hierarchy edges to its children leave from the parent
itself, so a stopped machine never stops its siblings through the line. A parent with some production
children down but not stopped is reported **degraded**.

Parallel relationships between the same two twins become one edge: a hierarchy one wins; otherwise the
shortest lead time and the product of the failure probabilities (the link is down only if every one is).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
import numpy as np
import numpy.typing as npt

from dtgraph.cascade.semantics import CATEGORIES, EDGE_ROLES, Semantics, library_semantics
from dtgraph.dtdl import ModelSet, parse
from dtgraph.graph.records import Relationship, Twin
from dtgraph.library import CascadeDeclaration, library_model_set
from dtgraph.stores.base import Store

__all__ = [
    "CATEGORIES",
    "KINDS",
    "DependencyGraph",
    "from_networkx",
    "from_records",
    "snapshot",
    "store_models",
]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

KINDS = ("material", "utility", "supply", "hierarchy", "rollup")
"""Edge kinds by code; ``rollup`` is a sink child's edge into its parent's roll-up node."""
HIERARCHY, ROLLUP = 3, 4
_PRODUCTION = (0, 2)  # material, supply: what makes a hierarchy child take part in production

_OTHER = len(CATEGORIES) - 1

_GATES = {"all": 0, "any": 1, "kOfN": 2}


def _hours(value: Any, default: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    x = float(value)
    return x if math.isfinite(x) and x >= 0 else default


def _probability(value: Any) -> float:
    x = _hours(value, 0.0)
    return min(x, 1.0)


@dataclass(eq=False, slots=True)
class DependencyGraph:
    """The dependency graph as arrays. Node ``i < n_twins`` is twin ``ids[i]``; the rest are roll-up nodes.

    Edges are stored twice: by source (``indptr``/``targets``, the order of ``edge_*``) and by target
    (``in_indptr``/``in_sources``/``in_edges``, ``in_edges`` giving the position of each in the first).
    """

    ids: list[str]
    category: Ints  # per twin, an index into CATEGORIES
    customer: dict[int, str]  # per order twin that names one
    buffer: Floats  # per node, hours
    recovery: Floats  # per node, hours; NaN when the twin does not say
    probability: Floats  # per node, its own failure probability per year
    lump: Floats  # per node, value lost once when it fails (orderValue)
    rate: Floats  # per node, value lost per hour it is down (revenuePerHour)
    gate: Ints  # per node: 0 all, 1 any, 2 kOfN (for explanations)
    fail_at: Ints  # per node: how many failed gated inputs fail it (0: never)
    owner: Ints  # per node: the twin it belongs to (itself, or the parent of a roll-up node)
    rollup: Ints  # per twin: its roll-up node, or -1
    indptr: Ints
    targets: Ints
    edge_source: Ints
    edge_lead: Floats
    edge_probability: Floats
    edge_kind: Ints  # an index into KINDS
    edge_name: Ints  # an index into names
    names: list[str]  # relationship names ("" for roll-up edges)
    in_indptr: Ints = field(init=False)
    in_sources: Ints = field(init=False)
    in_edges: Ints = field(init=False)
    cache: dict[str, Any] = field(init=False, default_factory=dict)  # derived arrays, built on first use
    _index: dict[str, int] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        order = np.argsort(self.targets, kind="stable")
        self.in_edges = order.astype(np.int64)
        self.in_sources = self.edge_source[order]
        counts = np.bincount(self.targets, minlength=self.n)
        self.in_indptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)

    @property
    def n(self) -> int:
        """Number of nodes (twins and roll-up nodes)."""
        return len(self.buffer)

    @property
    def n_twins(self) -> int:
        return len(self.ids)

    @property
    def n_edges(self) -> int:
        return len(self.targets)

    @property
    def hierarchy(self) -> Bools:
        """Per edge: whether it is a hierarchy edge (immediate, never gated)."""
        cached = self.cache.get("hierarchy")
        if cached is None:
            cached = self.cache["hierarchy"] = self.edge_kind == HIERARCHY
        return cached  # type: ignore[no-any-return]

    def index(self, twin_id: str) -> int:
        """The node of a twin (raises KeyError naming it if the snapshot has no such twin)."""
        if self._index is None:
            self._index = {twin_id: i for i, twin_id in enumerate(self.ids)}
        try:
            return self._index[twin_id]
        except KeyError:
            raise KeyError(f"no twin {twin_id!r} in the dependency snapshot") from None

    def output(self, twin: int) -> int:
        """The node whose state is what a twin delivers: its roll-up node if it has one, else itself."""
        r = int(self.rollup[twin])
        return twin if r < 0 else r

    def label(self, node: int) -> str:
        """A twin's id, or ``<parent id> (roll-up)`` for a roll-up node."""
        if node < self.n_twins:
            return self.ids[node]
        return f"{self.ids[int(self.owner[node])]} (roll-up)"

    def category_of(self, twin: int) -> str:
        return CATEGORIES[int(self.category[twin])]

    def to_networkx(self) -> nx.DiGraph[str]:
        """The twin-level graph (no roll-up nodes), as :func:`from_networkx` and the reference take it."""
        g: nx.DiGraph[str] = nx.DiGraph()
        gates = ("all", "any", "kOfN")
        for i, twin_id in enumerate(self.ids):
            attrs: dict[str, Any] = {
                "buffer": float(self.buffer[i]),
                "probability": float(self.probability[i]),
                "value": float(self.lump[i]),
                "rate": float(self.rate[i]),
                "gate": gates[int(self.gate[i])],
                "category": CATEGORIES[int(self.category[i])],
            }
            if not math.isnan(self.recovery[i]):
                attrs["recovery"] = float(self.recovery[i])
            if int(self.gate[i]) == 2:
                attrs["required"] = self.cache["required"][i]
            if i in self.customer:
                attrs["customer"] = self.customer[i]
            g.add_node(twin_id, **attrs)
        for e in range(self.n_edges):
            kind = int(self.edge_kind[e])
            if kind == ROLLUP:
                continue
            u, v = int(self.owner[self.edge_source[e]]), int(self.owner[self.targets[e]])
            g.add_edge(
                self.ids[u],
                self.ids[v],
                lead=float(self.edge_lead[e]),
                probability=float(self.edge_probability[e]),
                kind=KINDS[kind],
                name=self.names[int(self.edge_name[e])],
            )
        return g


# ---- building ------------------------------------------------------------------------------------------


class _Builder:
    """Twins and oriented edges gathered in arrival order, then sorted, merged and compiled."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.category: list[int] = []
        self.buffer: list[float] = []
        self.recovery: list[float] = []
        self.probability: list[float] = []
        self.lump: list[float] = []
        self.rate: list[float] = []
        self.gate: list[int] = []
        self.required: list[int] = []
        self.customer: dict[int, str] = {}
        self.index: dict[str, int] = {}
        self.src: list[int] = []
        self.dst: list[int] = []
        self.lead: list[float] = []
        self.eprob: list[float] = []
        self.kind: list[int] = []
        self.name: list[int] = []
        self.names: dict[str, int] = {"": 0}

    def twin(self, twin_id: str, category: int, props: Mapping[str, Any]) -> None:
        if twin_id in self.index:
            return
        i = len(self.ids)
        self.index[twin_id] = i
        self.ids.append(twin_id)
        self.category.append(category)
        self.buffer.append(_hours(props.get("bufferHours"), 0.0))
        self.recovery.append(_hours(props.get("recoveryHours"), math.nan))
        self.probability.append(_probability(props.get("failureProbability")))
        self.lump.append(_hours(props.get("orderValue"), 0.0))
        self.rate.append(_hours(props.get("revenuePerHour"), 0.0))
        gate = props.get("inputGate")
        self.gate.append(_GATES.get(gate, 0) if isinstance(gate, str) else 0)
        required = props.get("requiredInputs")
        self.required.append(required if isinstance(required, int) and not isinstance(required, bool) else 0)
        customer = props.get("customer")
        if isinstance(customer, str):
            self.customer[i] = customer

    def edge(self, u: str, v: str, kind: int, name: str, props: Mapping[str, Any]) -> None:
        iu, iv = self.index.get(u), self.index.get(v)
        if iu is None or iv is None or iu == iv:
            return
        self.src.append(iu)
        self.dst.append(iv)
        self.kind.append(kind)
        self.lead.append(_hours(props.get("leadTimeHours"), 0.0))
        self.eprob.append(_probability(props.get("failureProbability")))
        code = self.names.get(name)
        if code is None:
            code = self.names[name] = len(self.names)
        self.name.append(code)

    def finish(self) -> DependencyGraph:
        # canonical order: twins by id, edges by (source, target), whatever order the store gave them in
        n = len(self.ids)
        perm = np.array(sorted(range(n), key=self.ids.__getitem__), dtype=np.int64)
        rank = np.empty_like(perm)
        rank[perm] = np.arange(n)
        ids = [self.ids[int(i)] for i in perm]

        def floats(values: list[float]) -> Floats:
            return np.asarray(values, dtype=np.float64).reshape(-1)[perm]

        def ints(values: list[int]) -> Ints:
            return np.asarray(values, dtype=np.int64).reshape(-1)[perm]

        # relationship names are coded in arrival order: recode them by name
        names = sorted(self.names)
        recode = np.array([names.index(x) for x in sorted(self.names, key=self.names.__getitem__)])
        src = rank[np.asarray(self.src, dtype=np.int64)]
        dst = rank[np.asarray(self.dst, dtype=np.int64)]
        kind = np.asarray(self.kind, dtype=np.int64)
        lead = np.asarray(self.lead, dtype=np.float64)
        eprob = np.asarray(self.eprob, dtype=np.float64)
        ename = recode[np.asarray(self.name, dtype=np.int64)]
        # parallel edges merge: a hierarchy one wins, else the shortest lead; probabilities multiply
        order = np.lexsort((ename, lead, kind != HIERARCHY, dst, src))
        src, dst, kind, ename = src[order], dst[order], kind[order], ename[order]
        lead, eprob = lead[order], eprob[order]
        first = np.ones(len(src), dtype=bool)
        first[1:] = (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])
        merged: Floats = np.ones(int(first.sum()))
        np.multiply.at(merged, np.cumsum(first) - 1, eprob)
        return _compile(
            ids,
            ints(self.category),
            {int(rank[i]): c for i, c in self.customer.items()},
            floats(self.buffer),
            floats(self.recovery),
            floats(self.probability),
            floats(self.lump),
            floats(self.rate),
            ints(self.gate),
            ints(self.required),
            (src[first], dst[first], lead[first], merged, kind[first], ename[first]),
            names,
        )


def _compile(
    ids: list[str],
    category: Ints,
    customer: dict[int, str],
    buffer: Floats,
    recovery: Floats,
    probability: Floats,
    lump: Floats,
    rate: Floats,
    gate: Ints,
    required: Ints,
    edges: tuple[Ints, Ints, Floats, Floats, Ints, Ints],
    names: list[str],
) -> DependencyGraph:
    """Add the roll-up nodes, reroute edges leaving rolled-up parents, and work out each gate."""
    src, dst, lead, eprob, kind, ename = edges
    n = len(ids)
    hier = kind == HIERARCHY
    production = np.isin(kind, _PRODUCTION)
    # parent of each child (hierarchy edges run parent -> child); a child with two parents keeps the first
    parent = np.full(n, -1, dtype=np.int64)
    hs, hd = src[hier], dst[hier]
    parent[hd[::-1]] = hs[::-1]
    has_children = np.zeros(n, dtype=bool)
    has_children[hs] = True
    takes_part = has_children.copy()
    takes_part[src[production]] = True
    takes_part[dst[production]] = True
    counted = takes_part & (parent >= 0)
    # a counted child is a sink unless it feeds a counted sibling
    pu, pv = src[production], dst[production]
    feeds_sibling = counted[pu] & counted[pv] & (parent[pu] == parent[pv])
    not_sink = np.zeros(n, dtype=bool)
    not_sink[pu[feeds_sibling]] = True
    sink = counted & ~not_sink
    # a parent whose counted children all feed one another (a cycle) has no sink: its roll-up never fires
    parents = np.unique(parent[counted])
    m = len(parents)
    rollup = np.full(n, -1, dtype=np.int64)
    rollup[parents] = n + np.arange(m)
    out = np.where(rollup >= 0, rollup, np.arange(n))  # output node of each twin
    # non-hierarchy edges leave from the source's output node
    src = np.where(hier, src, out[src])
    # roll-up edges: parent -> its roll-up node (hierarchy), sink child output -> parent's roll-up (gated)
    sinks = np.flatnonzero(sink)
    new_src = np.concatenate((src, parents, out[sinks]))
    new_dst = np.concatenate((dst, rollup[parents], rollup[parent[sinks]]))
    new_kind = np.concatenate((kind, np.full(m, HIERARCHY), np.full(len(sinks), ROLLUP)))
    new_lead = np.concatenate((lead, np.zeros(m + len(sinks))))
    new_prob = np.concatenate((eprob, np.zeros(m + len(sinks))))
    new_name = np.concatenate((ename, np.zeros(m + len(sinks), dtype=np.int64)))
    order = np.lexsort((new_dst, new_src))
    new_src, new_dst, new_kind, new_name = new_src[order], new_dst[order], new_kind[order], new_name[order]
    new_lead, new_prob = new_lead[order], new_prob[order]
    total = n + m
    gated_in = np.bincount(new_dst[new_kind != HIERARCHY], minlength=total)
    full_gate = np.concatenate((gate, np.ones(m, dtype=np.int64)))  # a roll-up node needs any one sink
    req = np.concatenate((required, np.zeros(m, dtype=np.int64)))
    fail_at = np.where(
        full_gate == 0, 1, np.where(full_gate == 1, gated_in, gated_in - np.clip(req, 1, gated_in) + 1)
    )
    fail_at = np.where(gated_in > 0, fail_at, 0).astype(np.int64)
    counts = np.bincount(new_src, minlength=total)
    indptr = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    zeros = np.zeros(m)
    graph = DependencyGraph(
        ids=ids,
        category=category,
        customer=customer,
        buffer=np.concatenate((buffer, zeros)),
        recovery=np.concatenate((recovery, np.full(m, math.nan))),
        probability=np.concatenate((probability, zeros)),
        lump=np.concatenate((lump, zeros)),
        rate=np.concatenate((rate, zeros)),
        gate=full_gate,
        fail_at=fail_at,
        owner=np.concatenate((np.arange(n, dtype=np.int64), parents)),
        rollup=rollup,
        indptr=indptr,
        targets=new_dst.astype(np.int64),
        edge_source=new_src.astype(np.int64),
        edge_lead=new_lead,
        edge_probability=new_prob,
        edge_kind=new_kind.astype(np.int64),
        edge_name=new_name.astype(np.int64),
        names=names,
    )
    graph.cache["required"] = required
    return graph


# ---- sources -------------------------------------------------------------------------------------------


_Orientation = tuple[bool, int, Mapping[str, str] | None]  # forward, kind, renamed properties


def _orientation(declaration: CascadeDeclaration | None) -> _Orientation | None:
    if declaration is None:
        return None
    names = (declaration.lead_time, declaration.probability)
    return (
        declaration.direction == "forward",
        KINDS.index(declaration.kind),
        None if names == EDGE_ROLES else dict(zip(EDGE_ROLES, names, strict=True)),
    )


def _roles(props: Mapping[str, Any], renamed: Mapping[str, str] | None) -> Mapping[str, Any]:
    """``props`` by the library's property names (``renamed``: role -> the model's own name, if any)."""
    if renamed is None:
        return props
    return {role: props.get(name) for role, name in renamed.items()}


def from_records(
    records: Iterable[Twin | Relationship], models: ModelSet, semantics: Semantics | None = None
) -> DependencyGraph:
    """The dependency graph of twins and relationships (twins first, as ``Store.snapshot()`` gives them).

    ``semantics`` defaults to the model library's alone.
    """
    semantics = semantics or library_semantics()
    builder = _Builder()
    nodes: dict[str, tuple[int, Mapping[str, str] | None]] = {}
    model_of: dict[int, str] = {}
    declared: dict[tuple[str, str], _Orientation | None] = {}
    for record in records:
        if isinstance(record, Twin):
            node = nodes.get(record.model)
            if node is None:
                found = semantics.node(models, record.model)
                node = nodes[record.model] = (found.category, found.properties)
            category, renamed = node
            model_of[len(builder.ids)] = record.model
            builder.twin(record.id, category, _roles(record.properties, renamed))
            continue
        source = builder.index.get(record.source)
        if source is None:
            continue
        key = (model_of[source], record.name)
        if key not in declared:
            declared[key] = _orientation(semantics.relationship(models, *key))
        how = declared[key]
        if how is None:
            continue
        forward, kind, renamed = how
        u, v = (record.source, record.target) if forward else (record.target, record.source)
        builder.edge(u, v, kind, record.name, _roles(record.properties, renamed))
    return builder.finish()


def snapshot(
    store: Store, models: ModelSet | None = None, semantics: Semantics | None = None
) -> DependencyGraph:
    """The dependency graph of everything in ``store``, read in one streaming pass.

    ``models`` defaults to the store's own model documents (falling back to the library when it has none);
    ``semantics`` to the library's (give a cascade configuration's for models of your own, see
    :func:`dtgraph.cascade.semantics.load_config`).
    """
    return from_records(store.snapshot(), store_models(store) if models is None else models, semantics)


def store_models(store: Store) -> ModelSet:
    """The models of ``store``, parsed; the model library when it has none."""
    documents = store.model_documents()
    return parse(documents) if documents else library_model_set()


def from_networkx(graph: nx.DiGraph[Any]) -> DependencyGraph:
    """A dependency graph from a twin-level networkx graph whose edges already point the way failure goes.

    Node attributes: ``buffer``, ``recovery``, ``probability``, ``value`` (lost once), ``rate`` (lost per
    hour), ``gate`` ("all", "any", "kOfN"), ``required``, ``category`` (a name of CATEGORIES), ``customer``.
    Edge attributes: ``lead``, ``probability``, ``kind`` (material, utility, supply, hierarchy), ``name``.
    Missing ones take the defaults of the model library (0, all, supply). Node ids become strings.
    """
    builder = _Builder()
    for node, data in graph.nodes(data=True):
        category = data.get("category", "Other")
        props = {
            "bufferHours": data.get("buffer", 0.0),
            "recoveryHours": data.get("recovery"),
            "failureProbability": data.get("probability", 0.0),
            "orderValue": data.get("value", 0.0),
            "revenuePerHour": data.get("rate", 0.0),
            "inputGate": data.get("gate", "all"),
            "requiredInputs": data.get("required"),
            "customer": data.get("customer"),
        }
        builder.twin(str(node), CATEGORIES.index(category) if category in CATEGORIES else _OTHER, props)
    for u, v, data in graph.edges(data=True):
        props = {"leadTimeHours": data.get("lead", 0.0), "failureProbability": data.get("probability", 0.0)}
        builder.edge(str(u), str(v), KINDS.index(data.get("kind", "supply")), data.get("name", ""), props)
    return builder.finish()
