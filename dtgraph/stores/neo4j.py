"""The Neo4j store: the asset graph in Neo4j 5 (Community, Enterprise, Aura) through the official driver.

The graph in Neo4j::

    (:Model {id, json, seq, labels})-[:EXTENDS]->(:Model)            one node per DTDL interface document
    (:Twin:`M_…`:`M_…` {id, model, json, p_<path>…, x_<path>…})      one node per twin
    (:Twin)-[:`R_<name>` {id, name?, json?}]->(:Twin)                one edge per relationship
    (:ModelVersion {id: 'models', value})                           one more with each change of models

Labels and types. A twin carries ``Twin`` and the label of its model and of every model its model extends
(see :func:`model_label`), so "twins of this model and its subtypes" is one label scan inside Neo4j. The
ancestry comes from the stored documents' ``extends``; a batch that changes it (a base model added later,
a model replaced or deleted) relabels the twins of every model whose ancestry changed, in the same
transaction. A relationship's type is derived from its name (see :func:`relationship_type`); ``name`` is
stored only when the type does not spell it (``R_<name>``), ``json`` only when there are properties.
Labels and types are the only text ever put into Cypher, and they contain nothing but ``[A-Za-z0-9_]``
(and are backquoted all the same); every value travels as a parameter.

Property values. ``json`` holds the record's properties as JSON text: that is what reads return, so
any value (components, Maps, arrays of Objects, 64-bit-overflowing integers, unicode) round-trips
exactly. For filtering, each top-level property and each property of a component (an object with a
``$metadata`` member) is also copied: a scalar that Neo4j can hold (boolean, int64, float, string)
as ``p_<path>``, anything else as ``x_<path>`` = a tag ("component", "object", "array", "null",
"number" for an integer beyond int64, "string" for text that is not valid UTF-8). ``path`` is
``name`` or ``component.name``; names containing "." are not copied (no filter path can reach them).

Filters run in Cypher over those copies as a pre-selection that never drops a twin the reference
semantics (:meth:`Filter.matches`) would keep; every candidate is then checked with ``Filter.matches``
itself, so results agree with the memory store exactly, and paging continues past candidates that fail.
Where Cypher and Python differ the pre-selection widens: Cypher never finds ``true = 1`` (Python does);
Cypher compares an integer with a float as doubles (so ``2**53 + 1 = 2.0**53`` there), hence strict
comparisons pre-select with ``<=``/``>=``; Cypher's ``<`` on strings compares UTF-16 units while its
ORDER BY (like Python) uses code points, so a string bound or cursor holding a character from U+E000 up
is widened to its prefix before that character; deeper paths and Objects are decided in Python alone.

Relationships have no index of their own: ``(source, id)`` is found by expanding the source twin, so
a lookup costs the source's degree. Writes delete the relationships a batch replaces and create the
new ones, inside one transaction per :meth:`Neo4jStore.apply`.

Imports (:meth:`Neo4jStore.apply_stream`) are too big for one transaction (a 2 GB heap runs out at
100,000 twins), so a stream is *staged* in one transaction per batch, then *published*; each batch
sees the ones before it (as consecutive ``apply`` calls would), and the process holds two batches at
a time (one committing while the next is read and encoded; and the stream's models)::

    (:Import {id, lock, state: "staging" | "publishing" | "rolling back", seen, models})  one at a time
    (:Staged:`S_M_…` {id, model, json, p_…, x_…, _replaces?})                 a twin of the import
    (:Staged)-[:`R_…` {…}]->(:Staged)                                         a relationship between two
    ()-[:`R_…` {…, _stage: <import id>}]->()                                  of them; any other one
    (:Twin {…, _touch: <import id>, _drop?: <import id>})                     a stored twin it touches

A staged twin has neither ``Twin`` nor a model label, so no read finds it; beside ``Staged`` it has the
label of its model prefixed ``S_`` (see :func:`_staged_label`), under which publication finds the twins
to give one set of labels. As one import runs at a time, every ``Staged`` node is the running import's:
staged twins carry no mark of it and no index, and the process keeps the node of each (one int a twin)
to find it again. A twin that replaces a stored one is staged beside it (``_replaces``) and
copied onto it at publication, so the stored twin keeps its relationships. Staged relationships join
the stored twin of an id if there is one, else the staged one. One between two staged twins is
invisible as it is (reads only follow relationships between ``Twin`` nodes) and is deleted with them on
rollback, so it is written once, unmarked; one that touches a stored twin carries ``_stage``, which
reads skip. Deletions only mark (``_drop``) what publication deletes; models wait in the import's
memory and then on the ``Import`` node. Every twin that has a marked relationship or that the import
deletes carries ``_touch`` (indexed once the twin is a ``Twin``), which is how publication and rollback
find the import's marked relationships without scanning the graph.

Staging writes each new twin and each relationship between new twins with a plain ``CREATE`` (a read
first finds the few ids that are stored already), a twin's properties as a map literal; a relationship
between new twins finds its ends by the node ids the process kept, without an index seek.
Publication then relabels each new twin once. A fresh import thus writes every node twice and every
relationship once.

Guarantees. A failure while staging (the stream raising included) deletes what was staged: nothing of
the import was ever visible. Publication first checks that no other writer created a staged twin's id
meanwhile, then marks the import "publishing"; from then on it is rolled forward, never back. An import
of up to :data:`ATOMIC_PUBLISH` entities is published in one transaction: readers see all of it or
none. A bigger one is published in transactions of 10,000 rows (deleted twins, replaced twins, new
twins, then their relationships): during those seconds readers may see part of it (new twins before
their relationships, say). A crash leaves the ``Import`` node: a store opening the database
``recover_after`` seconds after the import's last write deletes a staging import and finishes a
publishing one (should the writer of a staging import be alive after all, its next batch fails: each
staging transaction writes the ``Import`` node first, and a rollback marks it before it deletes). One
import runs at a time (a constraint on ``Import.lock``). Plain batches may run during an import; one
that creates a twin the import stages makes the import fail at publication, and one that deletes a
twin takes the import's relationships to it along.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import re
import threading
import time
import uuid
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Awaitable, Callable, Generator, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from types import MappingProxyType
from typing import Any, Generic, TypeVar

import neo4j
from neo4j.exceptions import (
    AuthError,
    ConstraintError,
    DriverError,
    Neo4jError,
    ServiceUnavailable,
    SessionExpired,
)

from dtgraph.graph.records import Relationship, RelationshipKey, Twin
from dtgraph.stores._collector import collector_paused
from dtgraph.stores._json_text import NO_PROPERTIES, Stored, dumps, encodable, loads
from dtgraph.stores.base import AsyncReads, Batch, Capabilities, Direction, Filter, Levels, Page, Step, Store
from dtgraph.stores.errors import StoreError, StoreUnavailable

__all__ = ["ATOMIC_PUBLISH", "MAX_PAGE", "Neo4jStore", "model_label", "relationship_type"]

MAX_PAGE = 1000  # the most twins one query_twins page returns, whatever limit asks for (as the memory store)
ATOMIC_PUBLISH = 10_000  # imports of up to this many entities are published in one transaction
_PUBLISH_ROWS = 10_000  # rows per transaction when a bigger import is published or rolled back
_READ_RETRY_TIME = 30.0  # seconds a read is retried after retryable errors (the driver's default)

T = TypeVar("T")
A = TypeVar("A")
# a read as a generator: it yields each query (text, parameters) it needs, a query of _collected's
# shape, is sent the query's rows, and returns its answer; run by Neo4jStore._run (the blocking
# driver) or _AsyncReads._run (asyncio)
_Reads = Generator[tuple[str, dict[str, Any]], list[list[Any]], T]

_SEGMENT = r"[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?"
_PLAIN_DTMI = re.compile(rf"dtmi:({_SEGMENT}(?::{_SEGMENT})*);([0-9]+)")
_PLAIN_NAME = re.compile(_SEGMENT)
_UNSAFE = re.compile(r"[^A-Za-z0-9_]+")
_TOKEN = re.compile(r"[A-Za-z0-9_]+")
_HIGH = re.compile("[\ue000-\U0010ffff]")
_KEY = re.compile(r"[A-Za-z0-9_.]+")  # the property keys an import writes into Cypher (backquoted)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_EXACT_FLOAT = 2**53  # integers up to this magnitude convert to a double exactly


class _Rows(list[Any]):
    """A query parameter of many rows whose ``repr`` is its length: the driver (6.4, ``Bolt5x5.run``)
    builds the text of its debug message, the ``repr`` of every parameter, even with debug logging off,
    and for 10,000 rows that costs more than packing them."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<{len(self)} rows>"


def model_label(dtmi: str) -> str:
    """The node label of a model: deterministic, injective, only ``[A-Za-z0-9_]``.

    A plain DTMI (segments of letters, digits and inner underscores, an integer version) reads back:
    ``dtmi:com:example:Thermostat;1`` → ``M_com_example_Thermostat_1``, with an underscore inside a
    segment doubled (``dtmi:a:rec_3;1`` → ``M_a_rec__3_1``). Anything else (a dotted version, hostile
    text) becomes ``M__`` + 16 hex digits of its SHA-256 + ``_`` + the first 64 safe characters; the
    double underscore keeps the two forms apart.
    """
    match = _PLAIN_DTMI.fullmatch(dtmi)
    if match:
        path = "_".join(segment.replace("_", "__") for segment in match.group(1).split(":"))
        return f"M_{path}_{match.group(2)}"
    return f"M__{_digest(dtmi)}_{_UNSAFE.sub('_', dtmi)[:64]}"


def relationship_type(name: str) -> str:
    """The relationship type of a relationship name: ``R_<name>`` for a DTDL-shaped name (a letter,
    then letters, digits and underscores, not ending with one), else ``R__`` + 16 hex digits of its
    SHA-256 + ``_`` + the first 64 safe characters."""
    if _PLAIN_NAME.fullmatch(name):
        return f"R_{name}"
    return f"R__{_digest(name)}_{_UNSAFE.sub('_', name)[:64]}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _quoted(token: str) -> str:
    if not _TOKEN.fullmatch(token):  # only the sanitisers above produce tokens
        raise ValueError(f"not a sanitised label or type: {token!r}")
    return f"`{token}`"


def _labels(tokens: Iterable[str]) -> str:
    return "".join(":" + _quoted(t) for t in tokens)


