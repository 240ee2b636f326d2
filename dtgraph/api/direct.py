"""Fields whose resolver only reads its parent object, resolved without strawberry's per-field wrapper.

strawberry wraps every resolver: it converts arguments, builds an ``Info`` and runs field extensions,
for each field of each row. Most fields of the schema (a twin's ``id``, ``model``, ``properties`` and
every typed property) take nothing but ``root`` and need none of that; a page of 100 twins with three
such fields spends a third of its time in the wrapper. :func:`resolve_directly` gives those fields a
resolver that calls the function with the parent object alone. A field with arguments, ``info``,
field extensions (permissions included), an async resolver or a ``self`` parameter keeps strawberry's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import GraphQLInterfaceType, GraphQLObjectType, GraphQLResolveInfo, GraphQLSchema
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

__all__ = ["resolve_directly"]


def resolve_directly(schema: GraphQLSchema) -> int:
    """Give each root-only field of ``schema`` a direct resolver; returns how many fields got one."""
    count = 0
    for named in schema.type_map.values():
        if not isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            continue
        for field in named.fields.values():
            defined = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            function = _root_only(defined) if isinstance(defined, StrawberryField) else None
            if function is not None:
                field.resolve = _direct(function)
                count += 1
    return count


def _root_only(field: StrawberryField) -> Callable[[Any], Any] | None:
    """The resolver function of ``field`` when it takes exactly the parent object, else None."""
    resolver = field.base_resolver
    if resolver is None or field.extensions or field.arguments or resolver.is_async:
        return None
    if resolver.info_parameter or resolver.self_parameter or resolver.parent_parameter:
        return None
    if resolver.root_parameter is None or len(resolver.signature.parameters) != 1:
        return None
    function = resolver.wrapped_func
    return function if callable(function) and not isinstance(function, staticmethod | classmethod) else None


def _direct(function: Callable[[Any], Any]) -> Callable[..., Any]:
    def resolve(source: Any, info: GraphQLResolveInfo[Any], **arguments: Any) -> Any:
        return function(source)

    return resolve
