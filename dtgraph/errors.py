"""The root of dtgraph's exceptions; each subpackage draws its own branch below it."""

from __future__ import annotations

__all__ = ["DtgraphError"]


class DtgraphError(Exception):
    """Base class of every error dtgraph raises on purpose."""
