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

The types are graphql-core types made directly, not strawberry classes: strawberry evaluates the
annotations of every field of every class, which took 13-15 s for RealEstateCore's 768 Interfaces.
They join the generic part (built by strawberry: ``Twin``, ``PageInfo``, ``JSON``) in
:class:`~dtgraph.api.schema.DtSchema`, and their resolvers are plain graphql-core resolvers. Fields
are filled in lazily (thunks), so cycles (``Machine.feeds → Machine``) need no ordering.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from graphql import (
    GraphQLArgument,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLEnumValue,
    GraphQLField,
    GraphQLFloat,
    GraphQLInputField,
    GraphQLInputObjectType,
    GraphQLInputType,
    GraphQLInt,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
)

from dtgraph.api.context import require
from dtgraph.api.generic import TwinRef, context, encode_cursor, fetch_page, make_filter, page_info, wrap
from dtgraph.api.lookahead import RELATIONSHIP_FIELD, steps_below
from dtgraph.api.names import (
    RESERVED_FIELDS,
    RESERVED_TYPES,
    Names,
    enum_value_name,
    field_name,
    qualified_name,
    query_field_name,
    short_name,
)
from dtgraph.dtdl import Component, Interface, ModelSet, Property, Relationship, Schema
from dtgraph.graph.records import Twin as TwinRecord
from dtgraph.stores.base import Filter

__all__ = ["TypedPart", "build_typed"]

Convert = Callable[[Any], Any]
Resolver = Callable[..., Any]


def _parse_long(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"Long cannot represent a non-integer value: {value!r}")
    if not -(2**63) <= value < 2**64:
        raise ValueError(f"Long cannot represent {value}: beyond 64 bits")
    return value


LONG = GraphQLScalarType(
    "Long",
    description="An integer of up to 64 bits (DTDL long, unsignedInteger, unsignedLong).",
    serialize=int,
    parse_value=_parse_long,
)


# --- operator filters on scalars -------------------------------------------------------------------

_ORDERED = ("eq", "ne", "lt", "le", "gt", "ge", "in")  # the operators of a scalar with an order
_OPS = (*_ORDERED, "exists")  # every operator a typed filter may hold


def _optional(kind: GraphQLInputType) -> GraphQLInputField:
    """An input field that is null when not given."""
    return GraphQLInputField(kind, default_value=None)


def _operator_filter(
    name: str, kind: GraphQLInputType, ops: Sequence[str], description: str
) -> GraphQLInputObjectType:
    """Conditions on a scalar: each operator of ``ops`` against a value (``in`` against a list), and
    ``exists``."""
    fields = {op: _optional(GraphQLList(GraphQLNonNull(kind)) if op == "in" else kind) for op in ops}
    fields["exists"] = _optional(GraphQLBoolean)
    return GraphQLInputObjectType(name, fields, description=description)


def _conditions(kind: str) -> str:
    return f"Conditions on {kind} property; all that are given must hold."


INT_FILTER = _operator_filter("IntFilter", GraphQLInt, _ORDERED, _conditions("an Int"))
LONG_FILTER = _operator_filter("LongFilter", LONG, _ORDERED, _conditions("a Long"))
FLOAT_FILTER = _operator_filter("FloatFilter", GraphQLFloat, _ORDERED, _conditions("a Float"))
STRING_FILTER = _operator_filter("StringFilter", GraphQLString, _ORDERED, _conditions("a String"))
BOOLEAN_FILTER = _operator_filter("BooleanFilter", GraphQLBoolean, ("eq", "ne"), _conditions("a Boolean"))


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


_PRIMITIVES: dict[str, tuple[GraphQLScalarType, GraphQLInputObjectType, Convert]] = {}
for _kinds, _entry in (
    (("boolean",), (GraphQLBoolean, BOOLEAN_FILTER, _bool)),
    (("integer", "short", "byte", "unsignedShort", "unsignedByte"), (GraphQLInt, INT_FILTER, _int)),
    (("long", "unsignedInteger", "unsignedLong"), (LONG, LONG_FILTER, _long)),
    (("double", "float"), (GraphQLFloat, FLOAT_FILTER, _float)),
    (
        ("decimal", "string", "date", "dateTime", "time", "duration", "uuid", "bytes"),
        (GraphQLString, STRING_FILTER, _str),
    ),
):
    for _kind in _kinds:
        _PRIMITIVES[_kind] = _entry


def _same(value: Any) -> Any:
    return value


def _mapping(value: Any) -> Any:
    return value if isinstance(value, Mapping) else None


