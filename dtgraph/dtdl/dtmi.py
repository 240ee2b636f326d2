"""Digital Twin Model Identifiers (DTMIs).

A DTMI is ``dtmi:<path>[;<version>][#<fragment>]`` (the DTMI specification, ``DTMI/README.md``):

- the path is one or more colon-separated segments of letters, digits and underscores that do not
  start with a digit nor end with an underscore; a segment starting with ``_`` is a *system* segment;
- the version is ``major`` (1 to 9 digits) or ``major.minor`` (minor: 1 to 6 digits), neither with a
  leading zero;
- the fragment follows the segment rules and may be empty (``dtmi:a;1#``).

A DTMI with a system segment or fragment is a *system* DTMI, reserved for identifiers that tools
generate; the reference parser calls this ``IsReserved``, and so does :attr:`Dtmi.is_reserved`.
That is a different rule from DTDL's reserved *prefixes* (``dtmi:dtdl:``, ``dtmi:standard:``) that a
model's ``@id`` must not use: see :func:`has_reserved_prefix`.

DTDL models accept only part of this syntax, per language version (the ``dtmm:identifier`` global
restriction of each version's metamodel): :func:`is_valid_dtmi` checks a string against it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "DTDL_VERSIONS",
    "MAX_LENGTH",
    "MAX_USER_LENGTH",
    "RESERVED_PREFIXES",
    "Dtmi",
    "has_reserved_prefix",
    "is_reserved",
    "is_valid_dtmi",
]

MAX_LENGTH: Final = 4096
"""The longest DTMI, user or system."""
MAX_USER_LENGTH: Final = 2048
"""The longest user DTMI (no system segment), and the longest identifier DTDL v2, v3 and v4 accept."""
RESERVED_PREFIXES: Final = ("dtmi:dtdl:", "dtmi:standard:")
"""Prefixes that a DTDL element's ``@id`` must not begin with (in every DTDL version)."""
DTDL_VERSIONS: Final = (2, 3, 4)
"""The DTDL language versions :func:`is_valid_dtmi` knows."""

_USER_SEGMENT: Final = r"[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?"
_ANY_SEGMENT: Final = r"(?:_+[A-Za-z0-9]|[A-Za-z])(?:[A-Za-z0-9_]*[A-Za-z0-9])?"
_MAJOR: Final = r"[1-9][0-9]{0,8}"
_MINOR: Final = r"[1-9][0-9]{0,5}"

# The full DTMI syntax, with groups. Always used with fullmatch(): `$` would accept a trailing newline.
_DTMI_RE: Final = re.compile(
    rf"dtmi:(?P<path>{_ANY_SEGMENT}(?::{_ANY_SEGMENT})*)"
    rf"(?:;(?P<major>{_MAJOR})(?:\.(?P<minor>{_MINOR}))?)?"
    rf"(?P<fragment>#(?:{_ANY_SEGMENT})?)?"
)

# Per DTDL version: the dtmm:identifier pattern and maxLength of DTDL.v{N}.ModelRDF-SHACL.json.
_USER_PATH: Final = rf"dtmi:{_USER_SEGMENT}(?::{_USER_SEGMENT})*"
_V2_RE: Final = re.compile(rf"{_USER_PATH};{_MAJOR}")
_V3_RE: Final = re.compile(rf"{_USER_PATH}(?:;{_MAJOR}(?:\.{_MINOR})?)?")
_DTDL_RULES: Final[dict[int, tuple[re.Pattern[str], int]]] = {
    2: (_V2_RE, MAX_USER_LENGTH),
    3: (_V3_RE, MAX_USER_LENGTH),
    4: (_V3_RE, MAX_USER_LENGTH),
}

_SEGMENT_RE: Final = re.compile(_ANY_SEGMENT)
_VERSION_RE: Final = re.compile(rf"{_MAJOR}(?:\.{_MINOR})?")


