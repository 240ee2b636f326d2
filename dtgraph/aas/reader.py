"""Reading AAS JSON, XML and AASX into aas-core environments, with every constraint violation found.

aas-core3.0 (metamodel V3.0) and aas-core3.1 (V3.1) deserialize and verify; this module picks the version,
refuses what it must, and turns their errors into :class:`~dtgraph.aas.errors.AasIssue` records with the
paths aas-core gives them.

Which metamodel version a file is read as:

* XML says it: the namespace of the root element, ``https://admin-shell.io/aas/3/0`` or ``…/3/1``.
  ``http://www.admin-shell.io/aas/1/0`` and ``…/2/0`` are the legacy metamodels V1 and V2: refused with an
  :class:`~dtgraph.aas.errors.AasVersionError` naming the version (so is any other namespace).
* JSON carries no version (the IDTA's V3.0 and V3.1 JSON templates are byte-identical). With
  ``metamodel="auto"`` (the default) a JSON file is read as V3.0 when it is valid V3.0; otherwise as V3.1 when
  V3.1 reads it with fewer problems (it deserializes where V3.0 does not, or has fewer constraint
  violations); otherwise as V3.0, whose findings are then reported. ``metamodel="3.0"`` or ``"3.1"`` forces
  the version. JSON of the legacy metamodels (a top-level ``assets`` or ``conceptDictionaries`` array, or
  ``modelType`` as an object ``{"name": …}``) is refused as V2.
* An AASX package: each of its spec parts by the rules above.

Nothing is written here: a reader returns what it found, and raises an AasError when the input cannot be
imported at all (the limits, a malformed file, a legacy version, or a file that does not deserialize).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from xml.etree.ElementTree import Element

import aas_core3.jsonization as json30
import aas_core3.verification as verify30
import aas_core3.xmlization as xml30
import aas_core3_1.jsonization as json31
import aas_core3_1.verification as verify31
import aas_core3_1.xmlization as xml31
import orjson

from dtgraph.aas import _xml
from dtgraph.aas.errors import (
    AasFormatError,
    AasInvalidError,
    AasIssue,
    AasLimitError,
    AasVersionError,
)
from dtgraph.aas.limits import DEFAULT_LIMITS, Limits
from dtgraph.aas.package import Blob, is_zip, read_package

__all__ = [
    "AasDocument",
    "Kind",
    "Metamodel",
    "MetamodelOption",
    "ReadResult",
    "read_bytes",
    "read_file",
    "read_json",
    "read_xml",
]

Metamodel = Literal["3.0", "3.1"]
MetamodelOption = Literal["auto", "3.0", "3.1"]
Kind = Literal["environment", "eventPayload"]  # what the document holds; imports read environments

_NAMESPACES: dict[str, Metamodel] = {xml30.NAMESPACE: "3.0", xml31.NAMESPACE: "3.1"}
# The aas-core deserialiser for each metamodel version and kind of document.
_JSON_READERS: dict[tuple[Metamodel, Kind], Callable[[Any], Any]] = {
    ("3.0", "environment"): json30.environment_from_jsonable,
    ("3.0", "eventPayload"): json30.event_payload_from_jsonable,
    ("3.1", "environment"): json31.environment_from_jsonable,
    ("3.1", "eventPayload"): json31.event_payload_from_jsonable,
}
_XML_READERS: dict[tuple[Metamodel, Kind], Callable[[Any], Any]] = {
    ("3.0", "environment"): xml30.environment_from_iterparse,
    ("3.0", "eventPayload"): xml30.event_payload_from_iterparse,
    ("3.1", "environment"): xml31.environment_from_iterparse,
    ("3.1", "eventPayload"): xml31.event_payload_from_iterparse,
}
_LEGACY = {"http://www.admin-shell.io/aas/1/0": "V1.0", "http://www.admin-shell.io/aas/2/0": "V2.0"}


@dataclass(frozen=True, slots=True)
class AasDocument:
    """One AAS environment as read: ``jsonable`` is it in AAS JSON as aas-core writes it (for mapping),
    ``instance`` the aas-core object, ``issues`` its constraint violations (empty when it is valid)."""

    source: str
    format: Literal["json", "xml"]
    metamodel: Metamodel
    instance: object
    jsonable: dict[str, Any]
    issues: list[AasIssue]


@dataclass(frozen=True, slots=True)
class ReadResult:
    """Everything one input file gave: its documents (one, or one per spec part of a package), the
    package's blobs and package warnings."""

    source: str
    documents: list[AasDocument]
    blobs: list[Blob] = field(default_factory=list)
    warnings: list[AasIssue] = field(default_factory=list)

    @property
    def issues(self) -> list[AasIssue]:
        """Package warnings and the constraint violations of every document."""
        return [*self.warnings, *(i for d in self.documents for i in d.issues)]


