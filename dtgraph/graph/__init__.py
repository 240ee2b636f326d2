"""The asset graph: twin and relationship records, their validation against the models, updates."""

from __future__ import annotations

from dtgraph.graph.records import Relationship, Twin

__all__ = ["Relationship", "Twin"]
