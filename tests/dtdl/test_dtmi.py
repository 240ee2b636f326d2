from __future__ import annotations

import dataclasses
import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import dtgraph.dtdl.dtmi as dtmi_module
from dtgraph.dtdl.dtmi import (
    MAX_LENGTH,
    MAX_USER_LENGTH,
    Dtmi,
    has_reserved_prefix,
    is_reserved,
    is_valid_dtmi,
)

DTMI_CASES = "corpora/dtdl-conformance/dtmis"
EXPECTED_FIELDS = {
    "MajorVersion",
    "MinorVersion",
    "CompleteVersion",
    "Versionless",
    "Labels",
    "IsReserved",
    "Fragment",
}

# The full-syntax regular expression as the DTMI specification (DTMI/README.md) prints it.
SPEC_FULL_SYNTAX = (
    r"^dtmi:(?:_+[A-Za-z0-9]|[A-Za-z])(?:[A-Za-z0-9_]*[A-Za-z0-9])?(?::(?:_+[A-Za-z0-9]|[A-Za-z])"
    r"(?:[A-Za-z0-9_]*[A-Za-z0-9])?)*(?:;[1-9][0-9]{0,8}(?:\.[1-9][0-9]{0,5})?)?"
    r"(?:#(?:(?:_+[A-Za-z0-9]|[A-Za-z])(?:[A-Za-z0-9_]*[A-Za-z0-9])?)?)?$"
)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8-sig"))  # the corpus files start with a BOM


def spec_fullmatch(pattern: str, text: str) -> bool:
    """Match a spec pattern (``^...$``) against the whole text; Python's ``$`` would allow a final newline."""
    return re.fullmatch(pattern.removeprefix("^").removesuffix("$"), text) is not None


# ---- the reference parser's DTMI cases -----------------------------------------------------------


def test_conformance_corpus_has_every_case(shared_dir: Path) -> None:
    assert len(list((shared_dir / DTMI_CASES).glob("*.json"))) == 34


@pytest.mark.shared_files(f"{DTMI_CASES}/*.json")
def test_conformance_case(shared_file: Path) -> None:
    case = read_json(shared_file)
    text = case["idText"]

    if not case["valid"]:
        with pytest.raises(ValueError, match="is not a valid DTMI"):
            Dtmi.parse(text)
        assert not is_reserved(text)
        return

    dtmi = Dtmi.parse(text)
    expect = case["expect"]
    assert set(expect) == EXPECTED_FIELDS, "the corpus has fields this test does not check"
    assert dtmi.major_version == expect["MajorVersion"]
    assert dtmi.minor_version == expect["MinorVersion"]
    assert dtmi.complete_version == expect["CompleteVersion"]
    assert dtmi.versionless == expect["Versionless"]
    assert list(dtmi.labels) == expect["Labels"]
    assert dtmi.is_reserved is expect["IsReserved"]
    assert is_reserved(text) is expect["IsReserved"]
    assert dtmi.fragment == expect["Fragment"]
    assert str(dtmi) == text


# ---- Dtmi ----------------------------------------------------------------------------------------


def test_constructor_and_parse_agree() -> None:
    assert Dtmi("dtmi:com:example:Pump;2") == Dtmi.parse("dtmi:com:example:Pump;2")
    with pytest.raises(ValueError, match="is not a valid DTMI"):
        Dtmi("dtmi:com:example:Pump;0")


def test_equality_and_hash_follow_the_text() -> None:
    assert Dtmi.parse("dtmi:a:b;1") != Dtmi.parse("dtmi:a:b;2")
    assert Dtmi.parse("dtmi:a:b;1") != Dtmi.parse("dtmi:A:b;1")  # case-sensitive
    assert {Dtmi.parse("dtmi:a:b;1"), Dtmi("dtmi:a:b;1")} == {Dtmi("dtmi:a:b;1")}
    assert repr(Dtmi("dtmi:a:b;1")) == "Dtmi(text='dtmi:a:b;1')"


