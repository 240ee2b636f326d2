"""Where the graph lives: ``memory:DIR`` (the embedded default) or a Neo4j URI, as the CLI takes it.

``memory:DIR`` keeps a journal in DIR; plain ``memory:`` keeps nothing on disk. ``bolt://``,
``bolt+s://``, ``neo4j://`` and ``neo4j+s://`` (Aura) URIs open the Neo4j store; credentials come from
options or the environment (``DTGRAPH_NEO4J_USER``, ``DTGRAPH_NEO4J_PASSWORD``,
``DTGRAPH_NEO4J_DATABASE``), never from the URI text, so they do not end up in shell history or logs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dtgraph.stores.base import Store
from dtgraph.stores.errors import StoreError

__all__ = ["DEFAULT_LOCATION", "NEO4J_SCHEMES", "StoreLocation", "open_store"]

DEFAULT_LOCATION = "memory:dtgraph-data"
NEO4J_SCHEMES = ("bolt://", "bolt+s://", "bolt+ssc://", "neo4j://", "neo4j+s://", "neo4j+ssc://")


@dataclass(frozen=True, slots=True)
class StoreLocation:
    """A parsed ``--store`` value plus the Neo4j credentials that go with it."""

    kind: str  # "memory" or "neo4j"
    target: str  # the directory ("" for a throwaway memory store) or the URI
    user: str | None = None
    password: str | None = None
    database: str | None = None

    @classmethod
    def parse(
        cls,
        text: str | None,
        *,
        user: str | None = None,
        password: str | None = None,
        database: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> StoreLocation:
        env = os.environ if environ is None else environ
        text = text or env.get("DTGRAPH_STORE") or DEFAULT_LOCATION
        if text.startswith("memory:"):
            return cls("memory", text.removeprefix("memory:"))
        if text.startswith(NEO4J_SCHEMES):
            return cls(
                "neo4j",
                text,
                user or env.get("DTGRAPH_NEO4J_USER"),
                password or env.get("DTGRAPH_NEO4J_PASSWORD"),
                database or env.get("DTGRAPH_NEO4J_DATABASE"),
            )
        raise StoreError(
            f"unknown store {text!r}: use memory:DIR (the embedded store, journal in DIR) or a Neo4j URI "
            f"({', '.join(s.removesuffix('://') for s in NEO4J_SCHEMES)})"
        )

    def __str__(self) -> str:
        return f"memory:{self.target}" if self.kind == "memory" else self.target


def open_store(location: StoreLocation) -> Store:
    """Open the store a location names (Neo4j: connects and checks the server answers)."""
    if location.kind == "memory":
        from dtgraph.stores.memory import MemoryStore

        return MemoryStore(Path(location.target) if location.target else None)
    from dtgraph.stores.neo4j import Neo4jStore

    auth = (location.user or "neo4j", location.password) if location.password is not None else None
    return Neo4jStore(location.target, auth=auth, database=location.database)
