"""The public parse API: results, errors with codes and locations, resolution, corpora."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dtgraph.dtdl import DtdlResolutionError, DtdlValidationError, parse
from dtgraph.dtdl.loader import FolderResolver, load_paths


def iface(dtmi: str, *contents: dict[str, Any], version: int = 3, **extra: Any) -> dict[str, Any]:
    return {
        "@context": f"dtmi:dtdl:context;{version}",
        "@id": dtmi,
        "@type": "Interface",
        "contents": list(contents),
        **extra,
    }


def errors_of(docs: list[Any], **kw: Any) -> list[Any]:
    with pytest.raises(DtdlValidationError) as info:
        parse(docs, **kw)
    return info.value.errors


def test_every_error_is_reported_at_once_with_code_pointer_and_line() -> None:
    text = json.dumps(
        iface(
            "dtmi:ex:a;1",
            {"@type": "Property", "name": "1bad", "schema": "double"},
            {"@type": "Telemetry", "name": "t", "schema": "nosuchschema"},
        ),
        indent=2,
    )
    errs = errors_of([text])
    codes = {e.code for e in errs}
    assert codes == {"stringInvalid", "idRefBadDtmiOrTerm"}
    bad_name = next(e for e in errs if e.code == "stringInvalid")
    assert bad_name.location is not None
    assert bad_name.location.pointer == "/contents/0/name"
    assert bad_name.location.line == text.splitlines().index('      "name": "1bad",') + 1
    assert bad_name.property == "name" and bad_name.value == "1bad"
    assert "1bad" in bad_name.message
    misspelt = next(e for e in errs if e.code == "idRefBadDtmiOrTerm")
    assert "nosuchschema" in misspelt.message


def test_misspelt_terms_get_a_suggestion() -> None:
    doc = iface("dtmi:ex:a;1", {"@type": "Property", "name": "p", "schema": "doubel"})
    doc["contens"] = []
    messages = {e.code: e.message for e in errors_of([doc])}
    assert messages["idRefBadDtmiOrTerm"].endswith("did you mean 'double'?")
    assert messages["propertyUndefinedTerm"].endswith("did you mean 'contents'?")


def test_codes_follow_the_reference_parser_validation_ids() -> None:
    errs = errors_of([{"@context": "dtmi:dtdl:context;3", "@id": "dtmi:dtdl:foo;1", "@type": "Interface"}])
    assert [e.code for e in errs] == ["reservedId"]
    assert errs[0].validation_id == "dtmi:dtdl:parsingError:reservedId"


def test_undefined_dependency_raises_resolution_error_but_relationship_target_may_be_undefined() -> None:
    ok = parse([iface("dtmi:ex:a;1", {"@type": "Relationship", "name": "r", "target": "dtmi:ex:nowhere;1"})])
    assert ok.interfaces["dtmi:ex:a;1"].relationships["r"].target == "dtmi:ex:nowhere;1"
    with pytest.raises(DtdlResolutionError) as info:
        parse([iface("dtmi:ex:a;1", extends="dtmi:ex:base;1")])
    assert info.value.undefined_identifiers == ["dtmi:ex:base;1"]


def test_resolver_fetches_missing_interfaces_from_a_folder(tmp_path: Path) -> None:
    base = tmp_path / "dtmi" / "ex" / "base-1.json"
    base.parent.mkdir(parents=True)
    base.write_text(
        json.dumps(iface("dtmi:ex:Base;1", {"@type": "Property", "name": "p", "schema": "string"}))
    )
    ms = parse([iface("dtmi:ex:a;1", extends="dtmi:ex:Base;1")], resolver=FolderResolver(tmp_path))
    assert set(ms.interfaces["dtmi:ex:a;1"].properties) == {"p"}
    assert ms.ancestors("dtmi:ex:a;1") == ["dtmi:ex:Base;1"]


def test_inherited_contents_must_not_repeat_names() -> None:
    docs = [
        iface("dtmi:ex:base;1", {"@type": "Property", "name": "p", "schema": "string"}),
        iface(
            "dtmi:ex:a;1", {"@type": "Telemetry", "name": "p", "schema": "double"}, extends="dtmi:ex:base;1"
        ),
    ]
    assert [e.code for e in errors_of(docs)] == ["nonUniqueImportedPropertyValue"]


def test_extends_cycle_and_component_nesting_are_rejected() -> None:
    cycle = [iface("dtmi:ex:a;1", extends="dtmi:ex:b;1"), iface("dtmi:ex:b;1", extends="dtmi:ex:a;1")]
    assert {e.code for e in errors_of(cycle)} == {"recursiveStructureNarrow"}
    nested = [
        iface("dtmi:ex:inner;1", {"@type": "Component", "name": "c", "schema": "dtmi:ex:leaf;1"}),
        iface("dtmi:ex:leaf;1"),
        iface("dtmi:ex:outer;1", {"@type": "Component", "name": "c", "schema": "dtmi:ex:inner;1"}),
    ]
    assert {e.code for e in errors_of(nested)} == {"excludedType"}


@pytest.mark.parametrize(("version", "limit"), [(2, 10), (3, 10), (4, 12)])
def test_extends_depth_limit_per_version(version: int, limit: int) -> None:
    def chain(n: int) -> list[dict[str, Any]]:
        docs = [iface(f"dtmi:ex:i{k};1", version=version, extends=f"dtmi:ex:i{k + 1};1") for k in range(n)]
        return [*docs, iface(f"dtmi:ex:i{n};1", version=version)]

    parse(chain(limit))
    assert {e.code for e in errors_of(chain(limit + 1))} == {"excessiveDepthNarrow"}


def test_undefined_extensions_are_rejected_unless_allowed() -> None:
    doc = {
        "@context": ["dtmi:dtdl:context;3", "dtmi:acme:ext;1"],
        "@id": "dtmi:ex:a;1",
        "@type": ["Interface", "Gadget"],
        "gadgetry": 3,
    }
    assert "unresolvableContextSpecifier" in {e.code for e in errors_of([doc])}
    parse([doc], allow_undefined_extensions=True)


def test_extension_cotypes_are_understood() -> None:
    doc = iface(
        "dtmi:ex:a;1",
        {"@type": ["Telemetry", "Temperature"], "name": "t", "schema": "double", "unit": "degreeCelsius"},
        {"@type": ["Property", "Historized"], "name": "h", "schema": "integer"},
    )
    doc["@context"] = [
        "dtmi:dtdl:context;3",
        "dtmi:dtdl:extension:quantitativeTypes;1",
        "dtmi:dtdl:extension:historization;1",
    ]
    ms = parse([doc])
    t = ms.interfaces["dtmi:ex:a;1"].telemetries["t"]
    assert t.cotypes == ("Temperature",)
    assert t.extra["unit"] == ["dtmi:dtdl:extension:quantitativeTypes:v1:unit:degreeCelsius"]
    wrong = json.loads(json.dumps(doc))
    wrong["contents"][0]["unit"] = "metre"
    assert {e.code for e in errors_of([wrong])} == {"nonConformantPropertyValue"}


def test_array_of_interfaces_in_one_document_and_bom() -> None:
    text = "\ufeff" + json.dumps([iface("dtmi:ex:a;1"), iface("dtmi:ex:b;1", extends="dtmi:ex:a;1")])
    ms = parse([text.encode("utf-8")])
    assert ms.descendants("dtmi:ex:a;1") == ["dtmi:ex:b;1"]


def test_v4_recursive_schema_is_valid_and_v3_is_not() -> None:
    def doc(v: int) -> dict[str, Any]:
        return iface(
            "dtmi:ex:tree;1",
            {"@type": "Property", "name": "root", "schema": "dtmi:ex:node;1"},
            version=v,
            schemas=[
                {
                    "@id": "dtmi:ex:node;1",
                    "@type": "Object",
                    "fields": [
                        {"name": "children", "schema": {"@type": "Array", "elementSchema": "dtmi:ex:node;1"}}
                    ],
                }
            ],
        )

    ms = parse([doc(4)])
    root = ms.interfaces["dtmi:ex:tree;1"].properties["root"]
    assert ms.instance_errors({"children": [{"children": []}]}, root) == []
    assert ms.instance_errors({"children": [{"kids": []}]}, root) != []
    assert {e.code for e in errors_of([doc(3)])} == {"recursiveStructureWide"}


CORPORA = [
    "ManufacturingOntologies",
    "opendigitaltwins-assetadminstrationshell",
    "opendigitaltwins-building",
    "opendigitaltwins-energygrid",
    "opendigitaltwins-isa95",
    "opendigitaltwins-smartcities",
]
# interface counts from the reference parser (corpora/dtdl/SOURCES.md)
INTERFACES = {
    "ManufacturingOntologies": 180,
    "opendigitaltwins-assetadminstrationshell": 68,
    "opendigitaltwins-building": 768,
    "opendigitaltwins-energygrid": 113,
    "opendigitaltwins-isa95": 76,
    "opendigitaltwins-smartcities": 63,
}


@pytest.mark.parametrize("corpus", CORPORA)
def test_real_ontologies_parse_as_whole_folders(shared_dir: Path, corpus: str) -> None:
    loaded = load_paths([shared_dir / "corpora" / "dtdl" / corpus])
    ms = parse(loaded.documents, sources=loaded.sources)
    assert len(ms.interfaces) == INTERFACES[corpus]
    for dtmi, interface in ms.interfaces.items():
        for ancestor in ms.ancestors(dtmi):
            # effective contents include every inherited member
            assert set(ms.interfaces[ancestor].contents) <= set(interface.contents)


def test_xmpro_reports_the_duplicate_with_both_files(shared_dir: Path) -> None:
    loaded = load_paths([shared_dir / "corpora" / "dtdl" / "XMPro-dtdl-data-models"])
    with pytest.raises(DtdlValidationError) as info:
        parse(loaded.documents, sources=loaded.sources)
    (err,) = info.value.errors
    assert err.code == "duplicateDefinition"
    assert err.location is not None and err.other_location is not None
    sources = sorted(str(loc.source) for loc in (err.location, err.other_location))
    assert sources[0].endswith("Wind Power Plant/WRPC.json")
    assert sources[1].endswith("Wind Turbine/WRPC.json")


def test_value_annotation_must_name_a_sibling() -> None:
    def doc(target: str) -> dict[str, Any]:
        d = iface(
            "dtmi:ex:a;1",
            {"@type": "Property", "name": "speed", "schema": "double"},
            {
                "@type": ["Property", "ValueAnnotation"],
                "name": "note",
                "annotates": target,
                "schema": "string",
            },
            version=4,
        )
        d["@context"] = ["dtmi:dtdl:context;4", "dtmi:dtdl:extension:annotation;2"]
        return d

    assert "note" in parse([doc("speed")]).interfaces["dtmi:ex:a;1"].properties
    assert {e.code for e in errors_of([doc("nothing")])} == {"nonConformantPropertyValue"}
    assert {e.code for e in errors_of([doc("note")])} == {"nonConformantPropertyValue"}


def test_total_count_limit_of_v3_interfaces() -> None:
    def doc(n: int) -> dict[str, Any]:
        enum = {
            "@type": "Enum",
            "valueSchema": "integer",
            "enumValues": [{"name": f"v{i}", "enumValue": i} for i in range(n)],
        }
        return iface("dtmi:ex:big;1", {"@type": "Property", "name": "p", "schema": enum})

    parse([doc(99_998)])  # the Property and its schema count too: 100,000 values in all
    assert {e.code for e in errors_of([doc(99_999)])} == {"excessiveCount"}


def test_interface_text_is_limited_to_one_mebibyte_without_nested_interfaces() -> None:
    def doc(n: int, nested: bool = False) -> str:
        props = [
            {"@type": "Property", "name": f"p{i}", "schema": "double", "comment": "x" * 500} for i in range(n)
        ]
        body: dict[str, Any] = iface("dtmi:ex:big;1")
        if nested:  # the same bulk inside a nested Interface does not count towards the outer one
            body["extends"] = iface("dtmi:ex:inner;1", *props)
            del body["extends"]["@context"]
        else:
            body["contents"] = props
        return json.dumps(body)

    limit = 1024 * 1024
    fits, breaks = doc(1800), doc(1900)
    assert len(fits.encode()) < limit < len(breaks.encode())
    parse([fits])
    assert [e.code for e in errors_of([breaks])] == ["partitionTooLarge"]
    # nested: the inner Interface holds the bulk (under the limit), the outer one almost nothing
    parse([doc(1800, nested=True)])


def test_onvif_limit_extension_raises_limits_and_core_limits_stay_otherwise() -> None:
    long_id = "dtmi:ex:" + "a" * 190 + ";1"  # over the core 128, under onvif's 256
    onvif = ["dtmi:dtdl:context;4#limitless", "dtmi:dtdl:limits:onvif;1"]
    core = ["dtmi:dtdl:context;4#limitless", "dtmi:dtdl:context;4#limits"]

    def doc(context: list[str]) -> dict[str, Any]:
        return {"@context": context, "@id": long_id, "@type": "Interface", "description": "d" * 1000}

    parse([doc(onvif)], extension_limit_contexts=["dtmi:dtdl:limits:onvif"])
    assert {e.code for e in errors_of([doc(core)])} == {"idTooLongForType", "langStringValueTooLong"}
    assert "disallowedLimitContext" in {e.code for e in errors_of([doc(onvif)])}
