"""Errors raised when twins and relationships do not fit the models or the graph.

Hierarchy::

    DtgraphError
    └── GraphError
        └── GraphValidationError   records, patches or model changes were rejected; nothing was written;
                                   ``.issues`` lists every GraphIssue found
    (GraphIssue is a record, not an exception)

Each ``GraphIssue.code`` names one rule (``unknownProperty``, ``wrongTargetModel``, …; see
:mod:`dtgraph.graph.validation`), so clients can match on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from dtgraph.errors import DtgraphError

__all__ = ["GraphError", "GraphIssue", "GraphValidationError"]


@dataclass(frozen=True, slots=True)
class GraphIssue:
    """One problem with one record.

    ``pointer`` is a JSON pointer into the record (``/temperature``, ``/config/mode``, ``/$targetId``)
    or, for patches, into the patch (``/3`` is its fourth operation). ``record`` is the index of the
    record in the sequence handed in (twins first, then relationships, for a batch); ``line`` is set by
    readers of line-oriented input (NDJSON).
    """

    code: str
    message: str
    pointer: str
    record: int | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = []
        if self.line is not None:
            where.append(f"line {self.line}")
        elif self.record is not None:
            where.append(f"record {self.record}")
        if self.pointer:
            where.append(self.pointer)
        prefix = f"{' '.join(where)}: " if where else ""
        return f"{prefix}{self.code}: {self.message}"


class GraphError(DtgraphError):
    """Base of the errors about twins and relationships."""


class GraphValidationError(GraphError):
    """The change was rejected and nothing was written; ``issues`` lists every problem found."""

    def __init__(self, issues: Iterable[GraphIssue]) -> None:
        self.issues = list(issues)
        first = str(self.issues[0]) if self.issues else "invalid change"
        more = f" (and {len(self.issues) - 1} more)" if len(self.issues) > 1 else ""
        super().__init__(first + more)
