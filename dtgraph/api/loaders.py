"""Data loaders: the reads of one request, batched so that round trips grow with depth, not rows.

Every twin a query touches at one level of nesting is read with one ``Store.get_twins`` call, and
every relationship list with one ``Store.relationships`` call per (name, direction) asked at that
level. Store calls run in a worker thread, so a slow store does not stall the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader

from dtgraph.graph.records import Relationship, Twin
from dtgraph.stores.base import Direction, Store

__all__ = ["Loaders", "RelationshipsKey", "blocking"]

RelationshipsKey = tuple[str, str | None, Direction]  # (twin id, relationship name or None, direction)

R = TypeVar("R")


async def blocking(fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """Run a blocking store call in a worker thread."""
    return await asyncio.to_thread(fn, *args, **kwargs)


class Loaders:
    """The data loaders of one request over one store (the live graph, or a view of the past)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.twins: DataLoader[str, Twin | None] = DataLoader(load_fn=self._load_twins)
        self.relationships: DataLoader[RelationshipsKey, list[Relationship]] = DataLoader(
            load_fn=self._load_relationships
        )

    def clear(self) -> None:
        """Forget what was read (after a write in the same request)."""
        self.twins.clear_all()
        self.relationships.clear_all()

    async def _load_twins(self, ids: list[str]) -> list[Twin | None]:
        found = await blocking(self.store.get_twins, ids)
        return [found.get(i) for i in ids]

    async def _load_relationships(self, keys: list[RelationshipsKey]) -> list[list[Relationship]]:
        shapes: dict[tuple[str | None, Direction], list[str]] = {}
        for twin_id, name, direction in keys:
            shapes.setdefault((name, direction), []).append(twin_id)
        found: dict[RelationshipsKey, list[Relationship]] = {}
        for (name, direction), ids in shapes.items():
            rels = await blocking(self.store.relationships, ids, name=name, direction=direction)
            for twin_id in ids:
                found[(twin_id, name, direction)] = rels.get(twin_id, [])
        return [found[k] for k in keys]
