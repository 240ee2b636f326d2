"""``dtgraph import``, ``export`` and ``demo``: in-process through ``main``, and once as real processes."""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

import dtgraph
from dtgraph.cli import main
from dtgraph.stores.memory import JOURNAL_NAME
from dtgraph.stores.neo4j import Neo4jStore
from tests.graph.test_bulk import file_content, nested_lines, sections, twin, write_lines
from tests.terminal import on_terminal

PACKAGE_ROOT = Path(dtgraph.__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _no_store_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("DTGRAPH_STORE", "DTGRAPH_NEO4J_USER", "DTGRAPH_NEO4J_PASSWORD", "DTGRAPH_NEO4J_DATABASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # the default store, memory:dtgraph-data, lands here


def cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def journal(directory: Path) -> bytes:
    return (directory / JOURNAL_NAME).read_bytes()


@pytest.fixture
def demo_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    path = tmp_path / "demo.ndjson"
    code, out, err = cli(capsys, "demo", "--twins", "600", "--seed", "3", "-o", path)
    assert code == 0, err
    assert out == "" and "demo enterprise" in err
    return path


def test_import_then_export_round_trips(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, demo_file: Path
) -> None:
    code, out, err = cli(capsys, "import", demo_file, "--store", tmp_path / "g")
    assert code == 2 and "unknown store" in err  # a bare path is not a store
    code, out, err = cli(capsys, "import", demo_file, "--store", f"memory:{tmp_path / 'g'}")
    assert code == 0, err
    assert re.match(r"loaded \d+ models, 600 twins, [\d,]+ relationships into memory:.* entities/s\)\n", out)
    exported = tmp_path / "out.ndjson"
    code, out, err = cli(capsys, "export", "--store", f"memory:{tmp_path / 'g'}", "-o", exported)
    assert code == 0, err
    assert file_content(exported) == file_content(demo_file)
    code, out, err = cli(capsys, "export", "--store", f"memory:{tmp_path / 'g'}", "-q")
    assert code == 0 and err == ""
    assert sorted(out.splitlines()) == sorted(exported.read_text(encoding="utf-8").splitlines())


def test_nested_file_round_trips_through_the_default_store(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    source = write_lines(tmp_path / "nested.ndjson", nested_lines())
    assert cli(capsys, "import", source)[0] == 0
    assert (tmp_path / "dtgraph-data" / JOURNAL_NAME).is_file()
    code, _, _ = cli(capsys, "export", "-o", tmp_path / "back.ndjson")
    assert code == 0
    assert file_content(tmp_path / "back.ndjson") == file_content(source)


def test_a_rejected_file_prints_each_issue_with_its_line_and_writes_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, demo_file: Path
) -> None:
    store = f"memory:{tmp_path / 'g'}"
    assert cli(capsys, "import", demo_file, "--store", store)[0] == 0
    before = journal(tmp_path / "g")
    bad = write_lines(
        tmp_path / "bad.ndjson",
        sections(twins=[twin("n1", "dtmi:test:Nope;1"), "{oops", twin("n1")]),
    )
    code, out, err = cli(capsys, "import", bad, "--store", store)
    assert code == 1, err
    lines = out.splitlines()
    assert lines[:3] == [
        f"{bad}:5: unknownModel: twin 'n1': model 'dtmi:test:Nope;1' is not defined",
        f"{bad}:6: malformedJson: " + lines[1].split(": ", 2)[2],
        f"{bad}:7: duplicateTwin: twin 'n1' is also on line 5",
    ]
    assert lines[3].startswith("rejected: 3 problems") and "nothing was written" in lines[3]
    assert journal(tmp_path / "g") == before


def test_many_issues_are_cut_short_in_text_but_all_in_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = write_lines(tmp_path / "bad.ndjson", sections(twins=["[]"] * 120))
    code, out, _ = cli(capsys, "import", bad, "--store", "memory:")
    assert code == 1
    lines = out.splitlines()
    assert len([line for line in lines if ": invalidRecord: " in line]) == 50
    assert "... and 70 more" in out
    code, out, err = cli(capsys, "import", bad, "--store", "memory:", "--json")
    assert code == 1 and err == ""
    report = json.loads(out)
    assert report["ok"] is False and report["written"] is False
    assert [i["line"] for i in report["issues"]] == list(range(5, 125))
    assert {i["code"] for i in report["issues"]} == {"invalidRecord"}


def test_dry_run(capsys: pytest.CaptureFixture[str], tmp_path: Path, demo_file: Path) -> None:
    store = f"memory:{tmp_path / 'g'}"
    code, out, _ = cli(capsys, "import", "--dry-run", demo_file, "--store", store, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["ok"] and not report["written"] and report["dryRun"]
    assert report["twins"] == 600 and report["entitiesPerSecond"] > 0
    assert journal(tmp_path / "g") == b"dtgraph journal 1\n"


def test_import_from_standard_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, demo_file: Path
) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    bad = b'{"Section": "Header"}\n{"fileVersion": "1.0.0"}\n{"Section": "Twins"}\n\n[1]\n'
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(bad)))
    code, out, _ = cli(capsys, "import", "-", "--store", "memory:")
    assert code == 1
    assert out.startswith("<stdin>:5: invalidRecord: ")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(demo_file.read_bytes())))
    code, out, _ = cli(capsys, "import", "-", "--store", f"memory:{tmp_path / 'g'}")
    assert code == 0 and "600 twins" in out
    assert list(spool.iterdir()) == []  # the spooled copy is gone


