"""Small AAS inputs built in the tests: environments from aas-core objects, and AASX packages part by part."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping

import aas_core3.jsonization as aas_json
import aas_core3.types as aas
import aas_core3.xmlization as aas_xml

ORIGIN = "http://admin-shell.io/aasx/relationships/aasx-origin"
SPEC = "http://admin-shell.io/aasx/relationships/aas-spec"
SUPPL = "http://admin-shell.io/aasx/relationships/aas-suppl"
THUMBNAIL = "http://schemas.openxmlformats.org/package/2006/relationships/metadata/thumbnail"

CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="utf-8"?>'
    b'<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    b'<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    b'<Default Extension="xml" ContentType="text/xml"/>'
    b'<Default Extension="json" ContentType="application/json"/>'
    b'<Default Extension="png" ContentType="image/png"/>'
    b'<Default Extension="pdf" ContentType="application/pdf"/>'
    b'<Override PartName="/aasx/aasx-origin" ContentType="text/plain"/>'
    b"</Types>"
)


def rels(*relationships: tuple[str, str]) -> bytes:
    body = "".join(
        f'<Relationship Type="{kind}" Target="{target}" Id="r{i}"/>'
        for i, (kind, target) in enumerate(relationships)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">{body}'
        "</Relationships>"
    ).encode()


def environment(shell_id: str = "https://example.com/aas/1", asset: str = "https://example.com/asset/1"):
    shell = aas.AssetAdministrationShell(
        id=shell_id,
        id_short="Pump1",
        asset_information=aas.AssetInformation(asset_kind=aas.AssetKind.INSTANCE, global_asset_id=asset),
    )
    return aas.Environment(asset_administration_shells=[shell])


def env_xml(env=None) -> bytes:
    return aas_xml.to_str(env or environment()).encode()


def env_json(env=None) -> bytes:
    return json.dumps(aas_json.to_jsonable(env or environment())).encode()


def package(
    spec: bytes | None = None,
    *,
    spec_name: str = "aasx/data.xml",
    extra: Mapping[str, bytes] = {},
    root_rels: bytes | None = None,
    origin_rels: bytes | None = None,
    compression: int = zipfile.ZIP_DEFLATED,
) -> bytes:
    """An AASX package: [Content_Types].xml, the origin, one spec part, and ``extra`` parts."""
    parts: dict[str, bytes] = {
        "[Content_Types].xml": CONTENT_TYPES,
        "_rels/.rels": root_rels if root_rels is not None else rels((ORIGIN, "/aasx/aasx-origin")),
        "aasx/aasx-origin": b"Intentionally empty.",
        "aasx/_rels/aasx-origin.rels": origin_rels
        if origin_rels is not None
        else rels((SPEC, "/" + spec_name)),
        spec_name: spec if spec is not None else env_xml(),
        **extra,
    }
    return zip_of(parts, compression=compression)


def zip_of(parts: Mapping[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in parts.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buffer.getvalue()
