"""Asset Administration Shells (IDTA metamodel V3.0 and V3.1) into the asset graph.

Modules: :mod:`~dtgraph.aas.limits` (what an input must stay within), :mod:`~dtgraph.aas.package` (AASX/OPC
packages, in memory), :mod:`~dtgraph.aas.reader` (JSON/XML/AASX to aas-core environments with their
constraint violations; version detection and legacy refusal), :mod:`~dtgraph.aas.mapping` (environments to
twins and relationships of the model library), :mod:`~dtgraph.aas.importer` (read, map, diff, write
atomically, report) and :mod:`~dtgraph.aas.errors`.

    from dtgraph.aas import import_aas
    report = import_aas(["supplier.aasx"], TwinGraph(store), dry_run=True)
    for change in report.changes: print(change)
"""

from __future__ import annotations

from dtgraph.aas.errors import (
    AasError,
    AasFormatError,
    AasInvalidError,
    AasIssue,
    AasLimitError,
    AasPackageError,
    AasVersionError,
)
from dtgraph.aas.importer import Change, ImportReport, import_aas
from dtgraph.aas.limits import DEFAULT_LIMITS, Limits
from dtgraph.aas.reader import AasDocument, ReadResult, read_bytes, read_file

__all__ = [
    "DEFAULT_LIMITS",
    "AasDocument",
    "AasError",
    "AasFormatError",
    "AasInvalidError",
    "AasIssue",
    "AasLimitError",
    "AasPackageError",
    "AasVersionError",
    "Change",
    "ImportReport",
    "Limits",
    "ReadResult",
    "import_aas",
    "read_bytes",
    "read_file",
]
