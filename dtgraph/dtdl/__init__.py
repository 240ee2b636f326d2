"""The DTDL language (v2, v3, v4): parse and validate models into a typed, immutable ModelSet."""

from __future__ import annotations

from dtgraph.dtdl.errors import (
    DtdlError,
    DtdlResolutionError,
    DtdlValidationError,
    Location,
    ParsingError,
)
from dtgraph.dtdl.model import (
    Command,
    CommandPayload,
    Component,
    Content,
    Element,
    EnumValue,
    Field,
    Interface,
    ModelSet,
    Property,
    Relationship,
    Schema,
    Telemetry,
)
from dtgraph.dtdl.parsing import Resolver, parse

__all__ = [
    "Command",
    "CommandPayload",
    "Component",
    "Content",
    "DtdlError",
    "DtdlResolutionError",
    "DtdlValidationError",
    "Element",
    "EnumValue",
    "Field",
    "Interface",
    "Location",
    "ModelSet",
    "ParsingError",
    "Property",
    "Relationship",
    "Resolver",
    "Schema",
    "Telemetry",
    "parse",
]
