"""Validation of twins and relationships against a ModelSet, before anything is written.

Every problem is reported at once as a :class:`~dtgraph.graph.errors.GraphIssue` with a stable code:

====================== ==================================================================================
``invalidRecord``      not a twin or relationship record (empty id, a ``$`` member that is not allowed)
``unknownModel``       the twin's model (or a model a check needs) is not defined
``unknownProperty``    a member that is not a Property or Component of the model (inherited included)
``invalidValue``       a value that breaks its schema (the compiled JSON Schema of the DTDL schema)
``unknownComponent``   a component's interface is not defined
``missingComponent``   a component of the model is absent (Azure Digital Twins requires every component,
                       possibly empty: ``{"$metadata": {}}``)
``unknownRelationship`` the source twin's model declares no relationship of that name
``wrongTargetModel``   the target twin's model is not the relationship's ``target`` nor extends it
``missingTwin``        a twin the change needs does not exist (or is deleted by the same change)
``missingRelationship`` a relationship to replace or delete does not exist
``tooManyRelationships`` more relationships of a name from one twin than its ``maxMultiplicity``
``duplicateTwin``      a twin id twice in one change, or a twin to create that exists already
``duplicateRelationship`` the same (source, id) twice, or a relationship to create that exists already
``conflictingChange``  one change both writes and deletes the same twin or relationship
====================== ==================================================================================

Existing twins and relationships are read through :class:`TwinLookup` (every :class:`~dtgraph.stores.Store`
is one) in a fixed number of batched calls, whatever the number of records.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar
from weakref import WeakKeyDictionary

from dtgraph.dtdl.json_schema import fast_check, pointer, value_issues
from dtgraph.dtdl.model import Component, Interface, ModelSet, Property
from dtgraph.dtdl.model import Relationship as RelationshipDef
from dtgraph.graph.errors import GraphIssue
from dtgraph.graph.records import RecordError, Relationship, RelationshipKey, Twin

if TYPE_CHECKING:
    from dtgraph.stores.base import Batch, Direction

__all__ = [
    "Existing",
    "RecordLookup",
    "TwinLookup",
    "check_batch",
    "coerce_relationships",
    "coerce_twins",
    "pointer",
    "relationship_issues",
    "relationship_property_checks",
    "relationship_property_issues",
    "twin_issues",
    "validate_batch",
    "value_issues",
]

Existing = Literal["any", "new", "existing"]  # what a write expects: upsert, create only, replace only


class TwinLookup(Protocol):
    """Batched reads of the current graph; every Store satisfies it."""

    def get_twins(self, ids: Iterable[str]) -> dict[str, Twin]: ...

    def get_relationships(self, keys: Iterable[RelationshipKey]) -> dict[RelationshipKey, Relationship]: ...

    def relationships(
        self, twin_ids: Iterable[str], *, name: str | None = None, direction: Direction = "out"
    ) -> dict[str, list[Relationship]]: ...


@dataclass
class RecordLookup:
    """A TwinLookup over records in memory (an empty graph by default): for checks without a store."""

    twins: Mapping[str, Twin] = field(default_factory=dict)
    edges: Sequence[Relationship] = ()

    def get_twins(self, ids: Iterable[str]) -> dict[str, Twin]:
        return {i: self.twins[i] for i in ids if i in self.twins}

    def get_relationships(self, keys: Iterable[RelationshipKey]) -> dict[RelationshipKey, Relationship]:
        wanted = set(keys)
        return {r.key: r for r in self.edges if r.key in wanted}

    def relationships(
        self, twin_ids: Iterable[str], *, name: str | None = None, direction: Direction = "out"
    ) -> dict[str, list[Relationship]]:
        out: dict[str, list[Relationship]] = {}
        for twin_id in set(twin_ids):
            found = [
                r
                for r in self.edges
                if (name is None or r.name == name)
                and (
                    (direction != "in" and r.source == twin_id)
                    or (direction != "out" and r.target == twin_id)
                )
            ]
            out[twin_id] = sorted(found, key=lambda r: r.key)
        return out


# --- twins ----------------------------------------------------------------------------------------


def _issue(code: str, message: str, at: str, record: int | None) -> GraphIssue:
    return GraphIssue(code, message, at, record)


# --- fast paths: most records are valid, and saying so needs no messages -----------------------------
#
# Each predicate is True only where the full check finds nothing; False sends the record through the
# full check, which explains. Tests compare the two on generated records.


def _always(_value: Any) -> bool:
    return True


def _number(v: Any) -> bool:
    t = type(v)
    return t is int or (t is float and v - v == 0)  # finite: inf - inf and NaN - NaN are NaN


def _boolean(v: Any) -> bool:
    return type(v) is bool


def _string(v: Any) -> bool:
    return type(v) is str


def _integer(low: int, high: int) -> Callable[[Any], bool]:
    return lambda v: type(v) is int and low <= v <= high


_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)


def _date(v: Any) -> bool:
    # the shape first: fromisoformat alone takes other ISO forms ("20240229", "2024-W09-4")
    if type(v) is not str or _DATE.fullmatch(v) is None:
        return False
    try:
        date.fromisoformat(v)
    except ValueError:
        return False
    return True


_PRIMITIVE: dict[str, Callable[[Any], bool]] = {
    "boolean": _boolean,
    "double": _number,
    "float": _number,
    "string": _string,
    "date": _date,
    "byte": _integer(-(2**7), 2**7 - 1),
    "short": _integer(-(2**15), 2**15 - 1),
    "integer": _integer(-(2**31), 2**31 - 1),
    "long": _integer(-(2**63), 2**63 - 1),
    "unsignedByte": _integer(0, 2**8 - 1),
    "unsignedShort": _integer(0, 2**16 - 1),
    "unsignedInteger": _integer(0, 2**32 - 1),
    "unsignedLong": _integer(0, 2**64 - 1),
}


def _value_check(schema: Any) -> Callable[[Any], bool]:
    """A predicate that is True only for values ``value_issues`` accepts: direct checks for the usual
    DTDL schemas (one call a value), the compiled fast check or jsonschema for the others."""
    if schema is None:
        return _always
    direct = _direct_check(schema)
    if direct is not None:
        return direct
    check = fast_check(schema)
    return check if check is not None else (lambda v: not value_issues(v, schema))


def _direct_check(schema: Any) -> Callable[[Any], bool] | None:
    if schema.is_primitive:
        return _PRIMITIVE.get(schema.kind)
    if schema.kind == "Enum" and schema.value_schema in ("string", "integer"):
        kind = str if schema.value_schema == "string" else int
        values = frozenset(e.value for e in schema.enum_values if type(e.value) is kind)
        return lambda v: type(v) is kind and v in values
    if schema.kind == "Object":
        fields = {f.name: _value_check(f.schema) for f in schema.fields if f.schema is not None}
        required = tuple(f.name for f in schema.fields if "Required" in f.cotypes)

        def valid(v: Any) -> bool:
            if type(v) is not dict:
                return False
            for name, value in v.items():
                check = fields.get(name)
                if check is None or not check(value):
                    return False
            return all(name in v for name in required)

        return valid
    return None


@lru_cache(maxsize=4096)  # Interfaces hash by identity; one belongs to one model set
def _property_checks(iface: Interface) -> dict[str, Callable[[Any], bool]]:
    return {name: _value_check(p.schema) for name, p in iface.properties.items()}


@lru_cache(maxsize=4096)
def relationship_property_checks(definition: RelationshipDef) -> dict[str, Callable[[Any], bool]]:
    """A predicate per property of the relationship, True only for values ``value_issues`` accepts."""
    return {p.name: _value_check(p.schema) for p in definition.properties}


_ANCESTORS: WeakKeyDictionary[Interface, frozenset[str]] = WeakKeyDictionary()


def _is_a(models: ModelSet, dtmi: str, base: str) -> bool:
    """``models.is_a`` with each interface's ancestors worked out once."""
    iface = models.interfaces.get(dtmi)
    if iface is None:
        return False
    found = _ANCESTORS.get(iface)
    if found is None:
        found = _ANCESTORS[iface] = frozenset(models.ancestors(dtmi))
    return dtmi == base or base in found


