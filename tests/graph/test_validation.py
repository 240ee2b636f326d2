"""Validation of twins, relationships and batches against the models and the graph."""

from __future__ import annotations

import base64
import binascii
import math
import re
from datetime import date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dtgraph.dtdl import ModelSet, parse
from dtgraph.graph.records import Relationship, Twin
from dtgraph.graph.validation import (
    RecordLookup,
    _check_members,
    _members_valid,
    check_batch,
    coerce_relationships,
    coerce_twins,
    pointer,
    relationship_issues,
    twin_issues,
    validate_batch,
    value_issues,
)
from dtgraph.stores.base import Batch
from dtgraph.stores.memory import MemoryStore
from tests.graph.conftest import ASSET, BIG_PUMP, PUMP, SITE, interface, prop, pump, rel, site


def found(issues: list[Any]) -> set[tuple[str, str]]:
    return {(i.code, i.pointer) for i in issues}


# --- twins ----------------------------------------------------------------------------------------


def test_a_valid_twin_with_every_kind_of_schema_passes(models: ModelSet) -> None:
    twin = pump(
        "p1",
        name="P-1",  # inherited from Asset
        tags=["a", "b"],
        config={"mode": "auto", "threshold": 2.5},
        limits={"temp": 80, "pressure": 3},
        speed=1200,
        status=1,
        motor={"$metadata": {}, "rpm": 1450, "serial": "M-9"},
    )
    assert twin_issues(twin, models) == []


def test_every_bad_value_is_reported_with_a_pointer_into_the_record(models: ModelSet) -> None:
    twin = pump(
        "p1",
        tags=["a", 2],
        config={"mode": "fast", "extra": 1},
        limits={"temp": 1.5},
        speed=2**31,
        status=2,
        motor={"$metadata": {}, "rpm": "fast"},
    )
    issues = twin_issues(twin, models, record=4)
    assert found(issues) == {
        ("invalidValue", "/tags/1"),
        ("invalidValue", "/config"),  # the unexpected 'extra'
        ("invalidValue", "/config/mode"),
        ("invalidValue", "/limits/temp"),
        ("invalidValue", "/speed"),
        ("invalidValue", "/status"),
        ("invalidValue", "/motor/rpm"),
    }
    assert {i.record for i in issues} == {4}
    speed = next(i for i in issues if i.pointer == "/speed")
    assert "twin 'p1'" in speed.message and str(2**31) in speed.message


def test_pointers_escape_slash_and_tilde(models: ModelSet) -> None:
    issues = twin_issues(pump("p1", limits={"a/b~c": "x"}), models)
    assert found(issues) == {("invalidValue", "/limits/a~1b~0c")}
    assert pointer("a/b", 0, "~") == "/a~1b/0/~0"


def test_unknown_model(models: ModelSet) -> None:
    issues = twin_issues(Twin("x", "dtmi:test:Nope;1", {"a": 1}), models)
    assert found(issues) == {("unknownModel", "/$metadata/$model")}


def test_members_that_are_not_stored_properties_are_rejected(models: ModelSet) -> None:
    twin = pump("p1", bogus=1, vibration=0.5, feeds=[], motor={"$metadata": {}, "torque": 3})
    assert found(twin_issues(twin, models)) == {
        ("unknownProperty", "/bogus"),
        ("unknownProperty", "/vibration"),  # telemetry
        ("unknownProperty", "/feeds"),  # a relationship
        ("unknownProperty", "/motor/torque"),
    }
    assert found(twin_issues(site("s1", name="inherited only by assets"), models)) == {
        ("unknownProperty", "/name")
    }


def test_components_must_be_present_and_well_formed(models: ModelSet) -> None:
    assert found(twin_issues(Twin("p1", PUMP, {}), models)) == {("missingComponent", "/motor")}
    assert found(twin_issues(Twin("p1", PUMP, {"motor": 3}), models)) == {("invalidValue", "/motor")}
    assert found(twin_issues(Twin("p1", PUMP, {"motor": {"rpm": 1}}), models)) == {
        ("invalidValue", "/motor/$metadata")
    }
    assert twin_issues(Twin("p1", BIG_PUMP, {"motor": {"$metadata": {}}, "stages": 3}), models) == []


