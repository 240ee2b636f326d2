"""Cascade analysis on real power-grid topologies (PGLib-OPF), beside the networkx reference.

Input: every MATPOWER case file (``*.m``) in ``../shared/corpora/supply/pglib-opf`` (see SOURCES.md
there; IEEE 118 and 300, PEGASE 1354 and 2869, GOC 10000). The ``mpc.bus``, ``mpc.gen`` and
``mpc.branch`` matrices are read by the small regex reader below into numpy arrays: there is no
maintained MATPOWER reader on PyPI worth a dependency for three numeric matrices (pandapower reads them,
but brings a whole power-flow stack). Out-of-service generators and branches (status 0) are left out,
and so are generators with no real power capacity (Pmax <= 0: synchronous condensers; ``--condensers``
keeps them).

The dependency graph (``dtgraph.cascade.from_networkx``): one twin per generator (category Utility, gate
all, no inputs) with a utility edge to its bus; one twin per bus (category Product with ``rate`` = its
load Pd in MW, so value at risk is MWh lost, if Pd > 0; else Other), gate any: a bus stays up while any
one of its feeders does. Branches are undirected; each is oriented the way power reaches it from
generation: by multi-source BFS distance from the generator buses, edge u -> v (material, "branch") when
dist[v] = dist[u] + 1. A branch between buses at equal distance carries nothing in this model and is left
out (so is the second direction of every branch): this is a topological reach model, not a power flow.
Buses no generator reaches are counted and left out.

Figures per case: the graph's size; the deterministic cascade (``cascade``, permanent failure, no lead
times or buffers) of the largest generator (by Pmax) failing — nodes hit, load lost in MW, time —
beside ``reference.earliest_failures`` on the same graph (times to impact checked to agree first, ratio
networkx / arrays); ``criticality`` of every twin within the horizon (default 24 h): time, the single
points of failure (twins whose loss alone stops some load bus other than themselves) and the top 5 by
value at risk; the single points checked against dominators: the whole dominator tree
(``networkx.immediate_dominators`` from a virtual source feeding every generator, the networkx baseline)
and ``reference.single_points_of_failure`` for a few load buses against
``dtgraph.cascade.single_points_of_failure``; a Monte Carlo run (default 1,000 samples) of the largest
generator failing with each branch down with probability 0.01 within the horizon. Exit 1 if a case file
is missing or an answer differs.

    python bench/cascade_grid.py [--only 118] [--horizon 24] [--samples 1000] [--condensers] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import numpy.typing as npt
from cascade import timed  # bench/cascade.py, beside this script

from dtgraph.cascade import (
    DependencyGraph,
    cascade,
    criticality,
    from_networkx,
    monte_carlo,
    reference,
    single_points_of_failure,
)
from dtgraph.cascade.deterministic import failure_times

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpora" / "supply" / "pglib-opf"
_MATRIX = re.compile(r"^\s*mpc\.(\w+)\s*=\s*\[(.*?)\];", re.MULTILINE | re.DOTALL)
Floats = npt.NDArray[np.float64]


@dataclass(slots=True)
class Case:
    name: str
    bus: Floats  # bus_i, type, Pd, Qd, ...
    gen: Floats  # bus, Pg, Qg, Qmax, Qmin, Vg, mBase, status, Pmax, Pmin, ...
    branch: Floats  # fbus, tbus, r, x, b, rateA, rateB, rateC, ratio, angle, status, ...


def read_case(path: Path) -> Case:
    """The bus, gen and branch matrices of a MATPOWER (version 2) case file."""
    matrices: dict[str, Floats] = {}
    for name, body in _MATRIX.findall(path.read_text()):
        if name not in ("bus", "gen", "branch"):
            continue
        rows = [line.split("%", 1)[0].replace(";", " ").split() for line in body.splitlines()]
        matrices[name] = np.array([[float(x) for x in row] for row in rows if row], dtype=np.float64)
    return Case(path.stem.removeprefix("pglib_opf_"), matrices["bus"], matrices["gen"], matrices["branch"])


@dataclass(slots=True)
class Grid:
    graph: nx.DiGraph[str]
    gens: int
    condensers: int  # in-service generators with Pmax <= 0, left out unless asked for
    buses: int
    branches: int  # in service
    oriented: int  # of them, branches that carry failure (between consecutive BFS distances)
    equal: int  # of them, branches between buses at equal distance: they carry nothing here
    unreachable: int  # buses no generator reaches, left out
    largest: str  # the generator with the largest Pmax
    load_mw: float  # total Pd of the buses kept


def build(case: Case, condensers: bool) -> Grid:
    """The dependency graph of a case (see the module docstring)."""
    bus_ids = case.bus[:, 0].astype(np.int64).tolist()
    pd = dict(zip(bus_ids, case.bus[:, 2].tolist(), strict=True))
    gen = case.gen[case.gen[:, 7] > 0]
    producing = gen[:, 8] > 0
    n_condensers = int((~producing).sum())
    if not condensers:
        gen = gen[producing]
    branch = case.branch[case.branch[:, 10] > 0]
    ends = branch[:, :2].astype(np.int64)
    neighbours: dict[int, list[int]] = {b: [] for b in bus_ids}
    for f, t in ends.tolist():
        neighbours[f].append(t)
        neighbours[t].append(f)
    # multi-source BFS from the generator buses: how far power has to travel to each bus
    dist: dict[int, int] = {}
    queue: deque[int] = deque()
    for b in gen[:, 0].astype(np.int64).tolist():
        if b not in dist:
            dist[b] = 0
            queue.append(b)
    while queue:
        u = queue.popleft()
        for v in neighbours[u]:
            if v not in dist:
                dist[v] = dist[u] + 1
                queue.append(v)

    g: nx.DiGraph[str] = nx.DiGraph()
    for b in bus_ids:
        if b in dist:
            load = pd[b]
            if load > 0:
                g.add_node(f"bus-{b}", category="Product", rate=load, gate="any")
            else:
                g.add_node(f"bus-{b}", category="Other", gate="any")
    oriented = equal = 0
    for f, t in ends.tolist():
        if f not in dist or t not in dist:
            continue
        if dist[t] == dist[f] + 1:
            u, v = f, t
        elif dist[f] == dist[t] + 1:
            u, v = t, f
        else:
            equal += 1
            continue  # equal distances: no power reaches either end through it
        if not g.has_edge(f"bus-{u}", f"bus-{v}"):  # parallel lines: one dependency
            oriented += 1
            g.add_edge(f"bus-{u}", f"bus-{v}", kind="material", name="branch")
    pmax = gen[:, 8]
    for k, (b, p) in enumerate(zip(gen[:, 0].astype(np.int64).tolist(), pmax.tolist(), strict=True), 1):
        g.add_node(f"gen-{k}", category="Utility", gate="all", pmax=p)
        g.add_edge(f"gen-{k}", f"bus-{b}", kind="utility", name="utility")
    largest = f"gen-{int(np.argmax(pmax)) + 1}"
    return Grid(
        graph=g,
        gens=len(gen),
        condensers=n_condensers,
        buses=len(dist),
        branches=len(branch),
        oriented=oriented,
        equal=equal,
        unreachable=len(bus_ids) - len(dist),
        largest=largest,
        load_mw=sum(pd[b] for b in dist if pd[b] > 0),
    )


def dominated(g: nx.DiGraph[str], loads: list[str]) -> tuple[set[str], dict[str, int]]:
    """Twins that strictly dominate some load bus (its single points of failure but itself), networkx;
    and per load bus, how many strict dominators it has."""
    source = "virtual-source"
    d: nx.DiGraph[str] = nx.DiGraph(g.edges())
    d.add_nodes_from(g.nodes)
    d.add_edges_from((source, r) for r in g.nodes if g.in_degree(r) == 0)
    idom = nx.immediate_dominators(d, source)
    out: set[str] = set()
    chain: dict[str, int] = {}
    for target in loads:
        v, k = idom[target], 0
        while v != source:
            out.add(v)
            v, k = idom[v], k + 1
        chain[target] = k
    return out, chain


def _warm() -> None:
    """Run the compiled kernels once on a tiny graph, so that no case pays for compiling them."""
    g: nx.DiGraph[str] = nx.DiGraph()
    g.add_edge("a", "b", kind="material")
    g.add_node("b", rate=1.0, category="Product")
    tiny = from_networkx(g)
    failure_times(tiny, [tiny.index("a")])
    criticality(tiny)
    monte_carlo(tiny, ["a"], samples=1)


def compare_cascade(
    graph: DependencyGraph,
    h: nx.DiGraph[Any],
    g: nx.DiGraph[str],
    gen: str,
    why: str,
    horizon: float,
    say: Any,
) -> dict[str, Any] | None:
    """One generator failing for good, by the arrays and by networkx; None if they disagree."""
    node = graph.index(gen)
    cascade(graph, [gen], horizon=horizon)  # warm: compiled arrays are cached on the graph
    best = min(timed(failure_times, graph, [node], horizon)[0] for _ in range(3))
    full_s, result = timed(cascade, graph, [gen], horizon=horizon)
    ref_s, done = timed(reference.earliest_failures, h, {gen: 0.0}, horizon)
    fast = failure_times(graph, [node], horizon).time
    expected = np.full(graph.n, np.inf)
    for key, t in done.items():
        expected[graph.index(key)] = t
    if not np.allclose(fast, expected, rtol=1e-9, atol=1e-9):
        print(f"wrong answer: the arrays and networkx disagree on the cascade of {gen}", file=sys.stderr)
        return None
    hit = np.flatnonzero(np.isfinite(fast))
    lost_mw = float(graph.rate[hit].sum())
    ref_mw = sum(g.nodes[v].get("rate", 0.0) for v in done)
    if not math.isclose(lost_mw, ref_mw, rel_tol=1e-9, abs_tol=1e-9):
        print(f"wrong answer: load lost {lost_mw} MW against {ref_mw} MW by networkx", file=sys.stderr)
        return None
    pmax = g.nodes[gen]["pmax"]
    say(
        f"cascade {gen} ({why}, Pmax {pmax:,.0f} MW, at {next(iter(g.successors(gen)))}): "
        f"{len(hit):,} nodes hit, load lost {lost_mw:,.1f} MW ({result.value_at_risk:,.0f} MWh within "
        f"{horizon:g} h); propagation {best * 1000:.3f} ms (best of 3), with explanations "
        f"{full_s * 1000:.2f} ms; networkx {ref_s * 1000:.2f} ms, same nodes and times: "
        f"ratio {ref_s / best:.1f}x"
    )
    return {
        "failed": gen,
        "pmax_mw": pmax,
        "hit": len(hit),
        "load_lost_mw": lost_mw,
        "value_at_risk_mwh": result.value_at_risk,
        "propagate_s": best,
        "with_report_s": full_s,
        "networkx_s": ref_s,
        "ratio": ref_s / best,
    }


def run_case(path: Path, args: argparse.Namespace, say: Any) -> dict[str, Any] | None:
    """Figures of one case, or None if an answer differs."""
    read_s, case = timed(read_case, path)
    build_s, grid = timed(build, case, args.condensers)
    g = grid.graph
    graph = from_networkx(g)
    h = reference.expand(g)
    loads = [v for v, d in g.nodes(data=True) if d["category"] == "Product"]
    fig: dict[str, Any] = {
        "buses": grid.buses,
        "gens": grid.gens,
        "branches": grid.branches,
        "dependencies": graph.n_edges,
        "unreachable": grid.unreachable,
        "equal_distance_branches": grid.equal,
        "load_mw": grid.load_mw,
    }
    say(
        f"== {case.name} ({path.name}, read in {read_s * 1000:.0f} ms, "
        f"graph built in {build_s * 1000:.0f} ms)"
    )
    say(
        f"graph: {grid.buses:,} buses ({len(loads):,} with load, {grid.load_mw:,.0f} MW), {grid.gens:,} "
        f"generators ({grid.condensers:,} condensers {'kept' if args.condensers else 'left out'}), "
        f"{grid.branches:,} branches in service -> {graph.n_edges:,} dependencies "
        f"({grid.oriented:,} oriented branches, {grid.gens:,} generator links; {grid.equal:,} branches "
        f"between buses at equal distance carry nothing, the rest are parallel lines); "
        f"{grid.unreachable:,} buses no generator reaches, left out"
    )

    # layer 1: the largest generator fails for good
    fig["cascade"] = compare_cascade(graph, h, g, grid.largest, "largest", args.horizon, say)
    if fig["cascade"] is None:
        return None

    # layer 3: criticality of every twin, single points checked against dominators
    cpu = time.process_time()
    crit_s, crit = timed(criticality, graph, horizon=args.horizon)
    cpu_s = time.process_time() - cpu
    spof_s, spof = timed(
        lambda: {t for t in crit.single_points if any(x != t for x in crit.single_points[t])}
    )
    dom_s, (dom, chain) = timed(dominated, g, loads)
    if spof != dom:
        print(
            f"wrong answer: single points differ from dominators ({len(spof ^ dom)} twins, e.g. "
            f"{sorted(spof ^ dom)[:5]})",
            file=sys.stderr,
        )
        return None
    by_kind = {k: sum(1 for t in spof if t.startswith(k)) for k in ("gen-", "bus-")}
    # a few load buses one by one: those with the most single points, and the largest loads
    some = sorted(loads, key=lambda v: -chain[v])[: args.check // 2]
    some += sorted(loads, key=lambda v: -g.nodes[v]["rate"])[: args.check - len(some)]
    for target in dict.fromkeys(some):
        ours = set(single_points_of_failure(graph, target))
        theirs = reference.single_points_of_failure(g, target)
        if ours != theirs:
            print(f"wrong answer: single points of {target}: {ours} against {theirs}", file=sys.stderr)
            return None
    checked = len(dict.fromkeys(some))
    top = crit.ranking[:5]
    for c in top:  # value at risk of the top 5 by networkx: MW lost times the hours down within the horizon
        done = reference.earliest_failures(h, {c.twin: 0.0}, args.horizon)
        mwh = sum(g.nodes[v].get("rate", 0.0) * (args.horizon - t) for v, t in done.items())
        if not math.isclose(mwh, c.value_at_risk, rel_tol=1e-9, abs_tol=1e-6):
            print(
                f"wrong answer: {c.twin} puts {c.value_at_risk} MWh at risk, {mwh} by networkx",
                file=sys.stderr,
            )
            return None
    fig["criticality"] = {
        "ranked": len(crit.ranking),
        "s": crit_s,
        "cpu_s": cpu_s,
        "single_points": len(spof),
        "single_points_generators": by_kind["gen-"],
        "single_points_buses": by_kind["bus-"],
        "single_points_s": spof_s,
        "dominators_s": dom_s,
        "checked_buses": checked,
        "top": [(c.twin, c.value_at_risk, c.stops) for c in top],
    }
    say(
        f"criticality: {len(crit.ranking):,} of {graph.n_twins:,} twins ranked in {crit_s * 1000:.1f} ms "
        f"({cpu_s * 1000:.0f} ms CPU)"
    )
    say(
        f"single points of failure: {len(spof):,} twins stop some load bus other than themselves on "
        f"their own ({by_kind['gen-']:,} generators, {by_kind['bus-']:,} buses), listed in "
        f"{spof_s * 1000:.1f} ms; the same set as the networkx dominator tree, which alone takes "
        f"{dom_s * 1000:.1f} ms (ratio networkx / (criticality + listing) {dom_s / (crit_s + spof_s):.2f}x: "
        f"criticality also ranks every twin by value); {checked} load buses checked one by one against "
        f"reference.single_points_of_failure: same"
    )
    for rank, c in enumerate(top, 1):
        say(
            f"  top {rank}: {c.twin} ({c.category}): {c.value_at_risk:,.0f} MWh at risk within "
            f"{args.horizon:g} h ({c.value_at_risk / args.horizon:,.1f} MW, networkx: same), "
            f"stops {c.stops:,} load buses (a load bus counts itself)"
        )

    # layer 1 again: the generator whose loss costs most
    worst = next((c.twin for c in crit.ranking if c.twin.startswith("gen-")), None)
    if worst is not None and worst != grid.largest:
        fig["cascade_worst"] = compare_cascade(graph, h, g, worst, "most value at risk", args.horizon, say)
        if fig["cascade_worst"] is None:
            return None

    # layer 2: the largest generator failing, each branch down with probability p within the horizon
    if args.samples:
        per_year = 1.0 - (1.0 - args.branch_p) ** (8760.0 / args.horizon)
        for u, v, d in g.edges(data=True):
            if d["kind"] == "material":
                g.edges[u, v]["probability"] = per_year
        mc_graph = from_networkx(g)
        mc_s, mc = timed(
            monte_carlo, mc_graph, [grid.largest], horizon=args.horizon, samples=args.samples, seed=args.seed
        )
        fig["monte_carlo"] = {
            "samples": args.samples,
            "branch_p": args.branch_p,
            "s": mc_s,
            "expected_mwh": mc.expected_value,
            "p95_mwh": mc.p95_value,
            "hit": len(mc.hits),
        }
        say(
            f"monte carlo {grid.largest}: {args.samples:,} samples, each branch down with p "
            f"{args.branch_p:g} within "
            f"{args.horizon:g} h, in {mc_s:.2f} s; MWh at risk expected {mc.expected_value:,.0f} "
            f"({mc.expected_value / args.horizon:,.1f} MW), p95 {mc.p95_value:,.0f}; "
            f"{len(mc.hits):,} twins hit in some sample"
        )
    return fig


def _say(*parts: object) -> None:
    print(*parts, flush=True)


def _quiet(*parts: object) -> None:
    pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", help="cases whose file name contains this")
    parser.add_argument("--horizon", type=float, default=24.0, help="hours (default 24)")
    parser.add_argument("--samples", type=int, default=1000, help="Monte Carlo samples (0: none)")
    parser.add_argument("--branch-p", type=float, default=0.01, help="branch down within the horizon")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--check", type=int, default=10, help="load buses checked one by one")
    parser.add_argument("--condensers", action="store_true", help="keep generators with Pmax <= 0")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    files = sorted(CORPUS.glob("*.m"), key=lambda p: int(re.sub(r"\D", "", p.stem.split("_")[2]) or 0))
    if args.only:
        files = [p for p in files if args.only in p.name]
    if not files:
        print(f"no MATPOWER case files in {CORPUS}", file=sys.stderr)
        return 1
    say: Callable[..., None] = _quiet if args.json else _say
    first_s, _ = timed(_warm)
    say(f"compiled kernels, first call (compiling or loading numba's cache): {first_s:.1f} s")
    say(f"load before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min)")
    figures: dict[str, Any] = {}
    for path in files:
        fig = run_case(path, args, say)
        if fig is None:
            return 1
        figures[path.stem] = fig
    figures["load"] = os.getloadavg()[0]
    say(f"load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min)")
    if args.json:
        print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
