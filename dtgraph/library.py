"""The shipped DTDL model library for manufacturing and supply chain, and its cascade declarations.

The source of truth is ``dtdl/`` at the repository root (see ``dtdl/README.md``). A source checkout or
editable install reads it there; an installed wheel carries it as data files in
``<prefix>/share/dtgraph/dtdl``. ``dtdl/cascade.toml`` declares which relationships carry failure and
which way, so that analysis code need not hard-code relationship names; models outside the library declare
theirs in a cascade configuration of the same format (:mod:`dtgraph.cascade.semantics`).

Errors::

    DtgraphError
    └── LibraryError    the library is missing, or cascade.toml contradicts the models
"""

from __future__ import annotations

import importlib.metadata
import sys
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal, cast

from dtgraph.dtdl import ModelSet, parse
from dtgraph.errors import DtgraphError

__all__ = [
    "CascadeDeclaration",
    "Direction",
    "Kind",
    "LibraryError",
    "cascade_declaration",
    "cascade_declarations",
    "library_documents",
    "library_model_set",
    "library_path",
]

Direction = Literal["forward", "reverse"]
Kind = Literal["material", "utility", "supply", "hierarchy"]

_DIRECTIONS: frozenset[str] = frozenset(("forward", "reverse"))
_KINDS: frozenset[str] = frozenset(("material", "utility", "supply", "hierarchy"))
_CASCADE_FILE = "cascade.toml"
_INSTALLED = ("share", "dtgraph", "dtdl")


class LibraryError(DtgraphError):
    """The model library cannot be found, or its cascade declarations do not match its models."""


@dataclass(frozen=True, slots=True)
class CascadeDeclaration:
    """A relationship that carries failure: ``interface`` declares relationship ``relationship``.

    ``direction`` "forward" means a failed source fails the target; "reverse" the other way round.
    Inputs of ``kind`` "hierarchy" are always needed; the others count towards a node's ``inputGate``.
    ``lead_time`` and ``probability`` name the relationship's properties that hold its lead time in hours
    and its own failure probability (the library's names unless a cascade configuration says otherwise,
    see :mod:`dtgraph.cascade.semantics`).
    """

    interface: str
    relationship: str
    direction: Direction
    kind: Kind
    lead_time: str = "leadTimeHours"
    probability: str = "failureProbability"

    def orient(self, source: str, target: str) -> tuple[str, str]:
        """The relationship's ends as (failing node, node it affects)."""
        return (source, target) if self.direction == "forward" else (target, source)


def library_path() -> Path:
    """The folder holding the library: ``dtdl/`` of a source checkout, else the installed copy."""
    checkout = Path(__file__).resolve().parent.parent / "dtdl"
    if (checkout / _CASCADE_FILE).is_file():
        return checkout
    # An installed wheel: its RECORD names the data files wherever the scheme put them (venv, --user, …).
    for dist in importlib.metadata.distributions(name="dtgraph"):
        for file in dist.files or ():
            if file.parts[-4:] == (*_INSTALLED, _CASCADE_FILE):
                return Path(str(file.locate())).resolve().parent
    fallback = Path(sys.prefix).joinpath(*_INSTALLED)
    if (fallback / _CASCADE_FILE).is_file():
        return fallback
    raise LibraryError(
        f"the DTDL model library is missing: looked in {checkout} and {fallback}; "
        "reinstall dtgraph (pip install --force-reinstall dtgraph)"
    )


def library_documents() -> list[tuple[str, bytes]]:
    """Each interface document of the library as (file name, content), sorted by name."""
    return [(path.name, path.read_bytes()) for path in sorted(library_path().glob("*.json"))]


@cache
def library_model_set() -> ModelSet:
    """The library parsed as one model (cached; the ModelSet is immutable)."""
    names, texts = zip(*library_documents(), strict=True)
    return parse(list(texts), sources=list(names))


@cache
def cascade_declarations() -> tuple[CascadeDeclaration, ...]:
    """The declarations of ``cascade.toml``, checked against the library's models."""
    path = library_path() / _CASCADE_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise LibraryError(f"{path}: {exc}") from exc
    models = library_model_set()
    declarations: list[CascadeDeclaration] = []
    problems: list[str] = []
    for index, entry in enumerate(data.get("relationship", [])):
        where = f"{path}: relationship #{index + 1}"
        interface, name = entry.get("interface"), entry.get("name")
        direction, kind = entry.get("direction"), entry.get("kind")
        if direction not in _DIRECTIONS:
            problems.append(f"{where}: direction {direction!r} is not one of {sorted(_DIRECTIONS)}")
        if kind not in _KINDS:
            problems.append(f"{where}: kind {kind!r} is not one of {sorted(_KINDS)}")
        model = models.interfaces.get(interface) if isinstance(interface, str) else None
        declared = model.relationships.get(name) if model is not None and isinstance(name, str) else None
        if declared is None or declared.defined_in != interface:
            problems.append(f"{where}: interface {interface!r} declares no relationship {name!r}")
            continue
        declarations.append(
            CascadeDeclaration(
                cast(str, interface), cast(str, name), cast(Direction, direction), cast(Kind, kind)
            )
        )
    if problems:
        raise LibraryError("\n".join(problems))
    return tuple(declarations)


def cascade_declaration(models: ModelSet, model: str, relationship: str) -> CascadeDeclaration | None:
    """How a relationship of a twin of ``model`` carries failure, or None if it carries none.

    ``models`` may be any ModelSet that includes the library: a declaration on a library interface
    holds for every interface extending it.
    """
    interface = models.interfaces.get(model)
    declared = interface.relationships.get(relationship) if interface is not None else None
    if declared is None:
        return None
    return _by_key().get((declared.defined_in, relationship))


@cache
def _by_key() -> dict[tuple[str, str], CascadeDeclaration]:
    return {(d.interface, d.relationship): d for d in cascade_declarations()}
