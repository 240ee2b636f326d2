"""TwinGraph: the validated write path over the real memory store."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dtgraph.dtdl import DtdlValidationError
from dtgraph.graph.errors import GraphValidationError
from dtgraph.graph.records import Relationship, Twin
from dtgraph.graph.service import TwinGraph
from dtgraph.stores.base import Batch
from dtgraph.stores.memory import MemoryStore
from tests.graph.conftest import (
    ASSET,
    BIG_PUMP,
    MOTOR,
    PUMP,
    SITE,
    documents,
    interface,
    prop,
    pump,
    rel,
    site,
)


def rejected(fn: Any, *args: Any) -> list[tuple[str, int | None]]:
    with pytest.raises(GraphValidationError) as info:
        fn(*args)
    return [(i.code, i.record) for i in info.value.issues]


@pytest.fixture
def populated(graph: TwinGraph) -> TwinGraph:
    graph.create_twins([pump("a"), pump("b"), pump("c", BIG_PUMP), site("s")])
    graph.create_relationships([rel("r1", "a", "b", flow=1.0), rel("r2", "a", "s", "locatedIn")])
    return graph


def test_models_are_uploaded_and_cached(store: MemoryStore) -> None:
    graph = TwinGraph(store)
    assert graph.models.interfaces == {}
    texts = [json.dumps(d) for d in documents()]
    assert graph.upload_models(texts) == [ASSET, PUMP, BIG_PUMP, MOTOR, SITE]
    assert [d["@id"] for d in store.model_documents()] == [ASSET, PUMP, BIG_PUMP, MOTOR, SITE]
    assert graph.models is graph.models and set(graph.models.interfaces) == {
        ASSET,
        PUMP,
        BIG_PUMP,
        MOTOR,
        SITE,
    }
    assert set(TwinGraph(store).models.interfaces) == set(graph.models.interfaces)


def test_a_document_may_hold_an_array_of_interfaces(store: MemoryStore) -> None:
    assert TwinGraph(store).upload_models([documents()]) == [ASSET, PUMP, BIG_PUMP, MOTOR, SITE]


def test_invalid_dtdl_is_rejected_and_nothing_is_written(graph: TwinGraph, store: MemoryStore) -> None:
    bad = interface("dtmi:test:Bad;1", prop("x", "nosuchschema"))
    with pytest.raises(DtdlValidationError):
        graph.upload_models([bad])
    with pytest.raises(DtdlValidationError):
        graph.upload_models(["{not json"])
    assert len(store.model_documents()) == 5


def test_new_models_may_build_on_stored_ones(graph: TwinGraph) -> None:
    graph.upload_models([interface("dtmi:test:Valve;1", prop("open", "boolean"), extends=ASSET)])
    graph.create_twins([Twin("v", "dtmi:test:Valve;1", {"open": True, "name": "V"})])
    assert graph.store.get_twin("v") is not None


def test_create_twins_writes_all_or_nothing(graph: TwinGraph, store: MemoryStore) -> None:
    assert rejected(graph.create_twins, [pump("a"), {"$dtId": "c"}, Twin("b", PUMP, {"speed": "x"})]) == [
        ("invalidRecord", 1),
        ("invalidValue", 2),  # numbered as given, though record 1 could not be decoded
        ("missingComponent", 2),
    ]
    assert store.counts()["twins"] == 0
    created = graph.create_twins([pump("a"), {"$dtId": "s", "$metadata": {"$model": SITE}, "city": "Lyon"}])
    assert [t.id for t in created] == ["a", "s"] and store.get_twin("s") == site("s", city="Lyon")
    assert rejected(graph.create_twins, [pump("a")]) == [("duplicateTwin", 0)]


def test_replace_twin(populated: TwinGraph) -> None:
    populated.replace_twin(pump("b", speed=5))
    assert populated.store.get_twin("b") == pump("b", speed=5)
    assert rejected(populated.replace_twin, pump("zz")) == [("missingTwin", 0)]
    # b is the target of a 'feeds' relationship: it cannot become a Site
    with pytest.raises(GraphValidationError) as info:
        populated.replace_twin(site("b"))
    assert [i.code for i in info.value.issues] == ["wrongTargetModel"]
    assert "existing relationship 'r1'" in info.value.issues[0].message
    populated.replace_twin(pump("b", BIG_PUMP))  # a subtype still fits


def test_patch_twin(populated: TwinGraph) -> None:
    twin = populated.patch_twin("a", [{"op": "add", "path": "/speed", "value": 7}])
    assert twin.properties["speed"] == 7 and populated.store.get_twin("a") == twin
    with pytest.raises(GraphValidationError) as info:
        populated.patch_twin("a", [{"op": "replace", "path": "/speed", "value": -1.5}])
    assert [(i.code, i.pointer) for i in info.value.issues] == [("invalidValue", "/speed")]
    assert rejected(populated.patch_twin, "zz", []) == [("missingTwin", None)]
    assert populated.store.get_twin("a") == twin


def test_relationships(populated: TwinGraph) -> None:
    store = populated.store
    assert rejected(populated.create_relationships, [rel("r1", "a", "b")]) == [("duplicateRelationship", 0)]
    assert rejected(populated.create_relationships, [rel("r3", "a", "c"), rel("r4", "a", "a")]) == [
        ("tooManyRelationships", 1)
    ]
    assert rejected(populated.create_relationships, [rel("r3", "a", "s"), {"$relationshipId": "x"}]) == [
        ("invalidRecord", 1),
        ("wrongTargetModel", 0),
    ]
    populated.create_relationships(
        [{"$relationshipId": "r3", "$sourceId": "a", "$targetId": "c", "$relationshipName": "feeds"}]
    )
    assert sorted(r.id for r in store.relationships(["a"])["a"]) == ["r1", "r2", "r3"]
    patched = populated.patch_relationship(
        "a", "r1", [{"op": "add", "path": "/since", "value": "2024-05-01"}]
    )
    assert (
        store.get_relationships([("a", "r1")])[("a", "r1")]
        == patched
        == Relationship("r1", "a", "b", "feeds", {"flow": 1.0, "since": "2024-05-01"})
    )
    assert rejected(populated.patch_relationship, "a", "nope", []) == [("missingRelationship", None)]
    populated.delete_relationships([("a", "r1")])
    assert rejected(populated.delete_relationships, [("a", "r1")]) == [("missingRelationship", None)]
    assert sorted(r.id for r in store.relationships(["a"])["a"]) == ["r2", "r3"]


def test_delete_twins_takes_their_relationships(populated: TwinGraph) -> None:
    populated.delete_twins(["b"])
    assert populated.store.get_twin("b") is None
    assert [r.id for r in populated.store.relationships(["a"])["a"]] == ["r2"]
    assert rejected(populated.delete_twins, ["b"]) == [("missingTwin", None)]


def test_deleting_a_model_in_use_is_refused(populated: TwinGraph, store: MemoryStore) -> None:
    with pytest.raises(GraphValidationError) as info:
        populated.delete_models([BIG_PUMP])
    assert [i.code for i in info.value.issues] == ["modelInUse"]
    assert "'c'" in info.value.issues[0].message
    with pytest.raises(GraphValidationError) as info:
        populated.delete_models([MOTOR])  # Pump has it as a component
    assert [i.code for i in info.value.issues] == ["modelInUse"]
    assert PUMP in info.value.issues[0].message
    assert rejected(populated.delete_models, ["dtmi:test:Nope;1"]) == [("unknownModel", None)]
    assert len(store.model_documents()) == 5
    populated.apply(Batch(delete_models=[BIG_PUMP], delete_twins=["c"]))  # together: fine
    assert BIG_PUMP not in populated.models.interfaces
    assert [d["@id"] for d in store.model_documents()] == [ASSET, PUMP, MOTOR, SITE]


def test_replacing_a_model_must_keep_existing_twins_valid(populated: TwinGraph) -> None:
    populated.patch_twin("a", [{"op": "add", "path": "/speed", "value": 7}])
    docs = {d["@id"]: d for d in documents()}
    without_speed = dict(docs[PUMP], contents=[c for c in docs[PUMP]["contents"] if c["name"] != "speed"])
    with pytest.raises(GraphValidationError) as info:
        populated.upload_models([without_speed])
    assert [(i.code, i.pointer) for i in info.value.issues] == [("incompatibleModel", "/speed")]
    assert "unknownProperty" in info.value.issues[0].message and "'a'" in info.value.issues[0].message
    # 'locatedIn' retargeted to Pump: the stored a -> s (a Site) would no longer fit
    asset = dict(docs[ASSET])
    asset["contents"] = [
        dict(c, target=PUMP) if c.get("name") == "locatedIn" else c for c in docs[ASSET]["contents"]
    ]
    with pytest.raises(GraphValidationError) as info:
        populated.upload_models([asset])
    assert [i.code for i in info.value.issues] == ["incompatibleModel"]
    assert "wrongTargetModel" in info.value.issues[0].message
    # a compatible replacement is taken, and the cached models follow
    more = dict(docs[SITE], contents=[*docs[SITE]["contents"], prop("country", "string")])
    assert populated.upload_models([more, docs[PUMP]]) == [SITE, PUMP]
    populated.patch_twin("s", [{"op": "add", "path": "/country", "value": "FR"}])
    assert [d["@id"] for d in populated.store.model_documents()] == [ASSET, PUMP, BIG_PUMP, MOTOR, SITE]


def test_apply_validates_a_whole_batch_with_models(store: MemoryStore) -> None:
    graph = TwinGraph(store)
    batch = Batch(
        models=documents(),
        twins=[pump("a"), pump("b"), site("s", city=3)],
        relationships=[rel("r", "a", "b"), rel("q", "a", "zz")],
    )
    assert rejected(graph.apply, batch) == [("invalidValue", 2), ("missingTwin", 4)]
    assert store.counts() == {"models": 0, "twins": 0, "relationships": 0}
    graph.apply(Batch(models=documents(), twins=[pump("a"), pump("b")], relationships=[rel("r", "a", "b")]))
    assert store.counts() == {"models": 5, "twins": 2, "relationships": 1}
    graph.apply(Batch(twins=[pump("a", speed=1)], relationships=[rel("r", "a", "b", flow=2.0)]))  # upserts
    assert store.get_twin("a") == pump("a", speed=1)
