"""What one request may cost: query depth, tokens and aliases, introspection, body size and time.

The query limits are strawberry schema extensions, checked before anything runs: an abusive query gets a
GraphQL error naming the limit and the server goes on. The schema (:class:`~dtgraph.api.schema.DtSchema`)
carries strawberry's ``QueryDepthLimiter`` and ``MaxAliasesLimiter`` itself, set from :func:`api_config`
(aliases inside fragments count where the fragment is spread); the server adds ``MaxTokensLimiter``,
which bounds the parser's work, and ``DisableIntrospection`` when introspection is off.

The body and time limits are ASGI middleware around the HTTP endpoints: a body over ``max_body_bytes``
is refused with 413 before it is read whole (WebSocket messages are bounded by the server's
``ws_max_size``, set to the same number), and a request running past ``request_timeout`` seconds gets
504. All refusals are JSON in the GraphQL error shape.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import DisableIntrospection, MaxTokensLimiter, SchemaExtension

from dtgraph.api.config import Settings
from dtgraph.api.schema import ApiConfig

__all__ = ["BodyLimit", "Timeout", "api_config", "error_body", "limit_extensions"]

ExtensionFactory = Callable[[], SchemaExtension]


def api_config(settings: Settings) -> ApiConfig:
    """The schema's own limits (page size, query depth, aliases, traversal depth) from ``settings``."""
    return ApiConfig(
        max_page_size=settings.max_page_size,
        max_depth=settings.max_traversal_depth,
        max_aliases=settings.max_aliases,
        max_query_depth=settings.max_query_depth,
    )


def limit_extensions(settings: Settings) -> list[ExtensionFactory]:
    """Factories of the extensions the server adds to the schema's (one instance a request)."""
    factories: list[ExtensionFactory] = [
        functools.partial(MaxTokensLimiter, max_token_count=settings.max_tokens),
    ]
    if not settings.introspection:
        factories.append(DisableIntrospection)
    return factories


def error_body(message: str, code: str) -> bytes:
    """A GraphQL-shaped error document."""
    return json.dumps({"errors": [{"message": message, "extensions": {"code": code}}]}).encode()


async def _refuse(send: Send, status: int, message: str, code: str) -> None:
    body = error_body(message, code)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


class BodyLimit:
    """Refuse HTTP request bodies over ``max_bytes`` (multipart uploads: ``max_upload_bytes``) with 413,
    by Content-Length or while reading."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        upload = headers.get(b"content-type", b"").lower().startswith(b"multipart/")
        limit = self.max_upload_bytes if upload else self.max_bytes
        message = f"the request body is larger than the limit of {limit:,} bytes"
        try:
            declared = int(headers.get(b"content-length", b"0"))
        except ValueError:
            declared = 0
        if declared > limit:
            await _refuse(send, 413, message, "PAYLOAD_TOO_LARGE")
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            event = await receive()
            if event["type"] == "http.request":
                received += len(event.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return event

        async def watched_send(event: Message) -> None:
            nonlocal started
            if event["type"] == "http.response.start":
                started = True
            await send(event)

        try:
            await self.app(scope, limited_receive, watched_send)
        except _TooLarge:
            if not started:
                await _refuse(send, 413, message, "PAYLOAD_TOO_LARGE")


class Timeout:
    """Answer 504 when an HTTP request takes more than ``seconds`` (the work is cancelled).

    Cancellation reaches code that awaits; a resolver that blocks the event loop is cut off when it
    next yields to it.
    """

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched_send(event: Message) -> None:
            nonlocal started
            if event["type"] == "http.response.start":
                started = True
            await send(event)

        try:  # a timeout scope, not wait_for: no task of its own for each request
            async with asyncio.timeout(self.seconds):
                await self.app(scope, receive, watched_send)
        except TimeoutError:
            if not started:
                message = f"the request took longer than the limit of {self.seconds:g} seconds"
                await _refuse(send, 504, message, "TIMEOUT")
