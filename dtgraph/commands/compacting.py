"""``dtgraph compact``: write a snapshot of a memory store's data directory, so that it opens quickly.

Opening a data directory replays its journal, which takes about as long as the writes it records; with a
snapshot (the change log, packed, up to a journal offset) it loads the snapshot and replays only the
journal after it. Closing a store writes one by itself once the journal has grown enough; this command
writes one now, e.g. after a large import, before a restart. History and reads of the past are kept.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING

from dtgraph.commands.arguments import add_command
from dtgraph.commands.importing import usage_error
from dtgraph.commands.store_options import STORE_EPILOG, StoreOpenError, add_store_options, open_from_args
from dtgraph.stores.errors import StoreError

if TYPE_CHECKING:
    from dtgraph.commands import Subparsers

__all__ = ["register", "run"]

_DESCRIPTION = """\
Write a snapshot of a memory store's data directory, so that it opens quickly.

Opening a data directory replays its journal; with a snapshot it loads the
snapshot and replays only what the journal holds after it. Closing a store
writes one by itself once the journal has grown by 16 MiB; this writes one
now. The journal is kept whole: it stays the record of truth, and a damaged
or outdated snapshot is ignored. Change history and reads of the past stay."""

_EPILOG = f"""\
exit status:
  0  a snapshot was written, or the last one is up to date
  2  usage error, the store unavailable, not a memory store, or the snapshot cannot be written

{STORE_EPILOG}

examples:
  dtgraph compact
  dtgraph compact --store memory:/var/lib/dtgraph"""


def register(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    """Add the ``compact`` command."""
    parser = add_command(
        subparsers,
        "compact",
        help="write a snapshot of a memory store's data directory, so that it opens quickly",
        description=_DESCRIPTION,
        epilog=_EPILOG,
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no summary on stderr")
    add_store_options(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Compact the memory store the options name; return the exit status."""
    from dtgraph.stores.memory import MemoryStore  # here, so that `dtgraph --help` stays quick

    try:
        started = time.perf_counter()
        store, location = open_from_args(args, must_exist=True)
        opened = time.perf_counter() - started
    except StoreOpenError as exc:
        return usage_error("compact", str(exc))
    try:
        if not isinstance(store, MemoryStore) or not store.capabilities.persistent:
            return usage_error("compact", f"{location} is not a memory store with a data directory")
        started = time.perf_counter()
        written = store.compact()
        took = time.perf_counter() - started
    except StoreError as exc:
        return usage_error("compact", f"{location}: {exc}")
    finally:
        store.close()
    if not args.quiet:
        what = f"wrote a snapshot in {took:.1f} s" if written else "the snapshot is up to date"
        print(f"{location}: {what} (opening took {opened:.1f} s)", file=sys.stderr)
    return 0
