"""A user model that does not extend the library, its cascade configuration, and a plant built from it.

``acme`` models: ``Station`` (its own names for buffer, recovery, gate, required inputs, probability),
``FastStation`` extends it, ``Feeder`` (a utility), ``Sku`` (a product, revenue per hour ``earningsPerHour``),
``Contract`` (an order, ``worth`` and ``client``). Relationships ``fedBy`` (material, reverse, with
``transitHours`` and ``linkRisk``), ``poweredBy`` (utility, reverse), ``madeAt`` and ``covers`` (supply,
reverse), ``inCell`` (hierarchy: a ``Cell`` counts as a Line), ``locatedIn`` (not declared: carries nothing).

The plant, with answers known by hand when ``feeder`` fails at hour 0:

- chain: ``s1`` poweredBy feeder (down at 0), ``s2`` fedBy s1 with transit 2 (down at 2), ``s3`` fedBy s2
  with transit 1 and 5 h of WIP (down at 2 + 1 + 5 = 8), ``sku`` madeAt s3 (8), ``contract`` covers sku (8);
  s1 to s3 are in ``cell``, degraded from 0 and stopped at 8 when its last station s3 stops;
- gates: ``c`` (any) is fed by ``a`` and ``b``; ``d`` (kOfN, needs 2) by ``a``, ``b`` and ``e``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from dtgraph.graph.service import TwinGraph
from dtgraph.stores.base import Store
from tests.conftest import empty_store
from tests.graph.conftest import interface

STATION = "dtmi:acme:Station;1"
FAST = "dtmi:acme:FastStation;1"
FEEDER = "dtmi:acme:Feeder;1"
CELL = "dtmi:acme:Cell;1"
SKU = "dtmi:acme:Sku;1"
CONTRACT = "dtmi:acme:Contract;1"


def _prop(name: str, schema: Any) -> dict[str, Any]:
    return {"@type": "Property", "name": name, "schema": schema, "writable": True}


def _rel(name: str, target: str, *props: dict[str, Any]) -> dict[str, Any]:
    return {"@type": "Relationship", "name": name, "target": target, "properties": list(props)}


GATE = {
    "@type": "Enum",
    "valueSchema": "string",
    "enumValues": [{"name": n, "enumValue": n} for n in ("all", "any", "kOfN")],
}

DOCUMENTS = [
    interface(FEEDER, _prop("label", "string")),
    interface(CELL, _prop("label", "string")),
    interface(
        STATION,
        _prop("wipHours", "double"),
        _prop("mttrHours", "double"),
        _prop("pFail", "double"),
        _prop("redundancy", GATE),
        _prop("needs", "integer"),
        _prop("label", "string"),
        _rel("fedBy", STATION, _prop("transitHours", "double"), _prop("linkRisk", "double")),
        _rel("poweredBy", FEEDER),
        _rel("locatedIn", FEEDER),
        {"@type": "Relationship", "name": "inCell", "target": CELL, "maxMultiplicity": 1},
    ),
    interface(FAST, _prop("speed", "double"), extends=STATION),
    interface(SKU, _prop("earningsPerHour", "double"), _rel("madeAt", STATION)),
    interface(CONTRACT, _prop("worth", "double"), _prop("client", "string"), _rel("covers", SKU)),
]

CONFIG = f"""\
# failure semantics of the acme models
[[relationship]]
interface = "{STATION}"
name = "fedBy"
direction = "reverse"
kind = "material"
leadTimeHours = "transitHours"
failureProbability = "linkRisk"

[[relationship]]
interface = "{STATION}"
name = "poweredBy"
direction = "reverse"
kind = "utility"

[[relationship]]
interface = "{SKU}"
name = "madeAt"
direction = "reverse"
kind = "supply"

[[relationship]]
interface = "{CONTRACT}"
name = "covers"
direction = "reverse"
kind = "supply"

[[interface]]
id = "{STATION}"
category = "Machine"
bufferHours = "wipHours"
recoveryHours = "mttrHours"
failureProbability = "pFail"
inputGate = "redundancy"
requiredInputs = "needs"

