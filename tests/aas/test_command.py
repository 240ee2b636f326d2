"""``dtgraph aas import``: the report, --dry-run, --json, --strict, --supplier and the exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dtgraph.cli import main
from tests.aas.builders import package, rels
from tests.aas.conftest import MOTOR, PUMP
from tests.aas.test_mapping import PUMP_TWIN


@pytest.fixture(autouse=True)
def _no_store_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("DTGRAPH_STORE", "DTGRAPH_NEO4J_USER", "DTGRAPH_NEO4J_PASSWORD", "DTGRAPH_NEO4J_DATABASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_dry_run_prints_the_diff_then_import_then_reimport(capsys, tmp_path: Path):
    store = f"memory:{tmp_path / 'graph'}"
    code, out, _ = cli(capsys, "aas", "import", "--dry-run", "--store", store, PUMP, MOTOR)
    assert code == 0, out
    assert f'+ twin {PUMP_TWIN} AssetAdministrationShell "Centrifugal pump P-100"' in out
    assert f"+ relationship {PUMP_TWIN}/hasPart-" in out
    assert out.splitlines()[-1].startswith("dry run: 8 created, 0 updated, 0 removed, 0 unchanged")
    assert "nothing was written" in out

    code, out, _ = cli(capsys, "aas", "import", "--store", store, PUMP, MOTOR)
    assert code == 0 and out.splitlines()[-1].startswith(f"imported into {store}: 8 created")
    assert "model dtmi" not in out  # the library models are added silently

    code, out, _ = cli(capsys, "aas", "import", "--store", store, PUMP, MOTOR)
    assert code == 0 and "0 created, 0 updated, 0 removed, 8 unchanged" in out


def test_json_report(capsys, tmp_path: Path):
    code, out, _ = cli(capsys, "aas", "import", "--json", "--supplier", "supplier-7", PUMP)
    assert code == 0
    report = json.loads(out)
    assert report["ok"] and report["written"] and report["store"] == "memory:dtgraph-data"
    assert report["created"] == 7 and report["errors"] == 0 and report["warningList"] == []
    assert {c["id"] for c in report["changes"] if c["kind"] == "twin"} >= {"supplier-7", PUMP_TWIN}


def test_errors_exit_1_and_write_nothing(capsys, tmp_path: Path):
    broken = tmp_path / "no-origin.aasx"
    broken.write_bytes(package(root_rels=rels()))
    code, out, _ = cli(capsys, "aas", "import", "--store", f"memory:{tmp_path / 'g'}", PUMP, broken)
    assert code == 1
    assert f"error: {broken}: package: the package has no aasx-origin relationship" in out
    assert out.splitlines()[-1].startswith("rejected:") and "nothing was written" in out
    code, out, _ = cli(capsys, "aas", "import", "--json", "--store", f"memory:{tmp_path / 'g'}", PUMP)
    assert json.loads(out)["created"] == 7  # the rejected import left nothing behind


def test_strict_turns_violations_into_errors(capsys, shared_dir: Path):
    template = shared_dir / (
        "corpora/aas/idta-submodel-templates/published/Digital nameplate/3/0/1/"
        "IDTA 02006-3-0-1_Template_Digital Nameplate.aasx"
    )
    code, out, _ = cli(capsys, "aas", "import", "--strict", "--dry-run", template)
    assert code == 1 and out.count("error: ") == 6 and "constraint: Description must specify unique" in out
    code, out, _ = cli(capsys, "aas", "import", "--dry-run", template)
    assert code == 0 and out.count("warning: ") == 6


def test_usage_errors_exit_2(capsys, tmp_path: Path):
    code, _, err = cli(capsys, "aas", "import")
    assert code == 2 and "FILE" in err
    code, _, err = cli(capsys, "aas", "import", "--store", "nowhere:x", PUMP)
    assert code == 2 and "dtgraph aas import: error:" in err


def test_a_missing_file_is_an_error(capsys, tmp_path: Path):
    code, out, _ = cli(capsys, "aas", "import", tmp_path / "missing.aasx")
    assert code == 1 and "io: cannot read the file" in out


def test_help(capsys):
    code, out, _ = cli(capsys, "aas", "import", "--help")
    assert code == 0
    for text in ("--supplier ID", "--strict", "--dry-run", "--json", "--store", "exit status", "V3.1"):
        assert text in out
