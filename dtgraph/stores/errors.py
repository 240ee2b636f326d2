"""Errors raised by stores.

Hierarchy::

    DtgraphError
    └── StoreError               a store could not do what was asked; nothing was changed
        ├── StoreUnavailable     the backing service cannot be reached (Neo4j down, wrong credentials)
        ├── StoreCorrupted       persisted data cannot be read back (journal damage beyond a torn tail)
        └── UnsupportedOperation the store lacks the capability (see ``Store.capabilities``)
"""

from __future__ import annotations

from dtgraph.errors import DtgraphError

__all__ = ["StoreCorrupted", "StoreError", "StoreUnavailable", "UnsupportedOperation"]


class StoreError(DtgraphError):
    """A store operation failed; the store is unchanged."""


class StoreUnavailable(StoreError):
    """The store's backing service cannot be reached or refused the credentials."""


class StoreCorrupted(StoreError):
    """Persisted data is damaged beyond what recovery may drop silently."""


class UnsupportedOperation(StoreError):
    """The store does not offer this capability."""
