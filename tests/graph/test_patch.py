"""JSON Patch updates of twins and relationships."""

from __future__ import annotations

from typing import Any

import pytest

from dtgraph.dtdl import ModelSet
from dtgraph.graph.errors import GraphValidationError
from dtgraph.graph.patch import apply_patch, patch_relationship, patch_twin
from dtgraph.graph.records import Twin
from tests.graph.conftest import PUMP, pump, rel


def issues_of(fn: Any, *args: Any) -> list[tuple[str, str]]:
    with pytest.raises(GraphValidationError) as info:
        fn(*args)
    return [(i.code, i.pointer) for i in info.value.issues]


def test_patches_apply_in_order_and_the_result_is_validated(models: ModelSet) -> None:
    twin = pump("p1", speed=10, config={"mode": "auto"})
    patched = patch_twin(
        twin,
        [
            {"op": "replace", "path": "/speed", "value": 20},
            {"op": "add", "path": "/config/threshold", "value": 0.5},
            {"op": "add", "path": "/motor/rpm", "value": 1450},
            {"op": "test", "path": "/motor/rpm", "value": 1450},
            {"op": "copy", "from": "/$dtId", "path": "/name"},
            {"op": "remove", "path": "/config/mode"},
        ],
        models,
    )
    assert patched == Twin(
        "p1",
        PUMP,
        {"speed": 20, "config": {"threshold": 0.5}, "motor": {"$metadata": {}, "rpm": 1450}, "name": "p1"},
    )
    assert twin.properties["config"] == {"mode": "auto"}  # the original is untouched


def test_patch_as_json_text(models: ModelSet) -> None:
    patched = patch_twin(pump("p1"), '[{"op": "add", "path": "/speed", "value": 3}]', models)
    assert patched.properties["speed"] == 3


def test_the_result_must_fit_the_model(models: ModelSet) -> None:
    twin = pump("p1", speed=10)
    assert issues_of(patch_twin, twin, [{"op": "replace", "path": "/speed", "value": "fast"}], models) == [
        ("invalidValue", "/speed")
    ]
    assert issues_of(patch_twin, twin, [{"op": "add", "path": "/bogus", "value": 1}], models) == [
        ("unknownProperty", "/bogus")
    ]
    assert issues_of(patch_twin, twin, [{"op": "remove", "path": "/motor"}], models) == [
        ("missingComponent", "/motor")
    ]


@pytest.mark.parametrize(
    ("patch", "pointer"),
    [
        ([{"op": "replace", "path": "/speed", "value": 1}, {"op": "jump", "path": "/speed"}], "/1"),  # bad op
        ([{"op": "add", "value": 1}], "/0"),  # no path
        ([{"op": "add", "path": "speed", "value": 1}], "/0"),  # not a pointer
        ([{"op": "replace", "path": "/name", "value": "x"}], "/0"),  # path not found
        ([{"op": "remove", "path": "/motor/rpm"}], "/0"),
        ([{"op": "add", "path": "/speed", "value": 1}, {"op": "test", "path": "/speed", "value": 2}], "/1"),
        ([{"op": "add", "path": "/speed"}], "/0"),  # no value
        ([{"op": "replace", "path": "/$dtId", "value": "p2"}], "/0"),  # may not change
        ([{"op": "replace", "path": "/$metadata/$model", "value": "dtmi:test:BigPump;1"}], "/0"),
        ([{"op": "remove", "path": "/$metadata"}], "/0"),
        ([{"op": "add", "path": "/$etag", "value": "x"}], "/0"),
        ([{"op": "replace", "path": "", "value": {}}], "/0"),
        ([{"op": "move", "from": "/$dtId", "path": "/name"}], "/0"),
        (["add"], "/0"),
    ],
)
def test_invalid_patches_point_at_the_operation(models: ModelSet, patch: Any, pointer: str) -> None:
    assert issues_of(patch_twin, pump("p1"), patch, models) == [("invalidPatch", pointer)]


def test_every_malformed_operation_is_reported_at_once() -> None:
    _, issues = apply_patch(
        {"a": 1}, [{"op": "nope", "path": "/a"}, {"op": "add", "path": "/b", "value": 1}, 3]
    )
    assert [i.pointer for i in issues] == ["/0", "/2"]
    assert "'nope'" in issues[0].message


@pytest.mark.parametrize("patch", [{"op": "add"}, "not json", 3])
def test_a_patch_is_an_array(patch: Any) -> None:
    result, issues = apply_patch({}, patch)
    assert result is None and [(i.code, i.pointer) for i in issues] == [("invalidPatch", "")]


def test_relationship_patches_change_only_properties(models: ModelSet) -> None:
    r = rel("r1", "a", "b", flow=1.0)
    patched = patch_relationship(r, [{"op": "replace", "path": "/flow", "value": 2.5}], models, PUMP)
    assert patched.properties == {"flow": 2.5} and patched.key == r.key and patched.target == "b"
    assert issues_of(
        patch_relationship, r, [{"op": "add", "path": "/since", "value": "soon"}], models, PUMP
    ) == [("invalidValue", "/since")]
    assert issues_of(
        patch_relationship, r, [{"op": "replace", "path": "/$targetId", "value": "c"}], models, PUMP
    ) == [("invalidPatch", "/0")]
    assert issues_of(patch_relationship, r, [], models, "dtmi:test:Site;1") == [
        ("unknownRelationship", "/$relationshipName")
    ]
