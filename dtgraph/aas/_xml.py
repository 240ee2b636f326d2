"""Safe XML reading for AAS documents and OPC parts: UTF-8 only, no DOCTYPE or entities, bounded depth.

Attributes of the XML Schema instance namespace (``xsi:schemaLocation``) are dropped: XML Schema allows
them on any element, many AAS writers emit one on the root, and aas-core would refuse it.

defusedxml refuses a DOCTYPE (and so every entity declaration and external reference) before expat expands
anything; the depth is counted on the parser's events, so a deeply nested document fails at the limit.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as SafeET

from dtgraph.aas.errors import AasFormatError, AasLimitError

__all__ = ["check_utf8", "events", "parse_tree"]

_DECLARED = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_BOM = b"\xef\xbb\xbf"
_XSI = "{http://www.w3.org/2001/XMLSchema-instance}"


def check_utf8(data: bytes, source: str, *, xml: bool) -> str:
    """The text of ``data``, which must be UTF-8 (a BOM is allowed); an XML declaration must agree."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise AasFormatError("the text is UTF-16; AAS files must be UTF-8", source)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise AasFormatError(
            f"the text is not UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start} (line {line})", source
        ) from exc
    if xml:
        declared = _DECLARED.match(data.removeprefix(_BOM))
        if declared and declared.group(1).decode("ascii").lower().replace("_", "-") not in ("utf-8", "utf8"):
            raise AasFormatError(
                f"the XML declares encoding {declared.group(1).decode('ascii')!r}; AAS files must be UTF-8",
                source,
            )
    return text


def events(data: bytes, source: str, max_depth: int) -> Iterator[tuple[str, Element]]:
    """``("start" | "end", element)`` events of a UTF-8 XML document, with the checks of this module."""
    check_utf8(data, source, xml=True)
    depth = 0
    try:
        for event, element in SafeET.iterparse(io.BytesIO(data), events=("start", "end"), forbid_dtd=True):
            if event == "start":
                if element.attrib:  # xsi:schemaLocation and friends are allowed anywhere, and no content
                    for name in [n for n in element.attrib if n.startswith(_XSI)]:
                        del element.attrib[name]
                depth += 1
                if depth > max_depth:
                    raise AasLimitError(
                        f"XML elements are nested deeper than the limit of {max_depth}", source
                    )
            else:
                depth -= 1
            yield event, element
    except defusedxml.DTDForbidden as exc:
        raise AasFormatError("the XML has a DOCTYPE, which AAS files must not have", source) from exc
    except (defusedxml.EntitiesForbidden, defusedxml.ExternalReferenceForbidden) as exc:
        raise AasFormatError(f"the XML declares entities, which AAS files must not: {exc}", source) from exc
    except ParseError as exc:
        raise AasFormatError(f"the XML is not well-formed: {exc}", source) from exc


def parse_tree(data: bytes, source: str, max_depth: int) -> Element:
    """The root element of a small XML document (an OPC part such as a relationships file)."""
    root: Element | None = None
    for event, element in events(data, source, max_depth):
        if event == "end":
            root = element
    if root is None:
        raise AasFormatError("the XML has no root element", source)
    return root
