"""Tests of dtgraph.dtdl.source: strict decoding, and JSON pointers mapped back to line:column."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dtgraph.dtdl import source
from dtgraph.dtdl.errors import DtdlValidationError, Location, ParsingError
from dtgraph.dtdl.source import (
    INVALID_ENCODING,
    INVALID_JSON,
    decode_document,
    decode_text,
    locate,
    with_positions,
)


def only_error(excinfo: pytest.ExceptionInfo[DtdlValidationError]) -> ParsingError:
    (error,) = excinfo.value.errors
    return error


# --- decode_text / decode_document ----------------------------------------------------------------


def test_bom_is_stripped_from_bytes_and_text() -> None:
    assert decode_text(b'\xef\xbb\xbf{"a": 1}') == '{"a": 1}'
    assert decode_text('\ufeff{"a": 1}') == '{"a": 1}'
    assert decode_document(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}


def test_only_one_leading_bom_is_stripped() -> None:
    with pytest.raises(DtdlValidationError) as excinfo:
        decode_document("\ufeff\ufeff{}")
    assert only_error(excinfo).code == INVALID_JSON


def test_array_root_decodes() -> None:
    assert decode_document(b'[{"@id": "dtmi:a;1"}, {"@id": "dtmi:b;1"}]') == [
        {"@id": "dtmi:a;1"},
        {"@id": "dtmi:b;1"},
    ]


def test_invalid_utf8_is_located_at_the_bad_byte() -> None:
    with pytest.raises(DtdlValidationError) as excinfo:
        decode_document(b'{\n  "a": "caf\xe9"\n}', "models/cafe.json", document=4)
    error = only_error(excinfo)
    assert error.code == INVALID_ENCODING
    assert "0xe9" in error.message and "UTF-8" in error.message
    assert error.location == Location(document=4, source="models/cafe.json", line=2, column=12)


def test_invalid_utf8_after_a_bom_does_not_count_the_bom_as_a_column() -> None:
    with pytest.raises(DtdlValidationError) as excinfo:
        decode_text(b'\xef\xbb\xbf"\xff"')
    location = only_error(excinfo).location
    assert location is not None
    assert (location.line, location.column) == (1, 2)


def test_utf16_is_named_as_such() -> None:
    with pytest.raises(DtdlValidationError) as excinfo:
        decode_document('{"a": 1}'.encode("utf-16"))
    error = only_error(excinfo)
    assert error.code == INVALID_ENCODING
    assert "UTF-16" in error.message


def test_syntax_error_has_line_and_column() -> None:
    text = '{\n  "a": 1\n  "b": 2\n}'
    with pytest.raises(DtdlValidationError) as excinfo:
        decode_document(text, "m.json", document=2)
    error = only_error(excinfo)
    assert error.code == INVALID_JSON
    assert "delimiter" in error.message
    assert error.location == Location(document=2, source="m.json", line=3, column=3)
    assert str(error).startswith("m.json:3:3: invalidJson: ")


def test_syntax_error_columns_count_characters_not_bytes() -> None:
    with pytest.raises(DtdlValidationError) as excinfo:
        decode_document('{"é": 1,, }'.encode())
    location = only_error(excinfo).location
    assert location is not None
    assert (location.line, location.column) == (1, 9)


@pytest.mark.parametrize("text", ["", "   \n", "\ufeff"])
def test_empty_document_is_invalid(text: str) -> None:
    with pytest.raises(DtdlValidationError) as excinfo:
        decode_document(text)
    error = only_error(excinfo)
    assert error.code == INVALID_JSON
    assert "empty" in error.message


@pytest.mark.parametrize(
    ("text", "constant", "column"),
    [("[1, NaN]", "NaN", 5), ('{"NaN": "Infinity", "x": -Infinity}', "-Infinity", 26)],
)
def test_non_json_constants_are_rejected_with_their_position(text: str, constant: str, column: int) -> None:
    with pytest.raises(DtdlValidationError) as excinfo:
        decode_document(text)
    error = only_error(excinfo)
    assert error.code == INVALID_JSON
    assert constant in error.message
    assert error.location is not None
    assert (error.location.line, error.location.column) == (1, column)


def test_trailing_data_is_invalid() -> None:
    with pytest.raises(DtdlValidationError) as excinfo:
        decode_document('{"a": 1} {"b": 2}')
    assert only_error(excinfo).code == INVALID_JSON


def test_too_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(DtdlValidationError) as excinfo:
        decode_document("[" * 100_000 + "]" * 100_000)
    assert only_error(excinfo).code == INVALID_JSON


# --- locate ---------------------------------------------------------------------------------------

TEXT = """{
  "@id": "dtmi:com:example:Thermostat;1",
  "contents": [
    {"name": "temp", "schema": "double"},
    {
      "name": "mode"
    }
  ],
  "a/b": {"c~d": true},
  "k\\u0041": null,
  "dup": 1,
  "dup": [ ]
}"""


@pytest.mark.parametrize(
    ("pointer", "position"),
    [
        ("", (1, 1)),
        ("/@id", (2, 10)),
        ("/contents", (3, 15)),
        ("/contents/0", (4, 5)),
        ("/contents/0/schema", (4, 32)),
        ("/contents/1", (5, 5)),
        ("/contents/1/name", (6, 15)),
        ("/a~1b", (9, 10)),  # RFC 6901: "~1" is "/"
        ("/a~1b/c~0d", (9, 18)),  # and "~0" is "~"
        ("/kA", (10, 14)),  # the key's JSON escape is decoded
        ("/dup", (12, 10)),  # the last duplicate wins, as in json.loads
    ],
)
def test_locate(pointer: str, position: tuple[int, int]) -> None:
    assert locate(TEXT, pointer) == position


@pytest.mark.parametrize(
    "pointer", ["/missing", "/contents/2", "/contents/00", "/a/b", "/a~2b", "contents", "/kA/x", "#/@id"]
)
def test_locate_returns_none_for_what_is_not_there(pointer: str) -> None:
    assert locate(TEXT, pointer) is None


def test_locate_handles_crlf_tabs_and_wide_characters() -> None:
    text = '{\r\n\t"ü": "日本",\r\n\t"x": [\r\n\t\t1]}'
    assert locate(text, "/ü") == (2, 7)
    assert locate(text, "/x/0") == (4, 3)


def test_locate_falls_back_to_none_when_the_map_cannot_be_built() -> None:
    assert locate("[" * 5_000 + "]" * 5_000, "") is None  # too deep for the library's recursion
    assert locate('{"a": ', "/a") is None  # not JSON


def test_source_map_is_computed_once_per_text() -> None:
    text = '{"only": "once", "n": [1, 2]}'
    before = source._positions.cache_info()
    assert locate(text, "/only") == (1, 10)
    assert locate(text, "/n/1") == (1, 27)
    after = source._positions.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 1)


def test_locate_on_every_corpus_value_points_at_a_value(shared_dir: Path) -> None:
    """Every pointer of a real file maps to the first character of a JSON value."""
    path = shared_dir / "corpora/dtdl/opendigitaltwins-building/Ontology/Space/Building.json"
    if not path.is_file():  # the corpus layout moved: take any file of it
        path = sorted((shared_dir / "corpora/dtdl/opendigitaltwins-building").rglob("*.json"))[0]
    text = decode_text(path.read_bytes())
    value = json.loads(text)
    check_every_pointer(text, value)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None)
@given(value=JSON_VALUES, indent=st.sampled_from([None, 0, 2, "\t"]), ascii_only=st.booleans())
def test_locate_finds_every_value_of_any_document(
    value: object, indent: int | str | None, ascii_only: bool
) -> None:
    text = json.dumps(value, indent=indent, ensure_ascii=ascii_only)
    check_every_pointer(text, value)


def check_every_pointer(text: str, value: object) -> None:
    line_starts = [0] + [i + 1 for i, char in enumerate(text) if char == "\n"]
    decoder = json.JSONDecoder()
    for pointer, expected in walk(value, ""):
        position = locate(text, pointer)
        assert position is not None, pointer
        line, column = position
        found, _ = decoder.raw_decode(text, line_starts[line - 1] + column - 1)
        assert found == expected, pointer


def walk(value: object, pointer: str) -> Iterator[tuple[str, object]]:
    yield pointer, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, f"{pointer}/{key.replace('~', '~0').replace('/', '~1')}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, f"{pointer}/{index}")


# --- with_positions -------------------------------------------------------------------------------


class CountingTexts(Mapping[int, str]):
    """A lazy texts mapping that records which documents were asked for."""

    def __init__(self, texts: dict[int, str]) -> None:
        self.texts = texts
        self.asked: list[int] = []

    def __getitem__(self, index: int) -> str:
        self.asked.append(index)
        return self.texts[index]

    def __iter__(self) -> Iterator[int]:
        return iter(self.texts)

    def __len__(self) -> int:
        return len(self.texts)


def test_with_positions_fills_source_line_and_column_of_both_locations() -> None:
    error = ParsingError(
        code="duplicateDefinition",
        message="defined twice",
        primary_id="dtmi:com:example:Thermostat;1",
        location=Location(document=0, pointer="/@id"),
        other_location=Location(document=1, pointer=""),
    )
    texts = {0: TEXT, 1: '\n  {"@id": "dtmi:com:example:Thermostat;1"}'}
    (filled,) = with_positions([error], texts, ["a.json", "b.json"])
    assert filled.location == Location(document=0, pointer="/@id", source="a.json", line=2, column=10)
    assert filled.other_location == Location(document=1, pointer="", source="b.json", line=2, column=3)
    assert (filled.code, filled.message, filled.primary_id) == (error.code, error.message, error.primary_id)


def test_with_positions_uses_the_nearest_existing_ancestor() -> None:
    error = ParsingError(
        code="missingProperty", message="x", location=Location(document=0, pointer="/contents/1/schema")
    )
    (filled,) = with_positions([error], {0: TEXT}, None)
    assert filled.location is not None
    assert (filled.location.line, filled.location.column) == (5, 5)  # the object that lacks it


def test_with_positions_keeps_what_is_already_set_and_skips_unknown_documents() -> None:
    located = ParsingError(
        code="invalidJson", message="x", location=Location(document=0, source="given.json", line=7, column=1)
    )
    unlocated = ParsingError(code="c", message="m")
    no_text = ParsingError(code="c", message="m", location=Location(document=5, pointer="/x"))
    result = with_positions([located, unlocated, no_text], {0: TEXT}, ["a.json"])
    assert result[0] is located
    assert result[1] is unlocated
    assert result[2].location == Location(document=5, pointer="/x")


def test_with_positions_reads_only_the_documents_it_needs() -> None:
    texts = CountingTexts({0: TEXT, 1: "{}", 2: '{"x": 1}'})
    errors = [
        ParsingError(code="c", message="m", location=Location(document=2, pointer="/x")),
        ParsingError(code="c", message="m", location=Location(document=2, pointer="")),
        ParsingError(code="c", message="m", location=Location(document=0, pointer="/@id", line=2, column=10)),
    ]
    filled = with_positions(errors, texts, None)
    assert texts.asked == [2]
    assert [(e.location.line, e.location.column) for e in filled if e.location] == [(1, 7), (1, 1), (2, 10)]
