"""dtgraph.dtdl.parse against the whole DTDLParser conformance suite (20,347 cases).

The suite runs once per session (see ``conformance.py``); each test checks one target. On failure
the message lists the disagreeing cases; ``scripts/conformance`` shows the same, with more options.
"""

from __future__ import annotations

import pytest

from dtgraph.dtdl import parse
from tests.dtdl.conformance import TARGETS, Report, format_list, format_summary, run

MAX_LISTED = 60


@pytest.fixture(scope="session")
def report() -> Report:
    return run(parse=parse, jobs=2, parser_name="dtgraph.dtdl.parse")


def _listing(report: Report, version: int | None = None) -> str:
    wrong = [o for o in report.disagreements if version is None or o.version == version]
    partial = Report(wrong[:MAX_LISTED], parser=report.parser)
    more = (
        f"\n… and {len(wrong) - MAX_LISTED} more (scripts/conformance --list)"
        if len(wrong) > MAX_LISTED
        else ""
    )
    return f"{format_summary(report)}\n\n{format_list(partial)}{more}"


def test_every_version_is_covered(report: Report) -> None:
    stats = report.stats()
    assert sorted(stats) == sorted(TARGETS)
    assert sum(s.cases for s in stats.values()) == 20_347, "the conformance suite in ../shared changed size"


@pytest.mark.parametrize("version", sorted(TARGETS), ids=lambda v: f"v{v}")
def test_agreement_meets_target(report: Report, version: int) -> None:
    stats = report.stats()[version]
    assert stats.percent >= TARGETS[version], (
        f"v{version}: {stats.agree}/{stats.cases} = {stats.percent_text}% agree, "
        f"target {TARGETS[version]:g}%\n" + _listing(report, version)
    )


def test_unresolved_identifiers_match(report: Report) -> None:
    mismatches = report.unresolved_mismatches
    assert not mismatches, "\n".join(
        f"{o.key}: expected DtdlResolutionError for {sorted(o.expected_undefined or ())}, "
        f"got {o.got_label} {sorted(o.undefined) if o.undefined is not None else list(o.codes)}"
        for o in mismatches
    )


def test_no_unexpected_exceptions(report: Report) -> None:
    crashes = [o for o in report.outcomes if o.got_valid is None]
    assert not crashes, "\n".join(f"{o.key}: {o.message}" for o in crashes[:MAX_LISTED])
