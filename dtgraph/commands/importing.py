"""``dtgraph import``: check an import file (Azure Digital Twins import-job NDJSON) and load it atomically.

The whole file is checked first — format, models, every twin and relationship, against the models and
the graph already stored — and every problem is reported as ``FILE:LINE: code: message``. Only a file
with no problem is written, as one atomic change: a rejected or failed import leaves the store as it
was. ``-`` reads standard input (spooled to a temporary file, since the import reads it twice).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dtgraph.commands.arguments import add_command
from dtgraph.commands.progress import ProgressBar
from dtgraph.commands.store_options import STORE_EPILOG, StoreOpenError, add_store_options, open_from_args
from dtgraph.stores.errors import StoreError

if TYPE_CHECKING:
    from dtgraph.commands import Subparsers
    from dtgraph.graph.bulk import ImportReport
    from dtgraph.graph.errors import GraphIssue
    from dtgraph.stores.base import Store
    from dtgraph.stores.location import StoreLocation

__all__ = ["MAX_PRINTED", "format_issue", "load", "register", "run"]

MAX_PRINTED = 50  # issues printed as text; --json has them all
MAX_ISSUES = 100_000  # issues collected at most (memory stays bounded on a file that is all garbage)

_DESCRIPTION = """\
Check an import file and load it into the store, atomically.

FILE is NDJSON in the Azure Digital Twins import-job format: {"Section": "Header"}
and its header object, then the optional sections Models (DTDL interfaces),
Twins and Relationships, one JSON object a line. Everything is checked before
anything is written: the format, the models together with those already stored,
each twin against its model, each relationship against its source, target and
model, duplicate ids and maxMultiplicity (stored relationships included). Every
problem is printed as 'FILE:LINE: code: message'. A file with any problem writes
nothing; a sound one is written as one atomic change."""

_EPILOG = f"""\
exit status:
  0  loaded (with --dry-run: the file is sound and would load)
  1  rejected: the file has problems (printed); nothing was written
  2  usage error, FILE unreadable, or the store unavailable or failing; nothing was written

{STORE_EPILOG}

examples:
  dtgraph import plant.ndjson
  dtgraph import --dry-run --json plant.ndjson > report.json
  dtgraph demo --twins 10000 | dtgraph import - --store bolt://127.0.0.1:7687"""


