"""Tests of dtgraph.dtdl.loader: reading files and folders, and the DMR-style folder resolver."""

from __future__ import annotations

from pathlib import Path

import pytest

from dtgraph.dtdl.errors import DtdlValidationError
from dtgraph.dtdl.loader import FolderResolver, LoadError, dtmi_to_path, find_files, load_paths, read_files
from dtgraph.dtdl.source import INVALID_ENCODING

BOM = b"\xef\xbb\xbf"


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    return path


def interface(dtmi: str) -> str:
    return f'{{"@context": "dtmi:dtdl:context;3", "@id": "{dtmi}", "@type": "Interface"}}'


# --- find_files / load_paths ----------------------------------------------------------------------


def test_folder_is_searched_recursively_and_sorted(tmp_path: Path) -> None:
    for name in ["b.json", "a/z.json", "a/y/x.json", "a.json", "C.json"]:
        write(tmp_path / name, "{}")
    found = find_files([tmp_path])
    assert [path.relative_to(tmp_path).as_posix() for path in found] == [
        "C.json",
        "a/y/x.json",
        "a/z.json",
        "a.json",
        "b.json",
    ]


def test_folder_skips_other_extensions_and_hidden_entries(tmp_path: Path) -> None:
    write(tmp_path / "model.json", "{}")
    write(tmp_path / "upper.JSON", "{}")
    write(tmp_path / "README.md", "# no")
    write(tmp_path / "LICENSE", "MIT")
    write(tmp_path / ".vscode/settings.json", "{}")
    write(tmp_path / ".hidden.json", "{}")
    (tmp_path / "folder.json").mkdir()
    assert [path.name for path in find_files([tmp_path])] == ["model.json", "upper.JSON"]


def test_a_named_file_is_taken_whatever_its_extension(tmp_path: Path) -> None:
    model = write(tmp_path / "thermostat.dtdl", interface("dtmi:com:example:Thermostat;1"))
    assert find_files([model]) == [model]


def test_paths_with_spaces_keep_their_spelling_as_source(tmp_path: Path) -> None:
    write(tmp_path / "Wind Turbine" / "WRPC.json", "{}")
    loaded = load_paths([str(tmp_path / "Wind Turbine")])
    assert loaded.sources == [str(tmp_path / "Wind Turbine" / "WRPC.json")]


def test_each_file_is_loaded_once(tmp_path: Path) -> None:
    model = write(tmp_path / "m" / "a.json", "{}")
    write(tmp_path / "m" / "b.json", "{}")
    found = find_files([model, tmp_path / "m", tmp_path / "m" / ".." / "m" / "a.json"])
    assert found == [model, tmp_path / "m" / "b.json"]


def test_documents_are_passed_on_as_bytes_unchanged(tmp_path: Path) -> None:
    with_bom = write(tmp_path / "bom.json", BOM + interface("dtmi:a;1").encode())
    not_utf8 = write(tmp_path / "latin1.json", '{"name": "café"}'.encode("latin-1"))
    array = write(tmp_path / "array.json", f"[{interface('dtmi:a;1')}, {interface('dtmi:b;1')}]")
    loaded = load_paths([with_bom, not_utf8, array])
    assert loaded.documents == [with_bom.read_bytes(), not_utf8.read_bytes(), array.read_bytes()]
    assert loaded.sources == [str(with_bom), str(not_utf8), str(array)]
    assert len(loaded) == 3


def test_read_files_reports_progress(tmp_path: Path) -> None:
    files = [write(tmp_path / f"{n}.json", "{}") for n in range(3)]
    seen: list[Path] = []
    read_files(files, progress=seen.append)
    assert seen == files


def test_missing_path_is_a_load_error(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="no such file or folder") as excinfo:
        find_files([tmp_path / "nowhere"])
    assert excinfo.value.path == str(tmp_path / "nowhere")


