"""Importing AAS files into the graph: read, map, compare with the store, write atomically, report.

:func:`import_aas` reads every file first (a file that cannot be read is an error; constraint violations
are warnings, or errors with ``strict``), maps them all (:mod:`dtgraph.aas.mapping`), compares the result
with what the store holds and writes the difference through :meth:`TwinGraph.apply` as one atomic batch:
validated against the models, all of it or nothing. With ``dry_run`` the same batch is validated and
reported as a diff, and nothing is written.

What a re-import of the same shell does: its twin is replaced (same id, from its globalAssetId); the
hasPart edges its bill of material declared before and no longer declares are removed; a changed supplier
moves its ``supplies`` edge. Parts named only by a bill of material are created once and never overwritten;
an existing supplier twin keeps its values and gains those it lacked. The library models the twins need are
added in the same batch when the store does not have them yet.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from dtgraph.aas.errors import AasError, AasIssue
from dtgraph.aas.limits import DEFAULT_LIMITS, Limits
from dtgraph.aas.mapping import Mapped, map_documents
from dtgraph.aas.package import Blob
from dtgraph.aas.reader import AasDocument, MetamodelOption, read_file
from dtgraph.dtdl import parse
from dtgraph.graph.errors import GraphValidationError
from dtgraph.graph.records import Relationship, Twin
from dtgraph.graph.service import TwinGraph
from dtgraph.graph.validation import validate_batch
from dtgraph.library import library_documents
from dtgraph.stores.base import Batch

__all__ = ["Change", "ImportReport", "Progress", "import_aas"]

Progress = Callable[[str, int, int], None]  # (stage: "read" | "map" | "write", done, total)
Op = Literal["create", "update", "unchanged", "remove"]


@dataclass(frozen=True, slots=True)
class Change:
    """One entity the import creates, updates, leaves or removes. ``fields`` lists, for an update, the
    properties that change: ``+name`` added, ``-name`` removed, ``~name`` changed."""

    op: Op
    kind: Literal["model", "twin", "relationship"]
    id: str  # twin id, "source/relationship id" or model DTMI
    label: str = ""  # the twin's model and name, or the relationship's name and target
    fields: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.op, "kind": self.kind, "id": self.id, "label": self.label}
        if self.fields:
            out["fields"] = list(self.fields)
        return out

    def __str__(self) -> str:
        sign = {"create": "+", "update": "~", "unchanged": "=", "remove": "-"}[self.op]
        tail = f" [{' '.join(self.fields)}]" if self.fields else ""
        return f"{sign} {self.kind} {self.id} {self.label}{tail}".rstrip()


@dataclass
class ImportReport:
    """What an import found and did: every change, warning and error. ``written`` is True only after
    the batch was applied."""

    files: list[str]
    dry_run: bool
    strict: bool
    changes: list[Change] = field(default_factory=list)
    warnings: list[AasIssue] = field(default_factory=list)
    errors: list[AasIssue] = field(default_factory=list)
    written: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors

    def count(self, op: Op, kind: str | None = None) -> int:
        return sum(1 for c in self.changes if c.op == op and (kind is None or c.kind == kind))

    def summary(self) -> dict[str, int]:
        return {
            "created": self.count("create", "twin") + self.count("create", "relationship"),
            "updated": self.count("update", "twin") + self.count("update", "relationship"),
            "unchanged": self.count("unchanged", "twin") + self.count("unchanged", "relationship"),
            "removed": self.count("remove", "twin") + self.count("remove", "relationship"),
            "models": self.count("create", "model"),
            "warnings": len(self.warnings),
            "errors": len(self.errors),
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "written": self.written,
            "dryRun": self.dry_run,
            "strict": self.strict,
            "files": self.files,
            **self.summary(),
            "changes": [c.as_json() for c in self.changes if c.op != "unchanged"],
            "warningList": [w.as_json() for w in self.warnings],
            "errorList": [e.as_json() for e in self.errors],
        }


def import_aas(
    paths: Sequence[str | os.PathLike[str]],
    graph: TwinGraph,
    *,
    supplier: str | None = None,
    strict: bool = False,
    dry_run: bool = False,
    metamodel: MetamodelOption = "auto",
    limits: Limits = DEFAULT_LIMITS,
    progress: Progress | None = None,
) -> ImportReport:
    """Import AAS files (JSON, XML, AASX) into ``graph``'s store as one atomic change; see the module."""
    report = ImportReport([str(p) for p in paths], dry_run, strict)
    inputs: list[tuple[Sequence[AasDocument], Sequence[Blob]]] = []
    for done, path in enumerate(paths):
        try:
            result = read_file(path, metamodel=metamodel, limits=limits)
        except AasError as exc:
            report.errors.extend(exc.issues)
        except OSError as exc:
            report.errors.append(
                AasIssue("io", f"cannot read the file: {exc.strerror or exc}", "", str(path))
            )
        else:
            report.warnings.extend(result.warnings)
            for document in result.documents:
                (report.errors if strict else report.warnings).extend(document.issues)
            inputs.append((result.documents, result.blobs))
        if progress is not None:
            progress("read", done + 1, len(paths))
    if report.errors:
        return report
    mapped = map_documents(inputs, supplier=supplier)
    report.warnings.extend(mapped.warnings)
    if progress is not None:
        progress("map", 1, 1)
    batch, report.changes = plan(mapped, graph)
    try:
        if dry_run:
            _validate(batch, graph)
        elif batch:
            graph.apply(batch)
            report.written = True
    except GraphValidationError as exc:
        report.errors.extend(
            AasIssue(i.code, i.message, i.pointer, _record(batch, i.record)) for i in exc.issues
        )
    if progress is not None:
        progress("write", 1, 1)
    return report


