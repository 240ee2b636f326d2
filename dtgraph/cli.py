"""The ``dtgraph`` command: ``dtgraph <command> [options]``.

This module only builds the argument parser and dispatches. Each command lives in its own
module under ``dtgraph.commands`` and provides ``register(subparsers)``, which adds its
subparser and sets ``run`` (``argparse.Namespace -> exit code``) as a default.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from dtgraph import __version__
from dtgraph.commands import COMMANDS

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the whole command line, with every command registered."""
    parser = argparse.ArgumentParser(
        prog="dtgraph",
        description="Graph-based digital twin server: DTDL and AAS models as one asset graph.",
        epilog="Run 'dtgraph <command> --help' for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"dtgraph {__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="<command>")
    for register in COMMANDS:
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``) and return its exit code.

    Exit codes: 0 success, 1 the input is invalid, 2 usage error or unreadable input.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors: return, don't exit, for callers
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    run = getattr(args, "run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        code: int = run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`dtgraph validate ... | head`): silence the flush at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return code