class Neo4jStore(Store):
    """Models, twins and relationships in a Neo4j 5 database (see the module docstring for the mapping).

    ``uri`` is a driver URI (``bolt://host:7687``, ``neo4j+s://…`` for Aura or a cluster); ``database``
    None uses the user's home database. Constraints and indexes are created at start. ``batch_size``
    is the number of rows sent per ``UNWIND`` statement; a batch of any size is still one transaction.
    An import whose writer has been silent for ``recover_after`` seconds is taken as crashed and
    recovered at start (see the module docstring).
    """

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(history=False)

    def __init__(
        self,
        uri: str,
        *,
        auth: tuple[str, str] | None = None,
        database: str | None = None,
        batch_size: int = 5000,
        recover_after: float = 600.0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        self._uri = uri
        self._auth = auth
        self._database = database
        self._batch_size = batch_size
        self._recover_after = recover_after
        with self._translated("connect to"):
            # the queries are fixed text: the server's notes on them (deprecations on newer servers,
            # a property key not created yet) would only be noise in the log
            self._driver = neo4j.GraphDatabase.driver(uri, auth=auth, notifications_min_severity="OFF")
        try:
            with self._translated("connect to"):
                self._driver.verify_connectivity()
                for statement in _SCHEMA:
                    self._driver.execute_query(statement, database_=database)
            self._recover()
        except BaseException:
            self._driver.close()
            raise

    def __repr__(self) -> str:
        return f"Neo4jStore({self._uri!r}, database={self._database!r})"

    # --- plumbing --------------------------------------------------------------------------------

    @contextmanager
    def _translated(self, action: str) -> Iterator[None]:
        """Driver errors become dtgraph errors, the driver's exception kept as the cause."""
        try:
            yield
        except (ServiceUnavailable, SessionExpired, AuthError) as exc:
            raise StoreUnavailable(f"cannot {action} Neo4j at {self._uri}: {exc}") from exc
        except (Neo4jError, DriverError) as exc:
            raise StoreError(f"Neo4j at {self._uri} failed to {action}; nothing was changed: {exc}") from exc

    def _read(self, query: str, **params: Any) -> list[neo4j.Record]:
        """One read in an auto-commit transaction (two Bolt messages instead of a managed
        transaction's four: a third less CPU on both sides for a lookup by id), with the driver's
        bookmarks, so that it sees every write made through this driver. A read is idempotent, so an
        error the driver calls retryable is retried, as ``execute_query`` would, for up to
        :data:`_READ_RETRY_TIME` seconds."""
        delay, deadline = 0.05, time.monotonic() + _READ_RETRY_TIME
        while True:
            try:
                with self._driver.session(
                    database=self._database,
                    default_access_mode=neo4j.READ_ACCESS,
                    bookmark_manager=self._driver.execute_query_bookmark_manager,
                ) as session:
                    return list(session.run(query, params))
            except (Neo4jError, DriverError) as exc:
                if not exc.is_retryable() or time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _rows(self, query: str, **params: Any) -> list[list[Any]]:
        """The rows of ``query``, a query of :func:`_collected`'s shape, read by :meth:`_read`."""
        (record,) = self._read(query, **params)
        rows: list[list[Any]] = record[0]
        return rows

    def _run(self, reads: _Reads[T]) -> T:
        """The answer of ``reads``, each query it asks for run by :meth:`_rows`."""
        try:
            query, params = next(reads)
            while True:
                query, params = reads.send(self._rows(query, **params))
        except StopIteration as answered:
            return answered.value  # type: ignore[no-any-return]

    def open_async_reads(self) -> AsyncReads:
        """Reads on the running event loop through the driver's asyncio API (see :class:`_AsyncReads`)."""
        return _AsyncReads(self)

    def _session(self, **config: Any) -> neo4j.Session:
        return self._driver.session(
            database=self._database,
            bookmark_manager=self._driver.execute_query_bookmark_manager,
            **config,
        )

    def _chunks(self, rows: Sequence[Any]) -> Iterator[_Rows]:
        for start in range(0, len(rows), self._batch_size):
            yield _Rows(rows[start : start + self._batch_size])

    # --- writes ----------------------------------------------------------------------------------

    def apply(self, batch: Batch) -> None:
        """One write transaction: deletions, then models, twins and relationships; any failure rolls back.

        Transient failures (deadlocks, leader changes) are retried by the driver.
        """
        if not batch:
            return
        plan = _Plan.of(batch)  # encodes everything before a connection is taken
        with self._translated("apply a batch"), self._session() as session:
            session.execute_write(self._write, plan)

    def _write(self, tx: neo4j.ManagedTransaction, plan: _Plan) -> None:
        if plan.delete_relationships:
            self._delete_relationships(tx, plan.delete_relationships)
        if plan.delete_twins:
            for chunk in self._chunks(plan.delete_twins):
                tx.run("UNWIND $ids AS id MATCH (t:Twin {id: id}) DETACH DELETE t", ids=chunk).consume()
        if plan.models or plan.delete_models:
            _write_models(tx, plan)
        if plan.twins:
            self._write_twins(tx, plan.twins)
        if plan.relationships:
            self._write_relationships(tx, plan.relationships)

    def _delete_relationships(self, tx: neo4j.ManagedTransaction, keys: Sequence[RelationshipKey]) -> None:
        """Delete by (source, id): one expansion of each source twin."""
        by_source: dict[str, list[str]] = defaultdict(list)
        for source, rel_id in keys:
            by_source[source].append(rel_id)
        groups = [{"s": s, "ids": ids} for s, ids in by_source.items()]
        for chunk in self._chunks(groups):
            tx.run(
                "UNWIND $groups AS g MATCH (s:Twin {id: g.s})-[r]->(:Twin) WHERE r.id IN g.ids "
                "AND r._stage IS NULL DELETE r",
                groups=chunk,
            ).consume()

    def _write_twins(self, tx: neo4j.ManagedTransaction, twins: Mapping[str, dict[str, Any]]) -> None:
        existing: dict[str, str] = {}
        for chunk in self._chunks(list(twins)):
            result = tx.run(
                "UNWIND $ids AS id MATCH (t:Twin {id: id}) RETURN t.id AS id, t.model AS model", ids=chunk
            )
            existing.update((record["id"], record["model"]) for record in result)
        models = {row["model"] for row in twins.values()} | set(existing.values())
        labels = _twin_labels(tx, models)
        created: dict[str, list[dict[str, Any]]] = defaultdict(list)
        replaced: list[dict[str, Any]] = []
        remodelled: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for twin_id, row in twins.items():
            old = existing.get(twin_id)
            if old is None:
                created[row["model"]].append(row)
            elif old == row["model"]:
                replaced.append(row)
            else:
                remodelled[old, row["model"]].append(row)
        for model, rows in created.items():
            query = f"UNWIND $rows AS row CREATE (t:Twin{_labels(labels[model])}) SET t = row"
            for chunk in self._chunks(rows):
                tx.run(query, rows=chunk).consume()
        for chunk in self._chunks(replaced):
            tx.run("UNWIND $rows AS row MATCH (t:Twin {id: row.id}) " + _REPLACE, rows=chunk).consume()
        for (old, new), rows in remodelled.items():
            query = "UNWIND $rows AS row MATCH (t:Twin {id: row.id}) " + _relabel(labels[old], labels[new])
            for chunk in self._chunks(rows):
                tx.run(query + _REPLACE, rows=chunk).consume()

    def _write_relationships(
        self, tx: neo4j.ManagedTransaction, rels: Mapping[RelationshipKey, dict[str, Any]]
    ) -> None:
        """Per type, per source twin: delete the relationships this batch replaces (by id, whatever their
        type or target), then create the new ones; one index seek per source, not per row.

        Nothing locks a source twin beforehand (that costs a third of the write time): two transactions
        that both insert the same new (source, id) at once may both succeed; the next write of that key
        replaces both.
        """
        groups: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)  # type -> source -> group
        for (source, rel_id), row in rels.items():
            group = groups[relationship_type(row["n"])].setdefault(source, {"s": source, "ids": [], "r": []})
            group["ids"].append(rel_id)
            group["r"].append(row)
        results: list[neo4j.Result] = []
        for rel_type, by_source in groups.items():
            query = (
                "UNWIND $groups AS g MATCH (s:Twin {id: g.s}) "
                "FOREACH (old IN [(s)-[o]->(:Twin) WHERE o.id IN g.ids AND o._stage IS NULL | o] | "
                "DELETE old) "
                "WITH s, g UNWIND g.r AS row MATCH (t:Twin {id: row.t}) "
                f"CREATE (s)-[:{_quoted(rel_type)} {{id: row.i, name: $name, json: row.j}}]->(t) "
                "RETURN count(*) AS n"
            )
            first = next(iter(by_source.values()))["r"][0]["n"]
            results += self._run_groups(tx, query, by_source, _stored_name(rel_type, first))
        if _created(results) != len(rels):
            _reject_dangling(tx, rels.values())

    # --- imports -----------------------------------------------------------------------------------

    def apply_stream(self, batches: Iterable[Batch]) -> int:
        """Stage each batch in a transaction of its own, then publish them all (see the module
        docstring for what readers and crashes see); on any failure while staging, nothing remains.

        A batch's transaction commits in a thread of its own: once its statements have run, the
        next batch is read from ``batches`` and encoded while the server commits (the stream's
        code after a ``yield`` runs after the batch's writes, but maybe before their commit). The
        cycle collector pauses meanwhile, as for the memory store (see :mod:`dtgraph.stores._collector`).
        """
        importing: _Import | None = None
        written = 0
        try:
            with (
                collector_paused() as collector,
                ThreadPoolExecutor(1, thread_name_prefix="dtgraph-import") as committer,
            ):
                staging: Future[None] | None = None
                for batch in batches:
                    if not batch:
                        continue
                    plan = _Plan.of(batch)
                    # the driver holds each statement's parameters in reference cycles: freed here, while
                    # the server commits the last batch, those of the batch before it
                    collector.sweep()
                    if staging is not None:
                        staging.result()
                    if importing is None:
                        importing = self._begin()
                    ran = threading.Event()
                    staging = committer.submit(self._stage_batch, importing, plan, ran)
                    ran.wait()
                    for model_id in plan.delete_models:
                        importing.models[model_id] = None
                    importing.models.update(plan.models)
                    importing.size += batch.size
                    written += batch.size
                if staging is not None:
                    staging.result()
            if importing is not None:
                self._publish(importing)
        except BaseException:
            if importing is not None and not importing.publishing:
                with suppress(Exception):  # else the next store to open the database cleans up
                    self._roll_back(importing.id)
            raise
        return written

    def _stage_batch(self, importing: _Import, plan: _Plan, ran: threading.Event) -> None:
        """Stage ``plan`` in one transaction; ``ran`` is set once its statements have run (or failed).
        The nodes it staged are noted in ``importing`` once it has committed (a retry starts afresh)."""

        def work(tx: neo4j.ManagedTransaction) -> _Nodes:
            nodes = _Nodes(importing)
            self._stage(tx, importing.id, plan, nodes)
            ran.set()
            return nodes

        try:
            with self._translated("stage an import in"), self._session() as session:
                session.execute_write(work).apply(importing)
        finally:
            ran.set()

    def _begin(self) -> _Import:
        importing = _Import(uuid.uuid4().hex)
        with self._translated("begin an import in"):
            try:
                self._driver.execute_query(
                    "CREATE (:Import {id: $x, lock: true, state: 'staging', started: datetime(), "
                    "seen: datetime()})",
                    x=importing.id,
                    database_=self._database,
                )
            except ConstraintError:
                (other,) = self._read("MATCH (i:Import) RETURN i.id AS id, i.state AS state, i.seen AS seen")
                raise StoreError(
                    f"another import ({other['id']}, {other['state']}, last write at {other['seen']}) is "
                    f"under way in {self!r}; one import runs at a time. If its writer died, a store opened "
                    f"{self._recover_after:g} s after that last write recovers it"
                ) from None
        return importing

    def _stage(self, tx: neo4j.ManagedTransaction, stage: str, plan: _Plan, nodes: _Nodes) -> None:
        """Write one batch of import ``stage`` where no read looks, or mark what publication deletes."""
        # first, so that an import recovered meanwhile (its writer silent too long) stages nothing more
        seen = tx.run(
            "MATCH (i:Import {id: $x}) WHERE i.state = 'staging' SET i.seen = datetime() "
            "RETURN count(i) AS n",
            x=stage,
        )
        if not seen.single(strict=True)["n"]:
            raise _recovered(stage)
        if plan.delete_relationships:
            by_source: dict[str, list[str]] = defaultdict(list)
            for source, rel_id in plan.delete_relationships:
                by_source[source].append(rel_id)
            groups = [{"s": s, "sn": nodes.get(s), "ids": ids} for s, ids in by_source.items()]
            for chunk in self._chunks(groups):
                tx.run(
                    "UNWIND $groups AS g " + _END.format(v="s", id="g.s", node="g.sn") + " "
                    "WITH g, s WHERE s IS NOT NULL "
                    "FOREACH (o IN [(s)-[o]->() WHERE o.id IN g.ids AND (o._stage = $x OR s:Staged) | o] | "
                    "DELETE o) "
                    "FOREACH (o IN [(s)-[o]->() WHERE o.id IN g.ids AND o._stage IS NULL AND NOT s:Staged "
                    "| o] | SET o._drop = $x, s._touch = $x)",
                    groups=chunk,
                    x=stage,
                ).consume()
        for chunk in self._chunks(plan.delete_twins):
            staged = [node for twin_id in chunk if (node := nodes.staged(twin_id)) is not None]
            nodes.drop(chunk)
            if staged:
                tx.run("UNWIND $nodes AS n MATCH (q:Staged) WHERE id(q) = n DETACH DELETE q", nodes=staged)
            tx.run(
                "UNWIND $ids AS id MATCH (p:Twin {id: id}) WHERE p._drop IS NULL OR p._drop <> $x "
                "SET p._drop = $x, p._touch = $x",
                ids=chunk,
                x=stage,
            )
        created = [
            self._stage_twins(tx, stage, chunk, nodes) for chunk in self._chunks(list(plan.twins.values()))
        ]
        for results in created:  # the node ids of the staged twins, for their relationships
            for replaces, result in results:
                record = result.single(strict=True)
                nodes.add(record["ids"], record["nodes"], replaces=replaces)
        if plan.relationships:
            self._stage_relationships(tx, stage, plan.relationships, nodes)

    def _stage_twins(
        self, tx: neo4j.ManagedTransaction, stage: str, rows: Sequence[dict[str, Any]], nodes: _Nodes
    ) -> list[tuple[bool, neo4j.Result]]:
        """Stage twins under ``Staged`` and their model's staging label (see :func:`_staged_label`).

        One read finds the ids stored already; the process knows which ids it staged. Every other
        twin is a plain ``CREATE`` per model (no MERGE: it locks and re-reads each row), its
        properties a map literal over the values of the row (see :func:`_create_twins`), so a fresh
        import writes each node once here. The results (not read yet) give the node ids of the
        twins staged, each with whether it replaces a stored twin.
        """
        stored = {
            record["id"]
            for record in tx.run(
                "UNWIND $ids AS id MATCH (p:Twin {id: id}) WHERE p._drop IS NULL OR p._drop <> $x RETURN id",
                ids=_Rows([row["id"] for row in rows]),
                x=stage,
            )
        }
        again = {row["id"]: node for row in rows if (node := nodes.staged(row["id"])) is not None}
        staged_as: dict[str, str] = {}  # twin id -> the model it is staged under
        if again:
            result = tx.run(
                "UNWIND $nodes AS n MATCH (s:Staged) WHERE id(s) = n RETURN s.id AS id, s.model AS model",
                nodes=_Rows(again.values()),
            )
            staged_as = {record["id"]: record["model"] for record in result}
        fresh: dict[tuple[str, bool], list[dict[str, Any]]] = defaultdict(list)  # (model, replaces)
        restaged: dict[tuple[str, str, bool], list[dict[str, Any]]] = defaultdict(list)
        for row in rows:
            replaces = row["id"] in stored
            row.pop("_replaces", None)  # set by an attempt the driver retries
            if replaces:
                row["_replaces"] = True
            old = staged_as.get(row["id"])
            if old is None:
                fresh[row["model"], replaces].append(row)
            else:  # staged by an earlier batch: replaced in place, keeping its relationships and mark
                restaged[old, row["model"], replaces].append({"n": again[row["id"]], "row": row})
        results: list[tuple[bool, neo4j.Result]] = []
        for (old, new, replaces), group in restaged.items():
            relabel = "" if old == new else f"REMOVE s{_labels([_staged_label(old)])} "
            query = (
                "UNWIND $rows AS r MATCH (s:Staged) WHERE id(s) = r.n "
                f"{relabel}SET s{_labels([_staged_label(new)])} "
                "WITH s, r, s._touch AS touch SET s = r.row SET s._touch = touch "
                "RETURN collect(r.row.id) AS ids, collect(id(s)) AS nodes"
            )
            results.append((replaces, tx.run(query, rows=_Rows(group))))
        for (model, replaces), group in fresh.items():
            results += ((replaces, result) for result in _create_twins(tx, model, group))
        return results

    def _stage_relationships(
        self,
        tx: neo4j.ManagedTransaction,
        stage: str,
        rels: Mapping[RelationshipKey, dict[str, Any]],
        nodes: _Nodes,
    ) -> None:
        """As :meth:`_write_relationships`, but the new relationships are staged and the ones they
        replace marked; a relationship staged before by the same import is replaced outright.

        A relationship between two twins the import adds needs no mark: no read sees it before its
        twins are published, and deleting those twins (a rollback) takes it along. Those are created
        plainly between the nodes the import staged its twins in (found by node id, which costs half
        as much as an index seek; an end the import adds is not looked up as a stored twin at all);
        only the ones that touch a stored twin carry ``_stage`` and mark that twin.
        """
        ends = list(dict.fromkeys(end for row in rels.values() for end in (row["s"], row["t"])))
        stored: set[str] = set()
        for chunk in self._chunks([end for end in ends if nodes.get(end) is None]):
            result = tx.run(
                "UNWIND $ids AS id MATCH (p:Twin {id: id}) WHERE p._drop IS NULL OR p._drop <> $x RETURN id",
                ids=chunk,
                x=stage,
            )
            stored.update(record["id"] for record in result)
        # type -> source -> group; the rows of a fresh group are [target node, id, json]
        fresh: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        touching: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        again: dict[int, list[str]] = defaultdict(list)  # source node -> ids it may have staged before
        types = {name: relationship_type(name) for name in {row["n"] for row in rels.values()}}
        node_of, sources = nodes.getter(), nodes.sources
        # one pass over every relationship of the batch: kept lean, it runs while the server waits
        for (source, rel_id), row in rels.items():
            target = row["t"]
            start, end = node_of(source), node_of(target)
            if stored and (source in stored or target in stored):
                by_source = touching[types[row["n"]]]
                group = by_source.setdefault(source, {"s": source, "sn": start, "ids": [], "r": []})
                group["ids"].append(rel_id)
                group["r"].append({"t": target, "tn": end, "i": rel_id, "j": row["j"]})
                if start is not None:
                    nodes.staged_from([start])
                continue
            if start is None or end is None:
                continue  # an end that is neither stored nor staged: rejected below
            of_type = fresh[types[row["n"]]]
            found = of_type.get(source)
            if found is None:
                found = of_type[source] = {"s": start, "r": []}
            found["r"].append([end, rel_id, row["j"]])
            if start in sources:
                again[start].append(rel_id)
        names = {rel_type: name for name, rel_type in types.items()}
        # the relationships of the same keys that earlier batches staged go first, in statements of their
        # own; not waited for: the statements of a transaction run in the order sent
        for chunk in self._chunks([{"s": start, "ids": ids} for start, ids in again.items()]):
            tx.run(
                "UNWIND $groups AS g MATCH (s) WHERE id(s) = g.s "
                "MATCH (s)-[o]->() WHERE o.id IN g.ids DELETE o",
                groups=chunk,
            )
        results: list[neo4j.Result] = []
        for rel_type, by_source in fresh.items():
            nodes.staged_from(group["s"] for group in by_source.values())
            query = (
                "UNWIND $groups AS g MATCH (s) WHERE id(s) = g.s "
                "UNWIND g.r AS row MATCH (t) WHERE id(t) = row[0] "
                f"CREATE (s)-[:{_quoted(rel_type)} {{id: row[1], name: $name, json: row[2]}}]->(t) "
                "RETURN count(*) AS n"
            )
            results += self._run_groups(tx, query, by_source, _stored_name(rel_type, names[rel_type]), stage)
        for rel_type, by_source in touching.items():
            query = (
                "UNWIND $groups AS g " + _END.format(v="s", id="g.s", node="g.sn") + " "
                "WITH g, s WHERE s IS NOT NULL "
                "SET s._touch = $x "
                "FOREACH (o IN [(s)-[o]->() WHERE o.id IN g.ids AND (o._stage = $x OR s:Staged) | o] | "
                "DELETE o) "
                "FOREACH (o IN [(s)-[o]->() WHERE o.id IN g.ids AND o._stage IS NULL AND NOT s:Staged | o] "
                "| SET o._drop = $x) "
                "WITH s, g UNWIND g.r AS row " + _END.format(v="t", id="row.t", node="row.tn") + " "
                "WITH s, row, t WHERE t IS NOT NULL "
                f"CREATE (s)-[:{_quoted(rel_type)} {{id: row.i, name: $name, json: row.j, _stage: $x}}]->(t) "
                "RETURN count(*) AS n"
            )
            results += self._run_groups(tx, query, by_source, _stored_name(rel_type, names[rel_type]), stage)
        if _created(results) != len(rels):
            _reject_dangling(tx, rels.values(), stage, nodes)

    def _run_groups(
        self,
        tx: neo4j.ManagedTransaction,
        query: str,
        by_source: Mapping[str, dict[str, Any]],
        name: str | None,
        stage: str | None = None,
    ) -> list[neo4j.Result]:
        """Send ``query`` over the groups of relationships (``r``) of one type, about ``batch_size``
        relationships a statement; each result's ``n`` is the relationships it created. The results
        are read later, so that Python encodes the next statement while the server runs this one."""
        results = []
        chunk = _Rows()
        size = 0
        for group in by_source.values():
            chunk.append(group)
            size += len(group["r"])
            if size >= self._batch_size:
                results.append(tx.run(query, groups=chunk, name=name, x=stage))
                chunk, size = _Rows(), 0
        if chunk:
            results.append(tx.run(query, groups=chunk, name=name, x=stage))
        return results

    def _publish(self, importing: _Import) -> None:
        models = json.dumps(importing.models)
        atomic = importing.size <= ATOMIC_PUBLISH
        with self._translated("publish an import in"), self._session() as session:
            session.execute_write(self._mark_publishing, importing.id, models, atomic)
        if atomic:
            return
        importing.publishing = True  # from here on the import is rolled forward, never back
        try:
            self._finish(importing.id)
        except StoreError as exc:
            raise StoreError(
                f"import {importing.id} is committed but its publication was interrupted ({exc}); part of it "
                f"may be visible. A store opened {self._recover_after:g} s after its last write finishes it"
            ) from exc

    def _mark_publishing(self, tx: neo4j.ManagedTransaction, stage: str, models: str, atomic: bool) -> None:
        """Check that no other writer created a staged twin meanwhile, then commit to publishing
        (an atomic publication does all of it here, in this transaction)."""
        taken = [
            record["id"]
            for record in tx.run(
                "MATCH (s:Staged) WHERE s._replaces IS NULL "
                "AND EXISTS { MATCH (t:Twin {id: s.id}) WHERE t._drop IS NULL OR t._drop <> $x } "
                "RETURN s.id AS id LIMIT 5",
                x=stage,
            )
        ]
        if taken:
            raise StoreError(
                "another writer created twins the import adds while it was staged; nothing was imported: "
                + ", ".join(repr(t) for t in taken)
            )
        marked = tx.run(
            "MATCH (i:Import {id: $x}) WHERE i.state = 'staging' "
            "SET i.state = 'publishing', i.models = $models RETURN count(i) AS n",
            x=stage,
            models=models,
        )
        if not marked.single(strict=True)["n"]:
            raise _recovered(stage)
        if atomic:
            _publish_steps(tx, stage, None)

    def _finish(self, stage: str) -> None:
        """Publish a staged import in transactions of ``_PUBLISH_ROWS``; every step may run again."""
        with self._translated("publish an import in"), self._session() as session:
            _publish_steps(session, stage, session)

    def _roll_back(self, stage: str) -> None:
        """Delete what import ``stage`` staged and unmark what it touched, in bounded transactions."""
        with self._translated("roll back an import in"), self._session() as session:
            # first the Import node: that waits for a staging transaction still running (each writes
            # the node first) and makes the next one fail, so every staged twin is committed and found
            found = session.run(
                "MATCH (i:Import {id: $x}) SET i.state = 'rolling back' RETURN count(i) AS n", x=stage
            )
            if not found.single(strict=True)["n"]:
                return  # recovered by another store: the staged twins may be another import's by now
            for query in (
                _each("MATCH (s:Staged)", "s", "DETACH DELETE s", batched=True),
                _each(
                    "MATCH (t:Twin {_touch: $x})",
                    "t",
                    "FOREACH (r IN [(t)-[r]->() WHERE r._stage = $x | r] | DELETE r) "
                    "FOREACH (r IN [(t)-[r]->() WHERE r._drop = $x | r] | REMOVE r._drop) "
                    "SET t._drop = CASE WHEN t._drop = $x THEN null ELSE t._drop END REMOVE t._touch",
                    batched=True,
                ),
                "MATCH (i:Import {id: $x}) DELETE i",
            ):
                session.run(query, x=stage).consume()

    def _recover(self) -> None:
        """Roll back (staging) or finish (publishing) every import silent for ``recover_after`` seconds."""
        with self._translated("recover imports in"):
            pending = self._read(
                "MATCH (i:Import) WHERE i.seen <= datetime() - duration({milliseconds: $ms}) "
                "RETURN i.id AS id, i.state AS state",
                ms=int(self._recover_after * 1000),
            )
        for record in pending:
            if record["state"] == "publishing":
                self._finish(record["id"])
            else:
                self._roll_back(record["id"])

    # --- reads -----------------------------------------------------------------------------------

    def model_documents(self) -> list[dict[str, Any]]:
        with self._translated("read models from"):
            records = self._read("MATCH (m:Model) RETURN m.json AS json ORDER BY m.seq")
        return [json.loads(record["json"]) for record in records]

    def models_version(self) -> int:
        with self._translated("read the models' version from"):
            (record,) = self._read(
                "OPTIONAL MATCH (v:ModelVersion {id: 'models'}) RETURN coalesce(v.value, 0) AS value"
            )
        return int(record["value"])

    def get_twins(self, ids: Iterable[str]) -> dict[str, Twin]:
        with self._translated("read twins from"):
            return self._run(self._twins_reads(ids))

    def _twins_reads(self, ids: Iterable[str]) -> _Reads[dict[str, Twin]]:
        wanted = list(dict.fromkeys(ids))
        found: dict[str, Twin] = {}
        for chunk in self._chunks(wanted):
            rows = yield _TWINS_BY_ID, {"ids": chunk}
            found.update((row[0], _twin(row)) for row in rows)
        return {i: found[i] for i in wanted if i in found}

    def get_relationships(self, keys: Iterable[RelationshipKey]) -> dict[RelationshipKey, Relationship]:
        wanted = list(dict.fromkeys(keys))
        by_source: dict[str, list[str]] = defaultdict(list)
        for source, rel_id in wanted:
            by_source[source].append(rel_id)
        groups = [{"s": s, "ids": ids} for s, ids in by_source.items()]
        found: dict[RelationshipKey, Relationship] = {}
        with self._translated("read relationships from"):
            for chunk in self._chunks(groups):
                for row in self._rows(_RELATIONSHIPS_BY_KEY, groups=chunk):
                    rel = _relationship(row)
                    found[rel.key] = rel
        return {k: found[k] for k in wanted if k in found}

    def relationships(
        self, twin_ids: Iterable[str], *, name: str | None = None, direction: Direction = "out"
    ) -> dict[str, list[Relationship]]:
        wanted = list(dict.fromkeys(twin_ids))
        query = _relationships_query(name, direction)
        found: dict[str, dict[RelationshipKey, Relationship]] = {}
        with self._translated("read relationships from"):
            for chunk in self._chunks(wanted):
                for twin_id, *row in self._rows(query, ids=chunk, name=name):
                    rels = found.setdefault(twin_id, {})
                    if row[2] is not None:  # a loop matched twice by "both" is listed once
                        found_rel = _relationship(row)
                        rels[found_rel.key] = found_rel
        return {i: [found[i][k] for k in sorted(found[i])] for i in wanted if i in found}

    def neighbours(
        self, twin_ids: Iterable[str], *, name: str | None = None, direction: Direction = "out"
    ) -> dict[str, list[tuple[Relationship, Twin]]]:
        """As ``relationships``, the twin at the other end read in the same query."""
        return self.neighbours_along(twin_ids, [(name, direction)])[0]

    def neighbours_along(
        self, twin_ids: Iterable[str], steps: Sequence[Step]
    ) -> list[dict[str, list[tuple[Relationship, Twin]]]]:
        """Every step in one query: the answers of the steps, joined by ``UNION ALL``; the one of a
        later step walks the steps before it again inside Neo4j to find its twins."""
        return self._along(twin_ids, steps, starts=False)[1]

    def twins_along(
        self, twin_ids: Iterable[str], steps: Sequence[Step]
    ) -> tuple[dict[str, Twin], list[dict[str, list[tuple[Relationship, Twin]]]]]:
        """As ``neighbours_along``, the twins themselves read by one more part of the same query."""
        return self._along(twin_ids, steps, starts=True)

    def _along(
        self, twin_ids: Iterable[str], steps: Sequence[Step], *, starts: bool
    ) -> tuple[dict[str, Twin], Levels]:
        with self._translated("read relationships from"):
            return self._run(self._along_reads(twin_ids, steps, starts=starts))

    def _along_reads(
        self, twin_ids: Iterable[str], steps: Sequence[Step], *, starts: bool
    ) -> _Reads[tuple[dict[str, Twin], Levels]]:
        wanted = list(dict.fromkeys(twin_ids))
        query, params = _neighbours_query(steps, starts=starts)
        levels: list[dict[str, dict[RelationshipKey, tuple[Relationship, Twin]]]] = [{} for _ in steps]
        ends: dict[str, Twin] = {}  # a twin at the end of many relationships is decoded once
        found: dict[str, Twin] = {}
        for chunk in self._chunks(wanted):
            for row in (yield query, {"ids": chunk, **params}):
                level, twin_id, source, target, rel_id, name, rel_json, end_id, model, end_json = row
                if level < 0:  # a twin asked for
                    found[twin_id] = ends[twin_id] = Twin.over(twin_id, model, Stored(end_json))
                    continue
                pairs = levels[level].setdefault(twin_id, {})
                if rel_id is not None:
                    end = ends.get(end_id)
                    if end is None:
                        end = ends[end_id] = Twin.over(end_id, model, Stored(end_json))
                    props = NO_PROPERTIES if rel_json is None else Stored(rel_json)
                    pairs[source, rel_id] = (Relationship.over(rel_id, source, target, name, props), end)
        first, *later = levels
        return {i: found[i] for i in wanted if i in found}, [
            {i: _in_key_order(first[i]) for i in wanted if i in first},
            *({i: _in_key_order(level[i]) for i in sorted(level)} for level in later),
        ]

    def query_twins(
        self,
        model: str | None = None,
        *,
        include_subtypes: bool = True,
        where: Sequence[Filter] = (),
        limit: int = 100,
        after: str | None = None,
    ) -> Page:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        limit = min(limit, MAX_PAGE)
        params: dict[str, Any] = {"model": model}
        conditions = []
        if model is None:
            match = "MATCH (t:Twin)"
        elif include_subtypes:
            match = f"MATCH (t{_labels([model_label(model)])})"
        else:
            match = "MATCH (t:Twin)"
            conditions.append("t.model = $model")
        for number, condition in enumerate(where):
            conditions.append(_preselect(condition, f"f{number}", params))
        # Paging: Cypher's "<" on strings compares UTF-16 units while ORDER BY (and Python) use code
        # points; they agree against a string with no character from U+E000 up, so the server is asked
        # for ids >= such a prefix of the cursor and the rest is decided here. A first page asks for no
        # bound at all (comparing every candidate's id with "" costs the server a tenth of the query).
        queries = [
            f"{match} WHERE {' AND '.join([*conditions, *bound] or ['true'])} "
            "WITH t ORDER BY t.id SKIP $skip LIMIT $n RETURN collect([t.id, t.model, t.json]) AS rows"
            for bound in ([], ["t.id >= $low"])
        ]
        found: list[Twin] = []
        fetch = limit + 1
        low = "" if after is None else _low_bound(after)
        read: list[str] = []  # ids read since ``low`` was set, in order
        with self._translated("query twins in"):
            while True:
                rows = self._rows(queries[bool(low)], low=low, skip=len(read), n=fetch, **params)
                for row in rows:
                    if after is not None and row[0] <= after:
                        continue
                    twin = _twin(row)
                    if all(f.matches(twin.properties) for f in where):
                        found.append(twin)
                        if len(found) > limit:
                            return Page(found[:limit], found[limit - 1].id)
                if len(rows) < fetch:
                    return Page(found, None)
                read.extend(row[0] for row in rows)
                if (next_low := _low_bound(read[-1])) != low:
                    low, read = next_low, read[bisect_left(read, next_low) :]
                fetch = min(fetch * 2, 10 * MAX_PAGE)  # the pre-selection let too much through

    def snapshot(self) -> Iterator[Twin | Relationship]:
        """Every twin, then every relationship, in one read transaction; records arrive from the server
        in pages of 10,000, so memory stays bounded whatever the size of the graph."""
        with (
            self._translated("read a snapshot from"),
            self._session(default_access_mode=neo4j.READ_ACCESS, fetch_size=10_000) as session,
            session.begin_transaction() as tx,
        ):
            for record in tx.run("MATCH (t:Twin) RETURN t.id AS id, t.model AS model, t.json AS json"):
                yield _twin(record)
            for record in tx.run(
                "MATCH (s:Twin)-[r]->(t:Twin) WHERE r._stage IS NULL "
                "RETURN s.id AS source, t.id AS target, " + _REL_COLUMNS
            ):
                yield _relationship(record)

    def counts(self) -> dict[str, int]:
        """From Neo4j's count store, except while an import is staged: relationships are then counted
        one by one (the count store counts staged ones too)."""
        with self._translated("count in"):
            (record,) = self._read(
                "CALL { MATCH (m:Model) RETURN count(m) AS models } "
                "CALL { MATCH (t:Twin) RETURN count(t) AS twins } "
                "CALL { MATCH ()-[r]->() RETURN count(r) AS edges } "
                "CALL { MATCH ()-[e:EXTENDS]->() RETURN count(e) AS extends } "
                "CALL { MATCH (i:Import) RETURN count(i) AS imports } "
                "CALL { WITH imports UNWIND CASE WHEN imports > 0 THEN [1] ELSE [] END AS busy "
                "MATCH (:Twin)-[r]->(:Twin) WHERE r._stage IS NULL RETURN count(r) AS visible } "
                "RETURN models, twins, "
                "CASE WHEN imports > 0 THEN visible ELSE edges - extends END AS relationships"
            )
        return {
            "models": record["models"],
            "twins": record["twins"],
            "relationships": record["relationships"],
        }

    def wipe(self) -> None:
        """Delete every node and relationship of the database (tests, demos); constraints stay, and
        the models' version counts the models' going (a server that read them must read them again)."""
        with self._translated("wipe"), self._session() as session:
            session.run(
                "MATCH (n) WHERE NOT n:ModelVersion "
                "CALL { WITH n DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
            ).consume()
            session.execute_write(_count_models_change)

    def close(self) -> None:
        self._driver.close()


