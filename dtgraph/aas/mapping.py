"""Mapping AAS environments (as aas-core writes them in AAS JSON) to twins and relationships of the graph.

The twins use the shipped model library (``dtdl/``)::

    shell + its asset          -> AssetAdministrationShell twin (extends Part), id from its globalAssetId
    Digital Nameplate          -> manufacturer, serialNumber, nameplate {...}; the manufacturer as a
                                  Supplier twin (id from its name, shared across packages) that supplies it
    Contact Information        -> contacts [...] (and the nameplate's address)
    Technical Data             -> technicalData [{path, semanticId, value, valueType, unit}]
    Carbon Footprint           -> carbonFootprint [{kind, co2eq, ...}]
    Hierarchical Structures    -> hasPart edges (quantity from BulkCount), parts without a shell in the
    (bill of material)            import as placeholder twins; SameAs -> sameAs [{twinId, reference}]
    Asset Interfaces Descr.    -> telemetryBindings [{protocol, endpoint, href/topic, dataPoint, unit, sink}]
    + Mapping Configuration
    every submodel             -> submodels [{id, semanticId, template, elements [...], json}]: kept whole
    package files              -> files [{name, contentType, size, sha256, role}]

Twin ids are stable: ``aas-`` and a hash of the globalAssetId (the shell id when there is none), so that a
re-import of the same shell, or a bill of material of another shell naming the same asset, reaches the same
twin. This module is pure: it reads nothing and writes nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from dtgraph.aas.errors import AasIssue
from dtgraph.aas.package import Blob
from dtgraph.aas.reader import AasDocument
from dtgraph.graph.records import Relationship, Twin

__all__ = [
    "SHELL_MODEL",
    "SUPPLIER_MODEL",
    "Mapped",
    "asset_twin_id",
    "map_documents",
    "supplier_twin_id",
]

SHELL_MODEL = "dtmi:dtgraph:AssetAdministrationShell;1"
SUPPLIER_MODEL = "dtmi:dtgraph:Supplier;1"
Json = dict[str, Any]

_TEMPLATES = (  # (template, words of the submodel's semanticId, lower case): first match wins
    ("contactInformation", ("contactinformation",)),
    ("nameplate", ("nameplate",)),
    ("technicalData", ("technicaldata", "0173-1#01-ahx837")),  # the IRDI of Technical Data 2.0
    ("carbonFootprint", ("carbonfootprint",)),
    ("billOfMaterial", ("hierarchicalstructures",)),
    ("interfacesMapping", ("assetinterfacesmappingconfiguration",)),
    ("interfacesDescription", ("assetinterfacesdescription",)),
)
_PLACEHOLDERS = ("intentionallyempty", "/placeholder/")
_LEAVES = {"Property", "MultiLanguageProperty", "Range", "File", "Blob", "ReferenceElement"}


@dataclass
class Mapped:
    """What an import would write. ``twins`` are replaced whole; ``placeholders`` (parts named only by a
    bill of material) are created when missing and never overwrite; ``suppliers`` are merged into an
    existing twin; ``owned`` are the shells whose hasPart edges this import replaces."""

    twins: dict[str, Twin] = field(default_factory=dict)
    placeholders: dict[str, Twin] = field(default_factory=dict)
    suppliers: dict[str, Twin] = field(default_factory=dict)
    relationships: dict[tuple[str, str], Relationship] = field(default_factory=dict)
    owned: set[str] = field(default_factory=set)
    warnings: list[AasIssue] = field(default_factory=list)


def asset_twin_id(global_id: str) -> str:
    """The twin id of the asset (or shell) with this global id."""
    return "aas-" + hashlib.sha256(global_id.encode("utf-8")).hexdigest()[:20]


def supplier_twin_id(name: str) -> str:
    """The twin id of a supplier by its name: the same manufacturer in two packages is one twin."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-")[:60]
    return "supplier-" + (slug or hashlib.sha256(name.encode("utf-8")).hexdigest()[:20])


