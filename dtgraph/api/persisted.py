"""Automatic persisted queries: a client sends the SHA-256 of a query text instead of the text.

The protocol is Apollo's (``createPersistedQueryLink``, also used by other clients): a request carries
``extensions.persistedQuery = {"version": 1, "sha256Hash": "<64 hex digits>"}``, and its ``query`` only
when the server does not know the hash yet. The server answers an unknown hash with the error
``PersistedQueryNotFound`` (code ``PERSISTED_QUERY_NOT_FOUND``); the client then sends the text with its
hash once, the server checks that they match and keeps the text, and later requests send the hash
alone (small bodies; GET requests a cache can keep). A resolved request goes on as if it had sent the
text, so a known text takes the prepared path (:mod:`dtgraph.api.prepared`).

The texts are kept least recently used first out, within a count and a total size, so that clients
cannot make the server hold more than that.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from dtgraph.api.errors import BAD_USER_INPUT

__all__ = [
    "NOT_FOUND",
    "NOT_SUPPORTED",
    "PersistedQueries",
    "PersistedQueryError",
]

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
NOT_SUPPORTED = "PERSISTED_QUERY_NOT_SUPPORTED"
MAX_TEXTS = 1024
MAX_CHARS = 4_000_000  # all texts together
_HASH = re.compile(r"[0-9a-f]{64}")


class PersistedQueryError(Exception):
    """A persisted query the server cannot answer: the GraphQL error to send (message, code)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def body(self) -> dict[str, Any]:
        return {"errors": [{"message": self.message, "extensions": {"code": self.code}}]}


class PersistedQueries:
    """The query texts clients registered by their hash."""

    def __init__(self, max_texts: int = MAX_TEXTS, max_chars: int = MAX_CHARS) -> None:
        self.max_texts = max_texts
        self.max_chars = max_chars
        self._texts: OrderedDict[str, str] = OrderedDict()
        self._chars = 0  # used on the server's event loop only: no lock

    def resolve(self, query: object, extensions: object) -> tuple[str, dict[str, Any] | None] | None:
        """``(query, extensions)`` of a request whose extensions ask for a persisted query: its text
        and the other extensions (None if none are left). None when the request does not ask for one,
        or sends a query that is not a text (strawberry refuses that as usual). Raises
        :class:`PersistedQueryError`."""
        if not isinstance(extensions, Mapping) or "persistedQuery" not in extensions:
            return None
        if not (query is None or isinstance(query, str)):
            return None
        persisted = extensions["persistedQuery"]
        rest = {key: value for key, value in extensions.items() if key != "persistedQuery"} or None
        if not isinstance(persisted, Mapping) or persisted.get("version") != 1:
            raise PersistedQueryError("PersistedQueryNotSupported: only version 1 is known", NOT_SUPPORTED)
        digest = persisted.get("sha256Hash")
        if not isinstance(digest, str) or not _HASH.fullmatch(digest):
            raise PersistedQueryError(
                "persistedQuery.sha256Hash must be 64 lowercase hex digits", BAD_USER_INPUT
            )
        if query is None:
            text = self._texts.get(digest)
            if text is None:
                raise PersistedQueryError("PersistedQueryNotFound", NOT_FOUND)
            self._texts.move_to_end(digest)
            return text, rest
        if hashlib.sha256(query.encode()).hexdigest() != digest:
            raise PersistedQueryError("provided sha does not match query", BAD_USER_INPUT)
        self._keep(digest, query)
        return query, rest

    def _keep(self, digest: str, text: str) -> None:
        if len(text) > self.max_chars:
            return
        old = self._texts.pop(digest, None)
        if old is not None:
            self._chars -= len(old)
        self._texts[digest] = text
        self._chars += len(text)
        while len(self._texts) > self.max_texts or self._chars > self.max_chars:
            _, dropped = self._texts.popitem(last=False)
            self._chars -= len(dropped)

    def __len__(self) -> int:
        return len(self._texts)
