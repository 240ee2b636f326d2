"""``dtgraph demo``: the generated demo enterprise as an import file, or loaded straight into a store.

The enterprise (sites, plants, lines, machines, sensors, utilities, suppliers, parts, products, orders;
see :mod:`dtgraph.demo`) is deterministic for a seed. With ``--store`` it is written to a temporary
file and imported like any other file: checked, then loaded as one atomic change in bounded memory.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from dtgraph.commands.arguments import add_command, positive_int
from dtgraph.commands.importing import load, usage_error
from dtgraph.commands.store_options import (
    STORE_EPILOG,
    STORE_HELP,
    StoreOpenError,
    add_store_options,
    open_from_args,
)

if TYPE_CHECKING:
    from dtgraph.commands import Subparsers

__all__ = ["register", "run"]

_DESCRIPTION = """\
Generate the demo enterprise: the shipped model library and a graph of twins.

The graph is an enterprise of sites, each with utilities, plants, lines,
machines and sensors, and a supply chain of three supplier tiers, parts,
products and orders: about three relationships a twin. The same --twins and
--seed give the same graph on every run. Without --store it is written as an
import file (to -o FILE or standard output); with --store it is imported
straight into that store, checked and atomically, as 'dtgraph import' does."""

_EPILOG = f"""\
exit status:
  0  written (or loaded)
  1  the generated graph was rejected by the store's existing graph (printed); nothing was written
  2  usage error, the output cannot be written, or the store unavailable

{STORE_EPILOG}

examples:
  dtgraph demo --twins 10000 -o demo.ndjson
  dtgraph demo --twins 100000 --store bolt://127.0.0.1:7687
  dtgraph demo | dtgraph import --dry-run -"""


def register(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    """Add the ``demo`` command."""
    parser = add_command(
        subparsers,
        "demo",
        help="generate the demo enterprise as an import file, or load it into a store",
        description=_DESCRIPTION,
        epilog=_EPILOG,
    )
    parser.add_argument(
        "--twins", type=positive_int, default=2000, metavar="N", help="about how many twins (default 2000)"
    )
    parser.add_argument("--seed", type=int, default=7, metavar="S", help="the random seed (default 7)")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("-o", "--output", type=Path, metavar="FILE", help="write the import file to FILE")
    target.add_argument(
        "--store",
        metavar="STORE",
        help="import into STORE instead of writing a file: " + STORE_HELP,
    )
    parser.add_argument("--json", action="store_true", help="with --store: print the import report as JSON")
    parser.add_argument("-q", "--quiet", action="store_true", help="no summary")
    add_store_options(parser, store=False)  # --store is above, exclusive with -o
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Write or load the demo enterprise; return the exit status."""
    from dtgraph.demo import write_ndjson  # here, so that `dtgraph --help` stays quick

    if args.store is None:
        return _write(args)
    handle, spooled = tempfile.mkstemp(prefix="dtgraph-demo-", suffix=".ndjson")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as out:
            write_ndjson(out, twins=args.twins, seed=args.seed)
        store, location = open_from_args(args)
        try:
            return load(
                Path(spooled), "<demo>", store, location, as_json=args.json, quiet=args.quiet, command="demo"
            )
        finally:
            store.close()
    except StoreOpenError as exc:
        return usage_error("demo", str(exc))
    except OSError as exc:
        return usage_error("demo", f"cannot write the temporary file {spooled}: {exc}")
    finally:
        Path(spooled).unlink(missing_ok=True)


def _write(args: argparse.Namespace) -> int:
    from dtgraph.demo import write_ndjson

    try:
        if args.output is None:
            lines = write_ndjson(sys.stdout, twins=args.twins, seed=args.seed)
            sys.stdout.flush()
        else:
            with args.output.open("w", encoding="utf-8", newline="\n") as out:
                lines = write_ndjson(out, twins=args.twins, seed=args.seed)
    except OSError as exc:
        return usage_error("demo", f"cannot write {args.output or 'standard output'}: {exc}")
    if not args.quiet:
        print(
            f"wrote the demo enterprise ({lines:,} lines, seed {args.seed}) "
            f"to {args.output or 'standard output'}",
            file=sys.stderr,
        )
    return 0
