"""User-declared failure semantics: a model of one's own, its cascade configuration, and its errors."""

from __future__ import annotations

import math

import networkx as nx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dtgraph.cascade import cascade, criticality, from_networkx, from_records, snapshot
from dtgraph.cascade.semantics import (
    CODES,
    CascadeConfigError,
    library_semantics,
    load_config,
    read_config,
)
from dtgraph.dtdl import parse
from dtgraph.graph.records import Relationship, Twin
from dtgraph.library import library_documents
from tests.cascade.test_snapshot import same
from tests.cascade.usermodel import (
    CONTRACT,
    DOCUMENTS,
    FEEDER_FAILS,
    RELATIONSHIPS,
    SKU,
    STATION,
    TWINS,
    loaded_store,
    write_config,
)
from tests.conftest import REPO_ROOT

MODELS = parse(DOCUMENTS)


def records():
    return [Twin.from_json(t) for t in TWINS] + [Relationship.from_json(r) for r in RELATIONSHIPS]


@pytest.fixture
def semantics(tmp_path):
    return load_config(write_config(tmp_path), MODELS)


@pytest.fixture(params=["memory", "neo4j"])
def acme_store(request, tmp_path):
    with loaded_store(request, tmp_path) as store:
        yield store


def down(result):
    return {i.twin: i.time for i in result.impacts if i.state != "degraded"}


def test_a_chain_with_transit_and_buffer_on_every_store(acme_store, tmp_path):
    semantics = load_config(write_config(tmp_path), MODELS)
    graph = snapshot(acme_store, semantics=semantics)
    expected = from_records(records(), MODELS, semantics)
    assert same(graph, expected)
    result = cascade(graph, ["feeder"], horizon=24.0)
    assert down(result) == FEEDER_FAILS
    contract = result.impact("contract")
    assert [(s.twin, s.via) for s in contract.chain] == [
        ("feeder", ""),
        ("s1", "poweredBy"),
        ("s2", "fedBy"),
        ("s3", "fedBy"),
        ("sku", "madeAt"),
        ("contract", "covers"),
    ]
    assert {i.twin: i.category for i in result.impacts}["s2"] == "Machine"  # FastStation extends Station
    assert result.impact("sku").category == "Product" and contract.category == "CustomerOrder"
    assert result.order_value == 1000.0 and result.customers == {"Globex": 1000.0}
    assert result.impact("cell").category == "Line" and result.impact("cell").chain[-1].via == "roll-up"
    assert cascade(graph, ["s1"], horizon=1.0).impact("cell").state == "degraded"
    cell = cascade(graph, ["cell"], horizon=24.0)  # a failed parent takes its stations down at once
    assert down(cell) == {"cell": 0.0, "s1": 0.0, "s2": 0.0, "s3": 0.0, "sku": 0.0, "contract": 0.0}
    assert cell.impact("s2").chain[-1].via == "inCell"
    assert result.revenue == pytest.approx(10.0 * (24.0 - 8.0))
    # the same answers from Neo4j and memory, criticality included
    ranking = criticality(graph, horizon=24.0)
    assert ranking.ranking[0].value_at_risk == 1000.0 + 10.0 * 24  # the cell, s3, sku: all at hour 0
    assert ranking.to_json(top=20) == criticality(expected, horizon=24.0).to_json(top=20)


def test_gates_any_and_k_of_n(semantics):
    graph = from_records(records(), MODELS, semantics)
    assert down(cascade(graph, ["a"], horizon=10.0)) == {"a": 0.0}  # c any-of-2, d 2-of-3
    assert down(cascade(graph, ["a", "e"], horizon=10.0)) == {"a": 0.0, "e": 0.0, "d": 0.0}
    assert down(cascade(graph, ["a", "b"], horizon=10.0)) == {"a": 0.0, "b": 0.0, "c": 0.0, "d": 0.0}


def test_attributes_come_from_the_mapped_properties(semantics):
    graph = from_records(records(), MODELS, semantics)
    s1, s2, s3 = graph.index("s1"), graph.index("s2"), graph.index("s3")
    assert graph.recovery[s1] == 4.0 and graph.probability[s1] == 0.1 and graph.buffer[s3] == 5.0
    assert math.isnan(graph.recovery[s2]) and graph.buffer[graph.index("decoy")] == 0.0
    edge = next(e for e in range(graph.indptr[s1], graph.indptr[s1 + 1]) if graph.targets[e] == s2)
    assert graph.edge_lead[edge] == 2.0 and graph.edge_probability[edge] == 0.25
    assert graph.lump[graph.index("contract")] == 1000.0 and graph.rate[graph.index("sku")] == 10.0
    # an undeclared relationship carries nothing (roll-up edges have no name)
    assert sum(1 for e in range(graph.n_edges) if graph.names[graph.edge_name[e]]) == len(RELATIONSHIPS) - 1


