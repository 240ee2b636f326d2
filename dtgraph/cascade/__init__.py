"""Cascade-failure analysis: what a failure reaches, when, how likely, and which twins matter most.

A :func:`snapshot` of a store compiles the dependency graph into arrays (``numpy``, ``scipy.sparse``);
the models say which relationships carry failure (``dtdl/cascade.toml``). On it:

- layer 1, :func:`cascade`: every impacted twin with its time to impact and the chain that explains it,
  roll-ups, value at risk within a horizon, with permanent failures or recovery times;
- layer 2, :func:`monte_carlo`: random recovery times and link disruptions, hit probabilities, expected
  and 95th percentile value at risk, reproducible from a seed;
- layer 3, :func:`criticality`: twins ranked by value at risk, single points of failure, suppliers' time
  to survive against time to recover.

:mod:`dtgraph.cascade.reference` is the plain networkx implementation the engine is tested against.

**Your own models.** Failure semantics come from the model library's ``cascade.toml`` (see
``dtdl/README.md``): a declaration on a library interface holds for every interface that extends it. So a
model of yours that extends a library interface carries failure the library's way — ``extends
dtmi:dtgraph:Machine;1`` gives its twins ``feeds``, ``dependsOn``, ``consumes`` and ``partOf`` with their
directions and kinds, and the node properties ``bufferHours``, ``recoveryHours`` … of
``dtmi:dtgraph:Entity;1``. Models that do not extend the library declare their own in a **cascade
configuration** (:mod:`dtgraph.cascade.semantics`, :func:`load_config`): which of their relationships
carry failure, which way and of what kind, which of their properties hold buffer, recovery, probability,
gate, lead time and value, and what an interface counts as (``Product``, ``CustomerOrder``,
``Supplier`` …). Pass the :class:`Semantics` it gives to :func:`snapshot`. A relationship no declaration
covers carries no failure.
"""

from __future__ import annotations

from dtgraph.cascade.criticality import (
    Criticality,
    CriticalityResult,
    SupplierExposure,
    criticality,
    single_points_of_failure,
)
from dtgraph.cascade.deterministic import DEFAULT_HORIZON, CascadeResult, Impact, Step, cascade
from dtgraph.cascade.montecarlo import MAX_SAMPLES, Hit, MonteCarloResult, monte_carlo
from dtgraph.cascade.semantics import CascadeConfig, CascadeConfigError, Semantics, load_config, read_config
from dtgraph.cascade.snapshot import DependencyGraph, from_networkx, from_records, snapshot

__all__ = [
    "DEFAULT_HORIZON",
    "MAX_SAMPLES",
    "CascadeConfig",
    "CascadeConfigError",
    "CascadeResult",
    "Criticality",
    "CriticalityResult",
    "DependencyGraph",
    "Hit",
    "Impact",
    "MonteCarloResult",
    "Semantics",
    "Step",
    "SupplierExposure",
    "cascade",
    "criticality",
    "from_networkx",
    "from_records",
    "load_config",
    "monte_carlo",
    "read_config",
    "single_points_of_failure",
    "snapshot",
]
