"""From bytes to JSON values, and from JSON pointers back to line:column.

Decoding is strict: DTDL documents are UTF-8 (a leading BOM is tolerated, because most of the
RealEstateCore ontology starts with one), and anything else is reported as a ``ParsingError``
rather than guessed at. Positions are computed lazily: the parser works on decoded values and
reports JSON pointers; only when errors are shown does ``with_positions`` map each pointer to a
line and column, using the source map of ``json-source-map`` once per document.

The two codes raised here are dtgraph's own, not the reference parser's ValidationIDs (DTDLParser
rejects undecodable input with an exception, not a ParsingError):

``invalidEncoding``  the bytes are not UTF-8
``invalidJson``      the text is not JSON (RFC 8259); NaN and Infinity are rejected too
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Mapping, Sequence

from json_source_map import handle as _handle
from json_source_map import types as _types

from dtgraph.dtdl.errors import DtdlValidationError, Location, ParsingError

__all__ = [
    "INVALID_ENCODING",
    "INVALID_JSON",
    "decode_document",
    "decode_text",
    "locate",
    "value_spans",
    "with_positions",
]

INVALID_ENCODING = "invalidEncoding"
INVALID_JSON = "invalidJson"

_BOM = "\ufeff"
_POINTER = re.compile(r"(?:/(?:[^~/]|~[01])*)*")
# Finds a bare NaN/Infinity outside strings, to give its position (json.loads does not).
_NON_JSON_CONSTANT = re.compile(r'"(?:[^"\\]|\\.)*"|(-?Infinity|NaN)')


def decode_text(data: bytes | str, source: str | None = None, *, document: int = 0) -> str:
    """Decode a document as strict UTF-8 and strip one leading BOM.

    Raises ``DtdlValidationError`` with an ``invalidEncoding`` error locating the first bad byte.
    """
    if isinstance(data, str):
        return data.removeprefix(_BOM)
    raw = bytes(data)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DtdlValidationError([_encoding_error(raw, exc, source, document)]) from exc
    return text.removeprefix(_BOM)


def decode_document(data: bytes | str, source: str | None = None, *, document: int = 0) -> object:
    """Decode one document into a JSON value.

    ``source`` names the document (a file path) and ``document`` is its index in the parse, both
    only for the error's location. Raises ``DtdlValidationError`` holding one ``invalidEncoding``
    or ``invalidJson`` error with its line and column.
    """
    text = decode_text(data, source, document=document)
    if not text.strip():
        raise DtdlValidationError(
            [_json_error("invalid JSON: the document is empty", source, document, 1, 1)]
        )
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        error = _json_error(f"invalid JSON: {exc.msg}", source, document, exc.lineno, exc.colno)
        raise DtdlValidationError([error]) from exc
    except _NonJsonConstantError as exc:
        line, column = _constant_position(text)
        error = _json_error(
            f"invalid JSON: {exc.constant} is not a JSON value", source, document, line, column
        )
        raise DtdlValidationError([error]) from exc
    except RecursionError as exc:
        error = _json_error("invalid JSON: values are nested too deeply", source, document, None, None)
        raise DtdlValidationError([error]) from exc


def locate(text: str, pointer: str) -> tuple[int, int] | None:
    """Return the 1-based (line, column) where the value at ``pointer`` (RFC 6901) starts.

    Columns count characters. Returns None when the pointer is malformed, names no value in the
    text, or the text cannot be mapped. The map of a text is cached, since errors come in batches.
    """
    if not _POINTER.fullmatch(pointer):
        return None
    positions = _positions(text)
    return None if positions is None else positions.get(pointer)


def with_positions(
    errors: Sequence[ParsingError],
    texts: Mapping[int, str],
    sources: Sequence[str | None] | None = None,
) -> list[ParsingError]:
    """Return copies of ``errors`` whose locations have ``source``, ``line`` and ``column`` filled.

    ``texts`` maps a document index to its decoded text; a missing entry leaves the position
    unset (``texts`` may compute entries lazily: only documents with errors are looked up).
    A pointer naming an absent member (a missing property, say) is placed at its nearest
    existing ancestor. Values already set are kept.
    """
    maps: dict[int, dict[str, tuple[int, int]] | None] = {}

    def positions_of(document: int) -> dict[str, tuple[int, int]] | None:
        if document not in maps:
            text = texts.get(document)
            maps[document] = None if text is None else _positions(text)
        return maps[document]

    def fill(location: Location | None) -> Location | None:
        if location is None:
            return None
        source, line, column = location.source, location.line, location.column
        if source is None and sources is not None and 0 <= location.document < len(sources):
            source = sources[location.document]
        if line is None and _POINTER.fullmatch(location.pointer):
            positions = positions_of(location.document)
            found = None if positions is None else _nearest(positions, location.pointer)
            if found is not None:
                line, column = found
        if (source, line, column) == (location.source, location.line, location.column):
            return location
        return dataclasses.replace(location, source=source, line=line, column=column)

    filled: list[ParsingError] = []
    for error in errors:
        location, other = fill(error.location), fill(error.other_location)
        if location is error.location and other is error.other_location:
            filled.append(error)
        else:
            filled.append(dataclasses.replace(error, location=location, other_location=other))
    return filled


def _nearest(positions: Mapping[str, tuple[int, int]], pointer: str) -> tuple[int, int] | None:
    while True:
        found = positions.get(pointer)
        if found is not None or not pointer:
            return found
        pointer = pointer[: pointer.rindex("/")]


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


@dataclasses.dataclass(slots=True)
class _Open:
    end: int
    pointer: str
    items: int = 0


@functools.lru_cache(maxsize=16)
def _source_map(text: str) -> dict[str, tuple[int, int, int, int]] | None:
    """Map every canonical JSON pointer of ``text`` to (line, column, start offset, end offset) of its value.

    Lines and columns are 1-based; offsets count characters, the end one past the value.

    json-source-map yields entries in document order with character offsets, but builds its
    pointers from raw key text (escapes undecoded, ``/`` and ``~`` unescaped) and collapses
    duplicates; so pointers are rebuilt here from the nesting of the offsets and the decoded keys.
    A later duplicate key wins, as in ``json.loads``.
    """
    try:
        entries: list[tuple[str, _types.Entry]] = _handle.value(
            source=text, current_location=_types.Location(0, 0, 0)
        )
        positions: dict[str, tuple[int, int, int, int]] = {}
        open_values: list[_Open] = []
        for _, entry in entries:
            start = entry.value_start.position
            while open_values and start >= open_values[-1].end:
                open_values.pop()
            if not open_values:
                pointer = ""
            else:
                parent = open_values[-1]
                if entry.key_start is not None and entry.key_end is not None:
                    key = json.loads(text[entry.key_start.position : entry.key_end.position])
                    pointer = f"{parent.pointer}/{_escape(key)}"
                else:
                    pointer = f"{parent.pointer}/{parent.items}"
                    parent.items += 1
            positions[pointer] = (
                entry.value_start.line + 1,
                entry.value_start.column + 1,
                start,
                entry.value_end.position,
            )
            open_values.append(_Open(entry.value_end.position, pointer))
    except Exception:  # a best-effort aid: an error without a line beats no error at all
        return None
    return positions


@functools.lru_cache(maxsize=16)
def _positions(text: str) -> dict[str, tuple[int, int]] | None:
    """Map every canonical JSON pointer of ``text`` to the 1-based (line, column) where its value starts."""
    full = _source_map(text)
    return None if full is None else {p: (line, col) for p, (line, col, _s, _e) in full.items()}


def value_spans(text: str) -> dict[str, tuple[int, int]] | None:
    """Character offsets (start, end) of every value of ``text`` by JSON pointer, or None if unmappable."""
    full = _source_map(text)
    return None if full is None else {p: (start, end) for p, (_l, _c, start, end) in full.items()}


class _NonJsonConstantError(ValueError):
    def __init__(self, constant: str) -> None:
        super().__init__(constant)
        self.constant = constant


def _reject_constant(constant: str) -> object:
    raise _NonJsonConstantError(constant)


def _constant_position(text: str) -> tuple[int | None, int | None]:
    for match in _NON_JSON_CONSTANT.finditer(text):
        if match.group(1) is not None:
            offset = match.start(1)
            line = text.count("\n", 0, offset) + 1
            return line, offset - (text.rfind("\n", 0, offset) + 1) + 1
    return None, None


def _json_error(
    message: str, source: str | None, document: int, line: int | None, column: int | None
) -> ParsingError:
    return ParsingError(
        code=INVALID_JSON,
        message=message,
        location=Location(document=document, source=source, line=line, column=column),
    )


def _encoding_error(raw: bytes, exc: UnicodeDecodeError, source: str | None, document: int) -> ParsingError:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        detail = "it starts with a UTF-16 byte order mark"
    else:
        detail = f"byte 0x{raw[exc.start]:02x} at offset {exc.start} is {exc.reason}"
    line_start = raw.rfind(b"\n", 0, exc.start) + 1
    column = len(raw[line_start : exc.start].decode("utf-8", errors="replace")) + 1
    if raw.startswith(b"\xef\xbb\xbf") and line_start == 0:
        column -= 1  # the BOM is not a column
    return ParsingError(
        code=INVALID_ENCODING,
        message=f"document is not valid UTF-8: {detail}; DTDL documents must be encoded as UTF-8",
        location=Location(
            document=document, source=source, line=raw.count(b"\n", 0, exc.start) + 1, column=column
        ),
    )
