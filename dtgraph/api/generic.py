"""The generic part of the schema: models, twins and relationships whatever the models say.

``Twin`` is a GraphQL interface: every type generated from a model (see :mod:`dtgraph.api.typed`)
implements it, and ``UntypedTwin`` stands for twins whose model the schema does not know (a view of the
past). Resolvers read through the request's data loaders (:mod:`dtgraph.api.loaders`).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any, cast

import strawberry
from graphql import GraphQLResolveInfo, GraphQLSchema
from strawberry import Info
from strawberry.scalars import JSON
from strawberry.schema.schema_converter import GraphQLCoreConverter

from dtgraph.api.context import ApiContext, require
from dtgraph.api.errors import BAD_USER_INPUT, UNKNOWN_MODEL, UNSUPPORTED, ApiError
from dtgraph.api.loaders import Loaders, blocking, read
from dtgraph.api.lookahead import steps_below
from dtgraph.api.names import RESERVED_TYPES, Names
from dtgraph.dtdl import Command, Component, Interface, ModelSet, Property, Telemetry
from dtgraph.dtdl import Content as DtdlContent
from dtgraph.dtdl import Relationship as DtdlRelationship
from dtgraph.graph.records import Relationship as RelationshipRecord
from dtgraph.graph.records import Twin as TwinRecord
from dtgraph.stores.base import Change as ChangeRecord
from dtgraph.stores.base import Direction as StoreDirection
from dtgraph.stores.base import Filter, Step

if TYPE_CHECKING:
    from dtgraph.api.schema import DtSchema

__all__ = [
    "Change",
    "Content",
    "Direction",
    "FilterOp",
    "GenericQuery",
    "Model",
    "ModelRef",
    "PageInfo",
    "PropertyFilter",
    "Relationship",
    "RelationshipRef",
    "TwinConnection",
    "TwinEdge",
    "TwinInterface",
    "TwinRef",
    "UntypedTwin",
    "check_path",
    "decode_cursor",
    "encode_cursor",
    "fetch_page",
    "page_info",
    "wrap",
]

Ctx = Info[ApiContext, None]
AnyInfo = Info[Any, Any] | GraphQLResolveInfo[Any]  # strawberry's resolvers, and the typed part's plain ones

_NAME = re.compile(r"[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?")
_PATH = re.compile(r"[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?(?:\.[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?)*")
_CURSOR_PREFIX = "twin:"


def built(info: AnyInfo) -> DtSchema:
    """The dtgraph schema executing this request (its naming, configuration and hierarchy), for
    strawberry's resolvers and for the plain graphql-core ones of the typed part."""
    schema = info.schema
    if isinstance(schema, GraphQLSchema):
        schema = schema.extensions[GraphQLCoreConverter.DEFINITION_BACKREF]
    return cast("DtSchema", schema)


def context(info: AnyInfo) -> ApiContext:
    return cast(ApiContext, info.context)


# --- checks on arguments ---------------------------------------------------------------------------


def check_path(path: str) -> str:
    """A property path: DTDL names joined by dots (``temperature``, ``motor.rpm``)."""
    if len(path) > 1024 or not _PATH.fullmatch(path):
        raise ApiError(
            BAD_USER_INPUT,
            f"invalid property path {path[:100]!r}: expected DTDL names joined by '.'",
            {"argument": "path"},
        )
    return path


def check_name(name: str | None, argument: str = "name") -> str | None:
    """A relationship name (a DTDL name) or None."""
    if name is not None and (len(name) > 512 or not _NAME.fullmatch(name)):
        raise ApiError(BAD_USER_INPUT, f"invalid relationship name {name[:100]!r}", {"argument": argument})
    return name


def check_model(ctx: ApiContext, model: str | None) -> str | None:
    if model is not None and model not in ctx.graph.models.interfaces:
        raise ApiError(UNKNOWN_MODEL, f"model {model[:200]!r} is not a known model", {"argument": "model"})
    return model


def encode_cursor(twin_id: str) -> str:
    return base64.urlsafe_b64encode((_CURSOR_PREFIX + twin_id).encode()).decode("ascii")


