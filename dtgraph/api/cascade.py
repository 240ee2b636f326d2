"""The GraphQL queries of cascade-failure analysis: ``cascade`` and ``criticality`` (role ``reader``).

Both run the engine of :mod:`dtgraph.cascade` on a dependency snapshot of the store (``snapshot``: one
streaming read of every twin and relationship into arrays, with the failure semantics of the request's
models). The snapshot is built once per request, on first use, and shared by every cascade and criticality
field of that request (aliases included). The server's cascade configuration (setting ``cascade_config``,
:func:`use_cascade_config`) gives the semantics of models of the user's own; it is checked against the
models whenever they have changed, and a misfit is an ``INVALID_CASCADE_CONFIG`` error listing each
problem; the stores keep no change counter, so nothing is cached across
requests. Engine calls run in a worker thread, one at a time per snapshot (the engine keeps derived arrays
on the snapshot and reuses them).

``cascade(failed, horizonHours, samples, seed, recovery)``
    Fail the twins ``failed`` at hour 0: every twin down (or degraded) within the horizon with its time to
    impact and the chain of twins that explains it, the roll-ups (enterprise, sites, plants, lines,
    products, customer orders), the value at risk. With ``samples`` > 0, also a seeded Monte Carlo run
    (random recovery times and link disruptions, :func:`dtgraph.cascade.monte_carlo`): each impacted
    twin's hit probability and the 95th percentile of the value at risk; the same seed gives the same
    answer. ``recovery`` applies to the deterministic run (the Monte Carlo run always draws recovery
    times). Unknown twins are NOT_FOUND; bad arguments and engine refusals BAD_USER_INPUT.

``criticality(top, scope, horizonHours)``
    Twins ranked by the value their failure alone puts at risk, with the valued twins each stops on its
    own, time to survive and time to recover. Cost: one cascade per candidate twin (every twin upstream of
    a product or order, or those below ``scope`` in the containment hierarchy), so it grows with candidates
    times the part of the graph each reaches: about 0.15 s for the 2,000-twin demo, minutes for hundreds
    of thousands of twins; ``scope`` narrows it. ``top`` is at most :data:`MAX_TOP`.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, cast

import strawberry

from dtgraph.api.context import ApiContext, require
from dtgraph.api.errors import BAD_USER_INPUT, NOT_FOUND, ApiError
from dtgraph.api.generic import Ctx, TwinInterface, context, wrap
from dtgraph.api.loaders import Loaders, blocking
from dtgraph.cascade import (
    DEFAULT_HORIZON,
    MAX_SAMPLES,
    CascadeConfig,
    CascadeConfigError,
    CriticalityResult,
    DependencyGraph,
    Impact,
    Semantics,
    cascade,
    criticality,
    monte_carlo,
    read_config,
    snapshot,
)
from dtgraph.cascade import CascadeResult as EngineResult
from dtgraph.cascade import MonteCarloResult as EngineSamples
from dtgraph.cascade.snapshot import HIERARCHY
from dtgraph.dtdl import ModelSet
from dtgraph.graph.service import TwinGraph

__all__ = [
    "INVALID_CASCADE_CONFIG",
    "MAX_TOP",
    "ROLLUP_KINDS",
    "CascadeQuery",
    "CascadeResult",
    "CascadeStep",
    "CriticalTwin",
    "CustomerAtRisk",
    "ImpactedTwin",
    "Rollup",
    "dependency_graph",
    "served_semantics",
    "use_cascade_config",
]

MAX_TOP = 100
"""The most twins one ``criticality`` query ranks."""

ROLLUP_KINDS = ("Enterprise", "Site", "Plant", "Line", "Product", "CustomerOrder")
"""The categories of impacted twins that ``rollups`` lists, in this order."""

INVALID_CASCADE_CONFIG = "INVALID_CASCADE_CONFIG"
"""The error code of a query the server's cascade configuration no longer fits the models for."""

_MAX_NAMED = 10  # unknown twins named in one NOT_FOUND message

R = TypeVar("R")


# --- the snapshot of one request -------------------------------------------------------------------------


