"""Which errors the server logs: its own failures with their traceback, never a client's mistakes.

A client can send any number of wrong requests; a log line with a traceback for each would bury the
server's own failures and let anyone fill the log. Each request here runs through the schema on both
stores; strawberry logs what ``DtSchema.process_errors`` passes on (logger ``strawberry.execution``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import pytest

from dtgraph.graph.records import Twin
from dtgraph.graph.service import TwinGraph
from tests.api.conftest import Api, CountingStore, codes, execute

TWIN = "query T($id: ID!) { twin(id: $id) { id } }"


class FailingStore(CountingStore):
    """A real store whose reads of twins by id fail as a broken store's would."""

    def get_twins(self, ids: Iterable[str]) -> dict[str, Twin]:
        raise RuntimeError("the disk is gone")

    def open_async_reads(self) -> Any:
        return None


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        (TWIN, {"id": None}),  # a variable that does not coerce
        (TWIN, {}),  # a missing variable
        ("query T($id: ID!) { twin(id: $id) { nope } }", {"id": "x"}),  # fails validation
        ("{ twins(first: 100000) { edges { node { id } } } }", {}),  # an ApiError (BAD_USER_INPUT)
        ('mutation { deleteTwins(ids: ["x"]) }', {}),  # a reader's mutation (FORBIDDEN)
        ("{ twin(id: ", {}),  # does not parse
    ],
)
def test_client_mistakes_are_not_logged(
    demo: Api, query: str, variables: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("DEBUG", logger="strawberry.execution"):
        result = execute(demo.holder, query, demo.graph, role="reader", **variables)
    assert codes(result)  # each answered with a coded error
    assert [r.getMessage() for r in caplog.records if r.name.startswith("strawberry")] == []


def test_server_failures_are_logged_with_their_traceback(demo: Api, caplog: pytest.LogCaptureFixture) -> None:
    failing = TwinGraph(FailingStore(demo.store))
    with caplog.at_level("DEBUG", logger="strawberry.execution"):
        result = execute(demo.holder, TWIN, failing, role="reader", id="x")
    assert codes(result) == ["INTERNAL_SERVER_ERROR"]
    logged = [r for r in caplog.records if r.name == "strawberry.execution"]
    assert len(logged) == 1 and logged[0].exc_info is not None
    assert "the disk is gone" in str(logged[0].exc_info[1])
    # with the frames it went through, though the request lets go of them once it is answered
    assert "in get_twins" in logging.Formatter().formatException(logged[0].exc_info)
