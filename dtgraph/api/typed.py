"""The typed part of the schema, generated from the loaded models.

Each Interface becomes a GraphQL object type implementing ``Twin``, with a field per property
(typed from its DTDL schema), per relationship (the typed targets) and per component (an object of
the component's properties). An Interface that others extend is also a GraphQL interface (``…Interface``)
that the object types of all its descendants implement, so a query on a base model selects the common
fields directly. Each Interface gets a query field ``<type>s(where, first, after)`` with a typed filter
input (``{temperature: {gt: 20}}``). Names follow :mod:`dtgraph.api.names`.

DTDL schema → GraphQL: boolean → Boolean; integer, short, byte, unsignedShort, unsignedByte → Int; long,
unsignedInteger, unsignedLong → Long (a 64-bit integer scalar); double, float → Float; decimal, string,
date, dateTime, time, duration, uuid, bytes → String; Enum → an enum of its value names; Object → an
object type; Array → a list; Map → JSON. Telemetry and commands are not stored with twins and have no
field here.

Classes are made with ``type()`` and strawberry's decorators. Fields that refer to generated types name
them through a namespace filled before the schema is converted, so cycles (``Machine.feeds → Machine``)
need no ordering.
"""

from __future__ import annotations

import itertools
import sys
import types
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, NewType, cast

import strawberry
from strawberry import Info
from strawberry.annotation import StrawberryAnnotation
from strawberry.scalars import JSON
from strawberry.types.field import StrawberryField

from dtgraph.api.context import require
from dtgraph.api.generic import (
    PageInfo,
    TwinInterface,
    TwinRef,
    context,
    encode_cursor,
    fetch_page,
    load_twins,
    make_filter,
)
from dtgraph.api.names import (
    RESERVED_FIELDS,
    RESERVED_TYPES,
    Names,
    enum_value_name,
    field_name,
    query_field_name,
)
from dtgraph.dtdl import Component, Interface, ModelSet, Property, Relationship, Schema
from dtgraph.stores.base import Filter

__all__ = [
    "LONG",
    "BooleanFilter",
    "FloatFilter",
    "IntFilter",
    "Long",
    "LongFilter",
    "StringFilter",
    "TypedPart",
    "build_typed",
]


def _parse_long(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"Long cannot represent a non-integer value: {value!r}")
    if not -(2**63) <= value < 2**64:
        raise ValueError(f"Long cannot represent {value}: beyond 64 bits")
    return value


Long = NewType("Long", int)
LONG = strawberry.scalar(
    name="Long",
    description="An integer of up to 64 bits (DTDL long, unsignedInteger, unsignedLong).",
    serialize=int,
    parse_value=_parse_long,
)  # the schema maps Long to it (StrawberryConfig.scalar_map)


# --- operator filters on scalars -------------------------------------------------------------------


@strawberry.input(description="Conditions on an Int property; all that are given must hold.")
class IntFilter:
    eq: int | None = None
    ne: int | None = None
    lt: int | None = None
    le: int | None = None
    gt: int | None = None
    ge: int | None = None
    in_: list[int] | None = strawberry.field(name="in", default=None)
    exists: bool | None = None


@strawberry.input(description="Conditions on a Long property; all that are given must hold.")
class LongFilter:
    eq: Long | None = None
    ne: Long | None = None
    lt: Long | None = None
    le: Long | None = None
    gt: Long | None = None
    ge: Long | None = None
    in_: list[Long] | None = strawberry.field(name="in", default=None)
    exists: bool | None = None


@strawberry.input(description="Conditions on a Float property; all that are given must hold.")
class FloatFilter:
    eq: float | None = None
    ne: float | None = None
    lt: float | None = None
    le: float | None = None
    gt: float | None = None
    ge: float | None = None
    in_: list[float] | None = strawberry.field(name="in", default=None)
    exists: bool | None = None


@strawberry.input(description="Conditions on a String property; all that are given must hold.")
class StringFilter:
    eq: str | None = None
    ne: str | None = None
    lt: str | None = None
    le: str | None = None
    gt: str | None = None
    ge: str | None = None
    in_: list[str] | None = strawberry.field(name="in", default=None)
    exists: bool | None = None


