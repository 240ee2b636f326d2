"""``dtgraph serve``: the GraphQL server (HTTP and WebSocket) under uvicorn, over the configured store.

Settings come from the options, ``DTGRAPH_*`` variables and ``--config FILE`` (see
:mod:`dtgraph.api.config`); ``--cascade-config FILE`` (setting ``cascade_config``) declares the failure
semantics of models of the user's own for the cascade and criticality queries. ``--demo`` loads the
shipped model library and the generated demo enterprise into an empty store, and opens anonymous read
access when the server listens on this machine only.
SIGINT and SIGTERM stop the server gracefully: requests in flight finish, then the store is closed
(the embedded store's journal with it) and the command returns 0.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dtgraph.commands.arguments import add_command, positive_int
from dtgraph.commands.cascade import add_cascade_config_option
from dtgraph.commands.store_options import add_store_options

if TYPE_CHECKING:
    from dtgraph.api.config import Settings
    from dtgraph.commands import Subparsers
    from dtgraph.stores.base import Store

__all__ = ["EXAMPLE_QUERIES", "register", "run"]

_LOCAL_HOSTS = frozenset(("127.0.0.1", "localhost", "::1"))

# Three queries that answer on the demo enterprise; the README's Quick start shows the same ones.
EXAMPLE_QUERIES: tuple[tuple[str, str], ...] = (
    (
        "machines in maintenance",
        "{ machines(first: 5, where: {status: {eq: maintenance}}) { edges { node { id name status } } } }",
    ),
    (
        "a machine's place in the hierarchy",
        '{ twin(id: "site-0-plant-0-line-0-machine-0") { id model ancestors { id model } } }',
    ),
    (
        "who supplies the parts a line consumes",
        '{ twin(id: "site-0-plant-0-line-0") { related(name: "consumes") { id '
        'related(name: "supplies", direction: IN) { id } } } }',
    ),
)

_DESCRIPTION = """\
Serve the graph over GraphQL: HTTP and WebSocket (graphql-transport-ws) at
/graphql, with GraphiQL for browsers; /healthz (the process is alive), /readyz
(the store answers; 503 otherwise) and /metrics (Prometheus).

Settings come from the options, then DTGRAPH_* environment variables, then the
--config file (TOML or JSON; see server/dtgraph.example.toml), then defaults:
the embedded store in ./dtgraph-data, listening on 127.0.0.1:8080. Requests to
/graphql need an API key ('Authorization: Bearer KEY', keys and roles from the
config) unless an anonymous role is configured.

--demo loads the shipped model library and the demo enterprise (--demo-twins
twins) on first start, when the store is empty, and - when the server listens
on this machine only (127.0.0.1, ::1, localhost) - lets anyone on this machine
read without a key (anonymous role 'reader'). The start-up banner says what
was loaded and who may read, and prints the GraphiQL URL and example queries.

SIGINT (Ctrl+C) and SIGTERM stop the server cleanly: requests in flight finish
and the store is closed."""

_EPILOG = """\
exit status:
  0  stopped by SIGINT or SIGTERM
  2  usage error, invalid settings or cascade configuration, the store unavailable, or the address in use

examples:
  dtgraph serve --demo                      # try it: then open the printed GraphiQL URL
  dtgraph serve --config server/dtgraph.toml
  DTGRAPH_NEO4J_PASSWORD=... dtgraph serve --store bolt://127.0.0.1:7687 --host 0.0.0.0"""