class _AsyncReads:
    """The reads a GraphQL request makes most (twins by id, traversals), on the running event loop
    through the driver's asyncio API: the same queries and answers as the store's own methods, without
    a hop to a worker thread and back for each, and the calls made together answered by one query
    (see :class:`_Coalesced`). Opened by the server once its loop runs, closed before the loop ends;
    bound to that loop. Measured (``bench/graphql_server.py --twins 100000 --only neo4j``, twin by id
    at concurrency 32): the server's CPU a request 1.6 ms in worker threads, 1.0 ms on the loop,
    0.68 ms coalesced."""

    def __init__(self, store: Neo4jStore) -> None:
        self._store = store
        self._driver = neo4j.AsyncGraphDatabase.driver(
            store._uri, auth=store._auth, notifications_min_severity="OFF"
        )
        self._twins = _Coalesced(self._read_twins)
        self._along: dict[tuple[tuple[Step, ...], bool], _Coalesced[tuple[dict[str, Twin], Levels]]] = {}

    async def get_twins(self, ids: Iterable[str]) -> dict[str, Twin]:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        found = await self._twins(wanted)
        return {i: found[i] for i in wanted if i in found}

    async def neighbours(
        self, twin_ids: Iterable[str], *, name: str | None = None, direction: Direction = "out"
    ) -> dict[str, list[tuple[Relationship, Twin]]]:
        return (await self.neighbours_along(twin_ids, [(name, direction)]))[0]

    async def neighbours_along(self, twin_ids: Iterable[str], steps: Sequence[Step]) -> Levels:
        return (await self._walk(twin_ids, steps, starts=False))[1]

    async def twins_along(
        self, twin_ids: Iterable[str], steps: Sequence[Step]
    ) -> tuple[dict[str, Twin], Levels]:
        return await self._walk(twin_ids, steps, starts=True)

    async def aclose(self) -> None:
        await self._driver.close()

    async def _walk(
        self, twin_ids: Iterable[str], steps: Sequence[Step], *, starts: bool
    ) -> tuple[dict[str, Twin], Levels]:
        wanted = list(dict.fromkeys(twin_ids))
        key = (tuple(steps), starts)
        walk = self._along.get(key)
        if walk is None:
            walk = self._along[key] = _Coalesced(functools.partial(self._read_along, key[0], starts))
        found, levels = await walk(wanted)
        return _own_part(wanted, found, levels)

    async def _read_twins(self, ids: list[str]) -> dict[str, Twin]:
        with self._store._translated("read twins from"):
            return await self._run(self._store._twins_reads(ids))

    async def _read_along(
        self, steps: tuple[Step, ...], starts: bool, ids: list[str]
    ) -> tuple[dict[str, Twin], Levels]:
        with self._store._translated("read relationships from"):
            return await self._run(self._store._along_reads(ids, steps, starts=starts))

    async def _run(self, reads: _Reads[T]) -> T:
        try:
            query, params = next(reads)
            while True:
                query, params = reads.send(await self._rows(query, params))
        except StopIteration as answered:
            return answered.value  # type: ignore[no-any-return]

    async def _rows(self, query: str, params: dict[str, Any]) -> list[list[Any]]:
        """As :meth:`Neo4jStore._rows` (a query of :func:`_collected`'s shape) and its ``_read``: an
        auto-commit read after every write made through the store's driver (its bookmarks), retried
        after retryable errors."""
        delay, deadline = 0.05, time.monotonic() + _READ_RETRY_TIME
        bookmarks = neo4j.Bookmarks.from_raw_values(
            self._store._driver.execute_query_bookmark_manager.get_bookmarks()
        )
        while True:
            try:
                async with self._driver.session(
                    database=self._store._database,
                    default_access_mode=neo4j.READ_ACCESS,
                    bookmarks=bookmarks,
                ) as session:
                    result = await session.run(query, params)
                    (record,) = [record async for record in result]  # the one of _collected's shape
                    rows: list[list[Any]] = record[0]
                    return rows
            except (Neo4jError, DriverError) as exc:
                if not exc.is_retryable() or time.monotonic() + delay > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


