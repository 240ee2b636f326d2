"""Tests of the ``dtgraph`` command line: in-process through ``main`` (fast), and as a real process."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import dtgraph
from dtgraph.cli import main
from tests.terminal import on_terminal

PACKAGE_ROOT = Path(dtgraph.__file__).resolve().parents[1]  # run the same code the tests import
BOM = b"\xef\xbb\xbf"


def interface(dtmi: str, version: int = 3, **members: object) -> dict[str, object]:
    return {"@context": f"dtmi:dtdl:context;{version}", "@id": dtmi, "@type": "Interface", **members}


THERMOSTAT = interface(
    "dtmi:com:example:Thermostat;1",
    contents=[{"@type": "Property", "name": "targetTemperature", "schema": "double", "writable": True}],
)


def write(path: Path, content: object) -> Path:
    """Write ``content``: bytes as they are, str as UTF-8, anything else as indented JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_text(json.dumps(content, indent=2), encoding="utf-8")
    return path


def run_cli(*args: str | Path, stderr: int = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    """Run ``python -m dtgraph`` with ``args``; ``stderr`` may be a file descriptor (a terminal)."""
    path = os.pathsep.join(filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "dtgraph", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env={**os.environ, "PYTHONPATH": path},
        timeout=300,
        check=False,
    )


def validate(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    code = main(["validate", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def validate_json(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, dict[str, Any]]:
    code, out, _ = validate(capsys, "--json", *args)
    report = json.loads(out)  # the whole of stdout is one JSON object
    assert isinstance(report, dict)
    return code, report


def codes(report: dict[str, Any]) -> list[str]:
    return [error["code"] for error in report["errors"]]


# --- the command line itself ----------------------------------------------------------------------


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"dtgraph {dtgraph.__version__}\n"
    result = run_cli("--version")
    assert (result.returncode, result.stdout) == (0, f"dtgraph {dtgraph.__version__}\n")


def test_help_names_the_commands_and_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    assert "validate" in capsys.readouterr().out
    assert main(["validate", "--help"]) == 0
    text = capsys.readouterr().out
    for option in [
        "--json",
        "--version N",
        "--resolve-from DIR",
        "--allow-undefined-extensions",
        "--quiet",
        "exit status",
    ]:
        assert option in text


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "validate" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        ["validate"],
        ["validate", "--version", "5", "x.json"],
        ["frobnicate"],
        ["validate", "--bogus", "x.json"],
    ],
)
def test_bad_arguments_are_usage_errors(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and "usage:" in err


def test_missing_path_exits_2_and_prints_nothing_on_stdout(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = validate(capsys, "--json", tmp_path / "nowhere.json")
    assert (code, out) == (2, "")
    assert "nowhere.json" in err and "no such file or folder" in err


def test_folder_without_json_files_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    write(tmp_path / "notes.txt", "nothing here")
    code, out, err = validate(capsys, tmp_path)
    assert (code, out) == (2, "")
    assert "no *.json files" in err


def test_resolve_from_must_be_a_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    model = write(tmp_path / "m.json", THERMOSTAT)
    code, _, err = validate(capsys, "--resolve-from", tmp_path / "absent", model)
    assert code == 2
    assert "--resolve-from" in err


# --- validating -----------------------------------------------------------------------------------


def test_valid_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    model = write(tmp_path / "thermostat.json", THERMOSTAT)
    code, out, _ = validate(capsys, model)
    assert code == 0
    assert re.fullmatch(r"1 interfaces, \d+ elements: valid\n", out)


def test_quiet_prints_nothing_when_valid(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    model = write(tmp_path / "thermostat.json", THERMOSTAT)
    assert validate(capsys, "--quiet", model) == (0, "", "")


def test_bom_is_accepted(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    model = write(tmp_path / "bom.json", BOM + json.dumps(THERMOSTAT).encode())
    assert validate(capsys, model)[0] == 0


def test_array_of_interfaces_in_one_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    model = write(tmp_path / "two.json", [THERMOSTAT, interface("dtmi:com:example:Room;1")])
    code, out, _ = validate(capsys, model)
    assert code == 0
    assert out.startswith("2 interfaces, ")


def test_json_syntax_error_is_printed_with_line_and_column(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    model = write(
        tmp_path / "broken model.json", '{\n  "@id": "dtmi:com:example:A;1"\n  "@type": "Interface"\n}'
    )
    code, out, _ = validate(capsys, model)
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith(f"{model}:3:3: invalidJson: ")
    assert lines[-1] == "1 error in 1 file"


def test_non_utf8_file_is_reported(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    model = write(
        tmp_path / "latin1.json",
        json.dumps(interface("dtmi:com:example:Café;1"), ensure_ascii=False).encode("latin-1"),
    )
    code, out, _ = validate(capsys, model)
    assert code == 1
    assert f"{model}:1:" in out and ": invalidEncoding: " in out


def test_errors_are_sorted_by_file_then_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    write(tmp_path / "b.json", "{\n\n  oops\n}")
    write(tmp_path / "a.json", "[1,\n 2,,\n]")
    write(tmp_path / "c.json", THERMOSTAT)
    code, out, _ = validate(capsys, tmp_path)
    assert code == 1
    lines = out.splitlines()
    assert lines[0].startswith(f"{tmp_path / 'a.json'}:2:")
    assert lines[1].startswith(f"{tmp_path / 'b.json'}:3:")
    assert lines[-1] == "2 errors in 2 files"


def test_json_report(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    model = write(tmp_path / "m.json", "[\n  1,\n  }")
    code, report = validate_json(capsys, model)
    assert code == 1
    assert report["valid"] is False
    assert report.keys() == {"valid", "interfaces", "elements", "errors"}
    (error,) = report["errors"]
    assert {
        "code",
        "message",
        "file",
        "line",
        "column",
        "pointer",
        "primaryId",
        "property",
        "value",
    } <= error.keys()
    assert (error["code"], error["file"], error["line"], error["column"]) == ("invalidJson", str(model), 3, 3)

    write(model, THERMOSTAT)
    code, report = validate_json(capsys, model)
    assert (code, report["valid"], report["interfaces"], report["errors"]) == (0, True, 1, [])
    assert isinstance(report["elements"], int)


def test_required_dtdl_version(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    v2 = write(tmp_path / "v2.json", interface("dtmi:com:example:Old;1", version=2))
    v3 = write(
        tmp_path / "v3.json", [interface("dtmi:com:example:New;1"), interface("dtmi:com:example:Newer;1")]
    )
    assert validate(capsys, "--version", "3", v3)[0] == 0
    code, out, _ = validate(capsys, "--version", "3", tmp_path)
    assert code == 1
    (line,) = [line for line in out.splitlines() if "disallowedContextVersion" in line]
    assert line.startswith(f"{v2}:2:15: disallowedContextVersion: ")
    assert "dtmi:dtdl:context;2" in line

    code, report = validate_json(capsys, "--version", "2", v3)
    assert code == 1
    assert codes(report) == ["disallowedContextVersion", "disallowedContextVersion"]
    assert [e["pointer"] for e in report["errors"]] == ["/0/@context", "/1/@context"]
    assert [e["primaryId"] for e in report["errors"]] == [
        "dtmi:com:example:New;1",
        "dtmi:com:example:Newer;1",
    ]


def test_resolve_from_a_models_repository_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    repository = tmp_path / "repository"
    write(
        repository / "dtmi/com/example/base-1.json",
        BOM + json.dumps(interface("dtmi:com:example:Base;1")).encode(),
    )
    model = write(
        tmp_path / "model" / "device.json",
        interface("dtmi:com:example:Device;1", extends="dtmi:com:example:Base;1"),
    )
    code, out, _ = validate(capsys, model)
    assert code == 1
    assert "dtmi:com:example:Base;1" in out
    code, out, _ = validate(capsys, "--resolve-from", repository, model)
    assert code == 0, out
    assert out.startswith("2 interfaces, ")


def test_errors_in_resolved_documents_name_their_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    repository = tmp_path / "repository"
    base = write(
        repository / "dtmi/com/example/base-1.json",
        '{\n  "@id": "dtmi:com:example:Base;1",\n  "@type": "Interface"\n}',
    )
    model = write(
        tmp_path / "device.json", interface("dtmi:com:example:Device;1", extends="dtmi:com:example:Base;1")
    )
    code, out, _ = validate(capsys, "--resolve-from", repository, model)
    assert code == 1
    assert str(base) in out


def test_duplicate_definition_names_both_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    first = write(tmp_path / "one" / "thermostat.json", THERMOSTAT)
    second = write(tmp_path / "two" / "thermostat.json", THERMOSTAT)
    code, out, _ = validate(capsys, tmp_path)
    assert code == 1
    (line,) = [line for line in out.splitlines() if "duplicateDefinition" in line]
    assert str(first) in line and str(second) in line


def test_as_a_process(tmp_path: Path) -> None:
    good = write(tmp_path / "good.json", THERMOSTAT)
    bad = write(tmp_path / "bad.json", '{"@id": }')
    result = run_cli("validate", good)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("1 interfaces, ")
    result = run_cli("validate", "--json", good, bad)
    assert result.returncode == 1
    assert codes(json.loads(result.stdout)) == ["invalidJson"]
    assert run_cli("validate", tmp_path / "absent").returncode == 2


def test_progress_bar_on_a_terminal_leaves_stdout_clean(tmp_path: Path) -> None:
    for n in range(60):
        write(tmp_path / f"room{n:02}.json", interface(f"dtmi:com:example:Room{n};1"))
    result, shown = on_terminal(lambda fd: run_cli("validate", tmp_path, stderr=fd))
    assert result.returncode == 0
    assert re.fullmatch(r"60 interfaces, \d+ elements: valid\n", result.stdout)
    assert b"Reading" in shown or b"Parsing" in shown


# --- the real-world corpora (../shared/corpora/dtdl/SOURCES.md gives the reference parser's results)

VALID_CORPORA = {  # interfaces; element counts are the parser tests' business
    "opendigitaltwins-building": 768,
    "opendigitaltwins-energygrid": 113,
    "opendigitaltwins-smartcities": 63,
    "opendigitaltwins-isa95": 76,
    "ManufacturingOntologies": 180,
    "opendigitaltwins-assetadminstrationshell": 68,
}


def test_corpora_are_all_covered(shared_dir: Path) -> None:
    folders = {path.name for path in (shared_dir / "corpora/dtdl").iterdir() if path.is_dir()}
    assert folders == {*VALID_CORPORA, "XMPro-dtdl-data-models"}


@pytest.mark.parametrize("name", sorted(VALID_CORPORA))
def test_corpus_validates_as_one_model(
    capsys: pytest.CaptureFixture[str], shared_dir: Path, name: str
) -> None:
    code, report = validate_json(capsys, shared_dir / "corpora/dtdl" / name)
    assert report["errors"] == []
    assert code == 0
    assert report["interfaces"] == VALID_CORPORA[name]
    assert report["elements"] > report["interfaces"]


def test_corpus_with_a_duplicate_definition(capsys: pytest.CaptureFixture[str], shared_dir: Path) -> None:
    folder = shared_dir / "corpora/dtdl/XMPro-dtdl-data-models"
    code, out, _ = validate(capsys, folder)
    assert code == 1
    (line,) = [line for line in out.splitlines() if ": duplicateDefinition: " in line]
    assert str(folder / "Wind Power Plant" / "WRPC.json") in line
    assert str(folder / "Wind Turbine" / "WRPC.json") in line
    assert out.splitlines()[-1] == "1 error in 2 files"

    code, report = validate_json(capsys, folder)
    assert code == 1
    assert codes(report) == ["duplicateDefinition"]
    (error,) = report["errors"]
    assert error["primaryId"] == "dtmi:com:xmpro:WindFarm:WRPC;1"
    files = {error["file"], error["otherLocation"]["file"]}
    assert files == {
        str(folder / "Wind Power Plant" / "WRPC.json"),
        str(folder / "Wind Turbine" / "WRPC.json"),
    }