def _members_valid(values: Mapping[str, Any], iface: Interface, models: ModelSet, *, top: bool) -> bool:
    checks = _property_checks(iface)
    for name, value in values.items():
        check = checks.get(name)
        if check is not None:
            if not check(value):
                return False
        elif not top and name == "$metadata":
            if not isinstance(value, Mapping):
                return False
        else:
            component = iface.components.get(name)
            inner = models.interfaces.get(component.schema) if component is not None else None
            if (
                inner is None
                or not isinstance(value, Mapping)
                or "$metadata" not in value
                or not _members_valid(value, inner, models, top=False)
            ):
                return False
    components = iface.components
    return not components or all(name in values for name in components)


def twin_issues(
    twin: Twin, models: ModelSet, record: int | None = None, subject: str = ""
) -> list[GraphIssue]:
    """Every way ``twin`` breaks its model (the graph around it is not looked at)."""
    iface = models.interfaces.get(twin.model)
    if iface is not None and twin.id and _members_valid(twin.properties, iface, models, top=True):
        return []
    who = subject or f"twin '{twin.id}'"
    issues: list[GraphIssue] = []
    if not twin.id:
        issues.append(_issue("invalidRecord", "a twin needs a non-empty string '$dtId'", "/$dtId", record))
    if iface is None:
        issues.append(
            _issue("unknownModel", f"{who}: model '{twin.model}' is not defined", "/$metadata/$model", record)
        )
        return issues
    _check_members(twin.properties, iface, models, "", who, record, issues, top=True)
    return issues


