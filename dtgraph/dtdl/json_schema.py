"""DTDL schemas compiled to JSON Schema (draft 2020-12), so values can be checked with ``jsonschema``.

Twin property values and telemetry payloads are JSON; a compiled schema lets every part of the
server (graph validation, telemetry ingestion, GraphQL input) check them the same way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from datetime import date, time
from functools import lru_cache
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators

from dtgraph.dtdl.model import Element, Schema

__all__ = ["compile_schema", "fast_check", "instance_errors", "pointer", "slow_value_issues", "value_issues"]

_INT32 = (-(2**31), 2**31 - 1)
_RANGES = {
    "byte": (-(2**7), 2**7 - 1),
    "short": (-(2**15), 2**15 - 1),
    "integer": _INT32,
    "long": (-(2**63), 2**63 - 1),
    "unsignedByte": (0, 2**8 - 1),
    "unsignedShort": (0, 2**16 - 1),
    "unsignedInteger": (0, 2**32 - 1),
    "unsignedLong": (0, 2**64 - 1),
}
_TIME = r"[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:[0-9]{2})"
_PRIMITIVES: dict[str, dict[str, Any]] = {
    "boolean": {"type": "boolean"},
    "double": {"type": "number"},
    "float": {"type": "number"},
    "string": {"type": "string"},
    "decimal": {"type": "string", "pattern": r"^[+-]?(?:[1-9][0-9]*|0)(?:\.[0-9]*)?$"},
    "bytes": {
        "type": "string",
        "contentEncoding": "base64",
        "pattern": r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$",
    },
    "uuid": {
        "type": "string",
        "format": "uuid",
        "pattern": r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$",
    },
    "date": {"type": "string", "format": "date", "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"},
    "dateTime": {
        "type": "string",
        "format": "date-time",
        "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T" + _TIME + "$",
    },
    "time": {"type": "string", "format": "time", "pattern": "^" + _TIME + "$"},
    "duration": {
        "type": "string",
        "format": "duration",
        "pattern": r"^P(?!$)(?:\d+(?:\.\d+)?Y)?(?:\d+(?:\.\d+)?M)?(?:\d+(?:\.\d+)?W)?(?:\d+(?:\.\d+)?D)?"
        r"(?:T(?=\d)(?:\d+(?:\.\d+)?H)?(?:\d+(?:\.\d+)?M)?(?:\d+(?:\.\d+)?S)?)?$",
    },
}
for _name, (_lo, _hi) in _RANGES.items():
    _PRIMITIVES[_name] = {"type": "integer", "minimum": _lo, "maximum": _hi}

_POSITION = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 3}
_GEO = {
    "point": ("Point", _POSITION),
    "multiPoint": ("MultiPoint", {"type": "array", "items": _POSITION}),
    "lineString": ("LineString", {"type": "array", "items": _POSITION, "minItems": 2}),
    "multiLineString": ("MultiLineString", {"type": "array", "items": {"type": "array", "items": _POSITION}}),
    "polygon": ("Polygon", {"type": "array", "items": {"type": "array", "items": _POSITION, "minItems": 4}}),
    "multiPolygon": (
        "MultiPolygon",
        {
            "type": "array",
            "items": {"type": "array", "items": {"type": "array", "items": _POSITION, "minItems": 4}},
        },
    ),
}


def compile_schema(schema: Schema) -> dict[str, Any]:
    """The JSON Schema of a DTDL schema; recursive schemas (DTDL v4) become ``$defs`` with ``$ref``."""
    defs: dict[str, Any] = {}
    root = _compile(schema, (), defs)
    out: dict[str, Any] = {"$schema": "https://json-schema.org/draft/2020-12/schema", **root}
    if defs:
        out["$defs"] = defs
    return out


def _key(schema: Schema) -> str:
    return schema.id.replace(":", "_").replace(";", "_")


def _compile(schema: Schema, path: tuple[str, ...], defs: dict[str, Any]) -> dict[str, Any]:
    kind = schema.kind
    if schema.is_primitive:
        if kind in _PRIMITIVES:
            return dict(_PRIMITIVES[kind])
        if kind in _GEO:
            name, coords = _GEO[kind]
            return {
                "type": "object",
                "properties": {"type": {"const": name}, "coordinates": coords},
                "required": ["type", "coordinates"],
            }
        if kind == "scaledDecimal":
            return {
                "type": "object",
                "properties": {"scale": {"type": "integer"}, "value": _PRIMITIVES["decimal"]},
                "required": ["scale", "value"],
                "additionalProperties": False,
            }
        return {}
    if schema.id in path:  # a recursive reference: point back to a shared definition
        return {"$ref": f"#/$defs/{_key(schema)}"}
    inner = (*path, schema.id)
    if kind == "Array":
        body: dict[str, Any] = {"type": "array"}
        if schema.element_schema is not None:
            body["items"] = _compile(schema.element_schema, inner, defs)
    elif kind == "Enum":
        values = [ev.value for ev in schema.enum_values]
        body = {"type": "integer" if schema.value_schema == "integer" else "string", "enum": values}
    elif kind == "Map":
        body = {"type": "object", "propertyNames": {"type": "string"}}
        if schema.map_value is not None and schema.map_value.schema is not None:
            body["additionalProperties"] = _compile(schema.map_value.schema, inner, defs)
    elif kind == "Object":
        props = {f.name: _compile(f.schema, inner, defs) for f in schema.fields if f.schema is not None}
        body = {"type": "object", "properties": props, "additionalProperties": False}
        required = [f.name for f in schema.fields if "Required" in f.cotypes]
        if required:
            body["required"] = required
    else:
        body = {}
    if _refers_to(body, _key(schema)):
        defs[_key(schema)] = body
        return {"$ref": f"#/$defs/{_key(schema)}"}
    return body


def _refers_to(body: Any, key: str) -> bool:
    if isinstance(body, dict):
        if body.get("$ref") == f"#/$defs/{key}":
            return True
        return any(_refers_to(v, key) for v in body.values())
    if isinstance(body, list):
        return any(_refers_to(v, key) for v in body)
    return False


def pointer(*parts: str | int) -> str:
    """A JSON pointer (RFC 6901) from unescaped parts."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _is_number(_: object, value: object) -> bool:
    # JSON has no NaN or infinities: they could not be stored or exported
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return not isinstance(value, float) or math.isfinite(value)


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    # JSON Schema patterns are ECMA 262: '$' ends the text (Python's also matches before a final
    # newline) and '\d' is an ASCII digit (Python's is any Unicode digit)
    return re.compile(re.sub(r"(?<!\\)\$", r"\\Z", pattern), re.ASCII)


