"""The running GraphQL server under load, measured from a second process; raw Cypher as the baseline.

Input: the demo enterprise (``dtgraph demo --twins N``, default 20,000; the issue's size is
``--twins 100000``; about three relationships a twin) loaded into each store:

- memory: ``dtgraph demo --store memory:<tmp>``, its journal in a temporary directory;
- neo4j: a Neo4j 5.26 started with ``scripts/neo4j start --port <free> --data <tmp> --heap 2g`` (page cache
  1g), stopped at the end; loaded with ``dtgraph demo --store bolt://127.0.0.1:<port>``.

Then ``dtgraph serve --store … --port <free> --config <tmp toml>`` (one uvicorn process, an admin API key
that every request sends, log level warning) is started as a subprocess and driven from this process by
an asyncio load generator on uvloop when installed: ``httpx.AsyncClient`` (HTTP/1.1 keep-alive), or with
``--client raw`` a minimal HTTP/1.1 keep-alive client on asyncio streams, which costs this process about a
twentieth of httpx's CPU per request (httpx needs ~1.6 ms of CPU a request, as much as a light query costs
the server: on a small machine it competes with the server for the cores):

- (a) twin by id: ``{ twin(id: $id) { id model properties } }`` over ids drawn uniformly from all twins;
- (b) 2-hop traversal: from a random line, the parts it consumes and who supplies each of them,
  ``related(name: "consumes") { id related(name: "supplies", direction: IN) { id } }``;
- (c) typed list: ``machines(first: 100, where: {status: {eq: operational}})`` selecting
  ``id name status`` (and ``pageInfo``).

Closed loop: ``--concurrency`` workers (default 32), each sending its next request when the last one is
answered, for ``--duration`` seconds (default 10) after ``--warmup`` seconds (default 2) that are not
counted: throughput (answered requests/s) and p50/p99 latency. Before any of them, each query is sent
for ``--settle`` seconds (default 5, not counted) through GraphQL and, on Neo4j, as Cypher, so that
Neo4j's JIT has compiled both sides' queries before either is measured.

Open loop: (a) and (b) sent at a fixed ``--rate`` (default 200 req/s) whatever the answers, latency
counted from the moment each request was due (so queueing is not hidden): p99. CPU time of the server,
of Neo4j and of this client over each run is shown as % of one core: all three share the machine.

Baseline, in the same run (Neo4j only): the equivalent Cypher sent straight through the async driver
(``AsyncGraphDatabase``; each query an auto-commit read in a session of its own with the driver's
bookmarks, as the Neo4j store reads) at the same concurrency, over the same ids:

- (a) ``MATCH (t:Twin {id: $id}) RETURN t.id, t.model, t.json`` (and the JSON parsed, as GraphQL's is);
- (b) ``MATCH (:Twin {id: $id})-[:R_consumes]->(p:Twin) WITH DISTINCT p
  OPTIONAL MATCH (p)<-[:R_supplies]-(s:Twin) RETURN p.id, collect(DISTINCT s.id)``;
- (c) ``MATCH (t:M_dtgraph_Machine_1) WHERE t.p_status = 'operational'
  RETURN t.id, t.p_name, t.p_status ORDER BY t.id LIMIT 100``.

The ratio is Cypher req/s / GraphQL req/s: how many times the time a request takes through the whole
server is, against the driver alone.

Every answer is checked against the demo graph as generated here (``dtgraph.demo.generate_records``, the
same seed): (a) the twin's id and model, and before the runs its properties for a sample of ids; (b) the
parts and, per part, the set of suppliers; (c) the exact page. A non-200 status, a GraphQL ``errors``
member, a wrong answer or an exception counts as an error (by kind in ``--json``) and is left out of the
latencies. Goals printed beside the figures: (a) ≥ 1,000 req/s on the memory store; p99 ≤ 25 ms at 200 req/s
for (a) and (b); GraphQL ≤ 1.5x raw Cypher. Exits 1 if a store could not be run or any answer was an error;
never because a figure missed its goal. Every process started here and the temporary directory are removed
on the way out, failures and SIGINT/SIGTERM included.

    python bench/graphql_server.py [--twins N] [--duration S] [--warmup S] [--settle S] [--concurrency C]
                                   [--rate R] [--only memory|neo4j] [--client httpx|raw] [--json]
                                   [--neo4j-heap SIZE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import hashlib
import json
import math
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import orjson  # noqa: E402

from dtgraph.demo import generate_records  # noqa: E402
from dtgraph.graph.records import Relationship  # noqa: E402
from dtgraph.stores.neo4j import model_label, relationship_type  # noqa: E402

BIN = ROOT / ".venv" / "bin"
DTGRAPH = str(BIN / "dtgraph") if (BIN / "dtgraph").exists() else "dtgraph"
NEO4J_USER, NEO4J_PASSWORD = "neo4j", "dtgraph-dev"
SEED = 7  # the demo's default seed

GOAL_TWIN_RPS = 1_000  # (a) on the memory store, closed loop
GOAL_OPEN_P99_MS = 25.0  # (a) and (b) at the fixed rate
GOAL_RATIO = 1.5  # GraphQL / raw Cypher

MACHINE = "dtmi:dtgraph:Machine;1"
LIST_STATUS = "operational"

Q_TWIN = "query Twin($id: ID!) { twin(id: $id) { id model properties } }"
Q_HOPS = (
    "query Supply($id: ID!) { twin(id: $id) { id "
    'related(name: "consumes") { id related(name: "supplies", direction: IN) { id } } } }'
)
Q_LIST = (
    f"query Machines {{ machines(first: 100, where: {{status: {{eq: {LIST_STATUS}}}}}) "
    "{ edges { node { id name status } } pageInfo { hasNextPage endCursor } } }"
)
C_TWIN = "MATCH (t:Twin {id: $id}) RETURN t.id AS id, t.model AS model, t.json AS json"
C_HOPS = (
    f"MATCH (:Twin {{id: $id}})-[:`{relationship_type('consumes')}`]->(p:Twin) WITH DISTINCT p "
    f"OPTIONAL MATCH (p)<-[:`{relationship_type('supplies')}`]-(s:Twin) "
    "RETURN p.id AS id, collect(DISTINCT s.id) AS suppliers"
)
C_LIST = (
    f"MATCH (t:`{model_label(MACHINE)}`) WHERE t.p_status = $status "
    "RETURN t.id AS id, t.p_name AS name, t.p_status AS status ORDER BY t.id LIMIT 100"
)

CLIENTS = {"httpx": "httpx.AsyncClient", "raw": "a minimal HTTP/1.1 keep-alive client"}
SCENARIOS = {
    "twin": "(a) twin by id",
    "hops": "(b) 2-hop line>part<supplier",
    "list": "(c) machines(first:100,where)",
}


# --- what the answers must be ---------------------------------------------------------------------


@dataclass
class Expected:
    """The demo graph as generated here: what every answer is checked against."""

    ids: list[str] = field(default_factory=list)
    model: dict[str, str] = field(default_factory=dict)
    lines: list[str] = field(default_factory=list)
    consumes: dict[str, set[str]] = field(default_factory=dict)  # line -> parts
    suppliers: dict[str, set[str]] = field(default_factory=dict)  # part -> suppliers
    machines: list[tuple[str, str, str]] = field(default_factory=list)  # (id, name, status), id order
    sample: dict[str, dict[str, Any]] = field(default_factory=dict)  # id -> properties
    relationships: int = 0

    def supply(self, line: str) -> dict[str, frozenset[str]]:
        return {p: frozenset(self.suppliers.get(p, ())) for p in self.consumes.get(line, ())}

    @property
    def page(self) -> list[tuple[str, str, str]]:
        return self.machines[:100]


def expected_graph(twins: int, sample: int) -> Expected:
    exp = Expected()
    rng = random.Random(SEED)
    keep = min(1.0, sample / max(twins, 1))
    for section, obj in generate_records(twins, SEED):
        if section == "Twins":
            twin_id, model = obj["$dtId"], obj["$metadata"]["$model"]
            exp.ids.append(twin_id)
            exp.model[twin_id] = model
            if model == "dtmi:dtgraph:Line;1":
                exp.lines.append(twin_id)
            elif model == MACHINE and obj.get("status") == LIST_STATUS:
                exp.machines.append((twin_id, obj.get("name"), LIST_STATUS))
            if rng.random() < keep:
                exp.sample[twin_id] = {k: v for k, v in obj.items() if not k.startswith("$")}
        elif section == "Relationships":
            rel = Relationship.from_json(obj)
            exp.relationships += 1
            if rel.name == "consumes" and exp.model.get(rel.source) == "dtmi:dtgraph:Line;1":
                exp.consumes.setdefault(rel.source, set()).add(rel.target)
            elif rel.name == "supplies":
                exp.suppliers.setdefault(rel.target, set()).add(rel.source)
    exp.machines.sort()
    if len(exp.machines) < 100 or not exp.lines:
        raise SystemExit(f"--twins {twins} is too small: it needs 100 {LIST_STATUS} machines and a line")
    return exp


class WrongAnswer(Exception):
    """An answer that is not what the demo graph says."""


# --- the processes --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without DTGRAPH_* (a user's DTGRAPH_STORE or keys must not leak in), plus extra."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DTGRAPH_")}
    env.update(extra)
    return env


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU time of a process so far (0 when it cannot be read)."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int | None) -> float | None:
    if pid is None:
        return None
    with contextlib.suppress(OSError), open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


class Neo4j:
    """A Neo4j started with scripts/neo4j in the work directory; stop() is safe to call twice."""

    def __init__(self, work: Path, heap: str) -> None:
        self.port = free_port()
        self.run_dir = work / "neo4j-run"
        self.uri = f"bolt://127.0.0.1:{self.port}"
        self.pid: int | None = None
        self.heap = heap
        self.started = False
        self.note = f"scripts/neo4j start --port {self.port} --heap {heap} (page cache 1g)"

    def start(self, work: Path) -> None:
        heap = self.heap
        command = [str(ROOT / "scripts" / "neo4j"), "start", "--port", str(self.port)]
        command += ["--data", str(work / "neo4j-data"), "--run", str(self.run_dir), "--heap", heap]
        command += ["--password", NEO4J_PASSWORD, "--owner", str(os.getpid())]  # gone with this process
        self.started = True  # stop() even if start fails half-way: the launcher may be up
        done = subprocess.run(command, env=clean_env(), capture_output=True, text=True, check=False)
        with contextlib.suppress(OSError, ValueError):
            self.pid = int((self.run_dir / "neo4j.pid").read_text().strip())
        if done.returncode != 0:
            raise RuntimeError(f"scripts/neo4j start failed:\n{done.stdout}{done.stderr}")

    def stop(self) -> None:
        if self.started:
            self.started = False
            subprocess.run(
                [str(ROOT / "scripts" / "neo4j"), "stop", "--run", str(self.run_dir)],
                env=clean_env(),
                capture_output=True,
                check=False,
                timeout=180,
            )


class Server:
    """``dtgraph serve`` in a subprocess of its own session; stop() is safe to call twice."""

    def __init__(self, store: str, work: Path, env: dict[str, str]) -> None:
        self.key = secrets.token_hex(24)
        digest = hashlib.sha256(self.key.encode()).hexdigest()
        config = work / "dtgraph.toml"
        config.write_text(
            f'anonymous_role = "reader"\n[[api_keys]]\nname = "bench"\nrole = "admin"\nsha256 = "{digest}"\n',
            encoding="utf-8",
        )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = work / "serve.log"
        command = [DTGRAPH, "serve", "--store", store, "--port", str(self.port), "--config", str(config)]
        command += ["--log-level", "warning"]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                command,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl+C reaches this process only; stop() ends the server
            )
        self.pid: int | None = self.proc.pid

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=5) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(
                        f"dtgraph serve exited with status {self.proc.returncode}:\n{tail(self.log)}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(self.url + "/readyz").status_code == 200:
                        return
                time.sleep(0.2)
        raise RuntimeError(f"dtgraph serve was not ready within {timeout:.0f} s:\n{tail(self.log)}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)


def load_demo(twins: int, store: str, env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [DTGRAPH, "demo", "--twins", str(twins), "--store", store, "--quiet"],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"dtgraph demo --store {store} failed:\n{done.stdout}{done.stderr}")
    return time.perf_counter() - started


# --- the load generator ---------------------------------------------------------------------------

Call = Callable[[random.Random], Awaitable[None]]  # one request; raises on any error


@dataclass
class Run:
    latencies: list[float] = field(default_factory=list)  # seconds, answered without error
    errors: Counter[str] = field(default_factory=Counter)
    first_errors: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)  # % of one core

    def fail(self, exc: BaseException) -> None:
        kind = exc.args[0] if isinstance(exc, WrongAnswer | GraphQLError) and exc.args else type(exc).__name__
        self.errors[str(kind).split(":")[0]] += 1
        if len(self.first_errors) < 3:
            self.first_errors.append(f"{type(exc).__name__}: {str(exc)[:300]}")


class GraphQLError(Exception):
    """A non-200 answer or one with an ``errors`` member."""


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of ``values`` (sorted), in milliseconds."""
    if not values:
        return math.nan
    return values[max(0, math.ceil(q * len(values)) - 1)] * 1000


