"""Prepared queries: a query text the server has run before, answered straight by graphql-core.

Integrators send the same few query texts over and over with different variables. strawberry's HTTP
view and ``Schema.execute`` around a query cost as much as running it: for a twin by id, 0.16 of the
0.42 ms of CPU the server spends on the request (the request data built into several objects, four
phases of hooks entered and left for each extension, the result copied twice). Once strawberry's
full path has parsed and validated a query text under every rule of this server (its limits,
introspection), the text is *prepared*: a later POST of it runs its document on graphql-core at once,
with the arguments strawberry would pass, and does itself what the server's extensions do after
execution: errors logged (``Schema.process_errors``), translated to their codes
(:class:`~dtgraph.api.schema.TranslateErrors`) and counted with the operation in the metrics.

Only what is answered the same way goes this way: a POST whose JSON body holds ``query``, and
``variables`` (an object) and ``operationName`` or neither; a query operation; a schema whose
extensions are all known here. Anything else (GET, multipart, mutations, subscriptions, a body with
``extensions``, a text not yet prepared, an exception out of graphql-core) takes strawberry's path as
before. A schema rebuilt after a model change starts with no prepared texts.
"""

from __future__ import annotations

import functools
import inspect
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeGuard, cast

import strawberry
from graphql import DocumentNode, GraphQLError, OperationType, execute, get_operation_ast
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.http import GraphQLHTTPResponse

from dtgraph.api.documents import MAX_DOCUMENTS, MAX_QUERY_CHARS, DocumentCache
from dtgraph.api.errors import drop_frames, translate
from dtgraph.api.metrics import Metrics, error_codes
from dtgraph.api.schema import TranslateErrors

__all__ = ["Prepared", "PreparedQueries", "declares_json"]

# extensions that act only while a text is parsed and validated: a prepared document has passed them
_BEFORE_EXECUTION: tuple[type[SchemaExtension], ...] = (
    DocumentCache,
    AddValidationRules,
    MaxTokensLimiter,
    DisableIntrospection,
    MaxAliasesLimiter,
    QueryDepthLimiter,
)
_BODY_KEYS = frozenset(("query", "variables", "operationName"))


@dataclass(frozen=True, slots=True)
class Prepared:
    """A request for a prepared text: its document and operation, and the request's variables."""

    document: DocumentNode
    operation_name: str | None  # the operation's own name (the metrics' label), None if anonymous
    requested_name: str | None  # as the request gave it (graphql-core selects the operation by it)
    variables: dict[str, Any] | None


class PreparedQueries:
    """The prepared texts of the schema an app serves now, and their execution.

    ``known`` are the extension factories the app adds itself, whose work after execution
    :meth:`execute` does (the metrics); :attr:`preparer`, which the app adds too, prepares each text
    strawberry has validated. Any other extension of the schema must be one of
    :data:`_BEFORE_EXECUTION` or :class:`TranslateErrors`, else nothing is prepared for it.
    """

    def __init__(self, metrics: Metrics, known: Sequence[Callable[[], SchemaExtension]]) -> None:
        self.metrics = metrics
        self.preparer = self._preparer()
        self._known = (*known, self.preparer)
        self._schema: strawberry.Schema | None = None
        self._usable = False
        self._translate = False
        self._texts: OrderedDict[str, DocumentNode] = OrderedDict()

    def _preparer(self) -> type[SchemaExtension]:
        prepared = self

        class _Preparer(SchemaExtension):
            def on_validate(self) -> Iterator[None]:
                yield
                context = self.execution_context
                if context.pre_execution_errors == [] and context.query and context.graphql_document:
                    prepared.add(context.schema, context.query, context.graphql_document)

        return _Preparer

    def add(self, schema: strawberry.Schema, query: str, document: DocumentNode) -> None:
        if len(query) > MAX_QUERY_CHARS or not self._serving(schema):
            return
        self._texts[query] = document
        self._texts.move_to_end(query)
        while len(self._texts) > MAX_DOCUMENTS:
            self._texts.popitem(last=False)

    def lookup(self, schema: strawberry.Schema, body: object) -> Prepared | None:
        """The prepared request a decoded JSON body makes against ``schema``, None for strawberry's path."""
        if not isinstance(body, dict) or not body.keys() <= _BODY_KEYS:
            return None
        query, variables, name = body.get("query"), body.get("variables"), body.get("operationName")
        if not isinstance(query, str) or not (variables is None or isinstance(variables, dict)):
            return None
        if not (name is None or isinstance(name, str)) or not self._serving(schema):
            return None
        document = self._texts.get(query)
        if document is None:
            return None
        operation = get_operation_ast(document, name)
        if operation is None or operation.operation is not OperationType.QUERY:
            return None
        own = operation.name.value if operation.name else None
        return Prepared(document, own, name, variables)

    async def execute(
        self, schema: strawberry.Schema, request: Prepared, context: Any
    ) -> GraphQLHTTPResponse:
        """The response strawberry would give (raises what graphql-core raises: the caller then takes
        strawberry's path, which handles it its way)."""
        started = time.perf_counter()
        result = execute(
            schema._schema,
            request.document,
            root_value=None,  # the view's (strawberry's default)
            context_value=context,
            variable_values=request.variables,
            operation_name=request.requested_name,
            is_awaitable=cast(Callable[[Any], TypeGuard[Awaitable[Any]]], optimized_is_awaitable),
            executor_class=schema.execution_context_class,
            operation_extensions=None,
        )
        if inspect.isawaitable(result):
            result = await result
        errors: list[GraphQLError] = list(result.errors or ())
        if errors:
            schema._process_errors(errors, None)  # as strawberry does: logged (and suggestions removed)
            drop_frames(errors)
            if self._translate:
                errors = [e for error in errors for e in translate(error)]
        seconds = time.perf_counter() - started
        self.metrics.record_operation(request.operation_name, "query", seconds, error_codes(errors))
        self.metrics.graphql_prepared.inc()
        response: GraphQLHTTPResponse = {"data": result.data}
        if errors:
            response["errors"] = [error.formatted for error in errors]
        return response

    def _serving(self, schema: strawberry.Schema) -> bool:
        """Whether texts may be prepared for ``schema``; a schema other than the last one empties the
        table (it holds the texts of one schema only)."""
        if schema is not self._schema:
            self._schema = schema
            self._texts.clear()
            self._usable, self._translate = self._check(schema)
        return self._usable

    def _check(self, schema: strawberry.Schema) -> tuple[bool, bool]:
        """(usable, translate): whether every extension of ``schema`` is known, and whether one of them
        translates errors."""
        if schema.config.enable_experimental_incremental_execution:
            return False, False
        translate_errors = False
        for factory in schema.extensions:
            if any(factory is known for known in self._known):
                continue
            kind = _extension_class(factory)
            if kind is TranslateErrors:
                translate_errors = True
            elif kind not in _BEFORE_EXECUTION:  # a subclass may do more: not known
                return False, False
        return True, translate_errors


def _extension_class(factory: object) -> type[SchemaExtension] | None:
    """The class an extension factory (a class, a ``functools.partial`` of one) makes; None if unknown."""
    while isinstance(factory, functools.partial):
        factory = factory.func
    if isinstance(factory, type) and issubclass(factory, SchemaExtension):
        return factory
    return None


def declares_json(headers: Mapping[str, str]) -> bool:
    """A request body declared as JSON (``application/json``, any parameters)."""
    return headers.get("content-type", "").split(";", 1)[0].strip().lower() == "application/json"
