"""Reading an AASX package (an OPC zip package) in memory, within the limits; nothing is extracted to disk.

The reader follows the package's relationships as the AASX specification (IDTA-01005) lays them out::

    /_rels/.rels  --aasx-origin-->  /aasx/aasx-origin  --aas-spec-->  spec parts (JSON or XML)
                  --thumbnail-->    the package thumbnail              --aas-suppl-->  supplementary files

Relationship types are accepted in their current form (``http://admin-shell.io/aasx/relationships/…``)
and in the older one with ``www.``. Thumbnails, supplementary and other files are kept as :class:`Blob`
records (name, content type, size, SHA-256); only the spec parts' bytes are kept, for the reader.

Before a single part is expanded the package is refused if it is over a limit (file size, number of parts,
declared size of a part and of all parts, compression ratio), has an unsafe part name (``..`` segments,
absolute or drive paths, backslashes, duplicates) or is not a readable zip (a truncated file). zipfile then
stops every part at its declared size and checks its CRC, so a lying header fails as a corrupt package.
"""

from __future__ import annotations

import hashlib
import io
import posixpath
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Literal
from xml.etree.ElementTree import Element

from dtgraph.aas import _xml
from dtgraph.aas.errors import AasIssue, AasLimitError, AasPackageError
from dtgraph.aas.limits import DEFAULT_LIMITS, Limits

__all__ = ["Blob", "Package", "SpecPart", "is_zip", "read_package"]

_RELS_NS = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_TYPES_NS = "{http://schemas.openxmlformats.org/package/2006/content-types}"
_AASX = ("http://admin-shell.io/aasx/relationships/", "http://www.admin-shell.io/aasx/relationships/")
_ORIGIN = {prefix + "aasx-origin" for prefix in _AASX}
_SPEC = {prefix + "aas-spec" for prefix in _AASX}
_SUPPL = {prefix + "aas-suppl" for prefix in _AASX}
_THUMBNAIL = "http://schemas.openxmlformats.org/package/2006/relationships/metadata/thumbnail"
_CONTENT_TYPES = "[Content_Types].xml"

Role = Literal["thumbnail", "supplementary", "other"]


@dataclass(frozen=True, slots=True)
class Blob:
    """A file of the package that is not AAS content: described, never written anywhere."""

    name: str  # the part name, with its leading slash: /aasx/files/manual.pdf
    content_type: str
    size: int
    sha256: str
    role: Role

    def as_json(self) -> dict[str, str | int]:
        return {
            "name": self.name,
            "contentType": self.content_type,
            "size": self.size,
            "sha256": self.sha256,
            "role": self.role,
        }


@dataclass(frozen=True, slots=True)
class SpecPart:
    """An AAS environment part of the package (JSON or XML), with its bytes."""

    name: str
    content_type: str
    data: bytes

    @property
    def format(self) -> Literal["json", "xml"]:
        if self.name.lower().endswith(".json") or "json" in self.content_type:
            return "json"
        return "xml"


@dataclass(frozen=True, slots=True)
class Package:
    """What an AASX package holds: its spec parts, its other files as blobs, and what looked wrong."""

    source: str
    specs: list[SpecPart]
    blobs: list[Blob]
    warnings: list[AasIssue] = field(default_factory=list)


def is_zip(data: bytes) -> bool:
    """Whether ``data`` starts like a zip archive (AASX packages are zip archives)."""
    return data.startswith((b"PK\x03\x04", b"PK\x05\x06"))


def read_package(data: bytes, source: str, limits: Limits = DEFAULT_LIMITS) -> Package:
    """Read an AASX package from its bytes; raises AasPackageError or AasLimitError, writing nothing."""
    if len(data) > limits.max_file_bytes:
        raise AasLimitError(
            f"the package is {len(data):,} bytes, over the limit of {limits.max_file_bytes:,}", source
        )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        raise AasPackageError(f"not a readable zip archive (truncated or corrupt?): {exc}", source) from exc
    with archive:
        return _Reader(archive, source, limits).read()


