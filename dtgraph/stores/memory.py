"""The embedded store: a networkx graph in memory, made durable by an append-only journal.

The graph of record is a ``networkx.MultiDiGraph``: each twin is a node (attribute ``twin``), each
relationship a keyed edge ``(source, target, key=relationship id)`` (attribute ``rel``). Beside it sit
an index of relationship key → relationship (for O(1) lookups by ``(source, id)``), per-model sorted
twin ids (for paging by model) and a change log (for ``history`` and ``as_of``).

A batch is planned first — every precondition checked, cascades worked out, nothing touched — then
written to the journal, then committed in memory; a failure (or an interrupt) during the commit rolls
the graph and the journal back, so a batch is applied whole or not at all, in memory and on disk.

A stream (:meth:`MemoryStore.apply_stream`, bulk imports) is one change made of parts: each batch is
planned against the graph as the parts before it left it, journalled as a part of a *group*, and
committed in memory with its undo kept (the values it replaced: nothing for new records), so memory
beyond the store itself stays bounded by one batch. A last *commit frame* closes the group. Any
exception, from the stream itself too, undoes every part in memory, newest first, and cuts the group
off the journal. The store's lock is held for the whole stream: readers in other threads wait until it
is committed or rolled back, so they never see part of it (the stream's own thread, e.g. the generator
producing the batches, sees the parts applied so far; it may not write to the store meanwhile).

Persistence: ``MemoryStore(path)`` keeps ``path/journal.dtj`` and replays it at start. The file is
the header line ``dtgraph journal 1\\n`` followed by one frame per applied batch::

    magic  b"DTJ1"        4 bytes
    length                4 bytes, big-endian: payload bytes
    crc32                 4 bytes, big-endian: zlib.crc32 of the payload
    payload               UTF-8 JSON: {"time": ISO-8601 UTC, "models": [...], "delete_models": [...],
                          "twins": [[id, model, props]], "delete_twins": [...],
                          "relationships": [[id, source, target, name, props]],
                          "delete_relationships": [[source, id]]}  (empty members omitted)

A part of a stream carries ``"group": id, "part": n`` (1, 2, …) in its payload; the group's last frame is
``{"group": id, "commit": true, "parts": n}``. A frame without ``group`` is a batch of its own, as in
journals written before streams existed (those replay unchanged; a journal holding groups is refused as
damaged by versions that predate them).

Each frame is written with one ``write`` and fsync'd before the batch becomes visible (``fsync=False``
skips the fsync, for tests and throwaway data); a stream's parts, invisible until it commits, are
fsync'd together before its commit frame is written, then the commit frame is. At start a bad frame
(short, wrong magic, wrong crc) with no valid frame after it is a torn tail from a crash: it is dropped
and the file truncated to the last complete batch. A bad frame followed by a valid one is damage in
the middle: ``StoreCorrupted``.
A group's parts are replayed only with its commit frame: a group left open at the end of the journal
is a stream that a crash interrupted; it is undone and cut off like a torn tail. Anything else after
an open group (a batch, another group) cannot come from a crash — the writer holds the store until
the group is committed or cut off — so it is damage: ``StoreCorrupted``.
The journal grows with every batch; replay costs about as much as applying the batches did. A snapshot
(:mod:`dtgraph.stores._snapshot`: the change log, packed, up to a journal offset) is written by
:meth:`MemoryStore.compact` (``dtgraph compact``) and by ``close`` once the journal has grown by
``SNAPSHOT_AFTER`` bytes since the last one; opening loads it and replays only the journal after it.

History: every batch gets a UTC time from the clock (kept non-decreasing); the change log holds the
records each batch wrote, so ``history`` and ``as_of`` keep every version ever written, in memory.
A stream gets one time for all its parts: ``as_of`` sees all of it or none.
"""

from __future__ import annotations

import contextlib
import copy
import heapq
import mmap
import os
import struct
import sys
import threading
import uuid
import zlib
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import networkx as nx
import orjson

from dtgraph.dtdl import DtdlError, parse
from dtgraph.graph.records import Relationship, RelationshipKey, Twin
from dtgraph.stores._collector import collector_paused
from dtgraph.stores._packed import EMPTY, PackedRelationship, PackedTwin, loads, pack
from dtgraph.stores._snapshot import SNAPSHOT_NAME, journal_tail_crc, read_snapshot, write_snapshot
from dtgraph.stores.base import Batch, Capabilities, Change, Direction, Filter, Page, Store
from dtgraph.stores.errors import StoreCorrupted, StoreError, UnsupportedOperation

if sys.platform != "win32":
    import fcntl

__all__ = ["JOURNAL_NAME", "MAX_PAGE", "MemoryStore"]

JOURNAL_NAME = "journal.dtj"
MAX_PAGE = 1000  # the most twins one query_twins page returns, whatever limit asks for
SNAPSHOT_AFTER = 16 * 1024 * 1024  # journal bytes since the last snapshot that make close() write one

_HEADER = b"dtgraph journal 1\n"
_MAGIC = b"DTJ1"
_FRAME = struct.Struct(">4sII")  # magic, payload length, crc32 of the payload


def _utcnow() -> datetime:
    return datetime.now(UTC)