def plan(mapped: Mapped, graph: TwinGraph) -> tuple[Batch, list[Change]]:
    """The batch that brings the store to what ``mapped`` says, and the changes it makes."""
    store = graph.store
    changes: list[Change] = []
    stored_models = {str(d.get("@id")) for d in store.model_documents()}
    models = []
    for _, content in library_documents():
        document = json.loads(content)
        if document["@id"] not in stored_models:
            models.append(document)
            changes.append(Change("create", "model", document["@id"]))
    ids = [*mapped.twins, *mapped.placeholders, *mapped.suppliers]
    existing = store.get_twins(ids)
    twins: list[Twin] = []
    for twin in mapped.twins.values():
        _twin_change(twin, existing.get(twin.id), twins, changes)
    for twin in mapped.placeholders.values():  # created when missing, never overwritten
        if twin.id not in mapped.twins:
            old = existing.get(twin.id)
            _twin_change(twin, None, twins, changes) if old is None else _twin_change(
                old, old, twins, changes
            )
    for twin in mapped.suppliers.values():
        old = existing.get(twin.id)
        merged = twin if old is None else Twin(old.id, old.model, {**twin.properties, **old.properties})
        _twin_change(merged, old, twins, changes)

    rels: list[Relationship] = []
    stored = store.get_relationships(mapped.relationships)
    for key, rel in mapped.relationships.items():
        old_rel = stored.get(key)
        label = f"{rel.name} -> {rel.target}"
        if old_rel is None:
            rels.append(rel)
            changes.append(Change("create", "relationship", "/".join(key), label))
        elif old_rel.target != rel.target or dict(old_rel.properties) != dict(rel.properties):
            rels.append(rel)
            changes.append(Change("update", "relationship", "/".join(key), label, _fields(old_rel, rel)))
        else:
            changes.append(Change("unchanged", "relationship", "/".join(key), label))
    removed = _stale(mapped, graph)
    for rel in removed:
        changes.append(Change("remove", "relationship", "/".join(rel.key), f"{rel.name} -> {rel.target}"))
    batch = Batch(
        models=models, twins=twins, relationships=rels, delete_relationships=[r.key for r in removed]
    )
    return batch, changes


def _twin_change(twin: Twin, old: Twin | None, out: list[Twin], changes: list[Change]) -> None:
    label = f"{twin.model.split(':')[-1].split(';')[0]} {json.dumps(twin.properties.get('name', ''))}"
    if old is None:
        out.append(twin)
        changes.append(Change("create", "twin", twin.id, label))
    elif old.model != twin.model or dict(old.properties) != dict(twin.properties):
        out.append(twin)
        changes.append(Change("update", "twin", twin.id, label, _fields(old, twin)))
    else:
        changes.append(Change("unchanged", "twin", twin.id, label))


def _fields(old: Twin | Relationship, new: Twin | Relationship) -> tuple[str, ...]:
    before, after = dict(old.properties), dict(new.properties)
    out = [f"+{k}" for k in after if k not in before]
    out += [f"-{k}" for k in before if k not in after]
    out += [f"~{k}" for k in after if k in before and before[k] != after[k]]
    if isinstance(old, Twin) and isinstance(new, Twin) and old.model != new.model:
        out.append("~$model")
    if isinstance(old, Relationship) and isinstance(new, Relationship) and old.target != new.target:
        out.append("~$targetId")
    return tuple(out)


def _stale(mapped: Mapped, graph: TwinGraph) -> list[Relationship]:
    """Edges an earlier import of the same shells declared that this one no longer declares."""
    store = graph.store
    stale: list[Relationship] = []
    owned = sorted(mapped.owned)
    incoming = store.relationships(owned, name="supplies", direction="in")
    for shell in owned:
        for rel in incoming.get(shell, []):
            if rel.id == f"supplies-{shell}" and rel.key not in mapped.relationships:
                stale.append(rel)
    for shell in owned:  # the bill of material a shell declared: reachable from it along its own edges
        seen = {shell}
        frontier = [shell]
        while frontier:
            edges = store.relationships(frontier, name="hasPart", direction="out")
            frontier = []
            for rels in edges.values():
                for rel in rels:
                    if rel.properties.get("declaredBy") != shell:
                        continue
                    if rel.key not in mapped.relationships:
                        stale.append(rel)
                    if rel.target not in seen:
                        seen.add(rel.target)
                        frontier.append(rel.target)
    return stale


def _validate(batch: Batch, graph: TwinGraph) -> None:
    """Validate ``batch`` as :meth:`TwinGraph.apply` would, writing nothing (for a dry run)."""
    models = graph.models
    if batch.models:
        models = parse([*graph.store.model_documents(), *batch.models])
    issues = validate_batch(batch, models, graph.store)
    if issues:
        raise GraphValidationError(issues)


def _record(batch: Batch, record: int | None) -> str:
    if record is None:
        return ""
    if record < len(batch.twins):
        return f"twin {batch.twins[record].id}"
    index = record - len(batch.twins)
    if index < len(batch.relationships):
        rel = batch.relationships[index]
        return f"relationship {rel.source}/{rel.id}"
    return ""
