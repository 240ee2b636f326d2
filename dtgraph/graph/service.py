"""``TwinGraph``: the one write path of the server (CLI, GraphQL and imports all use it).

Every method validates the whole change first — against the models and the graph as the store holds it —
and writes nothing when anything is wrong: it raises :class:`~dtgraph.graph.errors.GraphValidationError`
with every issue (or :class:`~dtgraph.dtdl.DtdlValidationError` for invalid DTDL). Valid changes reach the
store as one atomic :class:`~dtgraph.stores.Batch`.

Model changes: models are added or replaced by ``@id``. Deleting a model twins still use, or that other
models still refer to, is refused (``modelInUse``); replacing or deleting models is refused when an
existing twin or relationship would no longer fit (``incompatibleModel``, the underlying rule named in the
message). The parsed :class:`~dtgraph.dtdl.ModelSet` is cached. Other processes may change the models of a
store they share (Neo4j: another server, the command line): every validated write first reads them again
if the store's :meth:`~dtgraph.stores.Store.models_version` moved, and a server calls
:meth:`TwinGraph.refresh_models` every few seconds. :meth:`TwinGraph.reload_models` reads them in any case.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from dtgraph.dtdl import DtdlResolutionError, ModelSet, parse
from dtgraph.graph.errors import GraphIssue, GraphValidationError
from dtgraph.graph.patch import patch_relationship, patch_twin
from dtgraph.graph.records import Relationship, RelationshipKey, Twin
from dtgraph.graph.validation import Existing, check_batch, coerce_relationships, coerce_twins
from dtgraph.stores.base import Batch, Store

__all__ = ["TwinGraph"]

_PAGE = 1000


@dataclass(frozen=True, slots=True)
class _ModelPlan:
    documents: list[dict[str, Any]]  # the stored documents after the change
    written: list[dict[str, Any]]  # interface documents to add or replace
    models: ModelSet
    affected: set[str]  # interfaces whose twins must be checked again
    issues: list[GraphIssue]


class TwinGraph:
    """Validated writes of models, twins and relationships to a :class:`~dtgraph.stores.Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._documents: list[dict[str, Any]] | None = None
        self._models: ModelSet | None = None
        self._version: int | None = None  # the store's models_version the models are of; None: unknown

    # --- models -----------------------------------------------------------------------------------

    @property
    def models(self) -> ModelSet:
        """The stored models, parsed (cached)."""
        if self._models is None:
            return self.reload_models()
        return self._models

    def reload_models(self) -> ModelSet:
        """Parse the store's model documents again (after another writer changed them)."""
        self._version = self.store.models_version()  # first: a change after it shows at the next look
        documents = self.store.model_documents()
        self._models = parse(documents)
        self._documents = documents
        return self._models

    def refresh_models(self) -> bool:
        """Read the models again if they are not read yet or another process changed them since (the
        store's ``models_version`` moved); whether they were read."""
        if self._models is not None:
            version = self.store.models_version()
            if version is None or version == self._version:
                return False
        self.reload_models()
        return True

    def upload_models(self, documents: Sequence[Any]) -> list[str]:
        """Add or replace DTDL interfaces (JSON texts or values; a document may be an array of them).

        They are parsed together with the stored models. Returns the uploaded interface ids.
        """
        batch = Batch(models=list(documents))
        written = self.apply(batch)
        return [str(d["@id"]) for d in written]

    def delete_models(self, ids: Iterable[str]) -> None:
        """Delete interfaces; refused while twins or other models use them (``modelInUse``)."""
        self.apply(Batch(delete_models=list(ids)))

    # --- twins ------------------------------------------------------------------------------------

    def create_twins(self, twins: Iterable[Twin | Mapping[str, Any]]) -> list[Twin]:
        """Create twins (records or ADT JSON); an id that exists already is a ``duplicateTwin``."""
        items = list(twins)
        records, issues = coerce_twins(items)
        self._write(Batch(twins=records), "new", issues, _positions(len(items), issues))
        return records

    def replace_twin(self, twin: Twin | Mapping[str, Any]) -> Twin:
        """Replace an existing twin whole (its model may change if its relationships still fit)."""
        records, issues = coerce_twins([twin])
        self._write(Batch(twins=records), "existing", issues)
        return records[0]

    def patch_twin(self, twin_id: str, patch: Any) -> Twin:
        """Apply a JSON Patch to a twin's JSON (its ``$dtId`` and model stay) and store the result."""
        twin = self.store.get_twin(twin_id)
        if twin is None:
            raise GraphValidationError([GraphIssue("missingTwin", f"twin '{twin_id}' does not exist", "")])
        self.refresh_models()
        patched = patch_twin(twin, patch, self.models)
        self.store.apply(Batch(twins=[patched]))
        return patched

    def delete_twins(self, ids: Iterable[str]) -> None:
        """Delete twins and every relationship to or from them."""
        self._write(Batch(delete_twins=list(ids)), "any", [])

    # --- relationships ----------------------------------------------------------------------------

    def create_relationships(self, rels: Iterable[Relationship | Mapping[str, Any]]) -> list[Relationship]:
        """Create relationships (records or ADT JSON); an existing key is a ``duplicateRelationship``."""
        items = list(rels)
        records, issues = coerce_relationships(items)
        self._write(Batch(relationships=records), "new", issues, _positions(len(items), issues))
        return records

    def patch_relationship(self, source: str, rel_id: str, patch: Any) -> Relationship:
        """Apply a JSON Patch to a relationship's JSON; only its properties may change."""
        rel = self.store.get_relationships([(source, rel_id)]).get((source, rel_id))
        twin = self.store.get_twin(source)
        if rel is None or twin is None:
            message = f"relationship '{rel_id}' of twin '{source}' does not exist"
            raise GraphValidationError([GraphIssue("missingRelationship", message, "")])
        self.refresh_models()
        patched = patch_relationship(rel, patch, self.models, twin.model)
        self.store.apply(Batch(relationships=[patched]))
        return patched

    def delete_relationships(self, keys: Iterable[RelationshipKey]) -> None:
        """Delete relationships by (source twin id, relationship id)."""
        self._write(Batch(delete_relationships=list(keys)), "any", [])

    # --- batches ----------------------------------------------------------------------------------

    def apply(self, batch: Batch) -> list[dict[str, Any]]:
        """Validate a whole batch (models, twins, relationships, deletions) then apply it atomically.

        Twins and relationships are upserted. Returns the interface documents the batch wrote.
        """
        return self._write(batch, "any", [])

    def _write(
        self,
        batch: Batch,
        existing: Existing,
        issues: list[GraphIssue],
        positions: Sequence[int] | None = None,
    ) -> list[dict[str, Any]]:
        """Validate and apply; ``positions`` maps batch record numbers to the caller's (records that
        could not be decoded are not in the batch)."""
        self.refresh_models()
        models = self.models
        plan: _ModelPlan | None = None
        recheck: set[str] = set()
        if batch.models or batch.delete_models:
            plan = self._plan_models(batch.models, batch.delete_models)
            models = plan.models
            issues = issues + plan.issues
            users = self._twins_of(plan.affected)
            gone = set(batch.delete_models)
            removed = set(batch.delete_twins) | {t.id for t in batch.twins}
            for model in sorted(gone):
                using = [t for t in users.get(model, []) if t not in removed]
                if using:
                    sample = ", ".join(f"'{t}'" for t in using[:5]) + (", …" if len(using) > 5 else "")
                    message = f"model '{model}' is used by {len(using)} twin(s): {sample}"
                    issues.append(GraphIssue("modelInUse", message, ""))
            recheck = {t for m, ids in users.items() if m not in gone for t in ids}
            batch = replace(batch, models=plan.written)
        own, others = check_batch(batch, models, self.store, existing=existing, recheck=recheck)
        if positions is not None:
            own = [i if i.record is None else replace(i, record=positions[i.record]) for i in own]
        if plan is not None:
            others = [
                GraphIssue("incompatibleModel", f"after the model change, {i.code}: {i.message}", i.pointer)
                for i in others
            ]
        issues = issues + own + others
        if issues:
            raise GraphValidationError(issues)
        before = self._version
        if batch:
            self.store.apply(batch)
        if plan is not None:
            self._documents, self._models = plan.documents, plan.models
            # the plan holds the models as they are now unless another process changed them as well
            after = self.store.models_version()
            self._version = after if before is not None and after == before + 1 else None
        return plan.written if plan is not None else []

    def _plan_models(self, documents: Sequence[Any], delete: Sequence[str]) -> _ModelPlan:
        if self._documents is None:
            self.reload_models()
        current = list(self._documents or [])
        by_id = {str(d.get("@id")): d for d in current}
        written, issues = _interfaces(documents)
        for dtmi in delete:
            if dtmi not in by_id:
                issues.append(GraphIssue("unknownModel", f"model '{dtmi}' to delete does not exist", ""))
        replaced = {str(d["@id"]) for d in written}
        kept = [d for d in current if d.get("@id") not in replaced and d.get("@id") not in set(delete)]
        sources: list[str | None] = [None] * len(documents) + [f"stored model {d.get('@id')}" for d in kept]
        try:
            models = parse([*documents, *kept], sources=sources)
        except DtdlResolutionError as exc:
            gone = set(delete) & set(exc.undefined_identifiers)
            if not gone:
                raise
            for error in exc.errors:
                if error.value in gone and error.location is not None:
                    index = error.location.document
                    user = (
                        f"uploaded document {index}"
                        if index < len(documents)
                        else f"model '{kept[index - len(documents)].get('@id')}'"
                    )
                    message = f"model '{error.value}' is still referenced by {user}"
                    issues.append(GraphIssue("modelInUse", message, ""))
            raise GraphValidationError(issues) from exc
        changed = {str(d["@id"]) for d in written if by_id.get(str(d["@id"])) not in (None, d)}
        changed |= set(delete) & set(by_id)
        affected = _dependents(changed, [self.models, models])
        after = {dtmi: d for dtmi, d in by_id.items() if dtmi not in set(delete)}
        after.update((str(d["@id"]), d) for d in written)  # a replaced model keeps its place
        return _ModelPlan(list(after.values()), written, models, affected, issues)

    def _twins_of(self, models: Iterable[str]) -> dict[str, list[str]]:
        """The ids of the stored twins of each model (exactly that model), read page by page."""
        out: dict[str, list[str]] = {}
        for model in sorted(set(models) & set(self.models.interfaces)):
            cursor: str | None = None
            while True:
                page = self.store.query_twins(model, include_subtypes=False, limit=_PAGE, after=cursor)
                out.setdefault(model, []).extend(t.id for t in page.twins)
                cursor = page.cursor
                if cursor is None:
                    break
        return out


def _positions(count: int, issues: Sequence[GraphIssue]) -> list[int]:
    """The input positions of the records that were decoded (those without an issue)."""
    bad = {i.record for i in issues}
    return [n for n in range(count) if n not in bad]


def _interfaces(documents: Sequence[Any]) -> tuple[list[dict[str, Any]], list[GraphIssue]]:
    """The interface documents in the uploaded ones (arrays flattened); JSON errors are left to parse."""
    out: list[dict[str, Any]] = []
    issues: list[GraphIssue] = []
    for i, doc in enumerate(documents):
        value = doc
        if isinstance(doc, (bytes, bytearray)):
            doc = bytes(doc).decode("utf-8-sig", errors="replace")
        if isinstance(doc, str):
            try:
                value = json.loads(doc.lstrip("\ufeff"))
            except ValueError:
                continue  # parse reports it with its line and column
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, Mapping) and isinstance(item.get("@id"), str):
                out.append(dict(item))
            else:
                issues.append(GraphIssue("invalidRecord", "a model document needs an '@id'", "", i))
    return out, issues


def _dependents(changed: set[str], model_sets: Sequence[ModelSet]) -> set[str]:
    """``changed`` and every interface that extends one or has one as a component, directly or not."""
    uses: dict[str, set[str]] = {}
    for models in model_sets:
        for iface in models.interfaces.values():
            refs = uses.setdefault(iface.id, set())
            refs.update(iface.extends)
            refs.update(c.schema for c in iface.components.values())
    affected = set(changed)
    grew = True
    while grew:
        grew = False
        for dtmi, refs in uses.items():
            if dtmi not in affected and refs & affected:
                affected.add(dtmi)
                grew = True
    return affected
