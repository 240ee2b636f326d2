"""DTDL parse + validate: dtgraph.dtdl.parse against the reference parser, in one run.

Inputs: each corpus in ``../shared/corpora/dtdl/`` parsed as one model (RealEstateCore is
``opendigitaltwins-building``, 768 files; XMPro is invalid, a duplicate definition, and is timed all
the same), then the whole conformance suite (20,347 cases, each parsed on its own).

dtgraph is timed in this process around ``parse`` alone (documents already read into memory as the
bytes on disk). The reference (DTDLParser 1.1.3 as WebAssembly, ``tools/dtdl-oracle``) is timed
inside its warm node process around its parse calls, so neither side pays for the pipe between them.
Each figure is the median of k runs after one warm-up run; the ratio is dtgraph / reference (below 1:
dtgraph is faster). Before any figure is printed the verdicts are compared: a corpus on which the two
disagree (valid or not, number of interfaces) makes the bench exit 1. On the suite the figure is
agreement with the expected verdicts, for both parsers (the reference cannot be given the
AllowUndefinedExtensions option, so it misses ~1% of the cases).

    python bench/dtdl_parse.py [--repeat 5] [--suite-repeat 3] [--only building] [--no-suite] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: make tests/ and tools/ importable

from dtgraph.dtdl import DtdlValidationError, ModelSet, parse  # noqa: E402
from tests.dtdl.conformance import Case, load_cases  # noqa: E402
from tools.dtdl_oracle import OracleError, ReferenceParser  # noqa: E402

CORPORA = ROOT.parent / "shared" / "corpora" / "dtdl"
LABELS = {"opendigitaltwins-building": "RealEstateCore (building)"}
T = TypeVar("T")


@dataclass(slots=True)
class Row:
    name: str
    documents: int
    kib: float | None
    dtgraph_ms: float
    reference_ms: float
    verdict: str  # e.g. "valid/valid" (dtgraph/reference), or agreement on the suite
    same_answer: bool

    @property
    def ratio(self) -> float:
        return self.dtgraph_ms / self.reference_ms if self.reference_ms else float("nan")


def _timed(fn: Callable[[], T], runs: int) -> tuple[float, T]:
    """Median wall time in ms of ``runs`` calls after one warm-up call, and the warm-up's result."""
    result = fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def _dtgraph_verdict(documents: Sequence[object], sources: Sequence[str] | None = None) -> tuple[bool, int]:
    try:
        models: ModelSet = parse(documents, sources=sources)
    except DtdlValidationError:
        return False, 0
    return True, len(models.interfaces)


def bench_corpus(folder: Path, oracle: ReferenceParser, runs: int) -> Row:
    files = sorted(folder.rglob("*.json"))
    if not files:
        raise SystemExit(f"no JSON files under {folder}")
    blobs = [f.read_bytes() for f in files]
    sources = [str(f.relative_to(folder)) for f in files]
    texts = [b.decode("utf-8-sig") for b in blobs]

    ours_ms, (ours_valid, ours_interfaces) = _timed(lambda: _dtgraph_verdict(blobs, sources), runs)
    timed = oracle.time(texts, runs + 1)
    ref = oracle.parse(texts, summary=True)
    ref_interfaces = ref.interfaces or 0
    same = ours_valid == ref.valid and (not ref.valid or ours_interfaces == ref_interfaces)
    verdict = f"{_word(ours_valid)}/{_word(ref.valid)}"
    if ref.valid:
        verdict += f" {ours_interfaces}/{ref_interfaces} ifaces"
    return Row(
        name=LABELS.get(folder.name, folder.name),
        documents=len(files),
        kib=sum(len(b) for b in blobs) / 1024,
        dtgraph_ms=ours_ms,
        reference_ms=statistics.median(timed.elapsed_ms[1:]),
        verdict=verdict,
        same_answer=same,
    )


def _word(valid: bool) -> str:
    return "valid" if valid else "invalid"


