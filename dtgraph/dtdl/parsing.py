"""``parse``: documents in, a validated :class:`ModelSet` out, or every error at once."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from dtgraph.dtdl.checks import check_graph, check_partition_sizes
from dtgraph.dtdl.errors import DtdlResolutionError, DtdlValidationError, Location, ParsingError
from dtgraph.dtdl.metamodel import metamodel
from dtgraph.dtdl.model import ModelSet, build_model_set
from dtgraph.dtdl.parser import Walker
from dtgraph.dtdl.source import decode_document, decode_text, with_positions

__all__ = ["Resolver", "parse"]

Resolver = Callable[[list[str]], Iterable[Any]]
_MAX_RESOLVE_ROUNDS = 64


def _decode(doc: Any, index: int, source: str | None) -> tuple[Any, str | None, list[ParsingError]]:
    """A document's JSON value and text (None for decoded input), or the errors that stop it."""
    if not isinstance(doc, (bytes, bytearray, str)):
        return doc, None, []
    try:
        text = decode_text(bytes(doc) if isinstance(doc, bytearray) else doc, source, document=index)
        return decode_document(text, source, document=index), text, []
    except DtdlValidationError as exc:
        return None, None, exc.errors


def parse(
    documents: Sequence[Any],
    *,
    allow_undefined_extensions: bool = False,
    extension_limit_contexts: Iterable[str] = (),
    sources: Sequence[str | None] | None = None,
    resolver: Resolver | None = None,
) -> ModelSet:
    """Parse and validate DTDL documents as one model.

    ``documents`` are JSON texts (str or bytes, a UTF-8 BOM is allowed) or decoded JSON values. Invalid
    input raises :class:`DtdlValidationError` listing every error; a model that depends on DTMIs no
    document defines raises :class:`DtdlResolutionError` (after asking ``resolver``, if given, for them).
    """
    mm = metamodel()
    docs = list(documents)
    names: list[str | None] = list(sources) if sources is not None else [None] * len(docs)
    names += [None] * (len(docs) - len(names))
    texts: dict[int, str] = {}
    errors: list[ParsingError] = []
    decoded: list[Any] = []
    for i, d in enumerate(docs):
        value, text, problems = _decode(d, i, names[i])
        if text is not None:
            texts[i] = text
        errors.extend(problems)
        decoded.append(value)
    rounds = 0
    while True:
        failed = {e.location.document for e in errors if e.location is not None}
        walker = Walker(
            mm, allow_undefined=allow_undefined_extensions, limit_contexts=frozenset(extension_limit_contexts)
        )
        for i, value in enumerate(decoded):
            if i not in failed:
                walker.walk_document(i, value)
        graph = check_graph(walker.nodes, mm)
        if graph.undefined and resolver is not None and rounds < _MAX_RESOLVE_ROUNDS and not errors:
            extra = list(resolver(sorted(graph.undefined)))
            if extra:
                rounds += 1
                for d in extra:
                    i = len(decoded)
                    value, text, problems = _decode(d, i, None)
                    names.append(None)
                    if text is not None:
                        texts[i] = text
                    errors.extend(problems)
                    decoded.append(value)
                continue
        break
    all_errors = errors + walker.errors + graph.errors + check_partition_sizes(walker.nodes, texts, mm)
    if graph.undefined and not all_errors:
        undefined = sorted(graph.undefined)
        refs = [
            ParsingError(
                "idReference",
                f"'{t}' is referenced but defined by no document",
                value=t,
                location=Location(r.doc, r.pointer),
            )
            for t, r in graph.undefined.items()
        ]
        raise DtdlResolutionError(_located(refs, texts, names), undefined)
    if all_errors:
        raise DtdlValidationError(_located(all_errors, texts, names))
    return build_model_set(graph, mm)


def _located(
    errors: list[ParsingError], texts: dict[int, str], names: list[str | None]
) -> list[ParsingError]:
    return with_positions(errors, texts, names)
