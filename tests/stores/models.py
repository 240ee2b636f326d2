"""The small DTDL model set the store tests use: a base, a subtype with a component, a sub-subtype, an
unrelated interface, and a relationship with a property of its own."""

from __future__ import annotations

from typing import Any

from dtgraph.graph.records import Relationship, Twin
from dtgraph.stores.base import Batch

CONTEXT = "dtmi:dtdl:context;3"
ASSET = "dtmi:test:Asset;1"
MACHINE = "dtmi:test:Machine;1"
PUMP = "dtmi:test:Pump;1"
NAMEPLATE = "dtmi:test:Nameplate;1"
LINE = "dtmi:test:Line;1"

MODELS: list[dict[str, Any]] = [
    {
        "@context": CONTEXT,
        "@id": ASSET,
        "@type": "Interface",
        "contents": [
            {"@type": "Property", "name": "name", "schema": "string"},
            {"@type": "Property", "name": "serial", "schema": "integer"},
            {
                "@type": "Relationship",
                "name": "feeds",
                "target": ASSET,
                "properties": [{"@type": "Property", "name": "rate", "schema": "double"}],
            },
            {"@type": "Relationship", "name": "partOf"},
        ],
    },
    {
        "@context": CONTEXT,
        "@id": MACHINE,
        "@type": "Interface",
        "extends": ASSET,
        "contents": [
            {"@type": "Property", "name": "temperature", "schema": "double"},
            {"@type": "Component", "name": "nameplate", "schema": NAMEPLATE},
        ],
    },
    {
        "@context": CONTEXT,
        "@id": PUMP,
        "@type": "Interface",
        "extends": [MACHINE],
        "contents": [{"@type": "Property", "name": "flow", "schema": "double"}],
    },
    {
        "@context": CONTEXT,
        "@id": NAMEPLATE,
        "@type": "Interface",
        "contents": [
            {"@type": "Property", "name": "manufacturer", "schema": "string"},
            {"@type": "Property", "name": "year", "schema": "integer"},
        ],
    },
    {
        "@context": CONTEXT,
        "@id": LINE,
        "@type": "Interface",
        "contents": [{"@type": "Property", "name": "name", "schema": "string"}],
    },
]


# A short history that touches every kind of change: models, new and replaced twins, relationships with
# and without properties, a retargeted relationship, a deleted twin taking its relationships along.
BATCHES = [
    Batch(models=MODELS),
    Batch(
        twins=[Twin("a", ASSET, {"name": "crane", "serial": 1}), Twin("m", MACHINE, {"temperature": 20.5})]
    ),
    Batch(
        twins=[Twin("p", PUMP, {"nameplate": {"$metadata": {}, "year": 2020}, "name": "é ünïcode"})],
        relationships=[
            Relationship("r1", "a", "m", "feeds", {"rate": 1.0}),
            Relationship("r2", "m", "p", "feeds"),
        ],
    ),
    Batch(
        twins=[Twin("a", ASSET, {"name": "crane 2"})], relationships=[Relationship("r1", "a", "p", "feeds")]
    ),
    Batch(
        delete_twins=["m"], twins=[Twin("x", ASSET)], relationships=[Relationship("back", "p", "a", "partOf")]
    ),
]
