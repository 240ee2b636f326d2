"""Neo4j-specific behaviour of ``Neo4jStore`` (the shared contract is in ``test_contract.py``).

These tests use the session's real Neo4j (``neo4j_uri``/``neo4j_auth``); they fail, never skip, without it.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import json
import math
import re
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import neo4j
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dtgraph.graph.bulk as bulk
import dtgraph.stores._json_text as json_text
import dtgraph.stores.neo4j as neo4j_store
from dtgraph.graph.ndjson import write_items
from dtgraph.graph.records import Relationship, Twin
from dtgraph.stores.base import Batch, Filter, Store
from dtgraph.stores.errors import StoreError, StoreUnavailable
from dtgraph.stores.memory import MemoryStore
from dtgraph.stores.neo4j import Neo4jStore, model_label, relationship_type
from tests.stores.models import BATCHES as STORE_BATCHES
from tests.stores.models import LINE
from tests.stores.models import MODELS as STORE_MODELS

REPO = Path(__file__).resolve().parents[2]

ASSET = "dtmi:test:Asset;1"
MACHINE = "dtmi:test:Machine;1"
PUMP = "dtmi:test:Pump;1"
MODELS: list[dict[str, Any]] = [
    {"@context": "dtmi:dtdl:context;3", "@id": ASSET, "@type": "Interface", "contents": []},
    {"@context": "dtmi:dtdl:context;3", "@id": MACHINE, "@type": "Interface", "extends": ASSET},
    {"@context": "dtmi:dtdl:context;3", "@id": PUMP, "@type": "Interface", "extends": [MACHINE]},
]

HOSTILE = [
    "x`]->() DETACH DELETE n //",
    "a` DETACH DELETE n WITH 1 AS x MATCH (n) DETACH DELETE n //",
    "quote \" and ' and `` backticks",
    "new\nline\r\n} ) ] {",
    "dtmi:com:example:Thermostat;1`:Twin) DETACH DELETE t //",
    "",
    " ",
    "ünïcödé 😀 名前",
    "$param {x: 1}",
    "\\u0060 \\` end\\",
]


@pytest.fixture
def store(neo4j_uri: str, neo4j_auth: tuple[str, str] | None) -> Iterator[Neo4jStore]:
    made = Neo4jStore(neo4j_uri, auth=neo4j_auth, database="neo4j", batch_size=7)  # small: many chunks
    made.wipe()
    try:
        yield made
    finally:
        made.close()


def cypher(uri: str, auth: tuple[str, str] | None, query: str, **params: Any) -> list[dict[str, Any]]:
    with neo4j.GraphDatabase.driver(uri, auth=auth) as driver:
        records, _, _ = driver.execute_query(query, params, database_="neo4j")
    return [record.data() for record in records]


# --- labels and types ------------------------------------------------------------------------------


def test_model_labels_read_back_for_plain_dtmis() -> None:
    assert model_label("dtmi:com:example:Thermostat;1") == "M_com_example_Thermostat_1"
    assert model_label("dtmi:digitaltwins:rec_3_3:core:Space;12") == "M_digitaltwins_rec__3__3_core_Space_12"
    assert relationship_type("feeds") == "R_feeds"
    assert relationship_type("is_part_of") == "R_is_part_of"


def test_labels_are_safe_and_injective() -> None:
    dtmis = [
        "dtmi:a_b:c;1",
        "dtmi:a:b_c;1",
        "dtmi:a:b:c;1",
        "dtmi:a:b;11",
        "dtmi:a:b1;1",
        "dtmi:a:b;1.1",
        "dtmi:a:b;1_1",
        "dtmi:a__b:c;1",
        "dtmi:a:_b;1",
        *HOSTILE,
    ]
    names = ["feeds", "feeds_", "_feeds", "feeds_h", "a b", "a_b", *HOSTILE]
    for make, texts in ((model_label, dtmis), (relationship_type, names)):
        tokens = [make(text) for text in texts]
        assert len(set(tokens)) == len(texts), tokens
        for token in tokens:
            assert re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", token), token


def test_hostile_names_are_stored_verbatim_and_run_nothing(
    store: Neo4jStore, neo4j_uri: str, neo4j_auth: tuple[str, str] | None
) -> None:
    twins = [Twin(f"t{i}", dtmi or "dtmi:x:Empty;1", {"name": dtmi}) for i, dtmi in enumerate(HOSTILE)]
    models = [{"@id": t.model, "@type": "Interface", "extends": ASSET} for t in twins]
    bystander = Twin("bystander", ASSET, {})
    rels = [
        Relationship(f"r{i}`) DETACH DELETE n //", twins[i].id, twins[(i + 1) % len(twins)].id, name or "x")
        for i, name in enumerate(HOSTILE)
    ]
    store.apply(Batch(models=[*MODELS, *models], twins=[*twins, bystander], relationships=rels))

    assert store.counts() == {
        "models": len(MODELS) + len(models),
        "twins": len(twins) + 1,
        "relationships": len(rels),
    }
    assert store.get_twins([t.id for t in twins]) == {t.id: t for t in twins}
    assert store.get_relationships([r.key for r in rels]) == {r.key: r for r in rels}
    for twin, rel in zip(twins, rels, strict=True):
        assert store.query_twins(twin.model).twins == [twin]
        assert store.relationships([twin.id], name=rel.name) == {twin.id: [rel]}
    assert [t.id for t in store.query_twins(ASSET, limit=1000).twins] == sorted(
        ["bystander", *(t.id for t in twins)]
    )
    assert [d["@id"] for d in store.model_documents()] == [d["@id"] for d in [*MODELS, *models]]
    types = {
        row["type"]
        for row in cypher(neo4j_uri, neo4j_auth, "MATCH ()-[r]->() RETURN DISTINCT type(r) AS type")
    }
    assert all(re.fullmatch(r"R_[A-Za-z0-9_]+|EXTENDS", t) for t in types)

    store.apply(Batch(delete_relationships=[r.key for r in rels]))
    assert store.counts()["relationships"] == 0
    assert store.counts()["twins"] == len(twins) + 1


def test_twins_carry_the_labels_of_their_model_and_its_ancestors(
    store: Neo4jStore, neo4j_uri: str, neo4j_auth: tuple[str, str] | None
) -> None:
    store.apply(Batch(models=MODELS, twins=[Twin("p", PUMP, {}), Twin("a", ASSET, {})]))
    rows = cypher(neo4j_uri, neo4j_auth, "MATCH (t:Twin) RETURN t.id AS id, labels(t) AS labels")
    labels = {row["id"]: set(row["labels"]) for row in rows}
    assert labels["p"] == {"Twin", "M_test_Pump_1", "M_test_Machine_1", "M_test_Asset_1"}
    assert labels["a"] == {"Twin", "M_test_Asset_1"}
    extends = cypher(
        neo4j_uri, neo4j_auth, "MATCH (a:Model)-[:EXTENDS]->(b:Model) RETURN a.id AS a, b.id AS b"
    )
    assert sorted((e["a"], e["b"]) for e in extends) == [(MACHINE, ASSET), (PUMP, MACHINE)]


def test_twins_are_relabelled_when_their_ancestry_changes(store: Neo4jStore) -> None:
    pump = next(m for m in MODELS if m["@id"] == PUMP)
    store.apply(Batch(models=[pump], twins=[Twin("p", PUMP, {})]))
    assert store.query_twins(ASSET).twins == []  # the bases are not known yet

    store.apply(Batch(models=[m for m in MODELS if m["@id"] != PUMP]))
    assert [t.id for t in store.query_twins(ASSET).twins] == ["p"]
    assert [t.id for t in store.query_twins(MACHINE).twins] == ["p"]

    store.apply(Batch(delete_models=[MACHINE]))  # Pump no longer reaches Asset
    assert store.query_twins(ASSET).twins == []
    assert [t.id for t in store.query_twins(MACHINE).twins] == ["p"]  # Pump's document still says so
    assert [t.id for t in store.query_twins(PUMP).twins] == ["p"]

    standalone = {**pump, "extends": []}
    store.apply(Batch(models=[next(m for m in MODELS if m["@id"] == MACHINE), standalone]))
    assert store.query_twins(MACHINE).twins == []
    store.apply(Batch(twins=[Twin("p", MACHINE, {})]))  # a new model replaces the labels too
    assert [t.id for t in store.query_twins(ASSET).twins] == ["p"]
    assert store.query_twins(PUMP).twins == []


# --- values ----------------------------------------------------------------------------------------

NESTED: dict[str, Any] = {
    "nameplate": {"$metadata": {"lastUpdateTime": "2024-01-01T00:00:00Z"}, "year": 2020, "maker": "Ä & Ω"},
    "map": {"sensor-1": {"value": 1.5}, "sensor.2": [1, 2, 3], "": None},
    "objects": [{"a": 1}, {"b": [True, False, None]}, []],
    "unicode": "😀 名前 \u0301 \u200f RTL \x00 nul",
    "surrogate": "\ud800 lone",
    "int64": [2**63 - 1, -(2**63)],
    "bigint": 2**64 + 1,
    "floats": [0.1, 1e308, -0.0, 5e-324, 1.0, float("inf"), -float("inf")],
    "empty": {"text": "", "list": [], "object": {}},
    "dotted.key": 1,
    "true": True,
    "null": None,
}


def test_values_round_trip_exactly(store: Neo4jStore) -> None:
    twin = Twin("nested", MACHINE, NESTED)
    rel = Relationship("r", "nested", "nested", "feeds", {"rate": NESTED["floats"], "meta": NESTED["map"]})
    store.apply(Batch(twins=[twin], relationships=[rel]))
    (got,) = store.get_twins(["nested"]).values()
    assert json_identical(got.properties, NESTED)
    assert json_identical(store.get_relationships([rel.key])[rel.key].properties, rel.properties)
    snapshot = list(store.snapshot())
    assert [type(x).__name__ for x in snapshot] == ["Twin", "Relationship"]
    assert json_identical(snapshot[0].properties, NESTED)
    assert store.relationships(["nested"], direction="both") == {"nested": [rel]}  # a loop, listed once


def test_the_ends_of_a_traversal_read_as_twins_read_by_id(store: Neo4jStore) -> None:
    """Their properties, and the relationships', are decoded when first read (:class:`json_text.Stored`):
    exactly, equal either way round to those of the same twin read by id, and written back as they
    were."""
    twin = Twin("nested", MACHINE, NESTED)
    other = Twin("other", MACHINE, {"n": 2**64, "s": "\ud800"})
    rels = [
        Relationship("r", "nested", "other", "feeds", {"rate": NESTED["floats"], "big": 2**65}),
        Relationship("q", "other", "nested", "feeds"),
    ]
    store.apply(Batch(twins=[twin, other], relationships=rels))
    found, levels = store.twins_along(["nested"], [("feeds", "out"), ("feeds", "out")])
    ((_, end),) = levels[0]["nested"]
    ((_, back),) = levels[1]["other"]
    by_id = store.get_twins(["nested", "other"])
    assert type(end.properties) is json_text.Stored
    assert [rel for rel, _ in levels[0]["nested"]] == [rels[0]] and [
        rel for rel, _ in levels[1]["other"]
    ] == [rels[1]]
    assert rels[0] == levels[0]["nested"][0][0] and json_identical(
        levels[0]["nested"][0][0].properties, rels[0].properties
    )
    assert end == by_id["other"] and by_id["other"] == end and end == other
    assert back == twin and found["nested"] == by_id["nested"] and twin == back
    assert json_identical(dict(back.properties), NESTED) and json_identical(back.properties, NESTED)
    assert end.properties["n"] == 2**64 and type(end.properties["n"]) is int
    assert json.loads(json_text.dumps(dict(end.properties), "a twin")) == other.properties
    store.apply(Batch(twins=[Twin("copy", MACHINE, back.properties)]))
    assert json_identical(store.get_twins(["copy"])["copy"].properties, NESTED)
    assert back.to_json() == twin.to_json()


def json_identical(a: Any, b: Any) -> bool:
    """Equal with types kept apart (1 vs 1.0 vs True) and -0.0 vs 0.0 told apart."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(json_identical(a[k], b[k]) for k in a)
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(json_identical(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return math.copysign(1, a) == math.copysign(1, b) and (a == b or (math.isnan(a) and math.isnan(b)))
    return bool(a == b)


# --- filters agree with Filter.matches -------------------------------------------------------------

VALUES: list[Any] = [
    True,
    False,
    0,
    1,
    2,
    -1,
    1.0,
    0.0,
    2.5,
    2**53,
    2**53 + 1,
    float(2**53),
    2**63 - 1,
    2**64,
    "",
    "a",
    "b",
    "\uffff",
    "😀",
    None,
    [1],
    [1, 2],
    {"x": 1},
    {"$metadata": {}, "x": 1},
]


def value_twins() -> list[Twin]:
    twins = [Twin("none", ASSET, {})]
    for i, value in enumerate(VALUES):
        twins.append(
            Twin(f"v{i:02d}", ASSET, {"v": value, "c": {"$metadata": {}, "v": value}, "o": {"v": value}})
        )
    return twins


def test_filters_agree_with_the_reference_semantics(store: Neo4jStore) -> None:
    twins = value_twins()
    store.apply(Batch(models=MODELS, twins=twins))
    operands: list[Any] = [*VALUES, 1.5, 2**53 - 1, float(2**53 + 2), "aa", (1,)]
    cases = [
        *(
            Filter(path, op, operand)
            for path, op, operand in itertools.product(
                ["v", "c.v", "o.v"], ["eq", "ne", "lt", "le", "gt", "ge"], operands
            )
        ),
        *(
            Filter(path, "exists", flag)
            for path in ["v", "c.v", "o.v", "c.v.x", "o.v.x", "zz"]
            for flag in (True, False)
        ),
        Filter("v", "in", [True, "a", None, [1]]),
        Filter("v", "in", [2**64, 2.5]),
        Filter("c.v", "in", ({"x": 1}, 0)),
        Filter("o.v", "in", [2]),
        Filter("c.v.x", "eq", 1),
        Filter("o.v.x", "eq", 1),
        Filter("v.x", "eq", 1),
    ]
    mismatches = []
    for condition in cases:
        expected = [t.id for t in twins if condition.matches(t.properties)]
        got = [t.id for t in store.query_twins(ASSET, where=[condition], limit=1000).twins]
        if got != expected:
            mismatches.append((condition, got, expected))
    assert mismatches == []


def test_paging_continues_past_candidates_the_filter_rejects(store: Neo4jStore) -> None:
    # Cypher pre-selects every boolean for a numeric range; Python keeps only those in range
    twins = [Twin(f"t{i:03d}", ASSET, {"v": [True, False, 5][i % 3]}) for i in range(60)]
    store.apply(Batch(models=MODELS, twins=twins))
    condition = Filter("v", "gt", 2)
    expected = [t.id for t in twins if condition.matches(t.properties)]
    got: list[str] = []
    cursor = None
    while True:
        page = store.query_twins(ASSET, where=[condition], limit=3, after=cursor)
        got += [t.id for t in page.twins]
        if page.cursor is None:
            break
        cursor = page.cursor
    assert got == expected


# --- transactions and errors -----------------------------------------------------------------------


def test_a_failing_batch_writes_nothing(store: Neo4jStore) -> None:
    store.apply(Batch(models=MODELS, twins=[Twin("a", ASSET, {"name": "old"})]))
    before = store.counts()
    failing = Batch(
        models=[{**MODELS[0], "comment": "changed"}],
        twins=[Twin("a", ASSET, {"name": "new"}), *(Twin(f"n{i}", ASSET, {}) for i in range(20))],
        relationships=[Relationship("r", "a", "missing", "feeds")],
        delete_twins=["zz"],
    )
    with pytest.raises(StoreError, match="needs twin 'missing'"):
        store.apply(failing)
    assert store.counts() == before
    assert store.get_twin("a") == Twin("a", ASSET, {"name": "old"})
    assert "comment" not in store.model_documents()[0]


def test_server_errors_become_store_errors(store: Neo4jStore) -> None:
    store.apply(Batch(twins=[Twin("a", ASSET, {})]))
    with pytest.raises(StoreError) as caught:  # a twin id beyond the index key size limit
        store.apply(Batch(twins=[Twin("x" * 40_000, ASSET, {}), Twin("b", ASSET, {})]))
    assert not isinstance(caught.value, StoreUnavailable)
    assert isinstance(caught.value.__cause__, neo4j.exceptions.Neo4jError)
    assert set(store.get_twins(["a", "b"])) == {"a"}


_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False),
    st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from(["\ud800", "é", "."])),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
)
_NAMES = st.text(max_size=6) | st.sampled_from(["a.b", "\ud800x", "name"])