def _check_members(
    values: Mapping[str, Any],
    iface: Interface,
    models: ModelSet,
    at: str,
    who: str,
    record: int | None,
    issues: list[GraphIssue],
    *,
    top: bool,
) -> None:
    for name, value in values.items():
        here = at + pointer(name)
        if name.startswith("$"):
            if not top and name == "$metadata":
                if not isinstance(value, Mapping):
                    msg = f"{who}: a component's '$metadata' must be an object, not {value!r}"
                    issues.append(_issue("invalidValue", msg, here, record))
                continue
            code = "invalidRecord" if top else "unknownProperty"
            issues.append(_issue(code, f"{who}: '{name}' is not allowed here", here, record))
            continue
        content = iface.contents.get(name)
        if isinstance(content, Property):
            if content.schema is not None:
                for below, message in value_issues(value, content.schema):
                    issues.append(_issue("invalidValue", f"{who}: {message}", here + below, record))
        elif isinstance(content, Component):
            _check_component(value, content, models, here, who, record, issues)
        elif content is None:
            msg = f"{who}: '{name}' is not a property or component of '{iface.id}'"
            issues.append(_issue("unknownProperty", msg, here, record))
        else:
            msg = (
                f"{who}: '{name}' is a {content.kind} of '{iface.id}'; "
                "only properties and components are stored"
            )
            issues.append(_issue("unknownProperty", msg, here, record))
    for name in iface.components:
        if name not in values:
            msg = f"{who}: component '{name}' of '{iface.id}' is missing"
            msg += ' (an empty one is {"$metadata": {}})'
            issues.append(_issue("missingComponent", msg, at + pointer(name), record))


def _check_component(
    value: Any,
    component: Component,
    models: ModelSet,
    at: str,
    who: str,
    record: int | None,
    issues: list[GraphIssue],
) -> None:
    if not isinstance(value, Mapping):
        msg = f"{who}: component '{component.name}' must be an object with \"$metadata\": {{}}, not {value!r}"
        issues.append(_issue("invalidValue", msg, at, record))
        return
    if "$metadata" not in value:
        msg = f"{who}: component '{component.name}' needs \"$metadata\": {{}}"
        issues.append(_issue("invalidValue", msg, at + "/$metadata", record))
    iface = models.interfaces.get(component.schema)
    if iface is None:
        msg = f"{who}: component '{component.name}' has interface '{component.schema}', which is not defined"
        issues.append(_issue("unknownComponent", msg, at, record))
        return
    _check_members(value, iface, models, at, who, record, issues, top=False)


# --- relationships --------------------------------------------------------------------------------


def relationship_property_issues(
    rel: Relationship, definition: RelationshipDef, record: int | None = None, subject: str = ""
) -> list[GraphIssue]:
    """Every way the relationship's own property values break the definition's properties."""
    checks = relationship_property_checks(definition)
    if all(name in checks and checks[name](value) for name, value in rel.properties.items()):
        return []
    who = subject or _who(rel)
    declared = {p.name: p for p in definition.properties}
    issues: list[GraphIssue] = []
    for name, value in rel.properties.items():
        here = pointer(name)
        prop = declared.get(name)
        if name.startswith("$"):
            issues.append(_issue("invalidRecord", f"{who}: '{name}' is not allowed here", here, record))
        elif prop is None:
            msg = f"{who}: '{name}' is not a property of relationship '{definition.name}'"
            issues.append(_issue("unknownProperty", msg, here, record))
        elif prop.schema is not None:
            for below, message in value_issues(value, prop.schema):
                issues.append(_issue("invalidValue", f"{who}: {message}", here + below, record))
    return issues