def _pattern(validator: Any, pattern: str, instance: Any, _schema: Any) -> Iterator[ValidationError]:
    if validator.is_type(instance, "string") and not _regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


_TIME_RE = re.compile(r"([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?(Z|[+-]([0-9]{2}):([0-9]{2}))", re.ASCII)
_DATE_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", re.ASCII)


def _valid_date(text: str) -> bool:
    m = _DATE_RE.fullmatch(text)
    if m is None:
        return True  # the pattern reports the shape
    try:
        date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return False
    return True


def _valid_time(text: str) -> bool:
    m = _TIME_RE.fullmatch(text)
    if m is None:
        return True
    try:
        time(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        return False
    return m[6] is None or (int(m[6]) < 24 and int(m[7]) < 60)


def _valid_date_time(text: str) -> bool:
    head, sep, tail = text.partition("T")
    return not sep or (_valid_date(head) and _valid_time(tail))


_FORMATS = FormatChecker(formats=())
for _name, _check in (("date", _valid_date), ("time", _valid_time), ("date-time", _valid_date_time)):
    _FORMATS.checks(_name)(lambda v, f=_check: not isinstance(v, str) or f(v))

_Validator = validators.extend(  # type: ignore[no-untyped-call]
    Draft202012Validator,
    validators={"pattern": _pattern},
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine("number", _is_number),
)


@lru_cache(maxsize=8192)
def _validator(schema: Schema) -> Any:
    return _Validator(compile_schema(schema), format_checker=_FORMATS)


Check = Callable[[Any], bool]


def _fast_check(js: dict[str, Any], refs: dict[str, Check]) -> Check | None:
    """A plain-Python predicate equal to validating against ``js``, or None for keywords it does not know.

    Valid values are the common case on bulk loads; jsonschema, which also explains failures, then
    runs only for the invalid ones. Tests compare the two on generated values.
    """
    checks: list[Check] = []
    for keyword, arg in js.items():
        if keyword in ("$schema", "$defs", "contentEncoding", "propertyNames"):
            continue  # annotations, definitions read via $ref, and JSON keys that are strings anyway
        check = _keyword_check(keyword, arg, js, refs)
        if check is None:
            return None
        checks.append(check)
    return lambda v: all(c(v) for c in checks)


def _keyword_check(keyword: str, arg: Any, js: dict[str, Any], refs: dict[str, Check]) -> Check | None:
    if keyword == "type":
        return _TYPE_CHECKS[arg]
    if keyword == "minimum":
        return lambda v: not _is_number(None, v) or bool(v >= arg)
    if keyword == "maximum":
        return lambda v: not _is_number(None, v) or bool(v <= arg)
    if keyword == "pattern":
        rx = _regex(arg)
        return lambda v: not isinstance(v, str) or rx.search(v) is not None
    if keyword == "format":
        fmt = {"date": _valid_date, "time": _valid_time, "date-time": _valid_date_time}.get(arg)
        return (lambda v: True) if fmt is None else (lambda v: not isinstance(v, str) or fmt(v))
    if keyword in ("enum", "const"):
        allowed = arg if keyword == "enum" else [arg]
        if not all(isinstance(a, str) or (isinstance(a, int) and not isinstance(a, bool)) for a in allowed):
            return None
        values = frozenset(allowed)
        return lambda v: not isinstance(v, bool) and isinstance(v, (str, int, float)) and v in values
    if keyword == "minItems":
        return lambda v: not isinstance(v, list) or len(v) >= arg
    if keyword == "maxItems":
        return lambda v: not isinstance(v, list) or len(v) <= arg
    if keyword == "items":
        item = _fast_check(arg, refs)
        if item is None:
            return None
        return lambda v: not isinstance(v, list) or all(item(x) for x in v)
    if keyword == "properties":
        fields: dict[str, Check] = {}
        for name, sub in arg.items():
            field_check = _fast_check(sub, refs)
            if field_check is None:
                return None
            fields[name] = field_check
        return lambda v: not isinstance(v, dict) or all(k not in v or f(v[k]) for k, f in fields.items())
    if keyword == "additionalProperties":
        known = frozenset(js.get("properties", {}))
        if arg is False:
            return lambda v: not isinstance(v, dict) or all(k in known for k in v)
        extra = _fast_check(arg, refs)
        if extra is None:
            return None
        return lambda v: not isinstance(v, dict) or all(extra(x) for k, x in v.items() if k not in known)
    if keyword == "required":
        names = tuple(arg)
        return lambda v: not isinstance(v, dict) or all(n in v for n in names)
    if keyword == "$ref" and arg.startswith("#/$defs/"):
        name = arg.removeprefix("#/$defs/")
        return lambda v: refs[name](v)
    return None


_TYPE_CHECKS: dict[str, Check] = {
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())
    ),
    "number": lambda v: _is_number(None, v),
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


