"""A small DTDL model set for the graph tests, and a graph over the real memory store.

``Asset`` is the base (Object, Map, Enum and Array properties, a relationship to any twin);
``Pump`` extends it with a component (``Motor``) and ``feeds`` (target ``Pump``, at most 2, with a
property); ``BigPump`` extends ``Pump``; ``Site`` is unrelated to the others.
"""

from __future__ import annotations

from typing import Any

import pytest

from dtgraph.dtdl import ModelSet, parse
from dtgraph.graph.records import Relationship, Twin
from dtgraph.graph.service import TwinGraph
from dtgraph.stores.memory import MemoryStore

ASSET = "dtmi:test:Asset;1"
PUMP = "dtmi:test:Pump;1"
BIG_PUMP = "dtmi:test:BigPump;1"
MOTOR = "dtmi:test:Motor;1"
SITE = "dtmi:test:Site;1"


def interface(dtmi: str, *contents: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "@context": "dtmi:dtdl:context;3",
        "@id": dtmi,
        "@type": "Interface",
        "contents": list(contents),
        **extra,
    }


def prop(name: str, schema: Any, **extra: Any) -> dict[str, Any]:
    return {"@type": "Property", "name": name, "schema": schema, **extra}


MODE = {
    "@type": "Enum",
    "valueSchema": "string",
    "enumValues": [{"name": "auto", "enumValue": "auto"}, {"name": "manual", "enumValue": "manual"}],
}
STATUS = {
    "@type": "Enum",
    "valueSchema": "integer",
    "enumValues": [{"name": "off", "enumValue": 0}, {"name": "on", "enumValue": 1}],
}


def documents() -> list[dict[str, Any]]:
    return [
        interface(
            ASSET,
            prop("name", "string", writable=True),
            prop("tags", {"@type": "Array", "elementSchema": "string"}),
            prop(
                "config",
                {
                    "@type": "Object",
                    "fields": [{"name": "mode", "schema": MODE}, {"name": "threshold", "schema": "double"}],
                },
            ),
            prop(
                "limits",
                {
                    "@type": "Map",
                    "mapKey": {"name": "metric", "schema": "string"},
                    "mapValue": {"name": "limit", "schema": "integer"},
                },
            ),
            {"@type": "Relationship", "name": "relatedTo"},
            {"@type": "Relationship", "name": "locatedIn", "target": SITE},
        ),
        interface(
            PUMP,
            prop("speed", "integer"),
            prop("status", STATUS),
            {"@type": "Telemetry", "name": "vibration", "schema": "double"},
            {"@type": "Component", "name": "motor", "schema": MOTOR},
            {
                "@type": "Relationship",
                "name": "feeds",
                "target": PUMP,
                "maxMultiplicity": 2,
                "properties": [prop("flow", "double"), prop("since", "date")],
            },
            extends=ASSET,
        ),
        interface(BIG_PUMP, prop("stages", "integer"), extends=PUMP),
        interface(MOTOR, prop("rpm", "integer"), prop("serial", "string")),
        interface(SITE, prop("city", "string")),
    ]


def pump(twin_id: str, model: str = PUMP, **props: Any) -> Twin:
    return Twin(twin_id, model, {"motor": {"$metadata": {}}, **props})


def site(twin_id: str, **props: Any) -> Twin:
    return Twin(twin_id, SITE, props)


def rel(rel_id: str, source: str, target: str, name: str = "feeds", **props: Any) -> Relationship:
    return Relationship(rel_id, source, target, name, props)


@pytest.fixture(scope="session")
def models() -> ModelSet:
    return parse(documents())


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def graph(store: MemoryStore) -> TwinGraph:
    g = TwinGraph(store)
    g.upload_models(documents())
    return g