class _Coalesced(Generic[A]):
    """One read by ids, asked for by calls made together on the loop, run as one query: the ids of
    every call that comes while the loop is busy with others go into the next query, and every call
    gets its answer (its callers take their own ids from it). A server under load answers many
    requests an iteration of its loop, so the driver's cost of a query (a session, its messages, the
    records) and Neo4j's are paid once for several requests."""

    def __init__(self, read: Callable[[list[str]], Awaitable[A]]) -> None:
        self._read = read
        self._waiting: list[asyncio.Future[A]] = []
        self._ids: dict[str, None] = {}
        self._running: set[asyncio.Task[A]] = set()  # referenced until done: the loop keeps weak ones

    async def __call__(self, ids: list[str]) -> A:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[A] = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._dispatch)
        self._waiting.append(future)
        self._ids.update(dict.fromkeys(ids))
        return await future

    def _dispatch(self) -> None:
        waiting, ids = self._waiting, list(self._ids)
        self._waiting, self._ids = [], {}
        task = asyncio.ensure_future(self._read(ids))
        self._running.add(task)

        def answer(done: asyncio.Task[A]) -> None:
            self._running.discard(done)
            for future in waiting:
                if future.done():  # its caller gave up (a request's timeout)
                    continue
                if done.cancelled():
                    future.cancel()
                elif (error := done.exception()) is not None:
                    future.set_exception(error)
                else:
                    future.set_result(done.result())

        task.add_done_callback(answer)