@dataclass(frozen=True, slots=True)
class Dtmi:
    """A parsed, valid DTMI. Equality and hashing are those of the text (DTMIs are case-sensitive).

    ``Dtmi(text)`` and :meth:`Dtmi.parse` raise ``ValueError`` naming the rule ``text`` breaks.
    The field names follow the reference parser's ``Dtmi`` (MajorVersion, Labels, Fragment, ...).
    """

    text: str
    labels: tuple[str, ...] = field(init=False, compare=False, repr=False)
    """The path segments, e.g. ``("com", "example", "Pump")``."""
    major_version: int = field(init=False, compare=False, repr=False)
    """0 when the DTMI has no version."""
    minor_version: int = field(init=False, compare=False, repr=False)
    """0 when the version has no minor part."""
    fragment: str = field(init=False, compare=False, repr=False)
    """``""`` without a fragment, else the fragment with its ``#`` (``"#"`` when empty)."""

    def __post_init__(self) -> None:
        match = _DTMI_RE.fullmatch(self.text)
        if match is None or len(self.text) > _max_length(self.text):
            raise ValueError(_explain(self.text))
        major, minor = match["major"], match["minor"]
        object.__setattr__(self, "labels", tuple(match["path"].split(":")))
        object.__setattr__(self, "major_version", int(major) if major else 0)
        object.__setattr__(self, "minor_version", int(minor) if minor else 0)
        object.__setattr__(self, "fragment", match["fragment"] or "")

    @classmethod
    def parse(cls, text: str) -> Dtmi:
        """Parse ``text`` (full DTMI syntax, user or system); ``ValueError`` says what is wrong."""
        return cls(text)

    @property
    def complete_version(self) -> float:
        """Major and minor version as one sortable number: 2.22 is 2.000022; 0.0 without a version."""
        return float(f"{self.major_version}.{self.minor_version:06d}")

    @property
    def versionless(self) -> str:
        """The DTMI without its version, fragment kept: ``dtmi:a:b;1#f`` gives ``dtmi:a:b#f``."""
        return f"dtmi:{':'.join(self.labels)}{self.fragment}"

    @property
    def is_reserved(self) -> bool:
        """Whether this is a system DTMI (a segment or the fragment starts with ``_``)."""
        return _has_system_part(self.text)

    @property
    def has_reserved_prefix(self) -> bool:
        """Whether this DTMI begins with a prefix DTDL reserves (``dtmi:dtdl:``, ``dtmi:standard:``)."""
        return self.text.startswith(RESERVED_PREFIXES)

    def __str__(self) -> str:
        return self.text


def is_valid_dtmi(text: object, version: int) -> bool:
    """Whether ``text`` is an identifier DTDL ``version`` (2, 3 or 4) accepts.

    v2 requires a one-part version (``dtmi:a:b;1``); v3 and v4 also accept ``;major.minor`` and no
    version at all. No version accepts system segments or a fragment. A value that is not a string is
    not valid. Reserved prefixes are not checked here: see :func:`has_reserved_prefix`.
    """
    try:
        pattern, max_length = _DTDL_RULES[version]
    except KeyError:
        raise ValueError(f"unknown DTDL version {version!r}; known versions are {DTDL_VERSIONS}") from None
    return isinstance(text, str) and len(text) <= max_length and pattern.fullmatch(text) is not None


def is_reserved(text: str) -> bool:
    """Whether ``text`` is a valid system DTMI (see :attr:`Dtmi.is_reserved`); False if not a DTMI."""
    try:
        return Dtmi.parse(text).is_reserved
    except ValueError:
        return False


def has_reserved_prefix(text: str) -> bool:
    """Whether ``text`` begins with ``dtmi:dtdl:`` or ``dtmi:standard:``, which no model ``@id`` may."""
    return text.startswith(RESERVED_PREFIXES)


def _has_system_part(text: str) -> bool:
    return ":_" in text or "#_" in text


def _max_length(text: str) -> int:
    return MAX_LENGTH if _has_system_part(text) else MAX_USER_LENGTH


def _explain(text: str) -> str:
    """Say which DTMI rule ``text`` breaks (only called once ``text`` is known to be invalid)."""
    shown = repr(text) if len(text) <= 80 else repr(text[:77]) + "..."
    bad = f"{shown} is not a valid DTMI:"
    if not text.startswith("dtmi:"):
        return f"{bad} it must start with 'dtmi:' (lowercase)"
    if len(text) > _max_length(text):
        kind = "system" if _has_system_part(text) else "user"
        return f"{bad} it is {len(text)} characters long; a {kind} DTMI has at most {_max_length(text)}"
    rest, hash_mark, fragment = text[5:].partition("#")
    path, semicolon, version = rest.partition(";")
    for segment in path.split(":"):
        if not _SEGMENT_RE.fullmatch(segment):
            return f"{bad} path segment {segment!r} {_segment_rule(segment)}"
    if semicolon and not _VERSION_RE.fullmatch(version):
        return (
            f"{bad} version {version!r} must be 'major' or 'major.minor', where major has 1 to 9 digits"
            " and minor 1 to 6, neither starting with 0"
        )
    if hash_mark and fragment and not _SEGMENT_RE.fullmatch(fragment):
        return f"{bad} fragment {fragment!r} {_segment_rule(fragment)}"
    return f"{bad} it does not match dtmi:<segment>[:<segment>...][;<version>][#<fragment>]"


def _segment_rule(segment: str) -> str:
    if not segment:
        return "is empty"
    if segment[0].isdigit():
        return "must not start with a digit"
    if segment.endswith("_"):
        return "must not end with an underscore"
    return "may hold only ASCII letters, digits and underscores"
