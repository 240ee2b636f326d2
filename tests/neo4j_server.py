"""A real Neo4j for the tests, started through ``scripts/neo4j`` (the launcher in ``server/neo4j``).

``start(workdir)`` starts Neo4j Community 5.26 on a free port of 127.0.0.1 with its store under
``workdir`` and a small heap and page cache, waits until Bolt answers a query, and returns a
``Neo4jServer``; ``stop(server)`` shuts it down. With ``DTGRAPH_TEST_NEO4J_URI`` set, ``from_env()``
returns that server instead and nothing is started or stopped:

- ``DTGRAPH_TEST_NEO4J_URI``       e.g. ``bolt://127.0.0.1:7687`` after ``scripts/neo4j start``
- ``DTGRAPH_TEST_NEO4J_USER``      default ``neo4j``
- ``DTGRAPH_TEST_NEO4J_PASSWORD``  default ``dtgraph-dev``, the password ``scripts/neo4j`` gives
- ``DTGRAPH_TEST_NEO4J_AUTH=none`` for a server without authentication

Failures raise ``Neo4jServerError`` with the launcher's output and what to do about it.
"""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import neo4j

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "scripts" / "neo4j"
USER = "neo4j"
DEV_PASSWORD = "dtgraph-dev"
HEAP = "512m"
PAGECACHE = "128m"
START_TIMEOUT_S = 180
HOW_TO = (
    "The Neo4j tests need a real Neo4j 5.26. Run scripts/install (it builds the launcher in server/neo4j "
    "from Maven Central; Java 17 and Maven are needed), check that `scripts/neo4j start` works, "
    "or point DTGRAPH_TEST_NEO4J_URI (with DTGRAPH_TEST_NEO4J_USER / DTGRAPH_TEST_NEO4J_PASSWORD) "
    "at a running Neo4j 5."
)


class Neo4jServerError(RuntimeError):
    """Neo4j could not be started, reached or stopped; the message says why and what to do."""


@dataclass(frozen=True)
class Neo4jServer:
    uri: str
    auth: tuple[str, str] | None
    run_dir: Path | None = None  # None: not ours to stop

    @property
    def log(self) -> Path | None:
        return None if self.run_dir is None else self.run_dir / "neo4j.log"


def from_env() -> Neo4jServer | None:
    """The server named by ``DTGRAPH_TEST_NEO4J_URI``, checked to answer; None when it is unset."""
    uri = os.environ.get("DTGRAPH_TEST_NEO4J_URI")
    if not uri:
        return None
    auth: tuple[str, str] | None = None
    if os.environ.get("DTGRAPH_TEST_NEO4J_AUTH") != "none":
        auth = (
            os.environ.get("DTGRAPH_TEST_NEO4J_USER", USER),
            os.environ.get("DTGRAPH_TEST_NEO4J_PASSWORD", DEV_PASSWORD),
        )
    server = Neo4jServer(uri, auth)
    _check(server, f"DTGRAPH_TEST_NEO4J_URI={uri}")
    return server


def start(workdir: Path, attempts: int = 3) -> Neo4jServer:
    """Start a Neo4j of our own under ``workdir``; retries on another port if the chosen one was taken."""
    output = ""
    for attempt in range(attempts):
        port = _free_port()
        run_dir = workdir / f"run-{port}"
        server = Neo4jServer(f"bolt://127.0.0.1:{port}", (USER, DEV_PASSWORD), run_dir)
        result = _script(
            "start",
            *("--port", str(port), "--data", str(workdir / f"data-{port}"), "--run", str(run_dir)),
            *("--heap", HEAP, "--pagecache", PAGECACHE, "--password", DEV_PASSWORD),
            *("--owner", str(os.getpid())),  # a test run killed before its teardown leaves no server
            *("--timeout", str(START_TIMEOUT_S)),
            timeout=START_TIMEOUT_S + 120,  # the first start may also build the launcher
        )
        if result.returncode == 0:
            try:
                _check(server, f"scripts/neo4j start --port {port}")
            except Neo4jServerError:
                stop(server)
                raise
            return server
        output = result.stdout
        if "Address already in use" not in output or attempt == attempts - 1:
            break
    raise Neo4jServerError(f"scripts/neo4j start failed:\n{output.rstrip()}\n\n{HOW_TO}")


def stop(server: Neo4jServer) -> None:
    """Stop a server that ``start`` started (cleanly); a server from the environment is left alone."""
    if server.run_dir is None:
        return
    result = _script("stop", "--run", str(server.run_dir), timeout=120)
    if result.returncode != 0:
        raise Neo4jServerError(f"scripts/neo4j stop failed:\n{result.stdout.rstrip()}")


def _script(*args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    # The caller's own DTGRAPH_NEO4J_* settings (for a developer's server) must not reach the test server.
    env = {k: v for k, v in os.environ.items() if not k.startswith("DTGRAPH_NEO4J_")}
    try:
        return subprocess.run(
            [str(SCRIPT), *args],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Neo4jServerError(f"{SCRIPT} {' '.join(args)}: {exc}\n\n{HOW_TO}") from exc


def _check(server: Neo4jServer, origin: str) -> None:
    try:
        with neo4j.GraphDatabase.driver(server.uri, auth=server.auth) as driver:
            driver.verify_connectivity()
    except Exception as exc:  # the driver's errors have no common base besides Exception
        message = f"Neo4j at {server.uri} ({origin}) does not answer: {exc}"
        raise Neo4jServerError(f"{message}\n\n{HOW_TO}") from exc


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
