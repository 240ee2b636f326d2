"""The Store interface: the small contract every store implements, and the convenience built on it.

A store keeps models, twins and relationships. Writes come as a :class:`Batch` that applies fully or
not at all. Reads are batched (many ids per call) so that a GraphQL query costs round trips in
proportion to its depth, not its rows. Validation against the models happens before a batch reaches
the store (see :mod:`dtgraph.graph`); stores trust what they are given.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from dtgraph.graph.records import Relationship, RelationshipKey, Twin
from dtgraph.stores.errors import UnsupportedOperation

__all__ = [
    "AsyncReads",
    "Batch",
    "Capabilities",
    "Change",
    "Direction",
    "Filter",
    "Levels",
    "Page",
    "Step",
    "Store",
    "other_end",
]

Direction = Literal["out", "in", "both"]
Step = tuple[str | None, Direction]  # one hop of a traversal: a relationship name (None: any), a direction
# the answer of a traversal, level by level: per twin reached, its relationships with the twin at their end
Levels = list[dict[str, list[tuple[Relationship, Twin]]]]


class AsyncReads(Protocol):
    """A store's reads a GraphQL request makes most, as coroutines on the event loop that opened them
    (``Store.open_async_reads``): the answers of the store's methods of the same names."""

    async def get_twins(self, ids: Iterable[str]) -> dict[str, Twin]: ...

    async def neighbours(
        self, twin_ids: Iterable[str], *, name: str | None = None, direction: Direction = "out"
    ) -> dict[str, list[tuple[Relationship, Twin]]]: ...

    async def neighbours_along(self, twin_ids: Iterable[str], steps: Sequence[Step]) -> Levels: ...

    async def twins_along(
        self, twin_ids: Iterable[str], steps: Sequence[Step]
    ) -> tuple[dict[str, Twin], Levels]: ...

    async def aclose(self) -> None:
        """Release what they hold; before their loop ends."""


Operator = Literal["eq", "ne", "lt", "le", "gt", "ge", "in", "exists"]


@dataclass(frozen=True, slots=True)
class Batch:
    """One atomic change. Deleting a twin also deletes every relationship to or from it."""

    models: Sequence[Mapping[str, Any]] = ()  # DTDL interface documents, added or replaced by "@id"
    delete_models: Sequence[str] = ()
    twins: Sequence[Twin] = ()  # added or replaced whole
    delete_twins: Sequence[str] = ()
    relationships: Sequence[Relationship] = ()  # added or replaced whole, keyed by (source, id)
    delete_relationships: Sequence[RelationshipKey] = ()

    def __bool__(self) -> bool:
        return any(
            (
                self.models,
                self.delete_models,
                self.twins,
                self.delete_twins,
                self.relationships,
                self.delete_relationships,
            )
        )

    @property
    def size(self) -> int:
        return (
            len(self.models)
            + len(self.delete_models)
            + len(self.twins)
            + len(self.delete_twins)
            + len(self.relationships)
            + len(self.delete_relationships)
        )


_BATCH_FIELDS = ("models", "delete_models", "twins", "delete_twins", "relationships", "delete_relationships")


@dataclass(frozen=True, slots=True)
class Filter:
    """A condition on a twin property; ``path`` is a property name or ``component.property``."""

    path: str
    op: Operator
    value: Any = None

    def matches(self, properties: Mapping[str, Any]) -> bool:
        """The reference semantics every store must reproduce (the memory store uses it directly)."""
        found, actual = _lookup(properties, self.path)
        if self.op == "exists":
            return found == bool(self.value if self.value is not None else True)
        if not found:
            return False
        if self.op == "eq":
            return bool(actual == self.value)
        if self.op == "ne":
            return bool(actual != self.value)
        if self.op == "in":
            return actual in self.value
        try:
            if self.op == "lt":
                return bool(actual < self.value)
            if self.op == "le":
                return bool(actual <= self.value)
            if self.op == "gt":
                return bool(actual > self.value)
            return bool(actual >= self.value)
        except TypeError:  # values of different types never compare: the twin does not match
            return False


