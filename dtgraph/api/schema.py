"""Assembling the schema from the models, and rebuilding it when they change.

``SchemaHolder(graph).schema`` is the schema for the graph's current models: the app asks for it on
each request; it is rebuilt after a model upload or deletion (mutations call ``holder.invalidate()``,
and any change of ``graph.models`` is noticed too), so new models are queryable without a restart.

Each request executes with a context from :func:`dtgraph.api.context.make_context`::

    holder = SchemaHolder(TwinGraph(store))
    result = await holder.schema.execute(query, variable_values=..., context_value=make_context(graph, role))
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import strawberry
from graphql import (
    ASTValidationRule,
    GraphQLError,
    GraphQLObjectType,
    GraphQLSchema,
    print_schema,
    validate_schema,
)
from strawberry.extensions import AddValidationRules, MaxAliasesLimiter, QueryDepthLimiter, SchemaExtension
from strawberry.types import ExecutionContext

from dtgraph.api.cascade import CascadeQuery, served_semantics
from dtgraph.api.direct import resolve_directly
from dtgraph.api.documents import DocumentCache, Documents
from dtgraph.api.errors import drop_frames, expected, translate
from dtgraph.api.execution import AcyclicExecutionContext
from dtgraph.api.generic import GenericQuery, UntypedTwin
from dtgraph.api.mutations import Mutation
from dtgraph.api.typed import TypedPart, build_typed
from dtgraph.cascade.semantics import Semantics, library_semantics
from dtgraph.dtdl import ModelSet
from dtgraph.graph.service import TwinGraph
from dtgraph.library import LibraryError
from dtgraph.stores.base import Direction

__all__ = ["HARD_MAX_PAGE_SIZE", "ApiConfig", "DtSchema", "SchemaHolder", "build_schema", "hierarchy_of"]

HARD_MAX_PAGE_SIZE = 1000


@dataclass(frozen=True, slots=True)
class ApiConfig:
    """Limits of the GraphQL API."""

    max_page_size: int = 100  # the largest `first`; at most HARD_MAX_PAGE_SIZE
    default_page_size: int = 100  # `first` when not given (at most max_page_size)
    max_depth: int = 10  # largest `depth` of related/descendants
    # Request limits are the app's (dtgraph.api.limits); set these to enforce them in the schema itself.
    max_aliases: int | None = None  # aliases per document (fragments counted where they are spread)
    max_query_depth: int | None = None  # nesting of selections

    def __post_init__(self) -> None:
        if not 1 <= self.max_page_size <= HARD_MAX_PAGE_SIZE:
            raise ValueError(
                f"max_page_size must be between 1 and {HARD_MAX_PAGE_SIZE}, not {self.max_page_size}"
            )
        if not self.default_page_size >= 1:
            raise ValueError("default_page_size must be at least 1")
        for name in ("max_depth", "max_aliases", "max_query_depth"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1")


class TranslateErrors(SchemaExtension):
    """Domain exceptions become GraphQL errors with stable codes, one per problem."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            drop_frames(result.errors)  # logged by now
            result.errors = [e for error in result.errors for e in translate(error)]


@strawberry.type(name="Query")
class GenericAndCascadeQuery(GenericQuery, CascadeQuery):
    """The queries of every schema; the typed ones are added per model set."""