def _own_part(wanted: list[str], found: dict[str, Twin], levels: Levels) -> tuple[dict[str, Twin], Levels]:
    """The part of a traversal read for many callers that one caller's ``wanted`` twins reach: what
    the traversal from them alone answers (each level keyed as ``Store.neighbours_along`` keys it)."""
    own: Levels = []
    reached: Iterable[str] = wanted
    for level in levels:
        part = {i: level[i] for i in reached if i in level}
        own.append(part)
        reached = sorted({twin.id for pairs in part.values() for _, twin in pairs})
    return {i: found[i] for i in wanted if i in found}, own


def _rel_name(rel: str) -> str:
    """The name of relationship ``rel``: its ``name``, else its type without ``R_`` (which spells it)."""
    return f"coalesce({rel}.name, substring(type({rel}), 2))"


_REL_NAME = _rel_name("r")
# replaces twin ``t`` by ``row``, keeping the marks of an import that touches it
_REPLACE = "WITH t, row, t._touch AS touch, t._drop AS drop SET t = row SET t._touch = touch, t._drop = drop"
_REL_COLUMNS = f"r.id AS id, {_REL_NAME} AS name, r.json AS json"
_TWINS_BY_ID = "UNWIND $ids AS id MATCH (t:Twin {id: id}) RETURN collect([t.id, t.model, t.json]) AS rows"
_RELATIONSHIPS_BY_KEY = (
    "UNWIND $groups AS g MATCH (s:Twin {id: g.s})-[r]->(t:Twin) WHERE r.id IN g.ids AND r._stage IS NULL "
    f"RETURN collect([s.id, t.id, r.id, {_REL_NAME}, r.json]) AS rows"
)

