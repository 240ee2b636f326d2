"""Fixtures shared by the whole suite.

The shared corpora live beside the repository, at ``../shared``. A test that needs them fails
(never skips) when they are missing, and says where they were looked for.

- ``shared_dir``: the Path of ``../shared``.
- ``@pytest.mark.shared_files("corpora/.../*.json")``: parametrizes the test's ``shared_file``
  argument with every matching file (sorted; ids relative to the glob's directory).
- ``neo4j_uri``, ``neo4j_auth``: a real Neo4j 5.26, started once per session through ``scripts/neo4j``
  (or the one ``DTGRAPH_TEST_NEO4J_URI`` names; see ``tests/neo4j_server.py``). A test that uses them
  fails, never skips, when Neo4j cannot be started, and says how to start it.
- ``empty_store(kind, request, path)``: an empty memory store or the session's Neo4j, wiped.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import takewhile
from pathlib import Path

import pytest

from dtgraph.stores.base import Store
from dtgraph.stores.memory import MemoryStore
from tests import neo4j_server

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = REPO_ROOT.parent / "shared"


def _require_shared_dir() -> Path:
    if not SHARED_DIR.is_dir():
        pytest.fail(
            f"the shared corpora are missing: expected a directory at {SHARED_DIR} "
            "(../shared beside the repository root); check it out or link it there",
            pytrace=False,
        )
    return SHARED_DIR


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``../shared`` relative to the repository root; fails the test if it is missing."""
    return _require_shared_dir()


@pytest.fixture(scope="session")
def _neo4j(tmp_path_factory: pytest.TempPathFactory) -> Iterator[neo4j_server.Neo4jServer]:
    try:
        server = neo4j_server.from_env() or neo4j_server.start(tmp_path_factory.mktemp("neo4j"))
    except neo4j_server.Neo4jServerError as exc:
        error = str(exc)
    else:
        error = ""
    if error:
        pytest.fail(error, pytrace=False)
    yield server
    neo4j_server.stop(server)


@pytest.fixture(scope="session")
def neo4j_uri(_neo4j: neo4j_server.Neo4jServer) -> str:
    """The Bolt URI of the session's Neo4j 5.26 (``bolt://127.0.0.1:PORT``)."""
    return _neo4j.uri


@pytest.fixture(scope="session")
def neo4j_auth(_neo4j: neo4j_server.Neo4jServer) -> tuple[str, str] | None:
    """``(user, password)`` for ``neo4j_uri``, or None when that server has no authentication."""
    return _neo4j.auth


def empty_store(kind: str, request: pytest.FixtureRequest, path: Path) -> Store:
    """An empty store: ``"memory"`` in ``path``, or ``"neo4j"``, the session's real server wiped first."""
    if kind == "memory":
        return MemoryStore(path, fsync=False)
    from dtgraph.stores.neo4j import Neo4jStore

    uri: str = request.getfixturevalue("neo4j_uri")
    auth: tuple[str, str] | None = request.getfixturevalue("neo4j_auth")
    store = Neo4jStore(uri, auth=auth, database=None)  # the user's home database
    store.wipe()
    return store


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("shared_files")
    if marker is None:
        return
    (pattern,) = marker.args
    shared = _require_shared_dir()
    files = sorted(shared.glob(pattern))
    if not files:
        pytest.fail(f"no file under {shared} matches {pattern!r}", pytrace=False)
    base = shared / _glob_base(pattern)
    metafunc.parametrize("shared_file", files, ids=[f.relative_to(base).as_posix() for f in files])


def _glob_base(pattern: str) -> Path:
    """The leading directories of ``pattern`` that hold no wildcard."""
    directories = Path(pattern).parts[:-1]
    return Path(*takewhile(lambda part: not any(c in part for c in "*?["), directories))