def relationship_issues(
    rel: Relationship,
    source: Twin | None,
    target: Twin | None,
    models: ModelSet,
    record: int | None = None,
    subject: str = "",
) -> list[GraphIssue]:
    """Every way ``rel`` breaks the model of its source, given both end twins (None: missing)."""
    if rel.id and rel.source and rel.target and source is not None and target is not None:
        iface = models.interfaces.get(source.model)
        definition = iface.relationships.get(rel.name) if iface is not None else None
        if (
            definition is not None
            and (definition.target is None or _is_a(models, target.model, definition.target))
            and not relationship_property_issues(rel, definition, record, subject)
        ):
            return []
    who = subject or _who(rel)
    issues: list[GraphIssue] = []
    for member, value in (("$relationshipId", rel.id), ("$sourceId", rel.source), ("$targetId", rel.target)):
        if not value:
            issues.append(
                _issue("invalidRecord", f"{who}: '{member}' must be a non-empty string", "/" + member, record)
            )
    if source is None:
        issues.append(
            _issue("missingTwin", f"{who}: source twin '{rel.source}' does not exist", "/$sourceId", record)
        )
    if target is None:
        issues.append(
            _issue("missingTwin", f"{who}: target twin '{rel.target}' does not exist", "/$targetId", record)
        )
    if source is None:
        return issues
    iface = models.interfaces.get(source.model)
    if iface is None:
        msg = f"{who}: source twin '{source.id}' has model '{source.model}', which is not defined"
        issues.append(_issue("unknownModel", msg, "/$sourceId", record))
        return issues
    definition = iface.relationships.get(rel.name)
    if definition is None:
        known = ", ".join(sorted(iface.relationships)) or "none"
        msg = f"{who}: '{iface.id}' declares no relationship '{rel.name}' (it declares: {known})"
        issues.append(_issue("unknownRelationship", msg, "/$relationshipName", record))
        return issues
    if (
        target is not None
        and definition.target is not None
        and not (target.model in models.interfaces and models.is_a(target.model, definition.target))
    ):
        msg = (
            f"{who}: target twin '{target.id}' has model '{target.model}', but relationship '{rel.name}' "
            f"of '{iface.id}' targets '{definition.target}' and the models extending it"
        )
        issues.append(_issue("wrongTargetModel", msg, "/$targetId", record))
    issues.extend(relationship_property_issues(rel, definition, record, who))
    return issues


def _who(rel: Relationship) -> str:
    return f"relationship '{rel.id}' of twin '{rel.source}'"


# --- records from JSON ----------------------------------------------------------------------------


_R = TypeVar("_R", Twin, Relationship)


def coerce_twins(items: Iterable[Twin | Mapping[str, Any]]) -> tuple[list[Twin], list[GraphIssue]]:
    """Twin records from records or ADT JSON objects; an undecodable object is an ``invalidRecord``."""
    return _coerce(items, Twin, Twin.from_json, "twin")


def coerce_relationships(
    items: Iterable[Relationship | Mapping[str, Any]], first_record: int = 0
) -> tuple[list[Relationship], list[GraphIssue]]:
    """Relationship records from records or ADT JSON objects (numbered from ``first_record``)."""
    return _coerce(items, Relationship, Relationship.from_json, "relationship", first_record)


def _coerce(
    items: Iterable[_R | Mapping[str, Any]],
    cls: type[_R],
    decode: Callable[[Mapping[str, Any]], _R],
    what: str,
    first_record: int = 0,
) -> tuple[list[_R], list[GraphIssue]]:
    records: list[_R] = []
    issues: list[GraphIssue] = []
    for i, item in enumerate(items, first_record):
        if isinstance(item, cls):
            records.append(item)
        elif isinstance(item, Mapping):
            try:
                records.append(decode(item))
            except RecordError as exc:
                issues.append(GraphIssue("invalidRecord", str(exc), "", i))
        else:
            issues.append(GraphIssue("invalidRecord", f"a {what} must be a JSON object, not {item!r}", "", i))
    return records, issues


# --- batches --------------------------------------------------------------------------------------


def validate_batch(
    batch: Batch,
    models: ModelSet,
    lookup: TwinLookup,
    *,
    existing: Existing = "any",
    recheck: Collection[str] = (),
) -> list[GraphIssue]:
    """Every issue of ``batch`` against ``models`` and the graph ``lookup`` reads (:func:`check_batch`)."""
    own, others = check_batch(batch, models, lookup, existing=existing, recheck=recheck)
    return own + others


