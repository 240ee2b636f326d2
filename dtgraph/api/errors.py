"""GraphQL errors with stable codes: what a client matches on in ``errors[].extensions.code``.

Resolvers raise dtgraph's own exceptions; :func:`translate` turns each into GraphQL errors at the end of
execution (the schema's ``TranslateErrors`` extension), one error per problem, all at once::

    GraphValidationError      one error per GraphIssue: code = the issue code (``unknownProperty``, …),
                              location = {record, pointer, line}
    DtdlValidationError       one error per ParsingError: code = the DTDL code (``missingProperty``, …),
                              location = {record (the document index), source, pointer, line, column}
    StoreUnavailable          STORE_UNAVAILABLE (the message names the store, never the query)
    UnsupportedOperation      UNSUPPORTED (history and as-of reads on a store without history)
    StoreError, DtgraphError  STORE_ERROR, INTERNAL_SERVER_ERROR
    ApiError                  its own code: FORBIDDEN, BAD_USER_INPUT, UNKNOWN_MODEL, NOT_FOUND
    anything else             INTERNAL_SERVER_ERROR, message hidden (logged by the schema)

Errors graphql-core raises itself (syntax, validation, variable coercion) keep their message and get
GRAPHQL_VALIDATION_FAILED when they have no code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from graphql import GraphQLError

from dtgraph.dtdl import DtdlValidationError
from dtgraph.errors import DtgraphError
from dtgraph.graph.errors import GraphValidationError
from dtgraph.stores.errors import StoreError, StoreUnavailable, UnsupportedOperation

__all__ = [
    "BAD_USER_INPUT",
    "FORBIDDEN",
    "INTERNAL",
    "NOT_FOUND",
    "STORE_ERROR",
    "STORE_UNAVAILABLE",
    "UNKNOWN_MODEL",
    "UNSUPPORTED",
    "ApiError",
    "expected",
    "translate",
]

FORBIDDEN = "FORBIDDEN"
BAD_USER_INPUT = "BAD_USER_INPUT"
UNKNOWN_MODEL = "UNKNOWN_MODEL"
NOT_FOUND = "NOT_FOUND"
UNSUPPORTED = "UNSUPPORTED"
STORE_UNAVAILABLE = "STORE_UNAVAILABLE"
STORE_ERROR = "STORE_ERROR"
INTERNAL = "INTERNAL_SERVER_ERROR"
VALIDATION = "GRAPHQL_VALIDATION_FAILED"


class ApiError(DtgraphError):
    """A request the API refuses: ``code`` is stable, ``location`` optional (argument, pointer …)."""

    def __init__(self, code: str, message: str, location: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.location = dict(location) if location else None


def expected(error: GraphQLError) -> bool:
    """Whether the error is the client's (not worth a log line with a traceback): a GraphQL error
    as such (a variable's value that does not coerce comes wrapped in another) or one of the API's."""
    original = error.original_error
    return original is None or isinstance(
        original, GraphQLError | ApiError | GraphValidationError | DtdlValidationError | UnsupportedOperation
    )


def drop_frames(errors: Iterable[GraphQLError]) -> None:
    """Let go of the frames the tracebacks of logged errors hold (the errors, their originals and
    the causes of those): the frames hold the executor, and the executor holds the errors, so each
    failed request's reads would stay in a reference cycle until the cycle collector came."""
    seen: set[int] = set()
    pending: list[BaseException | None] = list(errors)
    while pending:
        exc = pending.pop()
        if exc is None or id(exc) in seen:
            continue
        seen.add(id(exc))
        exc.__traceback__ = None
        pending += (exc.__cause__, exc.__context__)
        if isinstance(exc, GraphQLError):
            pending.append(exc.original_error)


def translate(error: GraphQLError) -> list[GraphQLError]:
    """The client-facing errors for one execution error (several for a rejected batch)."""
    original = error.original_error
    if original is None:
        if error.extensions and "code" in error.extensions:
            return [error]
        return [_like(error, error.message, VALIDATION, None)]
    if isinstance(original, GraphQLError):  # raised by a resolver as is
        return [error]
    if isinstance(original, ApiError):
        return [_like(error, original.message, original.code, original.location)]
    if isinstance(original, GraphValidationError):
        return [
            _like(
                error,
                issue.message,
                issue.code,
                {"record": issue.record, "pointer": issue.pointer or None, "line": issue.line},
            )
            for issue in original.issues
        ] or [_like(error, str(original), "invalidChange", None)]
    if isinstance(original, DtdlValidationError):
        out = []
        for e in original.errors:
            loc = e.location
            where = (
                None
                if loc is None
                else {
                    "record": loc.document,
                    "source": loc.source,
                    "pointer": loc.pointer or None,
                    "line": loc.line,
                    "column": loc.column,
                }
            )
            out.append(_like(error, e.message, e.code, where))
        return out or [_like(error, str(original), "invalidModel", None)]
    if isinstance(original, StoreUnavailable):
        return [_like(error, f"the store is unavailable: {original}", STORE_UNAVAILABLE, None)]
    if isinstance(original, UnsupportedOperation):
        return [_like(error, str(original), UNSUPPORTED, None)]
    if isinstance(original, StoreError):
        return [_like(error, f"the store failed: {original}", STORE_ERROR, None)]
    return [_like(error, "internal server error", INTERNAL, None)]


def _like(error: GraphQLError, message: str, code: str, location: Mapping[str, Any] | None) -> GraphQLError:
    extensions: dict[str, Any] = {"code": code}
    if location:
        cleaned = {k: v for k, v in location.items() if v is not None}
        if cleaned:
            extensions["location"] = cleaned
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )
