"""Name mangling from DTMIs (the rules of dtgraph/api/names.py) and the typed schema of odd models."""

from __future__ import annotations

from typing import Any

from dtgraph.api import build_schema
from dtgraph.api.names import Names, enum_value_name, field_name, qualified_name, short_name
from dtgraph.dtdl import parse


def iface(dtmi: str, *contents: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "@context": "dtmi:dtdl:context;4",
        "@id": dtmi,
        "@type": "Interface",
        "contents": list(contents),
        **extra,
    }


def test_short_and_qualified_names() -> None:
    assert short_name("dtmi:dtgraph:Machine;1") == "Machine"
    assert short_name("dtmi:com:example:pump;2") == "Pump"
    assert qualified_name("dtmi:dtgraph:Machine;1") == "Dtgraph_Machine_1"
    assert qualified_name("dtmi:com:example:Pump;1.2") == "Com_example_Pump_1_2"


def test_model_names_are_unique_and_order_free() -> None:
    dtmis = ["dtmi:a:Pump;1", "dtmi:b:Pump;1", "dtmi:a:Valve;1", "dtmi:a:Twin;1", "dtmi:a:Pump;2"]
    names = Names({"Twin"}).models(dtmis)
    assert names == {
        "dtmi:a:Pump;1": "A_Pump_1",
        "dtmi:a:Pump;2": "A_Pump_2",
        "dtmi:b:Pump;1": "B_Pump_1",
        "dtmi:a:Valve;1": "Valve",
        "dtmi:a:Twin;1": "A_Twin_1",
    }
    assert Names({"Twin"}).models(reversed(dtmis)) == names
    taken = Names({"A_Pump_1"})
    assert taken.claim("A_Pump_1") == "A_Pump_1_2" and taken.claim("A_Pump_1") == "A_Pump_1_3"


def test_field_names() -> None:
    assert field_name("temperature") == "temperature"
    assert field_name("model") == "model_" and field_name("id") == "id_" and field_name("asOf") == "asOf_"
    assert field_name("__schema", ()) == "_schema"
    assert field_name("9lives", ()) == "_9lives"
    assert field_name("a-b c", ()) == "a_b_c"
    assert enum_value_name("true") == "true_" and enum_value_name("on") == "on"


def test_reserved_and_clashing_names_in_a_schema() -> None:
    models = parse(
        [
            iface(
                "dtmi:x:Twin;1",
                {"@type": "Property", "name": "model", "schema": "string"},
                {"@type": "Property", "name": "id", "schema": "long"},
                {"@type": "Property", "name": "big", "schema": "unsignedLong"},
                {"@type": "Property", "name": "amount", "schema": "decimal"},
                {
                    "@type": "Property",
                    "name": "flag",
                    "schema": {
                        "@type": "Enum",
                        "valueSchema": "string",
                        "enumValues": [
                            {"name": "true", "enumValue": "yes"},
                            {"name": "null", "enumValue": "none"},
                        ],
                    },
                },
            ),
            iface("dtmi:y:Thing;1"),
            iface("dtmi:z:Thing;1"),
            iface("dtmi:z:Thing;2", extends="dtmi:z:Thing;1"),
        ]
    )
    sdl = build_schema(models).as_str()
    assert "type X_Twin_1 implements Twin" in sdl
    assert "model_: String" in sdl and "id_: Long" in sdl and "big: Long" in sdl and "amount: String" in sdl
    assert "enum X_Twin_1_flag {\n  true_\n  null_\n}" in sdl
    assert "type Y_Thing_1 implements Twin" in sdl
    assert "type Z_Thing_2 implements Twin & Z_Thing_1Interface" in sdl
    assert "x_Twin_1s(" in sdl and "z_Thing_1s(where" not in sdl  # no filterable property: no `where`


def test_alias_limit_counts_aliases_in_fragments() -> None:
    import asyncio

    from dtgraph.api import ApiConfig
    from tests.graph.conftest import documents

    schema = build_schema(parse(documents()), ApiConfig(max_aliases=3))
    query = """query { ...F ...F } fragment F on Query { a: models { id } b: models { id } }"""
    result = asyncio.run(schema.execute(query))
    assert result.errors and "aliases" in result.errors[0].message
    assert result.errors[0].extensions["code"] == "GRAPHQL_VALIDATION_FAILED"