@dataclass(eq=False)
class _Snapshot:
    lock: threading.Lock = field(default_factory=threading.Lock)
    graph: DependencyGraph | None = None


_SNAPSHOTS: weakref.WeakKeyDictionary[Loaders, _Snapshot] = weakref.WeakKeyDictionary()


_CONFIGS: weakref.WeakKeyDictionary[TwinGraph, CascadeConfig] = weakref.WeakKeyDictionary()


def use_cascade_config(graph: TwinGraph, path: Path | str | None) -> None:
    """Answer the cascade queries over ``graph`` with the cascade configuration at ``path`` (None: none).

    Reads the file now and, when the graph has models, checks it against them (raises CascadeConfigError
    listing every problem); requests check it again whenever the models have changed.
    """
    if path is None:
        _CONFIGS.pop(graph, None)
        return
    config = read_config(path)
    models = graph.models
    if models.interfaces:
        config.semantics(models)
    _CONFIGS[graph] = config


def served_semantics(graph: TwinGraph, models: ModelSet) -> Semantics | None:
    """The failure semantics the server's cascade configuration gives ``models`` (None: the library's alone).

    A configuration that does not fit the models counts as none here; the cascade queries report it.
    """
    try:
        return _semantics(_CONFIGS.get(graph), models)
    except ApiError:
        return None


def _semantics(config: CascadeConfig | None, models: ModelSet) -> Semantics | None:
    """What ``config`` gives ``models`` (raises ApiError INVALID_CASCADE_CONFIG when it does not fit)."""
    if config is None:
        return None
    try:
        return config.semantics(models)
    except CascadeConfigError as exc:
        raise ApiError(
            INVALID_CASCADE_CONFIG,
            f"the server's cascade configuration does not fit the models ({len(exc.issues)} problems)",
            {"issues": [{"code": i.code, "line": i.line, "message": i.message} for i in exc.issues]},
        ) from exc


async def dependency_graph(ctx: ApiContext, work: Callable[[DependencyGraph], R]) -> R:
    """Run ``work`` in a worker thread on the request's dependency snapshot (built on first use)."""
    entry = _SNAPSHOTS.get(ctx.loaders)  # the loaders live as long as the request
    if entry is None:
        entry = _SNAPSHOTS[ctx.loaders] = _Snapshot()
    store, models, config = ctx.store, ctx.graph.models, _CONFIGS.get(ctx.graph)

    def run() -> R:
        with entry.lock:
            if entry.graph is None:
                entry.graph = snapshot(store, models, _semantics(config, models))
            return work(entry.graph)

    return await blocking(run)


def _known(graph: DependencyGraph, ids: list[str], argument: str) -> None:
    missing = []
    for twin_id in ids:
        try:
            graph.index(twin_id)
        except KeyError:
            missing.append(twin_id)
    if missing:
        named = ", ".join(repr(m[:200]) for m in missing[:_MAX_NAMED])
        more = f" and {len(missing) - _MAX_NAMED} more" if len(missing) > _MAX_NAMED else ""
        raise ApiError(
            NOT_FOUND,
            f"no twin {named}{more} in the graph",
            {"argument": argument, "ids": missing[:_MAX_NAMED]},
        )


def _horizon(hours: float) -> float:
    if not (hours > 0 and math.isfinite(hours)):
        raise ApiError(
            BAD_USER_INPUT,
            f"horizonHours must be a positive number of hours, not {hours}",
            {"argument": "horizonHours"},
        )
    return hours


def _hours(value: float) -> float | None:
    return None if math.isinf(value) or math.isnan(value) else value


async def _load_twin(info: Ctx, twin_id: str) -> TwinInterface | None:
    ctx = context(info)
    twin = await ctx.loaders.twins.load(twin_id)
    return None if twin is None else cast(TwinInterface, wrap(info, twin, ctx.loaders))


# --- cascade ---------------------------------------------------------------------------------------------


_TWIN = "The twin (null if it was deleted since the analysis read the store)."