class MemoryStore(Store):
    """The embedded default store: everything in memory, durable through a journal when ``path`` is given.

    ``path`` is a data directory (created if missing); a second store opening it fails. ``fsync=False``
    skips the fsync per batch. ``clock`` gives the time of each batch (tests inject one). Measured
    (``bench/graph_load.py``, demo twins of about 10 properties, 3 relationships each): 1M twins
    hold 2.9 KB a twin, and a whole import (parse, check, write, journal fsync'd) runs at about
    90,000-95,000 entities per CPU second at 1M twins in one process; with its check in a forked process
    (see ``dtgraph.graph.check_process``), 134,000 entities/s on two cores.
    """

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        fsync: bool = True,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._lock = threading.RLock()
        self._graph: nx.MultiDiGraph[str] = nx.MultiDiGraph()
        # twin id -> {"twin": PackedTwin}: networkx's own node dict, read directly on the hot paths (a
        # NodeView lookup costs a Python call; networkx's algorithms use G._node the same way)
        self._nodes: dict[str, dict[str, Any]] = self._graph._node  # type: ignore[attr-defined]
        self._succ: dict[str, dict[str, dict[str, Any]]] = self._graph._succ  # type: ignore[attr-defined]
        self._pred: dict[str, dict[str, dict[str, Any]]] = self._graph._pred  # type: ignore[attr-defined]
        self._rels: dict[RelationshipKey, PackedRelationship] = {}
        # twin id -> the one string object of that id the store keeps, which the ends of its
        # relationships share. A lookup here costs a third of one through the node's attribute dict
        # and its record (1M twins: 0.34 against 0.9-1.2 us; three cache misses against six or more)
        self._ids: dict[str, str] = {}
        self._models: dict[str, dict[str, Any]] = {}
        self._subtypes: dict[str, tuple[str, ...]] = {}  # model -> itself and its descendants
        self._model_set: Callable[[str], list[str]] | None = None  # descendants, from the parsed models
        self._all = _SortedIds()
        self._by_model: dict[str, _SortedIds] = {}
        self._strings: dict[str, str] = {}  # one shared object per model DTMI and relationship name
        self._log: list[_Entry] = []
        self._times: list[datetime] = []
        # twin id -> log positions of its changes; built by the first history() call (~130 bytes a twin)
        self._touched: dict[str, list[int]] | None = None
        self._clock = clock
        self._read_only: str | None = None  # why writes are refused
        self._streaming = False  # a stream is being applied (by the thread holding the lock)
        self._persistent = path is not None
        self._journal: _Journal | None = None
        self._snapshot_end = 0  # the journal offset the last snapshot covers
        if path is not None:
            self._journal = _Journal(Path(path), fsync=fsync)
            try:
                with collector_paused():
                    self._snapshot_end = self._load_snapshot(self._journal)
                    self._replay(self._journal, self._snapshot_end)
            except BaseException:
                self._journal.close()
                raise

    def _edges(self, twin_id: str, direction: str) -> list[PackedRelationship]:
        """The relationships out of or into a twin: each edge's key is its relationship id, and the
        record is in the index by (source, id) (edges carry no attributes: a dict each would cost
        120 bytes more a relationship)."""
        rels = self._rels
        if direction == "out":
            return [rels[twin_id, key] for keys in self._succ[twin_id].values() for key in keys]
        return [rels[source, key] for source, keys in self._pred[twin_id].items() for key in keys]

    @property
    def capabilities(self) -> Capabilities:  # persistence depends on the path given
        return Capabilities(history=True, persistent=self._persistent)

    # --- writes ------------------------------------------------------------------------------------

    def apply(self, batch: Batch) -> None:
        if self._read_only is not None:
            raise UnsupportedOperation(self._read_only)
        with self._lock:
            self._refuse_inside_stream()
            if not batch:
                return
            time = self._next_time()
            entry, new = self._plan(batch, time)
            if self._journal is None:
                self._commit(entry, new=new)
                return
            end = self._journal.append(_encode(entry))
            try:
                self._commit(entry, new=new)
            except BaseException:
                self._journal.truncate(end)
                raise

    def apply_stream(self, batches: Iterable[Batch]) -> int:
        """Apply the batches in order as one change, holding one batch at a time (see the module
        docstring); returns the entities written. Readers in other threads wait until it is done."""
        if self._read_only is not None:
            raise UnsupportedOperation(self._read_only)
        with self._lock:
            self._refuse_inside_stream()
            self._streaming = True
            try:
                with collector_paused():
                    return self._apply_parts(batches)
            finally:
                self._streaming = False

    def _apply_parts(self, batches: Iterable[Batch]) -> int:
        time = self._next_time()
        journal = self._journal
        start = journal.end if journal is not None else 0
        group = uuid.uuid4().hex
        done: list[tuple[_Entry, _Undo]] = []
        written = 0
        try:
            for batch in batches:
                if not batch:
                    continue
                entry, new = self._plan(batch, time)
                if journal is not None:  # synced all at once before the commit frame
                    journal.append(_encode(entry, group=group, part=len(done) + 1), sync=False)
                done.append((entry, self._change(entry, new=new)))
                written += batch.size
            if journal is not None and done:
                journal.sync()  # the parts first: a commit frame must never reach the disk before them
                journal.append(_commit_frame(group, len(done)))
        except BaseException:
            for entry, undo in reversed(done):
                self._undo(entry, undo)
            if journal is not None:
                journal.truncate(start)
            raise
        for entry, _ in done:
            self._record(entry)
        return written

    def _refuse_inside_stream(self) -> None:
        if self._streaming:  # only the thread applying the stream gets here while it runs
            raise StoreError("the store is applying a stream; it cannot be written until the stream ends")

    def _next_time(self) -> datetime:
        now = self._clock()
        now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
        return max(now, self._times[-1]) if self._times else now

    def _plan(self, batch: Batch, time: datetime) -> tuple[_Entry, bool]:
        """The effective changes of ``batch``: deletions first, then upserts; raises if a rule breaks.
        With them, whether they only add records (nothing deleted or replaced: nothing to undo but
        the additions, which :meth:`_change` then need not look up again)."""
        models: dict[str, dict[str, Any]] = {}
        for doc in batch.models:
            model_id = doc.get("@id") if isinstance(doc, Mapping) else None
            if not isinstance(model_id, str) or not model_id:
                raise StoreError(f"a model document needs a string '@id'; got {str(doc)[:80]!r}")
            models[model_id] = copy.deepcopy(dict(doc))
        nodes = self._nodes
        delete_twins = dict.fromkeys(t for t in batch.delete_twins if t in nodes)
        twins = {t.id: t for t in batch.twins}
        delete_rels = dict.fromkeys(k for k in batch.delete_relationships if k in self._rels)
        for twin_id in delete_twins:
            for rel in (*self._edges(twin_id, "in"), *self._edges(twin_id, "out")):
                delete_rels[rel.key] = None
        rels = {(r.source, r.id): r for r in batch.relationships}
        if delete_twins:  # else an end missing from twins and nodes shows as a KeyError below
            _refuse_missing_ends(rels.values(), twins, nodes, delete_twins)
        strings, stored_rels, ids = self._strings, self._rels, self._ids
        new = nodes.keys().isdisjoint(twins)  # so far: no twin of the batch replaces a stored one
        if new:  # _pack_twins knowing that (a bulk import's chunks): no lookup a twin
            packed = {
                i: _new_twin(PackedTwin, (i, strings.setdefault(t.model, t.model), pack(t.properties)))
                for i, t in twins.items()
            }
        else:
            packed = self._pack_twins((i, t.model, pack(t.properties)) for i, t in twins.items())
        packed_rels: list[PackedRelationship] = []
        try:
            if not rels:
                pass
            elif not packed and stored_rels.keys().isdisjoint(rels):
                # new relationships alone (a bulk import's chunks): the loop below, knowing that no
                # end is in the batch and no record replaced (a lookup less, one check in C)
                for record in rels.values():
                    values = record.properties
                    packed_rels.append(
                        _new_relationship(
                            PackedRelationship,
                            (
                                record.id,
                                ids[record.source],
                                ids[record.target],
                                strings.setdefault(record.name, record.name),
                                pack(values) if values else EMPTY,
                            ),
                        )
                    )
            else:
                new = False  # whether a relationship replaces a stored one is not worked out here
                for key, record in rels.items():
                    # one shared object per id, model and name (see _pack_twins), inline: a call per
                    # relationship costs more than the lookups
                    old = stored_rels.get(key)
                    source_id, target_id, values = record.source, record.target, record.properties
                    source = packed.get(source_id) if packed else None
                    target = packed.get(target_id) if packed else None
                    packed_rels.append(
                        _new_relationship(
                            PackedRelationship,
                            (
                                old[0] if old is not None else record.id,
                                source[0] if source is not None else ids[source_id],
                                target[0] if target is not None else ids[target_id],
                                strings.setdefault(record.name, record.name),
                                pack(values) if values else EMPTY,
                            ),
                        )
                    )
        except KeyError:
            _refuse_missing_ends(rels.values(), twins, nodes, delete_twins)
            raise
        entry = _Entry(
            time,
            tuple(models.values()),
            tuple(dict.fromkeys(m for m in batch.delete_models if m in self._models and m not in models)),
            tuple(packed.values()),
            tuple(delete_twins),
            tuple(packed_rels),
            tuple(delete_rels),
        )
        return entry, new and not delete_twins and not delete_rels

    def _pack_twins(self, twins: Iterable[tuple[str, str, bytes]]) -> dict[str, PackedTwin]:
        """(id, model, packed values) as records that share one string object per id and model however
        often they recur (a million twins hold ten million references to strings)."""
        ids, strings = self._ids, self._strings
        packed: dict[str, PackedTwin] = {}
        for twin_id, model, values in twins:
            packed[twin_id] = _new_twin(
                PackedTwin, (ids.get(twin_id, twin_id), strings.setdefault(model, model), values)
            )
        return packed

    def _end_id(self, twin_id: str, packed: Mapping[str, PackedTwin]) -> str:
        """The shared id object of a relationship's end: a twin of ``packed`` or a stored one."""
        found = packed.get(twin_id)
        return found.id if found is not None else self._ids[twin_id]

    def _commit(self, entry: _Entry, *, new: bool = False) -> None:
        """Make ``entry`` the current state and log it; on any exception put back what was there before."""
        self._change(entry, new=new)
        self._record(entry)

    def _change(self, entry: _Entry, *, new: bool = False) -> _Undo:
        """Apply ``entry`` to the graph (not to the log); returns what :meth:`_undo` needs to take it
        back: the records it replaces or deletes (a new record needs nothing; ``new``: the plan found
        that it only adds records). On any exception, what was applied of it is put back before the
        exception propagates."""
        nodes, rels = self._nodes, self._rels
        models = dict(self._models) if entry.models or entry.delete_models else None
        if new:
            undo = _Undo({}, {}, models)
        else:
            twin_ids = [*entry.delete_twins, *(t.id for t in entry.twins)]
            rel_keys = [*entry.delete_relationships, *((r.source, r.id) for r in entry.relationships)]
            undo = _Undo(
                {t: data["twin"] for t, data in _found(nodes, twin_ids).items()},
                _found(rels, rel_keys),
                models,
            )
        try:
            for key in entry.delete_relationships:
                self._remove_relationship(key)
            for twin_id in entry.delete_twins:
                self._remove_twin(twin_id)
            # nothing to undo: none of the records was there (deleted ones are in the undo too)
            self._put_twins(entry.twins, new=not undo.twins)
            self._put_relationships(entry.relationships, new=not undo.rels)
            if entry.models or entry.delete_models:
                for model_id in entry.delete_models:
                    del self._models[model_id]
                for doc in entry.models:
                    self._models[doc["@id"]] = doc
                self._subtypes.clear()
                self._model_set = None
        except BaseException:
            self._undo(entry, undo)
            raise
        return undo

    def _undo(self, entry: _Entry, undo: _Undo) -> None:
        """Put back the state from before ``entry`` (the last change applied still standing)."""
        if undo.models is not None:
            self._models = undo.models
            self._subtypes.clear()
            self._model_set = None
        for key in (*entry.delete_relationships, *(r.key for r in entry.relationships)):
            if key in self._rels:
                self._remove_relationship(key)
        for twin_id in (*entry.delete_twins, *(t.id for t in entry.twins)):
            old_twin = undo.twins.get(twin_id)
            if old_twin is not None:
                self._put_twin(old_twin)
            elif twin_id in self._nodes:
                self._remove_twin(twin_id)
        for old_rel in undo.rels.values():
            self._put_relationship(old_rel)

    def _record(self, entry: _Entry) -> None:
        self._log.append(entry)
        self._times.append(entry.time)
        if self._touched is not None:
            _index_changes(self._touched, len(self._log) - 1, entry)

    # --- the graph and its indexes ------------------------------------------------------------------

    def _shared(self, value: str) -> str:
        return self._strings.setdefault(value, value)

    def _put_twins(self, twins: Sequence[PackedTwin], *, new: bool = False) -> None:
        """Add or replace twins; new ones go straight into the graph's dicts (see :func:`add_nodes`).
        ``new``: the caller knows that none is in the graph."""
        nodes = self._nodes
        added = twins if new else [t for t in twins if t.id not in nodes]
        if len(added) < len(twins):
            for twin in twins:
                if twin.id in nodes:
                    self._put_twin(twin)
        by_model: dict[str, list[str]] = {}
        for twin in added:
            ids = by_model.get(twin.model)
            if ids is None:
                ids = by_model[twin.model] = []
            ids.append(twin.id)
        try:
            add_nodes(self._graph, added, self._ids)
        finally:  # the indexes list exactly the nodes added, even if an interrupt cut the loop short
            for model, ids in by_model.items():
                there = [i for i in ids if i in nodes]
                if len(there) < len(ids):  # add_nodes enters an id before its node
                    for twin_id in set(ids).difference(there):
                        self._ids.pop(twin_id, None)
                self._all.update(there)
                self._by_model.setdefault(model, _SortedIds()).update(there)

    def _put_twin(self, twin: PackedTwin) -> None:
        data = self._nodes.get(twin.id)
        if data is None:
            self._put_twins((twin,))
            return
        old: PackedTwin = data["twin"]
        data["twin"] = twin
        if old.model != twin.model:
            self._by_model[old.model].discard(twin.id)
            self._by_model.setdefault(twin.model, _SortedIds()).add(twin.id)

    def _remove_twin(self, twin_id: str) -> None:
        twin: PackedTwin = self._nodes[twin_id]["twin"]
        for rel in (*self._edges(twin_id, "in"), *self._edges(twin_id, "out")):
            self._rels.pop(rel.key, None)
        self._graph.remove_node(twin_id)
        self._ids.pop(twin_id, None)
        self._all.discard(twin_id)
        self._by_model[twin.model].discard(twin_id)

    def _put_relationships(self, rels: Sequence[PackedRelationship], *, new: bool = False) -> None:
        """Add or replace relationships; ``new``: the caller knows that none is in the graph."""
        index = self._rels
        if not new and not index.keys().isdisjoint([(r.source, r.id) for r in rels]):
            for rel in rels:
                self._put_relationship(rel)
            return
        add_edges(self._graph, rels, index)

    def _put_relationship(self, rel: PackedRelationship) -> None:
        old = self._rels.get(rel.key)
        if old is not None:
            if old.target == rel.target:
                self._rels[rel.key] = rel
                return
            self._remove_relationship(old.key)
        add_edges(self._graph, (rel,), self._rels)

    def _remove_relationship(self, key: RelationshipKey) -> None:
        rel = self._rels.pop(key)
        self._graph.remove_edge(rel.source, rel.target, key=rel.id)

    def _models_under(self, model: str) -> tuple[str, ...]:
        """``model`` and every model extending it, from the stored models (parsed once per change)."""
        found = self._subtypes.get(model)
        if found is None:
            if self._model_set is None:
                self._model_set = _descendants_of(list(self._models.values()))
            found = self._subtypes[model] = (model, *self._model_set(model))
        return found

    # --- reads -------------------------------------------------------------------------------------

    @contextmanager
    def immediate_reads(self) -> Iterator[bool]:
        """True unless a writer (a batch, a stream) holds the store; it is then held until the block ends."""
        acquired = self._lock.acquire(blocking=False)
        try:
            yield acquired
        finally:
            if acquired:
                self._lock.release()

    def model_documents(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._models.values()))

    def get_twins(self, ids: Iterable[str]) -> dict[str, Twin]:
        with self._lock:
            nodes = self._nodes
            return {i: nodes[i]["twin"].unpack() for i in ids if i in nodes}

    def get_relationships(self, keys: Iterable[RelationshipKey]) -> dict[RelationshipKey, Relationship]:
        with self._lock:
            rels = self._rels
            return {k: rels[k].unpack() for k in keys if k in rels}

    def relationships(
        self, twin_ids: Iterable[str], *, name: str | None = None, direction: Direction = "out"
    ) -> dict[str, list[Relationship]]:
        if direction not in ("out", "in", "both"):
            raise ValueError(f"direction must be 'out', 'in' or 'both', not {direction!r}")
        found: dict[str, list[Relationship]] = {}
        with self._lock:
            for twin_id in twin_ids:
                if twin_id not in self._nodes or twin_id in found:
                    continue
                rels: list[PackedRelationship] = []
                if direction != "in":
                    rels.extend(self._edges(twin_id, "out"))
                if direction != "out":  # a loop is both out and in: "both" lists it once
                    rels.extend(
                        r for r in self._edges(twin_id, "in") if direction == "in" or r.source != twin_id
                    )
                if name is not None:
                    rels = [r for r in rels if r.name == name]
                rels.sort(key=_by_key)
                found[twin_id] = [r.unpack() for r in rels]
        return found

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
        with self._lock:
            if model is None:
                lists = [self._all.ids()]
            else:
                models = self._models_under(model) if include_subtypes else (model,)
                lists = [self._by_model[m].ids() for m in models if m in self._by_model]
            tails = [
                map(ids.__getitem__, range(bisect_right(ids, after) if after is not None else 0, len(ids)))
                for ids in lists
            ]
            nodes = self._nodes
            found: list[Twin] = []
            # one list needs no merge (a Python generator), no filter no test (a generator per twin)
            for twin_id in heapq.merge(*tails) if len(tails) > 1 else tails[0] if tails else ():
                packed: PackedTwin = nodes[twin_id]["twin"]
                twin = packed.unpack()
                if not where or all(f.matches(twin.properties) for f in where):
                    found.append(twin)
                    if len(found) > limit:
                        return Page(found[:limit], found[limit - 1].id)
            return Page(found, None)

    def snapshot(self) -> Iterator[Twin | Relationship]:
        with self._lock:  # copy the references so that writers need not wait for the reader
            twins: list[PackedTwin] = [data["twin"] for data in self._nodes.values()]
            rels = list(self._rels.values())
        for twin in twins:
            yield twin.unpack()
        for rel in rels:
            yield rel.unpack()

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {"models": len(self._models), "twins": len(self._nodes), "relationships": len(self._rels)}

    def compact(self) -> bool:
        """Write a snapshot of the change log (see :mod:`dtgraph.stores._snapshot`), so that the next
        open loads it instead of replaying the journal; returns whether there was anything new to write.
        A store without a data directory has nothing to compact."""
        with self._lock:
            self._refuse_inside_stream()
            journal = self._journal
            if journal is None or journal.end <= self._snapshot_end:
                return False
            try:
                write_snapshot(
                    journal.directory,
                    journal.end,
                    journal_tail_crc(journal.fd, journal.end),
                    (_plain(entry) for entry in self._log),
                    fsync=journal.fsync,
                )
            except (OSError, ValueError) as exc:  # ValueError: a value marshal cannot write
                raise StoreError(f"cannot write a snapshot in {journal.directory}: {exc}") from exc
            self._snapshot_end = journal.end
            return True

    def close(self) -> None:
        with self._lock:
            if self._journal is not None:
                if self._journal.end - self._snapshot_end >= SNAPSHOT_AFTER and not self._streaming:
                    with contextlib.suppress(StoreError):  # a snapshot only saves time at the next open
                        self.compact()
                self._journal.close()
                self._journal = None
                self._read_only = "the store is closed"

    # --- history -----------------------------------------------------------------------------------

    def history(self, twin_id: str) -> list[Change]:
        changes: list[Change] = []
        with self._lock:
            if self._touched is None:
                self._touched = {}
                for position, entry in enumerate(self._log):
                    _index_changes(self._touched, position, entry)
            for position in self._touched.get(twin_id, ()):
                entry = self._log[position]
                time = entry.time
                changes.extend(
                    Change(time, "delete", relationship_key=k)
                    for k in entry.delete_relationships
                    if k[0] == twin_id
                )
                if twin_id in entry.delete_twins:
                    changes.append(Change(time, "delete", twin_id=twin_id))
                changes.extend(
                    Change(time, "upsert", twin=t.unpack(), twin_id=t.id)
                    for t in entry.twins
                    if t.id == twin_id
                )
                changes.extend(
                    Change(time, "upsert", relationship=r.unpack(), relationship_key=r.key)
                    for r in entry.relationships
                    if r.source == twin_id
                )
        return changes

    def as_of(self, time: datetime) -> Store:
        """The graph after every batch stamped at or before ``time`` (a naive time is taken as UTC)."""
        time = time.replace(tzinfo=UTC) if time.tzinfo is None else time
        view = MemoryStore()
        with self._lock:
            for entry in self._log[: bisect_right(self._times, time)]:
                view._commit(entry)
        view._read_only = f"a view of the graph as of {time.isoformat()} is read-only"
        return view

    # --- journal -----------------------------------------------------------------------------------

    def _load_snapshot(self, journal: _Journal) -> int:
        """Commit the change log of the data directory's snapshot, if it matches the journal; returns
        the journal offset to replay from (0: the whole journal)."""
        found = read_snapshot(journal.directory)
        if found is None:
            return 0
        end, tail_crc, entries = found
        if end > journal.size() or journal_tail_crc(journal.fd, end) != tail_crc:
            return 0  # the journal is not the one the snapshot was taken of
        try:
            for plain in entries:
                self._commit(self._unplain(plain))
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise StoreCorrupted(
                f"{journal.directory / SNAPSHOT_NAME} does not load ({exc}); delete it: the journal has "
                "everything it holds"
            ) from exc
        return end

    def _unplain(self, plain: Sequence[Any]) -> _Entry:
        """The log entry of a snapshot's plain tuple, with ids, models and names shared as ``_plan`` does."""
        time, models, delete_models, twins, delete_twins, rels, delete_rels = plain
        packed = self._pack_twins(twins)
        end, shared = self._end_id, self._shared
        return _Entry(
            datetime.fromisoformat(time),
            tuple(models),
            tuple(delete_models),
            tuple(packed.values()),
            tuple(delete_twins),
            tuple(
                PackedRelationship(i, end(s, packed), end(t, packed), shared(n), v) for i, s, t, n, v in rels
            ),
            tuple((s, i) for s, i in delete_rels),
        )

    def _replay(self, journal: _Journal, start: int = 0) -> None:
        stream: _OpenStream | None = None  # the group being replayed, until its commit frame
        for number, (offset, payload) in enumerate(journal.read(start), start=1):
            try:
                frame = _decode(payload)
                if stream is not None and frame.group != stream.group:
                    raise ValueError(
                        f"it follows the stream (group {stream.group}) begun at byte {stream.start} and "
                        "never committed: a crash leaves an open stream only at the end"
                    )
                if frame.commit:
                    if stream is None or frame.part != len(stream.parts):
                        raise ValueError(f"commit frame of group {frame.group} does not close its parts")
                    for entry, _ in stream.parts:
                        self._record(entry)
                    stream = None
                    continue
                if frame.group is not None:
                    stream = stream or _OpenStream(frame.group, offset)
                    if frame.part != len(stream.parts) + 1:
                        raise ValueError(f"part {frame.part} of group {frame.group} is out of order")
                assert frame.time is not None  # only commit frames have none
                entry, new = self._plan(frame.batch, frame.time)
            except (StoreError, ValueError, KeyError, TypeError, IndexError) as exc:
                raise StoreCorrupted(
                    f"{journal.path}: batch {number} at byte {offset} cannot be replayed: {exc}"
                ) from exc
            if stream is None:
                self._commit(entry, new=new)
            else:
                stream.parts.append((entry, self._change(entry, new=new)))
        if stream is not None:  # a stream that a crash interrupted never happened
            for entry, undo in reversed(stream.parts):
                self._undo(entry, undo)
            journal.truncate(stream.start)


