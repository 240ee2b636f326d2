"""Records from JSON objects: ``take_json`` (which takes a parsed object's members) gives what
``from_json`` gives, and refuses what it refuses with the same message."""

from __future__ import annotations

import copy
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from dtgraph.graph.records import RecordError, Relationship, Twin

_MEMBERS = ["$dtId", "$metadata", "$sourceId", "$relationshipId", "$targetId", "$relationshipName"]
_KEYS = st.sampled_from([*_MEMBERS, "$etag", "a", "b", "", " x", "!", "%", "#b", "~"])
_VALUES = st.one_of(
    st.none(),
    st.integers(-2, 2),
    st.sampled_from(["", "t1", "t2"]),
    st.fixed_dictionaries({}, optional={"$model": st.sampled_from(["", "dtmi:x;1", 3])}),
    st.lists(st.integers(), max_size=2),
)
_EXTRAS = st.dictionaries(_KEYS, _VALUES, max_size=6)
_TWINS = st.builds(  # mostly sound members, so that the properties are compared too
    lambda extra, sound: {**extra, **sound},
    _EXTRAS,
    st.fixed_dictionaries({"$dtId": st.just("t1"), "$metadata": st.just({"$model": "dtmi:x;1"})})
    | st.just({}),
)
_RELATIONSHIPS = st.builds(
    lambda extra, sound: {**extra, **sound},
    _EXTRAS,
    st.fixed_dictionaries(
        {"$relationshipId": st.just("r"), "$targetId": st.just("t2"), "$relationshipName": st.just("n")},
        optional={"$dtId": st.just("t1"), "$sourceId": st.sampled_from(["t1", None])},
    )
    | st.just({}),
)


def _outcome(decode: Callable[[dict[str, Any]], Any], obj: dict[str, Any]) -> Any:
    try:
        return decode(obj)
    except RecordError as exc:
        return f"RecordError: {exc}"


@given(case=st.one_of(_TWINS.map(lambda o: (Twin, o)), _RELATIONSHIPS.map(lambda o: (Relationship, o))))
def test_take_json_decodes_a_record_as_from_json_does(
    case: tuple[type[Twin | Relationship], dict[str, Any]],
) -> None:
    kind, obj = case
    expected = _outcome(kind.from_json, obj)
    got = _outcome(kind.take_json, copy.deepcopy(obj))
    assert got == expected
    if isinstance(got, kind):
        assert list(got.properties) == list(expected.properties)  # the file's order too


def test_taken_properties_are_read_only() -> None:
    twin = Twin.take_json({"$dtId": "t", "$metadata": {"$model": "dtmi:x;1"}, "a": 1})
    assert twin == Twin("t", "dtmi:x;1", {"a": 1})
    try:
        twin.properties["a"] = 2  # type: ignore[index]
    except TypeError:
        pass
    else:
        raise AssertionError("the properties of a record were writable")


def test_a_record_over_a_view_is_the_record_the_constructor_makes() -> None:
    twin = Twin.over("t", "dtmi:x;1", MappingProxyType({"a": 1}))
    assert twin == Twin("t", "dtmi:x;1", {"a": 1})
    assert hash(twin.id) == hash("t") and twin.properties["a"] == 1
    rel = Relationship.over("r", "s", "t", "n", MappingProxyType({"w": 2.0}))
    assert rel == Relationship("r", "s", "t", "n", {"w": 2.0})
    assert rel.key == ("s", "r")
