"""Prometheus metrics of the server, served at ``/metrics`` in the text exposition format.

=================================== ===================================================================
``dtgraph_http_requests_total``     HTTP requests by route and status (401, 413, 504 never reach GraphQL)
``dtgraph_http_request_seconds``    their latency by route
``dtgraph_graphql_requests_total``  GraphQL operations by operation name and type (query, mutation, …)
``dtgraph_graphql_request_seconds`` their latency
``dtgraph_graphql_errors_total``    GraphQL errors by code (``extensions.code``, else a parse/validation code)
``dtgraph_graphql_prepared_total``  of the operations, those answered as prepared queries (see
                                    :mod:`dtgraph.api.prepared`)
``dtgraph_store_seconds``           store calls by method (the count is the histogram's ``_count``)
=================================== ===================================================================

Operation names come from clients, so at most :data:`MAX_OPERATION_NAMES` distinct names are kept as
labels; the rest are counted as ``other``. Each app has its own registry.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from graphql import GraphQLError, GraphQLSyntaxError
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from strawberry.extensions import SchemaExtension

from dtgraph.graph.records import Relationship, RelationshipKey, Twin
from dtgraph.stores.base import (
    AsyncReads,
    Batch,
    Capabilities,
    Change,
    Direction,
    Filter,
    Levels,
    Page,
    Step,
    Store,
)

__all__ = ["CONTENT_TYPE_LATEST", "MAX_OPERATION_NAMES", "InstrumentedStore", "Metrics", "error_codes"]

MAX_OPERATION_NAMES = 200
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,99}")  # a GraphQL name, at most 100 characters
_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    """The server's metrics and the means to record them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # what every Python exporter shows: the process (CPU, memory, file descriptors), the
        # interpreter, and the cycle collector's runs by generation
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.http_requests = Counter(
            "dtgraph_http_requests", "HTTP requests by route and status", ["route", "status"], registry=r
        )
        self.http_seconds = Histogram(
            "dtgraph_http_request_seconds", "HTTP request latency", ["route"], buckets=_LATENCY, registry=r
        )
        self.graphql_requests = Counter(
            "dtgraph_graphql_requests",
            "GraphQL operations by name and type",
            ["operation", "type"],
            registry=r,
        )
        self.graphql_seconds = Histogram(
            "dtgraph_graphql_request_seconds",
            "GraphQL operation latency by name and type",
            ["operation", "type"],
            buckets=_LATENCY,
            registry=r,
        )
        self.graphql_errors = Counter(
            "dtgraph_graphql_errors", "GraphQL errors by code", ["code"], registry=r
        )
        self.graphql_prepared = Counter(
            "dtgraph_graphql_prepared",
            "GraphQL operations answered as prepared queries (a text validated before, run on graphql-core)",
            registry=r,
        )
        self.store_seconds = Histogram(
            "dtgraph_store_seconds", "store call latency by method", ["method"], buckets=_LATENCY, registry=r
        )
        self._names: set[str] = set()
        # each time series' child, by its labels (all bounded): ``labels()`` costs more than the update
        self._operations: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._http: dict[tuple[str, int], tuple[Any, Any]] = {}
        self._store: dict[str, Any] = {}

    def exposition(self) -> bytes:
        """The metrics in the Prometheus text format."""
        return generate_latest(self.registry)

    def operation_label(self, name: str | None) -> str:
        """The label for a client's operation name: bounded in length and in number."""
        if not name:
            return "anonymous"
        if not _NAME.fullmatch(name):
            return "other"
        if name not in self._names:
            if len(self._names) >= MAX_OPERATION_NAMES:
                return "other"
            self._names.add(name)
        return name

    def record_http(self, route: str, status: int, seconds: float) -> None:
        """An HTTP request to ``route`` (one of the app's, or ``other``) answered with ``status``."""
        children = self._http.get((route, status))
        if children is None:
            children = (self.http_requests.labels(route, str(status)), self.http_seconds.labels(route))
            self._http[route, status] = children
        children[0].inc()
        children[1].observe(seconds)

    def record_operation(self, name: str | None, kind: str, seconds: float, errors: Sequence[str]) -> None:
        labels = (self.operation_label(name), kind)
        children = self._operations.get(labels)
        if children is None:
            children = (self.graphql_requests.labels(*labels), self.graphql_seconds.labels(*labels))
            self._operations[labels] = children
        children[0].inc()
        children[1].observe(seconds)
        for code in errors:
            self.graphql_errors.labels(code).inc()

    def extension(self) -> Callable[[], SchemaExtension]:
        """A strawberry extension factory that records each operation into these metrics."""
        metrics = self

        class _Recorder(SchemaExtension):
            def on_operation(self) -> Iterator[None]:
                started = time.perf_counter()
                yield
                seconds = time.perf_counter() - started
                context = self.execution_context
                try:
                    kind = context.operation_type.value
                except Exception:  # no document (a parse error) or no such operation
                    kind = "unknown"
                metrics.record_operation(context.operation_name, kind, seconds, _error_codes(context))

        return _Recorder

    # --- store calls ------------------------------------------------------------------------------

    def timed(self, method: str) -> _Timer:
        child = self._store.get(method)
        if child is None:
            child = self._store[method] = self.store_seconds.labels(method)
        return _Timer(child)


