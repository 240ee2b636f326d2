"""Mutated documents give a model set or DtdlValidationError, never another exception and never a hang."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dtgraph.dtdl import DtdlValidationError, parse

_SHARED = Path(__file__).resolve().parents[2].parent / "shared"
_SEEDS = [
    c["input"]
    for name in (
        "Allowance-ClassInterfaceOptionalPropertiesV3.json",
        "Requirement-ClassEnumPropertyEnumValuesTypeConformanceV4.json",
        "Requirement-ClassRelationshipPropertyPropertiesTypeConformanceV2.json",
        "Requirement-ClassMapPropertyMapValueTypeConformanceV3.json",
        "Requirement-ClassCommandPropertyRequestTypeConformanceV4.json",
    )
    for c in json.loads((_SHARED / "corpora/dtdl-conformance/specification" / name).read_text("utf-8-sig"))
]

_ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.sampled_from(
        [
            "",
            "dtmi:",
            "dtmi:ex:x;1",
            "Interface",
            "Array",
            "double",
            "dtmi:dtdl:context;4",
            "dtmi:ex:x;0",
            "a" * 600,
            "@id",
            "Foobar",
            "dtmi:dtdl:class:Interface;2",
            "\ud800",
        ]
    ),
    st.lists(st.sampled_from(["Property", "Telemetry", "x", 1]), max_size=3),
    st.dictionaries(
        st.sampled_from(["@value", "@type", "@language", "en", "name", "schema"]),
        st.sampled_from(["integer", 1, None, "en-US"]),
        max_size=3,
    ),
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated(draw: st.DrawFn) -> list[Any]:
    docs = copy.deepcopy(draw(st.sampled_from(_SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(docs) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent: Any = docs
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "delete", "duplicate", "rename"]))
        key = path[-1]
        if action == "replace":
            parent[key] = draw(_ODD_VALUES)
        elif action == "delete":
            del parent[key]
        elif action == "duplicate" and isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
        elif action == "rename" and isinstance(parent, dict):
            parent[
                draw(st.sampled_from(["@graph", "dtmi:foo//bar", "http://x/y", "extends", "contents"]))
            ] = parent.pop(key)
    return docs


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
@given(mutated(), st.booleans())
def test_mutated_models_fail_only_with_validation_errors(docs: list[Any], allow: bool) -> None:
    try:
        parse(docs, allow_undefined_extensions=allow)
    except DtdlValidationError as exc:
        assert exc.errors, "a validation error must carry its errors"
        assert all(e.code and e.message for e in exc.errors)


@settings(max_examples=100, deadline=2000)
@given(st.text(max_size=200))
def test_arbitrary_text_fails_cleanly(text: str) -> None:
    try:
        parse([text])
    except DtdlValidationError as exc:
        assert exc.errors
