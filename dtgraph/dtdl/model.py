"""The parsed model: an immutable, typed view of every element, for the rest of the server.

``ModelSet.interfaces`` maps each Interface DTMI to an :class:`Interface` whose ``contents`` are its
effective contents (inherited ones included). Schemas are :class:`Schema` objects that know their
JSON Schema (see :mod:`dtgraph.dtdl.json_schema`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dtgraph.dtdl.checks import Graph
    from dtgraph.dtdl.metamodel import Metamodel
    from dtgraph.dtdl.parser import Node, Ref

__all__ = [
    "Command",
    "CommandPayload",
    "Component",
    "Content",
    "Element",
    "EnumValue",
    "Field",
    "Interface",
    "ModelSet",
    "Property",
    "Relationship",
    "Schema",
    "Telemetry",
]


@dataclass(frozen=True, eq=False)
class Element:
    """Any DTDL element: its DTMI, class, DTDL version, co-types and descriptive members."""

    id: str
    kind: str  # the DTDL class name: Interface, Property, Array, …
    version: int
    cotypes: tuple[str, ...] = ()
    display_name: Mapping[str, str] = field(default_factory=dict)
    description: Mapping[str, str] = field(default_factory=dict)
    comment: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # extension members (unit, annotates, …)

    def __repr__(self) -> str:
        return f"<{self.kind} {self.id}>"


@dataclass(frozen=True, eq=False, repr=False)
class Schema(Element):
    """A primitive schema (``kind`` 'boolean', 'integer', …) or a complex one (Array, Enum, Map, Object)."""

    element_schema: Schema | None = None  # Array
    value_schema: str | None = None  # Enum: 'integer' or 'string'
    enum_values: tuple[EnumValue, ...] = ()
    map_key: Field | None = None
    map_value: Field | None = None
    fields: tuple[Field, ...] = ()

    @property
    def is_primitive(self) -> bool:
        return self.kind[:1].islower()

    def json_schema(self) -> dict[str, Any]:
        from dtgraph.dtdl.json_schema import compile_schema

        return compile_schema(self)


@dataclass(frozen=True, eq=False, repr=False)
class EnumValue(Element):
    name: str = ""
    value: int | str = ""


@dataclass(frozen=True, eq=False, repr=False)
class Field(Element):
    """A named, typed slot: Object fields, Map keys and values, command payloads."""

    name: str = ""
    schema: Schema | None = None


@dataclass(frozen=True, eq=False, repr=False)
class CommandPayload(Field):
    nullable: bool = False


@dataclass(frozen=True, eq=False, repr=False)
class Content(Element):
    """A member of an Interface's contents."""

    name: str = ""
    defined_in: str = ""  # the Interface that declares it (differs from the owner when inherited)


@dataclass(frozen=True, eq=False, repr=False)
class Property(Content):
    schema: Schema | None = None
    writable: bool = False


@dataclass(frozen=True, eq=False, repr=False)
class Telemetry(Content):
    schema: Schema | None = None


@dataclass(frozen=True, eq=False, repr=False)
class Command(Content):
    request: CommandPayload | None = None
    response: CommandPayload | None = None


@dataclass(frozen=True, eq=False, repr=False)
class Relationship(Content):
    target: str | None = None
    min_multiplicity: int | None = None
    max_multiplicity: int | None = None
    properties: tuple[Property, ...] = ()
    writable: bool = False


@dataclass(frozen=True, eq=False, repr=False)
class Component(Content):
    schema: str = ""  # the Interface DTMI


@dataclass(frozen=True, eq=False, repr=False)
class Interface(Element):
    """An Interface with its effective contents (own and inherited), keyed by name."""

    extends: tuple[str, ...] = ()
    contents: Mapping[str, Content] = field(default_factory=dict)
    schemas: tuple[Schema, ...] = ()

    def _of(self, cls: type[Content]) -> Mapping[str, Any]:
        # read-only views, computed once: validation asks for them for every twin
        return MappingProxyType({n: c for n, c in self.contents.items() if isinstance(c, cls)})

    @cached_property
    def properties(self) -> Mapping[str, Property]:
        return self._of(Property)

    @cached_property
    def telemetries(self) -> Mapping[str, Telemetry]:
        return self._of(Telemetry)

    @cached_property
    def commands(self) -> Mapping[str, Command]:
        return self._of(Command)

    @cached_property
    def relationships(self) -> Mapping[str, Relationship]:
        return self._of(Relationship)

    @cached_property
    def components(self) -> Mapping[str, Component]:
        return self._of(Component)


