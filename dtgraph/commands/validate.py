"""``dtgraph validate``: check DTDL files and folders as one model, and report every error.

All the documents named are parsed together, as a model store would receive them, so a reference
from one file to another resolves and a DTMI defined twice is caught. Each error is printed as
``file:line:col: code: message``, sorted by file and line, so editors and CI logs can jump to it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from dtgraph.commands.arguments import add_command
from dtgraph.commands.progress import ProgressBar
from dtgraph.dtdl.errors import DtdlValidationError, Location, ParsingError
from dtgraph.dtdl.loader import FolderResolver, LoadedDocuments, LoadError, find_files, read_files
from dtgraph.dtdl.source import decode_document, decode_text, with_positions

if TYPE_CHECKING:
    from dtgraph.commands import Subparsers
    from dtgraph.dtdl import ModelSet

__all__ = ["DISALLOWED_CONTEXT_VERSION", "context_version_errors", "register", "run"]

# The reference parser's code for a DTDL context version that the parsing options do not allow.
DISALLOWED_CONTEXT_VERSION = "disallowedContextVersion"

_DTDL_CONTEXT = "dtmi:dtdl:context;"
_PROGRESS_MIN_FILES = 50  # below this, reading is too quick for a progress bar to help

_DESCRIPTION = """\
Check DTDL (v2, v3, v4) files as one model and report every error.

Every file named, and every *.json file below every folder named (hidden ones
excepted), is parsed together as one model: interfaces may extend and use
interfaces of other files, and a DTMI defined in two files is an error. Each
error is printed as 'file:line:col: code: message'; codes are those of the
reference DTDL parser (DTDLParser), plus dtgraph's own 'invalidEncoding' and
'invalidJson' for files that are not UTF-8 JSON."""

_EPILOG = """\
exit status:
  0  the model is valid
  1  the model is invalid (errors are printed)
  2  usage error, or a path cannot be read

examples:
  dtgraph validate models/
  dtgraph validate --version 3 --resolve-from repo/ thermostat.json
  dtgraph validate --json models/ > report.json"""


def register(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    """Add the ``validate`` command."""
    parser = add_command(
        subparsers,
        "validate",
        help="check DTDL files and folders as one model",
        description=_DESCRIPTION,
        epilog=_EPILOG,
    )
    parser.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="a DTDL file (any extension; its root may be an array of interfaces) or a folder, "
        "searched recursively for *.json",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object {valid, interfaces, elements, errors: [...]} and nothing else on stdout",
    )
    parser.add_argument(
        "--version",
        "--dtdl-version",
        dest="dtdl_version",
        type=int,
        choices=(2, 3, 4),
        metavar="N",
        help="require every document to use the DTDL context of version N (2, 3 or 4); other "
        f"documents are reported as {DISALLOWED_CONTEXT_VERSION}",
    )
    parser.add_argument(
        "--resolve-from",
        type=Path,
        metavar="DIR",
        help="look up DTMIs that the model uses but does not define in DIR, laid out as a device "
        "models repository: dtmi:com:example:Thermostat;1 in DIR/dtmi/com/example/thermostat-1.json",
    )
    parser.add_argument(
        "--allow-undefined-extensions",
        action="store_true",
        help="accept @context entries naming DTDL extensions that the parser does not know, instead "
        "of reporting them",
    )
    parser.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print only the errors: no summary line, no progress bar",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Validate ``args.paths``; return 0 if valid, 1 if invalid, 2 if the input cannot be read."""
    resolve_from: Path | None = args.resolve_from
    if resolve_from is not None and not resolve_from.is_dir():
        return _usage_error(f"--resolve-from {resolve_from}: not a folder")
    try:
        files = find_files(args.paths)
    except LoadError as exc:
        return _usage_error(str(exc))
    if not files:
        return _usage_error(f"no *.json files in {', '.join(str(path) for path in args.paths)}")

    show_progress = (
        not args.json and not args.quiet and len(files) >= _PROGRESS_MIN_FILES and sys.stderr.isatty()
    )
    resolver = FolderResolver(resolve_from) if resolve_from is not None else None
    try:
        with _Feedback(len(files), enabled=show_progress) as feedback:
            loaded = read_files(files, progress=feedback.file_read)
            feedback.parsing()
            model_set, errors = _parse(loaded, resolver, args.allow_undefined_extensions)
    except LoadError as exc:  # a file vanished or became unreadable, here or in --resolve-from
        return _usage_error(str(exc))

    documents: list[bytes | str] = [*loaded.documents]
    sources: list[str | None] = [*loaded.sources]
    if resolver is not None:
        documents.extend(resolver.texts)
        sources.extend(resolver.sources)
    if args.dtdl_version is not None:
        errors.extend(context_version_errors(documents, args.dtdl_version))
    errors = sorted(with_positions(errors, _LazyTexts(documents), sources), key=_sort_key)

    if args.json:
        _print_json(errors, model_set)
    else:
        for error in errors:
            print(format_error(error))
        if not args.quiet:
            print(_summary(errors, model_set))
    return 1 if errors else 0