def map_documents(
    inputs: Sequence[tuple[Sequence[AasDocument], Sequence[Blob]]], *, supplier: str | None = None
) -> Mapped:
    """Map the documents of several input files (each with its package's blobs) into one :class:`Mapped`.

    ``supplier`` is the twin id of the supplier delivering every shell (``--supplier``); without it, the
    manufacturer of each shell's nameplate is its supplier.
    """
    out = _Mapper(supplier)
    for documents, blobs in inputs:
        for document in documents:
            out.document(document, blobs)
    return out.result


class _Mapper:
    def __init__(self, supplier: str | None) -> None:
        self.supplier = supplier
        self.result = Mapped()
        self.shell_twins: dict[str, str] = {}  # shell id or globalAssetId -> twin id

    def warn(self, message: str, source: str, path: str = "") -> None:
        self.result.warnings.append(AasIssue("mapping", message, path, source))

    def document(self, document: AasDocument, blobs: Sequence[Blob]) -> None:
        env = document.jsonable
        submodels = {str(s.get("id")): s for s in env.get("submodels") or []}
        units = _units(env.get("conceptDescriptions") or [])
        shells = env.get("assetAdministrationShells") or []
        for shell in shells:
            info = shell.get("assetInformation") or {}
            key = str(info.get("globalAssetId") or shell["id"])
            self.shell_twins[str(shell["id"])] = self.shell_twins[key] = asset_twin_id(key)
        used: set[str] = set()
        for index, shell in enumerate(shells):
            refs = [_first(r) for r in shell.get("submodels") or []]
            mine = [submodels[r] for r in refs if r in submodels]
            used.update(r for r in refs if r in submodels)
            for ref in refs:
                if ref not in submodels:
                    self.warn(f"the submodel {ref} is not in this file", document.source, f"shells[{index}]")
            if len(shells) == 1:  # a lone shell also takes the submodels nobody references
                mine += [s for i, s in submodels.items() if i not in used]
                used.update(submodels)
            self.shell(shell, mine, units, document, blobs)
        for sid in submodels:
            if sid not in used:
                self.warn(
                    f"the submodel {sid} belongs to no shell of this file: not imported", document.source
                )
        if not shells:
            self.warn("the file has no Asset Administration Shell: nothing to import", document.source)

    def shell(
        self,
        shell: Json,
        submodels: list[Json],
        units: Mapping[str, str],
        doc: AasDocument,
        blobs: Sequence[Blob],
    ) -> None:
        info = shell.get("assetInformation") or {}
        global_id = str(info.get("globalAssetId") or shell["id"])
        twin_id = asset_twin_id(global_id)
        props: Json = {
            "name": _lang(shell.get("displayName")) or shell.get("idShort") or shell["id"],
            "description": _lang(shell.get("description")),
            "shellId": shell["id"],
            "idShort": shell.get("idShort"),
            "globalAssetId": info.get("globalAssetId"),
            "assetKind": info.get("assetKind"),
            "assetType": info.get("assetType"),
            "specificAssetIds": [
                {"name": s.get("name"), "value": s.get("value")} for s in info.get("specificAssetIds") or []
            ],
            "metamodel": doc.metamodel,
            "source": doc.source,
            "files": [b.as_json() for b in blobs],
        }
        kept: list[Json] = []
        for submodel in submodels:
            template = _template(submodel)
            rows = list(_rows(submodel.get("submodelElements") or [], "", units))
            kept.append(
                {
                    "id": submodel.get("id"),
                    "idShort": submodel.get("idShort"),
                    "semanticId": _first(submodel.get("semanticId")),
                    "template": template,
                    "elements": rows,
                    "json": json.dumps(submodel, ensure_ascii=False, sort_keys=True),
                }
            )
            elements = submodel.get("submodelElements") or []
            if template == "nameplate":
                self.nameplate(elements, props, twin_id, doc.source)
            elif template == "contactInformation":
                props.setdefault("contacts", []).extend(_contacts(elements))
            elif template == "technicalData":
                props.setdefault("technicalData", []).extend(r for r in rows if r.get("value"))
            elif template == "carbonFootprint":
                props.setdefault("carbonFootprint", []).extend(_footprints(elements))
            elif template == "billOfMaterial":
                self.bill_of_material(submodel, twin_id, global_id, props, doc.source)
        props["submodels"] = kept
        bindings = _bindings(submodels)
        if bindings:
            props["telemetryBindings"] = bindings
        if self.supplier is not None:
            self.supplies(self.supplier, None, twin_id)
        self.result.twins[twin_id] = Twin(twin_id, SHELL_MODEL, _clean(props))
        self.result.placeholders.pop(twin_id, None)
        self.result.owned.add(twin_id)

    # --- nameplate and supplier ------------------------------------------------------------------------

    def nameplate(self, elements: list[Json], props: Json, twin_id: str, source: str) -> None:
        values = {e.get("idShort"): e for e in elements}
        text = {k: _value_text(v) for k, v in values.items() if isinstance(k, str)}
        plate = {
            "manufacturerName": text.get("ManufacturerName"),
            "productDesignation": text.get("ManufacturerProductDesignation"),
            "productFamily": text.get("ManufacturerProductFamily"),
            "productType": text.get("ManufacturerProductType"),
            "orderCode": text.get("OrderCodeOfManufacturer"),
            "articleNumber": text.get("ProductArticleNumberOfManufacturer"),
            "serialNumber": text.get("SerialNumber"),
            "yearOfConstruction": text.get("YearOfConstruction"),
            "dateOfManufacture": text.get("DateOfManufacture"),
            "hardwareVersion": text.get("HardwareVersion"),
            "firmwareVersion": text.get("FirmwareVersion"),
            "softwareVersion": text.get("SoftwareVersion"),
            "countryOfOrigin": text.get("CountryOfOrigin"),
            "productUri": text.get("URIOfTheProduct") or text.get("URIOfTheProduct".lower()),
        }
        props["nameplate"] = plate
        name = plate["manufacturerName"]
        props["manufacturer"] = name
        props["serialNumber"] = plate["serialNumber"]
        if plate["productDesignation"]:
            props["name"] = plate["productDesignation"]
        if plate["articleNumber"] or plate["orderCode"]:
            props["partNumber"] = plate["articleNumber"] or plate["orderCode"]
        address = values.get("AddressInformation") or values.get("PhysicalAddress")
        contact = _contact(address) if isinstance(address, dict) else {}
        if contact:
            props.setdefault("contacts", []).append({"role": "manufacturer", **contact})
        if self.supplier is None:
            if not name:
                self.warn("the nameplate names no manufacturer: no supplier", source)
                return
            self.supplies(
                supplier_twin_id(name), {"name": name, "legalName": name, **_location(contact)}, twin_id
            )
        elif name:
            self.supplies(self.supplier, {"name": name, "legalName": name, **_location(contact)}, twin_id)

    def supplies(self, supplier_id: str, props: Json | None, twin_id: str) -> None:
        known = self.result.suppliers.get(supplier_id)
        merged = {**(props or {}), **(dict(known.properties) if known else {})}
        self.result.suppliers[supplier_id] = Twin(supplier_id, SUPPLIER_MODEL, _clean(merged))
        rel = Relationship(f"supplies-{twin_id}", supplier_id, twin_id, "supplies")
        self.result.relationships[rel.key] = rel

    # --- bill of material ----------------------------------------------------------------------------

    def bill_of_material(
        self, submodel: Json, shell_twin: str, global_id: str, props: Json, source: str
    ) -> None:
        elements = submodel.get("submodelElements") or []
        arche = next((_value_text(e) for e in elements if e.get("idShort") == "ArcheType"), None) or "Full"
        nodes: dict[str, Json] = {}  # idShort path -> entity
        for path, entity in _entities(elements, ""):
            nodes[path] = entity
        if not nodes:
            return
        entry = next(iter(nodes))

        def twin_of(path: str) -> str | None:
            entity = nodes[path]
            gid = entity.get("globalAssetId")
            if path == entry and (not gid or gid == global_id or _placeholder(str(gid))):
                return shell_twin
            if not gid:
                return asset_twin_id(f"{submodel.get('id')}#{path}")
            if _placeholder(str(gid)):
                return None
            if gid == global_id:
                return shell_twin
            twin_id = self.shell_twins.get(str(gid), asset_twin_id(str(gid)))
            if twin_id not in self.result.twins:
                name = entity.get("idShort") or str(gid)
                self.result.placeholders.setdefault(
                    twin_id, Twin(twin_id, SHELL_MODEL, {"name": name, "globalAssetId": gid})
                )
            return twin_id

        edges: list[tuple[str, str]] = []  # (parent path, child path)
        relations = list(_relations(elements, ""))
        for kind, first, second, where in relations:
            a, b = self.node_path(first, nodes), self.node_path(second, nodes)
            if kind == "SameAs":
                if a is not None and (target := self.reference_twin(second)) is not None:
                    twin = twin_of(a)
                    if twin == shell_twin:
                        entry_ref = {"twinId": target, "reference": _ref_text(second)}
                        props.setdefault("sameAs", []).append(entry_ref)
                continue
            if a is None or b is None:
                if not any(_placeholder(k) for k in _key_values(first) + _key_values(second)):
                    self.warn(f"the {kind} relationship names no node of the structure", source, where)
                continue
            edges.append((a, b) if kind == "HasPart" else (b, a))
        if not any(kind in ("HasPart", "IsPartOf") for kind, *_ in relations):
            for path in nodes:  # no explicit relationships: the nesting of the entities is the structure
                parent = path.rsplit(".", 1)[0] if "." in path else None
                if parent in nodes:
                    edges.append((path, parent) if arche == "OneUp" else (parent, path))
        for parent_path, child_path in edges:
            parent, child = twin_of(parent_path), twin_of(child_path)
            if parent is None or child is None or parent == child:
                continue
            quantity = _bulk_count(nodes[child_path])
            rel = Relationship(
                f"hasPart-{child}",
                parent,
                child,
                "hasPart",
                {"quantity": quantity, "archeType": arche, "declaredBy": shell_twin},
            )
            self.result.relationships[rel.key] = rel

    def node_path(self, reference: Any, nodes: Mapping[str, Json]) -> str | None:
        keys = (reference or {}).get("keys") or []
        path = ".".join(str(k.get("value")) for k in keys if k.get("type") not in ("Submodel",))
        if path in nodes:
            return path
        for candidate, entity in nodes.items():  # a global reference to a node's asset
            if keys and entity.get("globalAssetId") == keys[-1].get("value"):
                return candidate
        return None

    def reference_twin(self, reference: Any) -> str | None:
        values = [v for v in _key_values(reference) if not _placeholder(v)]
        if not values:
            return None
        for value in values:
            if value in self.shell_twins:
                return self.shell_twins[value]
        return asset_twin_id(values[0])


