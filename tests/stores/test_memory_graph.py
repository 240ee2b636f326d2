"""The memory store writes networkx's dicts directly on its bulk paths: the graph must be the one that
networkx's own ``add_node`` and ``add_edge`` would build."""

from __future__ import annotations

import networkx as nx
from hypothesis import given
from hypothesis import strategies as st

from dtgraph.graph.records import RelationshipKey
from dtgraph.stores._packed import EMPTY, PackedRelationship, PackedTwin
from dtgraph.stores.memory import add_edges, add_nodes

_IDS = st.sampled_from(["a", "b", "c", "d"])
_EDGES = st.lists(st.tuples(st.sampled_from(["r", "s", "t"]), _IDS, _IDS), max_size=12)


def _reference(twins: list[PackedTwin], rels: list[PackedRelationship]) -> nx.MultiDiGraph[str]:
    graph: nx.MultiDiGraph[str] = nx.MultiDiGraph()
    for twin in twins:
        graph.add_node(twin.id, twin=twin)
    for rel in rels:
        graph.add_edge(rel.source, rel.target, key=rel.id)
    return graph


@given(ids=st.lists(_IDS, unique=True, min_size=1), edges=_EDGES, split=st.integers(0, 12))
def test_bulk_writes_build_the_graph_networkx_builds(
    ids: list[str], edges: list[tuple[str, str, str]], split: int
) -> None:
    twins = [PackedTwin(i, "dtmi:x;1", EMPTY) for i in ids]
    rels = list(
        {
            (s, r): PackedRelationship(r, s, t, "n", EMPTY) for r, s, t in edges if s in ids and t in ids
        }.values()
    )
    graph: nx.MultiDiGraph[str] = nx.MultiDiGraph()
    index: dict[RelationshipKey, PackedRelationship] = {}
    ids: dict[str, str] = {}
    add_nodes(graph, twins, ids)
    assert ids == {t.id: t.id for t in twins}
    add_edges(graph, rels[:split], index)  # in two parts: edges between twins with edges already
    add_edges(graph, rels[split:], index)
    expected = _reference(twins, rels)
    assert nx.utils.graphs_equal(graph, expected)
    assert list(graph.edges(keys=True, data=True)) == list(expected.edges(keys=True, data=True))
    assert list(graph.in_edges(keys=True)) == list(expected.in_edges(keys=True))
    assert index == {(r.source, r.id): r for r in rels}
    for rel in rels:  # networkx's own removal undoes the bulk write
        graph.remove_edge(rel.source, rel.target, key=rel.id)
    assert graph.number_of_edges() == 0
    assert all(not graph.succ[i] and not graph.pred[i] for i in ids)


def test_an_edge_to_a_missing_twin_writes_nothing() -> None:
    graph: nx.MultiDiGraph[str] = nx.MultiDiGraph()
    add_nodes(graph, [PackedTwin("a", "dtmi:x;1", EMPTY)], {})
    index: dict[RelationshipKey, PackedRelationship] = {}
    for source, target in (("a", "b"), ("b", "a")):
        try:
            add_edges(graph, [PackedRelationship("r", source, target, "n", EMPTY)], index)
        except KeyError:
            pass
        else:
            raise AssertionError("an edge to a missing twin was added")
    assert nx.utils.graphs_equal(graph, _reference([PackedTwin("a", "dtmi:x;1", EMPTY)], []))
    assert not index