def _error_codes(context: Any) -> list[str]:
    result = context.result
    errors: Iterable[GraphQLError] = (
        (result.errors if result is not None else None) or context.pre_execution_errors or ()
    )
    return error_codes(errors, parsed=context.graphql_document is not None, executed=result is not None)


def error_codes(errors: Iterable[GraphQLError], *, parsed: bool = True, executed: bool = True) -> list[str]:
    """The code each error is counted under: its ``extensions.code``, else what failed (parsing,
    validation, or the server while executing)."""
    codes: list[str] = []
    for error in errors:
        code = (error.extensions or {}).get("code")
        if isinstance(code, str) and _NAME.fullmatch(code):
            codes.append(code)
        elif isinstance(error, GraphQLSyntaxError) or not parsed:
            codes.append("GRAPHQL_PARSE_FAILED")
        elif not executed:
            codes.append("GRAPHQL_VALIDATION_FAILED")
        else:
            codes.append("INTERNAL_SERVER_ERROR")
    return codes


class _Timer:
    __slots__ = ("_histogram", "_started")

    def __init__(self, histogram: Any) -> None:
        self._histogram = histogram
        self._started = 0.0

    def __enter__(self) -> None:
        self._started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self._histogram.observe(time.perf_counter() - self._started)


class InstrumentedStore(Store):
    """A store that times every call of the one it wraps into ``dtgraph_store_seconds``.

    Anything beyond the Store interface (a store's own methods) is passed through untimed.
    """

    def __init__(self, inner: Store, metrics: Metrics) -> None:
        self.inner = inner
        self._metrics = metrics

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __repr__(self) -> str:
        return f"InstrumentedStore({self.inner!r})"

    @property
    def capabilities(self) -> Capabilities:
        return self.inner.capabilities

    @contextmanager
    def immediate_reads(self) -> Iterator[bool]:
        with self.inner.immediate_reads() as now:
            yield now

    def apply(self, batch: Batch) -> None:
        with self._metrics.timed("apply"):
            self.inner.apply(batch)

    def apply_stream(self, batches: Iterable[Batch]) -> int:
        with self._metrics.timed("apply_stream"):
            return self.inner.apply_stream(batches)

    def model_documents(self) -> list[dict[str, Any]]:
        with self._metrics.timed("model_documents"):
            return self.inner.model_documents()

    def models_version(self) -> int | None:
        with self._metrics.timed("models_version"):
            return self.inner.models_version()

    def get_twins(self, ids: Iterable[str]) -> dict[str, Twin]:
        with self._metrics.timed("get_twins"):
            return self.inner.get_twins(ids)

    def open_async_reads(self) -> AsyncReads | None:
        reads = self.inner.open_async_reads()
        return None if reads is None else _TimedAsyncReads(reads, self._metrics)

    def get_relationships(self, keys: Iterable[RelationshipKey]) -> dict[RelationshipKey, Relationship]:
        with self._metrics.timed("get_relationships"):
            return self.inner.get_relationships(keys)

    def relationships(
        self, twin_ids: Iterable[str], *, name: str | None = None, direction: Direction = "out"
    ) -> dict[str, list[Relationship]]:
        with self._metrics.timed("relationships"):
            return self.inner.relationships(twin_ids, name=name, direction=direction)

    def neighbours(
        self, twin_ids: Iterable[str], *, name: str | None = None, direction: Direction = "out"
    ) -> dict[str, list[tuple[Relationship, Twin]]]:
        with self._metrics.timed("neighbours"):
            return self.inner.neighbours(twin_ids, name=name, direction=direction)

    def neighbours_along(
        self, twin_ids: Iterable[str], steps: Sequence[Step]
    ) -> list[dict[str, list[tuple[Relationship, Twin]]]]:
        with self._metrics.timed("neighbours_along"):
            return self.inner.neighbours_along(twin_ids, steps)

    def twins_along(
        self, twin_ids: Iterable[str], steps: Sequence[Step]
    ) -> tuple[dict[str, Twin], list[dict[str, list[tuple[Relationship, Twin]]]]]:
        with self._metrics.timed("twins_along"):
            return self.inner.twins_along(twin_ids, steps)

    def query_twins(
        self,
        model: str | None = None,
        *,
        include_subtypes: bool = True,
        where: Sequence[Filter] = (),
        limit: int = 100,
        after: str | None = None,
    ) -> Page:
        with self._metrics.timed("query_twins"):
            return self.inner.query_twins(
                model, include_subtypes=include_subtypes, where=where, limit=limit, after=after
            )

    def snapshot(self) -> Iterator[Twin | Relationship]:
        return self.inner.snapshot()  # a stream: its time is the consumer's

    def counts(self) -> dict[str, int]:
        with self._metrics.timed("counts"):
            return self.inner.counts()

    def traverse(
        self, start: str, *, name: str | None = None, direction: Direction = "out", max_depth: int = 10
    ) -> list[tuple[int, Twin]]:
        with self._metrics.timed("traverse"):
            return self.inner.traverse(start, name=name, direction=direction, max_depth=max_depth)

    def history(self, twin_id: str) -> list[Change]:
        with self._metrics.timed("history"):
            return self.inner.history(twin_id)

    def as_of(self, time: datetime) -> Store:
        return InstrumentedStore(self.inner.as_of(time), self._metrics)

    def close(self) -> None:
        self.inner.close()