_SCHEMA = (
    "CREATE CONSTRAINT dtgraph_twin_id IF NOT EXISTS FOR (t:Twin) REQUIRE t.id IS UNIQUE",
    "CREATE CONSTRAINT dtgraph_model_id IF NOT EXISTS FOR (m:Model) REQUIRE m.id IS UNIQUE",
    "CREATE CONSTRAINT dtgraph_model_version IF NOT EXISTS FOR (v:ModelVersion) REQUIRE v.id IS UNIQUE",
    "CREATE INDEX dtgraph_twin_model IF NOT EXISTS FOR (t:Twin) ON (t.model)",
    "CREATE INDEX dtgraph_twin_touch IF NOT EXISTS FOR (t:Twin) ON (t._touch)",
    "DROP INDEX dtgraph_staged IF EXISTS",  # staged twins were found by id in earlier versions
    "CREATE CONSTRAINT dtgraph_import_lock IF NOT EXISTS FOR (i:Import) REQUIRE i.lock IS UNIQUE",
    "CALL db.awaitIndexes(300)",
)


# --- what a batch sends ----------------------------------------------------------------------------


class _Plan:
    """A batch encoded as query parameters, duplicates resolved (the last one wins)."""

    __slots__ = ("delete_models", "delete_relationships", "delete_twins", "models", "relationships", "twins")

    def __init__(self) -> None:
        self.models: dict[str, str] = {}  # id -> JSON text
        self.delete_models: list[str] = []
        self.twins: dict[str, dict[str, Any]] = {}  # id -> node properties
        self.delete_twins: list[str] = []
        self.relationships: dict[RelationshipKey, dict[str, Any]] = {}
        self.delete_relationships: list[RelationshipKey] = []

    @classmethod
    def of(cls, batch: Batch) -> _Plan:
        plan = cls()
        for doc in batch.models:
            model_id = doc.get("@id") if isinstance(doc, Mapping) else None
            if not isinstance(model_id, str) or not model_id:
                raise StoreError(f"a model document needs a string '@id'; got {str(doc)[:80]!r}")
            plan.models[model_id] = dumps(doc, f"model '{model_id}'")
        plan.delete_models = [m for m in dict.fromkeys(batch.delete_models) if m not in plan.models]
        plan.delete_twins = list(dict.fromkeys(batch.delete_twins))
        plan.delete_relationships = list(dict.fromkeys(batch.delete_relationships))
        for twin in batch.twins:
            plan.twins[twin.id] = _twin_row(twin)
        for rel in batch.relationships:
            plan.relationships[rel.key] = {
                "s": rel.source,
                "t": rel.target,
                "i": rel.id,
                "n": rel.name,
                "j": dumps(dict(rel.properties), f"relationship '{rel.id}' of '{rel.source}'")
                if rel.properties
                else None,
            }
        return plan


def _twin_row(twin: Twin) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": twin.id,
        "model": twin.model,
        # a dict: orjson writes a record's read-only view only through a call of ``json_default``
        "json": dumps(dict(twin.properties), f"twin '{twin.id}'"),
    }
    for name, value in twin.properties.items():
        if "." in name or not encodable(name):
            continue
        kind = type(value)  # the common scalars first, as _index would copy them
        if kind is float or kind is bool or (kind is str and encodable(value)):
            row["p_" + name] = value
        elif _index(row, name, value) == "component":
            for member, inner in value.items():
                if "." not in member and encodable(member):
                    _index(row, f"{name}.{member}", inner, inner=True)
    return row


def _index(row: dict[str, Any], path: str, value: Any, *, inner: bool = False) -> str | None:
    """Copy ``value`` into ``row`` for filtering as ``p_<path>``, or its tag as ``x_<path>``.

    Only top-level components have their members copied: inside one, every object is an "object".
    """
    tag = _tag(value)
    if inner and tag == "component":
        tag = "object"
    if tag is None:
        row["p_" + path] = value
    else:
        row["x_" + path] = tag
    return tag


def _tag(value: Any) -> str | None:
    """None for a value Neo4j stores as a property, else the kind of value it is."""
    if isinstance(value, bool | float):
        return None
    if isinstance(value, int):
        return None if _INT64_MIN <= value <= _INT64_MAX else "number"
    if isinstance(value, str):
        return None if encodable(value) else "string"
    if value is None:
        return "null"
    if isinstance(value, Mapping):
        return "component" if "$metadata" in value else "object"
    if isinstance(value, list | tuple):
        return "array"
    return "other"


def _relationships_query(name: str | None, direction: Direction) -> str:
    """The relationships of ``name`` (or all) of the twins ``$ids``, ``r`` each and ``b`` its other end:
    rows of the twin's id and :func:`_relationship`'s columns."""
    return _collected(
        "UNWIND $ids AS id MATCH (a:Twin {id: id}) "
        + _step("a", "r", "b", name, direction, "$name", optional=True)
        + "RETURN id AS twin, startNode(r).id AS source, endNode(r).id AS target, "
        + _REL_COLUMNS,
        ("twin", "source", "target", "id", "name", "json"),
    )


def _collected(query: str, columns: Sequence[str]) -> str:
    """``query``, which returns ``columns``, answered as one record: ``rows``, a list of lists of them.

    A record is a Bolt message of its own: the driver builds a ``Record`` for each, and its asyncio
    API reads each with two socket reads, each a task with a timer. Collected, a read of a two-hop
    traversal (17 rows) took a third of the CPU (0.41 to 0.145 ms a call, 32 callers on the loop)."""
    return f"CALL {{ {query} }} RETURN collect([{', '.join(columns)}]) AS rows"


def _step(
    start: str, rel: str, end: str, name: str | None, direction: Direction, param: str, *, optional: bool
) -> str:
    """A ``MATCH`` of the relationships ``rel`` of ``name`` (or all) from ``start`` to twins ``end``."""
    if direction not in ("out", "in", "both"):
        raise ValueError(f"direction must be 'out', 'in' or 'both', not {direction!r}")
    pattern = f"[{rel}]" if name is None else f"[{rel}:{_quoted(relationship_type(name))}]"
    arrow = {"out": f"-{pattern}->", "in": f"<-{pattern}-", "both": f"-{pattern}-"}[direction]
    named = "" if name is None else f"AND {_rel_name(rel)} = {param} "
    match = "OPTIONAL MATCH" if optional else "MATCH"
    return f"{match} ({start}){arrow}({end}:Twin) WHERE {rel}._stage IS NULL {named}"


def _neighbours_query(steps: Sequence[Step], *, starts: bool = False) -> tuple[str, dict[str, Any]]:
    """The query of :meth:`Neo4jStore.neighbours_along` and its parameters beside ``$ids``: one part
    per step, which walks the steps before it (each in a ``MATCH`` of its own, as separate
    ``neighbours`` calls would: a relationship may serve two steps) to the distinct twins ``a`` it
    starts from, then reads their relationships ``r`` and other ends ``b``. With ``starts``, a first
    part reads the twins ``$ids`` themselves (:meth:`Neo4jStore.twins_along`)."""
    if not steps:
        raise ValueError("neighbours_along needs at least one step")
    params = {f"name{k}": name for k, (name, _) in enumerate(steps)}
    parts = []
    for level, (name, direction) in enumerate(steps):
        walk = "UNWIND $ids AS id MATCH (a0:Twin {id: id}) "
        for k, (before, way) in enumerate(steps[:level]):
            walk += _step(f"a{k}", f"r{k}", f"a{k + 1}", before, way, f"$name{k}", optional=False)
            walk += f"WITH DISTINCT a{k + 1} "
        start = f"a{level}"
        parts.append(
            walk
            + _step(start, "r", "b", name, direction, f"$name{level}", optional=True)
            + f"RETURN {level} AS level, {start}.id AS twin, "
            + "startNode(r).id AS source, endNode(r).id AS target, "
            + _REL_COLUMNS
            + ", b.id AS end, b.model AS end_model, b.json AS end_json"
        )
    if starts:  # the twins themselves, as level -1 with their fields where the other end's go
        parts.insert(
            0,
            "UNWIND $ids AS id MATCH (a0:Twin {id: id}) RETURN -1 AS level, a0.id AS twin, "
            "null AS source, null AS target, null AS id, null AS name, null AS json, "
            "a0.id AS end, a0.model AS end_model, a0.json AS end_json",
        )
    columns = ("level", "twin", "source", "target", "id", "name", "json", "end", "end_model", "end_json")
    return _collected(" UNION ALL ".join(parts), columns), params


def _in_key_order(
    found: Mapping[RelationshipKey, tuple[Relationship, Twin]],
) -> list[tuple[Relationship, Twin]]:
    return [found[key] for key in sorted(found)]


def _low_bound(text: str) -> str:
    """The prefix of ``text`` before its first character from U+E000 up: against it, Cypher's
    UTF-16 string comparison agrees with code point order."""
    high = _HIGH.search(text)
    return text if high is None else text[: high.start()]


