"""Bulk import and export (``dtgraph.graph.bulk``) against both stores: the memory store with its journal
and a real Neo4j.

Every rejected file must name the problem with its line and leave the store exactly as it was (counts,
snapshot, models and, for the memory store, the journal bytes); a sound file round-trips losslessly.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dtgraph.demo import write_ndjson
from dtgraph.graph import check_process
from dtgraph.graph.bulk import ImportReport, export_graph, import_graph
from dtgraph.graph.ndjson import MAX_LINE_BYTES
from dtgraph.stores.base import Batch, Store
from dtgraph.stores.errors import StoreError
from dtgraph.stores.memory import MemoryStore
from dtgraph.stores.neo4j import Neo4jStore
from tests.graph.conftest import ASSET, BIG_PUMP, PUMP, SITE, documents, interface, prop

LINE = "dtmi:test:Line;1"
HEADER: list[Any] = [{"Section": "Header"}, {"fileVersion": "1.0.0", "author": "tests", "organization": "t"}]

STEP = {
    "@type": "Object",
    "fields": [
        {"name": "name", "schema": "string"},
        {"name": "seconds", "schema": "double"},
        {
            "name": "params",
            "schema": {
                "@type": "Map",
                "mapKey": {"name": "key", "schema": "string"},
                "mapValue": {"name": "value", "schema": "string"},
            },
        },
    ],
}


def all_models() -> list[dict[str, Any]]:
    """The graph tests' models plus ``Line``, with an array of objects (holding maps) and a relationship."""
    line = interface(
        LINE,
        prop("steps", {"@type": "Array", "elementSchema": STEP}),
        prop("label", "string"),
        {
            "@type": "Relationship",
            "name": "contains",
            "target": PUMP,
            "properties": [prop("slot", "integer")],
        },
        extends=ASSET,
    )
    return [*documents(), line]


def sections(
    models: Iterable[Any] = (), twins: Iterable[Any] = (), rels: Iterable[Any] = (), header: bool = True
) -> list[Any]:
    """The lines of an import file: each a JSON value, or a str written as it is."""
    return [
        *(HEADER if header else []),
        {"Section": "Models"},
        *models,
        {"Section": "Twins"},
        *twins,
        {"Section": "Relationships"},
        *rels,
    ]


def twin(twin_id: str, model: str = PUMP, **props: Any) -> dict[str, Any]:
    if model in (PUMP, BIG_PUMP):
        props = {"motor": {"$metadata": {}}, **props}
    return {"$dtId": twin_id, "$metadata": {"$model": model}, **props}


def rel(rel_id: str, source: str, target: str, name: str = "feeds", **props: Any) -> dict[str, Any]:
    return {
        "$dtId": source,
        "$relationshipId": rel_id,
        "$targetId": target,
        "$relationshipName": name,
        **props,
    }


def nested_lines() -> list[Any]:
    """A hand-written file: components, objects, maps, arrays of objects, unicode in ids and values."""
    return sections(
        all_models(),
        [
            twin("site-ü", SITE, city="Zürich 東京 🏭"),
            twin(
                "pump-1",
                name="Pömpe «eins»",
                speed=1200,
                status=1,
                tags=["a", "ß", "日本語", ""],
                config={"mode": "auto", "threshold": 0.125},
                limits={"temp °C": 80, "ключ": -3, "": 0},
                motor={"$metadata": {}, "rpm": 2900, "serial": "M-\u00e9\u0301-\U0001f527"},
            ),
            twin("pump-2", BIG_PUMP, stages=3, config={"mode": "manual", "threshold": 1e-9}),
            twin(
                "line/線",
                LINE,
                label='quotes " and \\ backslash\nnewline\ttab',
                steps=[
                    {"name": "weld", "seconds": 12.5, "params": {"amps": "140", "gas": "Ar/CO₂"}},
                    {"name": "cool", "seconds": 0.0, "params": {}},
                ],
            ),
        ],
        [
            rel("f1", "pump-1", "pump-2", flow=2.5, since="2024-02-29"),
            rel("loc", "pump-1", "site-ü", "locatedIn"),
            rel("c1", "line/線", "pump-1", "contains", slot=1),
            rel("c2", "line/線", "pump-2", "contains", slot=2),
            rel("any", "line/線", "site-ü", "relatedTo"),
        ],
    )


def write_lines(path: Path, lines: Iterable[Any]) -> Path:
    with path.open("w", encoding="utf-8", newline="\n") as out:
        for item in lines:
            out.write(item if isinstance(item, str) else json.dumps(item, ensure_ascii=False))
            out.write("\n")
    return path


