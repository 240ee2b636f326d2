"""Parsed and validated documents, kept per schema so that a query sent again is not checked again.

Clients send the same few query texts over and over with different variables; parsing and validating
such a text costs several times more than running it. :class:`DocumentCache` is a strawberry extension
that remembers, per query text and parse options (the token limit), the parsed document, and the
validation rules it has passed. A request with a remembered text reuses the document, and skips
validation only when its rules are exactly the ones the document passed (the depth, alias and
introspection rules are built once per schema for this). A rejected document is never remembered: it
is parsed and validated again, and refused again, each time it is sent. Each schema has its own cache,
so a rebuilt schema starts empty.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphql import ASTValidationRule, DocumentNode
from strawberry.extensions import SchemaExtension

__all__ = ["DocumentCache", "Documents"]

MAX_DOCUMENTS = 256
MAX_QUERY_CHARS = 20_000  # longer texts are rare and would make the cache large: not kept


@dataclass(slots=True)
class _Entry:
    document: DocumentNode
    passed: tuple[type[ASTValidationRule], ...] | None = None  # the rules the document passed


class Documents:
    """The remembered documents of one schema: least recently used first out."""

    def __init__(self, size: int = MAX_DOCUMENTS) -> None:
        self.size = size
        self._entries: OrderedDict[tuple[str, tuple[tuple[str, Any], ...]], _Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: tuple[str, tuple[tuple[str, Any], ...]]) -> _Entry | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def put(self, key: tuple[str, tuple[tuple[str, Any], ...]], entry: _Entry) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)


class DocumentCache(SchemaExtension):
    """Reuse the parsed document and the validation of a query text seen before (see the module)."""

    def __init__(self, documents: Documents) -> None:
        self.documents = documents
        self._key: tuple[str, tuple[tuple[str, Any], ...]] | None = None
        self._entry: _Entry | None = None

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        query = context.query
        if query and len(query) <= MAX_QUERY_CHARS and context.graphql_document is None:
            self._key = (query, tuple(sorted(context.parse_options.items())))
            self._entry = self.documents.get(self._key)
            if self._entry is not None:
                context.graphql_document = self._entry.document
        yield
        document = context.graphql_document
        if self._key is not None and self._entry is None and document is not None:
            self._entry = _Entry(document)
            self.documents.put(self._key, self._entry)

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        entry = self._entry
        rules = context.validation_rules
        fresh = entry is None or entry.document is not context.graphql_document or entry.passed != rules
        if not fresh:
            context.pre_execution_errors = []  # strawberry validates only when this is None
        yield
        passed = context.pre_execution_errors == []
        if fresh and passed and entry is not None and entry.document is context.graphql_document:
            entry.passed = rules