async def _twin(root: Any, info: Ctx) -> TwinInterface | None:
    return await _load_twin(info, str(root.twin_id))


def _explanation(root: ImpactedTwin) -> list[strawberry.ID]:
    return [strawberry.ID(s.twin) for s in root.impact.chain]


def _steps(root: ImpactedTwin) -> list[CascadeStep]:
    return [
        CascadeStep(twin_id=strawberry.ID(s.twin), hours_to_impact=_hours(s.time), via=s.via)
        for s in root.impact.chain
    ]


def _impacted(
    root: CascadeResult, category: str | None = None, first: int | None = None
) -> list[ImpactedTwin]:
    if first is not None and first < 0:
        raise ApiError(BAD_USER_INPUT, f"first must not be negative, not {first}", {"argument": "first"})
    rows = root.all_impacted
    if category is not None:
        rows = [i for i in rows if i.category == category]
    return rows if first is None else rows[:first]


@strawberry.type(description="One link of an explanation: a twin, when it went down and over what.")
class CascadeStep:
    twin_id: strawberry.ID
    hours_to_impact: float | None = strawberry.field(
        description="Hours after the failure when this twin went down (null: degraded, never down)."
    )
    via: str = strawberry.field(
        description="The relationship the failure came over (`supplies`, `feeds`, `partOf`, …), `roll-up` "
        "(every last stage below the twin stopped), or empty for a failed twin."
    )


@strawberry.type(description="A twin the failure reaches within the horizon.")
class ImpactedTwin:
    twin_id: strawberry.ID
    category: str = strawberry.field(description="What the twin is (`Machine`, `Line`, `CustomerOrder`, …).")
    state: str = strawberry.field(
        description="`down` (stopped, or one of the failed twins) or `degraded` (part of it is down)."
    )
    failed: bool = strawberry.field(description="Whether it is one of the twins failed at hour 0.")
    hours_to_impact: float | None = strawberry.field(
        description="Hours until it is down (0 for a failed twin; null for a degraded one)."
    )
    hours_to_recover: float | None = strawberry.field(
        description="Hours until it is back, when that happens within the horizon (with recovery)."
    )
    probability: float | None = strawberry.field(
        description="1.0 without samples; with samples, the share of Monte Carlo samples in which it goes "
        "down (null for a degraded twin)."
    )
    value_at_risk: float = strawberry.field(description="Value at risk on this twin within the horizon.")
    impact: strawberry.Private[Impact]

    twin: TwinInterface | None = strawberry.field(resolver=_twin, description=_TWIN)
    explanation: list[strawberry.ID] = strawberry.field(
        resolver=_explanation,
        description="The twins from a failed twin to this one, each down because of the one before.",
    )
    steps: list[CascadeStep] = strawberry.field(
        resolver=_steps, description="The explanation with times and the relationship of each link."
    )


@strawberry.type(description="An enterprise, site, plant, line, product or customer order the failure hits.")
class Rollup:
    twin_id: strawberry.ID
    kind: str = strawberry.field(
        description="`Enterprise`, `Site`, `Plant`, `Line`, `Product` or `CustomerOrder`."
    )
    state: str = strawberry.field(description="`down` or `degraded`.")
    hours_to_impact: float | None
    value_at_risk: float

    twin: TwinInterface | None = strawberry.field(resolver=_twin, description=_TWIN)


@strawberry.type(description="A customer (the `customer` of its orders) and the order value at risk.")
class CustomerAtRisk:
    customer: str
    value_at_risk: float