def decode_cursor(cursor: str) -> str:
    try:
        text = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        text = ""
    if not text.startswith(_CURSOR_PREFIX):
        raise ApiError(BAD_USER_INPUT, "invalid cursor: use an endCursor or cursor this API returned")
    return text[len(_CURSOR_PREFIX) :]


def page_size(info: AnyInfo, first: int | None) -> int:
    config = built(info).api_config
    limit = config.max_page_size
    if first is None:
        return min(config.default_page_size, limit)
    if not 1 <= first <= limit:
        raise ApiError(
            BAD_USER_INPUT, f"first must be between 1 and {limit}, not {first}", {"argument": "first"}
        )
    return first


# --- wrappers for the objects resolvers return -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class TwinRef:
    """A twin as the schema returns it: the record, its GraphQL type and the loaders to read on with."""

    twin: TwinRecord
    type_name: str
    loaders: Loaders


@dataclass(frozen=True, slots=True)
class RelationshipRef:
    rel: RelationshipRecord
    loaders: Loaders


def wrap(info: AnyInfo, twin: TwinRecord, loaders: Loaders) -> TwinRef:
    return TwinRef(twin, built(info).twin_type_names.get(twin.model, "UntypedTwin"), loaders)


async def load_twins(info: AnyInfo, loaders: Loaders, ids: Sequence[str]) -> list[TwinRef]:
    twins = await loaders.twins.load_many(ids)
    return [wrap(info, t, loaders) for t in twins if t is not None]


# --- enums and inputs ------------------------------------------------------------------------------


@strawberry.enum(description="Which relationships of a twin: outgoing, incoming or both.")
class Direction(Enum):
    OUT = "out"
    IN = "in"
    BOTH = "both"


@strawberry.enum(description="A comparison of a property with a value.")
class FilterOp(Enum):
    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    IN = "in"
    EXISTS = "exists"


@strawberry.input(description="A condition on a twin property; `path` is `name` or `component.name`.")
class PropertyFilter:
    path: str
    op: FilterOp
    value: JSON | None = None


def make_filter(path: str, op: str, value: Any) -> Filter:
    """A store filter, its value checked against the operator."""
    if op == "in" and not isinstance(value, list):
        raise ApiError(BAD_USER_INPUT, f"the value of IN on {path!r} must be a list", {"argument": "value"})
    if op == "exists" and not isinstance(value, bool | None):
        raise ApiError(
            BAD_USER_INPUT, f"the value of EXISTS on {path!r} must be a boolean", {"argument": "value"}
        )
    return Filter(path, cast(Any, op), value)


@strawberry.type(description="Where a page ends and whether another follows (Relay).")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


# --- twins -----------------------------------------------------------------------------------------


def _id(root: TwinRef) -> strawberry.ID:
    return strawberry.ID(root.twin.id)


def _model(root: TwinRef) -> str:
    return root.twin.model


def _properties(root: TwinRef) -> JSON:
    return cast(JSON, dict(root.twin.properties))


def _property(root: TwinRef, name: str) -> JSON | None:
    found: Any = root.twin.properties
    for part in name.split("."):
        if not isinstance(found, Mapping) or part not in found:
            return None
        found = found[part]
    return cast(JSON, found)


async def _relationships(
    root: TwinRef, name: str | None = None, direction: Direction = Direction.OUT
) -> list[Relationship]:
    check_name(name)
    rels = await root.loaders.relationships.load((root.twin.id, name, _dir(direction)))
    return [cast(Relationship, RelationshipRef(r, root.loaders)) for r in rels]


def _dir(direction: Direction) -> StoreDirection:
    value: StoreDirection = direction.value
    return value