@dataclass(frozen=True)
class ModelSet:
    """Every Interface of a parsed model, with the inheritance relation both ways."""

    interfaces: Mapping[str, Interface]
    elements: Mapping[str, Element]

    def ancestors(self, dtmi: str) -> list[str]:
        """Every Interface ``dtmi`` extends, directly or not, nearest first."""
        out: list[str] = []
        queue = list(self.interfaces[dtmi].extends)
        while queue:
            cur = queue.pop(0)
            if cur not in out:
                out.append(cur)
                if cur in self.interfaces:
                    queue.extend(self.interfaces[cur].extends)
        return out

    def descendants(self, dtmi: str) -> list[str]:
        """Every Interface that extends ``dtmi``, directly or not."""
        return [i for i in self.interfaces if dtmi in self.ancestors(i)]

    def is_a(self, dtmi: str, base: str) -> bool:
        return dtmi == base or base in self.ancestors(dtmi)

    def instance_errors(self, value: Any, element: Element | Schema) -> list[str]:
        """Messages for each way ``value`` breaks the schema of a Property, Telemetry, Field or Schema."""
        from dtgraph.dtdl.json_schema import instance_errors

        return instance_errors(value, element)


class _Builder:
    def __init__(self, graph: Graph, mm: Metamodel) -> None:
        self.g = graph
        self.mm = mm
        self.elements: dict[str, Element] = {}
        self.schemas: dict[str, Schema] = {}

    def resolve(self, v: Node | Ref) -> Node | str:
        from dtgraph.dtdl.parser import Node

        if isinstance(v, Node):
            return v
        return self.g.by_id.get(v.target) or v.target

    def base(self, n: Node) -> dict[str, Any]:
        extra = {k: v for k, v in n.literals.items() if k not in _CORE_LITERALS}
        for term, vals in n.children.items():
            if term not in _CORE_OBJECTS:
                extra[term] = [v.target if hasattr(v, "target") else v.id for v in vals]
        extra.update(n.undefined_members)
        return {
            "id": n.id,
            "kind": n.cls.term,
            "version": n.ctx.version,
            "cotypes": tuple(c.term for c in n.cotypes)
            + tuple(s.rsplit(":", 1)[-1].split(";")[0] for s in n.semantic_v2),
            "display_name": MappingProxyType(dict(n.literals.get("displayName") or {})),
            "description": MappingProxyType(dict(n.literals.get("description") or {})),
            "comment": n.literals.get("comment"),
            "extra": MappingProxyType(extra),
        }

    def schema(self, v: Node | Ref | None, depth: int = 0) -> Schema | None:
        if v is None:
            return None
        r = self.resolve(v)
        if isinstance(r, str):
            return self.standard(r)
        if r.id in self.schemas:
            return self.schemas[r.id]
        if depth > 64:  # recursive schemas (allowed in DTDL v4) are cut here
            return Schema(id=r.id, kind=r.cls.term, version=r.ctx.version)
        kind = r.cls.term
        args = self.base(r)
        if kind == "Array":
            s = Schema(**args, element_schema=self.schema(_first(r.children.get("elementSchema")), depth + 1))
        elif kind == "Enum":
            vs = _first(r.children.get("valueSchema"))
            s = Schema(
                **args,
                value_schema=_tail(vs.target) if vs is not None and hasattr(vs, "target") else None,
                enum_values=tuple(self.enum_value(e) for e in self.nodes(r, "enumValues")),
            )
        elif kind == "Map":
            s = Schema(
                **args,
                map_key=self.field(_first_node(self, r, "mapKey"), depth),
                map_value=self.field(_first_node(self, r, "mapValue"), depth),
            )
        elif kind == "Object":
            s = Schema(
                **args,
                fields=tuple(
                    f for f in (self.field(x, depth) for x in self.nodes(r, "fields")) if f is not None
                ),
            )
        else:
            s = Schema(**args)
        self.schemas[r.id] = s
        self.elements[r.id] = s
        return s

    def standard(self, dtmi: str) -> Schema:
        if dtmi not in self.schemas:
            self.schemas[dtmi] = Schema(id=dtmi, kind=_tail(dtmi), version=_version_of(dtmi))
        return self.schemas[dtmi]

    def nodes(self, n: Node, term: str) -> list[Node]:
        out = []
        for v in n.children.get(term, []):
            r = self.resolve(v)
            if not isinstance(r, str):
                out.append(r)
        return out

    def enum_value(self, n: Node) -> EnumValue:
        ev = EnumValue(**self.base(n), name=n.name() or "", value=n.literals.get("enumValue", ""))
        self.elements[n.id] = ev
        return ev

    def field(self, n: Node | None, depth: int) -> Field | None:
        if n is None:
            return None
        schema = self.schema(_first(n.children.get("schema")), depth + 1)
        if n.cls.term in ("CommandPayload", "CommandRequest", "CommandResponse"):
            f: Field = CommandPayload(
                **self.base(n), name=n.name() or "", schema=schema, nullable=bool(n.literals.get("nullable"))
            )
        else:
            f = Field(**self.base(n), name=n.name() or "", schema=schema)
        self.elements[n.id] = f
        return f

    def content(self, n: Node, owner: Node) -> Content | None:
        kind = n.cls.term
        common = {**self.base(n), "name": n.name() or "", "defined_in": owner.id}
        c: Content
        if kind == "Property":
            c = Property(
                **common,
                schema=self.schema(_first(n.children.get("schema"))),
                writable=bool(n.literals.get("writable")),
            )
        elif kind == "Telemetry":
            c = Telemetry(**common, schema=self.schema(_first(n.children.get("schema"))))
        elif kind == "Command":
            c = Command(**common, request=self.payload(n, "request"), response=self.payload(n, "response"))
        elif kind == "Relationship":
            props = tuple(
                p
                for p in (self.content(x, owner) for x in self.nodes(n, "properties"))
                if isinstance(p, Property)
            )
            c = Relationship(
                **common,
                target=n.literals.get("target"),
                min_multiplicity=n.literals.get("minMultiplicity"),
                max_multiplicity=n.literals.get("maxMultiplicity"),
                properties=props,
                writable=bool(n.literals.get("writable")),
            )
        elif kind == "Component":
            target = _first(n.children.get("schema"))
            r = self.resolve(target) if target is not None else ""
            c = Component(**common, schema=r if isinstance(r, str) else r.id)
        else:
            return None
        self.elements[n.id] = c
        return c

    def payload(self, n: Node, term: str) -> CommandPayload | None:
        nodes = self.nodes(n, term)
        f = self.field(nodes[0], 0) if nodes else None
        return f if isinstance(f, CommandPayload) else None

    def interface(self, n: Node, cache: dict[str, Interface]) -> Interface:
        if n.id in cache:
            return cache[n.id]
        contents: dict[str, Content] = {}
        extends: list[str] = []
        for p in self.nodes(n, "extends"):
            extends.append(p.id)
            for name, c in self.interface(p, cache).contents.items():
                contents.setdefault(name, c)
        for child in self.nodes(n, "contents"):
            own = self.content(child, n)
            if own is not None:
                contents[own.name] = own
        schemas = tuple(s for s in (self.schema(x) for x in self.nodes(n, "schemas")) if s is not None)
        iface = Interface(
            **self.base(n), extends=tuple(extends), contents=MappingProxyType(contents), schemas=schemas
        )
        cache[n.id] = iface
        self.elements[n.id] = iface
        return iface