@strawberry.input(description="Conditions on a Boolean property; all that are given must hold.")
class BooleanFilter:
    eq: bool | None = None
    ne: bool | None = None
    exists: bool | None = None


_OPS = ("eq", "ne", "lt", "le", "gt", "ge", "in_", "exists")

_PRIMITIVES: dict[str, tuple[Any, type, Callable[[Any], Any]]] = {}


def _int(value: Any) -> Any:
    ok = isinstance(value, int) and not isinstance(value, bool) and -(2**31) <= value < 2**31
    return value if ok else None


def _long(value: Any) -> Any:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> Any:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _str(value: Any) -> Any:
    return value if isinstance(value, str) else None


def _bool(value: Any) -> Any:
    return value if isinstance(value, bool) else None


for _kinds, _entry in (
    (("boolean",), (bool, BooleanFilter, _bool)),
    (("integer", "short", "byte", "unsignedShort", "unsignedByte"), (int, IntFilter, _int)),
    (("long", "unsignedInteger", "unsignedLong"), (Long, LongFilter, _long)),
    (("double", "float"), (float, FloatFilter, _float)),
    (
        ("decimal", "string", "date", "dateTime", "time", "duration", "uuid", "bytes"),
        (str, StringFilter, _str),
    ),
):
    for _kind in _kinds:
        _PRIMITIVES[_kind] = _entry


def _same(value: Any) -> Any:
    return value


# --- what the builder returns ----------------------------------------------------------------------


@dataclass
class TypedPart:
    """The generated types, the query fields to add to ``Query`` and each model's object type name."""

    module: str = ""  # the module holding the generated classes (in sys.modules while the schema lives)
    types: list[type] = field(default_factory=list)
    query_fields: dict[str, StrawberryField] = field(default_factory=dict)
    twin_type_names: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _FilterSpec:
    """How one field of a generated filter input becomes store filters."""

    attr: str
    name: str  # the DTDL name: one segment of the property path
    nested: list[_FilterSpec] | None = None  # an Object or component: conditions below it
    enum: bool = False  # values are enum members: the store compares their raw values


def _raw(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list):
        return [_raw(v) for v in value]
    return value


def _filters(value: Any, specs: Sequence[_FilterSpec], prefix: str = "") -> list[Filter]:
    out: list[Filter] = []
    for spec in specs:
        given = getattr(value, spec.attr, None)
        if given is None or given is strawberry.UNSET:
            continue
        path = prefix + spec.name
        if spec.nested is not None:
            out.extend(_filters(given, spec.nested, path + "."))
            continue
        for op in _OPS:
            operand = getattr(given, op, None)
            if operand is None or operand is strawberry.UNSET:
                continue
            out.append(make_filter(path, op.rstrip("_"), _raw(operand)))
    return out


# --- the builder -----------------------------------------------------------------------------------


_BUILDS = itertools.count(1)


def build_typed(models: ModelSet) -> TypedPart:
    """Every generated type and query field for ``models``."""
    return _Builder(models).build()