@given(
    properties=st.dictionaries(
        _NAMES,
        _VALUES | st.fixed_dictionaries({"$metadata": st.just({})}, optional={"m": _VALUES, "n.o": _VALUES}),
        max_size=6,
    )
)
def test_a_twins_node_row_copies_the_values_index_copies(properties: dict[str, Any]) -> None:
    # the row's fast path for common scalars against the plain rule, _index for every property
    expected: dict[str, Any] = {}
    for name, value in properties.items():
        if "." in name or not json_text.encodable(name):
            continue
        if neo4j_store._index(expected, name, value) == "component":
            for member, inner in value.items():
                if "." not in member and json_text.encodable(member):
                    neo4j_store._index(expected, f"{name}.{member}", inner, inner=True)
    row = neo4j_store._twin_row(Twin("t", ASSET, properties))
    assert {k: v for k, v in row.items() if k not in ("id", "model", "json")} == expected
    assert row["id"] == "t" and row["model"] == ASSET


def test_bulk_parameters_travel_as_lists_with_a_short_repr(
    neo4j_uri: str, neo4j_auth: tuple[str, str] | None, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [[i, f"id-{i}", {"k": [1.5, None, True]}] for i in range(2_000)]
    bulk_rows = neo4j_store._Rows(rows)
    assert repr(bulk_rows) == "<2000 rows>"
    # the driver's debug message names the rows by their count instead of spelling them out
    with caplog.at_level("DEBUG", logger="neo4j"):
        sent = cypher(neo4j_uri, neo4j_auth, "UNWIND $rows AS r RETURN collect(r) AS rows", rows=bulk_rows)
    assert sent == [{"rows": rows}]
    runs = [r.getMessage() for r in caplog.records if "C: RUN" in r.getMessage()]
    assert runs and all(len(message) < 1_000 for message in runs)
    assert any("<2000 rows>" in message for message in runs)


def test_an_unreachable_server_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(StoreUnavailable, match=f"127.0.0.1:{port}") as caught:
        Neo4jStore(f"bolt://127.0.0.1:{port}", auth=("neo4j", "x"))
    assert isinstance(caught.value.__cause__, neo4j.exceptions.ServiceUnavailable)


def test_wrong_credentials_are_unavailable(neo4j_uri: str, neo4j_auth: tuple[str, str] | None) -> None:
    if neo4j_auth is None:
        pytest.fail("this test needs a Neo4j with authentication (scripts/neo4j start without --no-auth)")
    with pytest.raises(StoreUnavailable) as caught:
        Neo4jStore(neo4j_uri, auth=(neo4j_auth[0], neo4j_auth[1] + "-wrong"))
    assert isinstance(caught.value.__cause__, neo4j.exceptions.AuthError)


def test_an_abandoned_snapshot_leaves_the_store_usable(store: Neo4jStore) -> None:
    store.apply(Batch(twins=[Twin(f"t{i}", ASSET, {}) for i in range(50)]))
    stream = store.snapshot()
    assert isinstance(next(stream), Twin)
    stream.close()
    store.apply(Batch(twins=[Twin("after", ASSET, {})]))
    assert store.counts()["twins"] == 51


def test_paging_follows_code_point_order(store: Neo4jStore) -> None:
    # Cypher compares strings by UTF-16 units but orders them by code points: the cursor must not care
    ids = ["a", "a\uffff", "a😀", "a😀b", "a\ue000", "\uffff", "😀", "b", "a\uffffz", "ab", "😀\uffff", "z"]
    store.apply(Batch(twins=[Twin(i, ASSET, {"v": i}) for i in ids]))
    for limit in (1, 2, 5):
        got: list[str] = []
        cursor = None
        while True:
            page = store.query_twins(limit=limit, after=cursor)
            got += [t.id for t in page.twins]
            if page.cursor is None:
                break
            cursor = page.cursor
        assert got == sorted(ids)
    for op in ("lt", "le", "gt", "ge"):
        for value in ids:
            condition = Filter("v", op, value)  # type: ignore[arg-type]
            expected = sorted(i for i in ids if condition.matches({"v": i}))
            assert [t.id for t in store.query_twins(where=[condition]).twins] == expected, condition


# --- imports: staged, then published -------------------------------------------------------------


def base_graph() -> list[Batch]:
    return STORE_BATCHES[:3]  # models; twins a, m, p; relationships a-r1->m, m-r2->p


def import_stream() -> list[Batch]:
    """Every kind of change a stream may carry over ``base_graph``, each batch seeing the ones before."""
    asset = {**STORE_MODELS[0], "description": "changed"}
    line = next(m for m in STORE_MODELS if m["@id"] == LINE)
    return [
        Batch(models=[asset, {**line, "description": "a line"}]),
        Batch(
            twins=[Twin(f"n{i}", ASSET, {"name": f"new {i}"}) for i in range(1, 6)]
            + [Twin("a", MACHINE, {"temperature": 1.5}), Twin("p", PUMP, {"flow": 2.0})]
        ),
        Batch(
            relationships=[
                Relationship("f1", "n1", "a", "feeds"),
                Relationship("r1", "a", "n2", "feeds", {"rate": 3.0}),  # replaces a-r1->m
                Relationship("part", "m", "n3", "partOf"),
                Relationship("f2", "n1", "n2", "feeds", {"rate": 0.5}),
            ]
        ),
        Batch(delete_twins=["m", "n5"], delete_relationships=[("n1", "f2"), ("n1", "nothing")]),
        Batch(
            twins=[Twin("m", PUMP, {"flow": 9.0}), Twin("n4", ASSET, {"name": "again"})],
            relationships=[Relationship("back", "m", "a", "partOf"), Relationship("f2", "n1", "n4", "feeds")],
        ),
    ]


def reads(store: Store) -> tuple[Any, ...]:
    """What every read of the store returns about the twins the tests use."""
    ids = ["a", "m", "p", "x", *(f"n{i}" for i in range(1, 6))]
    keys = [(s, r) for s in ids for r in ("r1", "r2", "f1", "f2", "part", "back")]
    snapshot = list(store.snapshot())
    return (
        store.model_documents(),
        store.get_twins(ids),
        store.get_relationships(keys),
        *(store.relationships(ids, direction=d) for d in ("out", "in", "both")),
        store.relationships(ids, name="partOf", direction="both"),
        store.query_twins(),
        store.query_twins(ASSET),
        store.query_twins(MACHINE, include_subtypes=False),
        store.query_twins(where=[Filter("name", "exists")]),
        sorted(
            (t.id, t.model, json.dumps(t.properties, sort_keys=True, default=dict))
            for t in snapshot
            if isinstance(t, Twin)
        ),
        sorted(
            (r.source, r.id, r.target, r.name, json.dumps(r.properties, sort_keys=True, default=dict))
            for r in snapshot
            if isinstance(r, Relationship)
        ),
        store.counts(),
    )


def leftovers(uri: str, auth: tuple[str, str] | None) -> dict[str, int]:
    """What an import may leave behind; all zero once it is published or rolled back."""
    (found,) = cypher(
        uri,
        auth,
        "CALL { MATCH (s:Staged) RETURN count(s) AS staged } "
        "CALL { MATCH (i:Import) RETURN count(i) AS imports } "
        "CALL { MATCH (n) WHERE n._touch IS NOT NULL OR n._drop IS NOT NULL OR n._stage IS NOT NULL "
        "RETURN count(n) AS marked_nodes } "
        "CALL { MATCH ()-[r]->() WHERE r._stage IS NOT NULL OR r._drop IS NOT NULL "
        "RETURN count(r) AS marked_relationships } "
        "RETURN staged, imports, marked_nodes, marked_relationships",
    )
    return found


NOTHING_LEFT = {"staged": 0, "imports": 0, "marked_nodes": 0, "marked_relationships": 0}


def expected_after(batches: list[Batch]) -> tuple[Any, ...]:
    memory = MemoryStore()
    for batch in base_graph():
        memory.apply(batch)
    memory.apply_stream(iter(batches))
    return reads(memory)


@pytest.fixture(params=["atomic", "batched"])
def publication(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "batched":
        monkeypatch.setattr(neo4j_store, "ATOMIC_PUBLISH", 0)  # every import in bounded transactions
    return str(request.param)


def test_a_stream_gives_the_graph_the_memory_store_gives(
    store: Neo4jStore, publication: str, neo4j_uri: str, neo4j_auth: tuple[str, str] | None
) -> None:
    for batch in base_graph():
        store.apply(batch)
    stream = import_stream()
    assert store.apply_stream(iter(stream)) == sum(b.size for b in stream)
    assert reads(store) == expected_after(stream)
    assert leftovers(neo4j_uri, neo4j_auth) == NOTHING_LEFT
    labels = cypher(neo4j_uri, neo4j_auth, "MATCH (t:Twin {id: 'a'}) RETURN labels(t) AS labels")
    assert set(labels[0]["labels"]) == {"Twin", model_label(MACHINE), model_label(ASSET)}


def test_an_import_holds_no_old_statements_and_leaves_the_collector_running(store: Neo4jStore) -> None:
    """The collector pauses for an import, but the statements of its old batches (which the driver
    keeps, parameters and all, in reference cycles) are freed as it goes, not all at its end."""
    gc.collect()
    held: list[int] = []

    def batches() -> Iterator[Batch]:
        yield Batch(models=MODELS)
        for c in range(12):
            assert not gc.isenabled()
            held.append(sum(1 for o in gc.get_objects() if isinstance(o, neo4j.Result)))
            yield Batch(twins=[Twin(f"t{c}-{i}", ASSET, {"name": "x"}) for i in range(20)])

    assert store.apply_stream(batches()) == len(MODELS) + 12 * 20
    assert gc.isenabled()
    assert held[-1] <= held[3] + 1, held  # bounded: the results of about two batches at most


def test_a_stream_replaces_what_it_staged_itself(
    store: Neo4jStore, publication: str, neo4j_uri: str, neo4j_auth: tuple[str, str] | None
) -> None:
    """Twins and relationships an import adds, then changes in later batches: a twin staged again
    under another model keeps the relationships staged for it, and a relationship key staged again
    replaces the first one, without a delete in between."""
    for batch in base_graph():
        store.apply(batch)
    stream = [
        Batch(twins=[Twin(f"n{i}", ASSET, {"name": f"new {i}"}) for i in range(1, 5)]),
        Batch(
            relationships=[
                Relationship("f", "n1", "n2", "feeds"),
                Relationship("g", "n2", "n3", "feeds", {"rate": 1.0}),
                Relationship("h", "n3", "a", "feeds"),  # to a stored twin
            ]
        ),
        Batch(twins=[Twin("n1", MACHINE, {"temperature": 2.0}), Twin("n2", ASSET, {"name": "again"})]),
        Batch(relationships=[Relationship("f", "n1", "n3", "feeds"), Relationship("g", "n2", "n4", "feeds")]),
        Batch(twins=[Twin("n3", PUMP, {"flow": 1.0})], delete_relationships=[("n2", "g")]),
    ]
    assert store.apply_stream(iter(stream)) == sum(b.size for b in stream)
    assert reads(store) == expected_after(stream)
    assert leftovers(neo4j_uri, neo4j_auth) == NOTHING_LEFT
    labels = {
        r["id"]: set(r["labels"])
        for r in cypher(neo4j_uri, neo4j_auth, "MATCH (t:Twin) RETURN t.id AS id, labels(t) AS labels")
    }
    assert labels["n1"] == {"Twin", model_label(MACHINE), model_label(ASSET)}
    assert labels["n3"] == {"Twin", model_label(PUMP), model_label(MACHINE), model_label(ASSET)}
    assert labels["n4"] == {"Twin", model_label(ASSET)}


def test_a_staged_import_is_invisible_to_every_read(store: Neo4jStore, publication: str) -> None:
    for batch in base_graph():
        store.apply(batch)
    before = reads(store)
    checked = 0

    def watched() -> Iterator[Batch]:
        nonlocal checked
        for batch in import_stream():
            yield batch
            assert reads(store) == before  # the batch just yielded is staged by now
            checked += 1

    store.apply_stream(watched())
    assert checked == len(import_stream())
    assert reads(store) == expected_after(import_stream())


_IDS = ["a", "m", "p", "n1", "n2", "n3"]  # stored by base_graph, then new ones
_streams = st.lists(
    st.builds(
        lambda twins, deleted, rels, unlinked: Batch(
            twins=[Twin(i, model, {"name": f"{i} as {model}"}) for i, model in twins.items()],
            delete_twins=deleted,
            relationships=[
                Relationship(r, s, t, "feeds", {"rate": 1.0} if r == "r1" else {}) for r, s, t in rels
            ],
            delete_relationships=unlinked,
        ),
        st.dictionaries(st.sampled_from(_IDS), st.sampled_from([ASSET, MACHINE, PUMP]), max_size=4),
        st.lists(st.sampled_from(_IDS), max_size=1),
        st.lists(
            st.tuples(st.sampled_from(["r1", "r2", "f"]), st.sampled_from(_IDS), st.sampled_from(_IDS)),
            max_size=6,
            unique_by=lambda r: r[:2],
        ),
        st.lists(
            st.tuples(st.sampled_from(_IDS), st.sampled_from(["r1", "r2", "f"])), max_size=2, unique=True
        ),
    ),
    min_size=1,
    max_size=5,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream=_streams)
def test_any_stream_gives_what_the_memory_store_gives(
    store: Neo4jStore, neo4j_uri: str, neo4j_auth: tuple[str, str] | None, stream: list[Batch]
) -> None:
    """Twins staged, deleted, staged again under other models, relationships between new and stored
    twins keyed again across batches (new ones are linked by the node ids staging noted)."""
    stream = [Batch(twins=[Twin(i, ASSET) for i in ("n1", "n2", "n3")]), *stream]
    store.wipe()
    memory = MemoryStore()
    for batch in base_graph():
        store.apply(batch)
        memory.apply(batch)
    before = reads(store)
    try:
        memory.apply_stream(iter(stream))
    except StoreError:
        with pytest.raises(StoreError, match="needs twin"):
            store.apply_stream(iter(stream))
        assert reads(store) == before
    else:
        store.apply_stream(iter(stream))
        assert reads(store) == reads(memory)
    assert leftovers(neo4j_uri, neo4j_auth) == NOTHING_LEFT


@pytest.mark.parametrize("sound", [True, False])
def test_an_import_file_is_read_once(
    store: Neo4jStore,
    sound: bool,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    neo4j_uri: str,
    neo4j_auth: tuple[str, str] | None,
) -> None:
    """Each chunk is checked, then staged while the next is checked; a problem found late (here on
    the last line) rolls back what was staged."""
    twins = [Twin(f"n{i}", ASSET) for i in range(30)]
    rels = [Relationship("r", f"n{i}", f"n{i + 1}", "feeds") for i in range(29)]
    rels += [] if sound else [Relationship("r", "n29", "nobody", "feeds")]
    path = tmp_path / "graph.ndjson"
    with path.open("w", encoding="utf-8") as out:
        write_items(out, STORE_MODELS, [*twins, *rels])
    passes = []
    read_items = bulk.read_items
    monkeypatch.setattr(bulk, "read_items", lambda *args: passes.append(args) or read_items(*args))
    report = bulk.import_graph(path, store, chunk=7)
    assert len(passes) == 1
    assert report.ok is sound and report.written is sound
    assert store.counts() == (
        {"models": len(STORE_MODELS), "twins": 30, "relationships": 29}
        if sound
        else {"models": 0, "twins": 0, "relationships": 0}
    )
    assert leftovers(neo4j_uri, neo4j_auth) == NOTHING_LEFT


@pytest.mark.parametrize("fault", ["source", "dangling"])
def test_a_failure_while_staging_leaves_nothing(
    store: Neo4jStore, fault: str, neo4j_uri: str, neo4j_auth: tuple[str, str] | None
) -> None:
    for batch in base_graph():
        store.apply(batch)
    before = reads(store)
    stream = import_stream()

    def failing() -> Iterator[Batch]:
        yield from stream[:3]
        if fault == "source":
            raise RuntimeError("the source failed")
        yield Batch(relationships=[Relationship("bad", "n1", "nobody", "feeds")])

    with pytest.raises(RuntimeError if fault == "source" else StoreError, match=r"source failed|nobody"):
        store.apply_stream(failing())
    assert reads(store) == before
    assert leftovers(neo4j_uri, neo4j_auth) == NOTHING_LEFT
    store.apply_stream(iter(stream))  # nothing blocks the next import
    assert reads(store) == expected_after(stream)


def test_a_twin_another_writer_creates_meanwhile_fails_the_import(
    store: Neo4jStore, neo4j_uri: str, neo4j_auth: tuple[str, str] | None
) -> None:
    for batch in base_graph():
        store.apply(batch)

    def racing() -> Iterator[Batch]:
        yield from import_stream()[:2]  # stages n1 as a new twin
        store.apply(Batch(twins=[Twin("n1", LINE)]))  # plain batches still run meanwhile

    with pytest.raises(StoreError, match=r"another writer created.*'n1'"):
        store.apply_stream(racing())
    assert store.get_twins(["n1", "n2"]) == {"n1": Twin("n1", LINE)}
    assert leftovers(neo4j_uri, neo4j_auth) == NOTHING_LEFT


def test_one_import_runs_at_a_time(
    store: Neo4jStore, neo4j_uri: str, neo4j_auth: tuple[str, str] | None
) -> None:
    def nested() -> Iterator[Batch]:
        yield Batch(twins=[Twin("one", ASSET)])
        with Neo4jStore(neo4j_uri, auth=neo4j_auth, database="neo4j") as other:
            other.apply_stream(iter([Batch(twins=[Twin("two", ASSET)])]))

    with pytest.raises(StoreError, match=r"another import .* one import runs at a time"):
        store.apply_stream(nested())
    assert store.get_twins(["one", "two"]) == {}
    assert leftovers(neo4j_uri, neo4j_auth) == NOTHING_LEFT


_IMPORT_CRASH = textwrap.dedent(
    """
    import os, sys
    import dtgraph.stores.neo4j as neo4j_store
    from tests.stores.test_neo4j import import_stream

    uri, user, password, when = sys.argv[1:]
    store = neo4j_store.Neo4jStore(uri, auth=(user, password) if user else None, database="neo4j")
    if when == "publishing":  # the commit point is passed, publication has not begun
        neo4j_store.ATOMIC_PUBLISH = 0
        neo4j_store.Neo4jStore._finish = lambda self, stage: os._exit(17)

    def dying():
        for number, batch in enumerate(import_stream(), start=1):
            if when == "staging" and number == 4:
                os._exit(17)
            yield batch

    store.apply_stream(dying())
    """
)


@pytest.mark.parametrize("when", ["staging", "publishing"])
def test_an_import_a_crash_interrupted_is_recovered_when_a_store_opens(
    store: Neo4jStore, when: str, neo4j_uri: str, neo4j_auth: tuple[str, str] | None
) -> None:
    for batch in base_graph():
        store.apply(batch)
    before = reads(store)
    user, password = neo4j_auth or ("", "")
    run = subprocess.run(
        [sys.executable, "-c", _IMPORT_CRASH, neo4j_uri, user, password, when], cwd=REPO, capture_output=True
    )
    assert run.returncode == 17, run.stderr.decode()
    assert leftovers(neo4j_uri, neo4j_auth)["imports"] == 1
    assert reads(store) == before  # nothing of it is visible
    with Neo4jStore(neo4j_uri, auth=neo4j_auth, database="neo4j") as reopened:  # too recent to recover
        assert leftovers(neo4j_uri, neo4j_auth)["imports"] == 1
        with pytest.raises(StoreError, match="another import"):
            reopened.apply_stream(iter(import_stream()))
    with Neo4jStore(neo4j_uri, auth=neo4j_auth, database="neo4j", recover_after=0):
        pass
    assert leftovers(neo4j_uri, neo4j_auth) == NOTHING_LEFT
    assert reads(store) == (before if when == "staging" else expected_after(import_stream()))


def test_a_large_import_fits_the_test_heap(neo4j_uri: str, neo4j_auth: tuple[str, str] | None) -> None:
    """100,000 twins and 300,000 relationships in batches of 10,000, on the 512 MB heap of the test
    server (one transaction of this size runs a 2 GB heap out of memory)."""
    twins, chunk = 100_000, 10_000

    def batches() -> Iterator[Batch]:
        yield Batch(models=MODELS)
        for start in range(0, twins, chunk):
            yield Batch(
                twins=[
                    Twin(f"t{i:06d}", MACHINE, {"temperature": i / 4}) for i in range(start, start + chunk)
                ]
            )
        for start in range(0, 3 * twins, chunk):
            yield Batch(
                relationships=[
                    Relationship(f"r{i % 3}", f"t{i // 3:06d}", f"t{i * 7919 % twins:06d}", "feeds")
                    for i in range(start, start + chunk)
                ]
            )

    store = Neo4jStore(neo4j_uri, auth=neo4j_auth, database="neo4j")
    try:
        store.wipe()
        assert store.apply_stream(batches()) == len(MODELS) + 4 * twins
        assert store.counts() == {"models": len(MODELS), "twins": twins, "relationships": 3 * twins}
        assert [r.target for r in store.relationships(["t000001"])["t000001"]] == [
            f"t{i * 7919 % twins:06d}" for i in (3, 4, 5)
        ]
        assert leftovers(neo4j_uri, neo4j_auth) == NOTHING_LEFT
    finally:
        store.wipe()
        store.close()


_NAMES = st.sampled_from(["name", "flow", "a_b", "n0", "x.y", "é", "a b", "`x`", *HOSTILE[:4]])
_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
    st.fixed_dictionaries(
        {"$metadata": st.just({})}, optional={"x": st.integers(), "b c": st.text(max_size=3)}
    ),
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(properties=st.lists(st.dictionaries(_NAMES, _VALUES, max_size=4), min_size=1, max_size=6))
def test_imported_twins_have_the_properties_apply_gives_them(
    store: Neo4jStore, neo4j_uri: str, neo4j_auth: tuple[str, str] | None, properties: list[dict[str, Any]]
) -> None:
    """Staging writes a twin's properties as a map literal over the values of its row when every key
    is plain, else from the map: either way the twin holds what ``apply`` stores, filter copies included."""
    twins = [Twin(f"n{i}", ASSET, props) for i, props in enumerate(properties)]
    store.wipe()
    store.apply(Batch(models=MODELS, twins=twins))
    query = "MATCH (t:Twin) RETURN t.id AS id, properties(t) AS properties, labels(t) AS labels ORDER BY id"
    applied = cypher(neo4j_uri, neo4j_auth, query)
    store.wipe()
    store.apply(Batch(models=MODELS))
    store.apply_stream(iter([Batch(twins=twins[:2]), Batch(twins=twins[2:])]))
    assert cypher(neo4j_uri, neo4j_auth, query) == applied
    assert leftovers(neo4j_uri, neo4j_auth) == NOTHING_LEFT


def test_an_import_recovered_meanwhile_stages_nothing_more(
    store: Neo4jStore, neo4j_uri: str, neo4j_auth: tuple[str, str] | None
) -> None:
    """A writer silent for longer than ``recover_after`` is taken for crashed and its import rolled
    back; should it go on, its next batch fails and its own rollback leaves the next import alone."""
    for batch in base_graph():
        store.apply(batch)
    before = reads(store)
    other = Neo4jStore(neo4j_uri, auth=neo4j_auth, database="neo4j")

    def silent() -> Iterator[Batch]:
        yield Batch(twins=[Twin("n1", ASSET)])
        Neo4jStore(neo4j_uri, auth=neo4j_auth, database="neo4j", recover_after=0).close()
        assert leftovers(neo4j_uri, neo4j_auth) == NOTHING_LEFT
        nested = iter([Batch(twins=[Twin("n2", ASSET)])])
        other.apply_stream(itertools.chain(nested, [Batch(twins=[Twin("n3", ASSET)])]))
        yield Batch(twins=[Twin("n4", ASSET)])

    try:
        with pytest.raises(StoreError, match="rolled back by a store that took it for crashed"):
            store.apply_stream(silent())
    finally:
        other.close()
    assert store.get_twins(["n1", "n2", "n3", "n4"]).keys() == {"n2", "n3"}
    assert reads(store) != before
    assert leftovers(neo4j_uri, neo4j_auth) == NOTHING_LEFT


def test_async_reads_answer_as_the_blocking_reads_and_see_every_write(store: Neo4jStore) -> None:
    """The reads a server runs on its event loop give the blocking methods' answers, over many
    chunks (batch size 7) and twins that do not exist, and see a write made just before them."""
    for batch in base_graph():
        store.apply(batch)
    hub = [Twin(f"h{i:02}", STORE_MODELS[0]["@id"], {"name": f"hub {i}"}) for i in range(20)]
    store.apply(
        Batch(
            twins=hub,
            relationships=[Relationship(f"f{i}", "a", t.id, "feeds", {"rate": i}) for i, t in enumerate(hub)]
            + [Relationship("b", t.id, "m", "feeds") for t in hub[::3]],
        )
    )
    ids = ["a", "m", "nobody", *(t.id for t in hub), "a"]
    chains: list[list[Any]] = [
        [("feeds", "out")],
        [("feeds", "out"), ("feeds", "out")],
        [(None, "both"), ("feeds", "in")],
        [("partOf", "out")],
    ]

    async def both() -> None:
        reads = store.open_async_reads()
        try:
            assert await reads.get_twins(ids) == store.get_twins(ids)
            assert await reads.get_twins([]) == {}
            for steps in chains:
                assert await reads.neighbours_along(ids, steps) == store.neighbours_along(ids, steps)
                assert await reads.twins_along(ids, steps) == store.twins_along(ids, steps)
            store.apply(Batch(twins=[Twin("late", STORE_MODELS[0]["@id"], {"name": "just written"})]))
            assert await reads.get_twins(["late"]) == {
                "late": Twin("late", STORE_MODELS[0]["@id"], {"name": "just written"})
            }
        finally:
            await reads.aclose()

    asyncio.run(both())


def test_async_reads_translate_driver_errors(neo4j_uri: str, neo4j_auth: tuple[str, str] | None) -> None:
    store = Neo4jStore(neo4j_uri, auth=neo4j_auth)
    store._database = "no-such-database"  # the blocking reads fail the same way

    async def read() -> None:
        reads = store.open_async_reads()
        try:
            with pytest.raises(StoreError, match="failed to read twins"):
                await reads.get_twins(["a"])
        finally:
            await reads.aclose()

    try:
        with pytest.raises(StoreError, match="failed to read twins"):
            store.get_twins(["a"])
        asyncio.run(read())
    finally:
        store.close()


def test_async_reads_made_together_run_as_one_query_and_answer_each_its_own(
    store: Neo4jStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Concurrent calls on the loop are read with one query (per read and traversal shape); each gets
    exactly what it alone would get, errors included."""
    for batch in base_graph():
        store.apply(batch)
    hub = [Twin(f"h{i:02}", STORE_MODELS[0]["@id"]) for i in range(12)]
    store.apply(
        Batch(twins=hub, relationships=[Relationship(f"f{i}", t.id, "m", "feeds") for i, t in enumerate(hub)])
    )
    asks = [["a"], ["m", "nobody"], [t.id for t in hub[:5]], [t.id for t in hub[3:]], ["p", "a", "h01"], []]
    steps: list[Any] = [("feeds", "out"), ("feeds", "out")]
    queries: list[str] = []
    read = neo4j_store._AsyncReads._rows

    async def counted(self: Any, query: str, params: dict[str, Any]) -> list[list[Any]]:
        queries.append(query)
        return await read(self, query, params)

    monkeypatch.setattr(neo4j_store._AsyncReads, "_rows", counted)

    async def together() -> None:
        reads = store.open_async_reads()
        try:
            twins = await asyncio.gather(*(reads.get_twins(ids) for ids in asks))
            assert twins == [store.get_twins(ids) for ids in asks]
            chunks = math.ceil(len({i for ids in asks for i in ids}) / 7)  # 7: the store's batch size
            assert len(queries) == chunks
            queries.clear()
            walks = await asyncio.gather(
                *(reads.twins_along(ids, steps) for ids in asks),
                *(reads.neighbours_along(ids, steps[:1]) for ids in asks),
            )
            assert walks == [store.twins_along(ids, steps) for ids in asks] + [
                store.neighbours_along(ids, steps[:1]) for ids in asks
            ]
            assert len(queries) == 2 * chunks  # two traversal shapes
            store._database = "no-such-database"  # every caller of the failing query gets its error
            failed = await asyncio.gather(*(reads.get_twins(ids) for ids in asks[:3]), return_exceptions=True)
            assert all(isinstance(e, StoreError) for e in failed)
        finally:
            store._database = "neo4j"
            await reads.aclose()

    asyncio.run(together())


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["\ud800", "a\udfffb", "1234567890123456789", "é€𝄞"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=500, deadline=None)
@given(value=st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=6))
def test_properties_decode_as_the_json_module_decodes_them(value: dict[str, Any]) -> None:
    """The store decodes the JSON it wrote with orjson where that gives the json module's value
    exactly: integers beyond 64 bits stay integers, NaN and lone surrogates survive."""
    text = json_text.dumps(value, "a twin")
    assert repr(json_text.loads(text)) == repr(json.loads(text))
