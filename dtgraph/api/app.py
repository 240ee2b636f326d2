"""The HTTP and WebSocket server: GraphQL at ``/graphql``, and ``/healthz``, ``/readyz``, ``/metrics``.

``create_app(settings)`` opens the store the settings name (and closes it at shutdown); pass ``graph``
to serve a graph opened by the caller (the caller closes its store). Requests go through, outermost
first: HTTP metrics, CORS (when origins are configured), the body-size limit, the request timeout, then
the routes. ``/graphql`` checks the caller's API key (see :mod:`dtgraph.api.auth`) and answers 401
without one unless an anonymous role is configured; the GraphiQL page itself (a browser's GET without a
query) is served to anyone, and asks for the key as a header. Each GraphQL request runs against the schema the
:class:`~dtgraph.api.schema.SchemaHolder` holds at that moment, so a model change takes effect without a
restart. WebSocket clients speak ``graphql-transport-ws``; they may send their key in the handshake's
``Authorization`` header or as ``{"Authorization": "Bearer KEY"}`` in the ``connection_init`` payload;
each operation on a connection gets a fresh context, so it sees the writes made before it.

File uploads (``importGraph``, ``uploadModelFiles``) use the GraphQL multipart request format. A browser
sends a multipart POST to another site without asking first (no CORS preflight), so such requests must
carry ``Authorization`` or ``GraphQL-Require-Preflight``: a page elsewhere cannot use a visitor's access.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol, cast

import anyio
import anyio.to_thread
import orjson
import strawberry
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.extensions import SchemaExtension
from strawberry.http import GraphQLRequestData
from strawberry.http.base import BaseRequestProtocol
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage

from dtgraph.api.auth import Authenticator, Identity, Unauthorized
from dtgraph.api.cascade import use_cascade_config
from dtgraph.api.config import Settings
from dtgraph.api.context import ApiContext, make_context
from dtgraph.api.limits import BodyLimit, Timeout, api_config, error_body, limit_extensions
from dtgraph.api.metrics import CONTENT_TYPE_LATEST, InstrumentedStore, Metrics
from dtgraph.api.persisted import PersistedQueries, PersistedQueryError
from dtgraph.api.prepared import PreparedQueries, declares_json
from dtgraph.api.schema import SchemaHolder
from dtgraph.graph.service import TwinGraph
from dtgraph.stores.base import AsyncReads, Store
from dtgraph.stores.errors import StoreUnavailable
from dtgraph.stores.location import StoreLocation, open_store

__all__ = ["SchemaSource", "create_app", "open_settings_store", "running"]

log = logging.getLogger(__name__)

_IDENTITY = "dtgraph.identity"  # the scope key the auth gate leaves the caller's Identity under
_READY_SECONDS = 5.0
# A request's execution leaves no reference cycle (see dtgraph.api.execution): the young generation
# grows by what the requests in flight hold, and collecting it every 700 allocations (Python's
# default) walked those again and again. 4 % of the server's CPU on 2-hop requests over Neo4j.
_YOUNG_GENERATION = 10_000
_ROUTES = frozenset(("/graphql", "/healthz", "/readyz", "/metrics"))


class SchemaSource(Protocol):
    """Anything with the current schema (the real one is :class:`dtgraph.api.schema.SchemaHolder`)."""

    @property
    def schema(self) -> strawberry.Schema: ...


ContextFactory = Callable[[TwinGraph, str | None], Any]


def open_settings_store(settings: Settings) -> Store:
    """Open the store ``settings`` name (raises StoreError, StoreUnavailable)."""
    password = settings.neo4j_password.get_secret_value() if settings.neo4j_password else None
    location = StoreLocation.parse(
        settings.store_location,
        user=settings.neo4j_user,
        password=password,
        database=settings.neo4j_database,
    )
    return open_store(location)


async def _follow_models(graph: TwinGraph, schema_source: SchemaSource, seconds: float) -> None:
    """Models that other processes sharing the store changed, read again every ``seconds``; the schema
    is then built again here, off the loop, not by the next request. A store away for a while is
    logged once, and again when it answers."""
    failing = False
    while True:
        await asyncio.sleep(seconds)
        try:
            changed = await anyio.to_thread.run_sync(graph.refresh_models)
            if changed:
                await anyio.to_thread.run_sync(lambda: schema_source.schema)
        except Exception as exc:
            if not failing:
                log.warning("cannot look for models changed by other processes: %s", exc)
            failing = True
            continue
        if failing:
            log.warning("looking for models changed by other processes again")
            failing = False
        if changed:
            log.info("models changed by another process: %d interfaces", len(graph.models.interfaces))


def _has_other_writers(store: Store) -> bool:
    """Whether other processes may change the store's models (a store that does not answer now may)."""
    try:
        return store.models_version() is not None
    except Exception:
        return True