[[interface]]
id = "{SKU}"
category = "Product"
revenuePerHour = "earningsPerHour"

[[interface]]
id = "{CONTRACT}"
category = "CustomerOrder"
orderValue = "worth"
customer = "client"

[[relationship]]
interface = "{STATION}"
name = "inCell"
direction = "reverse"
kind = "hierarchy"

[[interface]]
id = "{CELL}"
category = "Line"
"""


def _twin(twin_id: str, model: str, **props: Any) -> dict[str, Any]:
    return {"$dtId": twin_id, "$metadata": {"$model": model}, **props}


def _edge(source: str, name: str, target: str, **props: Any) -> dict[str, Any]:
    return {
        "$relationshipId": f"{source}-{name}-{target}",
        "$sourceId": source,
        "$targetId": target,
        "$relationshipName": name,
        **props,
    }


TWINS = [
    _twin("feeder", FEEDER),
    _twin("cell", CELL),
    _twin("s1", STATION, mttrHours=4.0, pFail=0.1),
    _twin("s2", FAST, speed=2.0),
    _twin("s3", STATION, wipHours=5.0),
    _twin("sku", SKU, earningsPerHour=10.0),
    _twin("contract", CONTRACT, worth=1000.0, client="Globex"),
    _twin("a", STATION),
    _twin("b", FAST),
    _twin("e", STATION),
    _twin("c", STATION, redundancy="any"),
    _twin("d", STATION, redundancy="kOfN", needs=2),
    # the library's names mean nothing on an acme twin: the configuration maps them elsewhere
    _twin("decoy", STATION, label="bufferHours is not mine"),
]

RELATIONSHIPS = [
    _edge("s1", "poweredBy", "feeder"),
    _edge("s2", "fedBy", "s1", transitHours=2.0, linkRisk=0.25),
    _edge("s3", "fedBy", "s2", transitHours=1.0),
    _edge("sku", "madeAt", "s3"),
    _edge("contract", "covers", "sku"),
    _edge("c", "fedBy", "a"),
    _edge("c", "fedBy", "b"),
    _edge("d", "fedBy", "a"),
    _edge("d", "fedBy", "b"),
    _edge("d", "fedBy", "e"),
    _edge("a", "locatedIn", "feeder"),  # carries no failure
    _edge("s1", "inCell", "cell"),
    _edge("s2", "inCell", "cell"),
    _edge("s3", "inCell", "cell"),
]

# time to impact of each twin when the feeder fails (the rest are never hit)
FEEDER_FAILS = {"feeder": 0.0, "s1": 0.0, "s2": 2.0, "s3": 8.0, "cell": 8.0, "sku": 8.0, "contract": 8.0}


def write_config(folder: Path, text: str = CONFIG) -> Path:
    path = folder / "cascade.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load(store: Store) -> TwinGraph:
    """The acme models and plant written to ``store``."""
    graph = TwinGraph(store)
    graph.upload_models(DOCUMENTS)
    graph.create_twins(TWINS)
    graph.create_relationships(RELATIONSHIPS)
    return graph


@contextmanager
def loaded_store(request: pytest.FixtureRequest, folder: Path) -> Iterator[Store]:
    """A store of the kind ``request.param`` names, holding the acme plant; closed afterwards."""
    store = empty_store(request.param, request, folder / "data")
    try:
        load(store)
        yield store
    finally:
        store.close()


def write_import_file(folder: Path) -> Path:
    """The same as a bulk-import file (``dtgraph import``)."""
    path = folder / "acme.ndjson"
    lines: list[Any] = [
        {"Section": "Header"},
        {"fileVersion": "1.0.0", "author": "tests", "organization": "acme"},
    ]
    lines += [{"Section": "Models"}, *DOCUMENTS, {"Section": "Twins"}, *TWINS, {"Section": "Relationships"}]
    for rel in RELATIONSHIPS:
        rel = dict(rel)
        rel["$dtId"] = rel.pop("$sourceId")
        lines.append(rel)
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path