def register(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    """Add the ``serve`` command."""
    parser = add_command(
        subparsers,
        "serve",
        help="serve the graph over GraphQL (HTTP and WebSocket), with GraphiQL",
        description=_DESCRIPTION,
        epilog=_EPILOG,
    )
    parser.add_argument("--host", metavar="HOST", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, metavar="PORT", help="port to listen on (default 8080; 0: any free)"
    )
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="settings file, TOML or JSON (default: $DTGRAPH_CONFIG)"
    )
    add_cascade_config_option(parser)
    parser.add_argument(
        "--demo",
        action="store_true",
        help="load the model library and demo enterprise into an empty store; "
        "anonymous read access when listening on localhost",
    )
    parser.add_argument(
        "--demo-twins",
        type=positive_int,
        default=2000,
        metavar="N",
        help="demo size (default 2000)",
    )
    parser.add_argument(
        "--log-level",
        choices=("critical", "error", "warning", "info", "debug"),
        default="info",
        help="server log level (default info)",
    )
    add_store_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; return the exit status."""
    from dtgraph.api.config import ConfigError, load_settings
    from dtgraph.stores.errors import StoreError

    try:
        settings = load_settings(
            args.config,
            store=args.store,
            host=args.host,
            port=args.port,
            neo4j_user=args.neo4j_user,
            neo4j_password=args.neo4j_password,
            neo4j_database=args.neo4j_database,
            cascade_config=args.cascade_config,
        )
    except ConfigError as exc:
        return _fail(str(exc))
    notes: list[str] = []
    if args.demo:
        if settings.host in _LOCAL_HOSTS and settings.anonymous_role is None:
            settings = settings.model_copy(update={"anonymous_role": "reader"})
            notes.append("demo on this machine only: anyone here may read without a key (role 'reader')")
        elif settings.host not in _LOCAL_HOSTS:
            notes.append(f"demo on {settings.host}, reachable from other machines: no anonymous access")
    from dtgraph.api.app import open_settings_store

    try:
        store = open_settings_store(settings)
    except StoreError as exc:
        return _fail(f"cannot open the store {settings.store_location}: {exc}")
    from dtgraph.cascade import CascadeConfigError

    try:
        if args.demo:
            notes.insert(0, _load_demo(store, args.demo_twins))
        if settings.cascade_config is not None:
            notes.append(f"cascade analysis: failure semantics of {settings.cascade_config} too")
        return _serve(settings, store, notes, args.log_level)
    except StoreError as exc:
        return _fail(str(exc))
    except CascadeConfigError as exc:
        return _fail(f"invalid cascade configuration:\n{exc}")
    finally:
        store.close()


def _fail(message: str) -> int:
    print(f"dtgraph serve: {message}", file=sys.stderr)
    return 2


def _load_demo(store: Store, twins: int) -> str:
    """Load the demo enterprise if the store is empty; say what happened."""
    from dtgraph.demo import write_ndjson
    from dtgraph.graph.bulk import import_graph
    from dtgraph.stores.errors import StoreError

    if any(store.counts().values()):
        return "demo: the store is not empty, so nothing was loaded (the demo loads on first start only)"
    started = time.perf_counter()
    handle, spooled = tempfile.mkstemp(prefix="dtgraph-demo-", suffix=".ndjson")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            write_ndjson(out, twins=twins)
        report = import_graph(Path(spooled), store)
    finally:
        Path(spooled).unlink(missing_ok=True)
    if not report.ok:
        first = report.issues[0]
        raise StoreError(f"the demo enterprise was rejected: {first.code}: {first.message}")
    return (
        f"demo: loaded the model library and enterprise ({report.models} models, {report.twins:,} twins, "
        f"{report.relationships:,} relationships) in {time.perf_counter() - started:.1f} s"
    )


def _serve(settings: Settings, store: Store, notes: Sequence[str], log_level: str) -> int:
    import uvicorn

    from dtgraph.api.app import create_app
    from dtgraph.graph.service import TwinGraph

    app = create_app(settings, TwinGraph(store))
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=log_level,
        ws_max_size=settings.max_body_bytes,
        timeout_graceful_shutdown=5,
        lifespan="on",
    )

    class Server(uvicorn.Server):
        """uvicorn's server, with the banner once listening and no re-raised signal at the end."""

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                port = self.servers[0].sockets[0].getsockname()[1]
                print(_banner(settings, store, notes, port), flush=True)

        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            # uvicorn raises the signal again after shutting down, which would end the process before
            # the store is closed: handle SIGINT and SIGTERM as a request to stop, and return.
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            handled = (signal.SIGINT, signal.SIGTERM)
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    server = Server(config)
    try:
        server.run()
    except SystemExit as exc:  # uvicorn exits when it cannot listen; it has logged why
        return 2 if exc.code else 0
    return 0


def _banner(settings: Settings, store: Store, notes: Sequence[str], port: int) -> str:
    from dtgraph import __version__

    host = settings.host
    shown = f"[{host}]" if ":" in host else ("127.0.0.1" if host in ("0.0.0.0", "::") else host)
    base = f"http://{shown}:{port}"
    counts = store.counts()
    keys = len(settings.api_keys)
    if settings.anonymous_role is not None:
        access = f"without a key: role '{settings.anonymous_role}'; {keys} API key(s) configured"
    else:
        access = f"API key needed ('Authorization: Bearer KEY'); {keys} configured"
    lines = [
        "",
        f"dtgraph {__version__} serving {settings.store_location} ({counts['models']:,} models, "
        f"{counts['twins']:,} twins, {counts['relationships']:,} relationships)",
        *(f"  {note}" for note in notes),
        f"  GraphiQL:  {base}/graphql   (open it in a browser)",
        f"  access:    {access}",
        f"  health:    {base}/healthz   ready: {base}/readyz   metrics: {base}/metrics",
        "  example queries (paste into GraphiQL):",
        *(f"    # {title}\n    {query}" for title, query in EXAMPLE_QUERIES),
        "  stop with Ctrl+C",
        "",
    ]
    return "\n".join(lines)
