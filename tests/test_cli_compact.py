"""``dtgraph compact``: a snapshot of a memory store's data directory, and the graph it opens to."""

from __future__ import annotations

from pathlib import Path

import pytest

from dtgraph.stores.memory import MemoryStore
from tests.test_cli_graph import _no_store_from_the_environment, cli, demo_file  # noqa: F401 - fixtures


def test_compact_writes_a_snapshot_the_store_opens_to(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    demo_file: Path,  # noqa: F811
) -> None:
    store = f"memory:{tmp_path / 'data'}"
    assert cli(capsys, "import", demo_file, "--store", store, "-q")[0] == 0
    with MemoryStore(tmp_path / "data") as before:
        counts, snapshot = before.counts(), sorted(map(repr, before.snapshot()))
    code, _, err = cli(capsys, "compact", "--store", store)
    assert code == 0 and "wrote a snapshot" in err, err
    assert (tmp_path / "data" / "snapshot.dts").exists()
    code, _, err = cli(capsys, "compact", "--store", store)
    assert code == 0 and "up to date" in err
    with MemoryStore(tmp_path / "data") as after:
        assert after.counts() == counts
        assert sorted(map(repr, after.snapshot())) == snapshot


def test_compact_refuses_what_is_not_a_memory_store_with_a_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = cli(capsys, "compact", "--store", f"memory:{tmp_path / 'none'}")
    assert code == 2 and "no graph" in err
    code, _, err = cli(capsys, "compact", "--store", "memory:")
    assert code == 2 and "not a memory store with a data directory" in err
