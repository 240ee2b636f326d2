"""Representational literals and localizable strings (the value forms of DTDL literal members)."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["LANG_RE", "Problem", "localizable", "representational"]

LANG_RE = re.compile(r"^[a-z]{2,4}(-[A-Z][a-z]{3})?(-([A-Z]{2}|[0-9]{3}))?$")

_XSD_TYPES = {
    "string": ("xsd:string", "http://www.w3.org/2001/XMLSchema#string"),
    "integer": ("xsd:integer", "http://www.w3.org/2001/XMLSchema#integer"),
    "boolean": ("xsd:boolean", "http://www.w3.org/2001/XMLSchema#boolean"),
}

Problem = tuple[str, str]  # (code, message)
_NEVER = ("@id", "@context", "@graph")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _kind_ok(kind: str, v: Any) -> bool:
    if kind == "string":
        return isinstance(v, str)
    if kind == "integer":
        return _is_int(v) or (isinstance(v, float) and v.is_integer() and False)
    if kind == "boolean":
        return isinstance(v, bool)
    if kind == "literal":  # string or integer (EnumValue.enumValue)
        return isinstance(v, str) or _is_int(v)
    return False


def representational(kind: str, value: Any, strict: bool = True) -> tuple[Any, Problem | None]:
    """Decode one representational literal of ``kind`` (string, integer, boolean or literal).

    Returns the value and, if the form is wrong, a problem.
    """
    if isinstance(value, dict):
        if any(not k.startswith("@") for k in value):
            return None, ("valueObjectInvalidProp", "a value object may hold only '@value' and '@type'")
        if "@value" not in value:
            return None, (_code(kind, "ObjectNoValue"), "a value object needs an '@value' member")
        extra = [k for k in value if k not in ("@value", "@type") and (strict or k in _NEVER)]
        if extra:  # DTDL v2 tolerates other keywords, but never @id, @context or @graph
            return None, ("valueObjectKeyword", f"a value object may not have '{extra[0]}'")
        v = value["@value"]
        if not _kind_ok(kind, v):
            return None, (_code(kind, "ValueNot" + _cap(kind)), f"'@value' must be {_article(kind)}")
        if "@type" in value:
            allowed: tuple[str, ...] | None = _XSD_TYPES.get(kind)
            t = value["@type"]
            if isinstance(t, list) and len(t) == 1:
                t = t[0]
            if kind == "literal":
                allowed = _XSD_TYPES["string"] + _XSD_TYPES["integer"]
            if allowed is None or t not in allowed:
                return None, (_code(kind, "TypeNot" + _cap(kind)), f"'@type' must be one of {allowed}")
        return v, None
    if _kind_ok(kind, value):
        return value, None
    return None, (_code(kind, "Not" + _cap(kind)), f"value must be {_article(kind)}")


def _code(kind: str, suffix: str) -> str:
    base = {"string": "string", "integer": "integer", "boolean": "boolean", "literal": "literal"}[kind]
    if kind == "literal" and suffix.startswith("Not"):
        return "literalNotValid"
    return base + suffix


def _cap(kind: str) -> str:
    return {"string": "String", "integer": "Integer", "boolean": "Boolean", "literal": "Valid"}[kind]


def _article(kind: str) -> str:
    return {
        "string": "a string",
        "integer": "an integer",
        "boolean": "a boolean",
        "literal": "a string or integer",
    }[kind]


def localizable(
    value: Any, max_length: int | None, strict: bool = True
) -> tuple[dict[str, str], list[Problem]]:
    """Decode a localizable string into ``{language: text}``; problems list every rule broken."""
    problems: list[Problem] = []
    out: dict[str, str] = {}
    if isinstance(value, str):
        out["en"] = value
    elif isinstance(value, dict):
        for lang, text in value.items():
            if not LANG_RE.match(lang):
                problems.append(("langStringInvalidCode", f"'{lang}' is not a language code"))
            if not isinstance(text, str):
                problems.append(("langStringValueNotString", f"the text for '{lang}' must be a string"))
            else:
                out[lang] = text
    elif isinstance(value, list):
        defaults = 0
        seen: set[str] = set()
        for item in value:
            if isinstance(item, str):
                defaults += 1
                out.setdefault("en", item)
            elif isinstance(item, dict):
                bad = [k for k in item if not k.startswith("@")]
                if bad:
                    problems.append(
                        ("langStringElementInvalidProp", f"a language-tagged value may not have '{bad[0]}'")
                    )
                    continue
                extra = [k for k in item if k not in ("@value", "@language") and (strict or k in _NEVER)]
                if extra:
                    problems.append(
                        ("langStringElementKeyword", f"a language-tagged value may not have '{extra[0]}'")
                    )
                    continue
                if "@value" not in item:
                    problems.append(("langStringElementNoValue", "a language-tagged value needs '@value'"))
                    continue
                if not isinstance(item["@value"], str):
                    problems.append(("langStringElementValueNotString", "'@value' must be a string"))
                    continue
                lang = item.get("@language")
                if lang is None:
                    defaults += 1
                    out.setdefault("en", item["@value"])
                    continue
                if not isinstance(lang, str):
                    problems.append(("langStringElementCodeNotString", "'@language' must be a string"))
                    continue
                if not LANG_RE.match(lang):
                    problems.append(("langStringElementInvalidCode", f"'{lang}' is not a language code"))
                    continue
                if lang in seen:
                    problems.append(("langStringElementCodeNotUnique", f"language '{lang}' appears twice"))
                    continue
                seen.add(lang)
                if lang == "en":
                    defaults += 1
                out[lang] = item["@value"]
            else:
                problems.append(
                    ("langStringElementNotStringOrObject", "each item must be a string or an object")
                )
        if defaults > 1:
            problems.append(("langStringCodeNotUnique", "more than one default-language value"))
    else:
        problems.append(
            ("langStringValueInvalid", "a localizable string must be a string, an array or an object")
        )
    if max_length is not None:
        for lang, text in out.items():
            if len(text) > max_length:
                problems.append(
                    ("langStringValueTooLong", f"text for '{lang}' is longer than {max_length} characters")
                )
    return out, problems
