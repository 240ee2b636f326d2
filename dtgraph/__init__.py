"""dtgraph: a graph-based digital twin modeling and query server."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