def test_without_a_configuration_nothing_carries_failure():
    graph = from_records(records(), MODELS)
    assert down(cascade(graph, ["feeder"], horizon=24.0)) == {"feeder": 0.0}
    assert set(graph.category.tolist()) == {13}  # every twin "Other"


def test_the_library_semantics_are_unchanged():
    models = parse([text for _, text in library_documents()])
    decl = library_semantics().relationship(models, "dtmi:dtgraph:PowerSupply;1", "dependsOn")
    assert decl is not None and (decl.interface, decl.direction, decl.kind) == (
        "dtmi:dtgraph:Asset;1",
        "reverse",
        "utility",
    )
    node = library_semantics().node(models, "dtmi:dtgraph:PowerSupply;1")
    assert node.properties is None  # the library's own names


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    values=st.lists(
        st.tuples(
            st.floats(0, 50),
            st.floats(0, 50) | st.none(),
            st.floats(0, 1),
            st.sampled_from(["all", "any", "kOfN"]),
            st.integers(1, 3),
        ),
        min_size=2,
        max_size=8,
    ),
    links=st.lists(st.tuples(st.integers(0, 7), st.integers(0, 7), st.floats(0, 10), st.floats(0, 1))),
)
def test_mapped_properties_give_what_a_plain_graph_gives(tmp_path, values, links):
    """Stations with the acme names, snapshotted through the configuration, against from_networkx."""
    semantics = load_config(write_config(tmp_path), MODELS)
    n = len(values)
    twins, rels = [], []
    g = nx.DiGraph()
    for i, (wip, mttr, p, gate, needs) in enumerate(values):
        props = {"wipHours": wip, "pFail": p, "redundancy": gate, "needs": needs}
        if mttr is not None:
            props["mttrHours"] = mttr
        twins.append(Twin(f"t{i}", STATION, props))
        attrs = {"buffer": wip, "probability": p, "gate": gate, "required": needs, "category": "Machine"}
        g.add_node(f"t{i}", **attrs, **({"recovery": mttr} if mttr is not None else {}))
    for k, (u, v, lead, risk) in enumerate(links):
        u, v = u % n, v % n
        if u == v or g.has_edge(f"t{u}", f"t{v}"):
            continue
        # t{v} is fed by t{u}: failure flows u -> v
        rels.append(
            Relationship(f"r{k}", f"t{v}", f"t{u}", "fedBy", {"transitHours": lead, "linkRisk": risk})
        )
        g.add_edge(f"t{u}", f"t{v}", lead=lead, probability=risk, kind="material", name="fedBy")
    assert same(from_records([*twins, *rels], MODELS, semantics), from_networkx(g))


# ---- errors ----------------------------------------------------------------------------------------------

ROBOT = "dtmi:acme:Robot;1"
WITH_LIBRARY = parse(
    [text for _, text in library_documents()]
    + DOCUMENTS
    + [
        {
            "@context": "dtmi:dtdl:context;3",
            "@id": ROBOT,
            "@type": "Interface",
            "extends": "dtmi:dtgraph:Machine;1",
            "contents": [{"@type": "Property", "name": "grip", "schema": "string"}],
        }
    ]
)

BAD = f"""\
colour = "red"

[[relationship]]
interface = "{STATION}"
name = "fedBy"
direction = "sideways"
kind = "gravity"

[[relationship]]
interface = "dtmi:acme:Nowhere;1"
name = "fedBy"
direction = "forward"
kind = "material"

[[relationship]]
interface = "{STATION}"
name = "pushes"
direction = "forward"
kind = "material"

[[relationship]]
interface = "{STATION}"
name = "poweredBy"
direction = "reverse"
kind = "utility"
leadTimeHours = "delay"

[[relationship]]
interface = "{ROBOT}"
name = "feeds"
direction = "reverse"
kind = "material"

[[relationship]]
interface = "{SKU}"
name = "madeAt"
direction = "reverse"
kind = "supply"

[[relationship]]
interface = "{SKU}"
name = "madeAt"
direction = "reverse"
kind = "supply"
colour = "blue"

[[relationship]]
interface = "{CONTRACT}"
direction = "reverse"

[[interface]]
id = "{STATION}"
category = "Gadget"
bufferHours = "label"
recoveryHours = 4

[[interface]]
id = "dtmi:dtgraph:Machine;1"
category = "Product"
bufferHours = "wipHours"
"""

