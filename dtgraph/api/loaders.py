"""Data loaders: the reads of one request, batched so that round trips grow with depth, not rows.

Every twin a query touches at one level of nesting is read with one ``Store.get_twins`` call, and
every relationship list with one ``Store.relationships`` call per (name, direction) asked at that
level; a traversal (``related``, typed relationship fields) reads relationships and the twins at their
other ends together, with one ``Store.neighbours`` call per (name, direction) and level, or one
``Store.neighbours_along`` call for all the levels of a nested traversal (see
:mod:`dtgraph.api.lookahead`), which primes the loaders of the levels below. Store calls run in a
worker thread, so a slow store does not stall the event loop, except for a store that answers at once
(``Store.immediate_reads``: the memory store when no writer holds it) and the reads a store offers as
coroutines (``Store.open_async_reads``: Neo4j's twins by id and traversals, through the driver's
asyncio API), which the server opens for its loop and hands to every request's loaders.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from strawberry.dataloader import DataLoader

from dtgraph.graph.records import Relationship, Twin
from dtgraph.stores.base import AsyncReads, Direction, Levels, Step, Store

__all__ = [
    "STORE_THREADS",
    "BlockingReads",
    "ChainKey",
    "Loader",
    "Loaders",
    "RelationshipsKey",
    "blocking",
    "read",
]

RelationshipsKey = tuple[str, str | None, Direction]  # (twin id, relationship name or None, direction)
ChainKey = tuple[str, tuple[Step, ...]]  # (twin id, steps of a nested traversal)

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")
V = TypeVar("V")


# A store call waits on its store: a Neo4j round trip holds its thread without using the CPU. The
# event loop's default pool has min(32, cores + 4) threads, 6 on a small machine, so at most 6 requests
# could wait on Neo4j at once; these threads are started as calls need them.
STORE_THREADS = 32
_store_calls = ThreadPoolExecutor(max_workers=STORE_THREADS, thread_name_prefix="dtgraph-store")


async def blocking(fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """Run a blocking store call in a worker thread (with the caller's context variables)."""
    call = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_store_calls, call)


async def read(store: Store, fn: Callable[..., R], *args: Any, **kwargs: Any) -> R:
    """A read of ``store``: on the event loop when the store answers at once (in memory, no writer),
    else in a worker thread. A hop to a thread and back costs more than an in-memory read, and waits
    for the GIL: up to its switch interval (5 ms) each way while the loop is busy, which made the
    latency of a query with a few levels of reads under load."""
    with store.immediate_reads() as now:
        if now:
            return fn(*args, **kwargs)
    return await blocking(fn, *args, **kwargs)


class BlockingReads:
    """A store's blocking reads as :class:`AsyncReads`, each run by :func:`read`: on the loop when the
    store answers at once, else in a worker thread."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def get_twins(self, ids: Iterable[str]) -> dict[str, Twin]:
        return await read(self._store, self._store.get_twins, ids)

    async def neighbours(
        self, twin_ids: Iterable[str], *, name: str | None = None, direction: Direction = "out"
    ) -> dict[str, list[tuple[Relationship, Twin]]]:
        return await read(self._store, self._store.neighbours, twin_ids, name=name, direction=direction)

    async def neighbours_along(self, twin_ids: Iterable[str], steps: Sequence[Step]) -> Levels:
        return await read(self._store, self._store.neighbours_along, twin_ids, steps)

    async def twins_along(
        self, twin_ids: Iterable[str], steps: Sequence[Step]
    ) -> tuple[dict[str, Twin], Levels]:
        return await read(self._store, self._store.twins_along, twin_ids, steps)

    async def aclose(self) -> None:
        """Nothing to release: the store's own methods do the reading."""