async def walk(
    info: Info[Any, Any],
    root: TwinRef,
    steps: Sequence[Step],
    depth: int,
) -> list[TwinRef]:
    """Twins reachable from ``root`` within ``depth`` hops along ``steps``, breadth first, each once.

    Each level costs one neighbours batch per step, shared with every other twin of the query at the
    same level (the data loaders); one hop with traversals below it reads their levels with it (see
    :mod:`dtgraph.api.lookahead`).
    """
    loaders = root.loaders
    seen = {root.twin.id}
    frontier = [root.twin.id]
    found: list[TwinRef] = []
    for _ in range(depth):
        if not frontier:
            break
        keys = [(t, name, direction) for t in frontier for name, direction in steps]
        if depth == 1 and len(keys) == 1 and (below := steps_below(_raw(info))):
            answers = [await loaders.neighbours_of(*keys[0], below)]
        else:
            answers = await loaders.neighbours.load_many(keys)
        following = _unseen(answers, seen)
        found.extend(wrap(info, t, loaders) for t in following)
        frontier = [t.id for t in following]
    return found


def walked(loaders: Loaders, root: TwinRef, steps: Sequence[Step], depth: int) -> list[TwinRecord] | None:
    """What :func:`walk` answers, when the loaders hold every level of it already (a traversal read
    with the levels above it primes them), else None: answered at once, a nested traversal gives
    graphql-core nothing to await, so the list above it needs no task per row."""
    read = loaders.neighbours.now
    seen = {root.twin.id}
    level = [root.twin.id]
    found: list[TwinRecord] = []
    for _ in range(depth):
        answers = [read((t, name, direction)) for t in level for name, direction in steps]
        ready = [answer[0] for answer in answers if answer is not None]
        if len(ready) < len(answers):
            return None  # not read yet, or failed: walk reads it (and raises what failed)
        following = _unseen(ready, seen)
        found.extend(following)
        level = [t.id for t in following]
    return found


def _unseen(
    answers: Iterable[list[tuple[RelationshipRecord, TwinRecord]]], seen: set[str]
) -> list[TwinRecord]:
    """The twins at the other ends in ``answers`` that are not in ``seen``, in order and each once (added
    to ``seen``): one level of a breadth-first walk."""
    following: list[TwinRecord] = []
    for pairs in answers:
        for _rel, twin in pairs:
            if twin.id not in seen:
                seen.add(twin.id)
                following.append(twin)
    return following


def _raw(info: AnyInfo) -> GraphQLResolveInfo[Any]:
    """graphql-core's resolve info behind strawberry's."""
    return info if isinstance(info, GraphQLResolveInfo) else info._raw_info


def _depth(info: Info[Any, Any], depth: int, argument: str = "depth") -> int:
    limit = built(info).api_config.max_depth
    if not 1 <= depth <= limit:
        raise ApiError(
            BAD_USER_INPUT, f"{argument} must be between 1 and {limit}, not {depth}", {"argument": argument}
        )
    return depth


def _related(
    root: TwinRef, info: Ctx, name: str | None = None, direction: Direction = Direction.OUT, depth: int = 1
) -> list[TwinInterface]:
    # the annotation is the field's GraphQL type: the answer is the list, or a coroutine of it that
    # graphql-core awaits when the loaders have not read every level yet
    check_name(name)
    steps: list[Step] = [(name, _dir(direction))]
    depth = _depth(info, depth)
    now = walked(root.loaders, root, steps, depth)
    if now is not None:
        return cast(list[TwinInterface], [wrap(info, t, root.loaders) for t in now])
    return cast(list[TwinInterface], walk(info, root, steps, depth))


async def _ancestors(root: TwinRef, info: Ctx) -> list[TwinInterface]:
    steps = [(name, up) for name, up in built(info).hierarchy]
    if not steps:
        return []
    return cast(list[TwinInterface], await walk(info, root, steps, 100))


async def _descendants(root: TwinRef, info: Ctx, depth: int = 10) -> list[TwinInterface]:
    steps: list[Step] = [(name, "in" if up == "out" else "out") for name, up in built(info).hierarchy]
    if not steps:
        return []
    return cast(list[TwinInterface], await walk(info, root, steps, _depth(info, depth)))


def _require_history(ctx: ApiContext) -> None:
    if not ctx.store.capabilities.history:
        raise ApiError(
            UNSUPPORTED,
            f"{type(ctx.store).__name__} keeps no change history: history and asOf need a store with "
            "history (the embedded memory store)",
        )


