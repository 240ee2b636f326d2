"""The per-request context: the graph, its store, the request's data loaders and the caller's role.

Roles are ordered ``reader`` < ``modeler`` < ``operator`` < ``admin``: each may do what the ones
before it may. Reads need ``reader``; model changes ``modeler``; twin, relationship and import writes
``operator``. A request without a role (``None``) may do nothing: an app without authentication
should pass ``"admin"``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from dtgraph.api.errors import FORBIDDEN, ApiError
from dtgraph.api.loaders import Loaders
from dtgraph.graph.service import TwinGraph
from dtgraph.stores.base import Step, Store

__all__ = ["ROLES", "ApiContext", "make_context", "require"]

ROLES: tuple[str, ...] = ("reader", "modeler", "operator", "admin")


@dataclass
class ApiContext:
    """What every resolver of one request sees as ``info.context``."""

    graph: TwinGraph
    store: Store
    loaders: Loaders
    role: str | None
    past: dict[datetime, Loaders] = field(default_factory=dict)  # loaders of the as-of views read so far
    lookahead: dict[int, tuple[Step, ...]] = field(default_factory=dict)  # per field node of the query


def make_context(graph: TwinGraph, role: str | None) -> ApiContext:
    """A fresh context for one request (its data loaders cache only within the request)."""
    if role is not None and role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    return ApiContext(graph=graph, store=graph.store, loaders=Loaders(graph.store), role=role)


def allowed(ctx: ApiContext, role: str) -> bool:
    return ctx.role is not None and ROLES.index(ctx.role) >= ROLES.index(role)


def require(ctx: ApiContext, role: str) -> None:
    """Raise a FORBIDDEN error unless the request's role is ``role`` or above."""
    if not allowed(ctx, role):
        has = f"role '{ctx.role}'" if ctx.role is not None else "no role"
        raise ApiError(FORBIDDEN, f"this operation needs role '{role}' or above; the request has {has}")
