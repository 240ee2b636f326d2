"""The aas-core3.0 generated test cases (../shared/corpora/aas/aas-core3.0-testdata), JSON and XML.

Every Expected case is read with no issue; every Invalid case deserializes and reports exactly the errors of
its ``.errors`` file; every Unserializable case is refused with the text of its ``.exception`` file. JSON is
read as V3.0 here (the cases are V3.0; ``auto`` would try V3.1 on the invalid ones).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from dtgraph.aas.errors import AasInvalidError
from dtgraph.aas.reader import AasDocument, Kind, read_json, read_xml
from tests.conftest import SHARED_DIR

DATA = "corpora/aas/aas-core3.0-testdata/test_data"

# The cases kept in the corpus (SOURCES.md): a lost or added file changes these figures.
COUNTS = {
    ("Json", "Expected"): 684,
    ("Json", "Invalid"): 768,
    ("Json", "Unserializable"): 319,
    ("Xml", "Expected"): 378,
    ("Xml", "Invalid"): 419,
    ("Xml", "Unserializable"): 175,
}


def _outcome(path: Path) -> tuple[str, Kind]:
    """("Expected" | "Invalid" | "Unserializable", what the document holds) from the case's path."""
    parts = path.relative_to(SHARED_DIR / DATA).parts  # Json/SelfContained/Unexpected/Invalid/Kind/Class/…
    outcome = "Expected" if parts[2] == "Expected" else parts[3]
    cls = parts[3] if outcome == "Expected" else parts[5]
    kind: Kind = (
        "eventPayload" if parts[1] == "SelfContained" and cls.lower() == "eventpayload" else "environment"
    )
    return outcome, kind


def _check(path: Path, read: object) -> None:
    outcome, _ = _outcome(path)
    if outcome == "Unserializable":
        with pytest.raises(AasInvalidError) as info:
            read()  # type: ignore[operator]
        (issue,) = info.value.issues
        assert issue.code == "deserialization"
        expected = Path(f"{path}.exception").read_text(encoding="utf-8")
        assert f"{issue.path}: {issue.message}" == expected
        return
    document = read()  # type: ignore[operator]
    assert isinstance(document, AasDocument)
    got = "\n".join(f"{i.path}: {i.message}" for i in document.issues)
    if outcome == "Expected":
        assert got == ""
    else:
        assert got == Path(f"{path}.errors").read_text(encoding="utf-8")
        assert {i.code for i in document.issues} == {"constraint"}


@pytest.mark.shared_files(f"{DATA}/Json/**/*.json")
def test_json_case(shared_file: Path) -> None:
    _, kind = _outcome(shared_file)
    data = shared_file.read_bytes()
    _check(shared_file, lambda: read_json(data, shared_file.name, metamodel="3.0", kind=kind))


@pytest.mark.shared_files(f"{DATA}/Xml/**/*.xml")
def test_xml_case(shared_file: Path) -> None:
    _, kind = _outcome(shared_file)
    data = shared_file.read_bytes()
    _check(shared_file, lambda: read_xml(data, shared_file.name, kind=kind))


def test_the_corpus_holds_every_case(shared_dir: Path) -> None:
    counts: Counter[tuple[str, str]] = Counter()
    for form in ("Json", "Xml"):
        for path in (shared_dir / DATA / form).rglob(f"*.{form.lower()}"):
            counts[(form, _outcome(path)[0])] += 1
    assert dict(counts) == COUNTS


def test_auto_reads_a_valid_v30_json_as_v30(shared_dir: Path) -> None:
    path = shared_dir / DATA / "Json/ContainedInEnvironment/Expected/Submodel/maximal.json"
    document = read_json(path.read_bytes(), path.name)
    assert document.metamodel == "3.0" and document.issues == []
