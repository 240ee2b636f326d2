"""Mapping shells and submodels to twins: the sample packages of aas/, the IDTA templates, AID + AIMC."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dtgraph.aas.importer import import_aas
from dtgraph.aas.mapping import SHELL_MODEL, Mapped, asset_twin_id, map_documents, supplier_twin_id
from dtgraph.aas.reader import read_file
from dtgraph.graph.service import TwinGraph
from dtgraph.stores.memory import MemoryStore
from tests.aas.conftest import MOTOR, PUMP

ACME = "https://acme-drives.example/ids"
PUMP_TWIN = asset_twin_id(f"{ACME}/asset/pump-p100")
MOTOR_TWIN = asset_twin_id(f"{ACME}/asset/motor-m20")
IMPELLER_TWIN = asset_twin_id(f"{ACME}/asset/impeller-i7")
TEMPLATES = "corpora/aas/idta-submodel-templates/published"


def mapped(*paths: Path, supplier: str | None = None) -> Mapped:
    inputs = []
    for path in paths:
        result = read_file(path)
        inputs.append((result.documents, result.blobs))
    return map_documents(inputs, supplier=supplier)


def test_the_pump_package_maps_every_template():
    out = mapped(PUMP)
    assert out.warnings == []
    pump = out.twins[PUMP_TWIN]
    p = pump.properties
    assert pump.model == SHELL_MODEL
    assert (p["name"], p["idShort"], p["assetKind"], p["partNumber"]) == (
        "Centrifugal pump P-100",
        "PumpP100",
        "Type",
        "P-100",
    )
    assert p["globalAssetId"] == f"{ACME}/asset/pump-p100" and p["shellId"] == f"{ACME}/aas/pump-p100"
    assert p["specificAssetIds"] == [{"name": "partNumber", "value": "P-100"}]
    assert p["manufacturer"] == "Acme Drives GmbH" and p["serialNumber"] == "P100-2025-0042"
    assert p["nameplate"]["productFamily"] == "Acme process line"
    # contacts: the nameplate's address and Contact Information
    assert [c.get("name") for c in p["contacts"]] == [None, "Anna Berger"]
    assert p["contacts"][1]["email"] == "service@acme-drives.example"
    # technical data with units from the concept descriptions
    rated = {r["path"]: r for r in p["technicalData"]}
    assert rated["TechnicalProperties.RatedFlow"] == {
        "path": "TechnicalProperties.RatedFlow",
        "modelType": "Property",
        "semanticId": "0173-1#02-AAB414#005",
        "value": "120",
        "valueType": "xs:double",
        "unit": "m3/h",
    }
    assert rated["TechnicalProperties.RatedPower"]["unit"] == "kW"
    (footprint,) = p["carbonFootprint"]
    assert footprint["co2eq"] == 182.5 and footprint["kind"] == "product"
    assert footprint["calculationMethods"] == "GHG Protocol" and footprint["lifeCyclePhases"] == "A1-A3"
    # telemetry bindings: AID, with the sink from AIMC
    bindings = {(b["interface"], b["dataPoint"]): b for b in p["telemetryBindings"]}
    flow = bindings[("InterfaceMQTT", "flow")]
    assert flow["protocol"] == "mqtt" and flow["topic"] == "pumps/p100/flow" and flow["unit"] == "m3/h"
    assert flow["endpoint"] == "mqtt://broker.acme-drives.example:1883" and flow["method"] == "subscribe"
    assert flow["sink"] == f"{ACME}/sm/pump-p100/operational-data/Flow"
    temperature = bindings[("InterfaceHTTP", "temperature")]
    assert temperature["protocol"] == "http" and temperature["href"] == "/properties/temperature"
    assert "sink" not in temperature and temperature["method"] == "GET"
    # every submodel is kept whole, an unknown one too
    kept = {s["idShort"]: s for s in p["submodels"]}
    assert len(kept) == 8
    other = kept["Maintenance"]
    assert other["template"] == "other"
    assert json.loads(other["json"])["id"] == f"{ACME}/sm/pump-p100/maintenance"
    assert {e["path"]: e.get("value") for e in other["elements"]} == {
        "IntervalHours": "4000",
        "Instructions": "Replace the mechanical seal every second interval.",
    }
    assert {f["name"]: f["role"] for f in p["files"]} == {
        "/aasx/files/manual.pdf": "supplementary",
        "/aasx/files/pump.png": "thumbnail",
    }


def test_the_bill_of_material_becomes_has_part_edges_with_quantities():
    out = mapped(PUMP)
    edges = {(r.source, r.target): r for r in out.relationships.values() if r.name == "hasPart"}
    assert set(edges) == {(PUMP_TWIN, MOTOR_TWIN), (PUMP_TWIN, IMPELLER_TWIN)}
    assert edges[(PUMP_TWIN, IMPELLER_TWIN)].properties == {
        "quantity": 2.0,
        "archeType": "OneDown",
        "declaredBy": PUMP_TWIN,
    }
    # parts named only by the bill of material are placeholders, never full twins
    assert set(out.placeholders) == {MOTOR_TWIN, IMPELLER_TWIN}
    assert out.placeholders[IMPELLER_TWIN].properties == {
        "name": "Impeller",
        "globalAssetId": f"{ACME}/asset/impeller-i7",
    }


def test_the_manufacturer_is_one_supplier_across_packages():
    out = mapped(PUMP, MOTOR)
    supplier = supplier_twin_id("Acme Drives GmbH")
    assert supplier == "supplier-acme-drives-gmbh"
    assert set(out.suppliers) == {supplier}
    assert out.suppliers[supplier].properties["location"] == {
        "address": "Industriestrasse 7, 70173 Stuttgart",
        "country": "DE",
    }
    supplied = {r.target for r in out.relationships.values() if r.name == "supplies"}
    assert supplied == {PUMP_TWIN, MOTOR_TWIN}
    assert MOTOR_TWIN in out.twins and MOTOR_TWIN not in out.placeholders  # the motor's own shell wins


def test_an_explicit_supplier_delivers_every_shell():
    out = mapped(PUMP, MOTOR, supplier="supplier-42")
    assert set(out.suppliers) == {"supplier-42"}
    assert {r.source for r in out.relationships.values() if r.name == "supplies"} == {"supplier-42"}


def test_aid_and_aimc_of_the_faaast_test_model(shared_dir: Path):
    path = shared_dir / (
        "corpora/aas/faaast-service/submodeltemplate/asset-interfaces-mapping-configuration/"
        "src/test/resources/Test-Example.json"
    )
    (twin,) = mapped(path).twins.values()
    bindings = twin.properties["telemetryBindings"]
    assert [(b["interface"], b["protocol"], b["dataPoint"]) for b in bindings] == [
        ("InterfaceHTTP", "http", "voltage"),
        ("InterfaceHTTP", "http", "status"),
        ("InterfaceMQTT", "mqtt", "voltage"),
        ("InterfaceMQTT", "mqtt", "status"),
        ("InterfaceOPCUA", "opcua", "value_double"),
        ("InterfaceOPCUA", "opcua", "value_int"),
    ]
    assert all(b["sink"].startswith("https://example.com/ids/sm/OperationalData/") for b in bindings)
    assert bindings[2]["topic"] == "sampleDevice/properties/voltage" and bindings[0]["unit"] == "V"


@pytest.mark.shared_files(f"{TEMPLATES}/**/*.json")
def test_every_idta_template_imports_as_valid_twins(shared_file: Path, tmp_path: Path):
    store = MemoryStore(tmp_path / "data", fsync=False)
    report = import_aas([shared_file], TwinGraph(store))
    assert report.ok, report.errors
    twins = [t for t in store.snapshot() if getattr(t, "model", None) == SHELL_MODEL]
    assert twins, "a shell twin"
    submodels = [s for t in twins for s in t.properties.get("submodels", [])]
    assert submodels and all(json.loads(s["json"]) for s in submodels)
    store.close()


@pytest.mark.parametrize(
    ("name", "template", "key"),
    [
        (
            "Digital nameplate/3/0/1/IDTA 02006-3-0-1_Template_Digital Nameplate.json",
            "nameplate",
            "nameplate",
        ),
        (
            "Contact Information/1/0/1/IDTA 02002-1-0-1_Template_ContactInformation.json",
            "contactInformation",
            "contacts",
        ),
        ("Technical_Data/2/0/IDTA 02003_Sample_TechnicalData.json", "technicalData", "technicalData"),
        (
            "Carbon Footprint/1/0/1/IDTA 02023-1-0-1 _Template_CarbonFootprint.json",
            "carbonFootprint",
            "carbonFootprint",
        ),
        (
            "Asset Interfaces Description/1/0/1/IDTA 02017-1-0-1_Template_Asset Interfaces Description.json",
            "interfacesDescription",
            None,
        ),
        (
            "Hierarchical Structures enabling Bills of Material/1/1/1/IDTA 02011-1-1-1_Template_HSEBoM.json",
            "billOfMaterial",
            None,
        ),
    ],
)
def test_templates_are_recognised(shared_dir: Path, name: str, template: str, key: str | None):
    (twin,) = mapped(shared_dir / TEMPLATES / name).twins.values()
    assert [s["template"] for s in twin.properties["submodels"]] == [template]
    if key is not None:
        assert twin.properties[key]


def test_the_v31_aid_template_json_reads_as_v31(shared_dir: Path):
    path = (
        shared_dir
        / TEMPLATES
        / "Asset Interfaces Description/1/1/IDTA 02017-1-1_Template_Asset Interfaces Description.json"
    )
    (document,) = read_file(path).documents
    assert document.metamodel == "3.1" and document.issues == []
    assert read_file(path, metamodel="3.0").documents[0].issues  # 46 problems as V3.0


def test_the_samples_are_what_build_samples_writes(tmp_path: Path):
    from aas import build_samples

    build_samples.main(tmp_path)
    for sample in (PUMP, MOTOR):
        assert (tmp_path / sample.name).read_bytes() == sample.read_bytes(), (
            f"run aas/build_samples.py: {sample}"
        )


def test_is_part_of_and_same_as(tmp_path: Path):
    import aas_core3.jsonization as aas_json
    import aas_core3.types as aas

    def ref(*keys: tuple[aas.KeyTypes, str]) -> aas.Reference:
        return aas.Reference(aas.ReferenceTypes.MODEL_REFERENCE, [aas.Key(k, v) for k, v in keys])

    bom = "https://x.example/sm/bom"
    entry, node = (aas.KeyTypes.ENTITY, "EntryNode"), (aas.KeyTypes.ENTITY, "Frame")
    statements = [
        aas.Entity(
            aas.EntityType.SELF_MANAGED_ENTITY, id_short="Frame", global_asset_id="https://x.example/frame"
        ),
        aas.RelationshipElement(
            ref((aas.KeyTypes.SUBMODEL, bom), entry, node),
            ref((aas.KeyTypes.SUBMODEL, bom), entry),
            id_short="IsPartOf",
        ),
        aas.RelationshipElement(
            ref((aas.KeyTypes.SUBMODEL, bom), entry),
            aas.Reference(
                aas.ReferenceTypes.EXTERNAL_REFERENCE,
                [aas.Key(aas.KeyTypes.GLOBAL_REFERENCE, "https://x.example/aas/b")],
            ),
            id_short="SameAs",
        ),
    ]
    submodel = aas.Submodel(
        bom,
        id_short="HierarchicalStructures",
        semantic_id=aas.Reference(
            aas.ReferenceTypes.EXTERNAL_REFERENCE,
            [
                aas.Key(
                    aas.KeyTypes.GLOBAL_REFERENCE,
                    "https://admin-shell.io/idta/HierarchicalStructures/1/1/Submodel",
                )
            ],
        ),
        submodel_elements=[
            aas.Entity(
                aas.EntityType.SELF_MANAGED_ENTITY,
                id_short="EntryNode",
                global_asset_id="https://x.example/a",
                statements=statements,
            )
        ],
    )
    shells = [
        aas.AssetAdministrationShell(
            f"https://x.example/aas/{n}",
            asset_information=aas.AssetInformation(
                aas.AssetKind.INSTANCE, global_asset_id=f"https://x.example/{n}"
            ),
            submodels=[ref((aas.KeyTypes.SUBMODEL, bom))] if n == "a" else None,
        )
        for n in ("a", "b")
    ]
    path = tmp_path / "env.json"
    path.write_text(json.dumps(aas_json.to_jsonable(aas.Environment(shells, [submodel]))))
    out = mapped(path)
    a, b, frame = (asset_twin_id(f"https://x.example/{n}") for n in ("a", "b", "frame"))
    assert [(r.source, r.target, r.properties["quantity"]) for r in out.relationships.values()] == [
        (a, frame, 1.0)
    ]
    assert out.twins[a].properties["sameAs"] == [{"twinId": b, "reference": "https://x.example/aas/b"}]
    assert set(out.placeholders) == {frame}