def read_file(
    path: str | os.PathLike[str],
    *,
    metamodel: MetamodelOption = "auto",
    limits: Limits = DEFAULT_LIMITS,
    name: str | None = None,
) -> ReadResult:
    """Read a ``.json``, ``.xml`` or ``.aasx`` file (its content decides, not its name)."""
    path = Path(path)
    source = name if name is not None else str(path)
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise AasLimitError(
            f"the file is {size:,} bytes, over the limit of {limits.max_file_bytes:,}", source
        )
    return read_bytes(path.read_bytes(), source, metamodel=metamodel, limits=limits)


def read_bytes(
    data: bytes, source: str, *, metamodel: MetamodelOption = "auto", limits: Limits = DEFAULT_LIMITS
) -> ReadResult:
    """Read AAS content of any of the three forms, told apart by their first bytes."""
    if len(data) > limits.max_file_bytes:
        raise AasLimitError(
            f"the input is {len(data):,} bytes, over the limit of {limits.max_file_bytes:,}", source
        )
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise AasFormatError("the text is UTF-16; AAS files must be UTF-8", source)
    if is_zip(data):
        package = read_package(data, source, limits)
        documents = []
        for part in package.specs:
            where = f"{source}:{part.name}"
            if part.format == "json":
                documents.append(read_json(part.data, where, metamodel=metamodel, limits=limits))
            else:
                documents.append(read_xml(part.data, where, limits=limits))
        return ReadResult(source, documents, package.blobs, package.warnings)
    head = data.removeprefix(b"\xef\xbb\xbf").lstrip()[:1]
    if head == b"<":
        return ReadResult(source, [read_xml(data, source, limits=limits)])
    if head in (b"{", b"["):
        return ReadResult(source, [read_json(data, source, metamodel=metamodel, limits=limits)])
    raise AasFormatError("not AAS content: neither JSON, XML nor an AASX (zip) package", source)


# --- JSON ---------------------------------------------------------------------------------------------


def read_json(
    data: bytes,
    source: str,
    *,
    metamodel: MetamodelOption = "auto",
    limits: Limits = DEFAULT_LIMITS,
    kind: Kind = "environment",
) -> AasDocument:
    """Read AAS JSON; raises AasError if it is not JSON, too deep, legacy, or does not deserialize."""
    text = _xml.check_utf8(data, source, xml=False).removeprefix("\ufeff")
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc) or "recursion" in str(exc):
            raise AasLimitError(
                f"JSON objects and arrays are nested deeper than the limit of {limits.max_depth}", source
            ) from exc
        raise AasFormatError(f"the JSON is not well-formed: {exc}", source) from exc
    if _depth_over(value, limits.max_depth):
        raise AasLimitError(
            f"JSON objects and arrays are nested deeper than the limit of {limits.max_depth}", source
        )
    legacy = _legacy_json(value)
    if legacy:
        raise AasVersionError(
            f"this is AAS metamodel V2.0 or older ({legacy}); dtgraph reads V3.0 and V3.1: convert the "
            "file with the AASX Package Explorer (File > Save as, V3.0)",
            source,
        )
    if metamodel != "auto":
        return _json_as(value, source, metamodel, kind)
    first: AasDocument | AasInvalidError
    second: AasDocument | AasInvalidError
    try:
        first = _json_as(value, source, "3.0", kind)
    except AasInvalidError as exc:
        first = exc
    if isinstance(first, AasDocument) and not first.issues:
        return first
    try:
        second = _json_as(value, source, "3.1", kind)
    except AasInvalidError as exc:
        second = exc
    if isinstance(second, AasDocument) and (
        not isinstance(first, AasDocument) or len(second.issues) < len(first.issues)
    ):
        return second
    if isinstance(first, AasDocument):
        return first
    raise first


