"""Packed records of the memory store (``dtgraph.stores._packed``): packing is exact for every JSON value."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dtgraph.graph.records import Twin
from dtgraph.stores._packed import EMPTY, PackedTwin, pack, unpack
from dtgraph.stores.base import Batch
from dtgraph.stores.errors import StoreError
from dtgraph.stores.memory import MemoryStore

_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats()  # NaN and infinities included
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)


def same(a: Any, b: Any) -> bool:
    """Equal as JSON values, telling 1 from 1.0 and NaN equal to NaN."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@given(st.dictionaries(st.text(max_size=8), _VALUES, max_size=5))
def test_unpacking_gives_back_what_was_packed(values: dict[str, Any]) -> None:
    blob = pack(values)
    assert same(dict(unpack(blob)), values)
    if values and not any(isinstance(v, float) and not math.isfinite(v) for v in _leaves(values)):
        assert json.loads(blob) == values  # plain JSON, as the journal holds it


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _leaves(v)]
    if isinstance(value, list):
        return [x for v in value for x in _leaves(v)]
    return [value]


def test_no_properties_share_one_object() -> None:
    assert pack({}) is EMPTY
    assert PackedTwin.of(Twin("a", "m"), "m").properties is EMPTY
    assert unpack(EMPTY) == {}


def test_packed_bytes_hold_no_spare_buffer() -> None:
    import sys

    blob = pack({"name": "x" * 10})
    assert sys.getsizeof(blob) < 100  # orjson's own result keeps a buffer of 1 KB or more


@pytest.mark.parametrize("value", [datetime.now(UTC), 2**64, -(2**63) - 1, {1, 2}])
def test_what_is_not_a_json_value_is_refused(value: Any) -> None:
    with pytest.raises(StoreError, match="JSON"):
        pack({"v": value})


def test_non_finite_numbers_survive_the_journal(tmp_path: Path) -> None:
    values = {"nan": math.nan, "inf": math.inf, "ninf": -math.inf, "none": None, "x": [1, 1.0]}
    with MemoryStore(tmp_path, fsync=False) as store:
        store.apply(Batch(twins=[Twin("t", "dtmi:test:T;1", values)]))
    with MemoryStore(tmp_path, fsync=False) as store:
        twin = store.get_twin("t")
        assert twin is not None and same(dict(twin.properties), values)
