"""The demo enterprise generator: format, determinism, size, validity against the library, shape."""

from __future__ import annotations

import io
import json
import tracemalloc
from collections import Counter, defaultdict, deque
from itertools import islice

import pytest

from dtgraph.demo import HEADER, Plan, generate, generate_records, write_ndjson
from dtgraph.library import cascade_declaration, library_model_set

ENTERPRISE = "dtmi:dtgraph:Enterprise;1"


@pytest.fixture(scope="module")
def records():
    return list(generate_records(3000, seed=7))


def _section(records, name):
    return [obj for section, obj in records if section == name]


def test_the_file_follows_the_import_job_format():
    lines = list(generate(500, seed=1))
    assert lines[0] == {"Section": "Header"}
    assert lines[1] == HEADER == {"fileVersion": "1.0.0", "author": "dtgraph", "organization": "dtgraph"}
    markers = [line["Section"] for line in lines if set(line) == {"Section"}]
    assert markers == ["Header", "Models", "Twins", "Relationships"]
    section = None
    for line in lines:
        if set(line) == {"Section"}:
            section = line["Section"]
        elif section == "Models":
            assert line["@type"] == "Interface" and line["@id"].startswith("dtmi:dtgraph:")
        elif section == "Twins":
            assert isinstance(line["$dtId"], str) and isinstance(line["$metadata"]["$model"], str)
        elif section == "Relationships":
            assert {"$dtId", "$relationshipId", "$targetId", "$relationshipName"} <= set(line)


def test_models_come_after_the_interfaces_they_extend():
    models = _section(generate_records(200), "Models")
    seen: set[str] = set()
    for model in models:
        extends = model.get("extends", [])
        assert set([extends] if isinstance(extends, str) else extends) <= seen, model["@id"]
        seen.add(model["@id"])
    assert seen == set(library_model_set().interfaces)


def test_write_ndjson_writes_one_object_per_line():
    out = io.StringIO()
    count = write_ndjson(out, 300, seed=3)
    lines = out.getvalue().splitlines()
    assert count == len(lines)
    assert [json.loads(line) for line in lines] == list(generate(300, seed=3))


def test_deterministic_for_a_seed():
    assert list(generate(2000, seed=7)) == list(generate(2000, seed=7))
    assert list(generate(2000, seed=7)) != list(generate(2000, seed=8))


@pytest.mark.parametrize("twins", [500, 2000, 3000, 20000])
def test_counts_are_what_was_asked(twins):
    counts = Counter(section for section, _ in generate_records(twins))
    assert counts["Twins"] == twins == Plan.for_twins(twins).twins
    assert 2.5 <= counts["Relationships"] / counts["Twins"] <= 3.5


def test_ids_are_unique_and_targets_exist(records):
    twins = _section(records, "Twins")
    ids = [t["$dtId"] for t in twins]
    assert len(ids) == len(set(ids))
    known = set(ids)
    keys = Counter((r["$dtId"], r["$relationshipId"]) for r in _section(records, "Relationships"))
    assert max(keys.values()) == 1, "a relationship id repeats for a source"
    for rel in _section(records, "Relationships"):
        assert rel["$dtId"] in known and rel["$targetId"] in known


