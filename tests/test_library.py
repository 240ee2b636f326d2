"""The shipped model library (dtdl/): it parses, its cascade declarations are right, and it ships."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from dtgraph.dtdl import parse
from dtgraph.dtdl.loader import load_paths
from dtgraph.library import (
    CascadeDeclaration,
    cascade_declaration,
    cascade_declarations,
    library_documents,
    library_model_set,
    library_path,
)

REPO = Path(__file__).resolve().parent.parent
LIBRARY = REPO / "dtdl"

INTERFACES = {
    "Entity", "Asset", "Party", "Enterprise", "Site", "Plant", "Line", "Machine", "Sensor", "Utility",
    "PowerSupply", "CompressedAirSupply", "WaterSupply", "Supplier", "Part", "Product", "CustomerOrder",
    "AssetAdministrationShell",
}  # fmt: skip


def test_the_folder_is_one_valid_dtdl_v3_model():
    loaded = load_paths([LIBRARY])  # what `dtgraph validate dtdl/` reads: every *.json below it
    models = parse(loaded.documents, sources=loaded.sources)
    assert set(models.interfaces) == {f"dtmi:dtgraph:{name};1" for name in INTERFACES}
    for source, content in zip(loaded.sources, loaded.documents, strict=True):
        doc = json.loads(content)
        context = doc["@context"] if isinstance(doc["@context"], list) else [doc["@context"]]
        assert context[0] == "dtmi:dtdl:context;3", source
        assert Path(source).stem == doc["@id"].split(":")[-1].split(";")[0], "one file per interface"


def test_library_documents_and_model_set():
    documents = library_documents()
    assert [name for name, _ in documents] == sorted(f"{name}.json" for name in INTERFACES)
    assert library_model_set() is library_model_set()  # cached
    models = library_model_set()
    assert models.is_a("dtmi:dtgraph:PowerSupply;1", "dtmi:dtgraph:Asset;1")
    assert models.is_a("dtmi:dtgraph:Enterprise;1", "dtmi:dtgraph:Party;1")
    partof = models.interfaces["dtmi:dtgraph:Machine;1"].relationships["partOf"]
    assert partof.target == "dtmi:dtgraph:Line;1" and partof.max_multiplicity == 1


def test_cascade_properties_are_on_every_twin_and_edge():
    models = library_model_set()
    entity = models.interfaces["dtmi:dtgraph:Entity;1"].properties
    for name in ("bufferHours", "recoveryHours", "failureProbability", "inputGate", "requiredInputs"):
        assert name in entity
    for name in ("leadTimeHours", "failureProbability"):
        for owner, relationship in (("Supplier", "supplies"), ("Line", "feeds"), ("Machine", "feeds")):
            rel = models.interfaces[f"dtmi:dtgraph:{owner};1"].relationships[relationship]
            assert name in {p.name for p in rel.properties}, (owner, relationship, name)
    assert "orderValue" in models.interfaces["dtmi:dtgraph:CustomerOrder;1"].properties
    assert "revenuePerHour" in models.interfaces["dtmi:dtgraph:Product;1"].properties


def test_cascade_declarations_name_real_relationships_and_cover_them_all():
    models = library_model_set()
    declared = {(d.interface, d.relationship) for d in cascade_declarations()}
    assert len(declared) == len(cascade_declarations()), "a relationship is declared twice"
    for d in cascade_declarations():
        relationship = models.interfaces[d.interface].relationships[d.relationship]
        assert relationship.defined_in == d.interface
        assert d.direction in ("forward", "reverse")
        assert d.kind in ("material", "utility", "supply", "hierarchy")
    every = {
        (rel.defined_in, name) for i in models.interfaces.values() for name, rel in i.relationships.items()
    }
    assert every == declared


def test_a_declaration_holds_for_subtypes():
    models = library_model_set()
    found = cascade_declaration(models, "dtmi:dtgraph:PowerSupply;1", "dependsOn")
    assert found == CascadeDeclaration("dtmi:dtgraph:Asset;1", "dependsOn", "reverse", "utility")
    assert found.orient("machine", "power") == ("power", "machine")
    supplies = cascade_declaration(models, "dtmi:dtgraph:Supplier;1", "supplies")
    assert supplies is not None and supplies.orient("supplier", "part") == ("supplier", "part")
    assert cascade_declaration(models, "dtmi:dtgraph:Part;1", "supplies") is None
    assert cascade_declaration(models, "dtmi:nowhere;1", "partOf") is None


def test_the_editable_install_reads_the_checkout(tmp_path):
    out = subprocess.run(
        [sys.executable, "-c", "from dtgraph.library import library_path as p; print(p())"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(out.stdout.strip()) == LIBRARY
    assert library_path() == LIBRARY


def test_the_wheel_ships_the_library_and_the_installed_package_finds_it(tmp_path):
    # Build from a copy, so the build leaves nothing behind in the checkout.
    source = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("dtgraph", "dtdl"):
        shutil.copytree(REPO / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", str(source), "-w", str(tmp_path / "w"), "--no-deps"], check=True)
    (wheel,) = (tmp_path / "w").glob("dtgraph-*.whl")

    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {n.split("/share/dtgraph/dtdl/")[1] for n in names if "/share/dtgraph/dtdl/" in n}
    assert shipped == {p.name for p in LIBRARY.iterdir() if p.is_file()}
    assert "dtgraph/library.py" in names

    # Install it into a throwaway venv: pip then works on that environment, never on the running one (an
    # `install --prefix` from here would uninstall the editable dtgraph of .venv). Run it with .venv's
    # site-packages on PYTHONPATH for the dependencies; .pth files there are not read, so the editable
    # checkout stays out of sight.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([*pip, "--python", str(python), "install", "--no-deps", str(wheel)], check=True)
    code = (
        "import dtgraph.library as L; print(L.__file__); print(L.library_path()); "
        "print(len(L.library_model_set().interfaces), len(L.cascade_declarations()))"
    )
    env = {**os.environ, "PYTHONPATH": sysconfig.get_path("purelib")}
    out = subprocess.run(
        [python, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    )
    module, path, counts = out.stdout.splitlines()
    assert Path(module).is_relative_to(venv)
    assert Path(path) == (venv / "share" / "dtgraph" / "dtdl").resolve()
    assert counts == f"{len(INTERFACES)} {len(cascade_declarations())}"


@pytest.mark.parametrize("name", sorted(INTERFACES))
def test_every_interface_has_a_description(name):
    doc = json.loads((LIBRARY / f"{name}.json").read_text(encoding="utf-8"))
    assert doc["description"] and doc["displayName"]
    for content in doc["contents"]:
        assert content.get("description"), f"{name}.{content['name']} has no description"