def test_usage_and_io_errors_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, demo_file: Path
) -> None:
    code, _, err = cli(capsys, "import", tmp_path / "missing.ndjson")
    assert code == 2 and "missing.ndjson: no such file" in err
    code, _, err = cli(capsys, "import", demo_file, "--store", "sqlite:x.db")
    assert code == 2 and "unknown store 'sqlite:x.db'" in err
    code, _, err = cli(capsys, "export", "--store", f"memory:{tmp_path / 'nothing'}")
    assert code == 2 and "no graph in" in err
    assert not (tmp_path / "nothing").exists()
    code, _, err = cli(capsys, "demo", "-o", tmp_path / "a.ndjson", "--store", "memory:")
    assert code == 2 and "not allowed with" in err
    code, _, err = cli(capsys, "demo", "--twins", "0")
    assert code == 2 and "at least 1" in err
    assert cli(capsys, "import")[0] == 2


def test_an_unreachable_neo4j_says_how_to_start_one(
    capsys: pytest.CaptureFixture[str], demo_file: Path
) -> None:
    uri = f"bolt://127.0.0.1:{free_port()}"
    code, out, err = cli(capsys, "import", demo_file, "--store", uri, "--neo4j-password", "x")
    assert code == 2 and out == ""
    assert f"cannot connect to Neo4j at {uri}" in err and "scripts/neo4j start" in err


def test_help_names_exit_codes_and_stores(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("import", "export", "demo"):
        code, out, _ = cli(capsys, command, "--help")
        assert code == 0
        assert "exit status:" in out and "memory:DIR" in out and "--neo4j-password" in out


def test_demo_writes_the_same_file_for_a_seed(capsys: pytest.CaptureFixture[str], demo_file: Path) -> None:
    code, out, _ = cli(capsys, "demo", "--twins", "600", "--seed", "3")
    assert code == 0
    assert out == demo_file.read_text(encoding="utf-8")


def _credentials(auth: tuple[str, str] | None) -> list[str]:
    return [] if auth is None else ["--neo4j-user", auth[0], "--neo4j-password", auth[1]]


def test_demo_into_neo4j_then_export_and_reimport(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    neo4j_uri: str,
    neo4j_auth: tuple[str, str] | None,
    demo_file: Path,
) -> None:
    with Neo4jStore(neo4j_uri, auth=neo4j_auth) as store:
        store.wipe()
    creds = _credentials(neo4j_auth)
    code, out, err = cli(capsys, "demo", "--twins", "600", "--seed", "3", "--store", neo4j_uri, *creds)
    assert code == 0, err
    assert f"into {neo4j_uri}" in out
    exported = tmp_path / "neo4j.ndjson"
    assert cli(capsys, "export", "--store", neo4j_uri, *creds, "-o", exported)[0] == 0
    assert file_content(exported) == file_content(demo_file)
    code, out, _ = cli(capsys, "import", exported, "--store", neo4j_uri, *creds, "--json")
    assert code == 0
    assert json.loads(out)["written"] is True  # the same graph again: every record replaced by itself
    with Neo4jStore(neo4j_uri, auth=neo4j_auth) as store:
        assert store.counts()["twins"] == 600


def run_cli(
    *args: str | Path, stdin: Any = None, stderr: int = subprocess.PIPE
) -> subprocess.CompletedProcess[bytes]:
    path = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "dtgraph", *map(str, args)],
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=stderr,
        env={**os.environ, "PYTHONPATH": path},
        timeout=300,
        check=False,
    )


def test_demo_piped_into_import_as_processes(tmp_path: Path) -> None:
    demo = run_cli("demo", "--twins", "400")
    assert demo.returncode == 0, demo.stderr
    with (tmp_path / "piped.ndjson").open("wb+") as spool:
        spool.write(demo.stdout)
        spool.seek(0)
        loaded = run_cli("import", "-", "--store", f"memory:{tmp_path / 'g'}", "--json", stdin=spool)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stderr == b""  # not a terminal: no progress bar
    report = json.loads(loaded.stdout)
    assert report["ok"] and report["written"] and report["twins"] == 400 and report["file"] == "<stdin>"


def test_progress_bar_on_a_terminal_leaves_stdout_clean(tmp_path: Path) -> None:
    demo = tmp_path / "demo.ndjson"
    assert run_cli("demo", "--twins", "3000", "-o", demo).returncode == 0
    store = f"memory:{tmp_path / 'g'}"
    result, shown = on_terminal(lambda fd: run_cli("import", demo, "--store", store, stderr=fd))
    assert result.returncode == 0
    assert re.match(r"loaded \d+ models, 3,000 twins, ", result.stdout.decode())
    assert b"Importing" in shown or b"Committing" in shown
