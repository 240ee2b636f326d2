"""The compiled propagation kernel: permanent failures, Dijkstra-like, over the arrays of a snapshot.

One call spreads a failure from some nodes by the rule of :mod:`dtgraph.cascade.deterministic` (a node
fails ``weight`` after an input over a *single* edge — hierarchy, or gated into a node that fails at its
first failed input — or ``buffer`` after the ``fail_at``-th arrival over its gated edges) and touches only
the nodes the failure reaches: the per-node work space is allocated once per graph and reset entry by
entry, so a cascade that reaches a hundred nodes costs a hundred nodes, not the graph. The kernels are
compiled with numba (``cache=True``: the compiled code is kept beside the module, so only the first use
on a machine pays for compiling).

Arithmetic is the reference's, operation for operation: over a single edge ``t + weight`` (``weight`` is
``lead + buffer`` worked out beforehand), over a gated one ``(t + lead)`` then the k-th smallest arrival
``+ buffer``; so times are bit-identical to :func:`dtgraph.cascade.criticality`'s Python version.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np

from dtgraph.cascade.snapshot import Bools, Floats, Ints

__all__ = ["Kernel", "Scratch"]


def _jit(fn: Callable[..., Any]) -> Callable[..., Any]:
    return numba.njit(cache=True, nogil=True)(fn)


def _jit_parallel(fn: Callable[..., Any]) -> Callable[..., Any]:
    return numba.njit(cache=True, nogil=True, parallel=True)(fn)


@dataclass(slots=True)
class Scratch:
    """Per-node work space of one running cascade; all entries back to their initial value between calls."""

    best: Floats  # tentative failure time (inf: not reached)
    where: Ints  # position in the queue; -1: not queued, -2: time final
    count: Ints  # gated arrivals so far
    cause: Ints  # the edge that brought the failure (-1: a source)
    slot_time: Floats  # per node with fail_at > 1, its fail_at smallest arrivals (a max-heap)
    slot_edge: Ints
    queue: Ints  # a binary heap of nodes by time, with decrease-key through ``where``
    queue_t: Floats
    touched: Ints  # the nodes changed, in order of first change
    sink_best: Floats  # the same for sinks, by sink number
    sink_cause: Ints
    sink_touched: Ints

    @classmethod
    def new(cls, n: int, slots: int, sinks: int) -> Scratch:
        return cls(*_new_state(n, slots, sinks))

    def state(self) -> tuple[Any, ...]:
        return (
            self.best,
            self.where,
            self.count,
            self.cause,
            self.slot_time,
            self.slot_edge,
            self.queue,
            self.queue_t,
            self.touched,
            self.sink_best,
            self.sink_cause,
            self.sink_touched,
        )


@dataclass(slots=True)
class Kernel:
    """A graph as the kernels take it: edges by source, with what the rule needs per edge and node."""

    indptr: Ints
    targets: Ints
    edge: Ints  # the edge's index in the snapshot (for causes)
    weight: Floats  # lead, plus the target's buffer for a gated single edge
    single: Bools
    lead: Floats
    buffer: Floats
    fail_at: Ints
    dead: Bools  # per node: no edge leaves it, so it never needs to be queued
    slot: Ints  # per node with fail_at > 1: where its arrivals live in Scratch.slot_*
    slots: int
    # Sinks — nodes with no way on that fail at their first failed input (customer orders, mostly) — are
    # numbered apart and reached by edges of their own: a cascade's many sinks never enter the queue and
    # their work space is small and dense.
    sink_indptr: Ints  # edges into sinks, by source
    sink_target: Ints  # the sink's number
    sink_weight: Floats
    sink_edge: Ints
    sink_node: Ints  # per sink, its node
    sink_of: Ints  # per node, its sink number or -1
    # Links of a chain — one edge out, a single one, no gated edge in (a machine feeding only its line) —
    # are passed through when a ranking reaches them, never queued: their time goes straight on to
    # their successor. ``rank(shortcut=False)`` queues them as any node (the reference).
    chain: Bools
    _free: list[Scratch] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(
        cls,
        n: int,
        source: Ints,
        target: Ints,
        edge: Ints,
        lead: Floats,
        hierarchy: Bools,
        buffer: Floats,
        fail_at: Ints,
    ) -> Kernel:
        """From edges (any order) between ``n`` nodes, and per-node ``buffer`` and ``fail_at``."""
        order = np.argsort(source, kind="stable")
        source, target, edge, lead, hierarchy = (
            source[order],
            target[order],
            edge[order],
            lead[order],
            hierarchy[order],
        )
        weight = lead + np.where(hierarchy, 0.0, buffer[target])
        sink = (np.bincount(source, minlength=n) == 0) & (fail_at <= 1)
        sink_node = np.flatnonzero(sink)
        sink_of = np.full(n, -1, dtype=np.int64)
        sink_of[sink_node] = np.arange(len(sink_node))
        into = sink[target]
        rest = ~into
        counts = np.bincount(source[rest], minlength=n)
        sink_counts = np.bincount(source[into], minlength=n)
        need = np.where(fail_at > 1, fail_at, 0)
        sink_target = sink_of[target[into]].astype(np.int32)
        single = hierarchy | (fail_at[target] == 1)
        gated_in = np.bincount(target[~single], minlength=n)
        first = np.zeros(n, dtype=bool)
        once = counts == 1
        first[once] = single[rest][np.cumsum(counts)[once] - 1]
        target = target[rest]
        return cls(
            indptr=np.concatenate(([0], np.cumsum(counts))).astype(np.int64),
            targets=target.astype(np.int32),
            edge=edge[rest].astype(np.int64),
            weight=weight[rest],
            single=single[rest],
            lead=lead[rest].astype(np.float64),
            buffer=buffer.astype(np.float64),
            fail_at=fail_at.astype(np.int64),
            dead=(counts == 0) & (sink_counts == 0),
            slot=(np.cumsum(need) - need).astype(np.int64),
            slots=int(need.sum()),
            sink_indptr=np.concatenate(([0], np.cumsum(sink_counts))).astype(np.int64),
            sink_target=sink_target,
            sink_weight=weight[into],
            sink_edge=edge[into].astype(np.int64),
            sink_node=sink_node,
            sink_of=sink_of,
            chain=once & first & (sink_counts == 0) & (gated_in == 0),
        )

    @property
    def n(self) -> int:
        return len(self.buffer)

    @contextmanager
    def scratch(self) -> Iterator[Scratch]:
        """A clean work space for one thread; kept for the next call (reset entry by entry)."""
        with self._lock:
            s = self._free.pop() if self._free else None
        if s is None:
            s = Scratch.new(self.n, self.slots, len(self.sink_node))
        try:
            yield s
        finally:
            with self._lock:
                self._free.append(s)

    def spread(
        self, s: Scratch, sources: Ints, starts: Floats, horizon: float = np.inf
    ) -> tuple[Ints, Floats, Ints]:
        """Nodes down within ``horizon`` when ``sources`` fail at ``starts``: (nodes, times, causes)."""
        m, ms = _spread(self._args(), s.state(), sources, starts, horizon, True)
        nodes = s.touched[:m].astype(np.int64)
        times, causes = s.best[nodes], s.cause[nodes]
        sinks = s.sink_touched[:ms]
        if ms:
            nodes = np.concatenate((nodes, self.sink_node[sinks]))
            times = np.concatenate((times, s.sink_best[sinks]))
            causes = np.concatenate((causes, s.sink_cause[sinks]))
        _reset(s.state(), m, ms)
        down = (times <= horizon) & (times < np.inf)
        nodes, times, causes = nodes[down], times[down], causes[down]
        if ms and (self.sink_of[sources] >= 0).any():
            # a failed sink reached again: keep its earliest time, the failure itself on a tie
            order = np.lexsort((np.arange(len(nodes)), times, nodes))
            first = np.ones(len(order), dtype=bool)
            first[1:] = nodes[order][1:] != nodes[order][:-1]
            keep = order[first]
            nodes, times, causes = nodes[keep], times[keep], causes[keep]
        return nodes, times, causes

    def rank(
        self,
        sources: Ints,
        owner: Ints,
        lump: Floats,
        rate: Floats,
        horizon: float,
        *,
        shortcut: bool = True,
    ) -> tuple[Floats, Ints, Floats, Ints]:
        """For each source alone: value at risk within ``horizon``, valued nodes stopped, first one down.

        ``owner`` per node: the valued twin it stands for, or -1; ``lump``/``rate`` per twin. Returns per
        source (value summed exactly as ``math.fsum``, stops, time to survive or inf, first twin stopped
        or -1). Runs on every core numba may use. ``shortcut=False``: chains queued as any node (the
        reference; the same results to the bit).
        """
        k = len(sources)
        value, stops = np.zeros(k), np.zeros(k, dtype=np.int64)
        tts, first = np.full(k, np.inf), np.full(k, -1, dtype=np.int64)
        _rank(
            self._args(shortcut),
            self.slots,
            sources,
            owner,
            owner[self.sink_node],
            lump,
            rate,
            horizon,
            -1,
            _chunks(k),
            value,
            stops,
            tts,
            first,
        )
        return value, stops, tts, first

    def reaches(self, sources: Ints, goal: int) -> Bools:
        """For each source alone: whether its failure brings ``goal`` down, whatever the time."""
        k = len(sources)
        hit = np.zeros(k, dtype=np.int64)
        _rank(
            self._args(True),
            self.slots,
            sources,
            np.full(self.n, -1, dtype=np.int64),
            np.full(len(self.sink_node), -1, dtype=np.int64),
            np.zeros(1),
            np.zeros(1),
            np.inf,
            goal,
            _chunks(k),
            np.zeros(k),
            hit,
            np.zeros(k),
            np.zeros(k, dtype=np.int64),
        )
        return hit > 0

    def _args(self, shortcut: bool = False) -> tuple[Any, ...]:
        return (
            self.indptr,
            self.targets,
            self.edge,
            self.weight,
            self.single,
            self.lead,
            self.buffer,
            self.fail_at,
            self.dead,
            self.slot,
            self.sink_indptr,
            self.sink_target,
            self.sink_weight,
            self.sink_edge,
            self.sink_of,
            self.chain if shortcut else np.zeros(0, dtype=bool),
        )


# ---- the compiled functions ----------------------------------------------------------------------------


def _chunks(sources: int) -> int:
    """One share of the sources per thread numba may use."""
    return max(1, min(int(numba.get_num_threads()), sources))


def _new_state(n: int, slots: int, sinks: int) -> tuple[Any, ...]:
    # 32-bit node numbers where they are many: half the memory a cascade walks through
    return (
        np.full(n, np.inf),
        np.full(n, -1, dtype=np.int32),
        np.zeros(n, dtype=np.int32),
        np.full(n, -1, dtype=np.int64),
        np.empty(slots),
        np.empty(slots, dtype=np.int64),
        np.empty(n, dtype=np.int32),
        np.empty(n),
        np.empty(n, dtype=np.int32),
        np.full(sinks, np.inf),
        np.full(sinks, -1, dtype=np.int64),
        np.empty(sinks, dtype=np.int32),
    )


_new_state_jit = _jit(_new_state)

# positions in the tuples of Kernel._args and Scratch.state read one by one (constants to numba)
_BUFFER, _SINK_OF = 6, 14
_BEST, _WHERE, _COUNT, _CAUSE, _TOUCHED, _SINK_BEST, _SINK_CAUSE, _SINK_TOUCHED = 0, 1, 2, 3, 8, 9, 10, 11


@_jit
def _sift_up(queue: Any, queue_t: Any, where: Any, j: int, v: int, t: float) -> None:
    """Put node ``v`` with time ``t`` at ``j`` or above in the queue (a binary heap of times)."""
    while j > 0:
        p = (j - 1) >> 1
        if queue_t[p] <= t:
            break
        u = queue[p]
        queue[j] = u
        queue_t[j] = queue_t[p]
        where[u] = j
        j = p
    queue[j] = v
    queue_t[j] = t
    where[v] = j


@_jit
def _pop(queue: Any, queue_t: Any, where: Any, size: int) -> int:
    """Remove the earliest node of a queue of ``size`` (> 0); return it."""
    top = queue[0]
    size -= 1
    if size > 0:
        v = queue[size]
        t = queue_t[size]
        j = 0
        while True:
            a = 2 * j + 1
            if a >= size:
                break
            if a + 1 < size and queue_t[a + 1] < queue_t[a]:
                a += 1
            if queue_t[a] >= t:
                break
            queue[j] = queue[a]
            queue_t[j] = queue_t[a]
            where[queue[j]] = j
            j = a
        queue[j] = v
        queue_t[j] = t
        where[v] = j
    return top  # type: ignore[no-any-return]


@_jit
def _spread(
    graph: Any,
    state: Any,
    sources: Any,
    starts: Any,
    horizon: float,
    causes: bool,
) -> tuple[int, int]:
    """Spread from ``sources`` failing at ``starts``; return how many nodes and sinks it touched.

    ``graph`` is :meth:`Kernel._args`, ``state`` :meth:`Scratch.state` (tuples: numba takes them whole).
    """
    (
        indptr,
        targets,
        edge,
        weight,
        single,
        lead,
        buffer,
        fail_at,
        dead,
        slot,
        sink_indptr,
        sink_target,
        sink_weight,
        sink_edge,
        _,  # sink_of: sinks are reached by their own edges
        chain,
    ) = graph
    (
        best,
        where,
        count,
        cause,
        slot_time,
        slot_edge,
        queue,
        queue_t,
        touched,
        sink_best,
        sink_cause,
        sink_touched,
    ) = state
    m = 0
    ms = 0
    size = 0
    for i in range(len(sources)):
        v = sources[i]
        if best[v] == np.inf and count[v] == 0:
            touched[m] = v
            m += 1
        if starts[i] < best[v]:
            best[v] = starts[i]
            cause[v] = -1
            if where[v] < 0:
                where[v] = size
                size += 1
            _sift_up(queue, queue_t, where, where[v], v, starts[i])
    while size > 0:
        v = _pop(queue, queue_t, where, size)
        size -= 1
        t = best[v]
        if t > horizon:
            where[v] = -1
            for j in range(size):
                where[queue[j]] = -1
            break
        where[v] = -2
        for e in range(sink_indptr[v], sink_indptr[v + 1]):
            k = sink_target[e]
            arrive = t + sink_weight[e]
            if arrive < sink_best[k]:
                if sink_best[k] == np.inf:
                    sink_touched[ms] = k
                    ms += 1
                sink_best[k] = arrive
                if causes:
                    sink_cause[k] = sink_edge[e]
        for e in range(indptr[v], indptr[v + 1]):
            w = targets[e]
            if single[e]:
                # a done node has a time <= t <= arrive: no need to ask
                arrive = t + weight[e]
                if arrive >= best[w]:
                    continue
                if best[w] == np.inf and count[w] == 0:
                    touched[m] = w
                    m += 1
            else:
                if where[w] == -2:
                    continue
                if best[w] == np.inf and count[w] == 0:
                    touched[m] = w
                    m += 1
                # a gate that needs k failed inputs: keep its k smallest arrivals in a max-heap
                k = fail_at[w]
                base = slot[w]
                arrive = t + lead[e]
                c = count[w]
                count[w] = c + 1
                if c < k:
                    j = c  # sift up
                    while j > 0:
                        p = (j - 1) >> 1
                        if slot_time[base + p] >= arrive:
                            break
                        slot_time[base + j] = slot_time[base + p]
                        slot_edge[base + j] = slot_edge[base + p]
                        j = p
                    slot_time[base + j] = arrive
                    slot_edge[base + j] = edge[e]
                elif arrive < slot_time[base]:
                    j = 0  # replace the largest, sift down
                    while True:
                        a = 2 * j + 1
                        if a >= k:
                            break
                        if a + 1 < k and slot_time[base + a + 1] > slot_time[base + a]:
                            a += 1
                        if slot_time[base + a] <= arrive:
                            break
                        slot_time[base + j] = slot_time[base + a]
                        slot_edge[base + j] = slot_edge[base + a]
                        j = a
                    slot_time[base + j] = arrive
                    slot_edge[base + j] = edge[e]
                else:
                    continue
                if c + 1 < k:
                    continue
                arrive = slot_time[base] + buffer[w]
                if arrive >= best[w]:
                    continue
                best[w] = arrive
                if causes:
                    cause[w] = slot_edge[base]
                if not dead[w]:
                    if where[w] < 0:
                        where[w] = size
                        size += 1
                    _sift_up(queue, queue_t, where, where[w], w, arrive)
                continue
            best[w] = arrive
            if causes:
                cause[w] = edge[e]
            # a chain passes its time on at once (its final time is reached the same way, and a done
            # successor's time is <= t <= what reaches it); ``chain`` is empty when causes are kept
            improved = True
            while len(chain) > 0 and chain[w]:
                f = indptr[w]
                w = targets[f]
                arrive = arrive + weight[f]
                if arrive >= best[w]:
                    improved = False
                    break
                if best[w] == np.inf and count[w] == 0:
                    touched[m] = w
                    m += 1
                best[w] = arrive
            if improved and not dead[w]:
                if where[w] < 0:
                    where[w] = size
                    size += 1
                _sift_up(queue, queue_t, where, where[w], w, arrive)
    return m, ms


@_jit
def _reset(state: Any, m: int, ms: int) -> None:
    best, where, count, cause = state[_BEST], state[_WHERE], state[_COUNT], state[_CAUSE]
    touched, sink_touched = state[_TOUCHED], state[_SINK_TOUCHED]
    sink_best, sink_cause = state[_SINK_BEST], state[_SINK_CAUSE]
    for i in range(m):
        v = touched[i]
        best[v] = np.inf
        where[v] = -1
        count[v] = 0
        cause[v] = -1
    for i in range(ms):
        k = sink_touched[i]
        sink_best[k] = np.inf
        sink_cause[k] = -1


@_jit
def _fsum_add(partials: Any, n: int, x: float) -> int:
    """Add ``x`` to the exact sum held in ``partials[:n]`` (Shewchuk, as ``math.fsum``); return the new n."""
    i = 0
    for j in range(n):
        y = partials[j]
        if abs(x) < abs(y):
            x, y = y, x
        hi = x + y
        lo = y - (hi - x)
        if lo != 0.0:
            partials[i] = lo
            i += 1
        x = hi
    partials[i] = x
    return i + 1


@_jit
def _fsum_value(partials: Any, n: int) -> float:
    """The exact sum rounded once, as ``math.fsum`` rounds it (half-even across the partials)."""
    hi = 0.0
    if n > 0:
        n -= 1
        hi = partials[n]
        lo = 0.0
        while n > 0:
            x = hi
            n -= 1
            y = partials[n]
            hi = x + y
            yr = hi - x
            lo = y - yr
            if lo != 0.0:
                break
        if n > 0 and ((lo < 0.0 and partials[n - 1] < 0.0) or (lo > 0.0 and partials[n - 1] > 0.0)):
            y = lo * 2.0
            x = hi + y
            yr = x - hi
            if y == yr:
                hi = x
    return hi


@_jit_parallel
def _rank(
    graph: Any,
    slots: int,
    sources: Any,
    owner: Any,
    sink_owner: Any,
    lump: Any,
    rate: Any,
    horizon: float,
    goal: int,
    chunks: int,
    value: Any,
    stops: Any,
    tts: Any,
    first: Any,
) -> None:
    """Per source alone: value at risk (exact sum), valued nodes stopped, the first one; or if ``goal`` >= 0,
    only whether the goal goes down (``stops`` 0 or 1). Sources are shared out between threads."""
    n = len(graph[_BUFFER])
    sink_of = graph[_SINK_OF]
    sinks = len(sink_owner)
    for c in numba.prange(chunks):
        state = _new_state_jit(n, slots, sinks)
        best, touched = state[_BEST], state[_TOUCHED]
        sink_best, sink_touched = state[_SINK_BEST], state[_SINK_TOUCHED]
        one = np.zeros(1, dtype=np.int64)
        zero = np.zeros(1)
        partials = np.empty(64)
        for i in range(c, len(sources), chunks):
            one[0] = sources[i]
            m, ms = _spread(graph, state, one, zero, np.inf, False)
            if goal >= 0:
                hit = best[goal] < np.inf or (sink_of[goal] >= 0 and sink_best[sink_of[goal]] < np.inf)
                stops[i] = 1 if hit else 0
            else:
                own = sink_of[sources[i]]  # a failed sink is counted once, with its time 0
                h = 0
                np_ = 0
                special = 0.0
                finite = True
                t_first = np.inf
                x_first = -1
                for j in range(m + ms):
                    if j < m:
                        v = touched[j]
                        x = owner[v]
                        t = best[v]
                    else:
                        k = sink_touched[j - m]
                        if k == own:
                            continue
                        x = sink_owner[k]
                        t = sink_best[k]
                    if x < 0 or t == np.inf:
                        continue
                    h += 1
                    if t < t_first or (t == t_first and x < x_first):
                        t_first = t
                        x_first = x
                    if t <= horizon:
                        term = lump[x] + rate[x] * (horizon - t)
                        if np.isfinite(term):
                            np_ = _fsum_add(partials, np_, term)
                        else:
                            finite = False
                            special += term
                value[i] = _fsum_value(partials, np_) if finite else special
                stops[i] = h
                tts[i] = t_first
                first[i] = x_first
            _reset(state, m, ms)