class _TimedAsyncReads:
    """The async reads of a store, timed into ``dtgraph_store_seconds`` as its blocking methods are."""

    def __init__(self, inner: AsyncReads, metrics: Metrics) -> None:
        self.inner = inner
        self._metrics = metrics

    async def get_twins(self, ids: Iterable[str]) -> dict[str, Twin]:
        with self._metrics.timed("get_twins"):
            return await self.inner.get_twins(ids)

    async def neighbours(
        self, twin_ids: Iterable[str], *, name: str | None = None, direction: Direction = "out"
    ) -> dict[str, list[tuple[Relationship, Twin]]]:
        with self._metrics.timed("neighbours"):
            return await self.inner.neighbours(twin_ids, name=name, direction=direction)

    async def neighbours_along(self, twin_ids: Iterable[str], steps: Sequence[Step]) -> Levels:
        with self._metrics.timed("neighbours_along"):
            return await self.inner.neighbours_along(twin_ids, steps)

    async def twins_along(
        self, twin_ids: Iterable[str], steps: Sequence[Step]
    ) -> tuple[dict[str, Twin], Levels]:
        with self._metrics.timed("twins_along"):
            return await self.inner.twins_along(twin_ids, steps)

    async def aclose(self) -> None:
        await self.inner.aclose()
