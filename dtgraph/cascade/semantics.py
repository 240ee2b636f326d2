"""Failure semantics: which relationships carry failure, and which properties say how, for any model.

The model library declares its own in ``dtdl/cascade.toml`` (:mod:`dtgraph.library`). A **cascade
configuration** is a file in the same TOML format that declares the same for models of your own, also models
that do not extend the library (format and example in ``dtdl/README.md``)::

    [[relationship]]                 # as in cascade.toml
    interface = "dtmi:acme:Press;1"  # the interface that has the relationship
    name = "fedBy"
    direction = "reverse"            # forward: a failed source fails the target; reverse: the other way
    kind = "material"                # material | utility | supply | hierarchy
    leadTimeHours = "transitHours"   # optional: the relationship's properties playing these roles
    failureProbability = "linkRisk"

    [[interface]]
    id = "dtmi:acme:Press;1"
    category = "Machine"             # optional: what its twins count as (Product, CustomerOrder, Supplier, …)
    bufferHours = "wipHours"         # optional: the interface's properties playing these roles
    recoveryHours = "mttrHours"      # (also failureProbability, inputGate, requiredInputs, orderValue,
                                     #  revenuePerHour, customer)

A declaration holds for every interface extending the one it names; the nearest one wins. A role nobody
maps is read from the property of the library's name (``bufferHours`` …). :func:`read_config` checks the
file's shape; :meth:`CascadeConfig.semantics` checks it against a model set (every interface, relationship
and property must exist, with a fitting schema, and nothing may contradict the library) and gives the
:class:`Semantics` that :func:`dtgraph.cascade.snapshot` reads the store with. Every problem is reported at
once, each with a stable code and the ``file:line`` of its table (tomllib keeps no positions, so the
headers and keys are located by a small line scan).

Errors::

    DtgraphError
    └── CascadeConfigError   the file cannot be read or breaks a rule; ``issues`` holds each ConfigIssue
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import cast, get_args

from dtgraph.dtdl import ModelSet
from dtgraph.dtdl.model import Interface, Property
from dtgraph.errors import DtgraphError
from dtgraph.library import CascadeDeclaration, Direction, Kind, cascade_declarations, library_model_set

__all__ = [
    "CATEGORIES",
    "CODES",
    "EDGE_ROLES",
    "NODE_ROLES",
    "CascadeConfig",
    "CascadeConfigError",
    "ConfigIssue",
    "Node",
    "Semantics",
    "library_semantics",
    "load_config",
    "read_config",
]

CATEGORIES = (
    "CustomerOrder",
    "Product",
    "Part",
    "Supplier",
    "Enterprise",
    "Site",
    "Plant",
    "Line",
    "Machine",
    "Sensor",
    "Utility",
    "Asset",
    "Entity",
    "Other",
)
"""What a twin counts as: declared for its interface, else the nearest library interface it is or extends."""

NODE_ROLES = (
    "bufferHours",
    "recoveryHours",
    "failureProbability",
    "inputGate",
    "requiredInputs",
    "orderValue",
    "revenuePerHour",
    "customer",
)
"""What an interface's properties can play, by the library's property names (the defaults)."""

EDGE_ROLES = ("leadTimeHours", "failureProbability")
"""What a relationship's properties can play, by the library's names (the defaults)."""

CODES = (
    "unreadableFile",
    "invalidToml",
    "unknownKey",
    "missingKey",
    "invalidValue",
    "invalidDirection",
    "invalidKind",
    "invalidCategory",
    "duplicateDeclaration",
    "unknownInterface",
    "unknownRelationship",
    "unknownProperty",
    "wrongSchema",
    "contradictsLibrary",
)
"""Every code a :class:`ConfigIssue` can have."""

_DIRECTIONS: tuple[str, ...] = get_args(Direction)
_KINDS: tuple[str, ...] = get_args(Kind)
_GATES = frozenset(("all", "any", "kOfN"))
_NUMBERS = frozenset(("double", "float", "integer", "long"))
_SCHEMAS = {  # role -> (what the message calls it, accepted primitive kinds)
    "inputGate": ("a string or an Enum of all, any, kOfN", frozenset(("string",))),
    "requiredInputs": ("an integer", frozenset(("integer", "long"))),
    "customer": ("a string", frozenset(("string",))),
}
_RELATIONSHIP_KEYS = ("interface", "name", "direction", "kind", *EDGE_ROLES)
_INTERFACE_KEYS = ("id", "category", *NODE_ROLES)
_LIBRARY_PREFIX = "dtmi:dtgraph:"


class CascadeConfigError(DtgraphError):
    """A cascade configuration cannot be used; ``issues`` lists every problem, the message one per line."""

    def __init__(self, issues: Iterable[ConfigIssue]) -> None:
        self.issues = tuple(issues)
        super().__init__("\n".join(map(str, self.issues)))


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem of a cascade configuration: a code of :data:`CODES`, where, and what is wrong."""

    code: str
    message: str
    path: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.code}: {self.message}"


