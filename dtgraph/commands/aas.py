"""``dtgraph aas import``: turn suppliers' Asset Administration Shells into twins, atomically, with a preview.

Every file is read and checked first (JSON, XML or AASX, metamodel V3.0 or V3.1, within the limits); the
shells are mapped to twins of the model library and compared with the store; the difference is written as
one atomic change, or, with ``--dry-run``, printed as a diff and not written.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from dtgraph.commands.arguments import add_command
from dtgraph.commands.progress import ProgressBar
from dtgraph.commands.store_options import STORE_EPILOG, StoreOpenError, add_store_options, open_from_args
from dtgraph.stores.errors import StoreError

if TYPE_CHECKING:
    from dtgraph.aas.importer import ImportReport
    from dtgraph.commands import Subparsers

__all__ = ["print_report", "register", "run_import"]

MAX_PRINTED = 50  # changes and issues printed as text; --json has them all

_DESCRIPTION = """\
Import suppliers' Asset Administration Shells (AAS JSON, XML or AASX packages,
metamodel V3.0 or V3.1) into the asset graph, as one atomic change.

Each shell and its asset becomes an AssetAdministrationShell twin, its id derived
from the asset's globalAssetId: importing the same shell again updates it. The
Digital Nameplate's manufacturer becomes a Supplier twin that supplies it; Contact
Information, Technical Data and Carbon Footprint become its properties; a bill of
material (Hierarchical Structures) becomes hasPart edges; Asset Interfaces
Description and its Mapping Configuration become telemetry bindings; every
submodel is kept whole. Constraint violations are warnings (lenient, the default)
or errors (--strict). A file that cannot be read - over a limit, malformed,
legacy (V1, V2) - is an error. With any error nothing is written."""

_EPILOG = f"""\
JSON files carry no metamodel version: they are read as V3.0 when valid V3.0,
else as V3.1 when V3.1 finds fewer problems (--metamodel forces one). XML and
AASX parts name their version in their namespace.

exit status:
  0  imported (with --dry-run: the import would succeed; nothing was written)
  1  rejected: errors are printed; nothing was written
  2  usage error, or the store unavailable or failing; nothing was written

{STORE_EPILOG}

examples:
  dtgraph aas import --dry-run supplier.aasx
  dtgraph aas import --supplier supplier-acme pump.aasx motor.json
  dtgraph aas import --strict --json plant/*.aasx > report.json"""


def register(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    """Add the ``aas`` command and its ``import`` subcommand."""
    parser = subparsers.add_parser(
        "aas",
        help="Asset Administration Shells: import suppliers' AAS files",
        description="Work with Asset Administration Shells (IDTA metamodel V3).",
    )
    commands = parser.add_subparsers(dest="aas_command", metavar="COMMAND", required=True)
    imp = add_command(
        commands,
        "import",
        help="import AAS JSON, XML or AASX files into the graph atomically",
        description=_DESCRIPTION,
        epilog=_EPILOG,
    )
    imp.add_argument("files", metavar="FILE", nargs="+", help="AAS files: .json, .xml or .aasx")
    imp.add_argument(
        "--supplier",
        metavar="ID",
        help="twin id of the supplier delivering these shells (default: each nameplate's manufacturer)",
    )
    imp.add_argument("--strict", action="store_true", help="reject files with any constraint violation")
    imp.add_argument(
        "--dry-run",
        action="store_true",
        help="show what would be created, updated and removed; write nothing",
    )
    imp.add_argument(
        "--metamodel",
        choices=("auto", "3.0", "3.1"),
        default="auto",
        help="metamodel version of JSON files (default: auto)",
    )
    imp.add_argument("--json", action="store_true", help="print the report as one JSON object, nothing else")
    imp.add_argument("-q", "--quiet", action="store_true", help="print only errors and the summary line")
    add_store_options(imp)
    imp.set_defaults(run=run_import)


def run_import(args: argparse.Namespace) -> int:
    """Run ``dtgraph aas import``; returns the exit status."""
    from dtgraph.aas.importer import import_aas
    from dtgraph.graph.service import TwinGraph

    try:
        store, location = open_from_args(args)
    except StoreOpenError as exc:
        print(f"dtgraph aas import: error: {exc}", file=sys.stderr)
        return 2
    try:
        show = not args.json and not args.quiet and sys.stderr.isatty()
        with _Feedback(len(args.files), enabled=show) as feedback:
            report = import_aas(
                args.files,
                TwinGraph(store),
                supplier=args.supplier,
                strict=args.strict,
                dry_run=args.dry_run,
                metamodel=args.metamodel,
                progress=feedback.stage,
            )
    except StoreError as exc:
        print(f"dtgraph aas import: error: {location}: {exc}\nnothing was written", file=sys.stderr)
        return 2
    finally:
        store.close()
    if args.json:
        data = report.as_json()
        data["store"] = str(location)
        json.dump(data, sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        print_report(report, str(location), quiet=args.quiet)
    return 0 if report.ok else 1


def print_report(report: ImportReport, store: str, *, quiet: bool = False) -> None:
    """The report as text: the diff (dry run), warnings, errors, and a summary line."""
    if not quiet:
        shown = [c for c in report.changes if c.op != "unchanged" and (report.dry_run or c.kind != "model")]
        for change in shown[:MAX_PRINTED] if report.ok else []:
            print(change)
        if report.ok and len(shown) > MAX_PRINTED:
            print(f"... and {len(shown) - MAX_PRINTED:,} more changes (--json lists them all)")
        for warning in report.warnings[:MAX_PRINTED]:
            print(f"warning: {warning}")
        if len(report.warnings) > MAX_PRINTED:
            print(f"... and {len(report.warnings) - MAX_PRINTED:,} more warnings (--json lists them all)")
    for error in report.errors[:MAX_PRINTED]:
        print(f"error: {error}")
    if len(report.errors) > MAX_PRINTED:
        print(f"... and {len(report.errors) - MAX_PRINTED:,} more errors (--json lists them all)")
    s = report.summary()
    counts = (
        f"{s['created']} created, {s['updated']} updated, {s['removed']} removed, "
        f"{s['unchanged']} unchanged; {s['warnings']} warnings, {s['errors']} errors"
    )
    if not report.ok:
        print(f"rejected: {counts}; nothing was written to {store}")
    elif report.dry_run:
        print(f"dry run: {counts}; nothing was written to {store}")
    else:
        print(f"imported into {store}: {counts}")


class _Feedback(ProgressBar):
    """The bar while files are read, mapped and written."""

    def __init__(self, total: int, *, enabled: bool) -> None:
        super().__init__("Reading", total, enabled=enabled)

    def stage(self, stage: str, done: int, total: int) -> None:
        if stage == "read":
            self.update(completed=done, total=total)
        else:
            self.update(description={"map": "Mapping", "write": "Writing"}.get(stage, stage))