class Loader(DataLoader[K, V]):
    """strawberry's data loader, whose primed values stay plain until they are loaded. A traversal
    primes every level and every twin it reads, and most are never loaded: a future for each (what
    strawberry's ``prime`` makes) cost 4 % of the server's CPU on a 2-hop request (0.78 -> 0.75 ms)."""

    def __init__(self, load_fn: Callable[[list[K]], Awaitable[Sequence[V | BaseException]]]) -> None:
        super().__init__(load_fn=load_fn)
        self.primed: dict[K, V] = {}

    def prime(self, key: K, value: V, force: bool = False) -> None:
        batch = self.batch
        if batch is not None and batch.tasks and not batch.dispatched:
            # a load of it may wait in the batch: strawberry's prime answers it (over a plain value
            # primed before, which it would have held as a future)
            if key in self.primed:
                super().prime(key, self.primed.pop(key))
            super().prime(key, value, force)
        elif force:
            if self.cache_map.get(key) is not None:
                self.cache_map.delete(key)
            self.primed[key] = value
        elif key not in self.primed and self.cache_map.get(key) is None:
            self.primed[key] = value

    def load(self, key: K) -> Awaitable[V]:
        if self.primed and key in self.primed:
            super().prime(key, self.primed.pop(key))
        return super().load(key)

    def has(self, key: K) -> bool:
        """Whether ``key`` is primed or loaded (or being loaded)."""
        return key in self.primed or self.cache_map.get(key) is not None

    def now(self, key: K) -> tuple[V] | None:
        """``(value,)`` when ``key``'s value is at hand (primed, or loaded without error), else None."""
        if key in self.primed:
            return (self.primed[key],)
        future = self.cache_map.get(key)
        if future is None or not future.done() or future.cancelled() or future.exception() is not None:
            return None
        return (future.result(),)

    def clear(self, key: K) -> None:
        self.primed.pop(key, None)
        if self.cache_map.get(key) is not None:
            super().clear(key)

    def clear_many(self, keys: Iterable[K]) -> None:
        for key in keys:
            self.clear(key)

    def clear_all(self) -> None:
        self.primed.clear()
        super().clear_all()


TwinLoader = Loader[str, Twin | None]
NeighboursLoader = Loader[RelationshipsKey, list[tuple[Relationship, Twin]]]


