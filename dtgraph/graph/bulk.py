"""Bulk import and export of whole graphs in the import-job NDJSON format (see :mod:`dtgraph.graph.ndjson`).

An import checks everything — the format, the models together with the stored ones, every twin
against its model, every relationship against its ends, duplicate ids and multiplicities — holding only
ids and models in memory beside the records being written, and reports every problem with its line.
The records go to the store in chunks through ``Store.apply_stream``, which applies them as one atomic
change. A rejected import writes nothing.

Into the memory store and Neo4j the file is read once: each chunk is checked, then written, and a
problem found anywhere stops the writing and rolls back what was written (memory: an undo in memory and
a cut of the journal, both cheap; Neo4j: the staged chunks, never visible, are deleted; it commits a
chunk while the next is checked). A large file goes into the memory store on two cores instead: a
forked process checks it while this one writes it, and the write is rolled back the same way unless
the check finds nothing (see :mod:`dtgraph.graph.check_process`). Into other stores the file is read
twice: the first pass checks, and only when nothing is wrong does the second pass write, so a rejected
file costs the store nothing.
Either way the store is read only for twins and relationships the file does not write (or, for the
twins it writes, before their chunk is written), so both give the same answers.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Any, TextIO

from dtgraph.dtdl import DtdlValidationError, ModelSet, parse
from dtgraph.dtdl.model import Relationship as RelationshipDef
from dtgraph.graph import check_process
from dtgraph.graph.errors import GraphIssue
from dtgraph.graph.ndjson import FILE_VERSION, ImportItem, read_items, write_items
from dtgraph.graph.records import Relationship, RelationshipKey, Twin
from dtgraph.graph.validation import relationship_issues, relationship_property_checks, twin_issues
from dtgraph.stores._collector import collector_paused
from dtgraph.stores.base import Batch, Store
from dtgraph.stores.errors import StoreError

__all__ = ["ImportReport", "export_graph", "import_graph"]

CHUNK = 10_000
# called with the number of lines read so far: once a chunk on a one-pass import (a call a line costs
# a few per cent of the import), once every PROGRESS_LINES lines on a two-pass one
Progress = Callable[[int], None]
PROGRESS_LINES = 1000


@dataclass
class ImportReport:
    """What an import found and did."""

    models: int = 0
    twins: int = 0
    relationships: int = 0
    issues: list[GraphIssue] = field(default_factory=list)
    issues_dropped: int = 0  # found beyond ``max_issues``, counted but not kept
    written: bool = False
    seconds: float = 0.0  # the whole import
    # its shares: reading and checking, writing into the store; they overlap when a child process
    # checked the file (``checked_aside``) while this one wrote it
    check_seconds: float = 0.0
    write_seconds: float = 0.0
    checked_aside: bool = False

    @property
    def ok(self) -> bool:
        return not self.issues

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "written": self.written,
            "models": self.models,
            "twins": self.twins,
            "relationships": self.relationships,
            "seconds": round(self.seconds, 3),
            "checkSeconds": round(self.check_seconds, 3),
            "writeSeconds": round(self.write_seconds, 3),
            "checkedAside": self.checked_aside,
            "issuesDropped": self.issues_dropped,
            "issues": [
                {"code": i.code, "message": i.message, "line": i.line, "pointer": i.pointer}
                for i in self.issues
            ],
        }


def import_graph(
    path: Path,
    store: Store,
    *,
    dry_run: bool = False,
    progress: Progress | None = None,
    chunk: int = CHUNK,
    max_issues: int = 1000,
) -> ImportReport:
    """Check an import file and, if it is sound and ``dry_run`` is off, load it atomically."""
    started = time.perf_counter()
    report = ImportReport()
    checker = _Checker(store, report, max_issues)
    kind = _store_kind(store)
    if dry_run or kind is None:
        _check_pass(path, checker, progress)
        report.check_seconds = time.perf_counter() - started
        if report.ok and not dry_run:
            with path.open("rb") as lines:
                store.apply_stream(_batches(lines, chunk))
            report.written = True
            report.write_seconds = time.perf_counter() - started - report.check_seconds
    elif kind == "memory" and check_process.usable(path):
        _write_beside_check(path, store, checker, chunk, progress)
    else:
        # the file object itself as the lines: a generator around it would cost a switch a line
        with path.open("rb") as lines:
            one_pass = _OnePass(checker, read_items(lines, checker.issue), chunk, progress)
            try:
                store.apply_stream(one_pass.batches())
            except _Rejected:
                pass  # the store rolled the stream back
            else:
                report.written = True
        report.check_seconds = one_pass.seconds
        report.write_seconds = time.perf_counter() - started - one_pass.seconds
    report.issues.sort(key=lambda i: (i.line or 0, i.code))
    report.seconds = time.perf_counter() - started
    return report


def _check_pass(
    path: Path, checker: _Checker, progress: Progress | None, tell: Callable[[], None] | None = None
) -> None:
    """Read and check the whole file; ``tell`` is called (every PROGRESS_LINES lines) once a problem
    is found."""
    report = checker.report
    with path.open("rb") as lines, collector_paused():  # see collector_paused: 3x slower without
        shown = line = 0
        for item in read_items(lines, checker.issue):
            checker.take(item)
            if len(checker.pending) >= CHUNK:
                checker.flush_relationships()
            line = item.line
            if line - shown >= PROGRESS_LINES:
                shown = line
                if progress is not None:
                    progress(line)
                if tell is not None and (report.issues or report.issues_dropped):
                    tell()
        if progress is not None and line > shown:
            progress(line)
        checker.finish()


def _write_beside_check(
    path: Path, store: Store, checker: _Checker, chunk: int, progress: Progress | None
) -> None:
    """Write the file into ``store`` while a forked child checks it (see :mod:`check_process`)."""
    report = checker.report
    report.checked_aside = True

    def check(tell: Callable[[], None]) -> ImportReport:
        started = time.perf_counter()
        _check_pass(path, checker, None, tell)
        report.check_seconds = time.perf_counter() - started
        return report

    started = time.perf_counter()
    with check_process.CheckProcess(check) as child:
        answer: ImportReport | None = None

        def batches(lines: Iterable[bytes]) -> Iterator[Batch]:
            nonlocal answer
            yield from _batches(lines, chunk, progress, stop=child.problem_found)
            answer = child.report()
            if not answer.ok or answer.issues_dropped:
                raise _Rejected

        try:
            with path.open("rb") as lines:
                store.apply_stream(batches(lines))
        except _Rejected:
            pass  # the store rolled the stream back
        except StoreError:
            # unchecked records can break a store rule (an end that is missing): the check says why
            answer = answer or child.report()
            if answer.ok and not answer.issues_dropped:
                raise
        else:
            report.written = True
        report.write_seconds = time.perf_counter() - started
    assert answer is not None
    for name in ("models", "twins", "relationships", "issues", "issues_dropped", "check_seconds"):
        setattr(report, name, getattr(answer, name))


def _store_kind(store: Store) -> str | None:
    """ "memory" or "neo4j": a store into which a rejected import costs little enough to check and
    write in one pass (or beside each other); None for any other."""
    from dtgraph.stores.memory import MemoryStore  # here: the stores import this package's records

    if isinstance(store, MemoryStore):
        return "memory"
    # a Neo4jStore exists only once its module is imported: importing the driver costs a memory
    # store's import 0.2 s
    neo4j = sys.modules.get("dtgraph.stores.neo4j")
    return "neo4j" if neo4j is not None and isinstance(store, neo4j.Neo4jStore) else None


class _Rejected(Exception):
    """Raised into ``apply_stream`` when the file has problems, so that nothing of it stays written."""


class _OnePass:
    """Check and write in one pass: each chunk is checked before it is handed to the store.

    The store is read for a chunk of twins before that chunk is written, and otherwise only for
    twins and relationships the file does not write, so the checks see the graph as it was. After the
    first problem nothing more is written; the file is still read to the end to report every problem,
    then the stream raises so that the store rolls back what it took.
    """

    def __init__(
        self, checker: _Checker, items: Iterator[ImportItem], chunk: int, progress: Progress | None
    ) -> None:
        self.checker = checker
        self.items = items
        self.chunk = chunk
        self.progress = progress
        self.line = 0  # the last line read
        self.seconds = 0.0  # spent reading and checking, outside the store
        self.models_sent = False

    def clean(self) -> bool:
        report = self.checker.report
        return not report.issues and not report.issues_dropped

    def batches(self) -> Iterator[Batch]:
        checker = self.checker
        twins: list[Twin] = []
        rels: list[Relationship] = []
        started = time.perf_counter()
        line = 0
        for item in self.items:
            line, _, value = item
            # checker.take(item), inline for the records: one call less per line
            if type(value) is Relationship:
                if twins:  # the last twins: looked up before they are written, as above
                    checker.flush_twins()
                    self.line = line
                    yield from self.send(Batch(twins=twins), started)
                    started = time.perf_counter()
                    twins = []
                checker.pending.append((line, value))
                rels.append(value)
                if len(rels) < self.chunk:
                    continue
                checker.flush_relationships()
                batch = Batch(relationships=rels)
                rels = []
            elif type(value) is Twin:
                checker.twin(line, value)
                twins.append(value)
                if len(twins) < self.chunk:
                    continue
                checker.flush_twins()  # which of them the store holds, before they are written
                batch = Batch(twins=twins)
                twins = []
            else:
                checker.take(item)
                continue
            self.line = line
            yield from self.send(batch, started)
            started = time.perf_counter()
        self.line = line
        checker.finish()  # the last chunks, multiplicities and model changes
        for batch in (Batch(twins=twins), Batch(relationships=rels), Batch()):  # Batch(): models alone
            yield from self.send(batch, started)
            started = time.perf_counter()
        self.seconds += time.perf_counter() - started
        if not self.clean():
            raise _Rejected

    def send(self, batch: Batch, started: float) -> Iterator[Batch]:
        """Hand ``batch`` (models first) to the store if nothing is wrong so far; time the rest."""
        self.seconds += time.perf_counter() - started
        if self.progress is not None:
            self.progress(self.line)
        if not self.clean():
            return
        if not self.models_sent and self.checker.new_models:
            self.models_sent = True
            yield Batch(models=self.checker.new_models)
        if batch:
            yield batch


class _Checker:
    """The first pass: everything an import would do, checked with ids and models only in memory."""

    def __init__(self, store: Store, report: ImportReport, max_issues: int) -> None:
        self.store = store
        self.report = report
        self.max_issues = max_issues
        self.stored_models = store.model_documents()
        self.new_models: list[dict[str, Any]] = []
        self.model_lines: list[int] = []
        self.models: ModelSet | None = None
        self.twin_model: dict[str, str] = {}  # twins of the file: id → model
        self.twin_line: dict[str, int] = {}
        self.rel_line: dict[RelationshipKey, int] = {}
        # maxMultiplicity bookkeeping, per (source, relationship name) with a limit
        self.counts: dict[tuple[str, str], int] = {}
        self.limits: dict[tuple[str, str], int] = {}
        self.first_line: dict[tuple[str, str], int] = {}
        self.stored_sources: set[str] = set()
        # twins of the file that the store already holds, and those whose model the file changes
        self.unlooked: list[str] = []
        self.existing: set[str] = set()
        self.model_changed: dict[str, int] = {}
        self.pending: list[tuple[int, Relationship]] = []
        self.ends: dict[str, Twin] = {}  # relationship ends of the file, as records (see _twin)
        self.rules: dict[tuple[str | None, str], _Rule | None] = {}  # (source model, name) -> rule

    def issue(self, issue: GraphIssue) -> None:
        if len(self.report.issues) < self.max_issues:
            self.report.issues.append(issue)
        else:
            self.report.issues_dropped += 1

    def take(self, item: ImportItem) -> None:
        if item.section == "Header":
            assert isinstance(item.value, dict)
            version = item.value.get("fileVersion")
            if version != FILE_VERSION:
                self.issue(
                    GraphIssue(
                        "unsupportedVersion",
                        f"fileVersion {version!r} is not {FILE_VERSION!r}",
                        "/fileVersion",
                        line=item.line,
                    )
                )
        elif item.section == "Models":
            assert isinstance(item.value, dict)
            self.new_models.append(item.value)
            self.model_lines.append(item.line)
            self.report.models += 1
        elif item.section == "Twins":
            assert isinstance(item.value, Twin)
            self.twin(item.line, item.value)
        else:
            assert isinstance(item.value, Relationship)
            self.pending.append((item.line, item.value))

    def model_set(self) -> ModelSet | None:
        if self.models is None:
            replaced = {m.get("@id") for m in self.new_models}
            stored = [m for m in self.stored_models if m.get("@id") not in replaced]
            try:
                self.models = parse([*stored, *self.new_models])
            except DtdlValidationError as exc:
                for e in exc.errors:
                    doc = e.location.document - len(stored) if e.location is not None else -1
                    line = self.model_lines[doc] if 0 <= doc < len(self.model_lines) else None
                    pointer = e.location.pointer if e.location is not None else ""
                    self.issue(GraphIssue("invalidModel", f"{e.code}: {e.message}", pointer, line=line))
                self.models = ModelSet(interfaces={}, elements={})
                return None
        return self.models if self.models.interfaces or not self.new_models else None

    def twin(self, line: int, twin: Twin) -> None:
        self.report.twins += 1
        first = self.twin_line.get(twin.id)
        if first is not None:
            self.issue(
                GraphIssue("duplicateTwin", f"twin '{twin.id}' is also on line {first}", "/$dtId", line=line)
            )
            return
        self.twin_line[twin.id] = line
        self.twin_model[twin.id] = twin.model
        self.unlooked.append(twin.id)
        if len(self.unlooked) >= CHUNK:
            self.flush_twins()
        models = self.models if self.models is not None and self.models.interfaces else self.model_set()
        if models is None:
            return
        for issue in twin_issues(twin, models):
            self.issue(GraphIssue(issue.code, issue.message, issue.pointer, line=line))

    def flush_twins(self) -> None:
        """Which twins of the file replace stored ones (one read per chunk)."""
        ids, self.unlooked = self.unlooked, []
        for twin_id, stored in self.store.get_twins(ids).items():
            self.existing.add(twin_id)
            if stored.model != self.twin_model[twin_id]:
                self.model_changed[twin_id] = self.twin_line[twin_id]

    def flush_relationships(self) -> None:
        """Check the pending relationships: each against the rule of its (source model, name), worked
        out once per import (:class:`_Rule`); one that breaks it goes through ``relationship_issues``,
        which says how."""
        self.flush_twins()
        models = self.model_set()
        batch, self.pending = self.pending, []
        if models is None or not batch:
            return
        # the models of the ends, looked up in C; ends not in the file are read from the store, one
        # read a chunk
        records = list(map(_second, batch))
        models_of = self.twin_model.get
        sources = list(map(models_of, map(_source, records)))
        targets = list(map(models_of, map(_target, records)))
        stored: dict[str, Twin] = {}
        if None in sources or None in targets:
            outside = {r.source for r, m in zip(records, sources, strict=True) if m is None}
            outside.update(r.target for r, m in zip(records, targets, strict=True) if m is None)
            stored = self.store.get_twins(outside)
        stored_model = {i: t.model for i, t in stored.items()}
        self.report.relationships += len(batch)
        rel_line, rules, counts = self.rel_line, self.rules, self.counts
        for (line, rel), source, target in zip(batch, sources, targets, strict=True):
            source_id, target_id, name = rel.source, rel.target, rel.name
            key = (source_id, rel.id)
            first = rel_line.setdefault(key, line)
            if first != line:
                message = f"relationship '{rel.id}' of twin '{source_id}' is also on line {first}"
                self.issue(GraphIssue("duplicateRelationship", message, "/$relationshipId", line=line))
                continue
            if source is None:
                source = stored_model.get(source_id)
            if target is None:
                target = stored_model.get(target_id)
            rule = rules.get((source, name), _UNSEEN)
            if rule is _UNSEEN:
                rule = rules[source, name] = _Rule.of(source, name, models)
            if rule is None or target is None or not rule.fits(rel, target, models):
                ends = self._twin(source_id, stored), self._twin(target_id, stored)
                for issue in relationship_issues(rel, *ends, models):
                    self.issue(GraphIssue(issue.code, issue.message, issue.pointer, line=line))
            if rule is None or rule.limit is None:
                continue
            key = (source_id, name)
            count = counts.get(key)
            if count is not None:
                counts[key] = count + 1
                continue
            counts[key] = 1  # the first of the source's relationships of that name
            self.limits[key] = rule.limit
            self.first_line[key] = line
            if source_id in stored or source_id in self.existing:
                self.stored_sources.add(source_id)

    def _twin(self, twin_id: str, stored: dict[str, Twin]) -> Twin | None:
        """The end of a relationship: the file's twin (its id and model suffice), else the stored one."""
        model = self.twin_model.get(twin_id)
        if model is None:
            return stored.get(twin_id)
        ends = self.ends
        twin = ends.get(twin_id)
        if twin is None:
            if len(ends) >= CHUNK:  # a few thousand recent ones: a twin's relationships sit together
                ends.clear()
            twin = ends[twin_id] = Twin(twin_id, model)
        return twin

    def check_multiplicity(self) -> None:
        """Relationships of the file plus the stored ones it does not replace, against maxMultiplicity."""
        sources = sorted(self.stored_sources)
        for start in range(0, len(sources), CHUNK):
            existing = self.store.relationships(sources[start : start + CHUNK])
            for rels in existing.values():
                for r in rels:
                    key = (r.source, r.name)
                    if key in self.limits and r.key not in self.rel_line:
                        self.counts[key] = self.counts.get(key, 0) + 1
        for key, count in self.counts.items():
            if count > self.limits[key]:
                message = (
                    f"twin '{key[0]}' would have {count} '{key[1]}' relationships; at most {self.limits[key]}"
                )
                self.issue(
                    GraphIssue(
                        "tooManyRelationships", message, "/$relationshipName", line=self.first_line[key]
                    )
                )

    def check_model_changes(self) -> None:
        """Stored relationships to or from a twin whose model the file changes must still fit."""
        models = self.model_set()
        changed = sorted(self.model_changed)
        if models is None:
            return
        for start in range(0, len(changed), CHUNK):
            ids = changed[start : start + CHUNK]
            around = self.store.relationships(ids, direction="both")
            rels = {r.key: r for rs in around.values() for r in rs if r.key not in self.rel_line}
            ends = {i for r in rels.values() for i in (r.source, r.target) if i not in self.twin_model}
            stored = self.store.get_twins(ends) if ends else {}
            for r in rels.values():
                source, target = (self._twin(i, stored) for i in (r.source, r.target))
                line = self.model_changed.get(r.source) or self.model_changed.get(r.target)
                for issue in relationship_issues(r, source, target, models):
                    message = (
                        f"stored relationship '{r.id}' of twin '{r.source}' would break: {issue.message}"
                    )
                    self.issue(GraphIssue(issue.code, message, "/$metadata/$model", line=line))

    def finish(self) -> None:
        self.model_set()
        self.flush_relationships()
        self.check_multiplicity()
        self.check_model_changes()