class _Reader:
    def __init__(self, archive: zipfile.ZipFile, source: str, limits: Limits) -> None:
        self.archive = archive
        self.source = source
        self.limits = limits
        self.warnings: list[AasIssue] = []
        self.parts: dict[str, zipfile.ZipInfo] = {}  # "/name" -> entry
        self.folded: dict[str, str] = {}  # case-folded part name -> part name (OPC names ignore case)

    def read(self) -> Package:
        self.check_entries()
        defaults, overrides = self.content_types()
        origin = self.origin()
        spec_rels = [r for r in self.relationships(origin) if r[0] in _SPEC]
        if not spec_rels:
            raise AasPackageError(f"the aasx-origin part {origin} names no aas-spec part", self.source)
        specs: list[SpecPart] = []
        used = {origin, "/" + _CONTENT_TYPES}
        supplementary: dict[str, Role] = {}
        for _, target in spec_rels:
            if target not in self.parts:
                raise AasPackageError(f"the aas-spec part {target} is not in the package", self.source)
            used.add(target)
            content_type = _content_type(target, defaults, overrides)
            specs.append(SpecPart(target, content_type, self.part(target)))
            for kind, suppl in self.relationships(target):
                if kind not in _SUPPL:
                    continue
                if suppl in self.parts:
                    supplementary.setdefault(suppl, "supplementary")
                else:
                    self.warn(f"the supplementary file {suppl} named by {target} is not in the package")
        for kind, target in self.relationships("/"):
            if kind == _THUMBNAIL:
                if target in self.parts:
                    supplementary[target] = "thumbnail"
                else:
                    self.warn(f"the thumbnail {target} is not in the package")
        blobs: list[Blob] = []
        for name in sorted(self.parts):
            if name in used or name.endswith(".rels") or name == "/docProps/core.xml":
                continue
            data = self.part(name)
            role = supplementary.get(name, "other")
            ctype = _content_type(name, defaults, overrides)
            blobs.append(Blob(name, ctype, len(data), hashlib.sha256(data).hexdigest(), role))
        return Package(self.source, specs, blobs, self.warnings)

    def warn(self, message: str) -> None:
        self.warnings.append(AasIssue("package", message, "", self.source))

    # --- the zip directory, checked before anything is expanded ------------------------------------

    def check_entries(self) -> None:
        limits = self.limits
        entries = [i for i in self.archive.infolist() if not i.is_dir()]
        if len(entries) > limits.max_parts:
            raise AasLimitError(
                f"the package has {len(entries):,} parts, over the limit of {limits.max_parts:,}", self.source
            )
        total = 0
        for info in entries:
            name = _part_name(info.filename, self.source)
            folded = name.casefold()
            if folded in self.folded:
                raise AasPackageError(f"the part name {info.filename!r} occurs twice", self.source)
            self.folded[folded] = name
            self.parts[name] = info
            if info.file_size > limits.max_part_bytes:
                raise AasLimitError(
                    f"the part {name} expands to {info.file_size:,} bytes, over the limit of "
                    f"{limits.max_part_bytes:,}",
                    self.source,
                )
            total += info.file_size
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > limits.ratio_floor and ratio > limits.max_ratio:
                raise AasLimitError(
                    f"the part {name} expands {ratio:,.0f} times ({info.compress_size:,} to "
                    f"{info.file_size:,} bytes), over the compression ratio limit of {limits.max_ratio:g}",
                    self.source,
                )
        if total > limits.max_expanded_bytes:
            raise AasLimitError(
                f"the parts expand to {total:,} bytes in all, "
                f"over the limit of {limits.max_expanded_bytes:,}",
                self.source,
            )

    def part(self, name: str) -> bytes:
        try:
            with self.archive.open(self.parts[name]) as handle:
                return handle.read(self.limits.max_part_bytes + 1)
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError) as exc:
            raise AasPackageError(
                f"the part {name} cannot be read (truncated or corrupt?): {exc}", self.source
            ) from exc

    # --- OPC: content types and relationships --------------------------------------------------------

    def content_types(self) -> tuple[dict[str, str], dict[str, str]]:
        name = "/" + _CONTENT_TYPES
        if name not in self.parts:
            raise AasPackageError(f"not an OPC package: {_CONTENT_TYPES} is missing", self.source)
        root = self.xml(name)
        defaults: dict[str, str] = {}
        overrides: dict[str, str] = {}
        for element in root:
            if element.tag == _TYPES_NS + "Default":
                defaults[element.get("Extension", "").lower()] = element.get("ContentType", "")
            elif element.tag == _TYPES_NS + "Override":
                overrides[element.get("PartName", "").casefold()] = element.get("ContentType", "")
        return defaults, overrides

    def origin(self) -> str:
        origins = [target for kind, target in self.relationships("/") if kind in _ORIGIN]
        if not origins:
            raise AasPackageError(
                "the package has no aasx-origin relationship in /_rels/.rels: it is not an AASX package "
                "(expected type http://admin-shell.io/aasx/relationships/aasx-origin)",
                self.source,
            )
        if origins[0] not in self.parts:
            raise AasPackageError(f"the aasx-origin part {origins[0]} is not in the package", self.source)
        return origins[0]

    def relationships(self, part: str) -> list[tuple[str, str]]:
        """(type, resolved target part name) of a part's relationships ("/" is the package)."""
        folder, base = posixpath.split(part)
        rels = posixpath.join(folder, "_rels", base + ".rels")
        if rels not in self.parts:
            found = self.folded.get(rels.casefold())
            if found is None:
                return []
            rels = found
        out: list[tuple[str, str]] = []
        for element in self.xml(rels):
            if element.tag != _RELS_NS + "Relationship":
                continue
            kind, target = element.get("Type", ""), element.get("Target", "")
            resolved = _resolve(folder, target, rels, self.source)
            if resolved is None:
                continue  # a web address: not a part
            resolved = self.folded.get(resolved.casefold(), resolved)
            if element.get("TargetMode") == "External" and kind in _ORIGIN | _SPEC | _SUPPL:
                if resolved not in self.parts:
                    continue
                self.warn(f"{rels}: the relationship to {target} is marked External but names a part")
            out.append((kind, resolved))
        return out

    def xml(self, name: str) -> Element:
        return _xml.parse_tree(self.part(name), f"{self.source}:{name}", self.limits.max_depth)


