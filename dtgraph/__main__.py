"""``python -m dtgraph``: the same as the ``dtgraph`` command."""

from __future__ import annotations

from dtgraph.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
