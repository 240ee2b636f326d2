"""``--cascade-config`` on ``dtgraph cascade`` and ``dtgraph criticality``: a user model end to end."""

from __future__ import annotations

import json

import pytest

from dtgraph.cli import main
from dtgraph.graph.bulk import import_graph
from dtgraph.stores.memory import MemoryStore
from tests.cascade.usermodel import FEEDER_FAILS, STATION, write_config, write_import_file


@pytest.fixture(scope="module")
def acme(tmp_path_factory):
    """The acme plant in a memory store, and its configuration file: (--store text, config path)."""
    folder = tmp_path_factory.mktemp("acme")
    store = MemoryStore(folder / "data", fsync=False)
    report = import_graph(write_import_file(folder), store)
    assert report.ok, report.issues[:3]
    store.close()
    return f"memory:{folder / 'data'}", write_config(folder)


def test_cascade_with_the_configuration(acme, capsys):
    store, config = acme
    args = ["cascade", "--fail", "feeder", "--horizon", "24", "--json", "--store", store]
    assert main([*args, "--cascade-config", str(config)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert {i["twin"]: i["time"] for i in doc["impacts"]} == FEEDER_FAILS
    assert doc["customers"] == {"Globex": 1000.0}
    assert main(args) == 0  # without it, the acme relationships carry nothing
    assert [i["twin"] for i in json.loads(capsys.readouterr().out)["impacts"]] == ["feeder"]


def test_the_environment_names_the_default(acme, capsys, monkeypatch):
    store, config = acme
    monkeypatch.setenv("DTGRAPH_CASCADE_CONFIG", str(config))
    monkeypatch.setenv("COLUMNS", "200")
    assert main(["cascade", "--fail", "feeder", "--horizon", "24", "--store", store]) == 0
    out = capsys.readouterr().out
    assert "contract" in out and "Globex" in out
    assert main(["criticality", "--top", "3", "--json", "--store", store]) == 0
    ranking = json.loads(capsys.readouterr().out)["ranking"]
    assert ranking[0]["twin"] in FEEDER_FAILS and ranking[0]["valueAtRisk"] >= 1000.0


def test_an_invalid_configuration_is_a_usage_error(acme, capsys, tmp_path):
    store, _ = acme
    bad = write_config(
        tmp_path,
        f'[[relationship]]\ninterface = "{STATION}"\nname = "fedBy"\ndirection = "up"\nkind = "material"\n'
        '\n[[interface]]\nid = "dtmi:acme:Nope;1"\n',
    )
    for command in (["cascade", "--fail", "feeder"], ["criticality"]):
        assert main([*command, "--cascade-config", str(bad), "--store", store]) == 2
        err = capsys.readouterr().err
        assert "invalid cascade configuration" in err
        assert f"{bad}:4: invalidDirection" in err and f"{bad}:8: unknownInterface" in err