def _run_suite(cases: Sequence[Case]) -> list[bool | None]:
    verdicts: list[bool | None] = []
    for case in cases:
        try:
            parse(
                case.documents,
                allow_undefined_extensions=case.allow_undefined_extensions,
                extension_limit_contexts=case.acceptable_limits,
            )
        except DtdlValidationError:
            verdicts.append(False)
        except Exception:
            verdicts.append(None)  # a crash: counted as a disagreement below
        else:
            verdicts.append(True)
    return verdicts


def bench_suite(cases: Sequence[Case], oracle: ReferenceParser, runs: int) -> Row:
    ours_ms, ours = _timed(lambda: _run_suite(cases), runs)
    batch = oracle.parse_batch([c.documents for c in cases], time=True, repeat=runs + 1)
    ours_agree = sum(v == c.valid for v, c in zip(ours, cases, strict=True))
    ref_agree = sum(r.valid == c.valid for r, c in zip(batch.results, cases, strict=True))
    n = len(cases)
    return Row(
        name=f"conformance suite ({n:,} cases)",
        documents=sum(len(c.documents) for c in cases),
        kib=None,
        dtgraph_ms=ours_ms,
        reference_ms=statistics.median(batch.elapsed_ms[1:]),
        verdict=f"spec agreement {100 * ours_agree / n:.2f}%/{100 * ref_agree / n:.2f}%",
        same_answer=True,  # the two are compared with the spec, not with each other
    )


def _node_version() -> str:
    try:
        return subprocess.run(
            ["node", "--version"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def format_table(rows: Sequence[Row], header: str) -> str:
    lines = [
        header,
        f"{'input':<42}{'docs':>7}{'KiB':>7}  {'dtgraph ms':>11}{'reference ms':>13}{'ratio':>8}  "
        "verdict (dtgraph/reference)",
    ]
    for r in rows:
        kib = f"{r.kib:.0f}" if r.kib is not None else "-"
        flag = "" if r.same_answer else "  MISMATCH"
        lines.append(
            f"{r.name:<42}{r.documents:>7}{kib:>7}  {r.dtgraph_ms:>11.1f}{r.reference_ms:>13.1f}"
            f"{r.ratio:>7.2f}x  {r.verdict}{flag}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per corpus (median), after a warm-up")
    ap.add_argument("--suite-repeat", type=int, default=3, help="timed runs of the conformance suite")
    ap.add_argument(
        "--only", action="append", metavar="TEXT", help="only corpora whose folder name contains TEXT"
    )
    ap.add_argument("--no-suite", action="store_true", help="skip the conformance suite")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)

    if not CORPORA.is_dir():
        print(f"error: the DTDL corpora are missing: expected {CORPORA}", file=sys.stderr)
        return 2
    folders = sorted(p for p in CORPORA.iterdir() if p.is_dir())
    if args.only:
        folders = [f for f in folders if any(t in f.name for t in args.only)]

    rows: list[Row] = []
    try:
        with ReferenceParser() as oracle:
            for folder in folders:
                rows.append(bench_corpus(folder, oracle, args.repeat))
            if not args.no_suite:
                rows.append(bench_suite(load_cases(), oracle, args.suite_repeat))
            version = oracle.version.split(",")[1].split("=")[1]
    except OracleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    header = (
        f"DTDL parse+validate, median of {args.repeat} runs (suite: {args.suite_repeat}) after a warm-up; "
        f"dtgraph on Python {platform.python_version()} vs DTDLParser {version} "
        f"(WebAssembly, node {_node_version()}, timed inside node)"
    )
    if args.json:
        data: dict[str, Any] = {
            "header": header,
            "rows": [{**asdict(r), "ratio": round(r.ratio, 4)} for r in rows],
        }
        print(json.dumps(data, indent=1))
    else:
        print(format_table(rows, header))
    wrong = [r.name for r in rows if not r.same_answer]
    if wrong:
        print(f"error: dtgraph and the reference disagree on: {', '.join(wrong)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
