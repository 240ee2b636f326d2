"""Build the sample supplier packages of this folder from aas-core3.0 objects (run from the repository root).

    .venv/bin/python aas/build_samples.py

Acme Drives GmbH delivers a pump and its motor:

* ``acme-pump.aasx``: the pump P-100 (a type asset) as an AASX package with an XML spec part, a thumbnail
  and a supplementary manual: Digital Nameplate 3.0, Contact Information, Technical Data (units in concept
  descriptions), Carbon Footprint, a bill of material (Hierarchical Structures: the motor and two impellers,
  with BulkCount), Asset Interfaces Description (MQTT and HTTP) and its Mapping Configuration, and a
  maintenance submodel of no known template.
* ``acme-motor.json``: the motor M-20 as AAS JSON, with its nameplate (the same manufacturer, so the same
  Supplier twin) and technical data.

Both verify without a single constraint violation; the script checks that before it writes.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import aas_core3.jsonization as aas_json
import aas_core3.types as aas
import aas_core3.verification as aas_verification
import aas_core3.xmlization as aas_xml

HERE = Path(__file__).resolve().parent
ACME = "https://acme-drives.example/ids"
PUMP_ASSET = f"{ACME}/asset/pump-p100"
MOTOR_ASSET = f"{ACME}/asset/motor-m20"
IMPELLER_ASSET = f"{ACME}/asset/impeller-i7"
STRING = aas.DataTypeDefXSD.STRING
DOUBLE = aas.DataTypeDefXSD.DOUBLE


def ext(value: str) -> aas.Reference:
    return aas.Reference(
        aas.ReferenceTypes.EXTERNAL_REFERENCE, [aas.Key(aas.KeyTypes.GLOBAL_REFERENCE, value)]
    )


def model_ref(submodel: str, *path: tuple[aas.KeyTypes, str]) -> aas.Reference:
    keys = [aas.Key(aas.KeyTypes.SUBMODEL, submodel), *(aas.Key(k, v) for k, v in path)]
    return aas.Reference(aas.ReferenceTypes.MODEL_REFERENCE, keys)


def prop(id_short: str | None, value: str, semantic: str | None = None, kind=STRING) -> aas.Property:
    return aas.Property(kind, id_short=id_short, value=value, semantic_id=ext(semantic) if semantic else None)


def mlp(id_short: str, text: str, semantic: str | None = None) -> aas.MultiLanguageProperty:
    return aas.MultiLanguageProperty(
        id_short=id_short,
        value=[aas.LangStringTextType("en", text)],
        semantic_id=ext(semantic) if semantic else None,
    )


def smc(
    id_short: str | None, items: list, semantic: str | None = None, supplemental=None
) -> aas.SubmodelElementCollection:
    return aas.SubmodelElementCollection(
        id_short=id_short,
        value=items,
        semantic_id=ext(semantic) if semantic else None,
        supplemental_semantic_ids=[ext(s) for s in supplemental] if supplemental else None,
    )


def submodel(id_: str, id_short: str, semantic: str, elements: list) -> aas.Submodel:
    return aas.Submodel(id_, id_short=id_short, semantic_id=ext(semantic), submodel_elements=elements)


def unit_description(id_: str, name: str, unit: str) -> aas.ConceptDescription:
    content = aas.DataSpecificationIEC61360(
        preferred_name=[aas.LangStringPreferredNameTypeIEC61360("en", name)],
        unit=unit,
        definition=[aas.LangStringDefinitionTypeIEC61360("en", f"The {name} of the asset.")],
    )
    spec = aas.EmbeddedDataSpecification(
        ext("https://admin-shell.io/DataSpecificationTemplates/DataSpecificationIec61360/3/0"), content
    )
    return aas.ConceptDescription(id_, embedded_data_specifications=[spec])


def nameplate(id_: str, designation: str, article: str, serial: str) -> aas.Submodel:
    address = smc(
        "AddressInformation",
        [
            mlp("Street", "Industriestrasse 7"),
            mlp("Zipcode", "70173"),
            mlp("CityTown", "Stuttgart"),
            mlp("NationalCode", "DE"),
        ],
        "https://admin-shell.io/zvei/nameplate/1/0/ContactInformations/AddressInformation",
    )
    return submodel(
        id_,
        "Nameplate",
        "https://admin-shell.io/idta/nameplate/3/0/Nameplate",
        [
            prop(
                "URIOfTheProduct",
                f"https://acme-drives.example/products/{article}",
                "0112/2///61987#ABN590#002",
            ),
            mlp("ManufacturerName", "Acme Drives GmbH", "0112/2///61987#ABA565#009"),
            mlp("ManufacturerProductDesignation", designation, "0112/2///61987#ABA567#009"),
            address,
            mlp("ManufacturerProductFamily", "Acme process line", "0112/2///61987#ABP464#002"),
            prop("ProductArticleNumberOfManufacturer", article, "0112/2///61987#ABA581#007"),
            prop("SerialNumber", serial, "0112/2///61987#ABA951#009"),
            prop("YearOfConstruction", "2025", "0112/2///61987#ABP000#002"),
            prop("CountryOfOrigin", "DE", "0112/2///61987#ABP462#001"),
        ],
    )


def technical_data(id_: str, values: list[tuple[str, str, str]]) -> aas.Submodel:
    properties = [prop(name, value, semantic, DOUBLE) for name, value, semantic in values]
    return submodel(
        id_,
        "TechnicalData",
        "https://admin-shell.io/ZVEI/TechnicalData/Submodel/1/2",
        [
            smc("GeneralInformation", [mlp("ManufacturerName", "Acme Drives GmbH", "0173-1#02-AAO677#002")]),
            smc(
                "TechnicalProperties",
                properties,
                "https://admin-shell.io/ZVEI/TechnicalData/TechnicalProperties/1/1",
            ),
        ],
    )


def pump_environment() -> aas.Environment:
    sm = f"{ACME}/sm/pump-p100"
    bom_id = f"{sm}/bom"
    aid_id = f"{sm}/interfaces"
    contact = submodel(
        f"{sm}/contacts",
        "ContactInformations",
        "https://admin-shell.io/zvei/nameplate/1/0/ContactInformations",
        [
            smc(
                "ContactInformation",
                [
                    prop("RoleOfContactPerson", "0173-1#07-AAS927#001"),
                    mlp("NationalCode", "DE"),
                    mlp("CityTown", "Stuttgart"),
                    mlp("Company", "Acme Drives GmbH"),
                    mlp("Department", "Customer service"),
                    smc("Email", [prop("EmailAddress", "service@acme-drives.example")]),
                    smc("Phone", [mlp("TelephoneNumber", "+49 711 555 0100")]),
                    mlp("Street", "Industriestrasse 7"),
                    mlp("Zipcode", "70173"),
                    mlp("NameOfContact", "Berger"),
                    mlp("FirstName", "Anna"),
                ],
                "https://admin-shell.io/zvei/nameplate/1/0/ContactInformations/ContactInformation",
            )
        ],
    )
    footprint = submodel(
        f"{sm}/carbon-footprint",
        "CarbonFootprint",
        "https://admin-shell.io/idta/CarbonFootprint/CarbonFootprint/1/0",
        [
            aas.SubmodelElementList(
                aas.AASSubmodelElements.SUBMODEL_ELEMENT_COLLECTION,
                id_short="ProductCarbonFootprints",
                value=[
                    smc(
                        None,
                        [
                            prop("PcfCalculationMethod", "GHG Protocol"),
                            prop("PcfCO2eq", "182.5", kind=DOUBLE),
                            prop("ReferenceImpactUnitForCalculation", "piece"),
                            prop("QuantityOfMeasureForCalculation", "1", kind=DOUBLE),
                            prop("LifeCyclePhases", "A1-A3"),
                            prop("PublicationDate", "2025-06-01"),
                        ],
                    )
                ],
            )
        ],
    )

    def node(id_short: str, asset: str, count: str | None, *children) -> aas.Entity:
        statements = list(children)
        if count is not None:
            statements.append(
                prop(
                    "BulkCount",
                    count,
                    "https://admin-shell.io/idta/HierarchicalStructures/BulkCount/1/0",
                    aas.DataTypeDefXSD.UNSIGNED_LONG,
                )
            )
        return aas.Entity(
            aas.EntityType.SELF_MANAGED_ENTITY,
            id_short=id_short,
            global_asset_id=asset,
            statements=statements or None,
            semantic_id=ext("https://admin-shell.io/idta/HierarchicalStructures/Node/1/0"),
        )

    def has_part(child: str) -> aas.RelationshipElement:
        entry = (aas.KeyTypes.ENTITY, "EntryNode")
        return aas.RelationshipElement(
            model_ref(bom_id, entry),
            model_ref(bom_id, entry, (aas.KeyTypes.ENTITY, child)),
            id_short=f"HasPart_{child}",
            semantic_id=ext("https://admin-shell.io/idta/HierarchicalStructures/HasPart/1/0"),
        )

    entry = aas.Entity(
        aas.EntityType.SELF_MANAGED_ENTITY,
        id_short="EntryNode",
        global_asset_id=PUMP_ASSET,
        semantic_id=ext("https://admin-shell.io/idta/HierarchicalStructures/EntryNode/1/0"),
        statements=[
            node("Motor", MOTOR_ASSET, "1"),
            node("Impeller", IMPELLER_ASSET, "2"),
            has_part("Motor"),
            has_part("Impeller"),
        ],
    )
    bom = submodel(
        bom_id,
        "HierarchicalStructures",
        "https://admin-shell.io/idta/HierarchicalStructures/1/1/Submodel",
        [
            entry,
            prop("ArcheType", "OneDown", "https://admin-shell.io/idta/HierarchicalStructures/ArcheType/1/0"),
        ],
    )

    def point(name: str, unit: str, href: str, extra: list) -> aas.SubmodelElementCollection:
        return smc(
            name,
            [
                prop("type", "number", "https://www.w3.org/1999/02/22-rdf-syntax-ns#type"),
                prop("title", name, "https://www.w3.org/2019/wot/td#title"),
                prop("unit", unit, "https://schema.org/unitCode"),
                prop("observable", "true", "https://www.w3.org/2019/wot/td#isObservable"),
                smc(
                    "forms",
                    [prop("href", href, "https://www.w3.org/2019/wot/hypermedia#hasTarget"), *extra],
                    "https://www.w3.org/2019/wot/td#hasForm",
                ),
            ],
            "https://admin-shell.io/idta/AssetInterfacesDescription/1/0/PropertyDefinition",
        )

    def interface(name: str, protocol: str, base: str, points: list) -> aas.SubmodelElementCollection:
        return smc(
            name,
            [
                prop("title", "Pump P-100", "https://www.w3.org/2019/wot/td#title"),
                smc(
                    "EndpointMetadata",
                    [
                        prop("base", base, "https://www.w3.org/2019/wot/td#baseURI"),
                        prop(
                            "contentType",
                            "application/json",
                            "https://www.w3.org/2019/wot/hypermedia#forContentType",
                        ),
                    ],
                    "https://admin-shell.io/idta/AssetInterfacesDescription/1/0/EndpointMetadata",
                ),
                smc(
                    "InteractionMetadata",
                    [smc("properties", points, "https://www.w3.org/2019/wot/td#PropertyAffordance")],
                    "https://admin-shell.io/idta/AssetInterfacesDescription/1/0/InteractionMetadata",
                ),
            ],
            "https://admin-shell.io/idta/AssetInterfacesDescription/1/0/Interface",
            [protocol],
        )

    mqtt = [prop("mqv_controlPacket", "subscribe", "https://www.w3.org/2019/wot/mqtt#hasControlPacket")]
    http = [prop("htv_methodName", "GET", "https://www.w3.org/2011/http#methodName")]
    aid = submodel(
        aid_id,
        "AssetInterfacesDescription",
        "https://admin-shell.io/idta/AssetInterfacesDescription/1/0/Submodel",
        [
            interface(
                "InterfaceMQTT",
                "http://www.w3.org/2011/mqtt",
                "mqtt://broker.acme-drives.example:1883",
                [
                    point("flow", "m3/h", "pumps/p100/flow", mqtt),
                    point("pressure", "bar", "pumps/p100/pressure", mqtt),
                ],
            ),
            interface(
                "InterfaceHTTP",
                "http://www.w3.org/2011/http",
                "https://p100.acme-drives.example/api",
                [point("temperature", "Cel", "/properties/temperature", http)],
            ),
        ],
    )
    aid_point = (
        (aas.KeyTypes.SUBMODEL_ELEMENT_COLLECTION, "InterfaceMQTT"),
        (aas.KeyTypes.SUBMODEL_ELEMENT_COLLECTION, "InteractionMetadata"),
        (aas.KeyTypes.SUBMODEL_ELEMENT_COLLECTION, "properties"),
    )
    aimc = submodel(
        f"{sm}/interface-mapping",
        "AssetInterfacesMappingConfiguration",
        "https://admin-shell.io/idta/AssetInterfacesMappingConfiguration/1/0/Submodel",
        [
            aas.SubmodelElementList(
                aas.AASSubmodelElements.SUBMODEL_ELEMENT_COLLECTION,
                id_short="MappingConfigurations",
                value=[
                    smc(
                        None,
                        [
                            aas.ReferenceElement(
                                id_short="InterfaceReference",
                                value=model_ref(aid_id, aid_point[0]),
                            ),
                            aas.SubmodelElementList(
                                aas.AASSubmodelElements.RELATIONSHIP_ELEMENT,
                                id_short="MappingSourceSinkRelations",
                                value=[
                                    aas.RelationshipElement(
                                        model_ref(
                                            aid_id,
                                            *aid_point,
                                            (aas.KeyTypes.SUBMODEL_ELEMENT_COLLECTION, "flow"),
                                        ),
                                        model_ref(f"{sm}/operational-data", (aas.KeyTypes.PROPERTY, "Flow")),
                                    )
                                ],
                            ),
                        ],
                    )
                ],
            )
        ],
    )
    maintenance = submodel(
        f"{sm}/maintenance",
        "Maintenance",
        "https://acme-drives.example/semantics/maintenance/1/0",
        [
            prop(
                "IntervalHours", "4000", "https://acme-drives.example/semantics/maintenance/interval", DOUBLE
            ),
            mlp("Instructions", "Replace the mechanical seal every second interval."),
        ],
    )
    submodels = [
        nameplate(f"{sm}/nameplate", "Centrifugal pump P-100", "P-100", "P100-2025-0042"),
        contact,
        technical_data(
            f"{sm}/technical-data",
            [("RatedFlow", "120", "0173-1#02-AAB414#005"), ("RatedPower", "15", "0173-1#02-AAB381#005")],
        ),
        footprint,
        bom,
        aid,
        aimc,
        maintenance,
    ]
    shell = aas.AssetAdministrationShell(
        f"{ACME}/aas/pump-p100",
        id_short="PumpP100",
        asset_information=aas.AssetInformation(
            aas.AssetKind.TYPE,
            global_asset_id=PUMP_ASSET,
            specific_asset_ids=[aas.SpecificAssetID("partNumber", "P-100")],
            default_thumbnail=aas.Resource("/aasx/files/pump.png", "image/png"),
        ),
        submodels=[
            aas.Reference(aas.ReferenceTypes.MODEL_REFERENCE, [aas.Key(aas.KeyTypes.SUBMODEL, s.id)])
            for s in submodels
        ],
    )
    descriptions = [
        unit_description("0173-1#02-AAB414#005", "rated flow", "m3/h"),
        unit_description("0173-1#02-AAB381#005", "rated power", "kW"),
    ]
    return aas.Environment([shell], submodels, descriptions)


def motor_environment() -> aas.Environment:
    sm = f"{ACME}/sm/motor-m20"
    submodels = [
        nameplate(f"{sm}/nameplate", "Induction motor M-20", "M-20", "M20-2025-0815"),
        technical_data(f"{sm}/technical-data", [("RatedPower", "15", "0173-1#02-AAB381#005")]),
    ]
    shell = aas.AssetAdministrationShell(
        f"{ACME}/aas/motor-m20",
        id_short="MotorM20",
        asset_information=aas.AssetInformation(aas.AssetKind.TYPE, global_asset_id=MOTOR_ASSET),
        submodels=[
            aas.Reference(aas.ReferenceTypes.MODEL_REFERENCE, [aas.Key(aas.KeyTypes.SUBMODEL, s.id)])
            for s in submodels
        ],
    )
    return aas.Environment(
        [shell], submodels, [unit_description("0173-1#02-AAB381#005", "rated power", "kW")]
    )


def rels(*relationships: tuple[str, str]) -> bytes:
    body = "".join(
        f'<Relationship Type="{t}" Target="{target}" Id="r{i}"/>'
        for i, (t, target) in enumerate(relationships)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{body}</Relationships>'
    ).encode()


def aasx(environment: aas.Environment, files: dict[str, tuple[str, bytes]]) -> bytes:
    """An AASX package: the environment as /aasx/data.xml, ``files`` (name -> (relationship, bytes))."""
    rel = "http://admin-shell.io/aasx/relationships/"
    thumbnail = "http://schemas.openxmlformats.org/package/2006/relationships/metadata/thumbnail"
    types = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Default Extension="png" ContentType="image/png"/>'
        '<Default Extension="pdf" ContentType="application/pdf"/>'
        '<Override PartName="/aasx/aasx-origin" ContentType="text/plain"/>'
        "</Types>"
    )
    root = [(rel + "aasx-origin", "/aasx/aasx-origin")]
    root += [(thumbnail, "/" + name) for name, (kind, _) in files.items() if kind == "thumbnail"]
    suppl = [(rel + "aas-suppl", "/" + name) for name, (kind, _) in files.items() if kind == "supplementary"]
    parts = {
        "[Content_Types].xml": types.encode(),
        "_rels/.rels": rels(*root),
        "aasx/aasx-origin": b"Intentionally empty.",
        "aasx/_rels/aasx-origin.rels": rels((rel + "aas-spec", "/aasx/data.xml")),
        "aasx/data.xml": aas_xml.to_str(environment).encode(),
        "aasx/_rels/data.xml.rels": rels(*suppl),
        **{name: data for name, (_, data) in files.items()},
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(
                zipfile.ZipInfo(name, date_time=(2025, 6, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED
            )
    return buffer.getvalue()


def _png() -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x20\x60\xa0"))
        + chunk(b"IEND", b"")
    )


def main(folder: Path = HERE) -> None:
    pump, motor = pump_environment(), motor_environment()
    for name, env in (("pump", pump), ("motor", motor)):
        errors = [f"{e.path}: {e.cause}" for e in aas_verification.verify(env)]
        if errors:
            raise SystemExit(f"the {name} sample violates constraints:\n" + "\n".join(errors))
    manual = b"%PDF-1.4\n% Acme P-100 operating manual (sample)\n%%EOF\n"
    files = {"aasx/files/pump.png": ("thumbnail", _png()), "aasx/files/manual.pdf": ("supplementary", manual)}
    (folder / "acme-pump.aasx").write_bytes(aasx(pump, files))
    (folder / "acme-motor.json").write_text(
        json.dumps(aas_json.to_jsonable(motor), indent=2) + "\n", encoding="utf-8"
    )
    print(f"wrote {folder / 'acme-pump.aasx'} and {folder / 'acme-motor.json'}")


if __name__ == "__main__":
    main()