async def _history(root: TwinRef, info: Ctx) -> list[Change]:
    ctx = context(info)
    _require_history(ctx)
    changes = await blocking(ctx.store.history, root.twin.id)
    return [Change.of(c) for c in changes]


async def _as_of(root: TwinRef, info: Ctx, time: datetime) -> TwinInterface | None:
    ctx = context(info)
    _require_history(ctx)
    loaders = ctx.past.get(time)
    if loaders is None:
        loaders = ctx.past[time] = Loaders(await blocking(ctx.store.as_of, time))
    twin = await loaders.twins.load(root.twin.id)
    return None if twin is None else cast(TwinInterface, wrap(info, twin, loaders))


@strawberry.interface(name="Twin", description="A digital twin: every generated twin type implements it.")
class TwinInterface:
    @classmethod
    def resolve_type(cls, obj: Any, info: Any, type_: Any) -> str:
        return cast(TwinRef, obj).type_name

    @classmethod
    def is_type_of(cls, obj: Any, info: Any) -> bool:
        definition = getattr(cls, "__strawberry_definition__", None)
        return isinstance(obj, TwinRef) and definition is not None and obj.type_name == definition.name

    id: strawberry.ID = strawberry.field(resolver=_id, description="The twin's id ($dtId).")
    model: str = strawberry.field(resolver=_model, description="The DTMI of the twin's model.")
    properties: JSON = strawberry.field(resolver=_properties, description="Property and component values.")
    property: JSON | None = strawberry.field(
        resolver=_property, description="One property value by name or `component.name` (null if unset)."
    )
    relationships: list[Relationship] = strawberry.field(
        resolver=_relationships, description="Relationships of one name (or all), outgoing by default."
    )
    related: list[TwinInterface] = strawberry.field(
        resolver=_related, description="Twins reachable within `depth` hops, breadth first, each once."
    )
    ancestors: list[TwinInterface] = strawberry.field(
        resolver=_ancestors, description="Parents along the containment hierarchy, nearest first."
    )
    descendants: list[TwinInterface] = strawberry.field(
        resolver=_descendants, description="Children along the containment hierarchy, breadth first."
    )
    history: list[Change] = strawberry.field(
        resolver=_history, description="Recorded changes of the twin and its outgoing relationships."
    )
    as_of: TwinInterface | None = strawberry.field(
        resolver=_as_of, description="The twin as it was at `time` (null if it did not exist)."
    )


@strawberry.type(description="A twin whose model this schema does not know (a view of the past).")
class UntypedTwin(TwinInterface):
    pass


# --- relationships ---------------------------------------------------------------------------------


async def _end(info: Info[Any, Any], loaders: Loaders, twin_id: str) -> TwinInterface | None:
    twin = await loaders.twins.load(twin_id)
    return None if twin is None else cast(TwinInterface, wrap(info, twin, loaders))


def _rel_id(root: RelationshipRef) -> str:
    return root.rel.id


def _rel_name(root: RelationshipRef) -> str:
    return root.rel.name


def _source_id(root: RelationshipRef) -> str:
    return root.rel.source


def _target_id(root: RelationshipRef) -> str:
    return root.rel.target


async def _source(root: RelationshipRef, info: Ctx) -> TwinInterface | None:
    return await _end(info, root.loaders, root.rel.source)


async def _target(root: RelationshipRef, info: Ctx) -> TwinInterface | None:
    return await _end(info, root.loaders, root.rel.target)


def _rel_properties(root: RelationshipRef) -> JSON:
    return cast(JSON, dict(root.rel.properties))


@strawberry.type(description="A directed, named edge between two twins; its id is unique per source.")
class Relationship:
    id: str = strawberry.field(resolver=_rel_id)
    name: str = strawberry.field(resolver=_rel_name)
    source_id: str = strawberry.field(resolver=_source_id)
    target_id: str = strawberry.field(resolver=_target_id)
    source: TwinInterface | None = strawberry.field(resolver=_source)
    target: TwinInterface | None = strawberry.field(resolver=_target)
    properties: JSON = strawberry.field(resolver=_rel_properties)