@strawberry.type(description="What a failure reaches within the horizon, when, why, and the value at risk.")
class CascadeResult:
    failed: list[strawberry.ID]
    horizon_hours: float
    all_impacted: strawberry.Private[list[ImpactedTwin]]
    rollups: list[Rollup] = strawberry.field(
        description="Enterprise, sites, plants, lines, products and orders hit, by kind, soonest first."
    )
    customers: list[CustomerAtRisk] = strawberry.field(
        description="Order value at risk per customer, highest first."
    )
    value_at_risk: float = strawberry.field(
        description="Orders down by the horizon plus product revenue lost within it (deterministic run)."
    )
    order_value_at_risk: float
    revenue_at_risk: float
    expected_value_at_risk: float | None = strawberry.field(
        description="Mean value at risk over the Monte Carlo samples (null without samples)."
    )
    value_at_risk_p95: float | None = strawberry.field(
        description="95th percentile of the value at risk over the Monte Carlo samples (null without "
        "samples)."
    )
    samples: int = strawberry.field(description="Monte Carlo samples run (0: deterministic only).")
    seed: int

    impacted: list[ImpactedTwin] = strawberry.field(
        resolver=_impacted,
        description="Impacted twins, soonest first (degraded ones last); optionally of one `category` "
        "(`Machine`, `Line`, …) and only the `first` ones.",
    )


def _state(impact: Impact) -> str:
    return "degraded" if impact.state == "degraded" else "down"


def _result(result: EngineResult, sampled: EngineSamples | None, seed: int) -> CascadeResult:
    probability = {h.twin: h.probability for h in sampled.hits} if sampled is not None else None
    impacted = [
        ImpactedTwin(
            twin_id=strawberry.ID(i.twin),
            category=i.category,
            state=_state(i),
            failed=i.state == "failed",
            hours_to_impact=_hours(i.time),
            hours_to_recover=i.recovered,
            probability=1.0
            if probability is None
            else (None if i.state == "degraded" else probability.get(i.twin, 0.0)),
            value_at_risk=i.value,
            impact=i,
        )
        for i in result.impacts
    ]
    rollups = [
        Rollup(
            twin_id=strawberry.ID(i.twin),
            kind=kind,
            state=_state(i),
            hours_to_impact=_hours(i.time),
            value_at_risk=i.value,
        )
        for kind in ROLLUP_KINDS
        for i in result.by_category(kind)
    ]
    return CascadeResult(
        failed=[strawberry.ID(f) for f in result.failed],
        horizon_hours=result.horizon,
        all_impacted=impacted,
        rollups=rollups,
        customers=[CustomerAtRisk(customer=c, value_at_risk=v) for c, v in result.customers.items()],
        value_at_risk=result.value_at_risk,
        order_value_at_risk=result.order_value,
        revenue_at_risk=result.revenue,
        expected_value_at_risk=sampled.expected_value if sampled is not None else None,
        value_at_risk_p95=sampled.p95_value if sampled is not None else None,
        samples=sampled.samples if sampled is not None else 0,
        seed=seed,
    )


async def _q_cascade(
    info: Ctx,
    failed: list[strawberry.ID],
    horizon_hours: float = DEFAULT_HORIZON,
    samples: int = 0,
    seed: int = 0,
    recovery: bool = False,
) -> CascadeResult:
    ctx = context(info)
    require(ctx, "reader")
    names = list(dict.fromkeys(str(f) for f in failed))
    if not names:
        raise ApiError(BAD_USER_INPUT, "name at least one failed twin", {"argument": "failed"})
    horizon = _horizon(horizon_hours)
    if not 0 <= samples <= MAX_SAMPLES:
        raise ApiError(
            BAD_USER_INPUT,
            f"samples must be between 0 and {MAX_SAMPLES}, not {samples}",
            {"argument": "samples"},
        )
    if seed < 0:
        raise ApiError(BAD_USER_INPUT, f"seed must not be negative, not {seed}", {"argument": "seed"})

    def work(graph: DependencyGraph) -> CascadeResult:
        _known(graph, names, "failed")
        try:
            result = cascade(graph, names, horizon=horizon, recovery=recovery)
            sampled = (
                monte_carlo(graph, names, horizon=horizon, samples=samples, seed=seed) if samples else None
            )
        except ValueError as exc:
            raise ApiError(BAD_USER_INPUT, str(exc)) from exc
        return _result(result, sampled, seed)

    return await dependency_graph(ctx, work)


# --- criticality -----------------------------------------------------------------------------------------