def line_of(lines: list[Any], item: Any) -> int:
    return lines.index(item) + 1


def canonical(value: Any) -> str:
    """JSON text that tells 1 from 1.0 and ignores key order."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def file_content(path: Path) -> tuple[list[str], list[str]]:
    """The models and records of an import file, canonical and sorted (relationship source as $dtId)."""
    models: list[str] = []
    records: list[str] = []
    section = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        obj = json.loads(raw)
        if set(obj) == {"Section"}:
            section = obj["Section"]
        elif section == "Models":
            models.append(canonical(obj))
        elif section in ("Twins", "Relationships"):
            records.append(canonical(obj))
    return sorted(models), sorted(records)


def state(store: Store) -> tuple[Any, ...]:
    """Everything a write could change: counts, models, every record and, for a memory store, the journal."""
    out = io.StringIO()
    export_graph(store, out)
    records = sorted(out.getvalue().splitlines())
    journal = None
    if isinstance(store, MemoryStore) and store._journal is not None:
        journal = store._journal.path.read_bytes()
    return store.counts(), records, journal


def issues(report: ImportReport) -> list[tuple[str, int | None]]:
    return [(i.code, i.line) for i in report.issues]


# --- the stores ---------------------------------------------------------------------------------------


class _FailMidStream:
    """A real store whose bulk write fails after ``after`` batches of the stream have been taken."""

    after = 3

    def apply_stream(self, batches: Iterable[Batch]) -> int:
        def failing() -> Iterator[Batch]:
            for number, batch in enumerate(batches, start=1):
                if number > self.after:
                    raise StoreError(f"injected fault after batch {self.after}")
                yield batch

        return super().apply_stream(failing())  # type: ignore[misc]


class FaultyMemoryStore(_FailMidStream, MemoryStore):
    pass


class FaultyNeo4jStore(_FailMidStream, Neo4jStore):
    pass


@pytest.fixture(params=["memory", "memory-forked", "neo4j"])
def kind(request: pytest.FixtureRequest) -> str:
    """memory-forked: a memory store into which every import is checked by a forked process while
    it is written (see check_process), whatever the file's size."""
    if request.param == "memory-forked":
        request.getfixturevalue("monkeypatch").setattr(check_process, "usable", lambda _path: True)
    return str(request.param)


@pytest.fixture
def make_store(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Store]]:
    """Opens an empty store of the kind under test (``faulty=True``: one that fails mid-stream).

    Each Neo4j store made wipes the one database, so a test holds one Neo4j store at a time.
    """
    made: list[Store] = []

    def make(*, faulty: bool = False) -> Store:
        store: Store
        if kind.startswith("memory"):
            cls = FaultyMemoryStore if faulty else MemoryStore
            store = cls(tmp_path / f"data-{len(made)}", fsync=False)
        else:
            uri: str = request.getfixturevalue("neo4j_uri")
            auth: tuple[str, str] | None = request.getfixturevalue("neo4j_auth")
            neo4j = (FaultyNeo4jStore if faulty else Neo4jStore)(uri, auth=auth, batch_size=500)
            neo4j.wipe()
            store = neo4j
        made.append(store)
        return store

    yield make
    for store in made:
        store.close()


@pytest.fixture
def store(make_store: Callable[..., Store]) -> Store:
    return make_store()


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.ndjson"
    with path.open("w", encoding="utf-8") as out:
        write_ndjson(out, twins=3000, seed=11)
    return path


BASE = sections(
    all_models(),
    [twin(f"p{i}") for i in range(5)] + [twin("s1", SITE, city="Oslo")],
    [rel("f1", "p0", "p1"), rel("f2", "p0", "p2"), rel("loc", "p3", "s1", "locatedIn")],
)


def load_base(store: Store, tmp_path: Path) -> None:
    report = import_graph(write_lines(tmp_path / "base.ndjson", BASE), store)
    assert report.ok and report.written, report.issues


# --- round trips ----------------------------------------------------------------------------------------


def round_trip(path: Path, make_store: Callable[..., Store], tmp_path: Path) -> None:
    first = make_store()
    report = import_graph(path, first, chunk=1000)
    assert report.ok and report.written, report.issues[:5]
    exported = tmp_path / "exported.ndjson"
    with exported.open("w", encoding="utf-8") as out:
        written = export_graph(first, out)
    assert written == report.models + report.twins + report.relationships
    assert file_content(exported) == file_content(path)
    before = state(first)
    first.close()

    second = make_store()  # for Neo4j: the same database, wiped
    again = import_graph(exported, second, chunk=777)
    assert again.ok and again.written, again.issues[:5]
    assert (again.models, again.twins, again.relationships) == (
        report.models,
        report.twins,
        report.relationships,
    )
    assert state(second)[:2] == before[:2]
    assert second.counts() == {
        "models": report.models,
        "twins": report.twins,
        "relationships": report.relationships,
    }