def _dict(root: Any) -> Mapping[str, Any]:
    return cast(Mapping[str, Any], root) if isinstance(root, Mapping) else {}


def _properties(root: TwinRef) -> Mapping[str, Any]:
    return root.twin.properties


def _non_null_list(of: GraphQLOutputType) -> GraphQLOutputType:
    return GraphQLNonNull(GraphQLList(GraphQLNonNull(of)))


# --- what the builder returns ----------------------------------------------------------------------


@dataclass
class TypedPart:
    """The generated types, the query fields to add to ``Query`` and each model's object type name."""

    types: list[GraphQLNamedType] = field(default_factory=list)
    query_fields: dict[str, GraphQLField] = field(default_factory=dict)
    twin_type_names: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _FilterSpec:
    """How one field of a generated filter input becomes store filters."""

    key: str  # the GraphQL name of the input field
    name: str  # the DTDL name: one segment of the property path
    nested: list[_FilterSpec] | None = None  # an Object or component: conditions below it


def _filters(value: Mapping[str, Any], specs: Sequence[_FilterSpec], prefix: str = "") -> list[Filter]:
    """The store filters of a typed ``where`` (graphql-core gives input objects as dicts, enum
    members as their DTDL values)."""
    out: list[Filter] = []
    for spec in specs:
        given = value.get(spec.key)
        if given is None:
            continue
        path = prefix + spec.name
        if spec.nested is not None:
            out.extend(_filters(given, spec.nested, path + "."))
            continue
        for op in _OPS:
            operand = given.get(op)
            if operand is not None:
                out.append(make_filter(path, op, operand))
    return out


# --- the builder -----------------------------------------------------------------------------------


def build_typed(models: ModelSet, generic: GraphQLSchema) -> TypedPart:
    """Every generated type and query field for ``models``, over the generic part ``generic`` (its
    ``Twin`` interface, ``UntypedTwin`` fields, ``PageInfo`` and ``JSON``)."""
    return _Builder(models, generic).build()


# a field whose type names generated types not made yet: made when the schema asks for the fields
_LazyField = Callable[[], GraphQLField]