def _json_as(value: Any, source: str, metamodel: Metamodel, kind: Kind) -> AasDocument:
    try:
        instance = _JSON_READERS[metamodel, kind](value)
    except (json30.DeserializationException, json31.DeserializationException) as exc:
        raise _unserializable(f"{exc.path}", exc.cause, source, metamodel) from exc
    return _document(instance, source, "json", metamodel)


def _legacy_json(value: Any) -> str:
    """Why a JSON value looks like a legacy (V1/V2) environment; '' if it does not."""
    if not isinstance(value, dict):
        return ""
    for key in ("assets", "conceptDictionaries"):
        if isinstance(value.get(key), list):
            return f"it has a top-level '{key}' array"
    for shell in value.get("assetAdministrationShells") or []:
        if isinstance(shell, dict) and isinstance(shell.get("modelType"), dict):
            return "its modelType is an object {'name': ...}"
    return ""


def _depth_over(value: Any, limit: int) -> bool:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


# --- XML ----------------------------------------------------------------------------------------------


def read_xml(
    data: bytes, source: str, *, limits: Limits = DEFAULT_LIMITS, kind: Kind = "environment"
) -> AasDocument:
    """Read AAS XML; its namespace decides the metamodel version (legacy ones are refused)."""
    events = _xml.events(data, source, limits.max_depth)
    first = next(events, None)
    if first is None:
        raise AasFormatError("the XML has no root element", source)
    metamodel = _xml_metamodel(first[1], source)
    stream = _chain(first, events)
    try:
        instance = _XML_READERS[metamodel, kind](stream)
    except (xml30.DeserializationException, xml31.DeserializationException) as exc:
        raise _unserializable(f"{exc.path}", exc.cause, source, metamodel) from exc
    return _document(instance, source, "xml", metamodel)


def _xml_metamodel(root: Element, source: str) -> Metamodel:
    namespace = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""
    if namespace in _NAMESPACES:
        return _NAMESPACES[namespace]
    if namespace in _LEGACY:
        raise AasVersionError(
            f"this is AAS metamodel {_LEGACY[namespace]} (namespace {namespace}); dtgraph reads V3.0 and "
            "V3.1: convert the file with the AASX Package Explorer (File > Save as, V3.0)",
            source,
        )
    found = f"namespace {namespace!r}" if namespace else "no namespace"
    raise AasVersionError(
        f"the root element <{root.tag.split('}')[-1]}> has {found}; AAS XML uses "
        f"{xml30.NAMESPACE} (V3.0) or {xml31.NAMESPACE} (V3.1)",
        source,
    )


def _chain(first: tuple[str, Element], rest: Iterator[tuple[str, Element]]) -> Iterator[tuple[str, Element]]:
    yield first
    yield from rest


# --- both ---------------------------------------------------------------------------------------------


def _unserializable(path: str, cause: str, source: str, metamodel: Metamodel) -> AasInvalidError:
    issue = AasIssue("deserialization", cause, path, source)
    return AasInvalidError(f"not a valid AAS V{metamodel} document: {path}: {cause}", source, [issue])


def _document(instance: Any, source: str, form: Literal["json", "xml"], metamodel: Metamodel) -> AasDocument:
    if metamodel == "3.0":
        issues = [AasIssue("constraint", e.cause, f"{e.path}", source) for e in verify30.verify(instance)]
        jsonable: Any = json30.to_jsonable(instance)
    else:
        issues = [AasIssue("constraint", e.cause, f"{e.path}", source) for e in verify31.verify(instance)]
        jsonable = json31.to_jsonable(instance)
    return AasDocument(source, form, metamodel, instance, jsonable, issues)