def test_every_record_is_valid_against_the_library(records):
    models = library_model_set()
    model_of: dict[str, str] = {}
    problems: list[str] = []
    for twin in _section(records, "Twins"):
        model = twin["$metadata"]["$model"]
        model_of[twin["$dtId"]] = model
        properties = models.interfaces[model].properties
        for name, value in twin.items():
            if name.startswith("$"):
                continue
            if name not in properties:
                problems.append(f"{twin['$dtId']}: {model} has no property {name}")
            else:
                problems += [
                    f"{twin['$dtId']}.{name}: {e}" for e in models.instance_errors(value, properties[name])
                ]
    per_source: Counter[tuple[str, str]] = Counter()
    for rel in _section(records, "Relationships"):
        source, name, target = rel["$dtId"], rel["$relationshipName"], rel["$targetId"]
        definition = models.interfaces[model_of[source]].relationships.get(name)
        if definition is None:
            problems.append(f"{source}: {model_of[source]} has no relationship {name}")
            continue
        if definition.target is not None and not models.is_a(model_of[target], definition.target):
            problems.append(f"{source} -{name}-> {target}: {model_of[target]} is not a {definition.target}")
        edge_properties = {p.name: p for p in definition.properties}
        for key, value in rel.items():
            if key.startswith("$"):
                continue
            if key not in edge_properties:
                problems.append(f"{source} -{name}->: no edge property {key}")
            else:
                problems += [
                    f"{source} -{name}-> .{key}: {e}"
                    for e in models.instance_errors(value, edge_properties[key])
                ]
        per_source[(source, name)] += 1
        if (
            definition.max_multiplicity is not None
            and per_source[(source, name)] > definition.max_multiplicity
        ):
            problems.append(f"{source}: more than {definition.max_multiplicity} '{name}'")
    assert problems == []


def test_required_inputs_only_with_k_of_n(records):
    for twin in _section(records, "Twins"):
        if "requiredInputs" in twin:
            assert twin["inputGate"] == "kOfN" and twin["requiredInputs"] >= 1


def test_the_hierarchy_is_a_tree_rooted_at_the_enterprise(records):
    models = library_model_set()
    twins = _section(records, "Twins")
    parent: dict[str, str] = {}
    for rel in _section(records, "Relationships"):
        if rel["$relationshipName"] == "partOf":
            assert rel["$dtId"] not in parent, f"{rel['$dtId']} has two parents"
            parent[rel["$dtId"]] = rel["$targetId"]
    (root,) = [t["$dtId"] for t in twins if t["$metadata"]["$model"] == ENTERPRISE]
    for twin in twins:
        node, model = twin["$dtId"], twin["$metadata"]["$model"]
        if not models.is_a(model, "dtmi:dtgraph:Asset;1"):
            assert node not in parent, f"{node} ({model}) is not an asset but has a parent"
            continue
        seen = {node}
        while node in parent:
            node = parent[node]
            assert node not in seen, f"cycle through {node}"
            seen.add(node)
        assert node == root, f"{twin['$dtId']} does not reach the enterprise"


def test_every_order_is_reachable_from_a_supplier_along_the_failure_direction(records):
    models = library_model_set()
    model_of = {t["$dtId"]: t["$metadata"]["$model"] for t in _section(records, "Twins")}
    affects: defaultdict[str, list[str]] = defaultdict(list)
    for rel in _section(records, "Relationships"):
        declaration = cascade_declaration(models, model_of[rel["$dtId"]], rel["$relationshipName"])
        assert declaration is not None, rel
        if declaration.kind == "supply":
            failing, affected = declaration.orient(rel["$dtId"], rel["$targetId"])
            affects[failing].append(affected)
    suppliers = [t for t, m in model_of.items() if m == "dtmi:dtgraph:Supplier;1"]
    reached = set(suppliers)
    queue = deque(suppliers)
    while queue:
        for nxt in affects[queue.popleft()]:
            if nxt not in reached:
                reached.add(nxt)
                queue.append(nxt)
    orders = [t for t, m in model_of.items() if m == "dtmi:dtgraph:CustomerOrder;1"]
    assert orders and all(order in reached for order in orders)


def test_redundancy_is_present(records):
    twins = _section(records, "Twins")
    gates = Counter(t.get("inputGate") for t in twins if t["$metadata"]["$model"] == "dtmi:dtgraph:Part;1")
    assert gates["all"] and gates["any"] and gates["kOfN"]
    sourcing = Counter(r.get("sourcing") for r in _section(records, "Relationships"))
    assert sourcing["alternate"] > 0


def test_memory_does_not_grow_with_size():
    library_model_set()  # parsed once, outside the measurement

    def peak(twins: int) -> int:
        tracemalloc.start()
        for _ in islice(generate(twins), None):
            pass
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, large = peak(3000), peak(30000)
    assert large < 1.5 * small + 200_000, (small, large)


def test_a_size_below_one_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        Plan.for_twins(0)
