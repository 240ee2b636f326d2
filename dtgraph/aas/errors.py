"""What can go wrong reading an Asset Administration Shell, and the issues a read reports.

Every error means the input cannot be imported, and nothing was written::

    DtgraphError
    └── AasError              the input cannot be imported (``source`` names the file, and the part)
        ├── AasLimitError     over a configured limit: size, parts, expansion, compression ratio, depth
        ├── AasPackageError   not a sound AASX (OPC) package: zip, part names, relationships, aasx-origin
        ├── AasFormatError    not well-formed or not allowed: JSON/XML syntax, DOCTYPE/entities, not UTF-8
        ├── AasVersionError   a metamodel version dtgraph does not read (V1, V2, release candidates)
        └── AasInvalidError   does not deserialize, or (strict mode) violates constraints: ``issues``

An :class:`AasIssue` is one finding with the path aas-core gives it (``submodels[0].submodelElements[2]``
for JSON, ``environment/submodels/*[0]`` for XML, ``.submodels[0].id_short`` for a constraint).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dtgraph.errors import DtgraphError

__all__ = [
    "AasError",
    "AasFormatError",
    "AasInvalidError",
    "AasIssue",
    "AasLimitError",
    "AasPackageError",
    "AasVersionError",
]


@dataclass(frozen=True, slots=True)
class AasIssue:
    """One finding: ``code`` is ``constraint`` (a verification error), ``deserialization``, ``package``
    (a package problem that does not stop the import) or ``mapping``."""

    code: str
    message: str
    path: str = ""
    source: str = ""

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.source, self.path) if part)
        return f"{where}: {self.code}: {self.message}" if where else f"{self.code}: {self.message}"

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "path": self.path, "source": self.source}


class AasError(DtgraphError):
    """The input cannot be imported; ``source`` names the file (and the part of a package)."""

    code = "aasError"

    def __init__(self, message: str, source: str = "") -> None:
        super().__init__(f"{source}: {message}" if source else message)
        self.message = message
        self.source = source

    @property
    def issues(self) -> Sequence[AasIssue]:
        return [AasIssue(self.code, self.message, "", self.source)]


class AasLimitError(AasError):
    """Over a limit of :class:`~dtgraph.aas.limits.Limits` (the message names the limit and the value)."""

    code = "limit"


class AasPackageError(AasError):
    """The AASX package is not a sound OPC package."""

    code = "package"


class AasFormatError(AasError):
    """The JSON or XML is not well-formed, not UTF-8, or uses a DOCTYPE or entities."""

    code = "format"


class AasVersionError(AasError):
    """The metamodel version is not one dtgraph reads (3.0 and 3.1 are)."""

    code = "version"


class AasInvalidError(AasError):
    """The input does not deserialize, or violates constraints in strict mode: every issue is listed."""

    code = "invalid"

    def __init__(self, message: str, source: str, issues: Sequence[AasIssue]) -> None:
        super().__init__(message, source)
        self._issues = list(issues)

    @property
    def issues(self) -> Sequence[AasIssue]:
        return self._issues