class _Builder:
    def __init__(self, models: ModelSet) -> None:
        self.models = models
        self.names = Names(RESERVED_TYPES)
        self.type_names = self.names.models(models.interfaces)
        self.order = sorted(models.interfaces)
        self.ancestors = {d: [a for a in models.ancestors(d) if a in models.interfaces] for d in self.order}
        self.extended = {a for d in self.order for a in self.ancestors[d]}
        # Generated classes live in a module of their own, whose namespace resolves the annotations
        # naming them: strawberry looks there when it converts the schema.
        module = types.ModuleType(f"{__name__}_{next(_BUILDS)}")
        sys.modules[module.__name__] = module
        self.ns: dict[str, Any] = module.__dict__
        self.ns.update({"JSON": JSON, "Long": Long, "TwinInterface": TwinInterface})
        self.part = TypedPart(module=module.__name__, twin_type_names=dict(self.type_names))
        self.objects: dict[str, type] = {}
        self.interfaces: dict[str, type] = {}
        self.schema_types: dict[str, tuple[Any, Callable[[Any], Any]] | None] = {}
        self.schema_filters: dict[str, tuple[type, list[_FilterSpec]] | None] = {}
        self.components: dict[str, type | None] = {}
        self.component_filters: dict[str, tuple[type, list[_FilterSpec]] | None] = {}
        self.resolvers: dict[int, tuple[Callable[..., Any], str]] = {}
        self.busy: set[str] = set()
        # the node type of each model, by a key filled in once every type exists (cycles need no order)
        self.model_keys = {d: f"M{i}" for i, d in enumerate(self.order)}

    # --- helpers ---------------------------------------------------------------------------------

    def key(self, cls: type) -> str:
        """The name under which ``cls`` is in the annotation namespace."""
        name = f"T{len(self.ns)}"
        self.ns[name] = cls
        return name

    def field(self, name: str, resolver: Callable[..., Any], annotation: Any, description: str | None) -> Any:
        """A field whose type is ``annotation``: a type, or a string naming generated types (cycles)."""
        made = strawberry.field(resolver=resolver, name=name, description=description)
        namespace = self.ns if isinstance(annotation, str) else None
        made.type_annotation = StrawberryAnnotation(annotation, namespace=namespace)
        return made

    def make(
        self,
        name: str,
        attrs: dict[str, Any],
        *,
        kind: str = "type",
        bases: tuple[type, ...] = (),
        description: str | None = None,
    ) -> type:
        body = {"__module__": self.part.module, "__annotations__": attrs.pop("__annotations__", {}), **attrs}
        cls = type(f"_Generated{len(self.part.types)}", bases, body)
        decorator: Any = {
            "type": strawberry.type,
            "interface": strawberry.interface,
            "input": strawberry.input,
        }[kind]
        made = cast(type, decorator(cls, name=name, description=description))
        self.part.types.append(made)
        return made

    @staticmethod
    def describe(values: Mapping[str, str]) -> str | None:
        return values.get("en") or next(iter(values.values()), None)

    # --- the whole ---------------------------------------------------------------------------------

    def build(self) -> TypedPart:
        for dtmi in self.order:
            if dtmi in self.extended:
                self.interfaces[dtmi] = self.model_type(dtmi, interface=True)
        for dtmi in self.order:
            self.objects[dtmi] = self.model_type(dtmi, interface=False)
        for dtmi, cls in [*self.interfaces.items(), *self.objects.items()]:
            up = [*self.ancestors[dtmi]]
            if cls is self.objects[dtmi] and dtmi in self.extended:
                up.insert(0, dtmi)
            definition = cls.__strawberry_definition__  # type: ignore[attr-defined]
            definition.interfaces.extend(self.interfaces[a].__strawberry_definition__ for a in up)  # type: ignore[attr-defined]
        for dtmi, key in self.model_keys.items():
            self.ns[key] = self.node_type(dtmi)
        query_names = Names(RESERVED_FIELDS)
        for dtmi in self.order:
            name = query_names.claim(query_field_name(self.type_names[dtmi]))
            self.part.query_fields[f"q{len(self.part.query_fields)}"] = self.query_field(dtmi, name)
        return self.part

    def node_type(self, dtmi: str) -> type:
        return self.interfaces.get(dtmi) or self.objects[dtmi]

    def model_type(self, dtmi: str, *, interface: bool) -> type:
        iface = self.models.interfaces[dtmi]
        base = self.type_names[dtmi]
        name = self.names.claim(base + "Interface") if interface else base
        attrs = self.content_fields(iface, lambda root: root.twin.properties)
        return self.make(
            name,
            attrs,
            kind="interface" if interface else "type",
            bases=(TwinInterface,),
            description=self.describe(iface.description) or self.describe(iface.display_name) or dtmi,
        )

    def content_fields(self, iface: Interface, values: Callable[[Any], Mapping[str, Any]]) -> dict[str, Any]:
        """Fields for the properties, relationships and components of ``iface``."""
        attrs: dict[str, Any] = {}
        for content in iface.contents.values():
            name = field_name(content.name)
            description = self.describe(content.description) or self.describe(content.display_name)
            if isinstance(content, Property):
                annotation, convert = self.output(content.schema, iface.id)
                resolver = self.property_resolver(content.name, convert, values)
                attrs[f"f{len(attrs)}"] = self.field(name, resolver, annotation | None, description)
            elif isinstance(content, Relationship):
                resolver, annotation = self.relationship_resolver(content)
                attrs[f"f{len(attrs)}"] = self.field(name, resolver, annotation, description)
            elif isinstance(content, Component):
                component = self.component(content.schema)
                if component is not None:
                    resolver = self.property_resolver(content.name, _mapping, values)
                    attrs[f"f{len(attrs)}"] = self.field(name, resolver, component | None, description)
        return attrs

    @staticmethod
    def property_resolver(
        name: str, convert: Callable[[Any], Any], values: Callable[[Any], Mapping[str, Any]]
    ) -> Callable[..., Any]:
        def resolve(root: Any) -> Any:
            return convert(values(root).get(name))

        return resolve

    def relationship_resolver(self, rel: Relationship) -> tuple[Callable[..., Any], str]:
        known = self.resolvers.get(id(rel))
        if known is not None:
            return known
        name = rel.name
        target = rel.target if rel.target in self.models.interfaces else None
        if target is None:
            annotation = "list[TwinInterface]"
            fits: Callable[[str], bool] = lambda model: True  # noqa: E731
        else:
            annotation = f"list[{self.model_keys[target]}]"
            subtypes = {d for d in self.order if d == target or target in self.ancestors[d]}
            fits = subtypes.__contains__

        async def resolve(root: TwinRef, info: Info[Any, Any]) -> list[TwinRef]:
            rels = await root.loaders.relationships.load((root.twin.id, name, "out"))
            targets = list(dict.fromkeys(r.target for r in rels))
            return [t for t in await load_twins(info, root.loaders, targets) if fits(t.twin.model)]

        self.resolvers[id(rel)] = (resolve, annotation)
        return resolve, annotation

    # --- schemas -----------------------------------------------------------------------------------

    def output(self, schema: Schema | None, owner: str) -> tuple[Any, Callable[[Any], Any]]:
        """The annotation (in the namespace) and value converter of a property schema."""
        if schema is None:
            return JSON, _same
        primitive = _PRIMITIVES.get(schema.kind)
        if primitive is not None:
            return primitive[0], primitive[2]
        if schema.kind == "Array" and schema.element_schema is not None:
            inner, convert = self.output(schema.element_schema, owner)

            def array(value: Any) -> Any:
                return [convert(v) for v in value] if isinstance(value, list) else None

            return list[inner | None], array  # type: ignore[valid-type]
        if schema.kind in ("Enum", "Object"):
            known = self.schema_types.get(schema.id)
            if schema.id not in self.schema_types and schema.id not in self.busy:
                self.busy.add(schema.id)
                known = self.enum(schema) if schema.kind == "Enum" else self.object(schema, owner)
                self.busy.discard(schema.id)
                self.schema_types[schema.id] = known
            if known is not None:
                return known
        return JSON, _same  # Map, an empty Object or Enum, a recursive schema, an unknown kind

    def schema_name(self, schema: Schema) -> str:
        """Rule 6 of :mod:`dtgraph.api.names`."""
        if ":_" not in schema.id:
            return self.names.claim(self.names_for_dtmi(schema.id))
        base, _, rest = schema.id.partition(":_")
        version = schema.id.rsplit(";", 1)[-1]
        owner = self.type_names.get(f"{base};{version}") or self.names_for_dtmi(f"{base};{version}")
        steps = [s[2:] for s in rest.split(";", 1)[0].split(":") if s.startswith("__")]
        return self.names.claim("_".join([owner, *[field_name(s, ()) for s in steps]]))

    @staticmethod
    def names_for_dtmi(dtmi: str) -> str:
        from dtgraph.api.names import qualified_name, short_name

        short = short_name(dtmi)
        return qualified_name(dtmi) if short in RESERVED_TYPES else short

    def enum(self, schema: Schema) -> tuple[Any, Callable[[Any], Any]] | None:
        if not schema.enum_values:
            return None
        members = {
            f"m{i}": strawberry.enum_value(v.value, name=enum_value_name(v.name))
            for i, v in enumerate(schema.enum_values)
        }
        seen: set[str] = set()
        for i, v in enumerate(schema.enum_values):  # two names may sanitise alike: keep the first
            gname = enum_value_name(v.name)
            if gname in seen:
                members.pop(f"m{i}")
            seen.add(gname)
        python = Enum(f"_GeneratedEnum{len(self.part.types)}", members)  # type: ignore[misc]
        name = self.schema_name(schema)
        made = strawberry.enum(python, name=name, description=self.describe(schema.description))
        self.part.types.append(made)
        by_value: dict[Any, Any] = {}
        for member in python:
            by_value.setdefault((type(member.value), member.value), member)

        def convert(value: Any) -> Any:
            return by_value.get((type(value), value)) if isinstance(value, int | str) else None

        self.schema_filters[schema.id] = (self.enum_filter(name, made), [])
        return made, convert

    def enum_filter(self, name: str, enum: type) -> type:
        annotations = {
            "eq": enum | None,
            "ne": enum | None,
            "in_": list[enum] | None,  # type: ignore[valid-type]
            "exists": bool | None,
        }
        attrs: dict[str, Any] = {
            "__annotations__": annotations,
            "eq": None,
            "ne": None,
            "in_": strawberry.field(name="in", default=None),
            "exists": None,
        }
        return self.make(self.names.claim(name + "Filter"), attrs, kind="input")

    def object(self, schema: Schema, owner: str) -> tuple[Any, Callable[[Any], Any]] | None:
        if not schema.fields:
            return None
        name = self.schema_name(schema)
        attrs: dict[str, Any] = {}
        seen: set[str] = set()
        for f in schema.fields:
            fname = field_name(f.name, ())
            if fname in seen:
                continue
            seen.add(fname)
            annotation, convert = self.output(f.schema, owner)
            resolver = self.property_resolver(f.name, convert, _dict)
            description = self.describe(f.description) or self.describe(f.display_name)
            attrs[f"f{len(attrs)}"] = self.field(fname, resolver, annotation | None, description)
        made = self.make(name, attrs, description=self.describe(schema.description))
        return made, _mapping

    def component(self, dtmi: str) -> type | None:
        if dtmi in self.components:
            return self.components[dtmi]
        iface = self.models.interfaces.get(dtmi)
        self.components[dtmi] = None
        if iface is None:
            return None
        attrs = self.content_fields_of_component(iface)
        if not attrs:
            return None
        made = self.make(self.names.claim(self.type_names[dtmi] + "Component"), attrs, description=dtmi)
        self.components[dtmi] = made
        return made

    def content_fields_of_component(self, iface: Interface) -> dict[str, Any]:
        attrs: dict[str, Any] = {}
        for content in iface.contents.values():
            if isinstance(content, Property):
                annotation, convert = self.output(content.schema, iface.id)
                resolver = self.property_resolver(content.name, convert, _dict)
                description = self.describe(content.description) or self.describe(content.display_name)
                attrs[f"f{len(attrs)}"] = self.field(
                    field_name(content.name), resolver, annotation | None, description
                )
        return attrs

    # --- filters -----------------------------------------------------------------------------------

    def filter_input(self, schema: Schema | None) -> tuple[type, list[_FilterSpec] | None, bool] | None:
        """The filter input of a property schema: (class, nested specs or None, enum?)."""
        if schema is None:
            return None
        primitive = _PRIMITIVES.get(schema.kind)
        if primitive is not None:
            return primitive[1], None, False
        if schema.kind == "Enum":
            self.output(schema, "")
            found = self.schema_filters.get(schema.id)
            return (found[0], None, True) if found is not None else None
        if schema.kind == "Object":
            if schema.id not in self.schema_filters:
                self.schema_filters[schema.id] = None
                made = self.filter_class(
                    self.schema_name_filter(schema), [(f.name, f.schema) for f in schema.fields]
                )
                self.schema_filters[schema.id] = made
            found = self.schema_filters[schema.id]
            return (found[0], found[1], False) if found is not None else None
        return None

    def schema_name_filter(self, schema: Schema) -> str:
        known = self.schema_types.get(schema.id)
        base = known[0].__strawberry_definition__.name if known is not None else "Object"
        return base + "Filter"

    def filter_class(
        self, name: str, members: Sequence[tuple[str, Schema | Component | None]]
    ) -> tuple[type, list[_FilterSpec]] | None:
        annotations: dict[str, Any] = {}
        found: tuple[type, list[_FilterSpec] | None, bool] | None
        attrs: dict[str, Any] = {}
        specs: list[_FilterSpec] = []
        seen: set[str] = set()
        for dtdl_name, schema in members:
            if isinstance(schema, Component):
                made = self.component_filter(schema.schema)
                found = (made[0], made[1], False) if made is not None else None
            else:
                found = self.filter_input(schema)
            fname = field_name(dtdl_name, ())
            if found is None or fname in seen:
                continue
            seen.add(fname)
            cls, nested, is_enum = found
            attr = f"f{len(specs)}"
            annotations[attr] = cls | None
            attrs[attr] = strawberry.field(name=fname, default=None)
            specs.append(_FilterSpec(attr, dtdl_name, nested, is_enum))
        if not specs:
            return None
        made_cls = self.make(self.names.claim(name), {"__annotations__": annotations, **attrs}, kind="input")
        return made_cls, specs

    def component_filter(self, dtmi: str) -> tuple[type, list[_FilterSpec]] | None:
        if dtmi not in self.component_filters:
            self.component_filters[dtmi] = None
            iface = self.models.interfaces.get(dtmi)
            if iface is not None:
                members = [(p.name, p.schema) for p in iface.properties.values()]
                self.component_filters[dtmi] = self.filter_class(
                    self.type_names[dtmi] + "ComponentFilter", members
                )
        return self.component_filters[dtmi]

    def model_filter(self, iface: Interface) -> tuple[type, list[_FilterSpec]] | None:
        members: list[tuple[str, Schema | Component | None]] = []
        for content in iface.contents.values():
            if isinstance(content, Property):
                members.append((content.name, content.schema))
            elif isinstance(content, Component):
                members.append((content.name, content))
        return self.filter_class(self.type_names[iface.id] + "Filter", members)

    # --- query fields ------------------------------------------------------------------------------

    def query_field(self, dtmi: str, name: str) -> StrawberryField:
        type_name = self.type_names[dtmi]
        node = self.node_type(dtmi)
        edge = self.make(
            self.names.claim(type_name + "Edge"),
            {"__annotations__": {"node": node, "cursor": str}},
        )
        connection = self.make(
            self.names.claim(type_name + "Connection"),
            {"__annotations__": {"edges": list[edge], "page_info": PageInfo}},  # type: ignore[valid-type]
            description=f"A page of twins of {dtmi} and the models extending it (Relay connection).",
        )
        found = self.model_filter(self.models.interfaces[dtmi])
        specs = found[1] if found is not None else []

        async def resolve(
            info: Info[Any, Any], where: Any = None, first: int | None = None, after: str | None = None
        ) -> Any:
            ctx = context(info)
            require(ctx, "reader")
            filters = _filters(where, specs) if where is not None else []
            refs, more = await fetch_page(info, dtmi, True, filters, first, after)
            edges = [edge(node=r, cursor=encode_cursor(r.twin.id)) for r in refs]
            end = encode_cursor(refs[-1].twin.id) if refs else None
            return connection(edges=edges, page_info=PageInfo(has_next_page=more, end_cursor=end))

        annotations: dict[str, Any] = {
            "info": Info,
            "first": int | None,
            "after": str | None,
            "return": connection,
        }
        if found is not None:
            annotations["where"] = found[0] | None
            resolve.__annotations__ = annotations
            resolver: Callable[..., Any] = resolve
        else:

            async def resolver(
                info: Info[Any, Any], first: int | None = None, after: str | None = None
            ) -> Any:
                return await resolve(info, None, first, after)

            annotations.pop("where", None)
            resolver.__annotations__ = annotations
        description = f"Twins of {dtmi} (and the models extending it) whose properties pass `where`, by id."
        return cast(StrawberryField, strawberry.field(resolver=resolver, name=name, description=description))


def _mapping(value: Any) -> Any:
    return value if isinstance(value, Mapping) else None


def _dict(root: Any) -> Mapping[str, Any]:
    return cast(Mapping[str, Any], root) if isinstance(root, Mapping) else {}