def register(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    """Add the ``import`` command."""
    parser = add_command(
        subparsers,
        "import",
        help="check an import file (NDJSON) and load it into the store atomically",
        description=_DESCRIPTION,
        epilog=_EPILOG,
    )
    parser.add_argument("file", metavar="FILE", help="the import file, or - for standard input")
    parser.add_argument(
        "--dry-run", action="store_true", help="check only: report what would be loaded, write nothing"
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object {ok, written, models, twins, relationships, seconds, "
        "entitiesPerSecond, issues: [...]} and nothing else on stdout",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the issues: no summary")
    add_store_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Import ``args.file`` into the store the options name; return the exit status."""
    try:
        with _readable(args.file) as (path, name):
            store, location = open_from_args(args)
            try:
                return load(
                    path, name, store, location, dry_run=args.dry_run, as_json=args.json, quiet=args.quiet
                )
            finally:
                store.close()
    except BrokenPipeError:
        raise  # the reader of stdout went away: the command line handles it
    except (OSError, StoreOpenError) as exc:
        return usage_error("import", str(exc))


def load(
    path: Path,
    name: str,
    store: Store,
    location: StoreLocation,
    *,
    dry_run: bool = False,
    as_json: bool = False,
    quiet: bool = False,
    command: str = "import",
) -> int:
    """Import ``path`` (shown as ``name``) into ``store`` and print the report; returns the exit status."""
    from dtgraph.graph.bulk import import_graph  # here, so that `dtgraph --help` stays quick

    show_progress = not as_json and not quiet and sys.stderr.isatty()
    try:
        with _Feedback(path, enabled=show_progress, dry_run=dry_run) as feedback:
            report = import_graph(
                path, store, dry_run=dry_run, progress=feedback.lines_read, max_issues=MAX_ISSUES
            )
    except StoreError as exc:
        return usage_error(command, f"{location}: {exc}\nnothing was written{_write_hint(exc)}")
    if as_json:
        json.dump(
            _report_json(report, name, str(location), dry_run), sys.stdout, ensure_ascii=False, indent=2
        )
        sys.stdout.write("\n")
    else:
        _print_report(report, name, str(location), dry_run, quiet)
    return 0 if report.ok else 1


def _write_hint(exc: StoreError) -> str:
    if "transaction.total.max" in str(exc) or "MemoryPoolOutOfMemory" in str(exc):
        return (
            "\n  hint: the import is one Neo4j transaction and outgrew the server's transaction memory; "
            "give Neo4j a larger heap (scripts/neo4j start --heap 8g) "
            "or raise dbms.memory.transaction.total.max"
        )
    return ""


def format_issue(name: str, issue: GraphIssue) -> str:
    """``FILE:LINE: code: message`` (``FILE: code: message`` when the issue has no line)."""
    where = f"{name}:{issue.line}" if issue.line is not None else name
    return f"{where}: {issue.code}: {issue.message}"


def usage_error(command: str, message: str) -> int:
    print(f"dtgraph {command}: error: {message}", file=sys.stderr)
    return 2


def entities(report: ImportReport) -> int:
    return report.models + report.twins + report.relationships


def _rate(report: ImportReport) -> float:
    return entities(report) / report.seconds if report.seconds > 0 else 0.0


def _print_report(report: ImportReport, name: str, store: str, dry_run: bool, quiet: bool) -> None:
    for issue in report.issues[:MAX_PRINTED]:
        print(format_issue(name, issue))
    if len(report.issues) > MAX_PRINTED:
        print(f"... and {len(report.issues) - MAX_PRINTED:,} more (--json lists them all)")
    if quiet:
        return
    what = f"{report.models:,} models, {report.twins:,} twins, {report.relationships:,} relationships"
    timing = f"in {report.seconds:.2f} s ({_rate(report):,.0f} entities/s)"
    if not report.ok:
        count = f"{len(report.issues):,}" + ("+" if len(report.issues) >= MAX_ISSUES else "")
        plural = "s" if len(report.issues) != 1 else ""
        print(f"rejected: {count} problem{plural} in {name} ({what} read); nothing was written to {store}")
    elif dry_run:
        print(f"dry run: {what} would be loaded into {store}; checked {timing}; nothing was written")
    else:
        print(f"loaded {what} into {store} {timing}")


def _report_json(report: ImportReport, name: str, store: str, dry_run: bool) -> dict[str, Any]:
    data = report.as_json()
    data.update(file=name, store=store, dryRun=dry_run, entitiesPerSecond=round(_rate(report), 1))
    data["issuesTruncated"] = len(report.issues) >= MAX_ISSUES
    return data


@contextmanager
def _readable(file: str) -> Iterator[tuple[Path, str]]:
    """The path to read and the name to show; standard input is spooled to a temporary file first."""
    if file != "-":
        path = Path(file)
        if not path.is_file():
            raise OSError(f"{file}: {'not a file' if path.exists() else 'no such file'}")
        with path.open("rb"):  # fails now, with the reason, if it cannot be read
            pass
        yield path, file
        return
    handle, spooled = tempfile.mkstemp(prefix="dtgraph-import-", suffix=".ndjson")
    try:
        with os.fdopen(handle, "wb") as out:
            shutil.copyfileobj(sys.stdin.buffer, out, 1 << 20)
        yield Path(spooled), "<stdin>"
    finally:
        os.unlink(spooled)


def _count_lines(path: Path) -> int:
    count = 0
    last = b"\n"
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


class _Feedback(ProgressBar):
    """The bar of the lines read (a memory store or Neo4j checks and writes as it reads), then the
    end: the commit, or for a dry run nothing more."""

    def __init__(self, path: Path, *, enabled: bool, dry_run: bool) -> None:
        self._lines = _count_lines(path) if enabled else 0
        first, self._next = ("Checking", "Checked") if dry_run else ("Importing", "Committing")
        super().__init__(first, self._lines, enabled=enabled, unit="lines", refresh_thread=False)
        self._shown = 0

    def lines_read(self, line: int) -> None:
        if line >= self._lines:  # the last record: what follows is the commit
            self.update(completed=self._lines, description=self._next)
        elif line - self._shown >= 1000:
            self._shown = line
            self.update(completed=line)
