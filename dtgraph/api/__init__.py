"""The GraphQL API: a schema generated from the loaded models, its resolvers, data loaders and roles.

The app asks a :class:`SchemaHolder` for the current schema on every request and executes with a
context from :func:`make_context`::

    holder = SchemaHolder(graph, ApiConfig(max_page_size=100))
    context = make_context(graph, role)  # role: "reader", "modeler", "operator", "admin" or None
    result = await holder.schema.execute(query, variable_values=variables, context_value=context)
"""

from __future__ import annotations

from dtgraph.api.context import ROLES, ApiContext, make_context, require
from dtgraph.api.errors import ApiError
from dtgraph.api.loaders import Loaders
from dtgraph.api.schema import HARD_MAX_PAGE_SIZE, ApiConfig, DtSchema, SchemaHolder, build_schema

__all__ = [
    "HARD_MAX_PAGE_SIZE",
    "ROLES",
    "ApiConfig",
    "ApiContext",
    "ApiError",
    "DtSchema",
    "Loaders",
    "SchemaHolder",
    "build_schema",
    "make_context",
    "require",
]