def check_batch(
    batch: Batch,
    models: ModelSet,
    lookup: TwinLookup,
    *,
    existing: Existing = "any",
    recheck: Collection[str] = (),
) -> tuple[list[GraphIssue], list[GraphIssue]]:
    """Issues of the batch's own records, and issues of existing data the batch would leave invalid.

    Records are numbered twins first, then relationships. ``existing`` says whether written twins and
    relationships must be new (``"new"``), must exist (``"existing"``) or either. Twins whose model the
    batch changes, and the twins in ``recheck`` (e.g. of models being replaced), are checked again with
    every relationship to or from them. Reads: at most two ``get_twins``, one ``get_relationships``,
    one ``relationships`` per relationship name with a ``maxMultiplicity`` and one for rechecked twins.
    """
    return _BatchCheck(batch, models, lookup, existing, set(recheck)).run()


class _BatchCheck:
    def __init__(
        self, batch: Batch, models: ModelSet, lookup: TwinLookup, existing: Existing, recheck: set[str]
    ) -> None:
        self.batch = batch
        self.models = models
        self.lookup = lookup
        self.existing = existing
        self.recheck = recheck
        self.own: list[GraphIssue] = []
        self.others: list[GraphIssue] = []
        self.twins: dict[str, Twin] = {}  # the batch's twins
        self.rels: dict[RelationshipKey, tuple[int, Relationship]] = {}  # the batch's relationships
        self.deleted = set(batch.delete_twins)
        self.deleted_rels = set(batch.delete_relationships)
        self.stored: dict[str, Twin] = {}

    def final(self, twin_id: str) -> Twin | None:
        if twin_id in self.deleted:
            return None
        return self.twins.get(twin_id) or self.stored.get(twin_id)

    def run(self) -> tuple[list[GraphIssue], list[GraphIssue]]:
        self.twin_records()
        self.relationship_records()
        ids = {*self.twins, *self.deleted, *self.recheck}
        ids.update(r.source for _, r in self.rels.values())
        ids.update(r.target for _, r in self.rels.values())
        self.stored = self.lookup.get_twins(ids) if ids else {}
        self.twin_existence()
        self.relationship_existence()
        changed = {
            t for t, twin in self.twins.items() if t in self.stored and self.stored[t].model != twin.model
        }
        changed |= {t for t in self.recheck if t not in self.deleted and self.final(t) is not None}
        around = self.lookup.relationships(changed, direction="both") if changed else {}
        self.recheck_twins(changed)
        self.recheck_relationships(around)
        for i, rel in self.rels.values():
            source, target = self.final(rel.source), self.final(rel.target)
            self.own.extend(relationship_issues(rel, source, target, self.models, i))
        self.multiplicity(changed, around)
        return self.own, self.others

    def twin_records(self) -> None:
        for i, twin in enumerate(self.batch.twins):
            if twin.id in self.twins:
                msg = f"twin '{twin.id}' appears more than once in this change"
                self.own.append(_issue("duplicateTwin", msg, "/$dtId", i))
                continue
            self.twins[twin.id] = twin
            if twin.id in self.deleted:
                msg = f"twin '{twin.id}' is both written and deleted by this change"
                self.own.append(_issue("conflictingChange", msg, "/$dtId", i))
            self.own.extend(twin_issues(twin, self.models, i))

    def relationship_records(self) -> None:
        for i, rel in enumerate(self.batch.relationships, len(self.batch.twins)):
            if rel.key in self.rels:
                msg = f"{_who(rel)} appears more than once in this change"
                self.own.append(_issue("duplicateRelationship", msg, "/$relationshipId", i))
                continue
            self.rels[rel.key] = (i, rel)
            if rel.key in self.deleted_rels:
                msg = f"{_who(rel)} is both written and deleted by this change"
                self.own.append(_issue("conflictingChange", msg, "/$relationshipId", i))

    def twin_existence(self) -> None:
        for i, twin in enumerate(self.batch.twins):
            if self.existing == "new" and twin.id in self.stored:
                self.own.append(_issue("duplicateTwin", f"twin '{twin.id}' exists already", "/$dtId", i))
            elif self.existing == "existing" and twin.id not in self.stored:
                self.own.append(_issue("missingTwin", f"twin '{twin.id}' does not exist", "/$dtId", i))
        for twin_id in self.batch.delete_twins:
            if twin_id not in self.stored:
                self.own.append(_issue("missingTwin", f"twin '{twin_id}' to delete does not exist", "", None))

    def relationship_existence(self) -> None:
        keys = set(self.deleted_rels)
        if self.existing != "any":
            keys.update(self.rels)
        found = self.lookup.get_relationships(keys) if keys else {}
        for key, (i, rel) in self.rels.items():
            if self.existing == "new" and key in found:
                self.own.append(
                    _issue("duplicateRelationship", f"{_who(rel)} exists already", "/$relationshipId", i)
                )
            elif self.existing == "existing" and key not in found:
                self.own.append(
                    _issue("missingRelationship", f"{_who(rel)} does not exist", "/$relationshipId", i)
                )
        for source, rel_id in self.batch.delete_relationships:
            if (source, rel_id) not in found:
                msg = f"relationship '{rel_id}' of twin '{source}' to delete does not exist"
                self.own.append(_issue("missingRelationship", msg, "", None))

    def recheck_twins(self, changed: set[str]) -> None:
        for twin_id in sorted(changed - set(self.twins)):
            twin = self.stored[twin_id]  # changed twins not in the batch were read (final() is not None)
            self.others.extend(twin_issues(twin, self.models, subject=f"existing twin '{twin_id}'"))

    def surviving(self, rel: Relationship) -> bool:
        """Whether an existing relationship is still there after the batch (and not rewritten by it)."""
        return (
            rel.key not in self.rels
            and rel.key not in self.deleted_rels
            and rel.source not in self.deleted
            and rel.target not in self.deleted
        )

    def recheck_relationships(self, around: Mapping[str, list[Relationship]]) -> None:
        rels = {r.key: r for found in around.values() for r in found if self.surviving(r)}
        ends = {t for r in rels.values() for t in (r.source, r.target)}
        missing = ends - set(self.twins) - set(self.stored)
        if missing:
            self.stored.update(self.lookup.get_twins(missing))
        for key in sorted(rels):
            rel = rels[key]
            who = f"existing {_who(rel)}"
            source, target = self.final(rel.source), self.final(rel.target)
            self.others.extend(relationship_issues(rel, source, target, self.models, subject=who))

    def multiplicity(self, changed: set[str], around: Mapping[str, list[Relationship]]) -> None:
        limited: dict[str, set[str]] = {}  # relationship name -> sources to count
        for _, rel in self.rels.values():
            definition = self.definition(rel.source, rel.name)
            if definition is not None and definition.max_multiplicity is not None:
                limited.setdefault(rel.name, set()).add(rel.source)
        outgoing: dict[str, dict[RelationshipKey, Relationship]] = {}
        for name, sources in sorted(limited.items()):
            for source, found in self.lookup.relationships(sources, name=name).items():
                outgoing.setdefault(source, {}).update((r.key, r) for r in found if r.source == source)
        for twin_id in changed:
            for r in around.get(twin_id, []):
                if r.source == twin_id:
                    outgoing.setdefault(twin_id, {})[r.key] = r
        for kept in outgoing.values():
            for key in [k for k, r in kept.items() if not self.surviving(r)]:
                del kept[key]
        last: dict[tuple[str, str], int] = {}
        for key, (i, rel) in self.rels.items():
            outgoing.setdefault(rel.source, {})[key] = rel
            last[(rel.source, rel.name)] = max(i, last.get((rel.source, rel.name), i))
        for source in sorted(outgoing):
            counts: dict[str, int] = {}
            for rel in outgoing[source].values():
                counts[rel.name] = counts.get(rel.name, 0) + 1
            for name, count in sorted(counts.items()):
                definition = self.definition(source, name)
                if definition is None or definition.max_multiplicity is None:
                    continue
                if count > definition.max_multiplicity:
                    msg = (
                        f"twin '{source}' would have {count} '{name}' relationships; "
                        f"'{definition.defined_in}' allows at most {definition.max_multiplicity}"
                    )
                    if (source, name) in last:
                        self.own.append(
                            _issue("tooManyRelationships", msg, "/$relationshipName", last[(source, name)])
                        )
                    elif source in changed:
                        self.others.append(_issue("tooManyRelationships", msg, "", None))

    def definition(self, source_id: str, name: str) -> RelationshipDef | None:
        source = self.final(source_id)
        iface = self.models.interfaces.get(source.model) if source is not None else None
        return iface.relationships.get(name) if iface is not None else None
