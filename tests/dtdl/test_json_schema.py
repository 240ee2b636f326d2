"""Compiled value checks: the fast plain-Python predicate agrees with jsonschema on every value."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dtgraph.dtdl import Schema, parse
from dtgraph.dtdl.json_schema import fast_check, slow_value_issues, value_issues

PRIMITIVES = [
    "boolean",
    "byte",
    "bytes",
    "date",
    "dateTime",
    "decimal",
    "double",
    "duration",
    "float",
    "integer",
    "long",
    "short",
    "string",
    "time",
    "unsignedByte",
    "unsignedInteger",
    "unsignedLong",
    "unsignedShort",
    "uuid",
    "point",
    "polygon",
    "scaledDecimal",
]

schemas = st.recursive(
    st.sampled_from(PRIMITIVES),
    lambda inner: st.one_of(
        st.builds(lambda e: {"@type": "Array", "elementSchema": e}, inner),
        st.builds(
            lambda v: {
                "@type": "Map",
                "mapKey": {"name": "k", "schema": "string"},
                "mapValue": {"name": "v", "schema": v},
            },
            inner,
        ),
        st.builds(
            lambda fs: {
                "@type": "Object",
                "fields": [{"name": f"f{i}", "schema": s} for i, s in enumerate(fs)],
            },
            st.lists(inner, min_size=1, max_size=3),
        ),
        st.builds(
            lambda n: {
                "@type": "Enum",
                "valueSchema": "integer",
                "enumValues": [{"name": f"e{i}", "enumValue": i} for i in range(n)],
            },
            st.integers(1, 3),
        ),
        st.just(
            {
                "@type": "Enum",
                "valueSchema": "string",
                "enumValues": [{"name": "on", "enumValue": "ON"}, {"name": "off", "enumValue": "OFF"}],
            }
        ),
    ),
    max_leaves=5,
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**65), 2**65),
    st.floats(),
    st.text(max_size=8),
    st.sampled_from(
        [
            "2024-02-29",
            "2023-02-29",
            "12:00:00Z",
            "24:00:00Z",
            "2024-01-01T10:00:00+01:00",
            "P1Y2M",
            "P",
            "AAAA",
            "AAAA\n",
            "1.50",
            "01",
            "ON",
            "OFF",
            "0f8fad5b-d9cb-469f-a165-70867728950e",
            "Point",
            "Polygon",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(
            st.sampled_from(["f0", "f1", "f2", "k", "type", "coordinates", "scale", "value"]),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=8,
)


def schema_of(definition: Any) -> Schema:
    doc = {
        "@context": "dtmi:dtdl:context;4",
        "@id": "dtmi:ex:s;1",
        "@type": "Interface",
        "contents": [{"@type": "Property", "name": "p", "schema": definition}],
    }
    schema = parse([doc]).interfaces["dtmi:ex:s;1"].properties["p"].schema
    assert schema is not None
    return schema


@settings(max_examples=400, deadline=None)
@given(schemas, values)
def test_fast_check_agrees_with_jsonschema(definition: Any, value: Any) -> None:
    schema = schema_of(definition)
    check = fast_check(schema)
    assert check is not None, "every schema DTDL can express has a fast check"
    assert check(value) == (slow_value_issues(value, schema) == [])
    assert value_issues(value, schema) == slow_value_issues(value, schema)


def test_points_locate_the_bad_part() -> None:
    schema = schema_of(
        {
            "@type": "Object",
            "fields": [{"name": "a", "schema": {"@type": "Array", "elementSchema": "integer"}}],
        }
    )
    assert [p for p, _ in value_issues({"a": [1, "x"]}, schema)] == ["/a/1"]