def _plain(entry: _Entry) -> tuple[Any, ...]:
    """A log entry as plain tuples and lists, for ``marshal``."""
    return (
        entry.time.isoformat(),
        list(entry.models),
        list(entry.delete_models),
        [tuple(t) for t in entry.twins],
        list(entry.delete_twins),
        [tuple(r) for r in entry.relationships],
        [tuple(k) for k in entry.delete_relationships],
    )


def _index_changes(touched: dict[str, list[int]], position: int, entry: _Entry) -> None:
    """Note ``position`` under every twin ``entry`` changes, itself or an outgoing relationship."""
    twin_ids = (
        *entry.delete_twins,
        *(t.id for t in entry.twins),
        *(k[0] for k in entry.delete_relationships),
        *(r.source for r in entry.relationships),
    )
    for twin_id in dict.fromkeys(twin_ids):
        touched.setdefault(twin_id, []).append(position)


def _by_key(rel: PackedRelationship) -> RelationshipKey:
    return rel.source, rel.id


def _descendants_of(documents: list[dict[str, Any]]) -> Callable[[str], list[str]]:
    """Subtypes from the parsed models; from the documents' own ``extends`` if they do not parse alone.

    Stored models may not form a valid model set on their own (a base was deleted, or a batch added
    them in pieces): the subtype relation is still what the documents say.
    """
    try:
        model_set = parse(documents)
    except DtdlError:
        pass
    else:
        return lambda dtmi: model_set.descendants(dtmi) if dtmi in model_set.interfaces else []
    children: dict[str, list[str]] = {}
    for doc in documents:
        extends = doc.get("extends", [])
        for parent in extends if isinstance(extends, list) else [extends]:
            parent_id = parent.get("@id") if isinstance(parent, Mapping) else parent
            if isinstance(parent_id, str):
                children.setdefault(parent_id, []).append(doc["@id"])

    def descendants(dtmi: str) -> list[str]:
        found: dict[str, None] = {}
        queue = list(children.get(dtmi, []))
        while queue:
            child = queue.pop()
            if child not in found and child != dtmi:
                found[child] = None
                queue.extend(children.get(child, []))
        return list(found)

    return descendants


