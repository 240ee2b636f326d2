"""Mutations: every write goes through :class:`~dtgraph.graph.service.TwinGraph` (or the bulk importer).

Model changes need role ``modeler``; twin, relationship and import writes ``operator``. A rejected
change writes nothing and comes back as one GraphQL error per problem (see :mod:`dtgraph.api.errors`).
Writes run on the event loop's thread, one at a time; reads run in worker threads. A model change makes
the schema holder rebuild the schema before the next request.
"""

from __future__ import annotations

import inspect
import tempfile
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import strawberry
from strawberry.file_uploads import Upload
from strawberry.scalars import JSON

from dtgraph.aas.importer import ImportReport as AasReportRecord
from dtgraph.aas.importer import import_aas
from dtgraph.api.context import ApiContext, require
from dtgraph.api.generic import (
    Ctx,
    Model,
    ModelRef,
    Relationship,
    RelationshipRef,
    TwinInterface,
    built,
    context,
    wrap,
)
from dtgraph.dtdl import DtdlValidationError
from dtgraph.graph.bulk import ImportReport as ImportReportRecord
from dtgraph.graph.bulk import import_graph

__all__ = ["ImportIssue", "ImportReport", "Mutation", "RelationshipKey", "RelationshipKeyInput"]


@strawberry.input(description="A relationship's key: its source twin and its id.")
class RelationshipKeyInput:
    source: str
    id: str


@strawberry.type(description="A relationship's key: its source twin and its id.")
class RelationshipKey:
    source: str
    id: str


@strawberry.type(description="One problem an import found.")
class ImportIssue:
    code: str
    message: str
    line: int | None
    pointer: str | None


@strawberry.type(description="What an import found and did.")
class ImportReport:
    ok: bool
    written: bool
    models: int
    twins: int
    relationships: int
    seconds: float
    issues: list[ImportIssue]

    @classmethod
    def of(cls, report: ImportReportRecord) -> ImportReport:
        return cls(
            ok=report.ok,
            written=report.written,
            models=report.models,
            twins=report.twins,
            relationships=report.relationships,
            seconds=round(report.seconds, 3),
            issues=[
                ImportIssue(code=i.code, message=i.message, line=i.line, pointer=i.pointer or None)
                for i in report.issues
            ],
        )


def _models_changed(info: Ctx) -> None:
    context(info).loaders.clear()
    holder = built(info).holder
    if holder is not None:
        holder.invalidate()


async def _read(upload: Any) -> tuple[bytes, str | None]:
    """The bytes of an uploaded file (a Starlette UploadFile, a file object, bytes) and its name."""
    name = getattr(upload, "filename", None) or getattr(upload, "name", None)
    if isinstance(upload, bytes | bytearray):
        return bytes(upload), None
    if isinstance(upload, str):
        return upload.encode("utf-8"), None
    data = upload.read()
    if inspect.isawaitable(data):
        data = await data
    if isinstance(data, str):
        data = data.encode("utf-8")
    return bytes(data), name if isinstance(name, str) else None


def _model_refs(ctx: ApiContext, ids: list[str]) -> list[Model]:
    models = ctx.graph.models
    return [cast(Model, ModelRef(models.interfaces[i], models)) for i in ids if i in models.interfaces]


async def _upload_models(info: Ctx, models: list[JSON]) -> list[Model]:
    ctx = context(info)
    require(ctx, "modeler")
    ids = ctx.graph.upload_models(list(models))
    _models_changed(info)
    return _model_refs(ctx, ids)


async def _upload_model_files(info: Ctx, files: list[Upload]) -> list[Model]:
    ctx = context(info)
    require(ctx, "modeler")
    read = [await _read(f) for f in files]
    try:
        ids = ctx.graph.upload_models([data for data, _ in read])
    except DtdlValidationError as exc:  # name the uploaded files in the locations
        for n, error in enumerate(exc.errors):
            loc = error.location
            if loc is not None and loc.source is None and loc.document < len(read):
                exc.errors[n] = replace(error, location=replace(loc, source=read[loc.document][1]))
        raise
    _models_changed(info)
    return _model_refs(ctx, ids)


async def _delete_models(info: Ctx, ids: list[str]) -> list[str]:
    ctx = context(info)
    require(ctx, "modeler")
    ctx.graph.delete_models(ids)
    _models_changed(info)
    return ids


async def _create_twins(info: Ctx, twins: list[JSON]) -> list[TwinInterface]:
    ctx = context(info)
    require(ctx, "operator")
    created = ctx.graph.create_twins(cast(list[Mapping[str, Any]], twins))
    ctx.loaders.clear()
    return [cast(TwinInterface, wrap(info, t, ctx.loaders)) for t in created]


async def _patch_twin(info: Ctx, id: strawberry.ID, patch: JSON) -> TwinInterface:
    ctx = context(info)
    require(ctx, "operator")
    patched = ctx.graph.patch_twin(str(id), patch)
    ctx.loaders.clear()
    return cast(TwinInterface, wrap(info, patched, ctx.loaders))


async def _delete_twins(info: Ctx, ids: list[strawberry.ID]) -> list[strawberry.ID]:
    ctx = context(info)
    require(ctx, "operator")
    ctx.graph.delete_twins([str(i) for i in ids])
    ctx.loaders.clear()
    return ids