# --- submodel elements as rows ------------------------------------------------------------------------


def _rows(elements: Iterable[Json], prefix: str, units: Mapping[str, str]) -> Iterator[Json]:
    for index, element in enumerate(elements):
        short = element.get("idShort")
        path = f"{prefix}.{short}" if prefix and short else (short or f"{prefix}[{index}]")
        semantic = _first(element.get("semanticId"))
        row = {
            "path": path,
            "modelType": element.get("modelType"),
            "semanticId": semantic,
            "value": _value_text(element),
            "valueType": element.get("valueType"),
            "unit": units.get(semantic or ""),
        }
        yield _clean(row)
        for child in _children(element):
            yield from _rows(child[1], path, units)


def _children(element: Json) -> list[tuple[str, list[Json]]]:
    kind = element.get("modelType")
    out: list[tuple[str, list[Json]]] = []
    if kind == "SubmodelElementCollection":
        out.append(("collection", element.get("value") or []))
    elif kind == "SubmodelElementList":
        out.append(("list", element.get("value") or []))
    elif kind == "Entity":
        out.append(("entity", element.get("statements") or []))
    elif kind == "AnnotatedRelationshipElement":
        out.append(("annotations", element.get("annotations") or []))
    elif kind == "Operation":
        for key in ("inputVariables", "outputVariables", "inoutputVariables"):
            out.append(("operation", [v["value"] for v in element.get(key) or [] if "value" in v]))
    return out


