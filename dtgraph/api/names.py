"""GraphQL names for the types and fields generated from DTDL models: deterministic and documented.

The same model set always gives the same names, whatever order the models were uploaded in.

Type names
==========

1. The *short name* of a DTMI is its last path segment with its first letter upper-cased:
   ``dtmi:dtgraph:Machine;1`` → ``Machine``, ``dtmi:com:example:pump;2`` → ``Pump``.
2. An Interface's object type takes its short name when no other Interface of the model set has the
   same short name (so two versions of one model both take rule 3) and the name is not reserved:
   the generic types (``Twin``, ``Relationship``, ``Model``, …, see :data:`RESERVED_TYPES`), GraphQL's
   scalars and any name starting with ``__``.
3. Otherwise it takes its *qualified name*: the DTMI's segments after ``dtmi`` and its version joined by
   ``_``, first letter upper-cased: ``dtmi:dtgraph:Machine;1`` → ``Dtgraph_Machine_1``,
   ``dtmi:com:example:Pump;1.2`` → ``Com_example_Pump_1_2``.
4. Names are claimed Interface by Interface in sorted DTMI order; a name already taken gets the first
   free suffix ``_2``, ``_3``, …
5. Then, in the same order and with the same suffix rule, the derived names of type ``T``:
   ``TInterface`` (the GraphQL interface of an Interface other Interfaces extend), ``TConnection``,
   ``TEdge`` and ``TFilter`` (its query field), ``TComponent`` and ``TComponentFilter`` (the value of a
   Component whose schema is the Interface).
6. Complex schemas (Object, Enum) declared in an Interface's ``schemas`` with their own DTMI take rules
   1 to 4 on that DTMI; inline ones are named after the Interface declaring them and the names on the way
   down: property ``config`` of ``Asset`` → ``Asset_config``, its field ``mode`` → ``Asset_config_mode``.
   An Enum's filter input is ``<Enum>Filter``.

Field names
===========

- Every name is sanitised to ``[_A-Za-z][_0-9A-Za-z]*``: other characters become ``_``, a leading digit
  gets a ``_`` in front, a leading ``__`` (reserved by GraphQL) loses one ``_``. DTDL names already fit.
- A property, relationship or component named like a field of the generic ``Twin`` interface (``id``,
  ``model``, ``properties``, …, see :data:`TWIN_FIELDS`) gets a trailing ``_``: ``model`` → ``model_``.
  DTDL names never end with ``_``, so this cannot clash with another content.
- Enum values keep their DTDL names (sanitised); ``true``, ``false`` and ``null`` get a trailing ``_``.
- The query field of type ``T`` is ``T`` with a lower-case first letter plus ``s``
  (``Machine`` → ``machines``); a clash with a generic field (``twins``, ``models``, …) or another
  query field gets the suffix rule of type names.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

__all__ = [
    "RESERVED_FIELDS",
    "RESERVED_TYPES",
    "TWIN_FIELDS",
    "Names",
    "enum_value_name",
    "field_name",
    "qualified_name",
    "short_name",
]

RESERVED_TYPES: frozenset[str] = frozenset(
    {
        # GraphQL and strawberry scalars
        "String",
        "Int",
        "Float",
        "Boolean",
        "ID",
        "JSON",
        "Long",
        "DateTime",
        "Date",
        "Time",
        "Decimal",
        "UUID",
        "Upload",
        "Void",
        # the generic part of the schema
        "AasChange",
        "AasProblem",
        "AasImportReport",
        "CascadeResult",
        "ImpactedTwin",
        "CascadeStep",
        "Rollup",
        "CustomerAtRisk",
        "CriticalTwin",
        "Query",
        "Mutation",
        "Subscription",
        "Twin",
        "UntypedTwin",
        "Relationship",
        "RelationshipKey",
        "RelationshipKeyInput",
        "Model",
        "Content",
        "Change",
        "PageInfo",
        "TwinConnection",
        "TwinEdge",
        "PropertyFilter",
        "FilterOp",
        "Direction",
        "ImportReport",
        "ImportIssue",
        "IntFilter",
        "LongFilter",
        "FloatFilter",
        "StringFilter",
        "BooleanFilter",
    }
)

TWIN_FIELDS: frozenset[str] = frozenset(
    {
        "id",
        "model",
        "properties",
        "property",
        "relationships",
        "related",
        "ancestors",
        "descendants",
        "history",
        "asOf",
    }
)

RESERVED_FIELDS: frozenset[str] = frozenset({"models", "model", "twin", "twins"})  # generic Query fields

_INVALID = re.compile(r"[^_0-9A-Za-z]")


def sanitise(name: str) -> str:
    """``name`` as a GraphQL name: ``[_A-Za-z][_0-9A-Za-z]*``, never starting with ``__``."""
    out = _INVALID.sub("_", name) or "_"
    if out[0].isdigit():
        out = "_" + out
    while out.startswith("__"):
        out = out[1:]
    return out


def _upper_first(name: str) -> str:
    return name[:1].upper() + name[1:]


def short_name(dtmi: str) -> str:
    """``dtmi:dtgraph:Machine;1`` → ``Machine``."""
    path = dtmi.split(";", 1)[0]
    return _upper_first(sanitise(path.rsplit(":", 1)[-1]))


def qualified_name(dtmi: str) -> str:
    """``dtmi:dtgraph:Machine;1`` → ``Dtgraph_Machine_1``."""
    path, _, version = dtmi.partition(";")
    segments = path.split(":")[1:] if path.startswith("dtmi:") else path.split(":")
    if version:
        segments.append(version.replace(".", "_"))
    return _upper_first(sanitise("_".join(segments)))


def field_name(name: str, reserved: Iterable[str] = TWIN_FIELDS) -> str:
    """A content's field name: sanitised, with a trailing ``_`` when ``reserved`` holds it."""
    out = sanitise(name)
    return out + "_" if out in reserved else out


def enum_value_name(name: str) -> str:
    out = sanitise(name)
    return out + "_" if out in ("true", "false", "null") else out


class Names:
    """A set of names already taken; ``claim`` hands out the first free ``base``, ``base_2``, …"""

    def __init__(self, reserved: Iterable[str] = ()) -> None:
        self.taken: set[str] = set(reserved)

    def claim(self, base: str) -> str:
        name, n = base, 2
        while name in self.taken:
            name, n = f"{base}_{n}", n + 1
        self.taken.add(name)
        return name

    def models(self, dtmis: Iterable[str]) -> dict[str, str]:
        """Rules 1 to 4: the object type name of each Interface."""
        ordered = sorted(set(dtmis))
        counts = Counter(short_name(d) for d in ordered)
        out: dict[str, str] = {}
        for dtmi in ordered:
            short = short_name(dtmi)
            unique = counts[short] == 1 and short not in RESERVED_TYPES and not short.startswith("__")
            out[dtmi] = self.claim(short if unique else qualified_name(dtmi))
        return out


def query_field_name(type_name: str) -> str:
    return type_name[:1].lower() + type_name[1:] + "s"
