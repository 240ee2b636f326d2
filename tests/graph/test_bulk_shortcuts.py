"""The bulk import's shortcuts against the checks they stand for: a shortcut passes exactly what the
full check passes (the full check then explains)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from dtgraph.dtdl import parse
from dtgraph.graph.bulk import _Rule
from dtgraph.graph.records import Relationship, Twin
from dtgraph.graph.validation import relationship_issues
from tests.graph.conftest import ASSET, BIG_PUMP, PUMP, SITE, documents

MODELS = parse(documents())

# --- the per-rule check of relationships against the full one ---------------------------------------

_RULE_MODELS = st.sampled_from([ASSET, PUMP, BIG_PUMP, SITE, "dtmi:test:Nowhere;1"])
_RULE_VALUES = st.one_of(
    st.floats(), st.integers(-3, 3), st.text(max_size=3), st.sampled_from(["2026-01-31", "2026-13-01"])
)


@settings(max_examples=300, deadline=None)
@given(
    source=_RULE_MODELS,
    target=_RULE_MODELS,
    name=st.sampled_from(["feeds", "relatedTo", "locatedIn", "nothing"]),
    rel_id=st.sampled_from(["r", ""]),
    props=st.dictionaries(st.sampled_from(["flow", "since", "other", "$x"]), _RULE_VALUES, max_size=3),
)
def test_a_rule_passes_exactly_the_relationships_the_full_check_passes(
    source: str, target: str, name: str, rel_id: str, props: dict[str, Any]
) -> None:
    models = MODELS
    relationship = Relationship(rel_id, "s", "t", name, props)
    rule = _Rule.of(source, name, models)
    expected = relationship_issues(relationship, Twin("s", source), Twin("t", target), models)
    fits = rule is not None and rule.fits(relationship, target, models)
    assert fits == (not expected)
    if rule is not None:  # the multiplicity is the definition's
        definition = models.interfaces[source].relationships[name]
        assert rule.limit == definition.max_multiplicity