class Cpu:
    """CPU time of some processes and of this one over a run, as % of one core."""

    def __init__(self, pids: Mapping[str, int | None]) -> None:
        self.pids = {name: pid for name, pid in pids.items() if pid is not None}
        self.start = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self.start["client"] = time.process_time()

    def percent(self, elapsed: float) -> dict[str, float]:
        now = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        now["client"] = time.process_time()
        return {name: 100 * (now[name] - self.start[name]) / elapsed for name in now}


async def closed_loop(
    call: Call, concurrency: int, duration: float, warmup: float, pids: Mapping[str, int | None]
) -> Run:
    run = Run()

    async def worker(rng: random.Random, until: float, record: bool) -> None:
        while time.perf_counter() < until:
            started = time.perf_counter()
            try:
                await call(rng)
            except Exception as exc:
                if record:
                    run.fail(exc)
                continue
            if record:
                run.latencies.append(time.perf_counter() - started)

    if warmup > 0:
        until = time.perf_counter() + warmup
        await asyncio.gather(*(worker(random.Random(-1 - i), until, False) for i in range(concurrency)))
    cpu = Cpu(pids)
    started = time.perf_counter()
    until = started + duration
    await asyncio.gather(*(worker(random.Random(i), until, True) for i in range(concurrency)))
    run.elapsed = time.perf_counter() - started
    run.cpu = cpu.percent(run.elapsed)
    run.latencies.sort()
    return run