def _refuse_missing_ends(
    rels: Iterable[Relationship],
    twins: Mapping[str, Twin],
    nodes: Mapping[str, Any],
    gone: Mapping[str, None],
) -> None:
    """Raise if a relationship's end is neither written by the batch nor stored and kept by it."""
    missing = [
        f"relationship '{r.id}' from '{r.source}' to '{r.target}' needs twin '{end}'"
        for r in rels
        for end in ((r.source, r.target) if r.source != r.target else (r.source,))
        if end not in twins and (end not in nodes or end in gone)
    ]
    if missing:
        more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
        raise StoreError(
            "a relationship's twins must exist after the batch; nothing was changed: "
            + "; ".join(missing[:5])
            + more
        )


_K = TypeVar("_K")
_V = TypeVar("_V")


def _found(table: dict[_K, _V], keys: list[_K]) -> dict[_K, _V]:
    """The items of ``table`` under ``keys``, in their order: one pass in C when none is there (the
    records of a bulk load are new)."""
    if table.keys().isdisjoint(keys):
        return {}
    return {k: table[k] for k in keys if k in table}


# a record made from its fields without the Python-level __new__ a NamedTuple has (a third of the cost)
_new_relationship: Callable[[type[PackedRelationship], tuple[str, str, str, str, bytes]], PackedRelationship]
_new_relationship = tuple.__new__
_new_twin: Callable[[type[PackedTwin], tuple[str, str, bytes]], PackedTwin] = tuple.__new__

