"""``dtgraph export``: write the whole graph as an import file (Azure Digital Twins import-job NDJSON).

The models, then every twin, then every relationship, streamed from the store in one pass, so memory
stays bounded. ``dtgraph import`` reads the file back into the same graph: the round trip is lossless.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from dtgraph.commands.arguments import add_command
from dtgraph.commands.importing import usage_error
from dtgraph.commands.store_options import STORE_EPILOG, StoreOpenError, add_store_options, open_from_args
from dtgraph.stores.errors import StoreError

if TYPE_CHECKING:
    from dtgraph.commands import Subparsers
    from dtgraph.stores.base import Store

__all__ = ["register", "run"]

_DESCRIPTION = """\
Write the whole graph — models, twins, relationships — as an import file.

The output is NDJSON in the Azure Digital Twins import-job format, the format
'dtgraph import' reads: importing it into an empty store gives the same graph.
It is streamed from the store, so memory stays bounded. With -o the file is
written beside its destination and renamed into place at the end, so a failed
export leaves no partial file."""

_EPILOG = f"""\
exit status:
  0  exported
  2  usage error, the store unavailable, or the output cannot be written

{STORE_EPILOG}

examples:
  dtgraph export -o graph.ndjson
  dtgraph export --store bolt://127.0.0.1:7687 | gzip > graph.ndjson.gz
  dtgraph export --store memory:old | dtgraph import - --store memory:new"""


def register(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    """Add the ``export`` command."""
    parser = add_command(
        subparsers,
        "export",
        help="write the whole graph as an import file (NDJSON)",
        description=_DESCRIPTION,
        epilog=_EPILOG,
    )
    parser.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="write to FILE instead of standard output"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")
    add_store_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Export the store the options name to ``args.output`` or stdout; return the exit status."""
    from dtgraph.graph.bulk import export_graph  # here, so that `dtgraph --help` stays quick

    try:
        store, location = open_from_args(args, must_exist=True)
    except StoreOpenError as exc:
        return usage_error("export", str(exc))
    try:
        if args.output is None:
            count = export_graph(store, sys.stdout)
            sys.stdout.flush()
            where = "standard output"
        else:
            count = _export_to(store, args.output)
            where = str(args.output)
    except StoreError as exc:
        return usage_error("export", f"{location}: {exc}")
    except OSError as exc:
        return usage_error("export", f"cannot write {args.output or 'standard output'}: {exc}")
    finally:
        store.close()
    if not args.quiet:
        print(
            f"exported {count:,} models, twins and relationships from {location} to {where}", file=sys.stderr
        )
    return 0


def _export_to(store: Store, path: Path) -> int:
    """Write to a temporary file beside ``path``, then rename it into place."""
    from dtgraph.graph.bulk import export_graph

    handle, partial = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent or ".")
    try:
        out: TextIO
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            count = export_graph(store, out)
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return count
