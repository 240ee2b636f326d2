"""Updates by JSON Patch (RFC 6902), as Azure Digital Twins takes them.

A patch applies to the record's JSON (``{"$dtId", "$metadata": {"$model"}, ...}`` for a twin); the ``$``
members may not change. The result is validated like any written record. A bad operation, a path that
is not found or a failing ``test`` is an ``invalidPatch`` issue whose pointer is the operation's index
(``/3``); the operations are applied in order and the first failing one stops the patch.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import jsonpatch
import jsonpointer

from dtgraph.dtdl.model import ModelSet
from dtgraph.graph.errors import GraphIssue, GraphValidationError
from dtgraph.graph.records import Relationship, Twin
from dtgraph.graph.validation import relationship_property_issues, twin_issues

__all__ = ["apply_patch", "patch_relationship", "patch_twin"]

_FAILURES = (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException, TypeError, ValueError, KeyError)


def apply_patch(document: Mapping[str, Any], patch: Any) -> tuple[dict[str, Any] | None, list[GraphIssue]]:
    """``document`` patched (a copy), or None and the issues; its ``$`` members must stay as they are.

    ``patch`` is a list of operations or its JSON text.
    """
    if isinstance(patch, (str, bytes, bytearray)):
        try:
            patch = json.loads(patch)
        except ValueError as exc:
            return None, [GraphIssue("invalidPatch", f"the patch is not JSON: {exc}", "")]
    if not isinstance(patch, list):
        return None, [GraphIssue("invalidPatch", "a JSON Patch is an array of operations", "")]
    operations: list[jsonpatch.JsonPatch] = []
    issues: list[GraphIssue] = []
    for i, op in enumerate(patch):
        if not isinstance(op, Mapping):
            issues.append(GraphIssue("invalidPatch", f"operation {i} is not an object: {op!r}", f"/{i}"))
            continue
        try:
            operations.append(jsonpatch.JsonPatch([op]))
        except _FAILURES as exc:
            issues.append(GraphIssue("invalidPatch", f"operation {i} {_describe(op)}: {exc}", f"/{i}"))
    if issues:
        return None, issues
    fixed = {k: v for k, v in document.items() if k.startswith("$")}
    result: Any = copy.deepcopy(dict(document))
    for i, (op, operation) in enumerate(zip(patch, operations, strict=True)):
        try:
            result = operation.apply(result, in_place=True)
        except _FAILURES as exc:
            return None, [GraphIssue("invalidPatch", f"operation {i} {_describe(op)}: {exc}", f"/{i}")]
        if not isinstance(result, dict) or {k: v for k, v in result.items() if k.startswith("$")} != fixed:
            message = f"operation {i} {_describe(op)} changes a '$' member, which a patch may not change"
            return None, [GraphIssue("invalidPatch", message, f"/{i}")]
    return result, []


def _describe(op: Mapping[str, Any]) -> str:
    return f"({op.get('op')!r} at {op.get('path')!r})"


def patch_twin(twin: Twin, patch: Any, models: ModelSet) -> Twin:
    """The twin with ``patch`` applied and validated; raises GraphValidationError with every issue."""
    result, issues = apply_patch(twin.to_json(), patch)
    if result is None:
        raise GraphValidationError(issues)
    patched = Twin.from_json(result)
    issues = twin_issues(patched, models)
    if issues:
        raise GraphValidationError(issues)
    return patched


def patch_relationship(rel: Relationship, patch: Any, models: ModelSet, source_model: str) -> Relationship:
    """The relationship with ``patch`` applied to its properties and validated against the definition
    on ``source_model`` (the source twin's model); raises GraphValidationError with every issue."""
    result, issues = apply_patch(rel.to_json(), patch)
    if result is None:
        raise GraphValidationError(issues)
    patched = Relationship.from_json(result)
    iface = models.interfaces.get(source_model)
    definition = iface.relationships.get(rel.name) if iface is not None else None
    if definition is None:
        message = f"model '{source_model}' of twin '{rel.source}' declares no relationship '{rel.name}'"
        raise GraphValidationError([GraphIssue("unknownRelationship", message, "/$relationshipName")])
    issues = relationship_property_issues(patched, definition)
    if issues:
        raise GraphValidationError(issues)
    return patched
