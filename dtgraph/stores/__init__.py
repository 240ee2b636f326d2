"""Stores for the asset graph: one small contract, an embedded memory store and Neo4j."""

from __future__ import annotations

from dtgraph.stores.base import Batch, Capabilities, Change, Direction, Filter, Page, Store
from dtgraph.stores.errors import StoreCorrupted, StoreError, StoreUnavailable, UnsupportedOperation

__all__ = [
    "Batch",
    "Capabilities",
    "Change",
    "Direction",
    "Filter",
    "Page",
    "Store",
    "StoreCorrupted",
    "StoreError",
    "StoreUnavailable",
    "UnsupportedOperation",
]
