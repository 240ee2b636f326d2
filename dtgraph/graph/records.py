"""Twin and relationship records, in the shape integrators know from Azure Digital Twins.

A twin is ``{"$dtId", "$metadata": {"$model"}, <properties>, <components>}``; a component value is an
object with its own ``"$metadata": {}`` and properties. A relationship is ``{"$relationshipId",
"$sourceId", "$targetId", "$relationshipName", <properties>}``; its id is unique per source twin.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["RecordError", "Relationship", "RelationshipKey", "Twin"]

RelationshipKey = tuple[str, str]  # (source twin id, relationship id)


class RecordError(ValueError):
    """A JSON object is not a twin or relationship record (a required ``$`` member is missing or wrong)."""


_NONE: Mapping[str, Any] = MappingProxyType({})  # every record without properties shares this view


def _frozen(values: Mapping[str, Any]) -> Mapping[str, Any]:
    # a read-only view over a private copy; views made by the decoders below are already private
    if type(values) is MappingProxyType:
        return values
    return MappingProxyType(dict(values)) if values else _NONE


@dataclass(frozen=True, slots=True)
class Twin:
    """A digital twin: its id, its model's DTMI and its property and component values."""

    id: str
    model: str
    properties: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "properties", _frozen(self.properties))

    def to_json(self) -> dict[str, Any]:
        return {"$dtId": self.id, "$metadata": {"$model": self.model}, **self.properties}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Twin:
        twin_id = obj.get("$dtId")
        meta = obj.get("$metadata")
        model = meta.get("$model") if isinstance(meta, Mapping) else None
        if not isinstance(twin_id, str) or not twin_id:
            raise RecordError("a twin needs a non-empty string '$dtId'")
        if not isinstance(model, str) or not model:
            raise RecordError(f"twin '{twin_id}' needs '$metadata': {{'$model': <DTMI>}}")
        props = {k: v for k, v in obj.items() if k[:1] != "$"}
        return cls(twin_id, model, MappingProxyType(props) if props else _NONE)

    @classmethod
    def over(cls, twin_id: str, model: str, view: Mapping[str, Any]) -> Twin:
        """A twin over a read-only view its caller made and gives away (a store unpacking a record):
        kept as it is, not copied."""
        twin = _new(cls)
        _set(twin, "id", twin_id)
        _set(twin, "model", model)
        _set(twin, "properties", view)
        return twin

    @classmethod
    def take_json(cls, obj: dict[str, Any]) -> Twin:
        """:meth:`from_json` of an object the caller gives away (a line just parsed): its property
        members are taken, not copied, and ``obj`` is left without its ``$`` members."""
        twin_id = obj.pop("$dtId", None)
        meta = obj.pop("$metadata", None)
        model = meta.get("$model") if type(meta) is dict or isinstance(meta, Mapping) else None
        if not isinstance(twin_id, str) or not twin_id:
            raise RecordError("a twin needs a non-empty string '$dtId'")
        if not isinstance(model, str) or not model:
            raise RecordError(f"twin '{twin_id}' needs '$metadata': {{'$model': <DTMI>}}")
        twin = _new(cls)  # the members are checked and private: no __init__ and __post_init__ to run
        _set(twin, "id", twin_id)
        _set(twin, "model", model)
        _set(twin, "properties", _taken(obj))
        return twin


@dataclass(frozen=True, slots=True)
class Relationship:
    """A directed, named edge from one twin to another, with its own property values."""

    id: str
    source: str
    target: str
    name: str
    properties: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "properties", _frozen(self.properties))

    @property
    def key(self) -> RelationshipKey:
        return (self.source, self.id)

    def to_json(self) -> dict[str, Any]:
        return {
            "$relationshipId": self.id,
            "$sourceId": self.source,
            "$targetId": self.target,
            "$relationshipName": self.name,
            **self.properties,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Relationship:
        # the bulk-import format names the source "$dtId"; the API and exports use "$sourceId"
        rel_id = _required(obj.get("$relationshipId"), "$relationshipId")
        target = _required(obj.get("$targetId"), "$targetId")
        name = _required(obj.get("$relationshipName"), "$relationshipName")
        source = _required(obj.get("$sourceId", obj.get("$dtId")), "$sourceId")
        props = {k: v for k, v in obj.items() if k[:1] != "$"}
        return cls(rel_id, source, target, name, MappingProxyType(props) if props else _NONE)

    @classmethod
    def over(cls, rel_id: str, source: str, target: str, name: str, view: Mapping[str, Any]) -> Relationship:
        """A relationship over a read-only view its caller gives away, as :meth:`Twin.over`."""
        rel = _new(cls)
        _set(rel, "id", rel_id)
        _set(rel, "source", source)
        _set(rel, "target", target)
        _set(rel, "name", name)
        _set(rel, "properties", view)
        return rel

    @classmethod
    def take_json(cls, obj: dict[str, Any]) -> Relationship:
        """:meth:`from_json` of an object the caller gives away, as :meth:`Twin.take_json`."""
        rel_id, target = obj.pop("$relationshipId", None), obj.pop("$targetId", None)
        name, source, dt_id = (
            obj.pop("$relationshipName", None),
            obj.pop("$sourceId", _ABSENT),
            obj.pop("$dtId", None),
        )
        if source is _ABSENT:
            source = dt_id
        # one test for the members of a sound record; _required says what is wrong with another
        if not (
            type(rel_id) is str
            and type(target) is str
            and type(name) is str
            and type(source) is str
            and rel_id
            and target
            and name
            and source
        ):
            rel_id, target = _required(rel_id, "$relationshipId"), _required(target, "$targetId")
            name, source = _required(name, "$relationshipName"), _required(source, "$sourceId")
        rel = _new(cls)
        _set(rel, "id", rel_id)
        _set(rel, "target", target)
        _set(rel, "name", name)
        _set(rel, "source", source)
        _set(rel, "properties", _taken(obj))
        return rel


# over() and take_json() make records field by field with these, written out in each: they run once an
# entity on imports and reads, where a shared function's call and keyword dict cost a few percent
_new = object.__new__
_set = object.__setattr__
_ABSENT: Any = object()


def _taken(members: dict[str, Any]) -> Mapping[str, Any]:
    """The property members of a record object whose known ``$`` members are popped already."""
    if not members:
        return _NONE
    if min(members) < "%":  # some key sorts before "%": maybe another "$" member, dropped as from_json does
        members = {k: v for k, v in members.items() if k[:1] != "$"}
        if not members:
            return _NONE
    return MappingProxyType(members)


def _required(value: object, member: str) -> str:
    if not isinstance(value, str) or not value:
        raise RecordError(f"a relationship needs a non-empty string '{member}'")
    return value