@strawberry.type(description="One recorded change of a twin or of one of its outgoing relationships.")
class Change:
    time: datetime
    kind: str
    twin_id: str | None
    twin: JSON | None
    relationship_source: str | None
    relationship_id: str | None
    relationship: JSON | None

    @classmethod
    def of(cls, change: ChangeRecord) -> Change:
        key = change.relationship_key
        return cls(
            time=change.time,
            kind=change.kind,
            twin_id=change.twin_id,
            twin=cast(JSON, change.twin.to_json()) if change.twin is not None else None,
            relationship_source=key[0] if key is not None else None,
            relationship_id=key[1] if key is not None else None,
            relationship=cast(JSON, change.relationship.to_json())
            if change.relationship is not None
            else None,
        )


# --- models ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelRef:
    interface: Interface
    models: ModelSet


def _language(values: Mapping[str, str], language: str) -> str | None:
    if language in values:
        return values[language]
    return next(iter(values.values()), None)


def _m_id(root: ModelRef) -> str:
    return root.interface.id


def _m_display_name(root: ModelRef, language: str = "en") -> str | None:
    return _language(root.interface.display_name, language)


def _m_description(root: ModelRef, language: str = "en") -> str | None:
    return _language(root.interface.description, language)


def _m_extends(root: ModelRef) -> list[Model]:
    ifaces = root.models.interfaces
    return [cast(Model, ModelRef(ifaces[p], root.models)) for p in root.interface.extends if p in ifaces]


def _m_extended_by(root: ModelRef) -> list[Model]:
    me = root.interface.id
    return [cast(Model, ModelRef(i, root.models)) for i in root.models.interfaces.values() if me in i.extends]


def _m_contents(root: ModelRef) -> list[Content]:
    return [Content.of(c) for c in root.interface.contents.values()]


def _m_type_name(root: ModelRef, info: Ctx) -> str | None:
    schema = built(info)
    if root.models is schema.model_set:
        return schema.twin_type_names.get(root.interface.id)
    return type_names(root.models).get(root.interface.id)  # models changed by this request


_LAST_NAMES: list[tuple[ModelSet, dict[str, str]]] = []


def type_names(models: ModelSet) -> dict[str, str]:
    """The object type names the next schema will give ``models`` (the last answer is kept)."""
    if _LAST_NAMES and _LAST_NAMES[0][0] is models:
        return _LAST_NAMES[0][1]
    names = Names(RESERVED_TYPES).models(models.interfaces)
    _LAST_NAMES[:] = [(models, names)]
    return names


@strawberry.type(description="A DTDL Interface.")
class Model:
    id: str = strawberry.field(resolver=_m_id)
    display_name: str | None = strawberry.field(resolver=_m_display_name)
    description: str | None = strawberry.field(resolver=_m_description)
    extends: list[Model] = strawberry.field(resolver=_m_extends, description="The Interfaces it extends.")
    extended_by: list[Model] = strawberry.field(
        resolver=_m_extended_by, description="The Interfaces that extend it directly."
    )
    contents: list[Content] = strawberry.field(
        resolver=_m_contents, description="Its effective contents, inherited ones included."
    )
    type_name: str | None = strawberry.field(
        resolver=_m_type_name, description="The GraphQL object type of its twins in this schema."
    )