def _value_text(element: Json) -> str | None:
    kind = element.get("modelType")
    value = element.get("value")
    if kind == "Property":
        return str(value) if value is not None else None
    if kind == "MultiLanguageProperty":
        texts = value or []
        return (
            "; ".join(f"{t.get('language')}: {t.get('text')}" for t in texts)
            if len(texts) > 1
            else _lang(texts)
        )
    if kind == "Range":
        low, high = element.get("min"), element.get("max")
        return f"{low or ''}..{high or ''}" if low is not None or high is not None else None
    if kind == "File":
        return str(value) if value else None
    if kind == "ReferenceElement":
        return _ref_text(value)
    if kind in ("RelationshipElement", "AnnotatedRelationshipElement"):
        return f"{_ref_text(element.get('first'))} -> {_ref_text(element.get('second'))}"
    if kind == "Entity":
        return element.get("globalAssetId")
    return None


def _units(descriptions: Iterable[Json]) -> dict[str, str]:
    """Concept description id -> unit (IEC 61360 data specification)."""
    out: dict[str, str] = {}
    for description in descriptions:
        for spec in description.get("embeddedDataSpecifications") or []:
            unit = (spec.get("dataSpecificationContent") or {}).get("unit")
            if unit:
                out[str(description.get("id"))] = str(unit)
    return out


