"""Importing into each store: preview, re-import, updates with removals, strict and lenient, atomicity."""

from __future__ import annotations

import json
from pathlib import Path

import aas_core3.jsonization as aas_json
import aas_core3.types as aas

from dtgraph.aas.importer import import_aas
from dtgraph.aas.mapping import asset_twin_id
from dtgraph.graph.records import Twin
from dtgraph.graph.service import TwinGraph
from dtgraph.stores.base import Store
from tests.aas.builders import package
from tests.aas.conftest import MOTOR, PUMP
from tests.aas.test_mapping import IMPELLER_TWIN, MOTOR_TWIN, PUMP_TWIN

NAMEPLATE = (
    "corpora/aas/idta-submodel-templates/published/Digital nameplate/3/0/1/"
    "IDTA 02006-3-0-1_Template_Digital Nameplate.json"
)
SUPPLIER = "supplier-acme-drives-gmbh"


def everything(store: Store) -> dict[str, object]:
    return {str(getattr(x, "key", None) or x.id): x for x in store.snapshot()}  # type: ignore[union-attr]


def test_dry_run_shows_the_diff_and_writes_nothing(store: Store):
    report = import_aas([PUMP, MOTOR], TwinGraph(store), dry_run=True)
    assert report.ok and not report.written
    assert store.counts() == {"models": 0, "twins": 0, "relationships": 0}
    created = {(c.kind, c.id) for c in report.changes if c.op == "create" and c.kind != "model"}
    assert created == {
        ("twin", PUMP_TWIN),
        ("twin", MOTOR_TWIN),
        ("twin", IMPELLER_TWIN),
        ("twin", SUPPLIER),
        ("relationship", f"{SUPPLIER}/supplies-{PUMP_TWIN}"),
        ("relationship", f"{SUPPLIER}/supplies-{MOTOR_TWIN}"),
        ("relationship", f"{PUMP_TWIN}/hasPart-{MOTOR_TWIN}"),
        ("relationship", f"{PUMP_TWIN}/hasPart-{IMPELLER_TWIN}"),
    }
    assert report.summary()["created"] == 8 and report.summary()["models"] == 18
    assert str(next(c for c in report.changes if c.id == PUMP_TWIN)).startswith(f"+ twin {PUMP_TWIN}")


def test_import_then_reimport_changes_nothing(store: Store):
    graph = TwinGraph(store)
    first = import_aas([PUMP, MOTOR], graph)
    assert first.ok and first.written
    assert store.counts() == {"models": 18, "twins": 4, "relationships": 4}
    before = {k: v for k, v in everything(store).items()}
    again = import_aas([MOTOR, PUMP], TwinGraph(store))
    assert again.ok and not again.written  # nothing to write
    assert again.summary()["created"] == again.summary()["updated"] == again.summary()["removed"] == 0
    assert again.summary()["unchanged"] == 8
    assert store.counts() == {"models": 18, "twins": 4, "relationships": 4}
    assert everything(store) == before


def test_the_motor_shell_fills_in_the_placeholder_of_the_pump_bom(store: Store):
    graph = TwinGraph(store)
    assert import_aas([PUMP], graph).ok
    assert store.get_twin(MOTOR_TWIN).properties == {  # type: ignore[union-attr]
        "name": "Motor",
        "globalAssetId": "https://acme-drives.example/ids/asset/motor-m20",
    }
    report = import_aas([MOTOR], graph)
    (update,) = [c for c in report.changes if c.op == "update"]
    assert update.id == MOTOR_TWIN and "+nameplate" in update.fields and "~name" in update.fields
    assert store.get_twin(MOTOR_TWIN).properties["name"] == "Induction motor M-20"  # type: ignore[union-attr]
    # and the pump's import again does not overwrite the motor with its placeholder
    import_aas([PUMP], graph)
    assert store.get_twin(MOTOR_TWIN).properties["name"] == "Induction motor M-20"  # type: ignore[union-attr]