_CORE_LITERALS = {
    "displayName",
    "description",
    "comment",
    "name",
    "writable",
    "target",
    "minMultiplicity",
    "maxMultiplicity",
    "enumValue",
    "nullable",
}
_CORE_OBJECTS = {
    "contents",
    "extends",
    "schemas",
    "schema",
    "elementSchema",
    "enumValues",
    "valueSchema",
    "mapKey",
    "mapValue",
    "fields",
    "request",
    "response",
    "properties",
    "commandType",
}


def _first(values: list[Any] | None) -> Any:
    return values[0] if values else None


def _first_node(b: _Builder, n: Node, term: str) -> Node | None:
    nodes = b.nodes(n, term)
    return nodes[0] if nodes else None


def _tail(dtmi: str) -> str:
    return dtmi.split(";")[0].rsplit(":", 1)[-1]


def _version_of(dtmi: str) -> int:
    tail = dtmi.rsplit(";", 1)[-1]
    return int(tail) if tail.isdigit() else 0


def build_model_set(graph: Graph, mm: Metamodel) -> ModelSet:
    b = _Builder(graph, mm)
    cache: dict[str, Interface] = {}
    for n in graph.nodes:
        if n.cls.partition:
            b.interface(n, cache)
    for n in graph.nodes:
        if n.id not in b.elements and any(_tail(a) == "Schema" for a in n.cls.ancestors):
            b.schema(n)
    return ModelSet(interfaces=MappingProxyType(dict(cache)), elements=MappingProxyType(dict(b.elements)))
