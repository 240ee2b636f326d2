"""The bulk import/export format of Azure Digital Twins import jobs: NDJSON in four sections.

::

    {"Section": "Header"}
    {"fileVersion": "1.0.0", "author": "...", "organization": "..."}
    {"Section": "Models"}
    {<DTDL interface>}            one per line
    {"Section": "Twins"}
    {"$dtId": ..., "$metadata": {"$model": ...}, ...}
    {"Section": "Relationships"}
    {"$dtId": <source>, "$relationshipId": ..., "$targetId": ..., "$relationshipName": ..., ...}

The Header comes first; the other sections are optional but keep this order. Reading streams line by
line (bounded memory) and reports problems with their line numbers; it never stops at the first one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple, TextIO

import orjson

from dtgraph.graph.errors import GraphIssue
from dtgraph.graph.records import RecordError, Relationship, Twin

__all__ = ["FILE_VERSION", "SECTIONS", "ImportItem", "read_items", "write_items"]

FILE_VERSION = "1.0.0"
SECTIONS = ("Header", "Models", "Twins", "Relationships")
MAX_LINE_BYTES = 4 * 1024 * 1024  # one model, twin or relationship; larger lines are refused unread


class ImportItem(NamedTuple):
    """One record of an import file: the header, a model document, a twin or a relationship (a tuple:
    one is made per line, and a tuple costs a third of a frozen dataclass)."""

    line: int
    section: str
    value: dict[str, Any] | Twin | Relationship


# an item made without the Python-level __new__ of a NamedTuple (one per line)
_item: Callable[[type[ImportItem], tuple[int, str, Twin | Relationship]], ImportItem] = tuple.__new__


def read_items(lines: Iterable[str | bytes], report: Callable[[GraphIssue], None]) -> Iterator[ImportItem]:
    """Yield the records of an import file, passing every problem found to ``report``.

    A record with a problem is reported and skipped, so one pass finds every error.
    """
    twin, relationship = Twin.take_json, Relationship.take_json
    position = -1  # index in SECTIONS of the current section
    header_seen = False
    header_missing_reported = False
    number = 0
    for number, raw in enumerate(lines, start=1):
        if len(raw) > MAX_LINE_BYTES:
            report(GraphIssue("lineTooLong", f"line is over {MAX_LINE_BYTES:,} bytes", "", line=number))
            continue
        data = raw.encode("utf-8") if isinstance(raw, str) else raw
        data = data.removeprefix(b"\xef\xbb\xbf") if number == 1 else data
        try:
            obj = orjson.loads(data)  # strict UTF-8 and RFC 8259 (no NaN), and fast
        except orjson.JSONDecodeError as exc:
            if data.strip():  # a blank line is skipped (orjson refuses it: checked here, not per line)
                report(GraphIssue("malformedJson", f"not JSON: {exc}", "", line=number))
            continue
        if type(obj) is not dict:
            report(GraphIssue("invalidRecord", "each line must be a JSON object", "", line=number))
            continue
        if len(obj) == 1 and "Section" in obj:
            name = obj["Section"]
            if name not in SECTIONS:
                report(
                    GraphIssue(
                        "unknownSection",
                        f"unknown section {name!r}; expected one of {', '.join(SECTIONS)}",
                        "/Section",
                        line=number,
                    )
                )
                continue
            index = SECTIONS.index(name)
            if index <= position or (index > 0 and position < 0):
                expected = (
                    "Header first"
                    if position < 0
                    else f"after {SECTIONS[position]} only " + ", ".join(SECTIONS[position + 1 :])
                )
                report(
                    GraphIssue(
                        "sectionOrder",
                        f"section {name} is out of order ({expected})",
                        "/Section",
                        line=number,
                    )
                )
                continue
            position = index
            continue
        if position < 0:
            if not header_missing_reported:  # once; records before the first section are skipped
                message = 'the file must start with {"Section": "Header"}'
                report(GraphIssue("missingHeader", message, "", line=number))
                header_missing_reported = True
            continue
        section = SECTIONS[position]
        try:
            if section == "Header":
                if header_seen:
                    report(
                        GraphIssue("invalidRecord", "the Header section holds one object", "", line=number)
                    )
                    continue
                header_seen = True
                yield ImportItem(number, section, obj)
            elif section == "Models":
                yield ImportItem(number, section, obj)
            elif section == "Twins":
                yield _item(ImportItem, (number, section, twin(obj)))
            else:
                yield _item(ImportItem, (number, section, relationship(obj)))
        except RecordError as exc:
            report(GraphIssue("invalidRecord", str(exc), "", line=number))
    if not header_seen and not header_missing_reported:
        message = "the file has no header object" if position >= 0 else "the file is empty"
        report(GraphIssue("missingHeader", message, "", line=max(number, 1)))


def write_items(
    out: TextIO,
    models: Iterable[dict[str, Any]],
    records: Iterable[Twin | Relationship],
    *,
    author: str = "dtgraph",
    organization: str = "dtgraph",
) -> int:
    """Write an import file from models and records (twins before relationships, as a snapshot streams).

    Returns the number of models and records written.
    """

    def line(obj: dict[str, Any]) -> None:
        out.write(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))
        out.write("\n")

    count = 0
    line({"Section": "Header"})
    line({"fileVersion": FILE_VERSION, "author": author, "organization": organization})
    line({"Section": "Models"})
    for model in models:
        line(model)
        count += 1
    line({"Section": "Twins"})
    in_relationships = False
    for record in records:
        if isinstance(record, Twin):
            if in_relationships:
                raise ValueError("twins must come before relationships")
            line(record.to_json())
        else:
            if not in_relationships:
                line({"Section": "Relationships"})
                in_relationships = True
            obj = record.to_json()
            line({"$dtId": obj.pop("$sourceId"), **obj})  # the import format names the source "$dtId"
        count += 1
    if not in_relationships:
        line({"Section": "Relationships"})
    return count