def _twin(record: Sequence[Any]) -> Twin:
    """The twin of a record (or row) of the columns ``id, model, json``, in that order (unpacked as
    the tuple it is: reading the fields by name costs more than the rest of the conversion)."""
    twin_id, model, text = record
    # over a view of the decoded object, which nothing else holds (not copied again, as Twin(...) would)
    return Twin.over(twin_id, model, MappingProxyType(loads(text)))


def _relationship(record: Sequence[Any]) -> Relationship:
    """The relationship of a record (or row) of the columns ``source, target, id, name, json``."""
    source, target, rel_id, name, text = record
    return Relationship(
        rel_id,
        source,
        target,
        name,
        {} if text is None else loads(text),
    )


def _stored_name(rel_type: str, name: str) -> str | None:
    """The ``name`` property of relationships of ``name``: None when their type spells it."""
    return None if rel_type == f"R_{name}" else name


def _created(results: Iterable[neo4j.Result]) -> int:
    """The relationships the statements of :meth:`Neo4jStore._run_groups` created."""
    return sum(result.single(strict=True)["n"] for result in results)


def _reject_dangling(
    tx: neo4j.ManagedTransaction,
    rows: Iterable[dict[str, Any]],
    stage: str | None = None,
    nodes: _Nodes | None = None,
) -> None:
    """Raise (so the transaction rolls back) naming the relationships whose twins are missing (for an
    import: neither stored and kept, nor staged)."""
    rows = list(rows)
    ends = list(dict.fromkeys(end for row in rows for end in (row["s"], row["t"])))
    present: set[str] = set()
    query = (
        "UNWIND $ids AS e MATCH (t:Twin {id: e.id}) RETURN t.id AS id"
        if nodes is None
        else "UNWIND $ids AS e "
        + _END.format(v="t", id="e.id", node="e.node")
        + " WITH e, t WHERE t IS NOT NULL RETURN e.id AS id"
    )
    keyed = [{"id": end, "node": None if nodes is None else nodes.get(end)} for end in ends]
    for start in range(0, len(keyed), 10_000):
        result = tx.run(query, ids=_Rows(keyed[start : start + 10_000]), x=stage)
        present.update(record["id"] for record in result)
    missing = [
        f"relationship '{row['i']}' from '{row['s']}' to '{row['t']}' needs twin '{end}'"
        for row in rows
        for end in dict.fromkeys((row["s"], row["t"]))
        if end not in present
    ]
    more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
    raise StoreError(
        "a relationship's twins must exist after the batch; nothing was changed: "
        + "; ".join(missing[:5])
        + more
    )


def _create_twins(
    tx: neo4j.ManagedTransaction, model: str, rows: Sequence[dict[str, Any]]
) -> list[neo4j.Result]:
    """``CREATE`` each row as a staged twin of ``model``; the results (not read yet) give the ids and
    node ids of the twins, in one aggregation each (so in the same order).

    The node's properties are a map literal over the values of the row (a list, ``null`` for a key
    the row lacks, which Neo4j does not store): Neo4j sets the keys of a literal a quarter faster
    than those of a map (``SET s = row`` looks each key up by name, row by row), and the rows travel
    without their keys. A row with a key of another form than ``[A-Za-z0-9_.]`` is set from its map.
    """
    label = _labels(["Staged", _staged_label(model)])
    keys: dict[str, int] = {}  # the keys of the rows, in order of appearance
    plain: list[dict[str, Any]] = []
    odd: list[dict[str, Any]] = []
    for row in rows:
        if all(key in keys or (_KEY.fullmatch(key) and keys.setdefault(key, len(keys)) >= 0) for key in row):
            plain.append(row)
        else:
            odd.append(row)
    results = []
    if plain:
        values = _Rows([[row.get(key) for key in keys] for row in plain])
        literal = ", ".join(f"`{key}`: row[{number}]" for key, number in keys.items())
        results.append(
            tx.run(
                f"UNWIND $rows AS row CREATE (s{label} {{{literal}}}) "
                f"RETURN collect(row[{keys['id']}]) AS ids, collect(id(s)) AS nodes",
                rows=values,
            )
        )
    if odd:
        results.append(
            tx.run(
                f"UNWIND $rows AS row CREATE (s{label}) SET s = row "
                "RETURN collect(row.id) AS ids, collect(id(s)) AS nodes",
                rows=_Rows(odd),
            )
        )
    return results


# --- imports ---------------------------------------------------------------------------------------

# binds ``v`` to the twin an import's relationship ends at: the stored one of ``id`` unless the import
# deletes it, else the node it stages for ``id`` (``node``, from the process; not a replacement: that
# one's relationships stay on the stored twin)
_END = (
    "OPTIONAL MATCH ({v}p:Twin {{id: {id}}}) WHERE {v}p._drop IS NULL OR {v}p._drop <> $x "
    "OPTIONAL MATCH ({v}q:Staged) WHERE id({v}q) = {node} "
    "WITH *, coalesce({v}p, {v}q) AS {v}"
)


class _Import:
    """An import being written: its id, its models (None: deleted), its size so far, and the node of
    each twin it staged (held by the process: one int a twin), apart for those that replace a stored
    twin."""

    __slots__ = ("id", "models", "nodes", "publishing", "replacing", "size", "sources")

    def __init__(self, import_id: str) -> None:
        self.id = import_id
        self.models: dict[str, str | None] = {}
        self.size = 0
        self.publishing = False
        self.nodes: dict[str, int] = {}  # twin id -> node, for a twin the import adds
        self.replacing: dict[str, int] = {}  # twin id -> node, for a twin that replaces a stored one
        self.sources: set[int] = set()  # the nodes of ``nodes`` it staged relationships from


class _Nodes:
    """The staged nodes of an import as one staging transaction changes them: ``changes`` (a twin id
    -> its node and whether it replaces a stored twin, or None when its node is gone) and ``sources``
    apply to the import once the transaction commits; ``get`` and ``staged`` see them at once."""

    __slots__ = ("changes", "importing", "new_sources", "sources")

    def __init__(self, importing: _Import) -> None:
        self.importing = importing
        self.sources = importing.sources
        self.changes: dict[str, tuple[int, bool] | None] = {}
        self.new_sources: set[int] = set()

    def getter(self) -> Callable[[str], int | None]:
        """:meth:`get` as a function, the import's own lookup while this transaction changed nothing."""
        return self.get if self.changes else self.importing.nodes.get

    def get(self, twin_id: str) -> int | None:
        """The node of ``twin_id`` if the import adds that twin (it replaces no stored one)."""
        if twin_id in self.changes:
            change = self.changes[twin_id]
            return None if change is None or change[1] else change[0]
        return self.importing.nodes.get(twin_id)

    def staged(self, twin_id: str) -> int | None:
        """The node of ``twin_id`` if the import staged that twin, whether it replaces one or not."""
        if twin_id in self.changes:
            change = self.changes[twin_id]
            return None if change is None else change[0]
        found = self.importing.nodes.get(twin_id)
        return self.importing.replacing.get(twin_id) if found is None else found

    def add(self, twin_ids: Iterable[str], nodes: Iterable[int], *, replaces: bool) -> None:
        self.changes.update(
            (twin_id, (node, replaces)) for twin_id, node in zip(twin_ids, nodes, strict=True)
        )

    def drop(self, twin_ids: Iterable[str]) -> None:
        self.changes.update(dict.fromkeys(twin_ids))

    def staged_from(self, starts: Iterable[int]) -> None:
        self.new_sources.update(starts)

    def apply(self, importing: _Import) -> None:
        for twin_id, change in self.changes.items():
            importing.nodes.pop(twin_id, None)
            importing.replacing.pop(twin_id, None)
            if change is not None:
                (importing.replacing if change[1] else importing.nodes)[twin_id] = change[0]
        importing.sources |= self.new_sources


def _recovered(stage: str) -> StoreError:
    """The error of an import that another store rolled back, taking its writer for crashed."""
    return StoreError(
        f"import {stage} was rolled back by a store that took it for crashed (its writer was silent "
        f"for longer than recover_after); nothing of it was imported"
    )


def _each(match: str, var: str, body: str, *, batched: bool) -> str:
    """``body`` for each row of ``match``: in transactions of ``_PUBLISH_ROWS`` rows, or in the caller's."""
    if batched:
        return f"{match} CALL {{ WITH {var} {body} }} IN TRANSACTIONS OF {_PUBLISH_ROWS} ROWS"
    return f"{match} WITH {var} {body}"


def _publish_steps(
    run: neo4j.ManagedTransaction | neo4j.Session, stage: str, session: neo4j.Session | None
) -> None:
    """Make import ``stage`` the stored graph: models, deleted twins, replaced twins, new twins, then
    relationships, and drop the ``Import`` node. With ``session``, each step runs in transactions of
    its own (``run`` is the session); without, everything runs in the transaction ``run``."""
    batched = session is not None

    def step(match: str, var: str, body: str, **params: Any) -> None:
        run.run(_each(match, var, body, batched=batched), x=stage, **params).consume()
        if batched:
            run.run("MATCH (i:Import {id: $x}) SET i.seen = datetime()", x=stage).consume()

    (record,) = list(run.run("MATCH (i:Import {id: $x}) RETURN i.models AS models", x=stage))
    models: dict[str, str | None] = json.loads(record["models"] or "{}")
    if models:
        plan = _Plan()
        plan.models = {m: text for m, text in models.items() if text is not None}
        plan.delete_models = [m for m, text in models.items() if text is None]
        if session is None:
            assert isinstance(run, neo4j.ManagedTransaction)
            _write_models(run, plan)
        else:
            session.execute_write(_write_models, plan)
    step("MATCH (t:Twin {_touch: $x}) WHERE t._drop = $x", "t", "DETACH DELETE t")
    pairs = [
        (record["old"], record["new"])
        for record in run.run(
            "MATCH (c:Staged) WHERE c._replaces MATCH (t:Twin {id: c.id}) "
            "RETURN DISTINCT t.model AS old, c.model AS new",
            x=stage,
        )
    ]
    added = [record["model"] for record in run.run("MATCH (s:Staged) RETURN DISTINCT s.model AS model")]
    labels = _twin_labels(run, {m for pair in pairs for m in pair} | set(added))
    for old, new in pairs:
        step(
            "MATCH (c:Staged) WHERE c._replaces AND c.model = $new "
            "MATCH (t:Twin {id: c.id}) WHERE t.model = $old",
            "c, t",
            "WITH c, t, t._touch AS touch SET t = properties(c) SET t._touch = touch "
            "REMOVE t._replaces " + _relabel(labels[old], labels[new]) + "DELETE c",
            old=old,
            new=new,
        )
    for model in added:  # the replacements left have lost their stored twin to another writer: new
        # no _touch: the marked relationships of a new twin marked it when they were staged
        staged = _labels(["Staged", _staged_label(model)])
        step(
            f"MATCH (s{_labels([_staged_label(model)])})",
            "s",
            f"SET s{_labels(['Twin', *labels[model]])} REMOVE s{staged}, s._replaces",
        )
    step(
        "MATCH (t:Twin {_touch: $x})",
        "t",
        "FOREACH (r IN [(t)-[r]->() WHERE r._drop = $x | r] | DELETE r) "
        "FOREACH (r IN [(t)-[r]->() WHERE r._stage = $x | r] | REMOVE r._stage) REMOVE t._touch",
    )
    run.run("MATCH (i:Import {id: $x}) DELETE i", x=stage).consume()


