"""The ``--store`` options shared by the commands that read or write a graph, and opening that store.

``--store`` takes ``memory:DIR`` (the embedded store, its journal in DIR; the default is
``memory:dtgraph-data``) or a Neo4j URI. Credentials come from ``--neo4j-user``, ``--neo4j-password``
and ``--neo4j-database`` or, when an option is not given, from ``DTGRAPH_NEO4J_USER``,
``DTGRAPH_NEO4J_PASSWORD`` and ``DTGRAPH_NEO4J_DATABASE`` (see :mod:`dtgraph.stores.location`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dtgraph.stores.base import Store
from dtgraph.stores.errors import StoreError, StoreUnavailable
from dtgraph.stores.location import DEFAULT_LOCATION, StoreLocation, open_store

__all__ = [
    "STORE_EPILOG",
    "STORE_HELP",
    "StoreOpenError",
    "add_store_options",
    "location_of",
    "open_from_args",
]

STORE_EPILOG = f"""\
store:
  memory:DIR       the embedded store, its journal in DIR (default {DEFAULT_LOCATION},
                   or $DTGRAPH_STORE); 'memory:' alone keeps nothing on disk
  bolt://HOST:PORT a Neo4j 5 server (also neo4j://, neo4j+s:// for Aura); credentials from
                   --neo4j-user/--neo4j-password or DTGRAPH_NEO4J_USER/DTGRAPH_NEO4J_PASSWORD;
                   for a local development server run 'scripts/neo4j start'"""


class StoreOpenError(Exception):
    """The store named on the command line cannot be opened; the message says what to do."""


STORE_HELP = (
    f"memory:DIR or a Neo4j URI such as bolt://127.0.0.1:7687 (default: $DTGRAPH_STORE or {DEFAULT_LOCATION})"
)


def add_store_options(parser: argparse.ArgumentParser, *, store: bool = True) -> None:
    """Add ``--store`` (unless ``store`` is False: the command adds its own) and the Neo4j options."""
    group = parser.add_argument_group("store")
    if store:
        group.add_argument("--store", metavar="STORE", help=STORE_HELP)
    group.add_argument(
        "--neo4j-user", metavar="USER", help="Neo4j user (default: $DTGRAPH_NEO4J_USER, else neo4j)"
    )
    group.add_argument(
        "--neo4j-password",
        metavar="PASSWORD",
        help="Neo4j password (default: $DTGRAPH_NEO4J_PASSWORD; prefer the variable, which stays out of "
        "shell history)",
    )
    group.add_argument(
        "--neo4j-database",
        metavar="NAME",
        help="Neo4j database (default: $DTGRAPH_NEO4J_DATABASE, else the user's home database)",
    )


def location_of(args: argparse.Namespace) -> StoreLocation:
    """The store location the options name (raises StoreOpenError for an unknown kind of store)."""
    try:
        return StoreLocation.parse(
            args.store,
            user=args.neo4j_user,
            password=args.neo4j_password,
            database=args.neo4j_database,
        )
    except StoreError as exc:
        raise StoreOpenError(str(exc)) from exc


def open_from_args(args: argparse.Namespace, *, must_exist: bool = False) -> tuple[Store, StoreLocation]:
    """Open the store the options name; ``must_exist`` refuses a memory store with no journal yet.

    Raises StoreOpenError with a message that says how to fix the problem.
    """
    location = location_of(args)
    if must_exist and location.kind == "memory" and location.target:
        from dtgraph.stores.memory import JOURNAL_NAME

        if not (Path(location.target) / JOURNAL_NAME).is_file():
            raise StoreOpenError(
                f"no graph in {location}: {Path(location.target) / JOURNAL_NAME} does not exist "
                "(import one with 'dtgraph import FILE --store ...' or name another --store)"
            )
    try:
        return open_store(location), location
    except StoreError as exc:
        raise StoreOpenError(f"{exc}{_hint(exc, location)}") from exc


def _hint(exc: StoreError, location: StoreLocation) -> str:
    if location.kind == "memory":
        if "in use" in str(exc):
            return (
                "\n  hint: another dtgraph process has this data directory open: "
                "stop it, or use another --store"
            )
        return ""
    if not isinstance(exc, StoreUnavailable):
        return ""
    text = str(exc).lower()
    if "unauthorized" in text or "authentication" in text or "credentials" in text:
        missing = " (no password was given)" if location.password is None else ""
        return (
            f"\n  hint: Neo4j refused the credentials{missing}: set --neo4j-user/--neo4j-password or "
            "DTGRAPH_NEO4J_USER/DTGRAPH_NEO4J_PASSWORD (the development server of 'scripts/neo4j start' "
            "uses neo4j / dtgraph-dev)"
        )
    return (
        f"\n  hint: is Neo4j running at {location.target}? Start a local one with 'scripts/neo4j start' "
        "(it prints its bolt:// URI), or use the embedded store with --store memory:DIR"
    )