async def _create_relationships(info: Ctx, relationships: list[JSON]) -> list[Relationship]:
    ctx = context(info)
    require(ctx, "operator")
    created = ctx.graph.create_relationships(cast(list[Mapping[str, Any]], relationships))
    ctx.loaders.clear()
    return [cast(Relationship, RelationshipRef(r, ctx.loaders)) for r in created]


async def _delete_relationships(info: Ctx, keys: list[RelationshipKeyInput]) -> list[RelationshipKey]:
    ctx = context(info)
    require(ctx, "operator")
    ctx.graph.delete_relationships([(k.source, k.id) for k in keys])
    ctx.loaders.clear()
    return [RelationshipKey(source=k.source, id=k.id) for k in keys]


async def _import_graph(info: Ctx, file: Upload, dry_run: bool = False) -> ImportReport:
    ctx = context(info)
    require(ctx, "operator")
    data, _ = await _read(file)
    with tempfile.TemporaryDirectory(prefix="dtgraph-import-") as folder:
        path = Path(folder) / "import.ndjson"
        path.write_bytes(data)
        report = import_graph(path, ctx.store, dry_run=dry_run)
    if report.written:
        if report.models:
            ctx.graph.reload_models()
            _models_changed(info)
        ctx.loaders.clear()
    return ImportReport.of(report)


@strawberry.type(description="One entity an AAS import creates, updates or removes.")
class AasChange:
    op: str
    kind: str
    id: str
    label: str
    fields: list[str]


@strawberry.type(description="One problem or warning an AAS import found, with where it sits.")
class AasProblem:
    code: str
    message: str
    path: str
    file: str | None


@strawberry.type(
    description="What an AAS import found and did (created / updated / removed, warnings, errors)."
)
class AasImportReport:
    ok: bool
    written: bool
    dry_run: bool
    strict: bool
    created: int
    updated: int
    unchanged: int
    removed: int
    models: int
    changes: list[AasChange]
    warnings: list[AasProblem]
    errors: list[AasProblem]

    @classmethod
    def of(cls, report: AasReportRecord) -> AasImportReport:
        summary = report.summary()

        def problems(issues: list[Any]) -> list[AasProblem]:
            return [
                AasProblem(code=i.code, message=i.message, path=i.path, file=i.source or None) for i in issues
            ]

        return cls(
            ok=report.ok,
            written=report.written,
            dry_run=report.dry_run,
            strict=report.strict,
            created=summary["created"],
            updated=summary["updated"],
            unchanged=summary["unchanged"],
            removed=summary["removed"],
            models=summary["models"],
            changes=[
                AasChange(op=c.op, kind=c.kind, id=c.id, label=c.label, fields=list(c.fields))
                for c in report.changes
                if c.op != "unchanged"
            ],
            warnings=problems(report.warnings),
            errors=problems(report.errors),
        )


async def _import_aas(
    info: Ctx, file: Upload, dry_run: bool = False, strict: bool = False, supplier: str | None = None
) -> AasImportReport:
    ctx = context(info)
    require(ctx, "operator")
    data, name = await _read(file)
    with tempfile.TemporaryDirectory(prefix="dtgraph-aas-") as folder:
        # the reader tells AASX, JSON and XML apart by name, as the CLI does
        path = Path(folder) / Path(name or "upload.aasx").name
        path.write_bytes(data)
        report = import_aas([path], ctx.graph, supplier=supplier, strict=strict, dry_run=dry_run)
    if report.written:
        if report.count("create", "model"):
            _models_changed(info)
        ctx.loaders.clear()
    return AasImportReport.of(report)


@strawberry.type
class Mutation:
    upload_models: list[Model] = strawberry.field(
        resolver=_upload_models,
        description="Add or replace DTDL interfaces (JSON values; one may be an array); role modeler.",
    )
    upload_model_files: list[Model] = strawberry.field(
        resolver=_upload_model_files,
        description="Add or replace DTDL interfaces from uploaded files (multipart); role modeler.",
    )
    delete_models: list[str] = strawberry.field(
        resolver=_delete_models, description="Delete interfaces no twin or model uses; role modeler."
    )
    create_twins: list[TwinInterface] = strawberry.field(
        resolver=_create_twins, description="Create twins (ADT JSON); role operator."
    )
    patch_twin: TwinInterface = strawberry.field(
        resolver=_patch_twin, description="Apply a JSON Patch (RFC 6902) to a twin; role operator."
    )
    delete_twins: list[strawberry.ID] = strawberry.field(
        resolver=_delete_twins, description="Delete twins and their relationships; role operator."
    )
    create_relationships: list[Relationship] = strawberry.field(
        resolver=_create_relationships, description="Create relationships (ADT JSON); role operator."
    )
    delete_relationships: list[RelationshipKey] = strawberry.field(
        resolver=_delete_relationships, description="Delete relationships by key; role operator."
    )
    import_graph: ImportReport = strawberry.field(
        resolver=_import_graph,
        description="Check and (unless dryRun) load an import-job NDJSON file atomically; role operator.",
    )
    import_aas: AasImportReport = strawberry.field(
        resolver=_import_aas,
        description="Import a supplier's Asset Administration Shell (AASX, JSON or XML) atomically; "
        "dryRun shows the changes without writing; role operator.",
    )