# ---- the file ----------------------------------------------------------------------------------------------

_HEADER = re.compile(r"\s*\[\[\s*(\w+)\s*\]\]")
_TABLE = re.compile(r"\s*\[")
_KEY = re.compile(r"""\s*(?:"([^"]*)"|'([^']*)'|([\w-]+))\s*=""")


def _positions(text: str) -> dict[tuple[str, int], tuple[int, dict[str, int]]]:
    """Per (array-of-tables name, index): the line of its header and of each of its keys (1-based)."""
    found: dict[tuple[str, int], tuple[int, dict[str, int]]] = {}
    counts: dict[str, int] = {}
    keys: dict[str, int] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header:
            name = header.group(1)
            index = counts.get(name, 0)
            counts[name] = index + 1
            keys = {}
            found[(name, index)] = (number, keys)
        elif _TABLE.match(line):
            keys = None
        elif keys is not None:
            key = _KEY.match(line)
            if key:
                keys.setdefault(next(g for g in key.groups() if g is not None), number)
    return found


@dataclass(frozen=True, slots=True)
class _Entry:
    """One table of the file, with where it is."""

    table: str  # "relationship" or "interface"
    index: int
    values: Mapping[str, str]
    line: int | None
    key_lines: Mapping[str, int]

    def at(self, key: str | None = None) -> int | None:
        return self.key_lines.get(key, self.line) if key is not None else self.line

    @property
    def label(self) -> str:
        return f"[[{self.table}]] #{self.index + 1}"


@dataclass(frozen=True, slots=True)
class _Issues:
    path: str
    found: list[ConfigIssue] = field(default_factory=list)

    def add(self, code: str, message: str, line: int | None) -> None:
        self.found.append(ConfigIssue(code, message, self.path, line))


def _parse(path: Path) -> tuple[list[_Entry], list[ConfigIssue]]:
    issues = _Issues(str(path))
    try:
        text = path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        issues.add("unreadableFile", f"cannot read the cascade configuration: {reason}", None)
        return [], issues.found
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        at = re.search(r"at line (\d+)", str(exc))
        issues.add("invalidToml", f"not valid TOML: {exc}", int(at.group(1)) if at else None)
        return [], issues.found
    positions = _positions(text)
    entries: list[_Entry] = []
    for top, value in data.items():
        if top not in ("relationship", "interface"):
            mention = re.compile(rf"\s*(\[+\s*{re.escape(top)}\b|{re.escape(top)}\s*=)")
            line = next((n for n, s in enumerate(text.splitlines(), 1) if mention.match(s)), None)
            issues.add(
                "unknownKey", f"unknown key {top!r}: a file holds [[relationship]] and [[interface]]", line
            )
            continue
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            issues.add("invalidValue", f"{top!r} must be an array of tables ([[{top}]])", None)
            continue
        allowed = _RELATIONSHIP_KEYS if top == "relationship" else _INTERFACE_KEYS
        required = ("interface", "name", "direction", "kind") if top == "relationship" else ("id",)
        for index, table in enumerate(value):
            line, key_lines = positions.get((top, index), (None, {}))
            label = f"[[{top}]] #{index + 1}"
            strings: dict[str, str] = {}
            for key, item in table.items():
                if key not in allowed:
                    issues.add(
                        "unknownKey",
                        f"{label}: unknown key {key!r}; the keys are {', '.join(allowed)}",
                        key_lines.get(key, line),
                    )
                elif not isinstance(item, str) or not item:
                    issues.add(
                        "invalidValue", f"{label}: {key} must be a non-empty string", key_lines.get(key, line)
                    )
                else:
                    strings[key] = item
            missing = [k for k in required if k not in table]
            if missing:
                issues.add("missingKey", f"{label}: missing {', '.join(missing)}", line)
            entry = _Entry(top, index, strings, line, key_lines)
            _check_values(entry, issues)
            if not missing:
                entries.append(entry)
    return entries, issues.found


def _check_values(entry: _Entry, issues: _Issues) -> None:
    values = entry.values
    checks = (
        ("direction", _DIRECTIONS, "invalidDirection"),
        ("kind", _KINDS, "invalidKind"),
        ("category", CATEGORIES, "invalidCategory"),
    )
    for key, allowed, code in checks:
        given = values.get(key)
        if given is not None and given not in allowed:
            issues.add(
                code, f"{entry.label}: {key} {given!r} is not one of {', '.join(allowed)}", entry.at(key)
            )