_NO_ATTRIBUTES: dict[str, Any] = {}  # the attribute dict of every edge: edges carry none (see _edges)


def add_nodes(graph: nx.MultiDiGraph[str], twins: Iterable[PackedTwin], ids: dict[str, str]) -> None:
    """``graph.add_node(t.id, twin=t)`` and ``ids[t.id] = t.id`` for twins not in the graph, writing
    networkx's own dicts directly: a call per node costs more than the dict writes it makes."""
    nodes, succ, pred = graph._node, graph._succ, graph._pred  # type: ignore[attr-defined]
    for twin in twins:
        twin_id = twin.id
        ids[twin_id] = twin_id
        succ[twin_id] = {}
        pred[twin_id] = {}
        nodes[twin_id] = {"twin": twin}
    nx._clear_cache(graph)


def add_edges(
    graph: nx.MultiDiGraph[str],
    rels: Iterable[PackedRelationship],
    index: dict[RelationshipKey, PackedRelationship],
) -> None:
    """``graph.add_edge(r.source, r.target, key=r.id)`` and ``index[r.key] = r`` for relationships not
    in ``index`` between twins in the graph, writing networkx's adjacency dicts directly (the key dict
    of an edge is shared by ``_succ`` and ``_pred``, as networkx does). Every edge shares one empty
    attribute dict: the store never writes edge attributes, and a dict each costs 64 bytes."""
    succ, pred = graph._succ, graph._pred  # type: ignore[attr-defined]
    attributes = _NO_ATTRIBUTES
    for rel in rels:
        source, target = rel.source, rel.target
        out = succ[source]
        keys = out.get(target)
        if keys is None:
            if target not in pred:
                raise KeyError(target)
            keys = out[target] = {}
            pred[target][source] = keys
        keys[rel.id] = attributes
        index[source, rel.id] = rel
    nx._clear_cache(graph)


