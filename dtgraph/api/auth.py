"""Who is calling: bearer API keys from the configuration, each with a role, and the anonymous role.

A request names its key as ``Authorization: Bearer KEY`` (over WebSocket, also as ``Authorization`` in the
``connection_init`` payload, since browsers cannot set headers on a WebSocket). The key's SHA-256 digest is
compared with every configured digest using :func:`hmac.compare_digest`, so neither the keys nor the
comparison's timing give anything away. A request without a key gets the anonymous role when one is
configured; a wrong key is always refused, never downgraded to anonymous.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

from dtgraph.api.config import ApiKey, Role

__all__ = ["Authenticator", "Identity", "Unauthorized"]


@dataclass(frozen=True, slots=True)
class Identity:
    """The caller: the key's name (``"anonymous"`` without one) and its role."""

    name: str
    role: Role


class Unauthorized(Exception):
    """No usable credentials: the HTTP answer is 401 with ``WWW-Authenticate: Bearer``."""


class Authenticator:
    """Maps an ``Authorization`` value to an :class:`Identity`, or refuses it."""

    def __init__(self, keys: Sequence[ApiKey], anonymous_role: Role | None = None) -> None:
        self._keys = [(key.digest, Identity(key.name, key.role)) for key in keys]
        self.anonymous_role = anonymous_role

    def identify(self, authorization: str | None) -> Identity:
        """The caller an ``Authorization`` header value (or None when absent) names; raises Unauthorized."""
        if authorization is None or not authorization.strip():
            if self.anonymous_role is None:
                raise Unauthorized("this server needs an API key: send 'Authorization: Bearer KEY'")
            return Identity("anonymous", self.anonymous_role)
        scheme, _, key = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise Unauthorized("the Authorization header must be 'Bearer KEY'")
        digest = hashlib.sha256(key.strip().encode("utf-8", "surrogatepass")).digest()
        found: Identity | None = None
        for stored, identity in self._keys:  # no early exit: every key is compared
            if hmac.compare_digest(digest, stored):
                found = identity
        if found is None:
            raise Unauthorized("the API key is not valid")
        return found
