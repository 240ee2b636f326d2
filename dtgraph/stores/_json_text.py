"""Property values as the Neo4j store keeps them: JSON text, written and read back exactly.

``dumps`` writes with orjson where that is exact and with the json module where it is not (integers
beyond 64 bits, NaN and infinities, lone surrogates); ``loads`` reads with orjson where that gives the
json module's value; ``Stored`` reads the text when its values are first wanted.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Any

import orjson

from dtgraph.stores._packed import json_default
from dtgraph.stores.errors import StoreError

__all__ = ["NO_PROPERTIES", "Stored", "dumps", "encodable", "loads"]


def dumps(value: Any, what: str) -> str:
    # orjson is ten times faster; it refuses what it cannot write exactly (integers beyond 64 bits, lone
    # surrogates, keys that are not strings) and writes NaN and infinities as null, so text with a null
    # in it is written again by the standard library, which keeps them
    try:  # not ``suppress``: entering a context manager costs more than orjson's work on a twin
        raw = orjson.dumps(value, default=json_default)
    except orjson.JSONEncodeError:
        pass
    else:
        if b"null" not in raw:
            return raw.decode()
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=json_default)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{what} cannot be written as JSON; nothing was changed: {exc}") from exc
    return text if encodable(text) else json.dumps(value, separators=(",", ":"), default=json_default)


def encodable(text: str) -> bool:
    """Whether Bolt can carry ``text`` (UTF-8 cannot encode a lone surrogate)."""
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


NO_PROPERTIES: Mapping[str, Any] = MappingProxyType({})


class Stored(Mapping[str, Any]):
    """Properties as Neo4j holds them (JSON text), decoded when first read: a traversal reads every
    relationship it follows and the twin at its end, and a query often wants nothing of them but the
    twins' ids (on a 2-hop query, decoding them cost a tenth of the server's CPU)."""

    __slots__ = ("_text", "_values")

    def __init__(self, text: str) -> None:
        self._text = text
        self._values: Mapping[str, Any] | None = None

    def _read(self) -> Mapping[str, Any]:
        values = self._values
        if values is None:  # two threads may both decode it: the same value either way
            values = self._values = MappingProxyType(loads(self._text))
        return values

    def __getitem__(self, key: str) -> Any:
        return self._read()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._read())

    def __len__(self) -> int:
        return len(self._read())

    def __contains__(self, key: object) -> bool:
        return key in self._read()

    def __eq__(self, other: object) -> bool:
        return self._read() == other

    __hash__ = None  # type: ignore[assignment]  # as a mapping's

    def __repr__(self) -> str:
        return repr(self._read())


_HUGE = 2.0**63


def loads(text: str) -> Any:
    """The value of JSON ``text`` the store wrote. orjson decodes it in a quarter of the json module's
    time, but turns an integer beyond 64 bits into a float: a value with a float that large (beyond
    ±2**63) is decoded again by the json module, which keeps such integers exact, as is what orjson
    refuses (the NaN, infinities and lone surrogates the json module writes)."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)
    return json.loads(text) if _has_huge_float(value) else value


def _has_huge_float(value: Any) -> bool:
    items: Iterable[Any]
    if type(value) is dict:
        items = value.values()
    elif type(value) is list:
        items = value
    else:
        return type(value) is float and not -_HUGE < value < _HUGE
    for item in items:  # the common case inline: a call an item costs as much as the decoding
        kind = type(item)
        if kind is float:
            if not -_HUGE < item < _HUGE:
                return True
        elif (kind is dict or kind is list) and _has_huge_float(item):
            return True
    return False