# --- templates ----------------------------------------------------------------------------------------


def _template(submodel: Json) -> str:
    semantic = (_first(submodel.get("semanticId")) or "").lower()
    for name, words in _TEMPLATES:
        if any(w in semantic for w in words):
            return name
    return "other"


def _contacts(elements: Iterable[Json]) -> list[Json]:
    out = []
    for element in elements:
        if element.get("modelType") == "SubmodelElementCollection":
            contact = _contact(element)
            if contact:
                out.append(contact)
    return out


def _contact(collection: Json) -> Json:
    values = {e.get("idShort"): e for e in collection.get("value") or []}

    def text(*names: str) -> str | None:
        for name in names:
            element = values.get(name)
            if element is not None:
                found = _value_text(element)
                if found:
                    return found
        return None

    def nested(name: str, inner: str) -> str | None:
        element = values.get(name)
        if element is None:
            return None
        for child in element.get("value") or []:
            if child.get("idShort") == inner:
                return _value_text(child)
        return None

    full = " ".join(p for p in (text("Title"), text("FirstName"), text("NameOfContact")) if p)
    contact: Json = _clean(
        {
            "role": text("RoleOfContactPerson"),
            "company": text("Company"),
            "department": text("Department"),
            "name": full or None,
            "email": nested("Email", "EmailAddress"),
            "phone": nested("Phone", "TelephoneNumber"),
            "street": text("Street"),
            "zipCode": text("Zipcode", "ZipCode"),
            "city": text("CityTown"),
            "country": text("NationalCode"),
            "language": text("Language"),
        }
    )
    return contact


def _location(contact: Json) -> Json:
    address = ", ".join(
        p
        for p in (
            contact.get("street"),
            " ".join(filter(None, (contact.get("zipCode"), contact.get("city")))),
        )
        if p
    )
    location = _clean({"address": address or None, "country": contact.get("country")})
    return {"location": location} if location else {}