def _parse(
    loaded: LoadedDocuments, resolver: FolderResolver | None, allow_undefined_extensions: bool
) -> tuple[ModelSet | None, list[ParsingError]]:
    from dtgraph.dtdl import parse  # imported here, so that `dtgraph --help` stays quick

    try:
        model_set = parse(
            loaded.documents,
            allow_undefined_extensions=allow_undefined_extensions,
            sources=loaded.sources,
            resolver=resolver,
        )
    except DtdlValidationError as exc:
        return None, list(exc.errors)
    return model_set, []


def context_version_errors(documents: Sequence[bytes | str], version: int) -> list[ParsingError]:
    """Report each top-level element whose DTDL context is not ``dtmi:dtdl:context;<version>``.

    Documents that do not decode, or have no DTDL context, are left to the parser to report.
    """
    errors: list[ParsingError] = []
    for index, data in enumerate(documents):
        try:
            root = decode_document(data)
        except DtdlValidationError:
            continue
        elements = enumerate(root) if isinstance(root, list) else [(None, root)]
        for position, element in elements:
            if not isinstance(element, dict):
                continue
            base = "" if position is None else f"/{position}"
            for pointer, context in _contexts(element.get("@context"), f"{base}/@context"):
                if not context.startswith(_DTDL_CONTEXT):
                    continue
                found = context.removeprefix(_DTDL_CONTEXT).partition("#")[0]
                if found == str(version):
                    continue
                identifier = element.get("@id")
                errors.append(
                    ParsingError(
                        code=DISALLOWED_CONTEXT_VERSION,
                        message=f"@context {context!r} is DTDL version {found}, but --version {version} "
                        f"allows only '{_DTDL_CONTEXT}{version}'",
                        primary_id=identifier if isinstance(identifier, str) else None,
                        property="@context",
                        value=context,
                        location=Location(document=index, pointer=pointer),
                    )
                )
    return errors


def format_error(error: ParsingError) -> str:
    """Render one error as ``file:line:col: code: message``, naming the other place if any."""
    text = f"{_where(error.location)}: {error.code}: {error.message}"
    if error.other_location is not None:
        text += f" (also at {_where(error.other_location)})"
    return text


def _contexts(value: object, pointer: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        yield pointer, value
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, str):
                yield f"{pointer}/{index}", item


def _where(location: Location | None) -> str:
    if location is None:
        return "<model>"
    where = location.source if location.source is not None else f"<document {location.document}>"
    if location.line is not None:
        return f"{where}:{location.line}:{location.column}"
    return f"{where} at {location.pointer}" if location.pointer else where


def _sort_key(error: ParsingError) -> tuple[int, str, int, int, str, str, str]:
    location = error.location
    if location is None:
        return (0, "", 0, 0, "", error.code, error.message)
    file = location.source if location.source is not None else f"<document {location.document:09d}>"
    return (1, file, location.line or 0, location.column or 0, location.pointer, error.code, error.message)


def _summary(errors: Sequence[ParsingError], model_set: ModelSet | None) -> str:
    if not errors:
        interfaces, elements = _counts(model_set)
        return f"{interfaces} interfaces, {elements} elements: valid"
    places = [place for e in errors for place in (e.location, e.other_location) if place is not None]
    files = {place.source for place in places if place.source is not None}
    text = f"{len(errors)} error{'s' if len(errors) != 1 else ''}"
    if files:
        text += f" in {len(files)} file{'s' if len(files) != 1 else ''}"
    return text


def _counts(model_set: ModelSet | None) -> tuple[int | None, int | None]:
    if model_set is None:
        return None, None
    return len(model_set.interfaces), len(model_set.elements)


def _print_json(errors: Sequence[ParsingError], model_set: ModelSet | None) -> None:
    interfaces, elements = _counts(model_set)
    report = {
        "valid": not errors,
        "interfaces": interfaces,
        "elements": elements,
        "errors": [_error_json(error) for error in errors],
    }
    json.dump(report, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")


def _error_json(error: ParsingError) -> dict[str, object]:
    location = error.location
    return {
        "code": error.code,
        "message": error.message,
        "file": location.source if location is not None else None,
        "line": location.line if location is not None else None,
        "column": location.column if location is not None else None,
        "pointer": location.pointer if location is not None else None,
        "primaryId": error.primary_id,
        "property": error.property,
        "value": error.value,
        "secondaryId": error.secondary_id,
        "otherLocation": _location_json(error.other_location),
    }


def _location_json(location: Location | None) -> dict[str, object] | None:
    if location is None:
        return None
    return {
        "file": location.source,
        "line": location.line,
        "column": location.column,
        "pointer": location.pointer,
    }


def _usage_error(message: str) -> int:
    print(f"dtgraph validate: error: {message}", file=sys.stderr)
    return 2


class _LazyTexts(Mapping[int, str]):
    """Document texts decoded on first use: only documents with errors need positions."""

    def __init__(self, documents: Sequence[bytes | str]) -> None:
        self._documents = documents

    def __getitem__(self, index: int) -> str:
        if not 0 <= index < len(self._documents):
            raise KeyError(index)
        try:
            return decode_text(self._documents[index])
        except DtdlValidationError:
            raise KeyError(index) from None

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self._documents)))

    def __len__(self) -> int:
        return len(self._documents)


class _Feedback(ProgressBar):
    """The bar while files are read and parsed."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        super().__init__("Reading", total, enabled=enabled)
        self._files = total

    def file_read(self, path: Path) -> None:
        self.advance()

    def parsing(self) -> None:
        self.update(description=f"Parsing {self._files} documents")