async def open_loop(call: Call, rate: float, duration: float, pids: Mapping[str, int | None]) -> Run:
    """Requests started at a fixed rate whatever the answers; latency from the moment each was due."""
    run = Run()
    rng = random.Random(1_000_003)
    count = max(1, round(rate * duration))

    async def one(due: float) -> None:
        try:
            await call(rng)
        except Exception as exc:
            run.fail(exc)
        else:
            run.latencies.append(time.perf_counter() - due)

    cpu = Cpu(pids)
    started = time.perf_counter() + 0.01
    tasks = []
    for i in range(count):
        due = started + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(due)))
    await asyncio.gather(*tasks)
    run.elapsed = time.perf_counter() - started
    run.cpu = cpu.percent(run.elapsed)
    run.latencies.sort()
    return run


# --- the requests and their checks ----------------------------------------------------------------


Poster = Callable[[bytes], Awaitable[tuple[int, bytes]]]  # a JSON body to /graphql -> (status, body)


def httpx_poster(client: httpx.AsyncClient) -> Poster:
    async def post(body: bytes) -> tuple[int, bytes]:
        response = await client.post("/graphql", content=body)
        return response.status_code, response.content

    return post


class RawClient:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams (``--client raw``): a pool of ``size``
    connections, requests waiting for a free one. It costs the client about a twentieth of httpx's CPU per
    request, which matters when client and server share two cores. Only what uvicorn answers is read:
    a status line, headers with Content-Length, the body."""

    def __init__(self, url: str, headers: Mapping[str, str], size: int) -> None:
        host_port = url.split("://", 1)[1]
        self.host, port = host_port.rsplit(":", 1)
        self.port = int(port)
        lines = [f"{k}: {v}" for k, v in headers.items()] + [f"Host: {host_port}"]
        self.head = ("POST /graphql HTTP/1.1\r\n" + "\r\n".join(lines) + "\r\nContent-Length: ").encode()
        self.free: asyncio.LifoQueue[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None] = (
            asyncio.LifoQueue()
        )
        for _ in range(size):
            self.free.put_nowait(None)  # connected on first use
        self.open: set[asyncio.StreamWriter] = set()

    async def post(self, body: bytes) -> tuple[int, bytes]:
        conn = await self.free.get()
        try:
            reused = conn is not None
            if conn is None:
                conn = await self._connect()
            reader, writer = conn
            writer.write(b"%s%d\r\n\r\n%s" % (self.head, len(body), body))
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                # the server closes a keep-alive connection idle for 5 s (uvicorn's default); a
                # connection it closed before answering is sent to again on a new one, as HTTP
                # clients do
                if not reused or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial):
                    raise
                self._drop(conn)
                conn = await self._connect()
                reader, writer = conn
                writer.write(b"%s%d\r\n\r\n%s" % (self.head, len(body), body))
                head = await reader.readuntil(b"\r\n\r\n")
            status, length, close = int(head[9:12]), None, False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
                elif name == b"transfer-encoding":
                    raise GraphQLError("HTTP: a chunked answer; use --client httpx")
            if length is None:
                raise GraphQLError("HTTP: an answer without Content-Length; use --client httpx")
            data = await reader.readexactly(length)
            if close:
                self._drop(conn)
                conn = None
            return status, data
        except BaseException:
            if conn is not None:
                self._drop(conn)
                conn = None
            raise
        finally:
            self.free.put_nowait(conn)

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        conn = await asyncio.open_connection(self.host, self.port)
        self.open.add(conn[1])
        return conn

    def _drop(self, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.open.discard(conn[1])
        conn[1].close()

    async def aclose(self) -> None:
        for writer in list(self.open):
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()
        self.open.clear()


def graphql_calls(http: Poster, exp: Expected) -> dict[str, Call]:
    async def post(body: bytes) -> Any:
        status, content = await http(body)
        if status != 200:
            raise GraphQLError(f"HTTP {status}: {content[:200]!r}")
        doc = orjson.loads(content)
        if doc.get("errors"):
            raise GraphQLError(f"GraphQL errors: {doc['errors']!r:.300}")
        return doc["data"]

    async def twin(rng: random.Random) -> None:
        twin_id = rng.choice(exp.ids)
        data = await post(orjson.dumps({"query": Q_TWIN, "variables": {"id": twin_id}}))
        found = data["twin"]
        if found is None or found["id"] != twin_id or found["model"] != exp.model[twin_id]:
            raise WrongAnswer(f"wrong twin: {twin_id} gave {str(found)[:200]}")
        if not isinstance(found["properties"], dict):
            raise WrongAnswer(f"wrong twin: {twin_id} has no properties object")

    async def hops(rng: random.Random) -> None:
        line = rng.choice(exp.lines)
        data = await post(orjson.dumps({"query": Q_HOPS, "variables": {"id": line}}))
        found = data["twin"]
        if found is None or found["id"] != line:
            raise WrongAnswer(f"wrong traversal: line {line} not found")
        got = {p["id"]: frozenset(s["id"] for s in p["related"]) for p in found["related"]}
        if len(got) != len(found["related"]) or got != exp.supply(line):
            raise WrongAnswer(f"wrong traversal from {line}: {got} instead of {exp.supply(line)}")

    list_body = orjson.dumps({"query": Q_LIST})

    async def page(rng: random.Random) -> None:
        data = await post(list_body)
        conn = data["machines"]
        got = [(e["node"]["id"], e["node"]["name"], e["node"]["status"]) for e in conn["edges"]]
        more = len(exp.machines) > 100
        if got != exp.page or conn["pageInfo"]["hasNextPage"] != more:
            raise WrongAnswer(f"wrong page of machines: {got[:3]}… ({len(got)})")

    return {"twin": twin, "hops": hops, "list": page}


def cypher_calls(driver: Any, exp: Expected) -> dict[str, Call]:
    from neo4j import READ_ACCESS

    async def query(text: str, **params: Any) -> list[Any]:
        async with driver.session(
            default_access_mode=READ_ACCESS, bookmark_manager=driver.execute_query_bookmark_manager
        ) as session:
            result = await session.run(text, params)
            return [record async for record in result]

    async def twin(rng: random.Random) -> None:
        twin_id = rng.choice(exp.ids)
        records = await query(C_TWIN, id=twin_id)
        if len(records) != 1 or records[0]["id"] != twin_id or records[0]["model"] != exp.model[twin_id]:
            raise WrongAnswer(f"wrong twin: {twin_id} gave {records[:1]}")
        if not isinstance(orjson.loads(records[0]["json"]), dict):
            raise WrongAnswer(f"wrong twin: {twin_id} has no properties object")

    async def hops(rng: random.Random) -> None:
        line = rng.choice(exp.lines)
        records = await query(C_HOPS, id=line)
        got = {r["id"]: frozenset(r["suppliers"]) for r in records}
        if got != exp.supply(line):
            raise WrongAnswer(f"wrong traversal from {line}: {got} instead of {exp.supply(line)}")

    async def page(rng: random.Random) -> None:
        records = await query(C_LIST, status=LIST_STATUS)
        got = [(r["id"], r["name"], r["status"]) for r in records]
        if got != exp.page:
            raise WrongAnswer(f"wrong page of machines: {got[:3]}… ({len(got)})")

    return {"twin": twin, "hops": hops, "list": page}


async def check_properties(http: Poster, exp: Expected, driver: Any | None) -> int:
    """The full properties of the sampled twins, through GraphQL (and Cypher), before any timing."""
    for twin_id, props in exp.sample.items():
        status, content = await http(orjson.dumps({"query": Q_TWIN, "variables": {"id": twin_id}}))
        doc = orjson.loads(content)
        found = (doc.get("data") or {}).get("twin")
        if status != 200 or doc.get("errors") or found is None or found["properties"] != props:
            raise WrongAnswer(f"twin {twin_id}: GraphQL answered {str(doc)[:300]}, the demo has {props}")
        if driver is not None:
            records, _, _ = await driver.execute_query(C_TWIN, {"id": twin_id})
            if len(records) != 1 or orjson.loads(records[0]["json"]) != props:
                raise WrongAnswer(f"twin {twin_id}: Cypher answered {records[:1]}, the demo has {props}")
    return len(exp.sample)


# --- one store ------------------------------------------------------------------------------------


def summary(run: Run, scenario: str, via: str, mode: str) -> dict[str, Any]:
    ok = len(run.latencies)
    return {
        "scenario": scenario,
        "via": via,
        "mode": mode,
        "requests": ok,
        "errors": sum(run.errors.values()),
        "errors_by_kind": dict(run.errors),
        "first_errors": run.first_errors,
        "seconds": run.elapsed,
        "rps": ok / run.elapsed if run.elapsed else 0.0,
        "p50_ms": percentile(run.latencies, 0.50),
        "p99_ms": percentile(run.latencies, 0.99),
        "max_ms": run.latencies[-1] * 1000 if run.latencies else math.nan,
        "cpu_percent": run.cpu,
    }


async def drive(
    args: argparse.Namespace, exp: Expected, server: Server, neo4j: Neo4j | None
) -> tuple[list[dict[str, Any]], int]:
    pids = {"server": server.pid, "neo4j": neo4j.pid if neo4j else None}
    results: list[dict[str, Any]] = []
    limits = httpx.Limits(max_connections=args.concurrency, max_keepalive_connections=args.concurrency)
    headers = {"Authorization": f"Bearer {server.key}", "Content-Type": "application/json"}
    driver = None
    async with contextlib.AsyncExitStack() as stack:
        if args.client == "raw":
            raw_client = RawClient(server.url, headers, args.concurrency)
            stack.push_async_callback(raw_client.aclose)
            http: Poster = raw_client.post
        else:
            client = await stack.enter_async_context(
                httpx.AsyncClient(base_url=server.url, headers=headers, limits=limits, timeout=30)
            )
            http = httpx_poster(client)
        if neo4j is not None:
            from neo4j import AsyncGraphDatabase

            driver = AsyncGraphDatabase.driver(
                neo4j.uri, auth=(NEO4J_USER, NEO4J_PASSWORD), max_connection_pool_size=args.concurrency * 2
            )
            stack.push_async_callback(driver.close)
        checked = await check_properties(http, exp, driver)
        calls = graphql_calls(http, exp)
        mode = f"closed c={args.concurrency}"
        # every query of both sides once before any is measured: Neo4j's JIT warms up over minutes, and
        # the side measured first would otherwise meet a colder JVM than the one after it
        settling = [calls] if driver is None else [calls, cypher_calls(driver, exp)]
        for side in settling if args.settle > 0 else []:
            for key in SCENARIOS:
                await closed_loop(side[key], args.concurrency, args.settle, 0.0, pids)
        for key in SCENARIOS:
            run = await closed_loop(calls[key], args.concurrency, args.duration, args.warmup, pids)
            results.append(summary(run, key, "graphql", mode))
        for key in ("twin", "hops"):
            run = await open_loop(calls[key], args.rate, args.duration, pids)
            results.append(summary(run, key, "graphql", f"open {args.rate:g}/s"))
        if driver is not None:
            raw = cypher_calls(driver, exp)
            for key in SCENARIOS:
                run = await closed_loop(raw[key], args.concurrency, args.duration, args.warmup, pids)
                results.append(summary(run, key, "cypher", mode))
    return results, checked


def run_store(kind: str, args: argparse.Namespace, exp: Expected, work: Path) -> dict[str, Any]:
    work.mkdir()
    with contextlib.ExitStack() as stack:
        neo4j: Neo4j | None = None
        env = clean_env()
        if kind == "neo4j":
            neo4j = Neo4j(work, args.neo4j_heap)
            stack.callback(neo4j.stop)
            neo4j.start(work)
            store = neo4j.uri
            env = clean_env(DTGRAPH_NEO4J_USER=NEO4J_USER, DTGRAPH_NEO4J_PASSWORD=NEO4J_PASSWORD)
        else:
            store = f"memory:{work / 'store'}"
        load_s = load_demo(args.twins, store, env)
        server = Server(store, work, env)
        stack.callback(server.stop)
        started = time.perf_counter()
        server.wait_ready(args.start_timeout)
        ready_s = time.perf_counter() - started
        runner_factory = _loop_factory()
        with asyncio.Runner(loop_factory=runner_factory) as runner:
            results, checked = runner.run(drive(args, exp, server, neo4j))
        server_rss = peak_rss_mib(server.pid)
        neo4j_rss = peak_rss_mib(neo4j.pid) if neo4j else None
    for row in results:
        row["store"] = kind
    return {
        "store": kind,
        "location": "memory:<tmp>" if kind == "memory" else f"{store} ({neo4j.note if neo4j else ''})",
        "load_s": load_s,
        "server_ready_s": ready_s,
        "server_peak_rss_mib": server_rss,
        "neo4j_peak_rss_mib": neo4j_rss,
        "properties_checked": checked,
        "results": results,
    }


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


# --- goals and the table --------------------------------------------------------------------------


def judge(stores: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each goal with its figure: a list of {goal, store, scenario, figure, met}."""
    goals: list[dict[str, Any]] = []
    for s in stores:
        rows = {(r["scenario"], r["via"], r["mode"].split()[0]): r for r in s["results"]}
        if s["store"] == "memory" and (r := rows.get(("twin", "graphql", "closed"))):
            goals.append(
                {
                    "goal": f"(a) >= {GOAL_TWIN_RPS:,} req/s on the memory store",
                    "store": "memory",
                    "scenario": "twin",
                    "figure": f"{r['rps']:,.0f} req/s",
                    "met": r["rps"] >= GOAL_TWIN_RPS and not r["errors"],
                }
            )
        for key in ("twin", "hops"):
            if r := rows.get((key, "graphql", "open")):
                at = r["mode"].split()[1]
                goals.append(
                    {
                        "goal": f"{SCENARIOS[key][:3]} p99 <= {GOAL_OPEN_P99_MS:g} ms at {at}",
                        "store": s["store"],
                        "scenario": key,
                        "figure": f"p99 {r['p99_ms']:.1f} ms",
                        "met": r["p99_ms"] <= GOAL_OPEN_P99_MS and not r["errors"],
                    }
                )
        for key in SCENARIOS:
            g, c = rows.get((key, "graphql", "closed")), rows.get((key, "cypher", "closed"))
            if g and c and g["rps"] and c["rps"]:
                ratio = c["rps"] / g["rps"]
                g["graphql_over_cypher"] = ratio
                goals.append(
                    {
                        "goal": f"{SCENARIOS[key][:3]} GraphQL <= {GOAL_RATIO:g}x raw Cypher",
                        "store": s["store"],
                        "scenario": key,
                        "figure": f"{ratio:.2f}x ({g['rps']:,.0f} vs {c['rps']:,.0f} req/s; p50 "
                        f"{g['p50_ms']:.1f} vs {c['p50_ms']:.1f} ms)",
                        "met": ratio <= GOAL_RATIO,
                    }
                )
    return goals