def _footprints(elements: Iterable[Json]) -> list[Json]:
    out = []
    for collection in _collections(elements):
        children = {str(e.get("idShort") or ""): e for e in collection.get("value") or []}
        plain = {re.sub(r"^(pcf|tcf)", "", k, flags=re.IGNORECASE).lower(): v for k, v in children.items()}
        if "co2eq" not in plain:
            continue
        kind = "transport" if any(k.lower().startswith("tcf") for k in children) else "product"

        def text(*names: str, plain: Mapping[str, Json] = plain) -> str | None:
            for name in names:
                element = plain.get(name.lower())
                if element is None:
                    continue
                if element.get("modelType") == "SubmodelElementList":
                    items = [_value_text(i) for i in element.get("value") or []]
                    joined = ", ".join(i for i in items if i)
                    if joined:
                        return joined
                elif (found := _value_text(element)) is not None:
                    return found
            return None

        out.append(
            _clean(
                {
                    "kind": kind,
                    "calculationMethods": text("CalculationMethods", "CalculationMethod"),
                    "co2eq": _number(text("CO2eq")),
                    "referenceUnit": text(
                        "ReferenceImpactUnitForCalculation", "ReferenceValueForCalculation"
                    ),
                    "quantity": _number(text("QuantityOfMeasureForCalculation")),
                    "lifeCyclePhases": text(
                        "LifeCyclePhases",
                        "LifeCyclePhase",
                        "ProcessesForGreenhouseGasEmissionInATransportService",
                    ),
                    "publicationDate": text("PublicationDate"),
                    "expirationDate": text("ExpirationDate"),
                }
            )
        )
    return out


def _collections(elements: Iterable[Json]) -> Iterator[Json]:
    for element in elements:
        if element.get("modelType") == "SubmodelElementCollection":
            yield element
        for _, children in _children(element):
            yield from _collections(children)


def _entities(elements: Iterable[Json], prefix: str) -> Iterator[tuple[str, Json]]:
    for element in elements:
        if element.get("modelType") != "Entity":
            continue
        path = f"{prefix}.{element.get('idShort')}" if prefix else str(element.get("idShort"))
        yield path, element
        yield from _entities(element.get("statements") or [], path)


def _relations(elements: Iterable[Json], prefix: str) -> Iterator[tuple[str, Any, Any, str]]:
    """(HasPart | IsPartOf | SameAs, first, second, path) of a structure's relationship elements."""
    for element in elements:
        short = str(element.get("idShort") or "")
        path = f"{prefix}.{short}" if prefix else short
        if element.get("modelType") in ("RelationshipElement", "AnnotatedRelationshipElement"):
            semantic = (_first(element.get("semanticId")) or "").lower()
            for kind in ("HasPart", "IsPartOf", "SameAs"):
                if kind.lower() in semantic or short.lower().startswith(kind.lower()):
                    yield kind, element.get("first"), element.get("second"), path
                    break
        elif element.get("modelType") == "Entity":
            yield from _relations(element.get("statements") or [], path)


def _bulk_count(entity: Json) -> float:
    for statement in entity.get("statements") or []:
        if (
            statement.get("idShort") == "BulkCount"
            or "bulkcount" in (_first(statement.get("semanticId")) or "").lower()
        ):
            number = _number(_value_text(statement))
            if number is not None:
                return number
    return 1.0


# --- Asset Interfaces Description and Mapping Configuration -------------------------------------------


_PROTOCOLS = (
    ("mqtt", "mqtt"),
    ("modbus", "modbus"),
    ("opcua", "opcua"),
    ("/ua/", "opcua"),
    ("bacnet", "bacnet"),
    ("http", "http"),
)


def _bindings(submodels: Sequence[Json]) -> list[Json]:
    sinks: dict[tuple[str, str], str] = {}
    for submodel in submodels:
        if _template(submodel) != "interfacesMapping":
            continue
        for collection in _collections(submodel.get("submodelElements") or []):
            for element in collection.get("value") or []:
                if element.get("modelType") != "SubmodelElementList":
                    continue
                for relation in element.get("value") or []:
                    source = _key_values(relation.get("first"))
                    if len(source) >= 3:
                        sinks[(source[1], source[-1])] = "/".join(_key_values(relation.get("second")))
    out: list[Json] = []
    for submodel in submodels:
        if _template(submodel) != "interfacesDescription":
            continue
        for interface in submodel.get("submodelElements") or []:
            if interface.get("modelType") == "SubmodelElementCollection":
                out.extend(_interface_bindings(interface, sinks))
    return out


