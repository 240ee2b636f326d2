"""The Store contract, run against every store (the ``store`` fixture in conftest.py).

``Filter.matches`` is the reference for property filters: the property tests compare what a store
returns with a plain Python filter over the same twins.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dtgraph.graph.records import Relationship, Twin
from dtgraph.stores.base import Batch, Direction, Filter, Step, Store, other_end
from dtgraph.stores.errors import StoreError
from tests.stores.models import ASSET, LINE, MACHINE, MODELS, NAMEPLATE, PUMP

# --- helpers -------------------------------------------------------------------------------------------


def nameplate(manufacturer: str, year: int) -> dict[str, Any]:
    return {"$metadata": {}, "manufacturer": manufacturer, "year": year}


def plant(store: Store) -> None:
    """Models and a small graph: three assets of each kind, a line, and relationships between them.

    feeds:  a1 → m1 → p1 → p2, m1 → m2 (rate 2.5), p1 → p1 (a loop)
    partOf: a1, m1, m2, p1, p2 → line
    """
    store.apply(Batch(models=MODELS))
    store.apply(
        Batch(
            twins=[
                Twin("a1", ASSET, {"name": "crane", "serial": 7}),
                Twin("a2", ASSET, {"name": "dock"}),
                Twin(
                    "m1",
                    MACHINE,
                    {"name": "press", "serial": 3, "temperature": 71.5, "nameplate": nameplate("Acme", 2019)},
                ),
                Twin(
                    "m2",
                    MACHINE,
                    {"name": "lathe", "temperature": 40.0, "nameplate": nameplate("Bolt", 2021)},
                ),
                Twin("p1", PUMP, {"name": "pump one", "flow": 12.0, "nameplate": nameplate("Acme", 2023)}),
                Twin("p2", PUMP, {"name": "pump two", "serial": 11, "nameplate": nameplate("Cogs", 2015)}),
                Twin("line", LINE, {"name": "line 1"}),
            ],
            relationships=[
                Relationship("f1", "a1", "m1", "feeds"),
                Relationship("f1", "m1", "p1", "feeds", {"rate": 1.5}),
                Relationship("f2", "m1", "m2", "feeds", {"rate": 2.5}),
                Relationship("f1", "p1", "p2", "feeds"),
                Relationship("loop", "p1", "p1", "feeds"),
                *(Relationship("in-line", t, "line", "partOf") for t in ("a1", "m1", "m2", "p1", "p2")),
            ],
        )
    )


def everything(store: Store) -> tuple[dict[str, Twin], dict[tuple[str, str], Relationship]]:
    twins: dict[str, Twin] = {}
    rels: dict[tuple[str, str], Relationship] = {}
    for item in store.snapshot():
        if isinstance(item, Twin):
            twins[item.id] = item
        else:
            rels[item.key] = item
    return twins, rels


def ids(twins: list[Twin]) -> list[str]:
    return [t.id for t in twins]


def all_pages(store: Store, limit: int, **query: Any) -> list[str]:
    found: list[str] = []
    cursor: str | None = None
    for _ in range(1000):
        page = store.query_twins(limit=limit, after=cursor, **query)
        assert len(page.twins) <= limit
        found.extend(ids(page.twins))
        cursor = page.cursor
        if cursor is None:
            return found
        assert cursor == page.twins[-1].id
    raise AssertionError("pagination does not end")


def keys(rels: list[Relationship]) -> list[tuple[str, str]]:
    return [r.key for r in rels]


# --- models --------------------------------------------------------------------------------------------


def test_models_are_added_replaced_and_deleted(store: Store) -> None:
    store.apply(Batch(models=MODELS))
    assert [d["@id"] for d in store.model_documents()] == [ASSET, MACHINE, PUMP, NAMEPLATE, LINE]
    assert store.model_documents()[1] == MODELS[1]
    replaced = {**MODELS[0], "displayName": "Asset"}
    store.apply(Batch(models=[replaced]))
    docs = store.model_documents()
    assert [d["@id"] for d in docs] == [ASSET, MACHINE, PUMP, NAMEPLATE, LINE]  # replaced in place
    assert docs[0] == replaced
    store.apply(Batch(delete_models=[LINE, "dtmi:test:Unknown;1"]))
    assert [d["@id"] for d in store.model_documents()] == [ASSET, MACHINE, PUMP, NAMEPLATE]
    assert store.counts()["models"] == 4


def test_model_documents_are_copies(store: Store) -> None:
    store.apply(Batch(models=MODELS))
    store.model_documents()[0]["@id"] = "dtmi:test:Changed;1"
    assert store.model_documents()[0]["@id"] == ASSET


def test_a_model_without_an_id_is_refused(store: Store) -> None:
    with pytest.raises(StoreError):
        store.apply(Batch(models=[{"@type": "Interface"}], twins=[Twin("x", ASSET)]))
    assert store.counts() == {"models": 0, "twins": 0, "relationships": 0}


# --- twins ---------------------------------------------------------------------------------------------


def test_twins_are_read_in_batches_and_missing_ids_are_absent(store: Store) -> None:
    plant(store)
    found = store.get_twins(["m1", "nope", "p2", "m1"])
    assert set(found) == {"m1", "p2"}
    assert found["m1"] == Twin(
        "m1",
        MACHINE,
        {"name": "press", "serial": 3, "temperature": 71.5, "nameplate": nameplate("Acme", 2019)},
    )
    assert store.get_twins([]) == {}
    assert store.get_twin("nope") is None
    assert store.get_twin("a2") == Twin("a2", ASSET, {"name": "dock"})


def test_a_twin_is_replaced_whole(store: Store) -> None:
    plant(store)
    store.apply(Batch(twins=[Twin("m1", PUMP, {"flow": 3.0})]))
    assert store.get_twin("m1") == Twin("m1", PUMP, {"flow": 3.0})  # old properties are gone
    assert ids(store.query_twins(PUMP, include_subtypes=False).twins) == ["m1", "p1", "p2"]
    assert ids(store.query_twins(MACHINE, include_subtypes=False).twins) == ["m2"]
    assert len(store.relationships(["m1"])["m1"]) == 3  # relationships stay


def test_deleting_twins_deletes_their_relationships(store: Store) -> None:
    plant(store)
    store.apply(Batch(delete_twins=["m1", "never-existed"]))
    assert store.get_twin("m1") is None
    _, rels = everything(store)
    assert all("m1" not in (r.source, r.target) for r in rels.values())
    assert store.get_relationships([("a1", "f1"), ("m1", "f1"), ("m1", "f2")]) == {}
    assert store.relationships(["a1"], name="feeds").get("a1", []) == []
    assert store.counts() == {"models": 5, "twins": 6, "relationships": 6}


def test_empty_and_no_op_batches_change_nothing(store: Store) -> None:
    plant(store)
    before = everything(store)
    store.apply(Batch())
    store.apply(Batch(delete_twins=["ghost"], delete_relationships=[("ghost", "r"), ("a1", "ghost")]))
    assert everything(store) == before


# --- relationships -------------------------------------------------------------------------------------


def test_relationships_are_read_by_key(store: Store) -> None:
    plant(store)
    found = store.get_relationships([("m1", "f1"), ("p1", "f1"), ("m1", "nope"), ("nope", "f1")])
    assert found == {
        ("m1", "f1"): Relationship("f1", "m1", "p1", "feeds", {"rate": 1.5}),
        ("p1", "f1"): Relationship("f1", "p1", "p2", "feeds"),
    }


def test_a_relationship_is_replaced_whole_even_with_a_new_target(store: Store) -> None:
    plant(store)
    store.apply(Batch(relationships=[Relationship("f1", "m1", "a2", "feeds", {"rate": 9.0})]))
    assert store.get_relationships([("m1", "f1")]) == {
        ("m1", "f1"): Relationship("f1", "m1", "a2", "feeds", {"rate": 9.0})
    }
    assert keys(store.relationships(["p1"], direction="in", name="feeds")["p1"]) == [("p1", "loop")]
    assert keys(store.relationships(["a2"], direction="in")["a2"]) == [("m1", "f1")]
    store.apply(Batch(relationships=[Relationship("f1", "m1", "a2", "feeds")]))
    assert store.get_relationships([("m1", "f1")])[("m1", "f1")].properties == {}
    assert store.counts()["relationships"] == 10


def test_relationships_are_deleted_by_key(store: Store) -> None:
    plant(store)
    store.apply(Batch(delete_relationships=[("m1", "f1"), ("p1", "loop")]))
    assert store.get_relationships([("m1", "f1"), ("p1", "loop"), ("m1", "f2")]) == {
        ("m1", "f2"): Relationship("f2", "m1", "m2", "feeds", {"rate": 2.5})
    }
    assert store.get_twin("p1") is not None


def test_relationships_in_each_direction_ordered_by_source_and_id(store: Store) -> None:
    plant(store)
    out = store.relationships(["m1", "p1", "missing"])
    assert "missing" not in out
    assert keys(out["m1"]) == [("m1", "f1"), ("m1", "f2"), ("m1", "in-line")]
    assert keys(out["p1"]) == [("p1", "f1"), ("p1", "in-line"), ("p1", "loop")]
    into = store.relationships(["line", "p1"], direction="in")
    assert keys(into["line"]) == [
        ("a1", "in-line"),
        ("m1", "in-line"),
        ("m2", "in-line"),
        ("p1", "in-line"),
        ("p2", "in-line"),
    ]
    assert keys(into["p1"]) == [("m1", "f1"), ("p1", "loop")]
    both = store.relationships(["p1"], direction="both")
    assert keys(both["p1"]) == [
        ("m1", "f1"),
        ("p1", "f1"),
        ("p1", "in-line"),
        ("p1", "loop"),
    ]  # the loop once
    named = store.relationships(["p1", "m1"], name="feeds", direction="both")
    assert keys(named["p1"]) == [("m1", "f1"), ("p1", "f1"), ("p1", "loop")]
    assert keys(named["m1"]) == [("a1", "f1"), ("m1", "f1"), ("m1", "f2")]
    assert store.relationships(["a2"]).get("a2", []) == []
    assert store.relationships(["m1"], name="nothing").get("m1", []) == []


@pytest.mark.parametrize("direction", ["out", "in", "both"])
@pytest.mark.parametrize("name", [None, "feeds", "partOf", "nothing"])
def test_neighbours_are_the_relationships_with_their_other_ends(
    store: Store, name: str | None, direction: Direction
) -> None:
    plant(store)
    asked = ["m1", "p1", "line", "a2", "missing", "m1"]
    rels = store.relationships(asked, name=name, direction=direction)
    twins = store.get_twins(["a1", "a2", "m1", "m2", "p1", "p2", "line"])
    expected = {t: [(r, twins[other_end(r, t)]) for r in found] for t, found in rels.items()}
    assert store.neighbours(asked, name=name, direction=direction) == expected


@pytest.mark.parametrize(
    "steps",
    [
        [("feeds", "out")],
        [("feeds", "out"), ("feeds", "out"), ("feeds", "out")],
        [("feeds", "out"), ("feeds", "in")],  # back along the same relationships
        [(None, "both"), ("partOf", "in"), (None, "both")],
        [("partOf", "out"), ("nothing", "in"), ("feeds", "out")],
    ],
)
def test_neighbours_along_steps_are_neighbours_level_by_level(store: Store, steps: list[Step]) -> None:
    plant(store)
    asked = ["a1", "p1", "line", "missing", "a1"]
    found = store.neighbours_along(asked, steps)
    assert found == Store.neighbours_along(store, asked, steps)  # one neighbours call per step
    assert len(found) == len(steps)
    for level, twins in itertools.pairwise(found):
        assert set(twins) == {t.id for pairs in level.values() for _, t in pairs}


@pytest.mark.parametrize("steps", [[("feeds", "out")], [("feeds", "out"), ("feeds", "in"), (None, "both")]])
def test_twins_along_are_the_twins_and_the_neighbours_along_from_them(
    store: Store, steps: list[Step]
) -> None:
    plant(store)
    asked = ["a1", "m1", "missing", "a1", "line"]
    twins, levels = store.twins_along(asked, steps)
    assert twins == store.get_twins(asked)
    assert list(twins) == ["a1", "m1", "line"]
    assert levels == Store.neighbours_along(store, asked, steps)


def test_neighbours_along_two_steps(store: Store) -> None:
    plant(store)
    first, second = store.neighbours_along(["a1", "a2"], [("feeds", "out"), ("feeds", "in")])
    assert {t: [(r.key, end.id) for r, end in pairs] for t, pairs in first.items()} == {
        "a1": [(("a1", "f1"), "m1")],
        "a2": [],
    }
    assert {t: [(r.key, end.id) for r, end in pairs] for t, pairs in second.items()} == {
        "m1": [(("a1", "f1"), "a1")]
    }


def test_relationship_ids_are_unique_per_source_only(store: Store) -> None:
    plant(store)
    found = store.get_relationships([("a1", "f1"), ("m1", "f1"), ("p1", "f1")])
    assert [r.target for r in found.values()] == ["m1", "p1", "p2"]


def test_traverse_is_breadth_first_and_depth_limited(store: Store) -> None:
    plant(store)
    assert [(d, t.id) for d, t in store.traverse("a1", name="feeds", max_depth=2)] == [
        (1, "m1"),
        (2, "p1"),
        (2, "m2"),
    ]
    assert [(d, t.id) for d, t in store.traverse("a1", name="feeds")] == [
        (1, "m1"),
        (2, "p1"),
        (2, "m2"),
        (3, "p2"),
    ]
    up = store.traverse("p2", name="feeds", direction="in")
    assert [(d, t.id) for d, t in up] == [(1, "p1"), (2, "m1"), (3, "a1")]
    assert {t.id for _, t in store.traverse("line", direction="in", max_depth=1)} == {
        "a1",
        "m1",
        "m2",
        "p1",
        "p2",
    }
    assert store.traverse("a2") == []


# --- atomicity -----------------------------------------------------------------------------------------


def test_a_relationship_to_a_missing_twin_rejects_the_whole_batch(store: Store) -> None:
    plant(store)
    before = everything(store), store.model_documents()
    batch = Batch(
        models=[{**MODELS[0], "displayName": "changed"}],
        twins=[Twin("new", ASSET), Twin("a2", ASSET, {"name": "changed"})],
        delete_twins=["p2"],
        relationships=[
            Relationship("ok", "new", "a1", "feeds"),
            Relationship("bad", "new", "ghost", "feeds"),
        ],
        delete_relationships=[("m1", "f2")],
    )
    with pytest.raises(StoreError, match="ghost"):
        store.apply(batch)
    assert (everything(store), store.model_documents()) == before


def test_a_relationship_to_a_twin_deleted_in_the_same_batch_is_rejected(store: Store) -> None:
    plant(store)
    before = everything(store)
    with pytest.raises(StoreError):
        store.apply(Batch(delete_twins=["a2"], relationships=[Relationship("r", "a1", "a2", "feeds")]))
    with pytest.raises(StoreError):
        store.apply(Batch(relationships=[Relationship("r", "nobody", "a1", "feeds")]))
    assert everything(store) == before


def test_a_batch_applies_deletions_before_upserts(store: Store) -> None:
    plant(store)
    store.apply(
        Batch(
            twins=[Twin("m1", MACHINE, {"name": "new press"})],
            delete_twins=["m1"],
            relationships=[Relationship("back", "m1", "a1", "feeds")],
            delete_relationships=[("m2", "in-line")],
        )
    )
    assert store.get_twin("m1") == Twin("m1", MACHINE, {"name": "new press"})
    # the old twin's relationships went with it; the new one has only what the batch gave it
    assert keys(store.relationships(["m1"], direction="both")["m1"]) == [("m1", "back")]
    assert store.get_relationships([("m2", "in-line")]) == {}


def test_a_relationship_may_join_twins_of_the_same_batch(store: Store) -> None:
    store.apply(
        Batch(
            twins=[Twin("x", ASSET), Twin("y", ASSET)],
            relationships=[Relationship("r", "x", "y", "feeds", {"rate": 1.0})],
        )
    )
    assert store.counts() == {"models": 0, "twins": 2, "relationships": 1}


# --- queries -------------------------------------------------------------------------------------------


def test_query_by_model_with_and_without_subtypes(store: Store) -> None:
    plant(store)
    assert ids(store.query_twins(ASSET).twins) == ["a1", "a2", "m1", "m2", "p1", "p2"]
    assert ids(store.query_twins(ASSET, include_subtypes=False).twins) == ["a1", "a2"]
    assert ids(store.query_twins(MACHINE).twins) == ["m1", "m2", "p1", "p2"]
    assert ids(store.query_twins(MACHINE, include_subtypes=False).twins) == ["m1", "m2"]
    assert ids(store.query_twins(PUMP).twins) == ["p1", "p2"]
    assert ids(store.query_twins(LINE).twins) == ["line"]
    assert ids(store.query_twins(NAMEPLATE).twins) == []
    assert ids(store.query_twins("dtmi:test:Unknown;1").twins) == []
    assert ids(store.query_twins().twins) == ["a1", "a2", "line", "m1", "m2", "p1", "p2"]


def test_subtypes_follow_model_changes(store: Store) -> None:
    plant(store)
    assert ids(store.query_twins(MACHINE).twins) == ["m1", "m2", "p1", "p2"]
    pump_of_asset = {**MODELS[2], "extends": ASSET, "contents": []}
    store.apply(Batch(models=[pump_of_asset]))
    assert ids(store.query_twins(MACHINE).twins) == ["m1", "m2"]
    assert ids(store.query_twins(ASSET).twins) == ["a1", "a2", "m1", "m2", "p1", "p2"]


FILTER_CASES: list[tuple[Filter, list[str]]] = [
    (Filter("name", "eq", "press"), ["m1"]),
    (Filter("name", "ne", "press"), ["a1", "a2", "line", "m2", "p1", "p2"]),  # absent never matches ne
    (Filter("serial", "ne", 3), ["a1", "p2"]),
    (Filter("serial", "lt", 7), ["m1"]),
    (Filter("serial", "le", 7), ["a1", "m1"]),
    (Filter("serial", "gt", 7), ["p2"]),
    (Filter("serial", "ge", 7), ["a1", "p2"]),
    (Filter("temperature", "gt", 40), ["m1"]),  # an integer bound on a double
    (Filter("temperature", "ge", 40.0), ["m1", "m2"]),
    (Filter("name", "in", ["dock", "lathe", "none"]), ["a2", "m2"]),
    (Filter("serial", "in", [3, 11]), ["m1", "p2"]),
    (Filter("serial", "exists"), ["a1", "m1", "p2"]),
    (Filter("serial", "exists", True), ["a1", "m1", "p2"]),
    (Filter("serial", "exists", False), ["a2", "line", "m2", "p1"]),
    (Filter("name", "lt", "l"), ["a1", "a2"]),
    (Filter("name", "ge", "pump"), ["p1", "p2"]),
    # component paths
    (Filter("nameplate.manufacturer", "eq", "Acme"), ["m1", "p1"]),
    (Filter("nameplate.year", "lt", 2020), ["m1", "p2"]),
    (Filter("nameplate.year", "in", [2021, 2015]), ["m2", "p2"]),
    (Filter("nameplate.model", "exists"), []),
    (Filter("nameplate.year", "exists"), ["m1", "m2", "p1", "p2"]),
    (Filter("nameplate.year", "exists", False), ["a1", "a2", "line"]),
    (Filter("name.first", "exists"), []),  # a path through a non-object finds nothing
    # type mismatches never match, and never fail
    (Filter("name", "gt", 3), []),
    (Filter("name", "lt", 3), []),
    (Filter("serial", "ge", "a"), []),
    (Filter("serial", "eq", "3"), []),
    (Filter("serial", "ne", "3"), ["a1", "m1", "p2"]),  # present and not equal
    (Filter("nameplate", "gt", 1), []),
    (Filter("name", "in", [3, 7]), []),
    (Filter("missing", "eq", 1), []),
    (Filter("missing", "exists", False), ["a1", "a2", "line", "m1", "m2", "p1", "p2"]),
]


@pytest.mark.parametrize(
    ("where", "expected"), FILTER_CASES, ids=[f"{f.path} {f.op} {f.value!r}" for f, _ in FILTER_CASES]
)
def test_filter(store: Store, where: Filter, expected: list[str]) -> None:
    plant(store)
    twins, _ = everything(store)
    assert expected == sorted(
        i for i, t in twins.items() if where.matches(t.properties)
    )  # the reference agrees
    assert ids(store.query_twins(where=[where]).twins) == expected


def test_filters_combine_with_and_and_with_the_model(store: Store) -> None:
    plant(store)
    where = [Filter("nameplate.manufacturer", "eq", "Acme"), Filter("temperature", "exists", False)]
    assert ids(store.query_twins(where=where).twins) == ["p1"]
    assert ids(store.query_twins(MACHINE, include_subtypes=False, where=where).twins) == []
    assert ids(store.query_twins(ASSET, where=[Filter("serial", "exists")]).twins) == ["a1", "m1", "p2"]


@pytest.mark.parametrize(
    ("value", "where", "matches"),
    [
        (True, Filter("v", "eq", 1), True),  # Python equality: True == 1
        (1, Filter("v", "eq", 1.0), True),
        (1, Filter("v", "lt", 1.5), True),
        (False, Filter("v", "lt", 1), True),
        (True, Filter("v", "in", [1, "x"]), True),
        (0, Filter("v", "ne", False), False),
        ("1", Filter("v", "eq", 1), False),
        ("b", Filter("v", "gt", "a"), True),
        ("B", Filter("v", "gt", "a"), False),
        (2.5, Filter("v", "le", 2.5), True),
    ],
)
def test_filter_mixed_number_types(store: Store, value: Any, where: Filter, matches: bool) -> None:
    store.apply(Batch(twins=[Twin("t", ASSET, {"v": value})]))
    assert where.matches({"v": value}) is matches
    assert ids(store.query_twins(where=[where]).twins) == (["t"] if matches else [])


def test_pages_in_id_order_cover_everything_once(store: Store) -> None:
    store.apply(Batch(models=MODELS))
    twins = [Twin(f"t{i:02d}", [ASSET, MACHINE, PUMP, LINE][i % 4], {"n": i}) for i in range(30)]
    store.apply(Batch(twins=list(reversed(twins))))
    every = [t.id for t in twins]
    assert all_pages(store, 7) == every
    assert all_pages(store, 30) == every
    assert all_pages(store, 100) == every
    assert all_pages(store, 1, model=LINE) == [t.id for t in twins if t.model == LINE]
    assert all_pages(store, 4, model=MACHINE) == [t.id for t in twins if t.model in (MACHINE, PUMP)]
    assert all_pages(store, 3, where=[Filter("n", "ge", 20)]) == every[20:]
    first = store.query_twins(limit=5)
    assert ids(first.twins) == every[:5]
    assert first.cursor == "t04"
    assert ids(store.query_twins(limit=5, after="t04").twins) == every[5:10]
    assert ids(store.query_twins(limit=5, after="t045").twins) == every[5:10]  # any string is a cursor
    last = store.query_twins(limit=5, after="t27")
    assert (ids(last.twins), last.cursor) == (["t28", "t29"], None)
    assert store.query_twins(after="t29").twins == []


# --- snapshot and counts -------------------------------------------------------------------------------


def test_snapshot_yields_every_twin_then_every_relationship_once(store: Store) -> None:
    plant(store)
    items = list(store.snapshot())
    kinds = [isinstance(i, Twin) for i in items]
    assert kinds == sorted(kinds, reverse=True)  # twins first
    twins = [i for i in items if isinstance(i, Twin)]
    rels = [i for i in items if isinstance(i, Relationship)]
    assert sorted(ids(twins)) == ["a1", "a2", "line", "m1", "m2", "p1", "p2"]
    assert len({r.key for r in rels}) == len(rels) == 10
    assert store.get_relationships([r.key for r in rels]) == {r.key: r for r in rels}


def test_counts(store: Store) -> None:
    assert store.counts() == {"models": 0, "twins": 0, "relationships": 0}
    plant(store)
    assert store.counts() == {"models": 5, "twins": 7, "relationships": 10}


# --- reads on the caller's thread ----------------------------------------------------------------------


def test_immediate_reads_answer_as_usual_and_never_while_a_writer_holds_the_store(store: Store) -> None:
    plant(store)
    with store.immediate_reads() as now:
        assert isinstance(now, bool)
        inside = store.get_twins(["m1", "nope"]), store.relationships(["m1"], name="feeds")
    assert inside == (store.get_twins(["m1", "nope"]), store.relationships(["m1"], name="feeds"))
    writing, go_on = threading.Event(), threading.Event()

    def parts() -> Iterator[Batch]:
        yield Batch(twins=[Twin("x1", ASSET, {"name": "late"})])
        writing.set()
        go_on.wait(60)

    writer = threading.Thread(target=store.apply_stream, args=(parts(),))
    writer.start()
    try:
        assert writing.wait(60)
        with store.immediate_reads() as now:
            assert not now
    finally:
        go_on.set()
        writer.join(60)
    assert store.get_twin("x1") == Twin("x1", ASSET, {"name": "late"})


# --- property tests against the reference --------------------------------------------------------------

_SCALARS = st.one_of(
    st.integers(-3, 3),
    st.sampled_from([-1.5, 0.0, 0.5, 1.0, 2.5]),
    st.booleans(),
    st.text(alphabet="abAB0 é", max_size=3),
)
_PATHS = st.sampled_from(["a", "b", "c.x", "c.y", "c", "a.x", "missing"])


@st.composite
def _twins(draw: st.DrawFn) -> list[Twin]:
    count = draw(st.integers(0, 12))
    made = []
    for i in range(count):
        props: dict[str, Any] = draw(st.dictionaries(st.sampled_from(["a", "b"]), _SCALARS, max_size=2))
        if draw(st.booleans()):
            component = draw(st.dictionaries(st.sampled_from(["x", "y"]), _SCALARS, max_size=2))
            props["c"] = {"$metadata": {}, **component}
        made.append(Twin(f"t{i:02d}", draw(st.sampled_from([ASSET, MACHINE])), props))
    return made


_FILTERS = st.one_of(
    st.builds(Filter, _PATHS, st.sampled_from(["eq", "ne", "lt", "le", "gt", "ge"]), _SCALARS),
    st.builds(Filter, _PATHS, st.just("in"), st.lists(_SCALARS, max_size=3)),
    st.builds(Filter, _PATHS, st.just("exists"), st.sampled_from([None, True, False])),
)


def _reset(store: Store) -> None:
    twins, _ = everything(store)
    if twins:
        store.apply(Batch(delete_twins=list(twins)))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(twins=_twins(), where=st.lists(_FILTERS, min_size=1, max_size=2), limit=st.integers(1, 5))
def test_query_twins_agrees_with_filter_matches(
    store: Store, twins: list[Twin], where: list[Filter], limit: int
) -> None:
    _reset(store)
    store.apply(Batch(twins=twins))
    expected = sorted(t.id for t in twins if all(f.matches(t.properties) for f in where))
    assert all_pages(store, limit, where=where) == expected
    machines = sorted(
        t.id for t in twins if t.model == MACHINE and all(f.matches(t.properties) for f in where)
    )
    assert all_pages(store, 100, model=MACHINE, include_subtypes=False, where=where) == machines