def _part_name(raw: str, source: str) -> str:
    """The OPC part name ("/a/b") of a zip entry, refusing names that could escape or confuse."""
    bad = None
    if "\\" in raw:
        bad = "has a backslash"
    elif raw.startswith("/") or (len(raw) > 1 and raw[1] == ":"):
        bad = "is an absolute path"
    elif any(segment in ("", ".", "..") for segment in raw.split("/")):
        bad = "has an empty, '.' or '..' segment"
    elif any(ord(c) < 32 for c in raw):
        bad = "has a control character"
    if bad is not None:
        raise AasPackageError(f"the part name {raw!r} {bad}: refused", source)
    return "/" + raw


def _resolve(folder: str, target: str, rels: str, source: str) -> str | None:
    """A relationship target as a part name; None for a URI with a scheme (not a part)."""
    if "://" in target or target.startswith(("mailto:", "urn:")):
        return None
    target = target.split("#", 1)[0]
    segments = [] if target.startswith("/") else [s for s in folder.split("/") if s]
    for segment in target.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not segments:
                raise AasPackageError(
                    f"{rels}: the relationship target {target!r} leaves the package", source
                )
            segments.pop()
        else:
            segments.append(segment)
    return "/" + "/".join(segments)


def _content_type(name: str, defaults: dict[str, str], overrides: dict[str, str]) -> str:
    if name.casefold() in overrides:
        return overrides[name.casefold()]
    extension = posixpath.splitext(name)[1].lstrip(".").lower()
    return defaults.get(extension, "application/octet-stream")