def test_is_frozen() -> None:
    dtmi = Dtmi.parse("dtmi:a:b;1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        dtmi.major_version = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("urn:foo:bar:1", "must start with 'dtmi:'"),
        ("DTMI:foo;1", "must start with 'dtmi:'"),
        ("dtmi:;1", "path segment '' is empty"),
        ("dtmi:foo::bar;1", "path segment '' is empty"),
        ("dtmi:test:1seg;1", "path segment '1seg' must not start with a digit"),
        ("dtmi:test:seg_;1", "path segment 'seg_' must not end with an underscore"),
        ("dtmi:foo:bar.baz;1", "path segment 'bar.baz' may hold only ASCII letters"),
        ("dtmi:foo:bär;1", "path segment 'bär' may hold only ASCII letters"),
        ("dtmi:foo:bar;", "version '' must be"),
        ("dtmi:foo:bar;01", "version '01' must be"),
        ("dtmi:foo:bar;3.0", "version '3.0' must be"),
        ("dtmi:foo:bar;1234567890", "version '1234567890' must be"),
        ("dtmi:foo:bar;1\n", r"version '1\\n' must be"),
        ("dtmi:foo;1#bar.baz", "fragment 'bar.baz' may hold only"),
        ("dtmi:foo;1#1a", "fragment '1a' must not start with a digit"),
    ],
)
def test_error_names_the_broken_rule(text: str, rule: str) -> None:
    with pytest.raises(ValueError, match=re.escape(repr(text)) + " is not a valid DTMI: .*" + rule):
        Dtmi.parse(text)


def test_length_limits() -> None:
    def user(length: int) -> str:
        return "dtmi:" + "a" * (length - 7) + ";1"

    def system(length: int) -> str:
        return "dtmi:_" + "a" * (length - 8) + ";1"

    assert len(Dtmi.parse(user(MAX_USER_LENGTH)).text) == 2048
    with pytest.raises(ValueError, match="2049 characters long; a user DTMI has at most 2048"):
        Dtmi.parse(user(MAX_USER_LENGTH + 1))
    assert Dtmi.parse(system(MAX_LENGTH)).is_reserved
    with pytest.raises(ValueError, match="4097 characters long; a system DTMI has at most 4096"):
        Dtmi.parse(system(MAX_LENGTH + 1))
    # The message shows a long value shortened.
    with pytest.raises(ValueError) as raised:
        Dtmi.parse(system(MAX_LENGTH + 1))
    assert len(str(raised.value)) < 200


def test_reserved_prefixes_are_not_system_dtmis() -> None:
    context = Dtmi.parse("dtmi:dtdl:context;2")
    assert context.has_reserved_prefix and not context.is_reserved
    assert has_reserved_prefix("dtmi:standard:schema:geospatial:point;2")
    assert not has_reserved_prefix("dtmi:dtdlx:foo;1")
    assert not has_reserved_prefix("dtmi:com:dtdl:foo;1")
    assert not Dtmi.parse("dtmi:com:example;1").has_reserved_prefix
    assert is_reserved("dtmi:com:_generated:x;1")
    assert not is_reserved("dtmi:dtdl:context;2")
    assert not is_reserved("not a dtmi")


# ---- per DTDL version ----------------------------------------------------------------------------

# text, valid in DTDL v2, v3, v4
VERSION_CASES = [
    ("dtmi:a:b;1", True, True, True),
    ("dtmi:com:example:Thermostat;999999999", True, True, True),
    ("dtmi:dtdl:context;2", True, True, True),  # syntax only: the reserved prefix is a separate rule
    ("dtmi:a:b;1.2", False, True, True),
    ("dtmi:a:b;1.123456", False, True, True),
    ("dtmi:a:b", False, True, True),
    ("dtmi:a", False, True, True),
    ("dtmi:a:b;1.1234567", False, False, False),
    ("dtmi:a:b;1.0", False, False, False),
    ("dtmi:a:b;0", False, False, False),
    ("dtmi:a:b;01", False, False, False),
    ("dtmi:a:b;1234567890", False, False, False),
    ("dtmi:a:b;", False, False, False),
    ("dtmi:a:_b;1", False, False, False),  # system DTMIs are not DTDL identifiers
    ("dtmi:a:b;1#frag", False, False, False),
    ("dtmi:a:b#frag", False, False, False),
    ("dtmi:a:b;1#", False, False, False),
    ("dtmi:a:b;1\n", False, False, False),
    (" dtmi:a:b;1", False, False, False),
    ("DTMI:a:b;1", False, False, False),
    ("dtmi:a:b_;1", False, False, False),
    ("dtmi:a:1b;1", False, False, False),
    ("dtmi:a::b;1", False, False, False),
    ("dtmi:" + "a" * 2041 + ";1", True, True, True),  # 2048 characters
    ("dtmi:" + "a" * 2042 + ";1", False, False, False),  # 2049
    ("dtmi:" + "a" * 2043, False, True, True),  # 2048, no version
    ("dtmi:" + "a" * 2044, False, False, False),  # 2049, no version
]