def table(stores: list[dict[str, Any]]) -> Iterator[str]:
    header = (
        f"{'store':<7} {'scenario':<31} {'via':<8} {'mode':<13} {'requests':>9} {'req/s':>7} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'errors':>6}  cpu % (of one core)"
    )
    yield header
    yield "-" * len(header)
    for s in stores:
        for r in s["results"]:
            cpu = "  ".join(f"{name} {pct:.0f}" for name, pct in r["cpu_percent"].items())
            yield (
                f"{r['store']:<7} {SCENARIOS[r['scenario']]:<31} {r['via']:<8} {r['mode']:<13} "
                f"{r['requests']:>9,} {r['rps']:>7,.0f} {r['p50_ms']:>7.1f} {r['p99_ms']:>7.1f} "
                f"{r['max_ms']:>7.1f} {r['errors']:>6,}  {cpu}"
            )


# --- main -----------------------------------------------------------------------------------------


def finite(value: Any) -> Any:
    """``value`` with NaN (a run without one answer) as None, for strict JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # unwind through every cleanup, as Ctrl+C does


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--twins", type=int, default=20_000, help="twins in the demo graph (default 20,000)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario (default 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="uncounted seconds first (default 2)")
    parser.add_argument(
        "--settle",
        type=float,
        default=5.0,
        help="uncounted seconds of each query, GraphQL and Cypher, before any run (default 5)",
    )
    parser.add_argument("--concurrency", type=int, default=32, help="closed-loop workers (default 32)")
    parser.add_argument("--rate", type=float, default=200.0, help="open-loop requests/s (default 200)")
    parser.add_argument("--only", choices=("memory", "neo4j"), help="measure one store only")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--client",
        choices=("httpx", "raw"),
        default="httpx",
        help="GraphQL load generator: httpx.AsyncClient (default) or a minimal HTTP/1.1 client",
    )
    parser.add_argument("--neo4j-heap", default="2g", metavar="SIZE", help="Neo4j's heap (default 2g)")
    parser.add_argument("--sample", type=int, default=200, help="twins whose properties are checked first")
    parser.add_argument(
        "--start-timeout", type=float, default=600.0, help="seconds to wait for the server (default 600)"
    )
    args = parser.parse_args()
    if args.twins < 1 or args.duration <= 0 or args.concurrency < 1 or args.rate <= 0:
        parser.error("--twins, --duration, --concurrency and --rate must be positive")
    signal.signal(signal.SIGTERM, _terminate)

    load_before = os.getloadavg()[0]  # other work on the machine skews every figure: say so
    exp = expected_graph(args.twins, args.sample)
    # the expected graph is a large heap that lives to the end: out of the collector's reach, so that no
    # full collection stalls the load generator mid-run (up to 150 ms at 100k twins, counted into p99)
    gc.collect()
    gc.freeze()
    kinds = [args.only] if args.only else ["memory", "neo4j"]
    stores: list[dict[str, Any]] = []
    failed: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="dtgraph-bench-graphql-") as tmp:
        for kind in kinds:
            try:
                stores.append(run_store(kind, args, exp, Path(tmp) / kind))
            except (RuntimeError, WrongAnswer, OSError, subprocess.SubprocessError) as exc:
                failed[kind] = f"{type(exc).__name__}: {exc}"
                print(f"{kind}: could not run: {failed[kind]}", file=sys.stderr)

    goals = judge(stores)
    errors = sum(r["errors"] for s in stores for r in s["results"])
    if args.json:
        result = {
            "bench": "graphql_server",
            "twins": len(exp.ids),
            "relationships": exp.relationships,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "concurrency": args.concurrency,
            "client": args.client,
            "open_loop_rate": args.rate,
            "cpus": os.cpu_count(),
            "load_average_1min": {"before": load_before, "after": os.getloadavg()[0]},
            "stores": stores,
            "goals": goals,
            "failed": failed,
        }
        print(json.dumps(finite(result), indent=2, allow_nan=False, default=str))
    elif stores:
        print(
            f"graphql_server: dtgraph serve (1 uvicorn process) on the demo graph of {len(exp.ids):,} "
            f"twins and {exp.relationships:,} relationships, driven from a second process "
            f"({CLIENTS[args.client]}; {args.duration:g} s per run after {args.warmup:g} s warm-up); "
            f"{os.cpu_count()} CPUs shared by server, store and client (1-min load average "
            f"{load_before:.1f} before, {os.getloadavg()[0]:.1f} after)"
        )
        for s in stores:
            rss = f"server peak RSS {s['server_peak_rss_mib']:,.0f} MiB"
            if s["neo4j_peak_rss_mib"]:
                rss += f", Neo4j {s['neo4j_peak_rss_mib']:,.0f} MiB"
            print(
                f"{s['store']}: {s['location']}; demo loaded in {s['load_s']:.1f} s, server ready in "
                f"{s['server_ready_s']:.1f} s; {rss}; properties of {s['properties_checked']} twins checked"
            )
        for line in table(stores):
            print(line)
        print("goals:")
        for g in goals:
            print(f"  {g['store']:<7} {g['goal']:<44} {g['figure']:<52} {'met' if g['met'] else 'NOT met'}")
        for s in stores:
            for r in s["results"]:
                for message in r["first_errors"]:
                    print(f"  error {s['store']} {r['scenario']} {r['via']}: {message}")
    if errors:
        print(f"graphql_server: {errors:,} requests failed or were answered wrongly", file=sys.stderr)
    return 1 if failed or errors or not stores else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; the server and Neo4j were stopped", file=sys.stderr)
        sys.exit(130)
