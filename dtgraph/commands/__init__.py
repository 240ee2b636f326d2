"""The subcommands of ``dtgraph``, one module each.

A command module provides ``register(subparsers)``: it adds its subparser, with help texts, and
sets ``run`` (``argparse.Namespace -> int`` exit code) as a default. Add new commands to
``COMMANDS``; the order is the order of ``dtgraph --help``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from dtgraph.commands.aas import register as _aas
from dtgraph.commands.cascade import register as _cascade
from dtgraph.commands.cascade import register_criticality as _criticality
from dtgraph.commands.compacting import register as _compact
from dtgraph.commands.demo import register as _demo
from dtgraph.commands.exporting import register as _export
from dtgraph.commands.importing import register as _import
from dtgraph.commands.serve import register as _serve
from dtgraph.commands.validate import register as _validate

__all__ = ["COMMANDS", "Subparsers"]

Subparsers = argparse._SubParsersAction  # the type argparse gives no public name

COMMANDS: tuple[Callable[[Subparsers[argparse.ArgumentParser]], None], ...] = (
    _validate,
    _import,
    _export,
    _compact,
    _demo,
    _aas,
    _serve,
    _cascade,
    _criticality,
)