# ---- the semantics -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Node:
    """How the twins of one interface take part: what they count as and where their attributes are."""

    category: int  # an index into CATEGORIES
    properties: Mapping[str, str] | None  # role -> property name; None when every role has its own name


@dataclass(frozen=True, eq=False)
class Semantics:
    """The failure semantics of a model set: the library's declarations and a configuration's, merged.

    ``relationships`` by (interface, relationship name); ``roles`` and ``categories`` by interface. Look-ups
    walk an interface and its ancestors, nearest first.
    """

    relationships: Mapping[tuple[str, str], CascadeDeclaration]
    roles: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    categories: Mapping[str, str] = field(default_factory=dict)

    def relationship(self, models: ModelSet, model: str, name: str) -> CascadeDeclaration | None:
        """How relationship ``name`` of a twin of ``model`` carries failure, or None if it carries none."""
        interface = models.interfaces.get(model)
        if interface is None or name not in interface.relationships:
            return None
        for dtmi in (model, *models.ancestors(model)):
            found = self.relationships.get((dtmi, name))
            if found is not None:
                return found
        return None

    def node(self, models: ModelSet, model: str) -> Node:
        """The category and attribute properties of a twin of ``model``."""
        if model not in models.interfaces:
            return Node(CATEGORIES.index("Other"), None)
        chain = (model, *models.ancestors(model))
        category = next((c for c in map(self._category, chain) if c is not None), "Other")
        names = {
            role: next((self.roles[i][role] for i in chain if role in self.roles.get(i, ())), role)
            for role in NODE_ROLES
        }
        renamed = any(role != name for role, name in names.items())
        return Node(CATEGORIES.index(category), names if renamed else None)

    def _category(self, dtmi: str) -> str | None:
        declared = self.categories.get(dtmi)
        if declared is not None:
            return declared
        return _library_category(dtmi)


def _library_category(dtmi: str) -> str | None:
    if dtmi.startswith(_LIBRARY_PREFIX):
        name = dtmi.removeprefix(_LIBRARY_PREFIX).partition(";")[0]
        if name in CATEGORIES:
            return name
    return None


@cache
def library_semantics() -> Semantics:
    """The semantics of the model library alone (``cascade.toml``)."""
    return Semantics({(d.interface, d.relationship): d for d in cascade_declarations()})


@dataclass(frozen=True, eq=False)
class CascadeConfig:
    """A cascade configuration file whose shape is valid; :meth:`semantics` checks it against models."""

    path: str
    entries: tuple[_Entry, ...]
    _checked: dict[int, tuple[ModelSet, Semantics | tuple[ConfigIssue, ...]]] = field(
        default_factory=dict, repr=False
    )

    def issues(self, models: ModelSet) -> list[ConfigIssue]:
        """Every way the declarations do not fit ``models`` (empty when they fit)."""
        return _check(self, models)[1]

    def semantics(self, models: ModelSet) -> Semantics:
        """The library's semantics and this file's, for ``models`` (raises CascadeConfigError)."""
        cached = self._checked.get(id(models))
        if cached is None or cached[0] is not models:
            semantics, issues = _check(self, models)
            self._checked.clear()  # only the latest model set: models change rarely
            # a misfit is kept too: a server asks again on every request until the models change
            cached = self._checked[id(models)] = (models, tuple(issues) or semantics)
        if isinstance(cached[1], tuple):
            raise CascadeConfigError(cached[1])
        return cached[1]


def read_config(path: Path | str) -> CascadeConfig:
    """Read a cascade configuration and check its shape (raises CascadeConfigError listing every problem)."""
    entries, issues = _parse(Path(path))
    if issues:
        raise CascadeConfigError(issues)
    return CascadeConfig(str(path), tuple(entries))


def load_config(path: Path | str, models: ModelSet) -> Semantics:
    """Read a cascade configuration and check it against ``models``, every problem reported at once."""
    entries, issues = _parse(Path(path))
    semantics, more = _check(CascadeConfig(str(path), tuple(entries)), models)
    if issues or more:
        raise CascadeConfigError([*issues, *more])
    return semantics