def create_app(
    settings: Settings,
    graph: TwinGraph | None = None,
    *,
    schema_source: SchemaSource | None = None,
    context_factory: ContextFactory | None = None,
    prepared: bool = True,
) -> Starlette:
    """The server for ``settings``, over ``graph`` or the store the settings name.

    ``schema_source`` and ``context_factory`` default to the API's ``SchemaHolder`` and ``make_context``;
    ``prepared=False`` sends every request through strawberry (see :mod:`dtgraph.api.prepared`).
    """
    metrics = Metrics()
    owned = graph is None
    store = open_settings_store(settings) if graph is None else graph.store
    served = TwinGraph(InstrumentedStore(store, metrics))
    try:
        use_cascade_config(served, settings.cascade_config)  # raises CascadeConfigError
    except Exception:
        if owned:
            store.close()
        raise
    if schema_source is None:
        schema_source = SchemaHolder(served, api_config(settings))
    if context_factory is None:
        context_factory = make_context
    first = [metrics.extension()]
    queries = PreparedQueries(metrics, first) if prepared else None
    if queries is not None:
        first.append(queries.preparer)
    schemas = _Schemas(schema_source, first, limit_extensions(settings))
    authenticator = Authenticator(settings.api_keys, settings.anonymous_role)
    view = _GraphQLView(schemas, served, context_factory, authenticator, settings.cors_origins, queries)
    gate = _AuthGate(view, authenticator)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        try:
            with anyio.fail_after(_READY_SECONDS):
                counts = await anyio.to_thread.run_sync(served.store.counts, abandon_on_cancel=True)
        except TimeoutError:
            reason = f"the store did not answer within {_READY_SECONDS:g} seconds"
            return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
        except Exception as exc:  # the detail (a URI, a driver message) goes to the log, not the caller
            log.warning("readiness check failed: %s", exc)
            reason = "the store is unavailable" if isinstance(exc, StoreUnavailable) else "the store failed"
            return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
        return JSONResponse({"status": "ready", **counts})

    async def metrics_endpoint(request: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # What exists now (an embedded graph loaded before serving, the schema) lives as long as the
        # server: moved out of the collector's reach, so that full collections do not walk it (over
        # the 20,000-twin demo graph, each full collection stalls every request for about 0.17 s).
        gc.collect()
        gc.freeze()
        thresholds = gc.get_threshold()
        gc.set_threshold(max(thresholds[0], _YOUNG_GENERATION), *thresholds[1:])
        # reads on this loop where the store has them (Neo4j): no hop to a worker thread and back
        reads = served.store.open_async_reads()
        view.async_reads = reads
        following = None
        seconds = settings.models_poll_seconds
        if seconds > 0 and await anyio.to_thread.run_sync(_has_other_writers, served.store):
            following = asyncio.create_task(_follow_models(served, schema_source, seconds))
        try:
            yield
        finally:
            if following is not None:
                following.cancel()
            gc.set_threshold(*thresholds)
            view.async_reads = None
            try:
                if reads is not None:
                    await reads.aclose()
            finally:
                if owned:
                    store.close()

    cors = [  # none without origins: pages on other sites get no access either way (a preflight: 405)
        Middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "GraphQL-Require-Preflight"],
            max_age=600,
        )
    ]
    middleware = [
        Middleware(_HttpMetrics, metrics=metrics),
        *(cors if settings.cors_origins else []),
        Middleware(BodyLimit, max_bytes=settings.max_body_bytes, max_upload_bytes=settings.max_upload_bytes),
        Middleware(Timeout, seconds=settings.request_timeout),
    ]
    app = Starlette(
        routes=[
            Route("/graphql", gate, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", gate),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ],
        middleware=middleware,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.graph = served
    app.state.metrics = metrics
    return app


@contextlib.contextmanager
def running(app: Starlette, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve ``app`` under uvicorn in a background thread; yields its base URL (``http://host:port``).

    For tests and embedding: ``port`` 0 takes a free port. Leaving the block stops the server
    gracefully and waits for it (the app's shutdown runs).
    """
    import uvicorn

    settings: Settings | None = getattr(app.state, "settings", None)
    limit = settings.max_body_bytes if settings is not None else 16 * 1024 * 1024
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on", ws_max_size=limit)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="dtgraph-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(5)
            raise RuntimeError(f"the server did not start on {host}:{port}")
        time.sleep(0.01)
    bound = server.servers[0].sockets[0].getsockname()
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    try:
        yield f"http://{shown}:{bound[1]}"
    finally:
        server.should_exit = True
        thread.join(30)


class _Schemas:
    """The current schema, with the server's extensions added to each new one: ``first`` outermost (it
    sees the schema's final errors: metrics), ``last`` after the schema's own (limits)."""

    def __init__(
        self,
        source: SchemaSource,
        first: Sequence[Callable[[], SchemaExtension]],
        last: Sequence[Callable[[], SchemaExtension]],
    ) -> None:
        self._source = source
        self._first = tuple(first)
        self._last = tuple(last)
        self._marker = (*first, *last)[0]

    def current(self) -> strawberry.Schema:
        schema = self._source.schema
        present = schema.extensions
        if not any(e is self._marker for e in present):
            schema.extensions = (*self._first, *present, *self._last)
        return schema


class _TransportWS(BaseGraphQLTransportWSHandler[Any, None]):
    """graphql-transport-ws with the key also accepted in the ``connection_init`` payload, and each
    operation run with a fresh context (data loaders cache within one operation, not one connection)
    against the schema current when it starts."""

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        payload = message.get("payload", {})  # as the base method reads it; not a dict: it closes 4400
        if isinstance(payload, dict) and not self.connection_init_received:
            view = cast(_GraphQLView, self.view)
            role = view.connection_role(self.context, payload)
            if role is None:
                if self.connection_init_timeout_task:
                    self.connection_init_timeout_task.cancel()
                await self.websocket.close(code=4403, reason="Forbidden: a valid API key is needed")
                return
            self.context.role = role
        await super().handle_connection_init(message)

    async def run_operation(self, operation: Operation[Any, None]) -> None:
        view = cast(_GraphQLView, self.view)
        # read by the base method before its first await: this operation's own context and schema
        self.context = view.fresh_context(self.context.role)
        self.schema = view.schema
        await super().run_operation(operation)


class _GraphQLView(GraphQL[Any, None]):
    """strawberry's ASGI view over the current schema, with the caller's role in the context."""

    graphql_transport_ws_handler_class = _TransportWS

    def __init__(
        self,
        schemas: _Schemas,
        graph: TwinGraph,
        make_context: ContextFactory,
        authenticator: Authenticator,
        cors_origins: Sequence[str],
        prepared: PreparedQueries | None = None,
    ) -> None:
        self._schemas = schemas
        self._prepared = prepared
        self._persisted = PersistedQueries()
        super().__init__(
            schemas.current(),
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            allowed_origins=list(cors_origins),
            multipart_uploads_enabled=True,  # importGraph, uploadModelFiles; see _AuthGate for CSRF
        )
        self._graph = graph
        self._make_context = make_context
        self._authenticator = authenticator
        self.async_reads: AsyncReads | None = None  # the store's, while the app runs (its lifespan)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        if self._prepared is not None and scope["method"] == "POST" and declares_json(request.headers):
            answer = await self._answer_prepared(request)
            if answer is not None:
                await answer(scope, receive, send)
                return
        try:  # strawberry's HTTP path, and then the uploads of a multipart request closed
            try:
                response: Response = await self.run(request)
            except HTTPException as exc:
                response = PlainTextResponse(exc.reason, status_code=exc.status_code)
            except PersistedQueryError as exc:  # a GraphQL error, for the client to act on
                response = Response(self.encode_json(exc.body()), media_type="application/json")
            await response(scope, receive, send)
        finally:
            await request.close()

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        """GraphiQL for a browser's GET without a query, not for a persisted query's GET (which has
        ``extensions`` instead, and whose client may accept anything)."""
        return super().should_render_graphql_ide(request) and "extensions" not in request.query_params

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        """strawberry's reading of a request, with the text of a persisted query put in its place."""
        data = await super().parse_http_body(request)
        if isinstance(data, list):
            return [self._with_persisted_text(item) for item in data]
        return self._with_persisted_text(data)

    def _with_persisted_text(self, data: GraphQLRequestData) -> GraphQLRequestData:
        resolved = self._persisted.resolve(data.query, data.extensions)
        if resolved is None:
            return data
        query, extensions = resolved
        return dataclasses.replace(data, query=query, extensions=extensions)

    async def _answer_prepared(self, request: Request) -> Response | None:
        """The response to a prepared query (see :mod:`dtgraph.api.prepared`), None if the request is
        not one. The body stays read for strawberry's path (Starlette keeps it)."""
        assert self._prepared is not None
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:  # strawberry's decoder answers (it accepts a little more)
            return None
        if isinstance(body, dict) and "extensions" in body:
            try:
                resolved = self._persisted.resolve(body.get("query"), body["extensions"])
            except PersistedQueryError:  # strawberry's path answers it
                return None
            if resolved is not None and resolved[1] is None:  # no other extensions: as a text
                body = {**{k: v for k, v in body.items() if k != "extensions"}, "query": resolved[0]}
        schema = self.schema
        prepared = self._prepared.lookup(schema, body)
        if prepared is None:
            return None
        identity: Identity | None = request.scope.get(_IDENTITY)
        context = self.fresh_context(identity.role if identity else None)
        try:
            data = await self._prepared.execute(schema, prepared, context)  # root value: none, as here
        except Exception:  # graphql-core raised: strawberry's path handles that its way (a query, rerun)
            log.debug("a prepared query raised; answered through strawberry", exc_info=True)
            return None
        return Response(self.encode_json(data), media_type="application/json")

    @property  # type: ignore[override]
    def schema(self) -> strawberry.Schema:
        return self._schemas.current()

    @schema.setter
    def schema(self, value: Any) -> None:
        pass  # the schema is always the current one

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Any:
        identity: Identity | None = request.scope.get(_IDENTITY)
        return self.fresh_context(identity.role if identity else None)

    def encode_json(self, data: object) -> bytes:
        # orjson: a tenth of the json module's time on a page of 100 twins; what it cannot encode
        # (an integer beyond 64 bits in a property) goes through the json module as before
        try:
            return orjson.dumps(data)
        except TypeError:
            return json.dumps(data, separators=(",", ":")).encode()

    def fresh_context(self, role: str | None) -> Any:
        context = self._make_context(self._graph, role)
        if self.async_reads is not None and isinstance(context, ApiContext):
            context.loaders.reads = self.async_reads
        return context

    def connection_role(self, context: Any, payload: Mapping[str, Any]) -> str | None:
        """The role a WebSocket connection gets from its ``connection_init`` payload, None if refused."""
        header = next((v for k, v in payload.items() if k.lower() == "authorization"), None)
        if header is None:
            return cast(str | None, context.role)
        if not isinstance(header, str):
            return None
        try:
            return self._authenticator.identify(header).role
        except Unauthorized:
            return None


class _AuthGate:
    """Identifies the caller of ``/graphql`` before the view runs; 401 (or a refused handshake) if not."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        authorization = headers.get("authorization")
        try:
            scope[_IDENTITY] = self.authenticator.identify(authorization)
        except Unauthorized as exc:
            if scope["type"] == "websocket":
                if authorization is not None:  # a wrong key: refuse the handshake (HTTP 403)
                    await send({"type": "websocket.close", "code": 1008, "reason": str(exc)})
                    return
                # no key yet: it may come in connection_init; no role until then
            elif not _asks_for_ide(scope, headers):
                body = error_body(str(exc), "UNAUTHENTICATED")
                await _send_json(send, 401, body, [(b"www-authenticate", b'Bearer realm="dtgraph"')])
                return
        if scope["type"] == "http" and _unsafe_upload(headers):
            body = error_body(
                "a multipart request needs an 'Authorization' or 'GraphQL-Require-Preflight' header "
                "(so that a web page on another site cannot send it)",
                "BAD_REQUEST",
            )
            await _send_json(send, 400, body, [])
            return
        await self.app(scope, receive, send)


def _unsafe_upload(headers: Mapping[str, str]) -> bool:
    """A multipart POST a page on another site could send without a CORS preflight (CSRF)."""
    multipart = headers.get("content-type", "").lower().startswith("multipart/")
    return multipart and "authorization" not in headers and "graphql-require-preflight" not in headers


async def _send_json(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _asks_for_ide(scope: Scope, headers: Mapping[str, str]) -> bool:
    """A browser's GET of the GraphiQL page (what strawberry answers with the IDE, not a query)."""
    if scope["method"] != "GET" or "query" in QueryParams(scope.get("query_string", b"")):
        return False
    accept = headers.get("accept", "")
    return "text/html" in accept or "*/*" in accept


class _HttpMetrics:
    """Counts HTTP requests by route and status, and times them."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = scope["path"] if scope["path"] in _ROUTES else "other"
        status = 500
        started = time.perf_counter()

        async def watched_send(event: Message) -> None:
            nonlocal status
            if event["type"] == "http.response.start":
                status = event["status"]
            await send(event)

        try:
            await self.app(scope, receive, watched_send)
        finally:
            self.metrics.record_http(route, status, time.perf_counter() - started)