def _lookup(properties: Mapping[str, Any], path: str) -> tuple[bool, Any]:
    current: Any = properties
    for part in path.split("."):
        # most values are dicts: the type test spares them the Mapping ABC's (a tenth of a page's time)
        if not (type(current) is dict or isinstance(current, Mapping)) or part not in current:
            return False, None
        current = current[part]
    return True, current


@dataclass(frozen=True, slots=True)
class Page:
    """A page of twins in id order; ``cursor`` continues after the last one (None at the end)."""

    twins: list[Twin]
    cursor: str | None


@dataclass(frozen=True, slots=True)
class Change:
    """One recorded change to a twin or relationship (stores with history)."""

    time: datetime
    kind: Literal["upsert", "delete"]
    twin: Twin | None = None
    relationship: Relationship | None = None
    twin_id: str | None = None
    relationship_key: RelationshipKey | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a store can do beyond the contract (networkx backends answer ``can_run`` the same way)."""

    history: bool = False  # change history per twin and reads "as of" a past time
    persistent: bool = True
    transactions: bool = True


def other_end(rel: Relationship, twin_id: str) -> str:
    """The twin at the other end of ``rel`` from ``twin_id`` (``twin_id`` itself for a loop)."""
    return rel.target if rel.source == twin_id else rel.source


class Store(ABC):
    """Models, twins and relationships, written in atomic batches and read in batches."""

    @property
    def capabilities(self) -> Capabilities:
        """What this store offers beyond the contract (it may depend on how the store was opened)."""
        return Capabilities()

    # --- writes --------------------------------------------------------------------------------

    @abstractmethod
    def apply(self, batch: Batch) -> None:
        """Apply every change of ``batch`` or, on any failure, none of them (raises StoreError)."""

    def apply_stream(self, batches: Iterable[Batch]) -> int:
        """Apply a stream of batches as one atomic change (bulk imports); returns the entities written.

        Each batch sees the ones before it, as consecutive ``apply`` calls would, and the whole stream
        commits or rolls back together. This default gathers the stream into one batch (bulk imports send
        twins before relationships, so that is equivalent for them); the stores override it to hold only
        one chunk in memory.
        """
        parts: dict[str, list[Any]] = {name: [] for name in _BATCH_FIELDS}
        for batch in batches:
            for name in _BATCH_FIELDS:
                parts[name].extend(getattr(batch, name))
        whole = Batch(**parts)
        self.apply(whole)
        return whole.size

    # --- reads ---------------------------------------------------------------------------------

    @abstractmethod
    def model_documents(self) -> list[dict[str, Any]]:
        """Every stored DTDL interface document, in the order they were first added."""

    def models_version(self) -> int | None:
        """A number that grows by one with each write that changes the stored models, whoever makes
        it (another server, the command line); cheap to read, so that a server can follow other
        writers. None for a store that no other process can write (the memory store)."""
        return None

    @abstractmethod
    def get_twins(self, ids: Iterable[str]) -> dict[str, Twin]:
        """The twins with these ids that exist (missing ids are simply absent)."""

    @abstractmethod
    def get_relationships(self, keys: Iterable[RelationshipKey]) -> dict[RelationshipKey, Relationship]:
        """The relationships with these (source, id) keys that exist."""

    @abstractmethod
    def relationships(
        self, twin_ids: Iterable[str], *, name: str | None = None, direction: Direction = "out"
    ) -> dict[str, list[Relationship]]:
        """For each twin id, its relationships (optionally of one name) in a direction, ordered by key."""

    @abstractmethod
    def query_twins(
        self,
        model: str | None = None,
        *,
        include_subtypes: bool = True,
        where: Sequence[Filter] = (),
        limit: int = 100,
        after: str | None = None,
    ) -> Page:
        """Twins of ``model`` (and the models extending it) whose properties pass every filter, by id."""

    @abstractmethod
    def snapshot(self) -> Iterator[Twin | Relationship]:
        """Every twin, then every relationship, streamed for analysis and export."""

    @abstractmethod
    def counts(self) -> dict[str, int]:
        """Numbers of models, twins and relationships."""

    def close(self) -> None:  # noqa: B027 - stores without resources need nothing here
        """Release connections and files."""

    def open_async_reads(self) -> AsyncReads | None:
        """Reads that run on the running event loop, for a store whose reads wait on I/O and that has
        an asyncio client (Neo4j); None (the default): a server runs the store's blocking methods in
        worker threads, or on its loop when ``immediate_reads`` allows."""
        return None

    @contextmanager
    def immediate_reads(self) -> Iterator[bool]:
        """Whether reads answer now in the calling thread, waiting on no I/O and no writer, until the
        block ends: then an asyncio server calls them on its event loop instead of a worker thread.

        False here; an in-memory store says True while no writer holds it (and keeps writers out
        until the block ends).
        """
        yield False

    # --- optional capabilities ---------------------------------------------------------------

    def history(self, twin_id: str) -> list[Change]:
        """Every recorded change of the twin and its outgoing relationships, oldest first."""
        raise UnsupportedOperation(f"{type(self).__name__} keeps no change history")

    def as_of(self, time: datetime) -> Store:
        """A read-only view of the graph as it was at ``time``."""
        raise UnsupportedOperation(f"{type(self).__name__} cannot read the past")

    # --- convenience on top of the contract ---------------------------------------------------

    def get_twin(self, twin_id: str) -> Twin | None:
        return self.get_twins([twin_id]).get(twin_id)

    def traverse(
        self,
        start: str,
        *,
        name: str | None = None,
        direction: Direction = "out",
        max_depth: int = 10,
    ) -> list[tuple[int, Twin]]:
        """Twins reachable from ``start`` within ``max_depth`` hops, breadth first, each once.

        One ``relationships`` and one ``get_twins`` call per level: round trips grow with depth only.
        """
        seen = {start}
        frontier = [start]
        found: list[tuple[int, Twin]] = []
        for depth in range(1, max_depth + 1):
            if not frontier:
                break
            edges = self.relationships(frontier, name=name, direction=direction)
            following: list[str] = []
            for twin_id in frontier:
                for rel in edges.get(twin_id, []):
                    other = rel.target if rel.source == twin_id else rel.source
                    if other not in seen:
                        seen.add(other)
                        following.append(other)
            twins = self.get_twins(following)
            found.extend((depth, twins[t]) for t in following if t in twins)
            frontier = [t for t in following if t in twins]
        return found

    def neighbours(
        self, twin_ids: Iterable[str], *, name: str | None = None, direction: Direction = "out"
    ) -> dict[str, list[tuple[Relationship, Twin]]]:
        """The relationships of each twin, as ``relationships`` lists them, each with the twin at its
        other end (a loop's is the twin itself). A store that can answers in one round trip, so that a
        traversal costs one call per level."""
        rels = self.relationships(twin_ids, name=name, direction=direction)
        ends = self.get_twins({other_end(r, t) for t, found in rels.items() for r in found})
        return {
            t: [(r, ends[other_end(r, t)]) for r in found if other_end(r, t) in ends]
            for t, found in rels.items()
        }

    def neighbours_along(
        self, twin_ids: Iterable[str], steps: Sequence[Step]
    ) -> list[dict[str, list[tuple[Relationship, Twin]]]]:
        """``neighbours`` along a chain of ``steps`` (each a relationship name or None, and a
        direction), one answer per step: the first is ``neighbours(twin_ids)`` with the first step's
        name and direction, each next one ``neighbours`` of every twin the one before reached (in
        order of id) with its step's. A nested query (``related { related { … } }``) reads its levels
        with one call; a store that can answers it in one round trip."""
        levels: list[dict[str, list[tuple[Relationship, Twin]]]] = []
        ids: Iterable[str] = twin_ids
        for name, direction in steps:
            level = self.neighbours(ids, name=name, direction=direction)
            levels.append(level)
            ids = sorted({twin.id for pairs in level.values() for _, twin in pairs})
        return levels

    def twins_along(
        self, twin_ids: Iterable[str], steps: Sequence[Step]
    ) -> tuple[dict[str, Twin], list[dict[str, list[tuple[Relationship, Twin]]]]]:
        """``get_twins(twin_ids)`` and ``neighbours_along`` from those twins, read together: a query
        that starts at a twin and walks from it (``twin(id) { related { … } }``) costs one call."""
        found = self.get_twins(twin_ids)
        return found, self.neighbours_along(list(found), steps)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