def _check(config: CascadeConfig, models: ModelSet) -> tuple[Semantics, list[ConfigIssue]]:
    issues = _Issues(config.path)
    library = library_semantics()
    library_models = library_model_set().interfaces
    relationships = dict(library.relationships)
    roles: dict[str, dict[str, str]] = {}
    categories: dict[str, str] = {}
    first: dict[tuple[str, str], _Entry] = {}  # by (table, subject)
    for entry in config.entries:
        v = entry.values
        dtmi = v.get("interface") if entry.table == "relationship" else v.get("id")
        interface = models.interfaces.get(dtmi) if dtmi is not None else None
        if dtmi is None:
            continue
        if interface is None:
            key = "interface" if entry.table == "relationship" else "id"
            issues.add(
                "unknownInterface", f"{entry.label}: no interface {dtmi!r} among the models", entry.at(key)
            )
            continue
        subject = f"{dtmi} {v['name']}" if entry.table == "relationship" else dtmi
        earlier = first.setdefault((entry.table, subject), entry)
        if earlier is not entry:
            issues.add(
                "duplicateDeclaration",
                f"{entry.label}: {subject} is declared already by {earlier.label} (line {earlier.line})",
                entry.line,
            )
            continue
        if entry.table == "relationship":
            declaration = _relationship(entry, models, interface, library, issues)
            if declaration is not None:
                relationships[(dtmi, declaration.relationship)] = declaration
        else:
            names, category = _interface(entry, models, interface, dtmi in library_models, issues)
            roles[dtmi] = names
            if category is not None:
                categories[dtmi] = category
    return Semantics(relationships, roles, categories), issues.found


def _relationship(
    entry: _Entry, models: ModelSet, interface: Interface, library: Semantics, issues: _Issues
) -> CascadeDeclaration | None:
    v = entry.values
    name = v["name"]
    relationship = interface.relationships.get(name)
    if relationship is None:
        has = ", ".join(sorted(interface.relationships)) or "none"
        issues.add(
            "unknownRelationship",
            f"{entry.label}: interface {interface.id} has no relationship {name!r} (it has: {has})",
            entry.at("name"),
        )
        return None
    if v.get("direction") not in _DIRECTIONS or v.get("kind") not in _KINDS:
        return None  # reported with the file's shape
    properties = {p.name: p for p in relationship.properties}
    names = {role: v.get(role, role) for role in EDGE_ROLES}
    good = True
    for role in EDGE_ROLES:
        if role in v:
            good &= _property(entry, role, v[role], properties, f"relationship {name!r}", issues)
    declaration = CascadeDeclaration(
        interface.id,
        name,
        cast(Direction, v["direction"]),
        cast(Kind, v["kind"]),
        names["leadTimeHours"],
        names["failureProbability"],
    )
    known = library.relationship(models, interface.id, name)
    if known is not None and (known.direction, known.kind) != (declaration.direction, declaration.kind):
        issues.add(
            "contradictsLibrary",
            f"{entry.label}: {interface.id} {name!r} is declared by the model library ({known.interface}) "
            f"as direction {known.direction!r}, kind {known.kind!r}, not {declaration.direction!r}, "
            f"{declaration.kind!r}",
            entry.at("direction" if known.direction != declaration.direction else "kind"),
        )
        good = False
    return declaration if good else None


def _interface(
    entry: _Entry, models: ModelSet, interface: Interface, in_library: bool, issues: _Issues
) -> tuple[dict[str, str], str | None]:
    v = entry.values
    names: dict[str, str] = {}
    for role in NODE_ROLES:
        if role not in v:
            continue
        if in_library and v[role] != role:
            issues.add(
                "contradictsLibrary",
                f"{entry.label}: {interface.id} is a library interface: its {role} is property {role!r}",
                entry.at(role),
            )
        elif _property(entry, role, v[role], interface.properties, f"interface {interface.id}", issues):
            names[role] = v[role]
    category = v.get("category")
    if category not in CATEGORIES:
        return names, None
    if in_library:
        known = next(
            (c for c in map(_library_category, (interface.id, *models.ancestors(interface.id))) if c), "Other"
        )
        if known != category:
            issues.add(
                "contradictsLibrary",
                f"{entry.label}: {interface.id} counts as {known} in the model library, not {category}",
                entry.at("category"),
            )
            return names, None
    return names, category


def _property(
    entry: _Entry, role: str, name: str, properties: Mapping[str, Property], owner: str, issues: _Issues
) -> bool:
    prop = properties.get(name)
    if prop is None:
        has = ", ".join(sorted(properties)) or "none"
        issues.add(
            "unknownProperty",
            f"{entry.label}: {owner} has no property {name!r} to play {role} (it has: {has})",
            entry.at(role),
        )
        return False
    wanted, kinds = _SCHEMAS.get(role, ("a number", _NUMBERS))
    schema = prop.schema
    fits = schema is not None and (
        schema.kind in kinds
        or (
            schema.kind == "Enum"
            and role in ("inputGate", "customer")
            and schema.value_schema == "string"
            and (role == "customer" or {str(e.value) for e in schema.enum_values} <= _GATES)
        )
    )
    if not fits:
        shown = "none" if schema is None else schema.kind
        issues.add(
            "wrongSchema",
            f"{entry.label}: property {name!r} of {owner} has schema {shown}; {role} needs {wanted}",
            entry.at(role),
        )
    return fits