def test_unreadable_file_is_a_load_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = write(tmp_path / "a.json", "{}")

    def refuse(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", refuse)
    with pytest.raises(LoadError, match="Permission denied"):
        load_paths([model])


def test_empty_folder_loads_nothing(tmp_path: Path) -> None:
    assert len(load_paths([tmp_path])) == 0


def test_corpus_folder_with_spaces_loads_every_file(shared_dir: Path) -> None:
    folder = shared_dir / "corpora/dtdl/XMPro-dtdl-data-models"
    loaded = load_paths([folder])
    relative = [Path(source).relative_to(folder).as_posix() for source in loaded.sources]
    assert len(relative) == 22
    assert "Wind Power Plant/WRPC.json" in relative and "Wind Turbine/WRPC.json" in relative
    assert relative == sorted(relative)
    assert loaded == load_paths([folder])  # deterministic


# --- dtmi_to_path / FolderResolver ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("dtmi", "path"),
    [
        ("dtmi:com:example:Thermostat;1", "dtmi/com/example/thermostat-1.json"),
        ("dtmi:Com:Example_2:TemperatureController;12", "dtmi/com/example_2/temperaturecontroller-12.json"),
        ("dtmi:com:example:Thermostat;1.2", "dtmi/com/example/thermostat-1.2.json"),
    ],
)
def test_dtmi_to_path_follows_the_device_models_repository(dtmi: str, path: str) -> None:
    assert dtmi_to_path(dtmi) == path


@pytest.mark.parametrize(
    "dtmi",
    [
        "dtmi:com:example:Thermostat",  # no version
        "dtmi:com:example:Thermostat;1#temp",  # an element, not a document
        "dtmi:com:..:x;1",
        "dtmi:com/../../etc:x;1",
        "dtmi:_system:x;1",
        "urn:x;1",
        "",
    ],
)
def test_dtmi_to_path_rejects_what_is_no_document_dtmi(dtmi: str) -> None:
    assert dtmi_to_path(dtmi) is None


def test_folder_resolver_finds_documents_by_convention(tmp_path: Path) -> None:
    thermostat = write(
        tmp_path / "dtmi/com/example/thermostat-1.json",
        BOM + interface("dtmi:com:example:Thermostat;1").encode(),
    )
    sensor = write(tmp_path / "dtmi/com/example/sensor-2.json", interface("dtmi:com:example:Sensor;2"))
    resolver = FolderResolver(tmp_path)
    documents = resolver(
        ["dtmi:com:example:Sensor;2", "dtmi:com:example:Missing;1", "dtmi:com:example:Thermostat;1"]
    )
    assert documents == [interface("dtmi:com:example:Sensor;2"), interface("dtmi:com:example:Thermostat;1")]
    assert resolver.sources == [str(sensor), str(thermostat)]
    assert resolver.texts == documents


def test_folder_resolver_returns_a_file_at_most_once(tmp_path: Path) -> None:
    write(tmp_path / "dtmi/com/example/thermostat-1.json", "{}")  # does not define what it promises
    resolver = FolderResolver(str(tmp_path))
    assert resolver(["dtmi:com:example:Thermostat;1"]) == ["{}"]
    assert resolver(["dtmi:com:example:Thermostat;1", "dtmi:com:example:thermostat;1"]) == []


def test_folder_resolver_passes_array_documents_on(tmp_path: Path) -> None:
    text = f"[{interface('dtmi:com:example:Thermostat;1')}, {interface('dtmi:com:example:Part;1')}]"
    write(tmp_path / "dtmi/com/example/thermostat-1.json", text)
    assert FolderResolver(tmp_path)(["dtmi:com:example:Thermostat;1"]) == [text]


def test_folder_resolver_reports_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = write(tmp_path / "dtmi/com/example/thermostat-1.json", b'{"x": "\xff"}')
    with pytest.raises(DtdlValidationError) as excinfo:
        FolderResolver(tmp_path)(["dtmi:com:example:Thermostat;1"])
    (error,) = excinfo.value.errors
    assert error.code == INVALID_ENCODING
    assert error.location is not None and error.location.source == str(path)


def test_folder_resolver_ignores_invalid_dtmis(tmp_path: Path) -> None:
    write(tmp_path / "etc/passwd.json", "{}")
    assert FolderResolver(tmp_path / "dtmi")(["dtmi:..:etc:passwd;1", "not a dtmi"]) == []