@strawberry.type(description="A member of an Interface's contents.")
class Content:
    kind: str
    name: str
    defined_in: str
    schema: JSON | None = strawberry.field(description="The JSON Schema of a property or telemetry value.")
    target: str | None = strawberry.field(description="A relationship's target or a component's Interface.")
    writable: bool | None

    @classmethod
    def of(cls, content: DtdlContent) -> Content:
        schema: Any = None
        target: str | None = None
        writable: bool | None = None
        if isinstance(content, Property | Telemetry) and content.schema is not None:
            schema = content.schema.json_schema()
        if isinstance(content, Property):
            writable = content.writable
        elif isinstance(content, Command):
            schema = {
                "request": content.request.schema.json_schema()
                if content.request is not None and content.request.schema is not None
                else None,
                "response": content.response.schema.json_schema()
                if content.response is not None and content.response.schema is not None
                else None,
            }
        elif isinstance(content, DtdlRelationship):
            target, writable = content.target, content.writable
        elif isinstance(content, Component):
            target = content.schema
        return cls(
            kind=content.kind,
            name=content.name,
            defined_in=content.defined_in,
            schema=cast(JSON, schema),
            target=target,
            writable=writable,
        )


# --- the generic query -----------------------------------------------------------------------------


@strawberry.type
class TwinEdge:
    node: TwinInterface
    cursor: str


@strawberry.type(description="A page of twins in id order (Relay connection).")
class TwinConnection:
    edges: list[TwinEdge]
    page_info: PageInfo


async def fetch_page(
    info: AnyInfo,
    model: str | None,
    include_subtypes: bool,
    where: Sequence[Filter],
    first: int | None,
    after: str | None,
) -> tuple[list[TwinRef], bool]:
    """One page of twins from ``Store.query_twins``; True when another page follows."""
    ctx = context(info)
    limit = page_size(info, first)
    start = decode_cursor(after) if after is not None else None
    page = await read(
        ctx.store,
        ctx.store.query_twins,
        model,
        include_subtypes=include_subtypes,
        where=list(where),
        limit=limit,
        after=start,
    )
    refs = [wrap(info, t, ctx.loaders) for t in page.twins]
    for t in page.twins:  # the twins are read: later loads of them cost nothing
        ctx.loaders.twins.prime(t.id, t)
    return refs, page.cursor is not None


def page_info(refs: Sequence[TwinRef], more: bool) -> PageInfo:
    """The page info of a page of twins ``refs``, ``more`` when further pages follow."""
    return PageInfo(has_next_page=more, end_cursor=encode_cursor(refs[-1].twin.id) if refs else None)


async def _q_models(info: Ctx) -> list[Model]:
    ctx = context(info)
    require(ctx, "reader")
    models = ctx.graph.models
    return [cast(Model, ModelRef(i, models)) for i in models.interfaces.values()]


async def _q_model(info: Ctx, id: str) -> Model | None:
    ctx = context(info)
    require(ctx, "reader")
    models = ctx.graph.models
    iface = models.interfaces.get(id)
    return None if iface is None else cast(Model, ModelRef(iface, models))


async def _q_twin(info: Ctx, id: strawberry.ID) -> TwinInterface | None:
    ctx = context(info)
    require(ctx, "reader")
    twin = await ctx.loaders.twin_of(str(id), steps_below(_raw(info)))
    return None if twin is None else cast(TwinInterface, wrap(info, twin, ctx.loaders))


async def _q_twins(
    info: Ctx,
    model: str | None = None,
    include_subtypes: bool = True,
    where: list[PropertyFilter] | None = None,
    first: int | None = None,
    after: str | None = None,
) -> TwinConnection:
    ctx = context(info)
    require(ctx, "reader")
    check_model(ctx, model)
    filters = [make_filter(check_path(f.path), f.op.value, f.value) for f in where or []]
    refs, more = await fetch_page(info, model, include_subtypes, filters, first, after)
    edges = [TwinEdge(node=cast(TwinInterface, r), cursor=encode_cursor(r.twin.id)) for r in refs]
    return TwinConnection(edges=edges, page_info=page_info(refs, more))


@strawberry.type
class GenericQuery:
    models: list[Model] = strawberry.field(resolver=_q_models, description="Every Interface of the graph.")
    model: Model | None = strawberry.field(resolver=_q_model, description="One Interface by DTMI.")
    twin: TwinInterface | None = strawberry.field(resolver=_q_twin, description="One twin by id.")
    twins: TwinConnection = strawberry.field(
        resolver=_q_twins,
        description="Twins of a model (and the models extending it) whose properties pass every filter.",
    )