def test_records_from_json(models: ModelSet) -> None:
    twins, issues = coerce_twins(
        [pump("a"), {"$dtId": "b", "$metadata": {"$model": SITE}}, {"$dtId": "c"}, 3]  # type: ignore[list-item]
    )
    assert [t.id for t in twins] == ["a", "b"]
    assert [(i.code, i.record) for i in issues] == [("invalidRecord", 2), ("invalidRecord", 3)]
    rels, issues = coerce_relationships([{"$relationshipId": "r"}], first_record=5)
    assert rels == [] and [(i.code, i.record) for i in issues] == [("invalidRecord", 5)]


# --- relationships --------------------------------------------------------------------------------


def test_relationship_rules(models: ModelSet) -> None:
    a, b, big, s = pump("a"), pump("b"), pump("big", BIG_PUMP), site("s")
    assert relationship_issues(rel("r", "a", "b", flow=1.5, since="2024-02-29"), a, b, models) == []
    assert relationship_issues(rel("r", "a", "big"), a, big, models) == []  # a subtype of the target
    assert relationship_issues(rel("r", "a", "s", "relatedTo"), a, s, models) == []  # no target: any
    assert relationship_issues(rel("r", "a", "s", "locatedIn"), a, s, models) == []  # inherited

    def codes(r: Relationship, source: Twin | None, target: Twin | None) -> set[tuple[str, str]]:
        return found(relationship_issues(r, source, target, models))

    assert codes(rel("r", "a", "s"), a, s) == {("wrongTargetModel", "/$targetId")}
    assert codes(rel("r", "a", "b", "drives"), a, b) == {("unknownRelationship", "/$relationshipName")}
    assert codes(rel("r", "s", "a"), s, a) == {("unknownRelationship", "/$relationshipName")}
    assert codes(rel("r", "a", "b"), a, None) == {("missingTwin", "/$targetId")}
    assert codes(rel("r", "a", "b"), None, b) == {("missingTwin", "/$sourceId")}
    assert codes(rel("r", "a", "b", flow="x", since="2023-02-29", extra=1), a, b) == {
        ("invalidValue", "/flow"),
        ("invalidValue", "/since"),  # not a day of the calendar
        ("unknownProperty", "/extra"),
    }


# --- batches --------------------------------------------------------------------------------------


