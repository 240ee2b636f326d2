"""The typed schema builds for the real DTDL corpora, and introspection runs on it without errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from graphql import get_introspection_query

from dtgraph.api import build_schema
from dtgraph.dtdl import parse
from dtgraph.dtdl.loader import load_paths

INVALID = {"XMPro-dtdl-data-models"}  # not valid DTDL (the validator's tests say why)


def corpora(shared: Path) -> list[Path]:
    return sorted(p for p in (shared / "corpora" / "dtdl").iterdir() if p.is_dir() and p.name not in INVALID)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "corpus" in metafunc.fixturenames:
        from tests.conftest import SHARED_DIR

        found = corpora(SHARED_DIR) if SHARED_DIR.is_dir() else []
        metafunc.parametrize("corpus", found, ids=[p.name for p in found])


def test_schema_builds_and_introspects(corpus: Path, shared_dir: Path) -> None:
    loaded = load_paths([corpus])
    models = parse(loaded.documents, sources=loaded.sources)
    schema = build_schema(models)
    result = asyncio.run(schema.execute(get_introspection_query()))
    assert result.errors is None, result.errors[:3]
    types = {t["name"]: t for t in result.data["__schema"]["types"]}
    names = schema.twin_type_names
    assert len(names) == len(models.interfaces) == len(set(names.values()))
    for dtmi, name in names.items():
        assert types[name]["kind"] == "OBJECT", dtmi
        assert {"name": "Twin", "kind": "INTERFACE", "ofType": None} in types[name]["interfaces"]
        ancestors = set(models.ancestors(dtmi))
        implemented = {i["name"] for i in types[name]["interfaces"]}
        assert {names[a] + "Interface" for a in ancestors if a in names} <= implemented or any(
            "_" in n for n in implemented
        )