_UNSEEN: Any = object()
_second = itemgetter(1)
_source = attrgetter("source")
_target = attrgetter("target")


@dataclass(slots=True)
class _Rule:
    """A relationship name of a source model, with what a relationship of it needs to be sound: the
    target models it accepts (worked out as they turn up), a check per property, its maxMultiplicity.
    :meth:`fits` is True only where ``relationship_issues`` finds nothing (tests compare the two)."""

    definition: RelationshipDef
    checks: dict[str, Callable[[Any], bool]]
    limit: int | None
    targets: dict[str, bool] = field(default_factory=dict)  # target model -> accepted

    @classmethod
    def of(cls, source: str | None, name: str, models: ModelSet) -> _Rule | None:
        iface = models.interfaces.get(source) if source is not None else None
        definition = iface.relationships.get(name) if iface is not None else None
        if definition is None:
            return None
        return cls(definition, relationship_property_checks(definition), definition.max_multiplicity)

    def fits(self, rel: Relationship, target: str, models: ModelSet) -> bool:
        accepted = self.targets.get(target)
        if accepted is None:
            base = self.definition.target
            accepted = self.targets[target] = base is None or (
                target in models.interfaces and models.is_a(target, base)
            )
        if not accepted or not rel.id:
            return False
        checks = self.checks
        for name, value in rel.properties.items():
            check = checks.get(name)
            if check is None or not check(value):
                return False
        return True


