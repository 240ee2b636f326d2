"""Reading DTDL documents from files and folders, and resolving DTMIs from a folder.

This is the only I/O of ``dtgraph.dtdl``: it hands raw bytes to the parser, which decodes them
(see ``source.py``), so that an undecodable file becomes a located ``ParsingError`` like any other
problem instead of aborting the load. A file whose root is an array of interfaces is passed on
unchanged; splitting it is the parser's job.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dtgraph.dtdl.errors import DtdlError
from dtgraph.dtdl.source import decode_text

__all__ = [
    "FolderResolver",
    "LoadError",
    "LoadedDocuments",
    "dtmi_to_path",
    "find_files",
    "load_paths",
    "read_files",
]

# A user DTMI with a version, as the device models repository accepts it; DTDL v3 minor versions
# (";1.2") are allowed too. The pattern admits no "/", "\\" or "..", so a path built from it stays
# inside the repository folder.
_DTMI = re.compile(
    r"dtmi:[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?(?::[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?)*"
    r";[1-9][0-9]{0,8}(?:\.[1-9][0-9]{0,5})?"
)


class LoadError(DtdlError):
    """A path cannot be read: it does not exist, or the operating system refuses it."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True, slots=True)
class LoadedDocuments:
    """Documents read from disk, in load order, with the name each was found under.

    ``documents[i]`` holds the bytes of ``sources[i]``; pass both to ``dtgraph.dtdl.parse``.
    """

    documents: list[bytes] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.documents)


def find_files(paths: Iterable[Path | str]) -> list[Path]:
    """Expand files and folders into the list of files to load.

    A named file is taken whatever its extension. A folder contributes every ``*.json`` below it,
    sorted by relative path so that runs are reproducible, skipping hidden files and folders
    (``.vscode/settings.json`` is not DTDL). Each file is listed once, at its first mention, and
    keeps the spelling it was reached by, which is how errors will name it.
    """
    found: list[Path] = []
    seen: set[Path] = set()
    for given in paths:
        path = Path(given)
        if path.is_dir():
            candidates = _json_files_below(path)
        elif path.is_file():
            candidates = [path]
        elif path.exists():
            raise LoadError(path, "not a regular file or folder")
        else:
            raise LoadError(path, "no such file or folder")
        for candidate in candidates:
            key = candidate.resolve()
            if key not in seen:
                seen.add(key)
                found.append(candidate)
    return found


def read_files(files: Iterable[Path], progress: Callable[[Path], None] | None = None) -> LoadedDocuments:
    """Read each file's bytes; ``progress`` is called after each file (for a progress bar)."""
    loaded = LoadedDocuments()
    for path in files:
        loaded.documents.append(_read(path))
        loaded.sources.append(str(path))
        if progress is not None:
            progress(path)
    return loaded


def load_paths(paths: Iterable[Path | str]) -> LoadedDocuments:
    """Read the files and folders named by ``paths`` (see ``find_files``)."""
    return read_files(find_files(paths))


def dtmi_to_path(dtmi: str) -> str | None:
    """Return the repository-relative path of ``dtmi``, or None if it is not a versioned user DTMI.

    The convention of the Azure IoT device models repository (DMR): lowercase the whole DTMI,
    replace ``:`` with ``/`` and ``;`` with ``-``, append ``.json``. So
    ``dtmi:com:example:Thermostat;1`` lives at ``dtmi/com/example/thermostat-1.json``.
    """
    if not _DTMI.fullmatch(dtmi):
        return None
    return dtmi.lower().replace(":", "/").replace(";", "-") + ".json"


class FolderResolver:
    """Find the documents of DTMIs a model uses but does not define, in a DMR-style folder.

    ``root`` is laid out as the Azure IoT device models repository is (see ``dtmi_to_path``):
    ``root/dtmi/com/example/thermostat-1.json`` holds ``dtmi:com:example:Thermostat;1``.
    Call it with a list of DTMIs; it returns the decoded text of each file found, in request
    order, and skips DTMIs without a file (the parser then reports them as undefined). A file is
    returned at most once, so a file that does not define the DTMI its name promises cannot make
    the parser loop. ``sources`` and ``texts`` list the path and text of each returned document,
    in return order, so that errors in resolved documents can be named and placed.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)
        self.sources: list[str] = []
        self.texts: list[str] = []
        self._returned: set[Path] = set()

    def __call__(self, dtmis: list[str]) -> list[str | object]:
        documents: list[str | object] = []
        for dtmi in dtmis:
            relative = dtmi_to_path(dtmi)
            if relative is None:
                continue
            path = self.root / relative
            if path in self._returned or not path.is_file():
                continue
            self._returned.add(path)
            # Not UTF-8: DtdlValidationError naming the file (document -1: its index is the parser's).
            text = decode_text(_read(path), str(path), document=-1)
            documents.append(text)
            self.sources.append(str(path))
            self.texts.append(text)
        return documents

    def __repr__(self) -> str:
        return f"FolderResolver({str(self.root)!r})"


def _json_files_below(folder: Path) -> list[Path]:
    files: list[Path] = []
    for directory, subdirectories, names in os.walk(folder, onerror=_raise_load_error):
        subdirectories[:] = [name for name in subdirectories if not name.startswith(".")]
        base = Path(directory)
        files.extend(
            base / name
            for name in names
            if name.lower().endswith(".json") and not name.startswith(".") and (base / name).is_file()
        )
    return sorted(files, key=lambda path: path.relative_to(folder).parts)


def _raise_load_error(exc: OSError) -> None:
    raise LoadError(exc.filename or "?", exc.strerror or str(exc)) from exc


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise LoadError(path, exc.strerror or str(exc)) from exc