class DtSchema(strawberry.Schema):
    """The schema of one model set: generic queries, typed queries and mutations."""

    def __init__(
        self,
        models: ModelSet,
        config: ApiConfig | None = None,
        holder: SchemaHolder | None = None,
        semantics: Semantics | None = None,
    ) -> None:
        config = config or ApiConfig()
        documents = Documents()  # parsed and validated query texts of this schema
        extensions: list[Any] = [TranslateErrors, functools.partial(DocumentCache, documents)]
        # the limit rules are built once: the same rule classes on every request let DocumentCache
        # skip the validation of a document that passed them before
        rules: list[type[ASTValidationRule]] = []
        if config.max_aliases is not None:
            rules.extend(MaxAliasesLimiter(max_alias_count=config.max_aliases).validation_rules)
        if config.max_query_depth is not None:
            rules.extend(QueryDepthLimiter(max_depth=config.max_query_depth).validation_rules)
        if rules:
            extensions.append(functools.partial(AddValidationRules, rules))
        super().__init__(
            query=GenericAndCascadeQuery,
            mutation=Mutation,
            types=[UntypedTwin],
            extensions=extensions,
            execution_context_class=AcyclicExecutionContext,
        )
        typed = build_typed(models, self._schema)
        self._schema = _joined(self._schema, typed)
        self._schema._strawberry_schema = self  # type: ignore[attr-defined]  # as strawberry does
        resolve_directly(self._schema)
        self.model_set = models
        self.documents = documents
        self.api_config = config
        self.holder = holder
        self.twin_type_names: dict[str, str] = typed.twin_type_names
        self.hierarchy: tuple[tuple[str, Direction], ...] = hierarchy_of(models, semantics)

    def as_str(self) -> str:
        return print_schema(self._schema)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log what went wrong on the server; the client's mistakes are only reported to the client."""
        unexpected = [e for e in errors if not expected(e)]
        if unexpected:
            super().process_errors(unexpected, execution_context)


def _joined(generic: GraphQLSchema, typed: TypedPart) -> GraphQLSchema:
    """The generic schema (strawberry's) with the typed part added: its types, its query fields."""
    query = generic.query_type
    assert query is not None
    joined = GraphQLObjectType(
        query.name,
        {**query.fields, **typed.query_fields},
        description=query.description,
        extensions=query.extensions,
    )
    schema = GraphQLSchema(
        query=joined,
        mutation=generic.mutation_type,
        subscription=generic.subscription_type,
        types=[generic.type_map["UntypedTwin"], *typed.types],
        directives=generic.directives,
        extensions=generic.extensions,
    )
    errors = validate_schema(schema)
    if errors:
        raise ValueError("invalid schema:\n" + "\n".join(e.message for e in errors))
    return schema


def build_schema(models: ModelSet, config: ApiConfig | None = None) -> DtSchema:
    """The schema for ``models`` (without a holder: model mutations do not trigger a rebuild)."""
    return DtSchema(models, config)


def hierarchy_of(models: ModelSet, semantics: Semantics | None = None) -> tuple[tuple[str, Direction], ...]:
    """The containment hierarchy as (relationship name, direction towards the parent) pairs.

    Read from the failure semantics (kind ``hierarchy``): the library's ``cascade.toml`` and, when the
    server has one, its cascade configuration, for the declaring interfaces that are among ``models``.
    The library's ``partOf`` goes child → parent, so the parent is "out".
    """
    if semantics is None:
        try:
            semantics = library_semantics()
        except LibraryError:
            return ()
    steps: list[tuple[str, Direction]] = []
    for d in semantics.relationships.values():
        if d.kind == "hierarchy" and d.interface in models.interfaces:
            step: tuple[str, Direction] = (d.relationship, "out" if d.direction == "reverse" else "in")
            if step not in steps:
                steps.append(step)
    return tuple(steps)


class SchemaHolder:
    """The current schema of a graph, rebuilt when its models change."""

    def __init__(self, graph: TwinGraph, config: ApiConfig | None = None) -> None:
        self.graph = graph
        self.config = config or ApiConfig()
        self._lock = threading.Lock()
        self._schema: DtSchema | None = None
        self._built_from: ModelSet | None = None

    @property
    def schema(self) -> DtSchema:
        models = self.graph.models
        with self._lock:
            if self._schema is None or self._built_from is not models:
                semantics = served_semantics(self.graph, models)
                self._schema = DtSchema(models, self.config, holder=self, semantics=semantics)
                self._built_from = models
            return self._schema

    def invalidate(self) -> None:
        """Build the schema again on next use (after models were uploaded or deleted)."""
        with self._lock:
            self._schema = None