def test_a_changed_shell_is_updated_and_its_dropped_bom_edge_removed(store: Store, tmp_path: Path):
    graph = TwinGraph(store)
    assert import_aas([PUMP], graph).ok
    # the supplier sends a new version: another serial number, and the impeller is no longer listed
    from dtgraph.aas.reader import read_file

    (document,) = read_file(PUMP).documents
    env = document.jsonable
    plate = next(s for s in env["submodels"] if s["idShort"] == "Nameplate")
    next(e for e in plate["submodelElements"] if e["idShort"] == "SerialNumber")["value"] = "P100-2026-0001"
    bom = next(s for s in env["submodels"] if s["idShort"] == "HierarchicalStructures")
    entry = bom["submodelElements"][0]
    entry["statements"] = [s for s in entry["statements"] if "Impeller" not in json.dumps(s)]
    changed = tmp_path / "pump-v2.json"
    changed.write_text(json.dumps(aas_json.to_jsonable(aas_json.environment_from_jsonable(env))))

    preview = import_aas([changed], graph, dry_run=True)
    assert preview.ok and not preview.written
    changes = {(c.op, c.kind, c.id): c for c in preview.changes if c.op != "unchanged"}
    update = changes[("update", "twin", PUMP_TWIN)]
    assert {"~serialNumber", "~nameplate", "~source", "~submodels"} <= set(update.fields)
    assert ("remove", "relationship", f"{PUMP_TWIN}/hasPart-{IMPELLER_TWIN}") in changes
    assert store.get_twin(PUMP_TWIN).properties["serialNumber"] == "P100-2025-0042"  # type: ignore[union-attr]

    done = import_aas([changed], graph)
    assert done.ok and done.written
    assert store.get_twin(PUMP_TWIN).properties["serialNumber"] == "P100-2026-0001"  # type: ignore[union-attr]
    parts = {r.target for r in store.relationships([PUMP_TWIN], name="hasPart")[PUMP_TWIN]}
    assert parts == {MOTOR_TWIN}
    assert store.get_twin(IMPELLER_TWIN) is not None  # the part itself stays: others may use it


def test_an_existing_supplier_keeps_its_values(store: Store):
    graph = TwinGraph(store)
    assert import_aas([MOTOR], graph).ok
    supplier = store.get_twin(SUPPLIER)
    assert supplier is not None
    graph.replace_twin(Twin(SUPPLIER, supplier.model, {**supplier.properties, "name": "ACME", "tier": 1}))
    assert import_aas([PUMP], graph).ok
    kept = store.get_twin(SUPPLIER)
    assert kept is not None and kept.properties["name"] == "ACME" and kept.properties["tier"] == 1


def test_strict_rejects_what_lenient_imports_with_warnings(store: Store, shared_dir: Path):
    graph = TwinGraph(store)
    strict = import_aas([shared_dir / NAMEPLATE], graph, strict=True)
    assert not strict.ok and len(strict.errors) == 6 and {e.code for e in strict.errors} == {"constraint"}
    assert store.counts()["twins"] == 0
    lenient = import_aas([shared_dir / NAMEPLATE], graph)
    assert lenient.ok and lenient.written and len(lenient.warnings) == 6
    assert store.counts()["twins"] == 2


def test_a_hostile_file_among_good_ones_writes_nothing(store: Store, tmp_path: Path):
    bomb = tmp_path / "bomb.aasx"
    bomb.write_bytes(package(extra={"aasx/files/bomb.png": bytes(20 * 1024 * 1024)}))
    legacy = tmp_path / "legacy.xml"
    legacy.write_bytes(b'<aasenv xmlns="http://www.admin-shell.io/aas/2/0"/>')
    report = import_aas([PUMP, bomb, MOTOR, legacy], TwinGraph(store))
    assert not report.ok and not report.written
    assert [e.code for e in report.errors] == ["limit", "version"]
    assert "metamodel V2.0" in report.errors[1].message
    assert store.counts() == {"models": 0, "twins": 0, "relationships": 0}


def test_an_invalid_graph_change_writes_nothing(store: Store):
    graph = TwinGraph(store)
    assert import_aas([MOTOR], graph).ok
    before = store.counts()
    # a supplier id that names a twin which cannot supply: the whole batch is refused by validation
    report = import_aas([PUMP], graph, supplier=MOTOR_TWIN)
    assert not report.ok and not report.written
    assert any("supplies" in e.message for e in report.errors), report.errors
    assert store.counts() == before
    assert store.get_twin(PUMP_TWIN) is None


def test_a_shell_without_global_asset_id_takes_its_id_from_the_shell(store: Store, tmp_path: Path):
    shell = aas.AssetAdministrationShell(
        "https://example.com/aas/role",
        asset_information=aas.AssetInformation(aas.AssetKind.NOT_APPLICABLE, asset_type="robot"),
    )
    path = tmp_path / "role.json"
    path.write_text(json.dumps(aas_json.to_jsonable(aas.Environment([shell]))))
    report = import_aas([path], TwinGraph(store))
    assert report.ok
    twin = store.get_twin(asset_twin_id("https://example.com/aas/role"))
    assert (
        twin is not None
        and twin.properties["assetKind"] == "NotApplicable"
        and twin.properties["assetType"] == "robot"
    )
