"""AASX packages: the OPC structure, blobs, and hostile input (each refused with a clear error)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from dtgraph.aas.errors import AasError, AasFormatError, AasLimitError, AasPackageError, AasVersionError
from dtgraph.aas.limits import DEFAULT_LIMITS, Limits
from dtgraph.aas.package import read_package
from dtgraph.aas.reader import read_bytes, read_file
from tests.aas.builders import (
    ORIGIN,
    SPEC,
    SUPPL,
    THUMBNAIL,
    env_json,
    env_xml,
    package,
    rels,
    zip_of,
)

LEGACY = "corpora/aas/aasx-package-explorer-legacy"


def refused(data: bytes, kind: type[AasError], *words: str, limits: Limits = DEFAULT_LIMITS) -> AasError:
    with pytest.raises(kind) as info:
        read_bytes(data, "supplier.aasx", limits=limits)
    message = str(info.value)
    assert message.startswith("supplier.aasx"), message
    for word in words:
        assert word in message, message
    return info.value


# --- a sound package -------------------------------------------------------------------------------------


def test_spec_parts_in_xml_and_json_and_blobs_described():
    extra = {
        "aasx/data2.json": env_json(),
        "aasx/_rels/data.xml.rels": rels((SUPPL, "files/manual.pdf"), (SUPPL, "/aasx/files/missing.pdf")),
        "aasx/files/manual.pdf": b"%PDF-1.4 manual",
        "thumb.png": b"\x89PNG....",
    }
    origin = rels((SPEC, "/aasx/data.xml"), (SPEC, "data2.json"))
    root = rels((ORIGIN, "/aasx/aasx-origin"), (THUMBNAIL, "/thumb.png"))
    result = read_bytes(package(extra=extra, origin_rels=origin, root_rels=root), "p.aasx")
    assert [(d.source, d.format, d.metamodel) for d in result.documents] == [
        ("p.aasx:/aasx/data.xml", "xml", "3.0"),
        ("p.aasx:/aasx/data2.json", "json", "3.0"),
    ]
    blobs = {b.name: b for b in result.blobs}
    assert set(blobs) == {"/aasx/files/manual.pdf", "/thumb.png"}
    assert blobs["/aasx/files/manual.pdf"].role == "supplementary"
    assert blobs["/aasx/files/manual.pdf"].content_type == "application/pdf"
    assert blobs["/aasx/files/manual.pdf"].size == len(b"%PDF-1.4 manual")
    assert len(blobs["/aasx/files/manual.pdf"].sha256) == 64
    assert blobs["/thumb.png"].role == "thumbnail" and blobs["/thumb.png"].content_type == "image/png"
    assert [w.message for w in result.warnings] == [
        "the supplementary file /aasx/files/missing.pdf named by /aasx/data.xml is not in the package"
    ]


def test_the_older_www_relationship_types_are_read():
    old = "http://www.admin-shell.io/aasx/relationships/"
    data = package(
        root_rels=rels((old + "aasx-origin", "/aasx/aasx-origin")),
        origin_rels=rels((old + "aas-spec", "data.xml")),
    )
    assert len(read_bytes(data, "old.aasx").documents) == 1


@pytest.mark.shared_files("corpora/aas/basyx-java-server-sdk/**/*.aasx")
def test_real_packages_open(shared_file: Path):
    # CADAAS.aasx marks its internal relationships External; three use the www. relationship types
    result = read_package(shared_file.read_bytes(), shared_file.name)
    assert len(result.specs) == 1 and result.specs[0].format == "xml"
    assert all(len(b.sha256) == 64 and b.size > 0 for b in result.blobs)


def test_a_real_package_is_read_with_its_blobs(shared_dir: Path):
    path = shared_dir / "corpora/aas/basyx-java-server-sdk/examples/BaSyxMinimal/aas/ExampleV3.aasx"
    result = read_file(path)
    assert [d.metamodel for d in result.documents] == ["3.0"]
    assert {(b.name, b.role) for b in result.blobs} == {
        ("/aasx/OPC2AAS_Logo.png", "supplementary"),
        ("/aasx/files/OPC2AAS_Logo.png", "supplementary"),
    }


@pytest.mark.shared_files("corpora/aas/idta-submodel-templates/**/*.aasx")
def test_idta_template_packages_are_read_as_their_version(shared_file: Path):
    result = read_file(shared_file)
    version = "3.1" if "V3.1" in shared_file.name or "02017-1-1" in shared_file.name else "3.0"
    assert [d.metamodel for d in result.documents] == [version]


@pytest.mark.parametrize(
    ("name", "version"),
    [
        ("AasxPackageExplorer/content-for-demo/Example_AAS_ServoDCMotor_21.aasx", "V1.0"),
        ("BlazorUI/TimesSeries - 6 - admin-shell-io-2.aasx", "V2.0"),
    ],
)
def test_legacy_packages_are_refused_naming_the_version(shared_dir: Path, name: str, version: str):
    with pytest.raises(AasVersionError) as info:
        read_file(shared_dir / LEGACY / "src" / name)
    assert f"metamodel {version}" in str(info.value) and "V3.0 and V3.1" in str(info.value)


def test_legacy_json_is_refused():
    refused(b'{"assetAdministrationShells": [], "assets": []}', AasVersionError, "V2.0 or older", "assets")


def test_an_unknown_xml_namespace_is_refused():
    refused(b'<environment xmlns="urn:other"/>', AasVersionError, "urn:other")


# --- hostile input -----------------------------------------------------------------------------------------


def test_an_upload_over_the_size_limit(tmp_path: Path):
    data = package()
    refused(data, AasLimitError, "over the limit of 100", limits=Limits(max_file_bytes=100))
    path = tmp_path / "big.aasx"
    path.write_bytes(data)
    with pytest.raises(AasLimitError, match=r"the file is .* bytes, over the limit of 100"):
        read_file(path, limits=Limits(max_file_bytes=100))


def test_too_many_parts():
    extra = {f"aasx/files/{i}.png": b"x" for i in range(20)}
    refused(
        package(extra=extra), AasLimitError, "25 parts, over the limit of 10", limits=Limits(max_parts=10)
    )


def test_a_zip_bomb_by_compression_ratio():
    refused(
        package(extra={"aasx/files/bomb.png": bytes(20 * 1024 * 1024)}),
        AasLimitError,
        "bomb.png expands",
        "compression ratio limit of 100",
    )


def test_a_zip_bomb_by_total_expanded_size():
    stored = zipfile.ZIP_STORED  # no compression: only the total is over
    extra = {f"aasx/files/{i}.png": bytes(1000) for i in range(10)}
    limits = Limits(max_expanded_bytes=5000)
    refused(package(extra=extra, compression=stored), AasLimitError, "over the limit of 5,000", limits=limits)


def test_a_part_over_the_part_limit():
    limits = Limits(max_part_bytes=1000)
    refused(package(extra={"aasx/files/a.png": bytes(2000)}), AasLimitError, "a.png expands", limits=limits)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../evil.xml", "'..' segment"),
        ("aasx/../../evil.xml", "'..' segment"),
        ("/etc/passwd", "absolute path"),
        ("C:/Windows/evil.xml", "absolute path"),
        ("aasx\\evil.xml", "backslash"),
    ],
)
def test_unsafe_part_names(name: str, why: str):
    refused(package(extra={name: b"x"}), AasPackageError, repr(name), why)


def test_a_relationship_target_that_leaves_the_package():
    refused(package(origin_rels=rels((SPEC, "../../outside.xml"))), AasPackageError, "leaves the package")


def test_a_doctype_is_refused_in_a_spec_part_and_in_a_relationships_part():
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
        b'<environment xmlns="https://admin-shell.io/aas/3/0">&lol2;</environment>'
    )
    refused(package(spec=bomb), AasFormatError, "DOCTYPE")
    refused(bomb, AasFormatError, "DOCTYPE")
    external = b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "file:///etc/passwd"><Relationships/>'
    refused(package(root_rels=external), AasFormatError, "DOCTYPE", "/_rels/.rels")


def test_deeply_nested_xml_and_json():
    # nested collections, which aas-core descends into (it stops at the first element it does not expect)
    level = b"<submodelElementCollection><idShort>c</idShort><value>"
    deep_xml = (
        b'<environment xmlns="https://admin-shell.io/aas/3/0"><submodels><submodel><id>s</id>'
        + b"<submodelElements>"
        + level * 200
        + b"</value></submodelElementCollection>" * 200
        + b"</submodelElements></submodel></submodels></environment>"
    )
    refused(deep_xml, AasLimitError, "nested deeper than the limit of 128")
    refused(package(spec=deep_xml), AasLimitError, "nested deeper")
    unknown = b'<environment xmlns="https://admin-shell.io/aas/3/0">' + b"<a>" * 5000 + b"</a>" * 5000
    refused(unknown + b"</environment>", AasError, "environment/a")  # refused at the first unknown tag
    deep_json = b'{"submodels": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    refused(deep_json, AasLimitError, "nested deeper than the limit of 128")
    very_deep = b"[" * 100_000 + b"]" * 100_000  # deeper than the JSON parser itself goes
    refused(very_deep, AasLimitError, "nested deeper")


def test_text_that_is_not_utf8():
    latin1 = env_xml().replace(b"Pump1", "Pümpe".encode("latin-1"))
    refused(latin1, AasFormatError, "not UTF-8", "byte 0xfc")
    refused(package(spec=latin1), AasFormatError, "not UTF-8", "/aasx/data.xml")
    declared = b'<?xml version="1.0" encoding="ISO-8859-1"?>' + env_xml().split(b"?>", 1)[-1]
    refused(declared, AasFormatError, "ISO-8859-1", "must be UTF-8")
    refused(env_json().replace(b"Pump1", b"P\xffmp"), AasFormatError, "not UTF-8")
    refused("\ufeff{}".encode("utf-16"), AasFormatError, "UTF-16")


def test_a_truncated_zip():
    data = package(extra={"aasx/files/a.png": bytes(range(256)) * 100})
    refused(data[: len(data) // 2], AasPackageError, "truncated or corrupt")
    refused(data[:-30], AasPackageError, "truncated or corrupt")


def test_a_corrupt_part():
    data = bytearray(package(extra={"aasx/files/a.png": b"A" * 5000}, compression=zipfile.ZIP_STORED))
    at = bytes(data).index(b"A" * 100)
    data[at : at + 4] = b"BBBB"  # the CRC no longer matches
    refused(bytes(data), AasPackageError, "a.png cannot be read")


def test_a_package_without_aasx_origin():
    refused(package(root_rels=rels()), AasPackageError, "no aasx-origin relationship")
    no_rels = zip_of({"[Content_Types].xml": b"<Types/>", "aasx/data.xml": env_xml()})
    refused(no_rels, AasPackageError, "no aasx-origin relationship")


def test_a_package_without_content_types_or_spec():
    refused(zip_of({"aasx/data.xml": env_xml()}), AasPackageError, "[Content_Types].xml is missing")
    refused(package(origin_rels=rels()), AasPackageError, "names no aas-spec part")
    refused(package(origin_rels=rels((SPEC, "/aasx/nothing.xml"))), AasPackageError, "not in the package")


def test_not_aas_content_at_all():
    refused(b"hello", AasFormatError, "neither JSON, XML nor an AASX")
    refused(b"{not json", AasFormatError, "not well-formed")
    refused(b"<environment", AasFormatError, "not well-formed")