@lru_cache(maxsize=8192)
def fast_check(schema: Schema) -> Check | None:
    """The compiled plain-Python predicate of a schema (None when only jsonschema can check it)."""
    js = compile_schema(schema)
    refs: dict[str, Check] = {}
    for name, sub in js.get("$defs", {}).items():
        check = _fast_check(sub, refs)
        if check is None:
            return None
        refs[name] = check
    return _fast_check(js, refs)


def value_issues(value: Any, schema: Schema) -> list[tuple[str, str]]:
    """(pointer below the value, message) for each way ``value`` breaks ``schema``.

    The schema is the one :meth:`Schema.json_schema` compiles; patterns follow ECMA 262 as JSON Schema
    says, non-finite numbers are rejected and dates and times must exist on the calendar and clock.
    """
    check = fast_check(schema)
    if check is not None and check(value):
        return []
    return slow_value_issues(value, schema)


def slow_value_issues(value: Any, schema: Schema) -> list[tuple[str, str]]:
    """:func:`value_issues` by jsonschema alone: the reference the fast path is tested against."""
    errors = sorted(_validator(schema).iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path])
    return [(pointer(*e.absolute_path), e.message) for e in errors]


def instance_errors(value: Any, element: Element | Schema) -> list[str]:
    """Messages for every way ``value`` breaks the schema of ``element`` (empty when it conforms)."""
    schema = element if isinstance(element, Schema) else getattr(element, "schema", None)
    if not isinstance(schema, Schema):
        raise TypeError(f"{element!r} has no schema to check values against")
    return [f"{at or '(value)'}: {message}" for at, message in value_issues(value, schema)]
