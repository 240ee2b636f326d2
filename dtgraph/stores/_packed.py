"""Twins and relationships as the memory store keeps them: property values packed into JSON bytes.

A twin's property values as Python objects (a dict, its keys, floats and strings, a read-only view
over it) take about 1 KB; the same values as compact JSON bytes about 300 bytes. The store keeps every
record packed (in the graph and in its change log) and unpacks one into a :class:`Twin` or
:class:`Relationship` when it is read. Packing is exact: ``unpack(pack(v)) == v`` for every JSON value,
NaN and infinities included; the bytes go into the journal as they are.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

import orjson

from dtgraph.graph.records import Relationship, RelationshipKey, Twin
from dtgraph.stores.errors import StoreError

__all__ = ["EMPTY", "PackedRelationship", "PackedTwin", "json_default", "loads", "pack", "unpack"]

EMPTY = b"{}"  # every record without properties shares this object
_NOTHING: Mapping[str, Any] = MappingProxyType({})
# datetimes, dataclasses and str subclasses are not JSON values: refuse them as the json module does
_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def pack(values: Mapping[str, Any]) -> bytes:
    """``values`` as compact JSON; raises StoreError for anything that is not a JSON value.

    orjson writes non-finite floats as null, so packed bytes holding null (never valid in a DTDL
    value) are written again by the json module, which keeps NaN and infinities. Integers beyond 64
    bits are refused (orjson would read them back as floats; Neo4j refuses them too).
    """
    if not values:
        return EMPTY
    try:
        # records hold read-only views; a view's copy is its dict's (a C copy, not a walk of the view)
        if type(values) is dict:
            plain = values
        elif isinstance(values, MappingProxyType):
            plain = values.copy()
        else:
            plain = dict(values)
        blob = orjson.dumps(plain, default=json_default, option=_OPTIONS)
        if b"null" in blob:
            blob = json.dumps(
                values, separators=(",", ":"), ensure_ascii=False, default=json_default
            ).encode()
    except (TypeError, ValueError) as exc:
        raise StoreError(f"the batch cannot be written as JSON; nothing was changed: {exc}") from exc
    # orjson's bytes keep the buffer it wrote into (4 KB at least): a copy holds just the bytes
    return bytes(memoryview(blob))


def unpack(blob: bytes) -> Mapping[str, Any]:
    """The read-only property values of packed bytes."""
    if blob is EMPTY:
        return _NOTHING
    return MappingProxyType(loads(blob))


def loads(blob: bytes) -> Any:
    """The JSON value of ``blob``, NaN and infinities included."""
    try:
        return orjson.loads(blob)
    except orjson.JSONDecodeError:  # NaN or infinities, written by the json module
        return json.loads(blob)


def json_default(value: object) -> object:
    """The JSON form of the read-only views and tuples records hold; TypeError for anything else."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not a JSON value: {value!r}")


class PackedTwin(NamedTuple):
    id: str
    model: str
    properties: bytes

    @classmethod
    def of(cls, twin: Twin, model: str) -> PackedTwin:
        return cls(twin.id, model, pack(twin.properties))

    def unpack(self) -> Twin:
        return Twin.over(self.id, self.model, unpack(self.properties))


class PackedRelationship(NamedTuple):
    id: str
    source: str
    target: str
    name: str
    properties: bytes

    @property
    def key(self) -> RelationshipKey:
        return (self.source, self.id)

    def unpack(self) -> Relationship:
        return Relationship.over(self.id, self.source, self.target, self.name, unpack(self.properties))
