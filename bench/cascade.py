"""Cascade analysis: snapshot, one deterministic cascade, Monte Carlo, criticality; networkx as the baseline.

Input: the demo enterprise (``dtgraph.demo``) of N twins (default 100,000; ``--full`` 1,000,000), with
``--extra`` more ``consumes`` relationships per machine (default 10) so that the graph has about five
dependencies a twin (the demo alone has about three), loaded into a ``MemoryStore`` (no journal). With
``--neo4j``, the same graph is also written to an import file and loaded into Neo4j by the bulk import
(``import_graph``, every record checked), into a Neo4j 5.26 started as ``bench/graph_load.py`` starts it
(``scripts/neo4j start`` on a free port, default heap and page cache, stopped once read) or the server
``DTGRAPH_BENCH_NEO4J_URI`` names (its database is wiped).

Figures: the snapshot (``dtgraph.cascade.snapshot``: one streaming read of the store into arrays); with
``--neo4j`` the snapshot from Neo4j too, checked to be the memory store's graph (same ids, names and
arrays) and given as a ratio to the memory store's in the same run: read twice, the first read just after
the import, the second, the one reported, from the server warmed up as a server that runs for long is; one
deterministic cascade with time to impact, explanations and roll-ups (``cascade``) for each failure of
``--fail`` (default: one machine, a part, a tier-1 supplier, a site's power distribution and the enterprise
itself, which reaches everything), within ``--horizon`` hours (default 720); ``--samples`` Monte Carlo
samples (default 1,000) of the part; the criticality ranking of every twin that can reach a valued one
(the others put nothing at risk), wall and CPU time, on the threads numba may use (``NUMBA_NUM_THREADS``).
Baseline, in the same run: the same cascades with the plain networkx reference (``dtgraph.cascade.reference``)
on the same graph; the ratio is networkx / arrays, for the propagation alone and with explanations and
roll-ups. The times to impact of both are checked to agree before any figure is printed. The compiled
kernel's first call (compiling, or loading the compiled code numba caches beside the module) is timed
apart.

    python bench/cascade.py [--twins N | --full] [--extra K] [--samples N] [--fail ID ...] [--json]
                            [--skip-criticality] [--neo4j]
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import networkx as nx
import numba
import numpy as np

from dtgraph.cascade import _kernel, cascade, criticality, from_networkx, monte_carlo, reference, snapshot
from dtgraph.cascade.deterministic import failure_times
from dtgraph.cascade.snapshot import DependencyGraph
from dtgraph.demo import Plan, generate_records
from dtgraph.graph.bulk import import_graph
from dtgraph.graph.ndjson import write_items
from dtgraph.graph.records import Relationship, Twin
from dtgraph.stores.base import Batch
from dtgraph.stores.memory import MemoryStore
from dtgraph.stores.neo4j import Neo4jStore


def records(twins: int, extra: int, seed: int = 7) -> Iterator[tuple[str, Any]]:
    plan = Plan.for_twins(twins, seed)
    parts = plan.parts[0]
    rng = random.Random(seed)
    for section, obj in generate_records(twins, seed):
        if section == "Models":
            yield section, obj
        elif section == "Twins":
            yield section, Twin.from_json(obj)
        elif section == "Relationships":
            rel = Relationship.from_json(obj)
            yield section, rel
            if extra and rel.name == "partOf" and "-machine-" in rel.source and "-sensor-" not in rel.source:
                for k in rng.sample(range(parts), min(parts, extra)):
                    yield (
                        section,
                        Relationship(f"consumes-extra-{k}", rel.source, f"part-1-{k}", "consumes", {}),
                    )


def load(twins: int, extra: int) -> tuple[MemoryStore, dict[str, int]]:
    store = MemoryStore(None)
    counts = {"twins": 0, "relationships": 0}
    models: list[dict[str, Any]] = []

    def batches() -> Iterator[Batch]:
        chunk_t: list[Twin] = []
        chunk_r: list[Relationship] = []
        for section, obj in records(twins, extra):
            if section == "Models":
                models.append(obj)
                continue
            if models:
                yield Batch(models=list(models))
                models.clear()
            if section == "Twins":
                chunk_t.append(obj)
                counts["twins"] += 1
            else:
                chunk_r.append(obj)
                counts["relationships"] += 1
            if len(chunk_t) + len(chunk_r) >= 50_000:
                yield Batch(twins=chunk_t, relationships=chunk_r)
                chunk_t, chunk_r = [], []
        yield Batch(twins=chunk_t, relationships=chunk_r)

    store.apply_stream(batches())
    return store, counts


def write_import_file(path: Path, twins: int, extra: int) -> None:
    """The graph ``load`` builds, as an import file: models first, then twins, then relationships."""
    stream = records(twins, extra)
    models: list[dict[str, Any]] = []
    rest: Iterator[Any] = iter(())
    for section, obj in stream:
        if section != "Models":
            rest = itertools.chain([obj], (o for _, o in stream))
            break
        models.append(obj)
    with path.open("w", encoding="utf-8") as out:
        write_items(out, models, rest)


def same(a: DependencyGraph, b: DependencyGraph) -> bool:
    """Whether two snapshots are the same graph: every field the graph is built from (the rest derives)."""
    for f in dataclasses.fields(DependencyGraph):
        if not f.init:
            continue
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            if not (x.dtype == y.dtype and np.array_equal(x, y, equal_nan=x.dtype.kind == "f")):
                return False
        elif x != y:
            return False
    return True


class CouldNotRun(Exception):
    """The Neo4j part could not run (the import was rejected or the counts are wrong)."""


def neo4j_snapshots(twins: int, extra: int, expected: DependencyGraph) -> dict[str, Any]:
    """Import the graph into Neo4j through the bulk path, then snapshot it twice, each compared with
    ``expected``; the server is stopped (when started here) before returning."""
    from graph_load import Neo4jServer  # bench/graph_load.py, beside this script: start and stop as it does

    with tempfile.TemporaryDirectory(prefix="dtgraph-bench-") as tmp:
        work = Path(tmp)
        path = work / "cascade.ndjson"
        write_import_file(path, twins, extra)
        server = Neo4jServer(work, None)
        try:
            store = Neo4jStore(server.uri, auth=(server.user, server.password))
            try:
                store.wipe()
                import_s, report = timed(import_graph, path, store)
                if not report.ok or not report.written:
                    raise CouldNotRun(f"the import into Neo4j was rejected: {report.issues[:3]}")
                imported = {
                    "models": report.models,
                    "twins": report.twins,
                    "relationships": report.relationships,
                }
                if store.counts() != imported:
                    raise CouldNotRun(f"Neo4j holds {store.counts()} after importing {imported}")
                first_s, first = timed(snapshot, store)
                identical = same(first, expected)
                del first  # one graph at a time beside the memory store's
                warm_s, graph = timed(snapshot, store)
                identical = identical and same(graph, expected)
            finally:
                store.close()
        finally:
            server.stop()
    return {
        "server": server.note,
        "import_s": import_s,
        "entities": report.models + report.twins + report.relationships,
        "first_s": first_s,
        "s": warm_s,
        "identical": identical,
    }


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def _first_call() -> bool:
    """Run both compiled kernels once on a tiny graph; return whether numba had them cached."""
    cache = Path(_kernel.__file__).parent / "__pycache__"
    cached = any(cache.glob("_kernel.*.nbi"))
    g: nx.DiGraph[str] = nx.DiGraph()
    g.add_edge("a", "b", lead=1.0)
    g.add_node("b", rate=1.0)
    tiny = from_networkx(g)
    failure_times(tiny, [tiny.index("a")])
    criticality(tiny)
    return cached


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--twins", type=int, default=100_000)
    parser.add_argument("--full", action="store_true", help="1,000,000 twins")
    parser.add_argument("--extra", type=int, default=10, help="extra consumes per machine (default 10)")
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--horizon", type=float, default=720.0)
    parser.add_argument("--fail", action="append", help="failed twin (repeatable)")
    parser.add_argument("--skip-criticality", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--neo4j", action="store_true", help="also snapshot the graph from Neo4j")
    args = parser.parse_args(argv)
    twins = 1_000_000 if args.full else args.twins
    fails = args.fail or [
        "site-0-plant-0-line-0-machine-0",
        "part-1-0",
        "supplier-1-0",
        "site-0-power",
        "enterprise",
    ]
    figures: dict[str, Any] = {"twins": twins}

    say = (lambda *a: None) if args.json else (lambda *a: print(*a, flush=True))
    first_s, cached = timed(_first_call)
    figures["kernel_first_call_s"] = first_s
    say(
        f"compiled kernel, first call: {first_s:.1f} s "
        f"({'loaded from the cache beside the module' if cached else 'compiled: nothing cached yet'})"
    )
    load_s, (store, counts) = timed(load, twins, args.extra)
    figures.update(counts, load_s=load_s)
    snap_s, graph = timed(snapshot, store)
    figures.update(snapshot_s=snap_s, nodes=graph.n, dependencies=graph.n_edges)
    say(
        f"graph: demo enterprise, {counts['twins']:,} twins, {counts['relationships']:,} relationships "
        f"-> {graph.n_edges:,} dependencies, {graph.n - graph.n_twins:,} roll-up nodes "
        f"(loaded in {load_s:.1f} s)"
    )
    entities = counts["twins"] + counts["relationships"]
    say(f"snapshot: {snap_s:.2f} s ({entities / snap_s:,.0f} entities/s)")
    if args.neo4j:
        try:
            neo = neo4j_snapshots(twins, args.extra, graph)
        except CouldNotRun as exc:
            print(f"could not run: {exc}", file=sys.stderr)
            return 1
        if not neo["identical"]:
            print("wrong answer: the snapshots from Neo4j and the memory store differ", file=sys.stderr)
            return 1
        figures["neo4j"] = {
            "server": neo["server"],
            "import_s": neo["import_s"],
            "snapshot_s": neo["s"],
            "first_snapshot_s": neo["first_s"],
            "ratio": neo["s"] / snap_s,
            "load": os.getloadavg()[0],
        }
        say(
            f"snapshot from neo4j: {neo['s']:.2f} s ({entities / neo['s']:,.0f} entities/s), identical to "
            f"the memory store's; {neo['s'] / snap_s:.1f}x the memory store's {snap_s:.2f} s; "
            f"load {os.getloadavg()[0]:.1f}"
        )
        say(
            f"neo4j: {neo['server']}; {neo['entities']:,} entities imported (import_graph) in "
            f"{neo['import_s']:.1f} s; the first snapshot, just after the import: {neo['first_s']:.2f} s "
            f"({neo['first_s'] / snap_s:.1f}x), also identical; the line above is the second"
        )

    nx_s, g = timed(graph.to_networkx)
    exp_s, h = timed(reference.expand, g)
    say(f"networkx graph for the reference: {nx_s + exp_s:.1f} s (not part of the baseline figures)")
    for fail in fails:
        node = graph.index(fail)
        cascade(graph, [fail], horizon=args.horizon)  # warm: compiled arrays are cached on the graph
        best = min(timed(failure_times, graph, [node], args.horizon)[0] for _ in range(3))
        full_s, result = timed(cascade, graph, [fail], horizon=args.horizon)
        ref_s, done = timed(reference.earliest_failures, h, {fail: 0.0}, args.horizon)
        # same answer before any speed: every twin's time to impact
        fast = failure_times(graph, [node], args.horizon).time
        expected = np.full(graph.n, np.inf)
        for key, t in done.items():
            expected[graph.rollup[graph.index(key[0])] if isinstance(key, tuple) else graph.index(key)] = t
        if not np.allclose(fast, expected, rtol=1e-9, atol=1e-9, equal_nan=False):
            print(f"wrong answer: the arrays and networkx disagree on the cascade of {fail}", file=sys.stderr)
            return 1
        hit = int(np.isfinite(fast).sum())
        figures[f"cascade {fail}"] = {
            "hit": hit,
            "propagate_s": best,
            "with_report_s": full_s,
            "networkx_s": ref_s,
            "ratio": ref_s / best,
            "ratio_with_report": ref_s / full_s,
            "value_at_risk": result.value_at_risk,
        }
        say(
            f"cascade {fail}: {hit:,} nodes hit within {args.horizon:g} h; propagation {best * 1000:.2f} ms "
            f"(best of 3), with explanations and roll-ups {full_s * 1000:.1f} ms; networkx reference "
            f"{ref_s * 1000:.1f} ms: ratio {ref_s / best:.1f}x ({ref_s / full_s:.1f}x with the report)"
        )
    mc_fail = "part-1-0" if "part-1-0" in fails else fails[0]
    mc_s, mc = timed(monte_carlo, graph, [mc_fail], horizon=args.horizon, samples=args.samples, seed=1)
    figures["monte_carlo"] = {
        "samples": args.samples,
        "s": mc_s,
        "expected": mc.expected_value,
        "p95": mc.p95_value,
    }
    say(
        f"monte carlo {mc_fail}: {args.samples:,} samples in {mc_s:.1f} s "
        f"({mc_s / args.samples * 1000:.1f} ms a sample); "
        f"value at risk expected {mc.expected_value:,.0f}, p95 {mc.p95_value:,.0f}"
    )
    if not args.skip_criticality:
        cpu = time.process_time()
        crit_s, crit = timed(criticality, graph, horizon=args.horizon)
        cpu_s = time.process_time() - cpu
        exposed = sum(1 for s in crit.suppliers if s.exposed)
        figures["criticality"] = {
            "s": crit_s,
            "cpu_s": cpu_s,
            "threads": numba.get_num_threads(),
            "ranked": len(crit.ranking),
            "exposed_suppliers": exposed,
            "load": os.getloadavg()[0],
        }
        say(
            f"criticality: {len(crit.ranking):,} of {graph.n_twins:,} twins ranked (those that can reach a "
            f"valued twin) in {crit_s:.1f} s, {cpu_s:.1f} s CPU on {numba.get_num_threads()} threads "
            f"({crit_s / max(len(crit.ranking), 1) * 1e6:.0f} µs a twin); {exposed:,} of "
            f"{len(crit.suppliers):,} suppliers exposed (TTR > TTS); top: {crit.ranking[0].twin}; "
            f"load {os.getloadavg()[0]:.1f}"
        )
    if args.json:
        print(
            json.dumps(
                figures, indent=2, default=lambda x: None if isinstance(x, float) and math.isinf(x) else x
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
