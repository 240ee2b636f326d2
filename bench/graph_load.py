"""Bulk graph load: ``import_graph`` of the demo enterprise into the memory store and into Neo4j, in one run.

Input: ``dtgraph.demo`` with N twins (default 100,000; ``--full`` 1,000,000; about 3 relationships a
twin), written once to an import file. Each store is loaded in its own subprocess, so that its peak
RSS (``ru_maxrss``) is its own:

- memory: ``MemoryStore`` with its journal in a temporary directory, fsync on;
- neo4j: a Neo4j 5.26 started with ``scripts/neo4j start --port <free> --data <tmp> --warm-up N``
  (default heap and page cache; the launcher runs what an import of ``--neo4j-warm-up`` twins makes
  Neo4j do before the server is ready, default 50,000) and stopped at the end, or the server
  ``DTGRAPH_BENCH_NEO4J_URI`` names
  (``DTGRAPH_BENCH_NEO4J_USER`` / ``DTGRAPH_BENCH_NEO4J_PASSWORD``, default neo4j / dtgraph-dev; its
  database is wiped).

Figures: entities/s (models + twins + relationships) over the time spent reading and checking, over the
time spent in the store (``Store.apply_stream``) and overall (into Neo4j both happen in one pass, chunk
by chunk, so the first two are shares of one run; into the memory store a forked process checks while
the loading process writes, so the two overlap); overall per CPU second of the loading process and its
check process, which a loaded machine disturbs less than wall time; peak RSS of the loading process
(and of its check process, below the table); RSS
still held after the load (memory store: what holding the graph costs); for Neo4j also the server's peak
RSS. Baseline, in the same run: the naive load — one transaction per entity,
``store.apply(Batch(twins=[t]))`` — on a sample (the first ``--sample``/2 twins, then as many
relationships among them), extrapolated to the whole file per kind of entity; the ratio is bulk / naive.
Neo4j is loaded 1 + ``--neo4j-rounds`` times (default 3), each after a wipe: the first import runs into
a server just started (its JVM still compiling the code paths an import takes, fewer after a warm-up)
and is reported below the table; the rounds after it run into the same server warmed up, as a server
that runs for long is, and the table shows their median (the JIT keeps improving the code over the
first few imports: one warm import alone gives a figure a few per cent lower). Before any figure is
printed, the counts in the store are checked against the file. Exits 1 only if a load could not run or
gave a wrong answer.

    python bench/graph_load.py [--twins N | --full] [--sample 5000] [--only memory|neo4j] [--json]
                               [--neo4j-heap SIZE] [--neo4j-warm-up TWINS] [--neo4j-rounds N]
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dtgraph.demo import write_ndjson  # noqa: E402
from dtgraph.graph.bulk import import_graph  # noqa: E402
from dtgraph.graph.ndjson import read_items  # noqa: E402
from dtgraph.graph.records import Relationship, Twin  # noqa: E402
from dtgraph.stores.base import Batch, Store  # noqa: E402

GOALS = {"neo4j": 30_000, "memory": 100_000}  # entities/s, whole import
MEMORY_GOAL_GB = 4.0  # the memory store holds 1M twins in less
MiB = 1024 * 1024


def rss_bytes() -> int:
    """The current resident set size of this process, after handing freed heap back to the system."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)  # else RSS still counts what the load freed
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def peak_rss_bytes(pid: int | str = "self") -> int:
    """The peak resident set size (VmHWM) of a process."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


# --- the worker: one store, one process -------------------------------------------------------------


def open_store(kind: str, directory: Path, uri: str | None, auth: tuple[str, str] | None) -> Store:
    if kind == "memory":
        from dtgraph.stores.memory import MemoryStore

        return MemoryStore(directory, fsync=True)
    from dtgraph.stores.neo4j import Neo4jStore

    assert uri is not None
    store = Neo4jStore(uri, auth=auth)
    store.wipe()
    return store


def timed_bulk(store: Store, path: Path) -> dict[str, Any]:
    """``import_graph``, with the time spent reading and checking apart from the time in the store
    (into the memory store both happen in one pass, chunk by chunk; see ``ImportReport``)."""
    started, cpu = time.perf_counter(), time.process_time() - children_cpu()
    report = import_graph(path, store)
    ended, cpu = time.perf_counter(), time.process_time() - children_cpu() - cpu
    if not report.ok or not report.written:
        raise SystemExit(f"the import was rejected: {report.issues[:3]}")
    entities = report.models + report.twins + report.relationships
    counts = store.counts()
    expected = {"models": report.models, "twins": report.twins, "relationships": report.relationships}
    if counts != expected:
        raise SystemExit(f"wrong answer: the store holds {counts}, the file has {expected}")
    return {
        "entities": entities,
        **expected,
        "check_s": report.check_seconds,
        "write_s": report.write_seconds,
        "total_s": ended - started,
        "cpu_s": cpu,
        "checked_aside": report.checked_aside,
    }


def children_cpu() -> float:
    """CPU seconds of this process's reaped children: an import's check process (subtracted, so that
    the difference around an import adds the child's CPU to its own)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return -(usage.ru_utime + usage.ru_stime)


def sample_of(path: Path, size: int) -> tuple[list[dict[str, Any]], list[Twin], list[Relationship]]:
    """The models, the first ``size``/2 twins, and up to ``size``/2 relationships among those twins."""
    models: list[dict[str, Any]] = []
    twins: list[Twin] = []
    rels: list[Relationship] = []
    ids: set[str] = set()
    with path.open("rb") as lines:
        for item in read_items(lines, lambda _issue: None):
            value = item.value
            if item.section == "Models":
                assert isinstance(value, dict)
                models.append(value)
            elif isinstance(value, Twin) and len(twins) < size // 2:
                twins.append(value)
                ids.add(value.id)
            elif isinstance(value, Relationship) and value.source in ids and value.target in ids:
                rels.append(value)
                if len(rels) >= size - len(twins):
                    break
    return models, twins, rels


def naive(store: Store, path: Path, size: int) -> dict[str, Any]:
    """One ``apply`` (one transaction) per twin, then per relationship, on a sample."""
    models, twins, rels = sample_of(path, size)
    store.apply(Batch(models=models))
    started = time.perf_counter()
    for twin in twins:
        store.apply(Batch(twins=[twin]))
    middle = time.perf_counter()
    for rel in rels:
        store.apply(Batch(relationships=[rel]))
    ended = time.perf_counter()
    counts = store.counts()
    if (counts["twins"], counts["relationships"]) != (len(twins), len(rels)):
        raise SystemExit(
            f"naive load: wrong answer {counts} for {len(twins)} twins, {len(rels)} relationships"
        )
    return {
        "twins": len(twins),
        "relationships": len(rels),
        "twins_s": middle - started,
        "rels_s": ended - middle,
    }


def worker(args: argparse.Namespace) -> None:
    auth = None
    if args.user is not None and args.password is not None:
        auth = (args.user, args.password)
    directory = Path(args.dir)
    gc.collect()
    baseline = rss_bytes()
    store = open_store(args.worker, directory / "bulk", args.uri, auth)
    first = None
    rounds: list[dict[str, Any]] = []
    if args.worker == "neo4j":  # the first import warms the server up; the rounds after it are measured
        first = timed_bulk(store, Path(args.file))
        for _ in range(int(args.rounds) - 1):
            store.wipe()  # type: ignore[attr-defined]
            rounds.append(timed_bulk(store, Path(args.file)))
        store.wipe()  # type: ignore[attr-defined]
    rounds.append(timed_bulk(store, Path(args.file)))  # last: the held RSS below is this one's
    bulk = sorted(rounds, key=lambda r: r["total_s"])[len(rounds) // 2]  # the median
    gc.collect()
    held = rss_bytes() - baseline
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    check_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024  # the check processes
    store.close()
    del store
    gc.collect()
    sample = open_store(args.worker, directory / "naive", args.uri, auth)
    try:
        slow = naive(sample, Path(args.file), args.sample)
        if args.worker == "neo4j":
            sample.wipe()  # type: ignore[attr-defined]
    finally:
        sample.close()
    json.dump(
        {
            "bulk": bulk,
            "first": first,
            "rounds": [r["total_s"] for r in rounds],
            "naive": slow,
            "peak_rss": peak,
            "check_peak_rss": check_peak,
            "held_rss": held,
            "baseline_rss": baseline,
        },
        sys.stdout,
    )


# --- the driver ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Neo4jServer:
    """The server to load into: ours (started and stopped here) or the one the environment names."""

    def __init__(self, work: Path, heap: str | None, warm_up: int) -> None:
        self.run_dir: Path | None = None
        self.uri = os.environ.get("DTGRAPH_BENCH_NEO4J_URI", "")
        self.user = os.environ.get("DTGRAPH_BENCH_NEO4J_USER", "neo4j")
        self.password = os.environ.get("DTGRAPH_BENCH_NEO4J_PASSWORD", "dtgraph-dev")
        self.note = f"{self.uri} (DTGRAPH_BENCH_NEO4J_URI)"
        if self.uri:
            return
        port = free_port()
        self.run_dir = work / "neo4j-run"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DTGRAPH_NEO4J_")}
        command = [
            str(ROOT / "scripts" / "neo4j"),
            "start",
            "--port",
            str(port),
            "--data",
            str(work / "neo4j-data"),
        ]
        command += ["--run", str(self.run_dir), "--password", self.password]
        command += ["--heap", heap] if heap else []
        command += ["--warm-up", str(warm_up), "--owner", str(os.getpid())]  # gone with this process
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"scripts/neo4j start failed:\n{done.stdout}{done.stderr}")
        self.uri = f"bolt://127.0.0.1:{port}"
        sizes = f"--heap {heap}; page cache 1g" if heap else "heap 2g, page cache 1g: the launcher's defaults"
        self.note = f"scripts/neo4j start --port {port} --warm-up {warm_up} ({sizes})"

    def peak_rss(self) -> int | None:
        if self.run_dir is None:
            return None
        try:
            return peak_rss_bytes((self.run_dir / "neo4j.pid").read_text().strip())
        except OSError:
            return None

    def stop(self) -> None:
        if self.run_dir is not None:
            subprocess.run(
                [str(ROOT / "scripts" / "neo4j"), "stop", "--run", str(self.run_dir)],
                capture_output=True,
                check=False,
            )


def run_worker(
    kind: str, path: Path, work: Path, sample: int, rounds: int, server: Neo4jServer | None
) -> dict[str, Any]:
    command = [sys.executable, __file__, "--worker", kind, "--file", str(path), "--dir", str(work / kind)]
    command += ["--sample", str(sample), "--rounds", str(rounds)]
    if server is not None:
        command += ["--uri", server.uri, "--user", server.user, "--password", server.password]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = (done.stdout + done.stderr).strip().splitlines()
        raise LoadFailed(lines[-1] if lines else f"exit status {done.returncode}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


class LoadFailed(Exception):
    """A store's load could not run; the message is the worker's last line of output."""


def summarise(kind: str, raw: dict[str, Any]) -> dict[str, Any]:
    bulk, slow = raw["bulk"], raw["naive"]
    twin_rate = slow["twins"] / slow["twins_s"]
    rel_rate = slow["relationships"] / slow["rels_s"] if slow["relationships"] else twin_rate
    naive_s = bulk["twins"] / twin_rate + bulk["relationships"] / rel_rate
    rate = bulk["entities"] / bulk["total_s"]
    naive_rate = (bulk["twins"] + bulk["relationships"]) / naive_s
    return {
        "store": kind,
        **rates(bulk),
        "peak_rss_mib": raw["peak_rss"] / MiB,
        "check_peak_rss_mib": raw.get("check_peak_rss", 0) / MiB,
        "held_rss_mib": raw["held_rss"] / MiB,
        "naive_sample": {"twins": slow["twins"], "relationships": slow["relationships"]},
        "naive_twins_per_s": twin_rate,
        "naive_rels_per_s": rel_rate,
        "naive_extrapolated_s": naive_s,
        "naive_per_s": naive_rate,
        "speedup": rate / naive_rate,
        "goal_per_s": GOALS[kind],
        "meets_goal": rate >= GOALS[kind],
        "first_import": None if raw.get("first") is None else rates(raw["first"]),
        "rounds_per_s": [bulk["entities"] / seconds for seconds in raw["rounds"]],
    }


def rates(bulk: dict[str, Any]) -> dict[str, Any]:
    """The figures of one import: its timings with the rates they give."""
    return {
        **bulk,
        "check_per_s": bulk["entities"] / bulk["check_s"],
        "write_per_s": bulk["entities"] / bulk["write_s"],
        "total_per_s": bulk["entities"] / bulk["total_s"],
        "cpu_per_s": bulk["entities"] / bulk["cpu_s"],
    }


def iter_rows(rows: list[dict[str, Any]]) -> Iterator[str]:
    header = (
        f"{'store':<7} {'check ent/s':>12} {'write ent/s':>12} {'total ent/s':>12} {'total s':>8} "
        f"{'ent/CPU s':>10} "
        f"{'peak RSS':>9} {'held RSS':>9} {'naive ent/s':>12} {'bulk/naive':>10}  goal"
    )
    yield header
    yield "-" * len(header)
    for r in rows:
        goal = f"≥ {r['goal_per_s']:,}/s: {'met' if r['meets_goal'] else 'NOT met'}"
        yield (
            f"{r['store']:<7} {r['check_per_s']:>12,.0f} {r['write_per_s']:>12,.0f} "
            f"{r['total_per_s']:>12,.0f} "
            f"{r['total_s']:>8.1f} {r['cpu_per_s']:>10,.0f} "
            f"{r['peak_rss_mib']:>6,.0f} MiB {r['held_rss_mib']:>5,.0f} MiB "
            f"{r['naive_per_s']:>12,.0f} {r['speedup']:>9,.0f}x  {goal}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--twins", type=int, default=100_000, help="twins in the demo graph (default 100,000)"
    )
    parser.add_argument("--full", action="store_true", help="1,000,000 twins")
    parser.add_argument(
        "--sample", type=int, default=5000, help="entities loaded one by one for the baseline"
    )
    parser.add_argument("--only", choices=("memory", "neo4j"), help="load into one store only")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--neo4j-heap", metavar="SIZE", help="heap of the Neo4j started here (default: 2g)")
    parser.add_argument(
        "--neo4j-warm-up",
        type=int,
        default=50_000,
        metavar="TWINS",
        help="twins of the warm-up the Neo4j started here runs before it is ready (default 50,000; 0: none)",
    )
    parser.add_argument("--worker", choices=("memory", "neo4j"), help=argparse.SUPPRESS)
    parser.add_argument(
        "--neo4j-rounds",
        type=int,
        default=3,
        metavar="N",
        help="imports into Neo4j measured after the first, each into the wiped database; the table shows "
        "their median (default 3)",
    )
    for hidden in ("--file", "--dir", "--uri", "--user", "--password", "--rounds"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker(args)
        return 0
    twins = 1_000_000 if args.full else args.twins
    kinds = [args.only] if args.only else ["memory", "neo4j"]
    with tempfile.TemporaryDirectory(prefix="dtgraph-bench-") as tmp:
        work = Path(tmp)
        path = work / "demo.ndjson"
        started = time.perf_counter()
        with path.open("w", encoding="utf-8") as out:
            write_ndjson(out, twins=twins, seed=7)
        generated = time.perf_counter() - started
        rows: list[dict[str, Any]] = []
        failed: dict[str, str] = {}
        server_note = ""
        server_peak: int | None = None
        for kind in kinds:
            server = Neo4jServer(work, args.neo4j_heap, args.neo4j_warm_up) if kind == "neo4j" else None
            try:
                rounds = max(1, args.neo4j_rounds)
                rows.append(summarise(kind, run_worker(kind, path, work, args.sample, rounds, server)))
            except LoadFailed as exc:
                failed[kind] = str(exc)
            finally:
                if server is not None:
                    server_note, server_peak = server.note, server.peak_rss()
                    server.stop()
        size = path.stat().st_size
    if not rows:
        print(f"no store could be loaded: {failed}", file=sys.stderr)
        return 1
    first = rows[0]
    per_twin = next((r["held_rss_mib"] * MiB / r["twins"] for r in rows if r["store"] == "memory"), None)
    result: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "input": {
            "twins": first["twins"],
            "relationships": first["relationships"],
            "models": first["models"],
            "file_mib": size / MiB,
            "generate_s": generated,
        },
        "stores": rows,
        "failed": failed,
        "neo4j_server": server_note or None,
        "neo4j_server_peak_rss_mib": server_peak / MiB if server_peak else None,
        "memory_store_1m_twins_gib": per_twin * 1_000_000 / 1024**3 if per_twin is not None else None,
    }
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        print()
        return 1 if failed else 0
    inp = result["input"]
    print(
        f"graph load: demo enterprise, {inp['twins']:,} twins, {inp['relationships']:,} relationships, "
        f"{inp['models']} models ({inp['file_mib']:,.0f} MiB NDJSON, generated in {generated:.1f} s); "
        f"{result['machine']}"
    )
    print(
        "entities = models + twins + relationships; "
        "naive = one transaction per entity, sampled and extrapolated"
    )
    for line in iter_rows(rows):
        print(line)
    for kind, reason in failed.items():
        print(f"{kind:<7} FAILED: {reason}")
    for r in rows:
        print(
            f"{r['store']}: naive sample {r['naive_sample']['twins']:,} twins "
            f"at {r['naive_twins_per_s']:,.0f}/s, "
            f"{r['naive_sample']['relationships']:,} relationships at {r['naive_rels_per_s']:,.0f}/s; "
            f"the whole file would take {r['naive_extrapolated_s']:,.0f} s one by one"
        )
    for r in rows:
        if r["first_import"] is not None:
            f = r["first_import"]
            each = ", ".join(f"{rate:,.0f}" for rate in r["rounds_per_s"])
            print(
                f"{r['store']}: the table shows the median of {len(r['rounds_per_s'])} imports into the warm "
                f"server ({each} entities/s, in order); the first, into the server just started: "
                f"{f['total_per_s']:,.0f} entities/s overall ({f['total_s']:.1f} s; "
                f"check {f['check_per_s']:,.0f}/s, write {f['write_per_s']:,.0f}/s)"
            )
    for r in rows:
        if r["checked_aside"]:
            print(
                f"{r['store']}: checked by a forked process while this one wrote (both cores); the "
                f"check process's peak RSS: {r['check_peak_rss_mib']:,.0f} MiB (shared pages included); "
                "'check' and 'write' overlap, and 'ent/CPU s' counts both processes' CPU"
            )
    if server_note:
        peak = f"; server peak RSS {result['neo4j_server_peak_rss_mib']:,.0f} MiB" if server_peak else ""
        print(f"neo4j: {server_note}{peak}")
    if per_twin is not None:
        gib = result["memory_store_1m_twins_gib"]
        how = "measured" if twins >= 1_000_000 else f"extrapolated from {twins:,} twins; --full measures it"
        verdict = "met" if gib < MEMORY_GOAL_GB else "NOT met"
        print(
            f"memory store: holds {per_twin:,.0f} bytes a twin (with its relationships): "
            f"1M twins ≈ {gib:.2f} GiB "
            f"({how}); goal < {MEMORY_GOAL_GB:.0f} GB: {verdict}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
