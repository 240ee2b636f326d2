"""Fields resolved without strawberry's per-field wrapper, where it would do nothing.

strawberry wraps every resolver: it converts arguments, builds an ``Info`` and runs field extensions,
for each field of each row. Most fields of the schema (a twin's ``id``, ``model``, ``properties`` and
every typed property) take nothing but ``root`` and need none of that; a page of 100 twins with three
such fields spends a third of its time in the wrapper. :func:`resolve_directly` gives those fields a
resolver that calls the function with the parent object alone. Fields whose arguments are all plain
scalars or enums (``twin(id)``, ``related(name, direction, depth)``: the traversals) need no argument
conversion either, as graphql-core hands them over coerced: they, and fields that take ``info``, get
a resolver that renames the arguments to their Python names and builds the ``Info`` itself. A field
with field extensions (permissions included), a ``self`` or ``parent`` parameter, or an argument of
another type (an input object, a list, a custom scalar) keeps strawberry's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from graphql import GraphQLField, GraphQLInterfaceType, GraphQLObjectType, GraphQLResolveInfo, GraphQLSchema
from strawberry.scalars import ID
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.arguments import StrawberryArgument
from strawberry.types.base import StrawberryOptional
from strawberry.types.enum import StrawberryEnumDefinition
from strawberry.types.field import StrawberryField
from strawberry.types.fields.resolver import StrawberryResolver
from strawberry.types.info import Info

__all__ = ["resolve_directly"]


def resolve_directly(schema: GraphQLSchema) -> int:
    """Give each root-only field of ``schema`` a direct resolver; returns how many fields got one."""
    count = 0
    for named in schema.type_map.values():
        if not isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            continue
        for field in named.fields.values():
            defined = (field.extensions or {}).get(GraphQLCoreConverter.DEFINITION_BACKREF)
            if not isinstance(defined, StrawberryField):
                continue
            function = _root_only(defined)
            if function is not None:
                field.resolve = _direct(function)
                count += 1
            elif (names := _plain_arguments(defined, field)) is not None:
                field.resolve = _with_arguments(defined, names)
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


_PLAIN_TYPES: tuple[Any, ...] = (str, int, float, bool, ID)


def _plain_arguments(field: StrawberryField, graphql: GraphQLField) -> dict[str, str] | None:
    """The Python name of each GraphQL argument of ``field``, when strawberry's wrapper would pass
    every argument on as graphql-core coerced it and do nothing else; else None."""
    resolver = field.base_resolver
    if resolver is None or field.extensions:
        return None
    if resolver.self_parameter or resolver.parent_parameter or len(graphql.args) != len(field.arguments):
        return None
    if not all(_plain(argument) for argument in field.arguments):
        return None
    function = resolver.wrapped_func
    if not callable(function) or isinstance(function, staticmethod | classmethod):
        return None
    # strawberry builds the GraphQL arguments in the order of its own
    return {name: argument.python_name for name, argument in zip(graphql.args, field.arguments, strict=True)}


def _plain(argument: StrawberryArgument) -> bool:
    kind = argument.type
    if isinstance(kind, StrawberryOptional):
        kind = kind.of_type
    return isinstance(kind, StrawberryEnumDefinition) or any(kind is plain for plain in _PLAIN_TYPES)


def _with_arguments(field: StrawberryField, names: dict[str, str]) -> Callable[..., Any]:
    resolver = cast(StrawberryResolver[Any], field.base_resolver)
    function = cast(Callable[..., Any], resolver.wrapped_func)
    root = resolver.root_parameter.name if resolver.root_parameter else None
    info = resolver.info_parameter.name if resolver.info_parameter else None

    def resolve(source: Any, raw: GraphQLResolveInfo[Any], **arguments: Any) -> Any:
        kwargs = {names[name]: value for name, value in arguments.items()}
        if root is not None:
            kwargs[root] = source
        if info is not None:
            kwargs[info] = Info(_raw_info=raw, _field=field)
        return function(**kwargs)

    return resolve