def test_demo_round_trip_is_lossless(
    demo_file: Path, make_store: Callable[..., Store], tmp_path: Path
) -> None:
    round_trip(demo_file, make_store, tmp_path)


def test_nested_values_round_trip_losslessly(make_store: Callable[..., Store], tmp_path: Path) -> None:
    round_trip(write_lines(tmp_path / "nested.ndjson", nested_lines()), make_store, tmp_path)


def test_export_of_an_empty_store_imports_as_nothing(store: Store, tmp_path: Path) -> None:
    out = io.StringIO()
    assert export_graph(store, out) == 0
    path = tmp_path / "empty.ndjson"
    path.write_text(out.getvalue(), encoding="utf-8")
    report = import_graph(path, MemoryStore())
    assert report.ok and (report.models, report.twins, report.relationships) == (0, 0, 0)


def test_import_adds_to_the_stored_graph(store: Store, tmp_path: Path) -> None:
    load_base(store, tmp_path)
    more = sections(
        twins=[twin("p9", speed=5)],
        rels=[rel("f9", "p9", "p4", flow=1.0), rel("f3", "p1", "p9"), rel("l9", "p9", "s1", "locatedIn")],
    )
    report = import_graph(write_lines(tmp_path / "more.ndjson", more), store)
    assert report.ok and report.written, report.issues
    assert store.counts() == {"models": 6, "twins": 7, "relationships": 6}
    assert store.get_twin("p9") is not None
    assert {r.id for r in store.relationships(["p9"])["p9"]} == {"f9", "l9"}


def test_dry_run_writes_nothing(store: Store, demo_file: Path, tmp_path: Path) -> None:
    load_base(store, tmp_path)
    before = state(store)
    report = import_graph(demo_file, store, dry_run=True)
    assert report.ok and not report.written
    assert report.twins == 3000 and report.relationships > 6000
    assert state(store) == before


def test_a_failure_during_the_write_leaves_the_store_as_it_was(
    make_store: Callable[..., Store], demo_file: Path, tmp_path: Path
) -> None:
    store = make_store(faulty=True)
    load_base(store, tmp_path)  # three batches at most: models, twins, relationships
    before = state(store)
    with pytest.raises(StoreError, match="injected fault"):
        import_graph(demo_file, store, chunk=200)  # models, then twins in 200s: the fault hits mid-twins
    assert state(store) == before


# --- rejected files: the issue, its line, and nothing written ------------------------------------------


BadCase = Callable[[], tuple[list[Any], str, int]]  # the file's lines, the code expected, its line


def _malformed() -> tuple[list[Any], str, int]:
    lines = sections(twins=[twin("n1"), '{"$dtId": "n2", "$metadata": ', twin("n3")])
    return lines, "malformedJson", line_of(lines, '{"$dtId": "n2", "$metadata": ')


def _not_object() -> tuple[list[Any], str, int]:
    lines = sections(twins=[twin("n1"), [twin("n2")]])
    return lines, "invalidRecord", line_of(lines, [twin("n2")])


def _section_order() -> tuple[list[Any], str, int]:
    lines = [*HEADER, {"Section": "Twins"}, twin("n1"), {"Section": "Models"}, {"Section": "Relationships"}]
    return lines, "sectionOrder", 5


def _missing_header() -> tuple[list[Any], str, int]:
    return [twin("n1"), {"Section": "Twins"}, twin("n2")], "missingHeader", 1


def _header_not_first() -> tuple[list[Any], str, int]:
    return sections(twins=[twin("n1")], header=False), "sectionOrder", 1


def _wrong_version() -> tuple[list[Any], str, int]:
    return [{"Section": "Header"}, {"fileVersion": "2.0.0"}, {"Section": "Twins"}], "unsupportedVersion", 2


def _unknown_section() -> tuple[list[Any], str, int]:
    lines = sections(twins=[twin("n1")])
    lines.insert(4, {"Section": "Widgets"})
    return lines, "unknownSection", 5


def _unknown_model() -> tuple[list[Any], str, int]:
    lines = sections(twins=[twin("n1"), twin("n2", "dtmi:test:Nope;1")])
    return lines, "unknownModel", line_of(lines, twin("n2", "dtmi:test:Nope;1"))


