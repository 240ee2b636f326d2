"""Errors raised while parsing DTDL.

Hierarchy::

    DtgraphError
    └── DtdlError
        ├── DtdlValidationError      the model is invalid; ``.errors`` lists every ParsingError
        │   └── DtdlResolutionError  the model refers to DTMIs that are defined nowhere
        └── (ParsingError is a record, not an exception)

Each ``ParsingError.code`` is the reference parser's ValidationID without the
``dtmi:dtdl:parsingError:`` prefix, so tools that know DTDLParser codes can match on them.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass, field

from dtgraph.errors import DtgraphError

__all__ = [
    "DtdlError",
    "DtdlResolutionError",
    "DtdlValidationError",
    "Location",
    "ParsingError",
]


@dataclass(frozen=True, slots=True)
class Location:
    """Where in the input an error sits.

    ``document`` is the index of the document in the list handed to ``parse``; ``source`` names
    the file when the loader knows it; ``line``/``column`` (1-based) are set when the input was text.
    """

    document: int
    pointer: str = ""
    source: str | None = None
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = self.source if self.source is not None else f"document {self.document}"
        if self.line is not None:
            where += f":{self.line}:{self.column}"
        if self.pointer:
            where += f" ({self.pointer})"
        return where


@dataclass(frozen=True, slots=True)
class ParsingError:
    """One problem found in a model."""

    code: str
    message: str
    primary_id: str | None = None
    property: str | None = None
    value: str | None = None
    location: Location | None = None
    secondary_id: str | None = None
    other_location: Location | None = None  # the second place, e.g. for duplicateDefinition

    @builtins.property
    def validation_id(self) -> str:
        return f"dtmi:dtdl:parsingError:{self.code}"

    def __str__(self) -> str:
        prefix = f"{self.location}: " if self.location is not None else ""
        return f"{prefix}{self.code}: {self.message}"


class DtdlError(DtgraphError):
    """Base of every DTDL parsing failure."""


class DtdlValidationError(DtdlError):
    """The documents do not form a valid DTDL model; ``errors`` lists every problem found."""

    def __init__(self, errors: list[ParsingError]) -> None:
        self.errors = errors
        first = str(errors[0]) if errors else "invalid model"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(first + more)


class DtdlResolutionError(DtdlValidationError):
    """The model depends on DTMIs (``extends``, schemas, contents) that no document defines."""

    def __init__(self, errors: list[ParsingError], undefined_identifiers: list[str]) -> None:
        self.undefined_identifiers = undefined_identifiers
        super().__init__(errors)


@dataclass(slots=True)
class ErrorSink:
    """Collects errors during a parse, so that every problem is reported at once."""

    errors: list[ParsingError] = field(default_factory=list)

    def add(self, error: ParsingError) -> None:
        self.errors.append(error)

    def __bool__(self) -> bool:
        return bool(self.errors)
