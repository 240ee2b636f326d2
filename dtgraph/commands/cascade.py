"""``dtgraph cascade`` and ``dtgraph criticality``: cascade-failure analysis of the graph in a store.

Both read the store once into a dependency snapshot (:mod:`dtgraph.cascade`), then print readable tables
(rich) or, with ``--json``, one JSON document. ``--cascade-config FILE`` (default ``$DTGRAPH_CASCADE_CONFIG``)
declares the failure semantics of models that do not come from the model library.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dtgraph.commands.arguments import add_command, positive_int
from dtgraph.commands.store_options import STORE_EPILOG, StoreOpenError, add_store_options, open_from_args

if TYPE_CHECKING:
    from dtgraph.cascade import CascadeConfigError, CascadeResult, CriticalityResult, MonteCarloResult
    from dtgraph.commands import Subparsers

__all__ = ["add_cascade_config_option", "register", "register_criticality"]

_CASCADE = """\
Fail one or more twins at hour 0 and show what follows: every twin hit within
the horizon, when, and the chain of dependencies that brings the failure to
it; lines, plants and sites stopped or degraded; orders and customers hit; the
value at risk. With --samples, also a Monte Carlo estimate: random recovery
times and link disruptions, each twin's hit probability, the expected and
95th percentile value at risk (reproducible with --seed)."""

_CRITICALITY = """\
Rank every twin by the value its failure alone puts at risk within the
horizon; count the products and orders it stops on its own (single points of
failure); compare each supplier's time to survive with its time to recover."""

_EPILOG = f"""\
exit status:
  0  done
  2  usage error, unknown twin, invalid cascade configuration, or the store unavailable

{STORE_EPILOG}"""