class _Builder:
    def __init__(self, models: ModelSet, generic: GraphQLSchema) -> None:
        self.models = models
        self.twin = cast(GraphQLInterfaceType, generic.type_map["Twin"])
        self.twin_fields = cast(GraphQLObjectType, generic.type_map["UntypedTwin"]).fields
        self.json = cast(GraphQLScalarType, generic.type_map["JSON"])
        self.page_info = cast(GraphQLObjectType, generic.type_map["PageInfo"])
        self.names = Names(RESERVED_TYPES)
        self.type_names = self.names.models(models.interfaces)
        self.order = sorted(models.interfaces)
        self.ancestors = {d: [a for a in models.ancestors(d) if a in models.interfaces] for d in self.order}
        self.extended = {a for d in self.order for a in self.ancestors[d]}
        self.part = TypedPart(twin_type_names=dict(self.type_names))
        self.objects: dict[str, GraphQLObjectType] = {}
        self.interfaces: dict[str, GraphQLInterfaceType] = {}
        self.schema_types: dict[str, tuple[GraphQLOutputType, Convert] | None] = {}
        self.schema_filters: dict[str, tuple[GraphQLInputObjectType, list[_FilterSpec]] | None] = {}
        self.components: dict[str, GraphQLObjectType | None] = {}
        self.component_filters: dict[str, tuple[GraphQLInputObjectType, list[_FilterSpec]] | None] = {}
        self.relationship_fields: dict[int, _LazyField] = {}
        self.busy: set[str] = set()

    # --- helpers ---------------------------------------------------------------------------------

    def add(self, made: Any) -> Any:
        self.part.types.append(made)
        return made

    @staticmethod
    def describe(values: Mapping[str, str]) -> str | None:
        return values.get("en") or next(iter(values.values()), None)

    @staticmethod
    def fields_of(
        fields: Mapping[str, GraphQLField | _LazyField], base: Mapping[str, GraphQLField] | None = None
    ) -> Callable[[], dict[str, GraphQLField]]:
        def thunk() -> dict[str, GraphQLField]:
            made = {name: f if isinstance(f, GraphQLField) else f() for name, f in fields.items()}
            return {**base, **made} if base is not None else made

        return thunk

    # --- the whole ---------------------------------------------------------------------------------

    def build(self) -> TypedPart:
        for dtmi in self.order:
            if dtmi in self.extended:
                self.interfaces[dtmi] = self.model_type(dtmi, interface=True)
        for dtmi in self.order:
            self.objects[dtmi] = self.model_type(dtmi, interface=False)
        query_names = Names(RESERVED_FIELDS)
        for dtmi in self.order:
            name = query_names.claim(query_field_name(self.type_names[dtmi]))
            self.part.query_fields[name] = self.query_field(dtmi)
        return self.part

    def node_type(self, dtmi: str) -> GraphQLObjectType | GraphQLInterfaceType:
        return self.interfaces.get(dtmi) or self.objects[dtmi]

    def implemented(self, dtmi: str, interface: bool) -> Callable[[], list[GraphQLInterfaceType]]:
        """``Twin``, the type's own ``…Interface`` (an object type of an extended model) and those of
        its ancestors."""
        up = [*self.ancestors[dtmi]]
        if not interface and dtmi in self.extended:
            up.insert(0, dtmi)
        return lambda: [self.twin, *(self.interfaces[a] for a in up)]

    def model_type(self, dtmi: str, *, interface: bool) -> Any:
        iface = self.models.interfaces[dtmi]
        base = self.type_names[dtmi]
        name = self.names.claim(base + "Interface") if interface else base
        fields = self.fields_of(self.content_fields(iface, _properties), self.twin_fields)
        description = self.describe(iface.description) or self.describe(iface.display_name) or dtmi
        if interface:
            return self.add(
                GraphQLInterfaceType(
                    name,
                    fields,
                    interfaces=self.implemented(dtmi, True),
                    resolve_type=_type_name,
                    description=description,
                )
            )
        return self.add(
            GraphQLObjectType(name, fields, interfaces=self.implemented(dtmi, False), description=description)
        )

    def content_fields(
        self, iface: Interface, values: Callable[[Any], Mapping[str, Any]]
    ) -> dict[str, GraphQLField | _LazyField]:
        """Fields for the properties, relationships and components of ``iface``."""
        fields: dict[str, GraphQLField | _LazyField] = {}
        for content in iface.contents.values():
            name = field_name(content.name)
            description = self.describe(content.description) or self.describe(content.display_name)
            if isinstance(content, Property):
                kind, convert = self.output(content.schema, iface.id)
                resolver = _property_resolver(content.name, convert, values)
                fields[name] = GraphQLField(kind, resolve=resolver, description=description)
            elif isinstance(content, Relationship):
                fields[name] = self.relationship_field(content, description)
            elif isinstance(content, Component):
                component = self.component(content.schema)
                if component is not None:
                    resolver = _property_resolver(content.name, _mapping, values)
                    fields[name] = GraphQLField(component, resolve=resolver, description=description)
        return fields

    def relationship_field(self, rel: Relationship, description: str | None) -> _LazyField:
        known = self.relationship_fields.get(id(rel))
        if known is not None:
            return known
        name = rel.name
        target = rel.target if rel.target in self.models.interfaces else None
        if target is None:
            fits: Callable[[str], bool] = lambda model: True  # noqa: E731
        else:
            subtypes = {d for d in self.order if d == target or target in self.ancestors[d]}
            fits = subtypes.__contains__

        async def resolve(root: TwinRef, info: GraphQLResolveInfo[Any]) -> list[TwinRef]:
            pairs = await root.loaders.neighbours_of(root.twin.id, name, "out", steps_below(info))
            targets: dict[str, TwinRecord] = {}
            for _, twin in pairs:  # each target once, in the order of the relationships
                targets.setdefault(twin.id, twin)
            return [wrap(info, t, root.loaders) for t in targets.values() if fits(t.model)]

        def made() -> GraphQLField:
            kind = self.twin if target is None else self.node_type(target)
            return GraphQLField(
                _non_null_list(kind),
                resolve=resolve,
                description=description,
                extensions={RELATIONSHIP_FIELD: name},
            )

        self.relationship_fields[id(rel)] = made
        return made

    # --- schemas -----------------------------------------------------------------------------------

    def output(self, schema: Schema | None, owner: str) -> tuple[GraphQLOutputType, Convert]:
        """The (nullable) output type and value converter of a property schema."""
        if schema is None:
            return self.json, _same
        primitive = _PRIMITIVES.get(schema.kind)
        if primitive is not None:
            return primitive[0], primitive[2]
        if schema.kind == "Array" and schema.element_schema is not None:
            inner, convert = self.output(schema.element_schema, owner)

            def array(value: Any) -> Any:
                return [convert(v) for v in value] if isinstance(value, list) else None

            return GraphQLList(inner), array
        if schema.kind in ("Enum", "Object"):
            known = self.schema_types.get(schema.id)
            if schema.id not in self.schema_types and schema.id not in self.busy:
                self.busy.add(schema.id)
                known = self.enum(schema) if schema.kind == "Enum" else self.object(schema, owner)
                self.busy.discard(schema.id)
                self.schema_types[schema.id] = known
            if known is not None:
                return known
        return self.json, _same  # Map, an empty Object or Enum, a recursive schema, an unknown kind

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
        short = short_name(dtmi)
        return qualified_name(dtmi) if short in RESERVED_TYPES else short

    def enum(self, schema: Schema) -> tuple[GraphQLOutputType, Convert] | None:
        if not schema.enum_values:
            return None
        values: dict[str, GraphQLEnumValue] = {}
        for v in schema.enum_values:  # two names may sanitise alike: keep the first
            values.setdefault(enum_value_name(v.name), GraphQLEnumValue(v.value))
        name = self.schema_name(schema)
        made = self.add(GraphQLEnumType(name, values, description=self.describe(schema.description)))
        # a stored value is answered when it is one of the enum's (of the same type: 1 is not True)
        known = {(type(v.value), v.value) for v in values.values()}

        def convert(value: Any) -> Any:
            return value if isinstance(value, int | str) and (type(value), value) in known else None

        self.schema_filters[schema.id] = (self.enum_filter(name, made), [])
        return made, convert

    def enum_filter(self, name: str, enum: GraphQLEnumType) -> GraphQLInputObjectType:
        fields = {
            "eq": _optional(enum),
            "ne": _optional(enum),
            "in": _optional(GraphQLList(GraphQLNonNull(enum))),
            "exists": _optional(GraphQLBoolean),
        }
        return cast(
            GraphQLInputObjectType,
            self.add(GraphQLInputObjectType(self.names.claim(name + "Filter"), fields)),
        )

    def object(self, schema: Schema, owner: str) -> tuple[GraphQLOutputType, Convert] | None:
        if not schema.fields:
            return None
        name = self.schema_name(schema)
        fields: dict[str, GraphQLField | _LazyField] = {}
        for f in schema.fields:
            fname = field_name(f.name, ())
            if fname in fields:
                continue
            kind, convert = self.output(f.schema, owner)
            resolver = _property_resolver(f.name, convert, _dict)
            description = self.describe(f.description) or self.describe(f.display_name)
            fields[fname] = GraphQLField(kind, resolve=resolver, description=description)
        made = self.add(
            GraphQLObjectType(name, self.fields_of(fields), description=self.describe(schema.description))
        )
        return made, _mapping

    def component(self, dtmi: str) -> GraphQLObjectType | None:
        if dtmi in self.components:
            return self.components[dtmi]
        iface = self.models.interfaces.get(dtmi)
        self.components[dtmi] = None
        if iface is None:
            return None
        fields = self.content_fields_of_component(iface)
        if not fields:
            return None
        name = self.names.claim(self.type_names[dtmi] + "Component")
        made = self.add(GraphQLObjectType(name, self.fields_of(fields), description=dtmi))
        self.components[dtmi] = made
        return cast(GraphQLObjectType, made)

    def content_fields_of_component(self, iface: Interface) -> dict[str, GraphQLField | _LazyField]:
        fields: dict[str, GraphQLField | _LazyField] = {}
        for content in iface.contents.values():
            if isinstance(content, Property):
                kind, convert = self.output(content.schema, iface.id)
                resolver = _property_resolver(content.name, convert, _dict)
                description = self.describe(content.description) or self.describe(content.display_name)
                fields[field_name(content.name)] = GraphQLField(
                    kind, resolve=resolver, description=description
                )
        return fields

    # --- filters -----------------------------------------------------------------------------------

    def filter_input(
        self, schema: Schema | None
    ) -> tuple[GraphQLInputObjectType, list[_FilterSpec] | None] | None:
        """The filter input of a property schema: (input type, nested specs or None)."""
        if schema is None:
            return None
        primitive = _PRIMITIVES.get(schema.kind)
        if primitive is not None:
            return primitive[1], None
        if schema.kind == "Enum":
            self.output(schema, "")
            found = self.schema_filters.get(schema.id)
            return (found[0], None) if found is not None else None
        if schema.kind == "Object":
            if schema.id not in self.schema_filters:
                self.schema_filters[schema.id] = None
                made = self.filter_class(
                    self.schema_name_filter(schema), [(f.name, f.schema) for f in schema.fields]
                )
                self.schema_filters[schema.id] = made
            return self.schema_filters[schema.id]
        return None

    def schema_name_filter(self, schema: Schema) -> str:
        known = self.schema_types.get(schema.id)
        base = cast(GraphQLNamedType, known[0]).name if known is not None else "Object"
        return base + "Filter"

    def filter_class(
        self, name: str, members: Sequence[tuple[str, Schema | Component | None]]
    ) -> tuple[GraphQLInputObjectType, list[_FilterSpec]] | None:
        found: tuple[GraphQLInputObjectType, list[_FilterSpec] | None] | None
        fields: dict[str, GraphQLInputField] = {}
        specs: list[_FilterSpec] = []
        for dtdl_name, schema in members:
            if isinstance(schema, Component):
                found = self.component_filter(schema.schema)
            else:
                found = self.filter_input(schema)
            fname = field_name(dtdl_name, ())
            if found is None or fname in fields:
                continue
            kind, nested = found
            fields[fname] = _optional(kind)
            specs.append(_FilterSpec(fname, dtdl_name, nested))
        if not specs:
            return None
        made = self.add(GraphQLInputObjectType(self.names.claim(name), fields))
        return made, specs

    def component_filter(self, dtmi: str) -> tuple[GraphQLInputObjectType, list[_FilterSpec]] | None:
        if dtmi not in self.component_filters:
            self.component_filters[dtmi] = None
            iface = self.models.interfaces.get(dtmi)
            if iface is not None:
                members = [(p.name, p.schema) for p in iface.properties.values()]
                self.component_filters[dtmi] = self.filter_class(
                    self.type_names[dtmi] + "ComponentFilter", members
                )
        return self.component_filters[dtmi]

    def model_filter(self, iface: Interface) -> tuple[GraphQLInputObjectType, list[_FilterSpec]] | None:
        members: list[tuple[str, Schema | Component | None]] = []
        for content in iface.contents.values():
            if isinstance(content, Property):
                members.append((content.name, content.schema))
            elif isinstance(content, Component):
                members.append((content.name, content))
        return self.filter_class(self.type_names[iface.id] + "Filter", members)

    # --- query fields ------------------------------------------------------------------------------

    def query_field(self, dtmi: str) -> GraphQLField:
        type_name = self.type_names[dtmi]
        node = self.node_type(dtmi)
        edge = self.add(
            GraphQLObjectType(
                self.names.claim(type_name + "Edge"),
                {
                    "node": GraphQLField(GraphQLNonNull(node)),
                    "cursor": GraphQLField(GraphQLNonNull(GraphQLString)),
                },
            )
        )
        connection = self.add(
            GraphQLObjectType(
                self.names.claim(type_name + "Connection"),
                {
                    "edges": GraphQLField(_non_null_list(edge)),
                    "pageInfo": GraphQLField(GraphQLNonNull(self.page_info)),
                },
                description=f"A page of twins of {dtmi} and the models extending it (Relay connection).",
            )
        )
        found = self.model_filter(self.models.interfaces[dtmi])
        specs = found[1] if found is not None else []

        async def resolve(
            root: Any,
            info: GraphQLResolveInfo[Any],
            where: Mapping[str, Any] | None = None,
            first: int | None = None,
            after: str | None = None,
        ) -> dict[str, Any]:
            require(context(info), "reader")
            filters = _filters(where, specs) if where is not None else []
            refs, more = await fetch_page(info, dtmi, True, filters, first, after)
            edges = [{"node": r, "cursor": encode_cursor(r.twin.id)} for r in refs]
            return {"edges": edges, "pageInfo": page_info(refs, more)}

        args = {
            "first": GraphQLArgument(GraphQLInt, default_value=None),
            "after": GraphQLArgument(GraphQLString, default_value=None),
        }
        if found is not None:
            args = {"where": GraphQLArgument(found[0], default_value=None), **args}
        description = f"Twins of {dtmi} (and the models extending it) whose properties pass `where`, by id."
        return GraphQLField(GraphQLNonNull(connection), args, resolve=resolve, description=description)


def _property_resolver(name: str, convert: Convert, values: Callable[[Any], Mapping[str, Any]]) -> Resolver:
    def resolve(root: Any, info: GraphQLResolveInfo[Any]) -> Any:
        return convert(values(root).get(name))

    return resolve


def _type_name(obj: Any, info: GraphQLResolveInfo[Any], abstract: Any) -> str:
    return cast(TwinRef, obj).type_name