def _interface_bindings(interface: Json, sinks: Mapping[tuple[str, str], str]) -> Iterator[Json]:
    name = str(interface.get("idShort"))
    values = {str(e.get("idShort") or "").lower(): e for e in interface.get("value") or []}
    endpoint = {
        str(e.get("idShort") or "").lower(): e
        for e in (values.get("endpointmetadata") or {}).get("value") or []
    }
    base = _value_text(endpoint["base"]) if "base" in endpoint else None
    hints = " ".join(
        _key_values(s)[0] for s in interface.get("supplementalSemanticIds") or [] if _key_values(s)
    )
    hints = (hints + " " + (base or "").split(":", 1)[0]).lower()
    protocol = next((p for word, p in _PROTOCOLS if word in hints), None)
    metadata = values.get("interactionmetadata") or values.get("interfacemetadata") or {}
    for group in metadata.get("value") or []:
        if str(group.get("idShort") or "").lower() not in ("properties", "events"):
            continue
        for point in group.get("value") or []:
            fields = {str(e.get("idShort") or ""): e for e in point.get("value") or []}
            forms = {str(e.get("idShort") or ""): e for e in (fields.get("forms") or {}).get("value") or []}
            key = _value_text(fields["key"]) if "key" in fields else None
            data_point = key or str(point.get("idShort"))
            href = _value_text(forms["href"]) if "href" in forms else None
            method = next(
                (
                    _value_text(forms[m])
                    for m in ("htv_methodName", "mqv_controlPacket", "modv_function")
                    if m in forms
                ),
                None,
            )
            observable = _value_text(fields["observable"]) if "observable" in fields else None
            yield _clean(
                {
                    "interface": name,
                    "title": _value_text(values["title"]) if "title" in values else None,
                    "protocol": protocol,
                    "endpoint": base,
                    "contentType": _value_text(forms.get("contentType") or endpoint.get("contenttype") or {}),
                    "dataPoint": data_point,
                    "href": href,
                    "topic": _topic(href) if protocol == "mqtt" and href else None,
                    "method": method,
                    "valueType": _value_text(fields["type"]) if "type" in fields else None,
                    "unit": _value_text(fields["unit"]) if "unit" in fields else None,
                    "observable": observable.lower() == "true" if observable else None,
                    "sink": sinks.get((name, str(point.get("idShort")))),
                }
            )


def _topic(href: str) -> str:
    if "://" in href:
        href = href.split("://", 1)[1].split("/", 1)[-1] if "/" in href.split("://", 1)[1] else ""
    return href.lstrip("/")


# --- small helpers ------------------------------------------------------------------------------------


def _first(reference: Any) -> str | None:
    values = _key_values(reference)
    return values[0] if values else None


def _key_values(reference: Any) -> list[str]:
    if not isinstance(reference, dict):
        return []
    return [str(k.get("value")) for k in reference.get("keys") or [] if isinstance(k, dict)]


def _ref_text(reference: Any) -> str | None:
    values = _key_values(reference)
    return "/".join(values) if values else None


def _placeholder(value: str) -> bool:
    return any(p in value.lower() for p in _PLACEHOLDERS)


def _lang(texts: Any, prefer: str = "en") -> str | None:
    if not isinstance(texts, list) or not texts:
        return None
    for text in texts:
        if str(text.get("language", "")).lower().startswith(prefer):
            return str(text.get("text"))
    return str(texts[0].get("text"))


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def _clean(value: Any) -> Any:
    """``value`` without None members and empty arrays or objects (twins hold no nulls)."""
    if isinstance(value, dict):
        cleaned = {k: _clean(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v is not None and v != [] and v != {}}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value