@strawberry.type(description="What the failure of one twin alone costs.")
class CriticalTwin:
    twin_id: strawberry.ID
    category: str
    value_at_risk: float = strawberry.field(
        description="Value its failure alone puts at risk in the horizon."
    )
    annual_loss: float = strawberry.field(
        description="The value at risk times its failureProbability a year."
    )
    single_point_of_failure_for: list[strawberry.ID] = strawberry.field(
        description="The products and orders its failure alone stops, whatever the time, soonest first."
    )
    time_to_survive_hours: float | None = strawberry.field(
        description="Hours until the first product or order goes down after it fails (null: none does)."
    )
    time_to_recover_hours: float | None = strawberry.field(description="Its recoveryHours (null if unset).")
    exposed: bool = strawberry.field(
        description="Whether its time to recover exceeds its time to survive (the failure reaches customers "
        "before it is repaired)."
    )

    twin: TwinInterface | None = strawberry.field(resolver=_twin, description=_TWIN)


def _below(graph: DependencyGraph, scope: str) -> list[str]:
    """The twins below ``scope`` in the containment hierarchy (not itself), breadth first."""
    n_twins = graph.n_twins
    indptr, targets = graph.indptr.tolist(), graph.targets.tolist()
    hierarchy = (graph.edge_kind == HIERARCHY).tolist()
    start = graph.index(scope)
    seen, frontier = {start}, [start]
    while frontier:
        following = []
        for v in frontier:
            for e in range(indptr[v], indptr[v + 1]):
                w = targets[e]
                if hierarchy[e] and w < n_twins and w not in seen:
                    seen.add(w)
                    following.append(w)
        frontier = following
    seen.discard(start)
    return [graph.ids[i] for i in sorted(seen)]


def _critical(graph: DependencyGraph, result: CriticalityResult, top: int) -> list[CriticalTwin]:
    rows = []
    for c in result.ranking[:top]:
        ttr = float(graph.recovery[graph.index(c.twin)])
        recover = None if math.isnan(ttr) else ttr
        rows.append(
            CriticalTwin(
                twin_id=strawberry.ID(c.twin),
                category=c.category,
                value_at_risk=c.value_at_risk,
                annual_loss=c.annual_loss,
                single_point_of_failure_for=[strawberry.ID(t) for t in result.single_points.get(c.twin, [])],
                time_to_survive_hours=_hours(c.time_to_survive),
                time_to_recover_hours=recover,
                exposed=recover is not None and recover > c.time_to_survive,
            )
        )
    return rows


async def _q_criticality(
    info: Ctx, top: int = 10, scope: strawberry.ID | None = None, horizon_hours: float = DEFAULT_HORIZON
) -> list[CriticalTwin]:
    ctx = context(info)
    require(ctx, "reader")
    if not 1 <= top <= MAX_TOP:
        raise ApiError(BAD_USER_INPUT, f"top must be between 1 and {MAX_TOP}, not {top}", {"argument": "top"})
    horizon = _horizon(horizon_hours)

    def work(graph: DependencyGraph) -> list[CriticalTwin]:
        twins = None
        if scope is not None:
            _known(graph, [str(scope)], "scope")
            twins = _below(graph, str(scope))
        try:
            result = criticality(graph, horizon=horizon, twins=twins)
        except ValueError as exc:
            raise ApiError(BAD_USER_INPUT, str(exc)) from exc
        return _critical(graph, result, top)

    return await dependency_graph(ctx, work)


# --- the query fields ------------------------------------------------------------------------------------


@strawberry.type
class CascadeQuery:
    cascade: CascadeResult = strawberry.field(
        resolver=_q_cascade,
        description="Fail twins at hour 0 and see what follows within the horizon: impacted twins with "
        "times and explanations, roll-ups, value at risk; with `samples`, a seeded Monte Carlo estimate "
        f"(at most {MAX_SAMPLES:,} samples). Reads the whole graph once per request.",
    )
    criticality: list[CriticalTwin] = strawberry.field(
        resolver=_q_criticality,
        description="The `top` twins (at most 100) by the value their failure alone puts at risk, optionally "
        "among those below `scope` in the hierarchy. Costly: one cascade per candidate twin.",
    )