# --- models and labels -----------------------------------------------------------------------------


def _count_models_change(tx: neo4j.ManagedTransaction) -> None:
    """One more change of the models (:meth:`Neo4jStore.models_version`), in the writing transaction."""
    tx.run("MERGE (v:ModelVersion {id: 'models'}) SET v.value = coalesce(v.value, 0) + 1").consume()


def _write_models(tx: neo4j.ManagedTransaction, plan: _Plan) -> None:
    """Store the models, rebuild EXTENDS, and relabel the twins of every model whose ancestry changed;
    count the change."""
    _count_models_change(tx)
    stored = {
        record["id"]: (record["json"], record["labels"], record["seq"])
        for record in tx.run(
            "MATCH (m:Model) RETURN m.id AS id, m.json AS json, m.labels AS labels, m.seq AS seq"
        )
    }
    texts = {model_id: text for model_id, (text, _, _) in stored.items()}
    for model_id in plan.delete_models:
        texts.pop(model_id, None)
    texts.update(plan.models)
    documents = {model_id: json.loads(text) for model_id, text in texts.items()}
    parents = _parents(documents)
    labels = {model_id: _ancestry_labels(model_id, parents) for model_id in documents}
    next_seq = max((seq for _, _, seq in stored.values()), default=0) + 1
    rows = []
    for model_id, text in texts.items():
        old = stored.get(model_id)
        if old is not None and old[0] == text and old[1] == labels[model_id]:
            continue
        if old is None:
            seq, next_seq = next_seq, next_seq + 1
        else:
            seq = old[2]
        rows.append({"id": model_id, "json": text, "labels": labels[model_id], "seq": seq})
    gone = [model_id for model_id in stored if model_id not in texts]
    tx.run("UNWIND $ids AS id MATCH (m:Model {id: id}) DETACH DELETE m", ids=gone).consume()
    tx.run(
        "UNWIND $rows AS row MERGE (m:Model {id: row.id}) "
        "SET m.json = row.json, m.labels = row.labels, m.seq = row.seq",
        rows=rows,
    ).consume()
    tx.run("MATCH (:Model)-[e:EXTENDS]->(:Model) DELETE e").consume()
    edges = [{"a": child, "b": parent} for child in documents for parent in parents.get(child, ())]
    tx.run(
        "UNWIND $edges AS e MATCH (a:Model {id: e.a}) MATCH (b:Model {id: e.b}) CREATE (a)-[:EXTENDS]->(b)",
        edges=edges,
    ).consume()
    for model_id in stored.keys() | texts.keys():
        before = stored[model_id][1] if model_id in stored else [model_label(model_id)]
        after = labels.get(model_id, [model_label(model_id)])
        if before != after:
            tx.run("MATCH (t:Twin {model: $model}) " + _relabel(before, after), model=model_id).consume()


def _staged_label(model: str) -> str:
    """The label a twin of ``model`` is staged under beside ``Staged``: publication finds the twins to
    give one set of labels by a label scan, not by reading every staged twin once per model."""
    return "S_" + model_label(model)


def _relabel(before: Sequence[str], after: Sequence[str]) -> str:
    """The REMOVE/SET clauses that turn node ``t``'s model labels ``before`` into ``after``."""
    drop = [label for label in before if label not in after]
    add = [label for label in after if label not in before]
    return (f"REMOVE t{_labels(drop)} " if drop else "") + (f"SET t{_labels(add)} " if add else "")


def _parents(documents: Mapping[str, Any]) -> dict[str, list[str]]:
    """Each interface's direct bases from ``extends``, inline interfaces (with an ``@id``) included."""
    parents: dict[str, list[str]] = {}

    def visit(model_id: str, document: Any) -> None:
        extends = document.get("extends", []) if isinstance(document, Mapping) else []
        found = parents.setdefault(model_id, [])
        for base in extends if isinstance(extends, list) else [extends]:
            base_id = base.get("@id") if isinstance(base, Mapping) else base
            if isinstance(base_id, str) and base_id not in found:
                found.append(base_id)
                if isinstance(base, Mapping) and base_id not in documents:
                    visit(base_id, base)

    for model_id, document in documents.items():
        visit(model_id, document)
    return parents


def _ancestry_labels(model_id: str, parents: Mapping[str, Sequence[str]]) -> list[str]:
    """The labels a twin of ``model_id`` carries: its model's, then every ancestor's, nearest first."""
    seen = [model_id]
    queue = list(parents.get(model_id, ()))
    while queue:
        current = queue.pop(0)
        if current not in seen:
            seen.append(current)
            queue.extend(parents.get(current, ()))
    return [model_label(m) for m in seen]


def _twin_labels(tx: neo4j.ManagedTransaction | neo4j.Session, models: Iterable[str]) -> dict[str, list[str]]:
    """The labels of twins of each model: stored with the model, or just its own if it is not stored."""
    wanted = list(models)
    result = tx.run(
        "UNWIND $ids AS id MATCH (m:Model {id: id}) RETURN m.id AS id, m.labels AS labels", ids=wanted
    )
    labels = {record["id"]: list(record["labels"]) for record in result}
    return {m: labels.get(m) or [model_label(m)] for m in wanted}


# --- filters ---------------------------------------------------------------------------------------


def _preselect(condition: Filter, name: str, params: dict[str, Any]) -> str:
    """A Cypher condition on twin ``t`` that holds for every twin ``condition`` matches (maybe more).

    Values and property keys go into ``params`` under names starting with ``name``.
    """
    parts = condition.path.split(".")
    if not all(encodable(part) for part in parts):
        return "true"
    # an Object (not a component) on the path is not copied: its twins are decided in Python
    unknown = [f"t[${name}o{depth}] = 'object'" for depth in range(1, min(len(parts), 3))]
    for depth in range(1, min(len(parts), 3)):
        params[f"{name}o{depth}"] = "x_" + ".".join(parts[:depth])
    params[f"{name}p"] = "p_" + condition.path
    params[f"{name}x"] = "x_" + condition.path
    value, p, x = condition.value, f"t[${name}p]", f"t[${name}x]"
    found = f"({p} IS NOT NULL OR {x} IS NOT NULL)"
    known: str
    if condition.op == "exists":
        known = found if (value if value is not None else True) else f"({p} IS NULL AND {x} IS NULL)"
    elif condition.op in ("eq", "in"):
        values = [value] if condition.op == "eq" else value
        equal = _equal_to(values) if isinstance(values, list | tuple | set | frozenset) else None
        if equal is None:
            known = found
        else:
            scalars, tags = equal
            params[f"{name}v"], params[f"{name}t"] = scalars, sorted(tags)
            # a tag no value of the operand can equal is left out: looking for a property a twin does
            # not have walks all of its properties
            known = f"{p} IN ${name}v" if not tags else f"({p} IN ${name}v OR {x} IN ${name}t)"
    elif condition.op == "ne":
        if _safe_inequality(value):
            params[f"{name}v"] = value
            known = f"({x} IS NOT NULL OR {p} <> ${name}v)"
        else:
            known = found
    else:
        known = _ordered(condition.op, value, p, x, f"{name}v", params) or found
    return "(" + " OR ".join([known, *unknown]) + ")"


def _equal_to(values: Iterable[Any]) -> tuple[list[Any], set[str]] | None:
    """Cypher scalars and tags of every stored value Python may find equal to one of ``values``."""
    scalars: list[Any] = []
    tags: set[str] = set()
    for value in values:
        if isinstance(value, bool):
            scalars += [value, int(value)]  # True == 1 == 1.0 in Python, not in Cypher
        elif isinstance(value, int):
            if _INT64_MIN <= value <= _INT64_MAX:
                scalars.append(value)
                scalars += [bool(value)] if value in (0, 1) else []
            else:
                scalars.append(float(value))
                tags.add("number")
        elif isinstance(value, float):
            scalars.append(value)
            scalars += [bool(value)] if value in (0.0, 1.0) else []
            tags.add("number")
        elif isinstance(value, str):
            if encodable(value):
                scalars.append(value)
            else:
                tags.add("string")
        elif value is None:
            tags.add("null")
        elif isinstance(value, Mapping):
            tags |= {"object", "component"}
        elif isinstance(value, list | tuple):
            tags.add("array")
        else:
            return None
    return scalars, tags


def _safe_inequality(value: Any) -> bool:
    """Whether Cypher's ``<>`` holds whenever Python's ``!=`` does, for any stored scalar."""
    if isinstance(value, str):
        return encodable(value)
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return abs(value) <= _EXACT_FLOAT
    if isinstance(value, float):  # an int64 beyond 2**53 may round onto an integral float
        return abs(value) < _EXACT_FLOAT and not value.is_integer()
    return False


def _ordered(op: str, value: Any, p: str, x: str, key: str, params: dict[str, Any]) -> str | None:
    """The pre-selection of lt/le/gt/ge, or None to fall back to "the path exists"."""
    sign = "<=" if op in ("lt", "le") else ">="  # never strict: Cypher compares int and float as doubles
    if isinstance(value, int | float) and (not isinstance(value, int) or _INT64_MIN <= value <= _INT64_MAX):
        params[key] = int(value) if isinstance(value, bool) else value
        return f"({p} {sign} ${key} OR {p} IN [true, false] OR {x} = 'number')"  # bools are ints
    if isinstance(value, str) and encodable(value):
        if _low_bound(value) != value:  # UTF-16 and code point order may differ: any string
            return f"({p} >= '' OR {x} = 'string')"
        params[key] = value
        return f"({p} {sign} ${key} OR {x} = 'string')"
    if isinstance(value, list):
        return f"{x} = 'array'"
    return None
