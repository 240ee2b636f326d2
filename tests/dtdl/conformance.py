"""Run the DTDLParser conformance suite against ``dtgraph.dtdl.parse`` (or any parse callable).

The suite is ``../shared/corpora/dtdl-conformance/specification/*.json``: 2,732 files of 20,347 cases,
each ``{valid, options, input[, desirable][, expect.unresolvedIdentifiers][, acceptableLimits]}``.
A case *agrees* when the parser's verdict matches ``valid``: a valid case returns, an invalid case
raises ``DtdlValidationError``; where ``expect.unresolvedIdentifiers`` is given the parser must raise
``DtdlResolutionError`` with exactly those identifiers. Any other exception (or a case running past
the time limit) is a disagreement, recorded with a traceback summary.

Command line (from the repository root; ``scripts/conformance`` is the same)::

    python -m tests.dtdl.conformance                  # summary + disagreements grouped by file
    python -m tests.dtdl.conformance --show 0         # per-version summary only
    python -m tests.dtdl.conformance --list           # one line per disagreeing case
    python -m tests.dtdl.conformance --version 3 --file 'Requirement-Class*'
    python -m tests.dtdl.conformance --case Requirement-ClassArrayFooV3.json#2   # one case in full
    python -m tests.dtdl.conformance --with-oracle    # annotate disagreements with the reference verdict
    python -m tests.dtdl.conformance --oracle         # measure the reference parser itself
    python -m tests.dtdl.conformance --json

The exit status is 0 when the selected versions meet ``TARGETS`` and every expected unresolved
identifier set matches, else 1.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import multiprocessing
import os
import re
import signal
import sys
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from dtgraph.dtdl.errors import DtdlResolutionError, DtdlValidationError, ParsingError

__all__ = [
    "SPEC_DIR",
    "TARGETS",
    "Case",
    "CaseTimeout",
    "Outcome",
    "ParseFn",
    "Report",
    "VersionStats",
    "case_files",
    "load_cases",
    "load_file",
    "main",
    "reference_parse",
    "run",
    "run_case",
    "time_limit",
]

ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = ROOT.parent / "shared" / "corpora" / "dtdl-conformance" / "specification"
VERSIONS = (2, 3, 4)
TARGETS: dict[int, float] = {2: 100.0, 3: 100.0, 4: 99.0}  # minimum agreement, percent
DEFAULT_TIMEOUT = 20.0  # seconds per case; a hang is a disagreement, not a stuck run

ParseFn = Callable[..., object]
"""Called as ``parse(documents, allow_undefined_extensions=..., extension_limit_contexts=...)``."""

_VERSION_RE = re.compile(r"V(\d+)\.json$")


# -- cases -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Case:
    file: str
    index: int
    version: int
    valid: bool
    allow_undefined_extensions: bool
    documents: list[Any]  # decoded JSON values, parsed together
    unresolved: frozenset[str] | None = None  # expect.unresolvedIdentifiers
    acceptable_limits: tuple[str, ...] = ()
    desirable: bool | None = None

    @property
    def key(self) -> str:
        return f"{self.file}#{self.index}"


def case_files(
    directory: Path = SPEC_DIR,
    *,
    versions: Iterable[int] | None = None,
    patterns: Iterable[str] | None = None,
) -> list[Path]:
    """The suite's files, sorted by name, filtered by version and by name globs."""
    if not directory.is_dir():
        raise FileNotFoundError(
            f"conformance suite not found at {directory}: it is in ../shared beside the repo"
        )
    wanted = set(versions) if versions is not None else None
    globs = list(patterns or [])
    files = []
    for path in sorted(directory.glob("*.json")):
        if wanted is not None and _file_version(path.name) not in wanted:
            continue
        if globs and not any(fnmatch.fnmatchcase(path.name, g) for g in globs):
            continue
        files.append(path)
    return files


def _file_version(name: str) -> int:
    match = _VERSION_RE.search(name)
    if match is None:
        raise ValueError(f"conformance file {name} does not end in V<version>.json")
    return int(match.group(1))