@pytest.mark.parametrize(("text", "v2", "v3", "v4"), VERSION_CASES, ids=lambda v: repr(v)[:40])
def test_is_valid_dtmi_per_version(text: str, v2: bool, v3: bool, v4: bool) -> None:
    assert (is_valid_dtmi(text, 2), is_valid_dtmi(text, 3), is_valid_dtmi(text, 4)) == (v2, v3, v4)


@pytest.mark.parametrize("value", [None, 1, b"dtmi:a:b;1", ["dtmi:a:b;1"], {"@id": "dtmi:a:b;1"}])
def test_a_value_that_is_not_a_string_is_not_valid(value: object) -> None:
    assert not any(is_valid_dtmi(value, version) for version in (2, 3, 4))


@pytest.mark.parametrize("version", [1, 5, "3"])
def test_unknown_dtdl_version_is_an_error(version: Any) -> None:
    with pytest.raises(ValueError, match="unknown DTDL version"):
        is_valid_dtmi("dtmi:a:b;1", version)


# ---- against the specification's own patterns ----------------------------------------------------


@lru_cache
def global_identifier_rule(shared_dir: Path, version: int) -> tuple[str, int]:
    """The ``dtmm:identifier`` pattern and maxLength of DTDL ``version``'s global restriction."""
    path = shared_dir / f"reference/dtdl-spec/DTDL/v{version}/metamodel/DTDL.v{version}.ModelRDF-SHACL.json"
    wanted = f"dtmi:dtdl:restriction:global:identifier;{version}"

    def find(node: Any) -> dict[str, Any] | None:
        if isinstance(node, dict):
            if node.get("@id") == wanted:
                return node
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            return None
        return next((hit for child in children if (hit := find(child)) is not None), None)

    rule = find(read_json(path))
    assert rule is not None, f"{wanted} not found in {path}"
    return rule["sh:pattern"], rule["sh:maxLength"]


NEAR_DTMIS = st.one_of(
    st.text(max_size=30),
    st.from_regex(r"dtmi:[A-Za-z0-9_:;.#]{0,24}", fullmatch=True),
    st.from_regex(
        r"dtmi:(?:_?[a-z][a-z0-9_]{0,3}[a-z0-9]?:?){1,3}(?:;[0-9]{1,4}(?:\.[0-9]{1,4})?)?(?:#_?[a-z0-9]{0,3})?",
        fullmatch=True,
    ),
)


@given(text=NEAR_DTMIS)
def test_parse_agrees_with_the_specification_regex(text: str) -> None:
    expected = spec_fullmatch(SPEC_FULL_SYNTAX, text)
    try:
        dtmi = Dtmi.parse(text)
    except ValueError:
        assert not expected
    else:
        assert expected
        rebuilt = "dtmi:" + ":".join(dtmi.labels)
        if dtmi.major_version:
            rebuilt += f";{dtmi.major_version}" + (f".{dtmi.minor_version}" if dtmi.minor_version else "")
        assert rebuilt + dtmi.fragment == text


@pytest.mark.parametrize("version", [2, 3, 4])
@given(text=NEAR_DTMIS)
def test_is_valid_dtmi_agrees_with_the_metamodel(shared_dir: Path, version: int, text: str) -> None:
    pattern, max_length = global_identifier_rule(shared_dir, version)
    expected = len(text) <= max_length and spec_fullmatch(pattern, text)
    assert is_valid_dtmi(text, version) is expected
    if expected:
        dtmi = Dtmi.parse(text)
        assert not dtmi.is_reserved and dtmi.fragment == ""


@pytest.mark.parametrize("version", [2, 3, 4])
def test_metamodel_limits_are_the_ones_we_use(shared_dir: Path, version: int) -> None:
    pattern, max_length = global_identifier_rule(shared_dir, version)
    assert max_length == MAX_USER_LENGTH
    assert spec_fullmatch(pattern, "dtmi:a:b;1")
    assert spec_fullmatch(pattern, "dtmi:a:b;1.2") is (version >= 3)


def test_exports() -> None:
    assert sorted(dtmi_module.__all__) == [
        "DTDL_VERSIONS",
        "Dtmi",
        "MAX_LENGTH",
        "MAX_USER_LENGTH",
        "RESERVED_PREFIXES",
        "has_reserved_prefix",
        "is_reserved",
        "is_valid_dtmi",
    ]