class Loaders:
    """The data loaders of one request over one store (the live graph, or a view of the past)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        # the store's blocking reads through ``read``, or those the server opened on its loop (set
        # before the first load: each loader keeps the reads it was made with)
        self.reads: AsyncReads = BlockingReads(store)

    # Each loader is made when the request first uses it: most requests use two of the five. Its load
    # function holds what it reads through and the loaders it primes, never these Loaders: a loader
    # calling back into its owner would make each request's reads a reference cycle, which only the
    # cycle collector frees (it took a sixth of the server's CPU on 2-hop requests over Neo4j).

    @functools.cached_property
    def twins(self) -> TwinLoader:
        return Loader(functools.partial(_load_twins, self.reads))

    @functools.cached_property
    def relationships(self) -> Loader[RelationshipsKey, list[Relationship]]:
        return Loader(functools.partial(_load_relationships, self.store))

    @functools.cached_property
    def neighbours(self) -> NeighboursLoader:
        return Loader(functools.partial(_load_neighbours, self.reads, self.twins))

    @functools.cached_property
    def chains(self) -> Loader[ChainKey, list[tuple[Relationship, Twin]]]:
        return Loader(functools.partial(_load_chains, self.reads, self.neighbours, self.twins))

    @functools.cached_property
    def starts(self) -> Loader[ChainKey, Twin | None]:
        return Loader(functools.partial(_load_starts, self.reads, self.neighbours, self.twins))

    def clear(self) -> None:
        """Forget what was read (after a write in the same request)."""
        for made in list(vars(self).values()):
            if isinstance(made, Loader):
                made.clear_all()

    async def neighbours_of(
        self,
        twin_id: str,
        name: str | None,
        direction: Direction,
        below: tuple[Step, ...],
    ) -> list[tuple[Relationship, Twin]]:
        """The neighbours of ``twin_id``, read together with the levels ``below`` when there are some,
        unless a traversal above read them already."""
        key = (twin_id, name, direction)
        if below and not self.neighbours.has(key):
            return await self.chains.load((twin_id, ((name, direction), *below)))
        return await self.neighbours.load(key)

    async def twin_of(self, twin_id: str, below: tuple[Step, ...]) -> Twin | None:
        """The twin ``twin_id``, read together with the levels of the traversal ``below`` it when
        there are some, unless it was read already."""
        if below and not self.twins.has(twin_id):
            return await self.starts.load((twin_id, below))
        return await self.twins.load(twin_id)


async def _load_twins(reads: AsyncReads, ids: list[str]) -> list[Twin | None]:
    found = await reads.get_twins(ids)
    return [found.get(i) for i in ids]


async def _load_relationships(store: Store, keys: list[RelationshipsKey]) -> list[list[Relationship]]:
    found = await _per_shape(keys, functools.partial(read, store, store.relationships))
    return [found[k] for k in keys]


async def _load_neighbours(
    reads: AsyncReads, twins: TwinLoader, keys: list[RelationshipsKey]
) -> list[list[tuple[Relationship, Twin]]]:
    found = await _per_shape(keys, reads.neighbours)
    for pairs in found.values():
        _prime_ends(twins, pairs)
    return [found[k] for k in keys]


async def _load_chains(
    reads: AsyncReads, neighbours: NeighboursLoader, twins: TwinLoader, keys: list[ChainKey]
) -> list[list[tuple[Relationship, Twin]]]:
    """The first step's neighbours of each key's twin; every level primes ``neighbours`` (and
    ``twins``), so that the nested resolvers read nothing more."""
    found: dict[ChainKey, list[tuple[Relationship, Twin]]] = {}
    for steps, ids in _by_steps(keys).items():
        levels = await reads.neighbours_along(ids, list(steps))
        _prime(neighbours, twins, steps, levels)
        for twin_id in ids:
            found[(twin_id, steps)] = levels[0].get(twin_id, [])
    return [found[k] for k in keys]


async def _load_starts(
    reads: AsyncReads, neighbours: NeighboursLoader, twins: TwinLoader, keys: list[ChainKey]
) -> list[Twin | None]:
    """Each key's twin, the levels of its traversal primed as by ``_load_chains``."""
    found: dict[str, Twin] = {}
    for steps, ids in _by_steps(keys).items():
        starts, levels = await reads.twins_along(ids, list(steps))
        for twin in starts.values():
            twins.prime(twin.id, twin)
        _prime(neighbours, twins, steps, levels)
        found.update(starts)
    return [found.get(twin_id) for twin_id, _ in keys]


def _prime(
    neighbours: NeighboursLoader,
    twins: TwinLoader,
    steps: tuple[Step, ...],
    levels: list[dict[str, list[tuple[Relationship, Twin]]]],
) -> None:
    for (name, direction), level in zip(steps, levels, strict=True):
        for twin_id, pairs in level.items():
            neighbours.prime((twin_id, name, direction), pairs)
            _prime_ends(twins, pairs)


def _prime_ends(twins: TwinLoader, pairs: list[tuple[Relationship, Twin]]) -> None:
    for _, twin in pairs:  # the twins are read: later loads of them cost nothing
        twins.prime(twin.id, twin)


async def _per_shape(
    keys: list[RelationshipsKey], fn: Callable[..., Awaitable[dict[str, list[V]]]]
) -> dict[RelationshipsKey, list[V]]:
    """``fn`` (a read by twin ids, ``name`` and ``direction``) once per (name, direction) among
    ``keys``, its answer per key."""
    shapes: dict[Step, list[str]] = {}
    for twin_id, name, direction in keys:
        shapes.setdefault((name, direction), []).append(twin_id)
    found: dict[RelationshipsKey, list[V]] = {}
    for (name, direction), ids in shapes.items():
        answer = await fn(ids, name=name, direction=direction)
        for twin_id in ids:
            found[(twin_id, name, direction)] = answer.get(twin_id, [])
    return found


def _by_steps(keys: list[ChainKey]) -> dict[tuple[Step, ...], list[str]]:
    """The twin ids of ``keys``, grouped by their steps."""
    groups: dict[tuple[Step, ...], list[str]] = {}
    for twin_id, steps in keys:
        groups.setdefault(steps, []).append(twin_id)
    return groups