def load_file(path: Path) -> list[Case]:
    version = _file_version(path.name)
    raw = json.loads(path.read_text(encoding="utf-8-sig"))
    cases = []
    for index, item in enumerate(raw):
        options = item.get("options", [])
        expected = item.get("expect", {}).get("unresolvedIdentifiers")
        cases.append(
            Case(
                file=path.name,
                index=index,
                version=version,
                valid=bool(item["valid"]),
                allow_undefined_extensions="AllowUndefinedExtensions" in options,
                documents=list(item["input"]),
                unresolved=frozenset(expected) if expected is not None else None,
                acceptable_limits=tuple(item.get("acceptableLimits", ())),
                desirable=item.get("desirable"),
            )
        )
    return cases


def load_cases(
    directory: Path = SPEC_DIR,
    *,
    versions: Iterable[int] | None = None,
    patterns: Iterable[str] | None = None,
) -> list[Case]:
    return [c for p in case_files(directory, versions=versions, patterns=patterns) for c in load_file(p)]


# -- running ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    file: str
    index: int
    version: int
    expected_valid: bool
    got_valid: bool | None  # None: an exception other than DtdlValidationError
    codes: tuple[str, ...] = ()  # of the errors raised, in order
    message: str = ""  # the first error's message, or the crash summary
    undefined: tuple[str, ...] | None = None  # DtdlResolutionError.undefined_identifiers
    expected_undefined: tuple[str, ...] | None = None
    crash: str | None = None  # full traceback of an unexpected exception
    seconds: float = 0.0
    errors: tuple[str, ...] = field(default=(), compare=False)  # str() of every error, for --case

    @property
    def key(self) -> str:
        return f"{self.file}#{self.index}"

    @property
    def valid_agrees(self) -> bool:
        return self.got_valid is not None and self.got_valid == self.expected_valid

    @property
    def unresolved_matches(self) -> bool | None:
        """None when the case names no unresolved identifiers."""
        if self.expected_undefined is None:
            return None
        return self.undefined is not None and set(self.undefined) == set(self.expected_undefined)

    @property
    def agrees(self) -> bool:
        return self.valid_agrees and self.unresolved_matches is not False

    @property
    def got_label(self) -> str:
        if self.got_valid is None:
            return "crash"
        return "valid" if self.got_valid else "invalid"

    @property
    def expected_label(self) -> str:
        return "valid" if self.expected_valid else "invalid"


class CaseTimeout(Exception):
    """A case ran past its time limit."""


@contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise CaseTimeout in the main thread after ``seconds`` (no-op elsewhere or when None)."""
    import threading

    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: FrameType | None) -> None:
        raise CaseTimeout(f"still running after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _crash_summary(exc: BaseException, frames: int = 3) -> str:
    here = Path(__file__).resolve()
    tb = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() != here][-frames:]
    where = " < ".join(f"{_short_path(f.filename)}:{f.lineno} in {f.name}" for f in reversed(tb))
    text = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
    return f"{text} [{where}]" if where else text


def _short_path(filename: str) -> str:
    try:
        return str(Path(filename).resolve().relative_to(ROOT))
    except ValueError:
        return Path(filename).name


def run_case(case: Case, parse: ParseFn, *, timeout: float | None = DEFAULT_TIMEOUT) -> Outcome:
    """Parse one case and compare with its expectation."""
    expected_undefined = tuple(sorted(case.unresolved)) if case.unresolved is not None else None
    base: dict[str, Any] = {
        "file": case.file,
        "index": case.index,
        "version": case.version,
        "expected_valid": case.valid,
        "expected_undefined": expected_undefined,
    }
    start = time.perf_counter()
    try:
        with time_limit(timeout):
            parse(
                case.documents,
                allow_undefined_extensions=case.allow_undefined_extensions,
                extension_limit_contexts=case.acceptable_limits,
            )
    except DtdlValidationError as exc:
        seconds = time.perf_counter() - start
        errors: list[ParsingError] = list(exc.errors)
        undefined = tuple(exc.undefined_identifiers) if isinstance(exc, DtdlResolutionError) else None
        return Outcome(
            **base,
            got_valid=False,
            codes=tuple(e.code for e in errors),
            message=errors[0].message if errors else str(exc),
            undefined=undefined,
            seconds=seconds,
            errors=tuple(str(e) for e in errors),
        )
    except Exception as exc:  # anything else is a parser bug, and so a disagreement
        seconds = time.perf_counter() - start
        return Outcome(
            **base,
            got_valid=None,
            message=_crash_summary(exc),
            crash="".join(traceback.format_exception(exc)),
            seconds=seconds,
        )
    return Outcome(**base, got_valid=True, seconds=time.perf_counter() - start)


def _default_parse() -> ParseFn:
    from dtgraph.dtdl import parse  # imported late: the runner also works before the parser exists

    return parse


_worker_parse: ParseFn | None = None
_worker_timeout: float | None = DEFAULT_TIMEOUT


def _init_worker(parse: ParseFn | None, timeout: float | None, worker: bool = True) -> None:
    global _worker_parse, _worker_timeout
    if worker:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C
    _worker_parse = parse or _default_parse()
    _worker_timeout = timeout


def _run_file(path: Path) -> list[Outcome]:
    assert _worker_parse is not None
    return [run_case(c, _worker_parse, timeout=_worker_timeout) for c in load_file(path)]


@dataclass(frozen=True, slots=True)
class VersionStats:
    version: int
    cases: int
    agree: int
    false_invalid: int  # expected valid, raised DtdlValidationError
    false_valid: int  # expected invalid, returned
    crashes: int
    unresolved_mismatches: int

    @property
    def percent(self) -> float:
        return 100.0 * self.agree / self.cases if self.cases else 100.0

    @property
    def percent_text(self) -> str:
        # floor, so that 99.996% never shows as 100.00
        return f"{int(self.percent * 100) / 100:.2f}"


@dataclass(slots=True)
class Report:
    outcomes: list[Outcome]
    parser: str = "dtgraph.dtdl.parse"
    seconds: float = 0.0
    files: int = 0
    jobs: int = 1

    def stats(self) -> dict[int, VersionStats]:
        result = {}
        for version in sorted({o.version for o in self.outcomes}):
            rows = [o for o in self.outcomes if o.version == version]
            result[version] = VersionStats(
                version=version,
                cases=len(rows),
                agree=sum(o.agrees for o in rows),
                false_invalid=sum(o.expected_valid and o.got_valid is False for o in rows),
                false_valid=sum(not o.expected_valid and o.got_valid is True for o in rows),
                crashes=sum(o.got_valid is None for o in rows),
                unresolved_mismatches=sum(o.unresolved_matches is False for o in rows),
            )
        return result

    @property
    def disagreements(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.agrees]

    @property
    def unresolved_mismatches(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.unresolved_matches is False]

    def failed_targets(self) -> list[str]:
        """Why the report misses TARGETS, one line each; empty when every target is met."""
        problems = []
        for version, stats in self.stats().items():
            target = TARGETS.get(version, 100.0)
            if stats.percent < target:
                problems.append(f"v{version}: {stats.percent_text}% agreement, target {target:g}%")
        if mismatches := self.unresolved_mismatches:
            problems.append(f"{len(mismatches)} case(s) with wrong unresolved identifiers")
        return problems

    def to_json(self) -> dict[str, Any]:
        return {
            "parser": self.parser,
            "files": self.files,
            "cases": len(self.outcomes),
            "seconds": round(self.seconds, 3),
            "jobs": self.jobs,
            "versions": {
                str(v): {**asdict(s), "percent": round(s.percent, 4), "target": TARGETS.get(v, 100.0)}
                for v, s in self.stats().items()
            },
            "failed_targets": self.failed_targets(),
            "disagreements": [
                {
                    "case": o.key,
                    "version": o.version,
                    "expected": o.expected_label,
                    "got": o.got_label,
                    "codes": list(o.codes),
                    "message": o.message,
                    "undefined": None if o.undefined is None else list(o.undefined),
                    "expected_undefined": None
                    if o.expected_undefined is None
                    else list(o.expected_undefined),
                    "crash": o.crash,
                }
                for o in self.disagreements
            ],
        }


def run(
    files: Sequence[Path] | None = None,
    *,
    parse: ParseFn | None = None,
    jobs: int = 2,
    timeout: float | None = DEFAULT_TIMEOUT,
    parser_name: str | None = None,
) -> Report:
    """Run every case of ``files`` (default: the whole suite) through ``parse`` (default dtgraph's).

    With ``jobs > 1`` files are spread over forked worker processes; outcomes keep file order, so
    the report is the same whatever the number of jobs.
    """
    paths = list(files) if files is not None else case_files()
    start = time.perf_counter()
    outcomes: list[Outcome] = []
    jobs = max(1, min(jobs, len(paths)))
    if jobs == 1:
        _init_worker(parse, timeout, worker=False)
        for path in paths:
            outcomes.extend(_run_file(path))
    else:
        context = multiprocessing.get_context("fork")
        with context.Pool(jobs, initializer=_init_worker, initargs=(parse, timeout)) as pool:
            for chunk in pool.imap(_run_file, paths, chunksize=8):
                outcomes.extend(chunk)
    if parser_name is None:
        parser_name = "dtgraph.dtdl.parse" if parse is None else f"{parse.__module__}.{parse.__qualname__}"
    return Report(
        outcomes, parser=parser_name, seconds=time.perf_counter() - start, files=len(paths), jobs=jobs
    )


# -- the reference parser as a parse callable ------------------------------------------------------

_oracle: Any = None


def reference_parse(
    documents: Sequence[object],
    *,
    allow_undefined_extensions: bool = False,
    extension_limit_contexts: Sequence[str] = (),
    sources: Sequence[str] | None = None,
) -> None:
    """``dtgraph.dtdl.parse``'s contract, answered by the reference parser (one warm node per process).

    The oracle always runs with DTDLParser's default options: ``allow_undefined_extensions`` and
    ``extension_limit_contexts`` cannot be passed on and are ignored.
    """
    global _oracle
    if _oracle is None:
        from tools.dtdl_oracle import ReferenceParser

        _oracle = ReferenceParser().start()
    result = _oracle.parse(documents)
    if result.valid:
        return
    errors = [
        ParsingError(
            code=e.code, message=e.message, primary_id=e.primary_id, property=e.property, value=e.value
        )
        for e in result.errors
    ]
    if result.kind == "Crash":
        raise DtdlValidationError([ParsingError(code="referenceCrash", message=str(result.crash))])
    if result.kind == "Resolution":
        undefined = list(result.undefined)
        message = "undefined identifiers: " + ", ".join(undefined)
        raise DtdlResolutionError([ParsingError(code="resolution", message=message)], undefined)
    raise DtdlValidationError(errors)


def _close_reference() -> None:
    global _oracle
    if _oracle is not None:
        _oracle.close()
        _oracle = None


# -- output ----------------------------------------------------------------------------------------


def _clip(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _verdict(o: Outcome, width: int = 110) -> str:
    text = f"expected={o.expected_label} got={o.got_label}"
    if o.unresolved_matches is False:
        wanted = ",".join(o.expected_undefined or ())
        if o.undefined is None:
            text += f" (expected DtdlResolutionError for {wanted})"
        else:
            text += f" (unresolved {','.join(o.undefined)}, expected {wanted})"
    if o.got_valid is None:
        return f"{text}: {_clip(o.message, width)}"
    if o.codes:
        codes = ",".join(dict.fromkeys(o.codes))
        return f"{text}: {_clip(codes, 60)} {_clip(o.message, width)}"
    return text


def format_summary(report: Report) -> str:
    lines = [
        f"{report.parser}: {len(report.outcomes)} cases from {report.files} files "
        f"in {report.seconds:.1f} s ({report.jobs} job{'s' if report.jobs != 1 else ''})",
        f"{'version':<8}{'cases':>7}{'agree':>7}{'%':>8}{'target':>8}  "
        f"{'valid→invalid':>13}{'invalid→valid':>14}{'crash':>7}{'unresolved':>11}",
    ]
    stats = report.stats()
    for version, s in stats.items():
        target = TARGETS.get(version, 100.0)
        mark = "ok" if s.percent >= target else "!!"
        lines.append(
            f"{'v' + str(version):<8}{s.cases:>7}{s.agree:>7}{s.percent_text:>8}{target:>7g}% {mark} "
            f"{s.false_invalid:>13}{s.false_valid:>14}{s.crashes:>7}{s.unresolved_mismatches:>11}"
        )
    if len(stats) > 1:
        total = len(report.outcomes)
        agree = sum(s.agree for s in stats.values())
        lines.append(f"{'all':<8}{total:>7}{agree:>7}{int(10000 * agree / total) / 100:>8.2f}")
    return "\n".join(lines)


def format_triage(report: Report, top: int = 8) -> str:
    """Where the disagreements cluster: codes of false rejections, rules of false acceptances."""
    wrong = report.disagreements
    lines = []
    rejecting = Counter(o.codes[0] for o in wrong if o.got_valid is False and o.expected_valid and o.codes)
    if rejecting:
        lines.append(
            "false rejections by first code: " + ", ".join(f"{c} {n}" for c, n in rejecting.most_common(top))
        )
    accepting = Counter(_VERSION_RE.sub("", o.file) for o in wrong if o.got_valid and not o.expected_valid)
    if accepting:
        lines.append(
            "false acceptances by rule: " + ", ".join(f"{r} {n}" for r, n in accepting.most_common(top))
        )
    crashes = Counter(o.message.split(" [")[0][:80] for o in wrong if o.got_valid is None)
    if crashes:
        lines.append("crashes: " + "; ".join(f"{m} x{n}" for m, n in crashes.most_common(top)))
    return "\n".join(lines)


def format_disagreements(report: Report, show: int = 40, notes: dict[str, str] | None = None) -> str:
    """The disagreeing cases grouped by file; at most ``show`` cases (negative: all)."""
    wrong = report.disagreements
    if not wrong or show == 0:
        return ""
    totals = Counter(o.file for o in report.outcomes)
    lines: list[str] = []
    shown = 0
    current = None
    for o in wrong:
        if 0 <= show <= shown:
            break
        if o.file != current:
            current = o.file
            bad = sum(1 for w in wrong if w.file == o.file)
            lines.append(f"{o.file}  ({bad}/{totals[o.file]} disagree)")
        line = f"  #{o.index} {_verdict(o)}"
        if notes and o.key in notes:
            line += f"  | {notes[o.key]}"
        lines.append(line)
        shown += 1
    if shown < len(wrong):
        lines.append(
            f"… {len(wrong) - shown} more disagreeing cases (--show -1 for all, --list for one line each)"
        )
    return "\n".join(lines)


def format_list(report: Report, notes: dict[str, str] | None = None) -> str:
    return "\n".join(
        f"{o.key} {_verdict(o)}" + (f"  | {notes[o.key]}" if notes and o.key in notes else "")
        for o in report.disagreements
    )


def oracle_notes(cases: Iterable[Case]) -> dict[str, str]:
    """The reference parser's verdict on each case, e.g. ``ref=invalid: code1,code2``."""
    from tools.dtdl_oracle import ReferenceParser

    cases = list(cases)
    if not cases:
        return {}
    with ReferenceParser() as oracle:
        batch = oracle.parse_batch([c.documents for c in cases])
    notes = {}
    for case, result in zip(cases, batch.results, strict=True):
        if result.valid:
            note = "ref=valid"
        elif result.kind == "Crash":
            note = f"ref=invalid: crash {result.crash}"
        elif result.kind == "Resolution":
            note = f"ref=invalid: unresolved {','.join(result.undefined)}"
        else:
            note = "ref=invalid: " + ",".join(dict.fromkeys(result.codes))
        if case.allow_undefined_extensions:
            note += " (ref cannot allow undefined extensions)"
        notes[case.key] = note
    return notes


def _describe_case(case: Case, outcome: Outcome, note: str | None) -> str:
    lines = [
        f"{case.key}  v{case.version}  options: "
        f"{'AllowUndefinedExtensions' if case.allow_undefined_extensions else 'DisallowUndefinedExtensions'}"
        + (f"  acceptableLimits: {list(case.acceptable_limits)}" if case.acceptable_limits else "")
        + (f"  desirable: {case.desirable}" if case.desirable is not None else ""),
        f"{'agree' if outcome.agrees else 'DISAGREE'}: "
        f"expected={outcome.expected_label} got={outcome.got_label} ({outcome.seconds * 1000:.1f} ms)",
    ]
    if outcome.expected_undefined is not None:
        lines.append(f"expected unresolved: {list(outcome.expected_undefined)}  got: {outcome.undefined}")
    if note:
        lines.append(note)
    lines.extend(f"  {e}" for e in outcome.errors)
    if outcome.crash:
        lines.append(outcome.crash.rstrip())
    for i, doc in enumerate(case.documents):
        lines.append(f"--- input[{i}]")
        lines.append(json.dumps(doc, indent=2, ensure_ascii=False))
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="scripts/conformance", description=__doc__.split("\n\n")[0])
    ap.add_argument("--version", type=int, action="append", choices=VERSIONS, help="only this DTDL version")
    ap.add_argument(
        "--file", action="append", metavar="GLOB", help="only files whose name matches (repeatable)"
    )
    ap.add_argument("--case", metavar="FILE#N", help="run one case and print it in full")
    ap.add_argument(
        "--show", type=int, default=40, metavar="N", help="disagreements to print (0: none, -1: all)"
    )
    ap.add_argument("--list", action="store_true", help="one line per disagreeing case, no summary")
    ap.add_argument("--json", action="store_true", help="the whole report as JSON")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per case")
    ap.add_argument("--slowest", type=int, default=0, metavar="N", help="also print the N slowest cases")
    ap.add_argument("--oracle", action="store_true", help="run the reference parser instead of dtgraph")
    ap.add_argument(
        "--with-oracle", action="store_true", help="annotate disagreements with the reference verdict"
    )
    ap.add_argument("--dir", type=Path, default=SPEC_DIR, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    parse: ParseFn | None = reference_parse if args.oracle else None
    name = "reference DTDLParser 1.1.3 (oracle)" if args.oracle else "dtgraph.dtdl.parse"
    try:
        if args.case:
            return _main_case(args.dir, args.case, parse, args.timeout, args.with_oracle)
        files = case_files(args.dir, versions=args.version, patterns=args.file)
        if not files:
            print("no conformance file matches", file=sys.stderr)
            return 2
        report = run(files, parse=parse, jobs=args.jobs, timeout=args.timeout, parser_name=name)
    finally:
        _close_reference()

    notes = None
    if args.with_oracle and report.disagreements:
        wanted = {o.key for o in report.disagreements}
        by_file = sorted({o.file for o in report.disagreements})
        cases = [c for f in by_file for c in load_file(args.dir / f) if c.key in wanted]
        notes = oracle_notes(cases)

    if args.json:
        data = report.to_json()
        if notes:
            for item in data["disagreements"]:
                item["reference"] = notes.get(item["case"])
        print(json.dumps(data, indent=1, ensure_ascii=False))
    elif args.list:
        if text := format_list(report, notes):
            print(text)
    else:
        print(format_summary(report))
        if args.show != 0 and (triage := format_triage(report)):
            print(triage)
        if text := format_disagreements(report, args.show, notes):
            print()
            print(text)
        if args.slowest:
            print(f"\nslowest {args.slowest}:")
            for o in sorted(report.outcomes, key=lambda o: -o.seconds)[: args.slowest]:
                print(f"  {o.seconds * 1000:8.1f} ms  {o.key}")
    return 1 if report.failed_targets() else 0


def _main_case(directory: Path, key: str, parse: ParseFn | None, timeout: float, with_oracle: bool) -> int:
    file, _, index = key.rpartition("#")
    if not file or not index.isdigit():
        print(f"--case wants FILE#N, e.g. Requirement-ClassArrayFooV3.json#0, not {key!r}", file=sys.stderr)
        return 2
    cases = load_file(directory / file)
    if int(index) >= len(cases):
        print(f"{file} has {len(cases)} cases", file=sys.stderr)
        return 2
    case = cases[int(index)]
    outcome = run_case(case, parse or _default_parse(), timeout=timeout)
    note = oracle_notes([case])[case.key] if with_oracle else None
    print(_describe_case(case, outcome, note))
    return 0 if outcome.agrees else 1


if __name__ == "__main__":
    sys.exit(main())