@dataclass(frozen=True, slots=True)
class _Entry:
    """The effective changes of one batch, cascades included: what the change log keeps."""

    time: datetime
    models: tuple[dict[str, Any], ...]
    delete_models: tuple[str, ...]
    twins: tuple[PackedTwin, ...]
    delete_twins: tuple[str, ...]
    relationships: tuple[PackedRelationship, ...]
    delete_relationships: tuple[RelationshipKey, ...]


@dataclass(frozen=True, slots=True)
class _Undo:
    """What a change replaced: enough to put back the state before it."""

    twins: dict[str, PackedTwin]  # the twins it replaced or deleted
    rels: dict[RelationshipKey, PackedRelationship]  # the relationships it replaced or deleted
    models: dict[str, dict[str, Any]] | None  # every model before it, if it changed models


@dataclass(slots=True)
class _OpenStream:
    """A stream's group during replay: its first frame's offset, and each part applied with its undo."""

    group: str
    start: int
    parts: list[tuple[_Entry, _Undo]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Frame:
    """A decoded journal frame: a batch (maybe a part of a group), or a group's commit."""

    batch: Batch
    time: datetime | None
    group: str | None = None
    part: int = 0  # the part number; for a commit frame, the number of parts
    commit: bool = False


class _SortedIds:
    """Twin ids in order for paging. Writes go to small pending sets; the next read merges them in
    with one sort, which is linear on an already sorted list (timsort finds the runs). Additions keep
    their order, so a bulk load in id order sorts in linear time too."""

    __slots__ = ("_added", "_ids", "_removed")

    def __init__(self) -> None:
        self._ids: list[str] = []
        self._added: dict[str, None] = {}
        self._removed: set[str] = set()

    def add(self, twin_id: str) -> None:
        if twin_id in self._removed:
            self._removed.discard(twin_id)
        else:
            self._added[twin_id] = None

    def update(self, twin_ids: Iterable[str]) -> None:
        if self._removed:
            for twin_id in twin_ids:
                self.add(twin_id)
        else:
            self._added.update(dict.fromkeys(twin_ids))

    def discard(self, twin_id: str) -> None:
        if twin_id in self._added:
            del self._added[twin_id]
        else:
            self._removed.add(twin_id)

    def ids(self) -> list[str]:
        if self._added or self._removed:
            removed = self._removed
            ids = [i for i in self._ids if i not in removed] if removed else self._ids
            ids.extend(self._added)
            ids.sort()
            self._ids, self._added, self._removed = ids, {}, set()
        return self._ids


# --- the journal file --------------------------------------------------------------------------------


class _Journal:
    """The append-only journal file of a data directory (format in the module docstring)."""

    def __init__(self, directory: Path, *, fsync: bool) -> None:
        self.path = directory / JOURNAL_NAME
        self._fsync = fsync
        self._broken: str | None = None
        created = not self.path.exists()
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot open the journal {self.path}: {exc}") from exc
        if sys.platform != "win32":
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                os.close(self._fd)
                raise StoreError(f"{self.path} is in use by another store (close it first): {exc}") from exc
        if created and fsync:
            _fsync_directory(directory)
        self._end = 0

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def fd(self) -> int:
        return self._fd

    @property
    def fsync(self) -> bool:
        return self._fsync

    def size(self) -> int:
        return os.fstat(self._fd).st_size

    def read(self, start: int = 0) -> Iterator[tuple[int, bytes]]:
        """Each complete frame's offset and payload from ``start`` (a frame's offset; 0: the first
        frame); a torn tail is cut off the file."""
        size = self.size()
        data = mmap.mmap(self._fd, size, access=mmap.ACCESS_READ) if size else b""
        try:
            if data[: len(_HEADER)] != _HEADER:
                if not _HEADER.startswith(data[:]):
                    raise StoreCorrupted(
                        f"{self.path} is not a dtgraph journal (it must start with {_HEADER!r})"
                    )
                self._cut(0)  # empty, or the header itself was torn
                self._write(_HEADER)
                self._end = len(_HEADER)
                return
            offset = max(start, len(_HEADER))
            while offset < size:
                payload = _frame_at(data, offset)
                if payload is None:
                    later = _next_frame(data, offset + 1)
                    if later is not None:
                        raise StoreCorrupted(
                            f"{self.path}: the frame at byte {offset} is damaged and a complete frame "
                            f"follows at byte {later}; the journal cannot be replayed past the damage"
                        )
                    break
                yield offset, payload
                offset += _FRAME.size + len(payload)
        finally:
            if isinstance(data, mmap.mmap):
                data.close()
        if offset < size:
            self._cut(offset)  # a torn tail: that batch never completed, so it never happened
        self._end = offset

    @property
    def end(self) -> int:
        """The offset after the last frame written."""
        return self._end

    def append(self, payload: bytes, *, sync: bool = True) -> int:
        """Write and sync one frame (``sync=False``: write only; :meth:`sync` later); returns the end
        before it, for ``truncate``."""
        if self._broken is not None:
            raise StoreError(f"the journal {self.path} is unusable: {self._broken}; reopen the store")
        end = self._end
        try:
            self._write(_FRAME.pack(_MAGIC, len(payload), zlib.crc32(payload)) + payload, sync=sync)
        except OSError as exc:
            self.truncate(end)
            raise StoreError(f"cannot write the journal {self.path}; nothing was changed: {exc}") from exc
        self._end = end + _FRAME.size + len(payload)
        return end

    def truncate(self, end: int) -> None:
        """Drop what was appended after ``end`` (a batch that failed after its frame was written)."""
        try:
            self._cut(end)
        except OSError as exc:
            self._broken = f"a failed batch could not be cut off ({exc})"
        else:
            self._end = end

    def sync(self) -> None:
        """Make every frame written so far durable."""
        if self._fsync:
            try:
                os.fsync(self._fd)
            except OSError as exc:
                raise StoreError(f"cannot sync the journal {self.path}; nothing was changed: {exc}") from exc

    def _write(self, data: bytes, *, sync: bool = True) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        if sync and self._fsync:
            os.fsync(self._fd)

    def _cut(self, end: int) -> None:
        os.ftruncate(self._fd, end)
        if self._fsync:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _frame_at(data: bytes | mmap.mmap, offset: int) -> bytes | None:
    if offset + _FRAME.size > len(data):
        return None
    magic, length, crc = _FRAME.unpack_from(data, offset)
    start = offset + _FRAME.size
    if magic != _MAGIC or start + length > len(data):
        return None
    payload = data[start : start + length]
    return payload if zlib.crc32(payload) == crc else None


def _next_frame(data: bytes | mmap.mmap, offset: int) -> int | None:
    """The offset of the first valid frame at or after ``offset``, if any."""
    while (offset := data.find(_MAGIC, offset)) >= 0:
        if _frame_at(data, offset) is not None:
            return offset
        offset += 1
    return None


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _encode(entry: _Entry, *, group: str | None = None, part: int = 0) -> bytes:
    record: dict[str, Any] = {"time": entry.time.isoformat()}
    if group is not None:
        record.update(group=group, part=part)
    members: dict[str, list[Any]] = {
        "models": [orjson.Fragment(pack(m)) for m in entry.models],
        "delete_models": list(entry.delete_models),
        # tuples (arrays in JSON, as lists are) unpacked from the records: the cheapest to make
        "twins": [(i, m, orjson.Fragment(v)) for i, m, v in entry.twins],
        "delete_twins": list(entry.delete_twins),
        "relationships": [
            (i, s, t, n, _EMPTY_FRAGMENT if v is EMPTY else orjson.Fragment(v))
            for i, s, t, n, v in entry.relationships
        ],
        "delete_relationships": [list(k) for k in entry.delete_relationships],
    }
    record.update((k, v) for k, v in members.items() if v)
    return orjson.dumps(record)  # every value a user gave is packed already, exactly (see pack)


_EMPTY_FRAGMENT = orjson.Fragment(EMPTY)  # most relationships have no properties: one shared fragment


def _commit_frame(group: str, parts: int) -> bytes:
    return orjson.dumps({"group": group, "commit": True, "parts": parts})


def _decode(payload: bytes) -> _Frame:
    record = loads(payload)
    group = record.get("group")
    if group is not None and not isinstance(group, str):
        raise ValueError(f"a group id must be a string, not {group!r}")
    if record.get("commit") is True:
        return _Frame(Batch(), None, group, int(record["parts"]), commit=True)
    batch = Batch(
        models=record.get("models", []),
        delete_models=record.get("delete_models", []),
        twins=[Twin(i, m, MappingProxyType(p)) for i, m, p in record.get("twins", [])],
        delete_twins=record.get("delete_twins", []),
        relationships=[
            Relationship(i, s, t, n, MappingProxyType(p)) for i, s, t, n, p in record.get("relationships", [])
        ],
        delete_relationships=[(s, i) for s, i in record.get("delete_relationships", [])],
    )
    return _Frame(batch, datetime.fromisoformat(record["time"]), group, int(record.get("part", 0)))