class CountingStore(MemoryStore):
    """A real memory store that counts the lookups validation makes."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def get_twins(self, ids: Any) -> dict[str, Twin]:
        self.calls.append("get_twins")
        return super().get_twins(ids)

    def get_relationships(self, keys: Any) -> dict[Any, Relationship]:
        self.calls.append("get_relationships")
        return super().get_relationships(keys)

    def relationships(self, twin_ids: Any, *, name: Any = None, direction: Any = "out") -> Any:
        self.calls.append("relationships")
        return super().relationships(twin_ids, name=name, direction=direction)


def test_twins_and_relationships_created_together(models: ModelSet) -> None:
    batch = Batch(
        twins=[pump("a"), pump("b"), site("s")], relationships=[rel("r1", "a", "b"), rel("r2", "a", "s")]
    )
    issues = validate_batch(batch, models, RecordLookup())
    assert [(i.code, i.pointer, i.record) for i in issues] == [("wrongTargetModel", "/$targetId", 4)]


def test_lookups_are_batched_whatever_the_number_of_records(models: ModelSet) -> None:
    for n in (3, 300):
        store = CountingStore()
        store.apply(Batch(twins=[pump(f"p{i}") for i in range(n)]))
        rels = [rel(f"r{i}", f"p{i}", f"p{(i + 1) % n}") for i in range(n)]
        store.calls.clear()
        assert validate_batch(Batch(relationships=rels), models, store, existing="new") == []
        assert sorted(store.calls) == ["get_relationships", "get_twins", "relationships"]


def test_max_multiplicity_counts_stored_and_batch_relationships(models: ModelSet) -> None:
    store = MemoryStore()
    store.apply(Batch(twins=[pump(t) for t in "abcde"], relationships=[rel("r1", "a", "b")]))
    ok = Batch(relationships=[rel("r2", "a", "c"), rel("r1", "a", "d")])  # r1 replaced: still 2
    assert validate_batch(ok, models, store) == []
    too_many = Batch(
        relationships=[rel("r2", "a", "c"), rel("r3", "a", "d"), rel("x", "a", "s", "relatedTo")]
    )
    issues = validate_batch(too_many, models, store)
    assert [(i.code, i.record) for i in issues] == [("missingTwin", 2), ("tooManyRelationships", 1)]
    assert "3 'feeds'" in issues[1].message and "at most 2" in issues[1].message
    freed = Batch(
        relationships=[rel("r2", "a", "c"), rel("r3", "a", "d")], delete_relationships=[("a", "r1")]
    )
    assert validate_batch(freed, models, store) == []
    cascaded = Batch(relationships=[rel("r2", "a", "c"), rel("r3", "a", "d")], delete_twins=["b"])
    assert validate_batch(cascaded, models, store) == []


def test_duplicates_conflicts_and_existence(models: ModelSet) -> None:
    store = MemoryStore()
    store.apply(Batch(twins=[pump("a"), pump("b")], relationships=[rel("r1", "a", "b")]))
    batch = Batch(
        twins=[pump("a"), pump("c"), pump("c")],
        relationships=[rel("r1", "a", "b"), rel("r1", "a", "c"), rel("r5", "a", "c")],
        delete_twins=["c", "zz"],
        delete_relationships=[("a", "nope")],
    )
    issues = validate_batch(batch, models, store, existing="new")
    assert sorted((i.code, i.record) for i in issues if i.record is not None) == [
        ("conflictingChange", 1),  # c is written and deleted
        ("duplicateRelationship", 3),  # exists already
        ("duplicateRelationship", 4),  # twice in the batch
        ("duplicateTwin", 0),  # exists already
        ("duplicateTwin", 2),  # twice in the batch
        ("missingTwin", 5),  # its target is deleted
    ]
    assert sorted(i.code for i in issues if i.record is None) == [
        "missingRelationship",
        "missingTwin",
        "missingTwin",
    ]
    replace = validate_batch(Batch(twins=[pump("x")]), models, store, existing="existing")
    assert found(replace) == {("missingTwin", "/$dtId")}


def test_changing_a_twins_model_rechecks_its_relationships(models: ModelSet) -> None:
    store = MemoryStore()
    store.apply(Batch(twins=[pump("a"), pump("b"), site("s")], relationships=[rel("r1", "a", "b")]))
    own, others = check_batch(Batch(twins=[Twin("b", ASSET, {})]), models, store)
    assert own == []
    assert [(i.code, i.pointer) for i in others] == [("wrongTargetModel", "/$targetId")]
    assert others[0].message.startswith("existing relationship 'r1' of twin 'a'")
    _, others = check_batch(Batch(twins=[Twin("a", ASSET, {})]), models, store)
    assert [i.code for i in others] == ["unknownRelationship"]  # Asset has no 'feeds'
    _, others = check_batch(Batch(twins=[Twin("b", BIG_PUMP, {"motor": {"$metadata": {}}})]), models, store)
    assert others == []


# --- values: the JSON Schema path against a plain reference ---------------------------------------

INTEGERS = {
    "byte": 7,
    "short": 15,
    "integer": 31,
    "long": 63,
}
UNSIGNED = {"unsignedByte": 8, "unsignedShort": 16, "unsignedInteger": 32, "unsignedLong": 64}
STRINGS = ["string", "decimal", "bytes", "uuid", "date", "dateTime", "time", "duration"]
PRIMITIVES = ["boolean", "double", "float", *INTEGERS, *UNSIGNED, *STRINGS]


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _time_ok(s: str) -> bool:
    m = re.fullmatch(r"([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?(Z|[+-]([0-9]{2}):([0-9]{2}))", s)
    if m is None or int(m[1]) > 23 or int(m[2]) > 59 or int(m[3]) > 59:
        return False
    return m[5] == "Z" or (int(m[6]) <= 23 and int(m[7]) <= 59)


def _date_ok(s: str) -> bool:
    if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", s) is None:
        return False
    try:
        date(int(s[:4]), int(s[5:7]), int(s[8:]))
    except ValueError:
        return False
    return True


def _duration_ok(s: str) -> bool:
    if not s.startswith("P") or s == "P":
        return False
    date_part, t, time_part = s[1:].partition("T")
    if t and not time_part:
        return False

    def units(text: str, allowed: str) -> bool:
        number = ""
        for c in text:
            if c in "0123456789.":
                number += c
            elif c in allowed and re.fullmatch(r"[0-9]+(\.[0-9]+)?", number):
                allowed = allowed[allowed.index(c) + 1 :]
                number = ""
            else:
                return False
        return number == ""

    return units(date_part, "YMWD") and units(time_part, "HMS")


def reference(kind: str, v: Any) -> bool:
    """Whether ``v`` is a value of the DTDL primitive ``kind``, written out plainly."""
    if kind == "boolean":
        return isinstance(v, bool)
    if kind in ("double", "float"):
        return _is_number(v)
    if kind in INTEGERS or kind in UNSIGNED:
        if not _is_number(v) or v != int(v):
            return False
        lo, hi = (
            (-(2 ** INTEGERS[kind]), 2 ** INTEGERS[kind] - 1)
            if kind in INTEGERS
            else (0, 2 ** UNSIGNED[kind] - 1)
        )
        return bool(lo <= int(v) <= hi)
    if not isinstance(v, str):
        return False
    if kind == "string":
        return True
    if kind == "decimal":
        return re.fullmatch(r"[+-]?(0|[1-9][0-9]*)(\.[0-9]*)?", v) is not None
    if kind == "bytes":
        try:
            base64.b64decode(v, validate=True)
        except (binascii.Error, ValueError):
            return False
        return len(v) % 4 == 0
    if kind == "uuid":
        return re.fullmatch(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", v) is not None
    if kind == "date":
        return _date_ok(v)
    if kind == "time":
        return _time_ok(v)
    if kind == "dateTime":
        day, t, clock = v.partition("T")
        return bool(t) and _date_ok(day) and _time_ok(clock)
    assert kind == "duration"
    return _duration_ok(v)


@pytest.fixture(scope="module")
def primitives() -> ModelSet:
    # DTDL v4 has every primitive schema
    values = interface(
        "dtmi:test:Values;1", *(prop(k, k) for k in PRIMITIVES), **{"@context": "dtmi:dtdl:context;4"}
    )
    return parse([values])


NEAR_MISSES = st.sampled_from(
    [
        "2024-02-29",
        "2023-02-29",
        "2024-13-01",
        "\uff12\uff10\uff12\uff14-01-01",
        "2024-01-01\n",
        "12:30:00Z",
        "24:00:00Z",
        "12:60:00+01:00",
        "12:30:00.5+23:59",
        "12:30:00+24:00",
        "2024-01-01T12:30:00Z",
        "2024-01-01T25:30:00Z",
        "2024-01-01 12:30:00Z",
        "P1Y2M3W4DT5H6M7.5S",
        "PT",
        "P",
        "P1YT",
        "P\u0661Y",
        "PT1S\n",
        "P1D2Y",
        "AAAA",
        "AB==",
        "ABC=",
        "A===",
        "AAA",
        "AAAA\n",
        "12345678-1234-1234-1234-123456789abc",
        "12345678-1234-1234-1234-123456789abcd",
        "0",
        "-0.50",
        "01",
        "1.",
        ".5",
        "+1e5",
    ]
)
VALUES = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**65), max_value=2**65),
    st.sampled_from([2**7, 2**8, 2**15, 2**16, 2**31, 2**32, 2**63, 2**64, -(2**63) - 1, 3.0, -0.0, 1e20]),
    st.floats(),
    st.text(max_size=12),
    st.from_regex(
        r"[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2}))?\n?",
        fullmatch=True,
    ),
    st.from_regex(r"[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,3})?(Z|[+-][0-9]{2}:[0-9]{2})", fullmatch=True),
    st.from_regex(r"P([0-9]Y)?([0-9]M)?([0-9]D)?(T([0-9]H)?([0-9]M)?([0-9](\.[0-9])?S)?)?", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9+/=]{0,9}", fullmatch=True),
    st.from_regex(r"[+-]?[0-9]{0,3}(\.[0-9]{0,2})?", fullmatch=True),
    NEAR_MISSES,
    st.none(),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)


@settings(max_examples=600, deadline=None)
@given(kind=st.sampled_from(PRIMITIVES), value=VALUES)
def test_property_values_are_accepted_iff_the_reference_accepts_them(
    primitives: ModelSet, kind: str, value: Any
) -> None:
    twin = Twin("t", "dtmi:test:Values;1", {kind: value})
    issues = twin_issues(twin, primitives)
    assert (issues == []) == reference(kind, value), (kind, value, issues)


def test_the_reference_agrees_with_python_on_real_dates_and_times() -> None:
    assert reference("dateTime", "2024-02-29T23:59:59.999+05:30")
    assert datetime.fromisoformat("2024-02-29T23:59:59.999+05:30")
    assert not reference("dateTime", "2024-02-30T00:00:00Z")


# --- fast paths against the full checks -------------------------------------------------------------

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
_NAMES = st.sampled_from(
    [
        "name",
        "tags",
        "config",
        "limits",
        "speed",
        "status",
        "stages",
        "vibration",
        "motor",
        "feeds",
        "$x",
        "nope",
    ]
)
_PLAUSIBLE = {
    "name": st.text(max_size=5) | _JSON,
    "tags": st.lists(st.text(max_size=3), max_size=3) | _JSON,
    "config": st.fixed_dictionaries(
        {}, optional={"mode": st.sampled_from(["auto", "manual", "x"]), "threshold": st.floats()}
    )
    | _JSON,
    "limits": st.dictionaries(st.text(max_size=3), st.integers(-(2**33), 2**33), max_size=3) | _JSON,
    "speed": st.integers(-(2**33), 2**33) | st.floats(allow_nan=False) | _JSON,
    "status": st.sampled_from([0, 1, 2, True, "on"]),
    "stages": st.integers(-5, 5) | _JSON,
    "motor": st.fixed_dictionaries(
        {}, optional={"$metadata": st.just({}) | _JSON, "rpm": st.integers(-9, 9) | _JSON, "x": _JSON}
    )
    | _JSON,
}


@st.composite
def _twin_values(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(_NAMES, max_size=6, unique=True))
    return {n: draw(_PLAUSIBLE.get(n, _JSON)) for n in names}


@settings(max_examples=400, deadline=None)
@given(model=st.sampled_from([ASSET, PUMP, BIG_PUMP, SITE]), values=_twin_values())
def test_the_fast_twin_check_agrees_with_the_full_check(
    models: ModelSet, model: str, values: dict[str, Any]
) -> None:
    iface = models.interfaces[model]
    full: list[Any] = []
    _check_members(values, iface, models, "", "twin 't'", None, full, top=True)
    assert _members_valid(values, iface, models, top=True) == (not full)
    assert (twin_issues(Twin("t", model, values), models) == []) == (not full)


@settings(max_examples=300, deadline=None)
@given(
    values=st.dictionaries(
        st.sampled_from(["flow", "since", "other", "$x"]),
        st.floats(allow_nan=False) | st.sampled_from(["2024-02-29", "2023-02-29", "x"]) | _JSON,
        max_size=3,
    ),
    target=st.sampled_from([PUMP, BIG_PUMP, SITE, ASSET]),
)
def test_the_fast_relationship_check_agrees_with_the_full_check(
    models: ModelSet, values: dict[str, Any], target: str
) -> None:
    relationship = rel("r", "a", "b", **values)
    source, end = Twin("a", PUMP), Twin("b", target)
    issues = relationship_issues(relationship, source, end, models)
    definition = models.interfaces[PUMP].relationships["feeds"]
    expect_ok = models.is_a(target, PUMP) and not [n for n in values if n not in ("flow", "since")]
    if expect_ok:
        expect_ok = all(
            not value_issues(v, p.schema)
            for p in definition.properties
            for n, v in values.items()
            if n == p.name
        )
    assert (issues == []) == expect_ok