def _invalid_value() -> tuple[list[Any], str, int]:
    bad = twin("n2", speed="fast")
    lines = sections(twins=[twin("n1"), bad])
    return lines, "invalidValue", line_of(lines, bad)


def _invalid_nested_value() -> tuple[list[Any], str, int]:
    bad = twin("n2", motor={"$metadata": {}, "rpm": 1.5})
    lines = sections(twins=[twin("n1"), bad])
    return lines, "invalidValue", line_of(lines, bad)


def _unknown_property() -> tuple[list[Any], str, int]:
    bad = twin("n2", colour="red")
    lines = sections(twins=[twin("n1"), bad])
    return lines, "unknownProperty", line_of(lines, bad)


def _dangling() -> tuple[list[Any], str, int]:
    bad = rel("g", "n1", "ghost")  # in neither the file nor the store
    lines = sections(twins=[twin("n1")], rels=[rel("ok", "n1", "p1"), bad])
    return lines, "missingTwin", line_of(lines, bad)


def _unknown_relationship() -> tuple[list[Any], str, int]:
    bad = rel("o", "n1", "p1", "ownedBy")
    lines = sections(twins=[twin("n1")], rels=[bad])
    return lines, "unknownRelationship", line_of(lines, bad)


def _wrong_target() -> tuple[list[Any], str, int]:
    bad = rel("f", "n1", "s1")  # feeds targets a Pump; s1 is a stored Site
    lines = sections(twins=[twin("n1")], rels=[bad])
    return lines, "wrongTargetModel", line_of(lines, bad)


def _duplicate_twin() -> tuple[list[Any], str, int]:
    lines = sections(twins=[twin("n1"), twin("n2"), twin("n1", speed=3)])
    return lines, "duplicateTwin", line_of(lines, twin("n1", speed=3))


def _duplicate_relationship() -> tuple[list[Any], str, int]:
    second = rel("x", "n1", "p2", flow=2.0)
    lines = sections(twins=[twin("n1")], rels=[rel("x", "n1", "p1"), second])
    return lines, "duplicateRelationship", line_of(lines, second)


def _too_many() -> tuple[list[Any], str, int]:
    third = rel("f3", "p0", "p3")  # p0 already feeds p1 and p2 in the store; at most 2
    lines = sections(rels=[third])
    return lines, "tooManyRelationships", line_of(lines, third)


def _oversize() -> tuple[list[Any], str, int]:
    big = json.dumps(twin("n2", name="x" * MAX_LINE_BYTES))
    lines = sections(twins=[twin("n1"), big, twin("n3")])
    return lines, "lineTooLong", line_of(lines, big)


def _invalid_model() -> tuple[list[Any], str, int]:
    bad = interface("dtmi:test:Broken;1", prop("speed", "notASchema"))
    lines = sections(models=[interface("dtmi:test:Fine;1"), bad], twins=[twin("n1")])
    return lines, "invalidModel", line_of(lines, bad)


def _not_utf8() -> tuple[list[Any], str, int]:
    return sections(twins=[twin("n1"), '{"$dtId": "n\udcff"}']), "malformedJson", 6


BAD: dict[str, BadCase] = {
    "malformed JSON": _malformed,
    "not an object": _not_object,
    "section order": _section_order,
    "missing header": _missing_header,
    "header not first": _header_not_first,
    "wrong version": _wrong_version,
    "unknown section": _unknown_section,
    "unknown model": _unknown_model,
    "invalid value": _invalid_value,
    "invalid value in a component": _invalid_nested_value,
    "unknown property": _unknown_property,
    "dangling relationship": _dangling,
    "relationship not on the model": _unknown_relationship,
    "wrong target model": _wrong_target,
    "duplicate twin": _duplicate_twin,
    "duplicate relationship": _duplicate_relationship,
    "too many relationships": _too_many,
    "oversize line": _oversize,
    "invalid model": _invalid_model,
    "not UTF-8": _not_utf8,
}


def _write_case(path: Path, lines: list[Any]) -> Path:
    with path.open("wb") as out:
        for item in lines:
            text = item if isinstance(item, str) else json.dumps(item, ensure_ascii=False)
            out.write(text.encode("utf-8", errors="surrogateescape") + b"\n")
    return path