def _batches(
    lines: Iterable[bytes],
    chunk: int,
    progress: Progress | None = None,
    stop: Callable[[], bool] | None = None,
) -> Iterator[Batch]:
    """The file's records in chunks, its models first, for a file checked (or being checked) already;
    ``stop`` is asked before each chunk whether to end early."""
    models: list[dict[str, Any]] = []
    twins: list[Twin] = []
    rels: list[Relationship] = []
    line = 0
    for line, section, value in read_items(lines, _ignore):
        if type(value) is Relationship:
            rels.append(value)
            if twins:  # the last twins, before the first relationships
                full, twins = Batch(twins=twins), []
            elif len(rels) >= chunk:
                full, rels = Batch(relationships=rels), []
            else:
                continue
        elif type(value) is Twin:
            twins.append(value)
            if len(twins) < chunk:
                continue
            full, twins = Batch(twins=twins), []
        else:
            if section == "Models":
                assert isinstance(value, dict)
                models.append(value)
            continue
        if progress is not None:
            progress(line)
        if stop is not None and stop():
            return
        if models:
            yield Batch(models=models)
            models = []
        yield full
    if progress is not None and line:
        progress(line)
    for batch in (Batch(models=models), Batch(twins=twins), Batch(relationships=rels)):
        if batch:
            yield batch


def _ignore(_issue: GraphIssue) -> None:
    """The second pass reads a file the first pass found sound."""


def export_graph(store: Store, out: TextIO) -> int:
    """Write the whole graph as an import file in one streaming pass; returns the records written."""
    return write_items(out, store.model_documents(), store.snapshot())