EXPECTED = [  # (code, line) in the order they are found: the file's shape first, then the models
    ("unknownKey", 1),
    ("invalidDirection", 6),
    ("invalidKind", 7),
    ("unknownKey", 45),
    ("missingKey", 47),
    ("invalidValue", 55),
    ("invalidCategory", 53),
    ("unknownInterface", 10),
    ("unknownRelationship", 17),
    ("unknownProperty", 26),
    ("contradictsLibrary", 31),
    ("duplicateDeclaration", 40),
    ("wrongSchema", 54),
    ("contradictsLibrary", 60),
    ("contradictsLibrary", 59),
]


def test_every_error_at_once_with_code_and_line(tmp_path):
    path = write_config(tmp_path, BAD)
    with pytest.raises(CascadeConfigError) as caught:
        load_config(path, WITH_LIBRARY)
    found = [(i.code, i.line) for i in caught.value.issues]
    assert found == EXPECTED, "\n".join(map(str, caught.value.issues))
    assert all(i.path == str(path) for i in caught.value.issues)
    assert f"{path}:6: invalidDirection: [[relationship]] #1: direction 'sideways'" in str(caught.value)
    assert "it has: fedBy, inCell, locatedIn, poweredBy" in str(caught.value)


def test_file_errors(tmp_path):
    with pytest.raises(CascadeConfigError) as caught:
        read_config(tmp_path / "missing.toml")
    assert [i.code for i in caught.value.issues] == ["unreadableFile"]
    with pytest.raises(CascadeConfigError) as caught:
        read_config(write_config(tmp_path, "[[relationship]]\ninterface = \n"))
    assert [(i.code, i.line) for i in caught.value.issues] == [("invalidToml", 2)]
    with pytest.raises(CascadeConfigError) as caught:
        read_config(write_config(tmp_path, 'relationship = "x"\n'))
    assert [i.code for i in caught.value.issues] == ["invalidValue"]


def test_every_code_is_tested():
    seen = {code for code, _ in EXPECTED} | {"unreadableFile", "invalidToml", "invalidValue"}
    assert seen == set(CODES)


def test_read_then_check_against_models_later(tmp_path):
    config = read_config(write_config(tmp_path))  # the shape only: no models needed
    assert config.issues(MODELS) == []
    assert config.semantics(MODELS) is config.semantics(MODELS)  # checked once per model set
    library_only = parse([text for _, text in library_documents()])
    assert {i.code for i in config.issues(library_only)} == {"unknownInterface"}
    with pytest.raises(CascadeConfigError):
        config.semantics(library_only)


def test_the_library_file_is_a_valid_configuration(tmp_path):
    from dtgraph.library import library_path

    models = parse([text for _, text in library_documents()])
    semantics = load_config(library_path() / "cascade.toml", models)
    assert dict(semantics.relationships) == dict(library_semantics().relationships)


def test_declarations_for_a_library_subtype_may_repeat_the_library(tmp_path):
    text = (
        f'[[relationship]]\ninterface = "{ROBOT}"\nname = "feeds"\ndirection = "forward"\nkind = "material"\n'
    )
    semantics = load_config(write_config(tmp_path, text), WITH_LIBRARY)
    assert semantics.relationship(WITH_LIBRARY, ROBOT, "feeds").direction == "forward"


@pytest.mark.parametrize("readme", ["dtdl/README.md", "README.md"])
def test_the_documented_examples_fit_the_acme_models(tmp_path, readme):
    text = (REPO_ROOT / readme).read_text(encoding="utf-8")
    blocks = [b.split("```")[0] for b in text.split("```toml\n")[1:]]
    example = next(b for b in blocks if "dtmi:acme:Station;1" in b)
    semantics = load_config(write_config(tmp_path, example), MODELS)
    assert semantics.relationship(MODELS, STATION, "fedBy").lead_time == "transitHours"