@pytest.mark.parametrize("case", BAD.values(), ids=list(BAD))
def test_a_bad_file_is_rejected_at_its_line_and_writes_nothing(
    store: Store, tmp_path: Path, case: BadCase
) -> None:
    load_base(store, tmp_path)
    before = state(store)
    lines, code, line = case()
    path = _write_case(tmp_path / "bad.ndjson", lines)
    report = import_graph(path, store)
    assert not report.ok and not report.written
    assert (code, line) in issues(report), report.issues
    found = next(i for i in report.issues if (i.code, i.line) == (code, line))
    assert len(found.message) > 10
    assert state(store) == before


def test_every_problem_of_a_file_is_reported_in_line_order(store: Store, tmp_path: Path) -> None:
    load_base(store, tmp_path)
    before = state(store)
    lines = sections(
        twins=[twin("n1", speed="fast"), "nope", twin("n1"), twin("n2", colour=1)],
        rels=[rel("g", "n2", "ghost"), rel("o", "n2", "p1", "ownedBy")],
    )
    report = import_graph(write_lines(tmp_path / "bad.ndjson", lines), store)
    assert issues(report) == [
        ("invalidValue", 5),
        ("malformedJson", 6),
        ("duplicateTwin", 7),
        ("unknownProperty", 8),
        ("missingTwin", 10),
        ("unknownRelationship", 11),
    ]
    assert state(store) == before


def test_multiplicity_counts_relationships_of_the_file_and_the_store(store: Store, tmp_path: Path) -> None:
    load_base(store, tmp_path)
    ok = sections(rels=[rel("f1", "p0", "p4")])  # replaces the stored f1: still two
    assert import_graph(write_lines(tmp_path / "ok.ndjson", ok), store).ok
    two = sections(
        twins=[twin("n1")], rels=[rel("a", "n1", "p1"), rel("b", "n1", "p2"), rel("c", "n1", "p3")]
    )
    report = import_graph(write_lines(tmp_path / "three.ndjson", two), store)
    assert issues(report) == [("tooManyRelationships", 7)]


def test_multiplicity_counts_stored_relationships_of_a_twin_the_file_replaces(
    store: Store, tmp_path: Path
) -> None:
    load_base(store, tmp_path)
    before = state(store)
    lines = sections(twins=[twin("p0", speed=1)], rels=[rel("f3", "p0", "p3")])
    report = import_graph(write_lines(tmp_path / "bad.ndjson", lines), store)
    assert ("tooManyRelationships", 7) in issues(report)  # the line of the relationship over the limit
    assert state(store) == before


def test_a_model_change_that_breaks_stored_relationships_is_rejected(store: Store, tmp_path: Path) -> None:
    load_base(store, tmp_path)
    before = state(store)
    lines = sections(twins=[twin("p1", SITE)])
    report = import_graph(write_lines(tmp_path / "bad.ndjson", lines), store)
    assert not report.ok
    assert state(store) == before


def test_one_pass_into_the_memory_store_finds_what_the_check_pass_finds_and_rolls_back(
    tmp_path: Path,
) -> None:
    """With chunks of one record, the memory store has written part of a bad file when its problem
    is found: the issues are those of a dry run (two passes) and the store is left as it was."""
    store = MemoryStore(tmp_path / "data", fsync=False)
    load_base(store, tmp_path)
    before = state(store)
    cases = [case() for case in BAD.values()]
    cases.append((sections(twins=[twin("p0", speed=1)], rels=[rel("f3", "p0", "p3")]), "", 0))
    cases.append((sections(twins=[twin("n1"), twin("p1", SITE)]), "", 0))
    for lines, _code, _line in cases:
        path = _write_case(tmp_path / "bad.ndjson", lines)
        dry = import_graph(path, store, dry_run=True)
        report = import_graph(path, store, chunk=1)
        assert not report.ok and not report.written
        assert issues(report) == issues(dry)
        assert state(store) == before
    store.close()


@pytest.mark.parametrize("dry_run", [False, True])
def test_progress_is_reported_as_lines_are_read_up_to_the_last(
    dry_run: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A one-pass import reports once a chunk, a check pass once every PROGRESS_LINES lines; both end
    at the last record's line."""
    monkeypatch.setattr("dtgraph.graph.bulk.PROGRESS_LINES", 3)
    twins = [twin(f"p{i}") for i in range(7)]
    lines = sections(documents(), twins, [rel("f1", "p0", "p1")])
    path = _write_case(tmp_path / "f.ndjson", lines)
    last = len(path.read_bytes().splitlines())
    seen: list[int] = []
    report = import_graph(path, MemoryStore(), dry_run=dry_run, chunk=2, progress=seen.append)
    assert report.ok and report.written is not dry_run, report.issues
    assert len(seen) >= 4 and seen == sorted(seen) and seen[-1] == last