def _hours(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of hours: {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number of hours, not {text}")
    return value


def add_cascade_config_option(parser: argparse.ArgumentParser, *, from_env: bool = False) -> None:
    """Add ``--cascade-config FILE`` (``from_env``: defaulting to ``$DTGRAPH_CASCADE_CONFIG``)."""
    parser.add_argument(
        "--cascade-config",
        type=Path,
        default=(os.environ.get("DTGRAPH_CASCADE_CONFIG") or None) if from_env else None,
        metavar="FILE",
        help="failure semantics of your own models: which relationships carry failure, which "
        "properties hold buffer, recovery, gate, value (TOML, see dtdl/README.md; default: "
        "$DTGRAPH_CASCADE_CONFIG)",
    )


def register(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    """Add the ``cascade`` command."""
    parser = add_command(
        subparsers,
        "cascade",
        help="what the failure of twins reaches, when, why, and the value at risk",
        description=_CASCADE,
        epilog=_EPILOG + "\n\nexamples:\n  dtgraph cascade --fail site-0-power --horizon 72\n"
        "  dtgraph cascade --fail supplier-1-3 --samples 1000 --seed 7 --json",
    )
    parser.add_argument(
        "--fail", action="append", required=True, metavar="ID", help="a failed twin (repeatable)"
    )
    parser.add_argument(
        "--horizon", type=_hours, default=168.0, metavar="H", help="hours ahead (default 168)"
    )
    parser.add_argument(
        "--recovery",
        action="store_true",
        help="failed twins come back after their recoveryHours (default: they stay down)",
    )
    parser.add_argument("--samples", type=positive_int, metavar="N", help="also run N Monte Carlo samples")
    parser.add_argument("--seed", type=int, default=0, metavar="S", help="Monte Carlo seed (default 0)")
    parser.add_argument(
        "--limit", type=positive_int, default=40, metavar="N", help="rows per table (default 40)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    add_cascade_config_option(parser, from_env=True)
    add_store_options(parser)
    parser.set_defaults(run=_run_cascade)


def register_criticality(subparsers: Subparsers[argparse.ArgumentParser]) -> None:
    """Add the ``criticality`` command."""
    parser = add_command(
        subparsers,
        "criticality",
        help="rank twins by the value their failure puts at risk; single points of failure",
        description=_CRITICALITY,
        epilog=_EPILOG + "\n\nexample:\n  dtgraph criticality --top 20 --horizon 336",
    )
    parser.add_argument(
        "--top", type=positive_int, default=20, metavar="N", help="twins to show (default 20)"
    )
    parser.add_argument(
        "--horizon", type=_hours, default=168.0, metavar="H", help="hours ahead (default 168)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    add_cascade_config_option(parser, from_env=True)
    add_store_options(parser)
    parser.set_defaults(run=_run_criticality)


def _error(command: str, message: str) -> int:
    print(f"dtgraph {command}: error: {message}", file=sys.stderr)
    return 2


def _load(args: argparse.Namespace) -> Any:
    """The store's dependency snapshot (raises StoreOpenError, CascadeConfigError)."""
    from dtgraph.cascade import load_config, snapshot
    from dtgraph.cascade.snapshot import store_models

    store, _ = open_from_args(args, must_exist=True)
    try:
        models = store_models(store)
        semantics = load_config(args.cascade_config, models) if args.cascade_config else None
        return snapshot(store, models, semantics)
    finally:
        store.close()


def _config_error(command: str, exc: CascadeConfigError) -> int:
    print(f"dtgraph {command}: error: invalid cascade configuration:", file=sys.stderr)
    for issue in exc.issues:
        print(f"  {issue}", file=sys.stderr)
    return 2


def _run_cascade(args: argparse.Namespace) -> int:
    from dtgraph.cascade import MAX_SAMPLES, CascadeConfigError, cascade, monte_carlo

    if args.samples is not None and args.samples > MAX_SAMPLES:
        return _error("cascade", f"--samples is at most {MAX_SAMPLES:,}, not {args.samples:,}")
    try:
        graph = _load(args)
        missing = [twin for twin in args.fail if twin not in set(graph.ids)]
        if missing:
            return _error("cascade", f"no twin {', '.join(map(repr, missing))} in the store")
        result = cascade(graph, args.fail, horizon=args.horizon, recovery=args.recovery)
        sampled = (
            monte_carlo(graph, args.fail, horizon=args.horizon, samples=args.samples, seed=args.seed)
            if args.samples
            else None
        )
    except StoreOpenError as exc:
        return _error("cascade", str(exc))
    except CascadeConfigError as exc:
        return _config_error("cascade", exc)
    if args.json:
        doc = result.to_json()
        if sampled is not None:
            doc["monteCarlo"] = sampled.to_json()
        print(json.dumps(doc, indent=2, allow_nan=False))
        return 0
    _print_cascade(result, sampled, args.limit)
    return 0


def _run_criticality(args: argparse.Namespace) -> int:
    from dtgraph.cascade import CascadeConfigError, criticality

    try:
        graph = _load(args)
    except StoreOpenError as exc:
        return _error("criticality", str(exc))
    except CascadeConfigError as exc:
        return _config_error("criticality", exc)
    result = criticality(graph, horizon=args.horizon)
    if args.json:
        print(json.dumps(result.to_json(top=args.top), indent=2, allow_nan=False))
        return 0
    _print_criticality(result, args.top)
    return 0


# ---- tables ------------------------------------------------------------------------------------------------


def _h(hours: float | None) -> str:
    if hours is None or math.isinf(hours):
        return "-"
    return f"{hours:,.1f} h"


def _money(value: float) -> str:
    return f"{value:,.0f}"


def _print_cascade(result: CascadeResult, sampled: MonteCarloResult | None, limit: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    hit = [i for i in result.impacts if i.state != "degraded"]
    console.print(
        f"[bold]Failure of {', '.join(result.failed)}[/bold]: {len(hit):,} twins down within "
        f"{result.horizon:g} h; value at risk [bold]{_money(result.value_at_risk)}[/bold] "
        f"(orders {_money(result.order_value)}, revenue {_money(result.revenue)})"
    )
    table = Table(title="Impacted twins, soonest first", title_justify="left")
    for column in ("twin", "category", "state", "down at", "back at", "value", "because"):
        right = column in ("down at", "back at", "value")
        table.add_column(column, justify="right" if right else "left", overflow="fold")
    shown = [i for i in result.impacts if i.category != "Sensor"][:limit]
    for i in shown:
        because = ""
        if len(i.chain) > 1:
            before, step = i.chain[-2], i.chain[-1]
            because = f"{step.via} ← {before.twin}"
            if len(i.chain) > 2:
                because += f" ({len(i.chain) - 1} steps from {i.chain[0].twin})"
        table.add_row(
            i.twin,
            i.category,
            i.state,
            _h(i.time),
            _h(i.recovered),
            _money(i.value) if i.value else "",
            because,
        )
    console.print(table)
    sensors = sum(1 for i in result.impacts if i.category == "Sensor")
    others = len(result.impacts) - sensors - len(shown)
    if others > 0 or sensors:
        console.print(f"  … and {others:,} more twins, {sensors:,} sensors (--json lists them all)")
    rollup = Table(title="Roll-up", title_justify="left")
    for column in ("level", "stopped", "degraded", "first down"):
        rollup.add_column(column)
    for level in ("Site", "Plant", "Line", "Product", "CustomerOrder"):
        rows = result.by_category(level)
        stopped = [i for i in rows if i.state != "degraded"]
        degraded = [i for i in rows if i.state == "degraded"]
        if rows:
            rollup.add_row(
                level, f"{len(stopped):,}", f"{len(degraded):,}", _h(stopped[0].time if stopped else None)
            )
    console.print(rollup)
    if result.customers:
        customers = Table(title="Customers: order value at risk", title_justify="left")
        customers.add_column("customer")
        customers.add_column("value", justify="right")
        for name, value in list(result.customers.items())[:limit]:
            customers.add_row(name, _money(value))
        console.print(customers)
    if sampled is not None:
        console.print(
            f"[bold]Monte Carlo[/bold], {sampled.samples:,} samples, seed {sampled.seed}: value at risk "
            f"expected {_money(sampled.expected_value)}, 95th percentile {_money(sampled.p95_value)}"
        )
        mc = Table(title="Most likely hit", title_justify="left")
        for column in ("twin", "category", "probability", "95 % interval", "mean time"):
            mc.add_column(column)
        for h in [h for h in sampled.hits if h.category != "Sensor"][:limit]:
            mc.add_row(
                h.twin, h.category, f"{h.probability:.3f}", f"{h.low:.3f} to {h.high:.3f}", _h(h.mean_time)
            )
        console.print(mc)


def _print_criticality(result: CriticalityResult, top: int) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(
        title=f"Most critical twins (value at risk within {result.horizon:g} h)", title_justify="left"
    )
    for column in ("twin", "category", "value at risk", "annual loss", "stops alone", "time to survive"):
        table.add_column(column, justify="left" if column in ("twin", "category") else "right")
    for c in result.ranking[:top]:
        table.add_row(
            c.twin,
            c.category,
            _money(c.value_at_risk),
            _money(c.annual_loss),
            f"{c.stops:,}",
            _h(c.time_to_survive),
        )
    console.print(table)
    exposed = [s for s in result.suppliers if s.exposed]
    suppliers = Table(
        title=f"Suppliers: time to survive vs time to recover "
        f"({len(exposed):,} of {len(result.suppliers):,} exposed)",
        title_justify="left",
    )
    for column in ("supplier", "TTS", "TTR", "exposed", "first hit"):
        suppliers.add_column(column)
    for s in result.suppliers[:top]:
        suppliers.add_row(
            s.supplier,
            _h(s.time_to_survive),
            _h(s.time_to_recover),
            "yes" if s.exposed else "no",
            s.first_hit or "-",
        )
    console.print(suppliers)
