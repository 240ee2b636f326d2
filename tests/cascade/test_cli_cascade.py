"""``dtgraph cascade`` and ``dtgraph criticality`` on the demo enterprise in a memory store."""

from __future__ import annotations

import json

import pytest

from dtgraph.cli import main
from dtgraph.demo import write_ndjson
from dtgraph.graph.bulk import import_graph
from dtgraph.stores.memory import MemoryStore


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli")
    demo = path / "demo.ndjson"
    with demo.open("w", encoding="utf-8") as out:
        write_ndjson(out, twins=800, seed=7)
    store = MemoryStore(path / "data", fsync=False)
    import_graph(demo, store)
    store.close()
    return f"memory:{path / 'data'}"


def test_cascade_table(store_dir, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["cascade", "--fail", "site-0-power", "--horizon", "48", "--store", store_dir]) == 0
    out = capsys.readouterr().out
    assert "Failure of site-0-power" in out and "site-0-plant-0" in out and "Roll-up" in out


def test_cascade_json_with_samples(store_dir, capsys):
    args = ["cascade", "--fail", "supplier-1-0", "--fail", "site-0-grid", "--samples", "50", "--seed", "3"]
    assert main([*args, "--json", "--horizon", "500", "--store", store_dir]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["failed"] == ["supplier-1-0", "site-0-grid"] and doc["horizon"] == 500
    assert doc["impacts"][0]["chain"][0]["twin"] in doc["failed"]
    assert doc["monteCarlo"]["samples"] == 50 and doc["monteCarlo"]["seed"] == 3
    assert main([*args, "--json", "--horizon", "500", "--store", store_dir]) == 0
    assert json.loads(capsys.readouterr().out) == doc  # seeded: the same again


def test_criticality(store_dir, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["criticality", "--top", "5", "--store", store_dir]) == 0
    assert "Most critical twins" in capsys.readouterr().out
    assert main(["criticality", "--top", "3", "--json", "--store", store_dir]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["ranking"]) == 3 and doc["suppliers"]


def test_usage_errors(store_dir, capsys, tmp_path):
    assert main(["cascade", "--fail", "nope", "--store", store_dir]) == 2
    assert "no twin 'nope'" in capsys.readouterr().err
    assert main(["cascade", "--fail", "x", "--horizon", "-1", "--store", store_dir]) == 2
    assert main(["cascade", "--fail", "x", "--samples", "1000001", "--store", store_dir]) == 2
    assert main(["criticality", "--store", f"memory:{tmp_path / 'empty'}"]) == 2
    assert "no graph" in capsys.readouterr().err


def test_recovery_option(store_dir, capsys):
    base = ["cascade", "--fail", "supplier-1-0", "--horizon", "2000", "--json", "--store", store_dir]
    assert main(base) == 0
    permanent = json.loads(capsys.readouterr().out)
    assert main([*base, "--recovery"]) == 0
    recovering = json.loads(capsys.readouterr().out)
    assert recovering["valueAtRisk"] <= permanent["valueAtRisk"]
    assert recovering["impacts"][0]["recovered"] is not None  # the supplier itself comes back


def test_exports():
    import dtgraph.cascade

    assert set(dtgraph.cascade.__all__) == {
        "DEFAULT_HORIZON", "MAX_SAMPLES", "CascadeConfig", "CascadeConfigError", "CascadeResult",
        "Criticality", "CriticalityResult", "DependencyGraph",
        "Hit", "Impact", "MonteCarloResult", "Semantics", "Step", "SupplierExposure", "cascade",
        "criticality",
        "from_networkx", "from_records", "load_config", "monte_carlo", "read_config",
        "single_points_of_failure", "snapshot",
    }  # fmt: skip
    assert all(hasattr(dtgraph.cascade, name) for name in dtgraph.cascade.__all__)
