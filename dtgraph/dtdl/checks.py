"""Second pass of a parse: rules that look across elements.

Identifier uniqueness, references and their types, referenceability between partitions,
``extends`` cycles/depth/count, names unique among (inherited) contents, Component nesting,
schema depth and self-reference, Enum value types, semantic-type units.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from dtgraph.dtdl.errors import Location, ParsingError
from dtgraph.dtdl.metamodel import Metamodel
from dtgraph.dtdl.parser import Node, Ref
from dtgraph.dtdl.source import value_spans

__all__ = ["Graph", "check_graph", "check_partition_sizes"]

_NUMERIC_V2 = {f"dtmi:dtdl:instance:Schema:{n};2" for n in ("double", "float", "integer", "long")}


@dataclass
class Graph:
    """Nodes indexed by identifier, with references resolved."""

    nodes: list[Node]
    by_id: dict[str, Node] = field(default_factory=dict)
    errors: list[ParsingError] = field(default_factory=list)
    undefined: dict[str, Ref] = field(default_factory=dict)


def _loc(node: Node, pointer: str | None = None) -> Location:
    return Location(document=node.doc, pointer=node.pointer if pointer is None else pointer)


def _err(
    g: Graph,
    code: str,
    msg: str,
    node: Node,
    pointer: str | None = None,
    prop: str | None = None,
    value: Any = None,
    other: Node | None = None,
) -> None:
    g.errors.append(
        ParsingError(
            code=code,
            message=msg,
            primary_id=node.id,
            property=prop,
            value=None if value is None else str(value),
            location=_loc(node, pointer),
            other_location=_loc(other) if other is not None else None,
        )
    )


def resolve(g: Graph, mm: Metamodel, target: str) -> Node | str | None:
    """A node of the model, a standard element's class DTMI, or None when undefined."""
    node = g.by_id.get(target)
    if node is not None:
        return node
    cls = mm.instances.get(target)
    return cls


def check_graph(nodes: list[Node], mm: Metamodel) -> Graph:
    g = Graph(nodes)
    for n in nodes:
        prev = g.by_id.get(n.id)
        if prev is not None:
            # a generated identifier repeats only inside a duplicated element, which is reported already
            if n.id_given:
                _err(
                    g,
                    "duplicateDefinition",
                    f"'{n.id}' is defined twice",
                    n,
                    prop="@id",
                    value=n.id,
                    other=prev,
                )
            continue
        g.by_id[n.id] = n
    for n in nodes:
        _check_refs(g, mm, n)
    if g.undefined:
        return g
    for n in nodes:
        _check_semantics(g, mm, n)
    interfaces = [n for n in nodes if n.cls.partition]
    for n in interfaces:
        _check_extends(g, mm, n)
    if not g.errors:
        for n in interfaces:
            _check_contents_names(g, n)
            _check_total_count(g, mm, n)
    for n in nodes:
        _check_component(g, mm, n)
        _check_property_v2(g, mm, n)
        _check_siblings(g, mm, n)
        _check_schema_limits(g, mm, n)
        _check_unique(g, n)
        _check_enum(g, mm, n)
    return g


def children(
    g: Graph, mm: Metamodel, n: Node, props: tuple[str, ...] | None = None
) -> Iterator[tuple[str, Node]]:
    for term, values in n.children.items():
        if props is not None and term not in props:
            continue
        for v in values:
            if isinstance(v, Node):
                yield term, v
            else:
                t = g.by_id.get(v.target)
                if t is not None:
                    yield term, t


def _check_refs(g: Graph, mm: Metamodel, n: Node) -> None:
    for term, values in n.children.items():
        pdef = n.props.get(term)
        for v in values:
            if isinstance(v, Node):
                continue
            target = resolve(g, mm, v.target)
            if target is None:
                g.undefined.setdefault(v.target, v)
                continue
            cls = target.cls.dtmi if isinstance(target, Node) else target
            if pdef is not None and pdef.classes and not mm.conforms(cls, pdef.classes):
                _err(
                    g,
                    "disallowedType",
                    f"'{v.target}' is a {_tail(cls)}, which is not allowed in '{term}'",
                    n,
                    v.pointer,
                    term,
                    v.target,
                )
                continue
            if isinstance(target, Node) and not (
                target.top_level or target.cls.partition or target.partition is n.partition
            ):
                _err(
                    g,
                    "crossPartitionReference",
                    f"'{v.target}' is nested inside another Interface and cannot be referenced from here",
                    n,
                    v.pointer,
                    term,
                    v.target,
                )


def _check_semantics(g: Graph, mm: Metamodel, n: Node) -> None:
    if n.semantic_v2:
        unit = n.literals.get("unit")
        st = n.semantic_v2[0]
        if unit is None and "unit" in n.props:
            _err(
                g,
                "objectCountBelowMin",
                "an element with a semantic type needs a 'unit'",
                n,
                n.pointer + "/unit",
                "unit",
            )
        if isinstance(unit, str):
            unit_dtmi = n.ctx.resolve(unit) or unit
            if unit_dtmi not in mm.semantic_types_v2.get(st, set()):
                _err(
                    g,
                    "nonConformantPropertyValue",
                    f"unit '{unit}' does not belong to semantic type {_tail(st)}",
                    n,
                    n.pointer + "/unit",
                    "unit",
                    unit,
                )
        schema = n.children.get("schema", [])
        if schema and _schema_dtmi(g, schema[0]) not in _NUMERIC_V2:
            _err(
                g,
                "nonConformantPropertyValue",
                f"semantic type {_tail(st)} needs a numeric schema",
                n,
                n.pointer + "/schema",
                "schema",
            )
    for c in n.cotypes:
        for ov in c.property_overrides + [
            o
            for a in c.ancestors
            for o in mm.classes[a].property_overrides
            if a != c.dtmi and a in mm.classes
        ]:
            shape = ov["shape"]
            child_of = shape.get("dtmm:childOf")
            if child_of is None:
                continue
            term = ov["path"].split(";")[0].rsplit(":", 1)[-1]
            for v in n.children.get(term, []):
                target = v.target if isinstance(v, Ref) else v.id
                parent_enum = mm.enum_of.get(target)
                expected = n.ctx.resolve(child_of) or child_of
                if parent_enum != expected:
                    _err(
                        g,
                        "nonConformantPropertyValue",
                        f"'{target.split(':')[-1]}' is not a unit of {child_of}",
                        n,
                        n.pointer + "/" + term,
                        term,
                    )


def _schema_dtmi(g: Graph, v: Node | Ref) -> str | None:
    return v.target if isinstance(v, Ref) else None


def _extends_of(g: Graph, n: Node) -> list[Node]:
    out: list[Node] = []
    for v in n.children.get("extends", []):
        t = v if isinstance(v, Node) else g.by_id.get(v.target)
        if t is not None and t.cls.partition:
            out.append(t)
    return out


def _limit(mm: Metamodel, n: Node, key: str, prop: str) -> int | None:
    best: int | None = None
    for a in n.cls.ancestors:
        c = mm.classes.get(a)
        if c is None:
            continue
        for d in c.descendants:
            props = [p.split(";")[0].rsplit(":", 1)[-1] for p in d.get("dtmm:properties", [])]
            if prop in props and key in d:
                best = int(d[key])
    return best


def _check_extends(g: Graph, mm: Metamodel, n: Node) -> None:
    max_depth = mm.effective_limit(
        n.ctx.limits, "depth", "extends", _limit(mm, n, "dtmm:maxDepth", "extends")
    )
    max_count = mm.effective_limit(
        n.ctx.limits, "count", "extends", _limit(mm, n, "dtmm:maxCount", "extends")
    )
    # depth-first, detecting cycles through n
    count = 0
    seen: set[str] = set()
    stack: list[tuple[Node, int]] = [(n, 0)]
    deepest = 0
    while stack:
        cur, depth = stack.pop()
        for parent in _extends_of(g, cur):
            count += 1
            if parent is n:
                _err(g, "recursiveStructureNarrow", f"'{n.id}' extends itself", n, prop="extends")
                return
            deepest = max(deepest, depth + 1)
            if parent.id not in seen and depth < 64:
                seen.add(parent.id)
                stack.append((parent, depth + 1))
    if max_depth is not None and deepest > max_depth:
        _err(
            g,
            "excessiveDepthNarrow",
            f"'{n.id}' has an 'extends' chain deeper than {max_depth}",
            n,
            prop="extends",
        )
    if max_count is not None and count > max_count:
        _err(
            g,
            "excessiveCount",
            f"'{n.id}' has more than {max_count} values in its 'extends' hierarchy",
            n,
            prop="extends",
        )


_COUNTED = (
    "contents",
    "fields",
    "enumValues",
    "request",
    "response",
    "properties",
    "schema",
    "elementSchema",
    "mapValue",
)


def _check_total_count(g: Graph, mm: Metamodel, n: Node) -> None:
    # DTDL v3+: at most 100,000 values below an Interface, inherited contents and nested schemas included
    limit = mm.effective_limit(n.ctx.limits, "count", "contents", _limit(mm, n, "dtmm:maxCount", "contents"))
    if limit is None:
        return
    count = 0
    seen: set[str] = set()
    stack = [n, *_all_ancestors(g, n)]
    while stack:
        cur = stack.pop()
        if cur.id in seen:
            continue
        seen.add(cur.id)
        for term in _COUNTED:
            values = cur.children.get(term, [])
            count += len(values)
            stack.extend(
                v if isinstance(v, Node) else g.by_id[v.target]
                for v in values
                if isinstance(v, Node) or v.target in g.by_id
            )
        if count > limit:
            _err(
                g,
                "excessiveCount",
                f"'{n.id}' holds more than {limit} contents, fields and schemas in all",
                n,
                prop="contents",
            )
            return


def _all_ancestors(g: Graph, n: Node) -> list[Node]:
    out: list[Node] = []
    stack = _extends_of(g, n)
    while stack:
        cur = stack.pop()
        if cur not in out and cur is not n:
            out.append(cur)
            stack.extend(_extends_of(g, cur))
    return out


def effective_contents(g: Graph, n: Node, _seen: frozenset[str] = frozenset()) -> list[Node]:
    if n.id in _seen:
        return []
    out: list[Node] = []
    for v in n.children.get("contents", []):
        t = v if isinstance(v, Node) else g.by_id.get(v.target)
        if t is not None:
            out.append(t)
    for parent in _extends_of(g, n):
        out.extend(effective_contents(g, parent, _seen | {n.id}))
    return out


def _check_contents_names(g: Graph, n: Node) -> None:
    names: dict[str, Node] = {}
    for c in effective_contents(g, n):
        name = c.name()
        if name is None:
            continue
        prev = names.get(name)
        if prev is not None and prev is not c:
            _err(
                g,
                "nonUniqueImportedPropertyValue",
                f"'{n.id}' has two contents named '{name}'",
                c,
                prop="name",
                value=name,
                other=prev,
            )
            return
        names[name] = c


def _check_property_v2(g: Graph, mm: Metamodel, n: Node) -> None:
    # DTDL v2: a Property may not contain, at any depth, a 'schema' that is an Array or a geospatial schema
    if n.cls.dtmi != "dtmi:dtdl:class:Property;2":
        return
    stack, seen = [n], set()
    while stack:
        cur = stack.pop()
        if cur.id in seen:
            continue
        seen.add(cur.id)
        for v in cur.children.get("schema", []):
            target = v if isinstance(v, Node) else g.by_id.get(v.target)
            if (target is not None and target.cls.term == "Array") or (
                isinstance(v, Ref) and v.target.startswith("dtmi:standard:schema:geospatial:")
            ):
                _err(
                    g,
                    "excludedType",
                    f"a DTDL v2 Property may not use an Array schema (here '{cur.id}')",
                    n,
                    prop="schema",
                )
                return
        stack.extend(child for _t, child in children(g, mm, cur))


def _check_siblings(g: Graph, mm: Metamodel, n: Node) -> None:
    # Annotation/Overriding: 'annotates' must name a sibling Property or Telemetry of the same Interface
    for c in n.cotypes:
        for a in c.ancestors:
            cls = mm.classes.get(a)
            for rule in cls.siblings if cls is not None else []:
                if "sh:or" not in rule:
                    continue
                key, keyref = rule["dtmm:keyProperty"], rule["dtmm:keyrefProperty"]
                wanted = n.literals.get(keyref)
                if not isinstance(wanted, str) or n.parent is None:
                    continue
                allowed = tuple(o["sh:class"] for o in rule["sh:or"])
                excluded = rule.get("sh:not", {}).get("sh:class")
                siblings = effective_contents(g, n.parent) if n.parent.cls.partition else []
                if not any(
                    sib is not n
                    and sib.literals.get(key) == wanted
                    and mm.conforms(sib.cls.dtmi, allowed)
                    and not any(excluded is not None and excluded == o.term for o in sib.cotypes)
                    for sib in siblings
                ):
                    _err(
                        g,
                        "nonConformantPropertyValue",
                        f"'{keyref}' names '{wanted}', which is no Property or Telemetry beside it",
                        n,
                        n.pointer + "/" + keyref,
                        keyref,
                        wanted,
                    )


def _check_component(g: Graph, mm: Metamodel, n: Node) -> None:
    if _tail(n.cls.dtmi) != "Component":
        return
    for _term, schema in children(g, mm, n, ("schema",)):
        stack = [schema]
        seen: set[str] = set()
        while stack:
            cur = stack.pop()
            if cur.id in seen:
                continue
            seen.add(cur.id)
            for c in effective_contents(g, cur):
                if _tail(c.cls.dtmi) == "Component":
                    _err(
                        g,
                        "excludedType",
                        f"Component '{n.name()}' uses an Interface that itself has a Component",
                        n,
                        prop="schema",
                        value=c.id,
                    )
                    return


def _check_schema_limits(g: Graph, mm: Metamodel, n: Node) -> None:
    if not any(_tail(a) == "ComplexSchema" for a in n.cls.ancestors):
        return
    max_depth = _limit(mm, n, "dtmm:maxDepth", "elementSchema")
    allow_self = False
    for a in n.cls.ancestors:
        c = mm.classes.get(a)
        if c is not None:
            for d in c.descendants:
                if d.get("dtmm:allowSelf"):
                    allow_self = True
    max_depth = mm.effective_limit(n.ctx.limits, "depth", "elementSchema", max_depth)
    # wide walk: every member is followed, only schema/elementSchema members are counted
    stack: list[tuple[Node, int, frozenset[str]]] = [(n, 0, frozenset({n.id}))]
    while stack:
        cur, depth, path = stack.pop()
        if max_depth is not None and any(
            isinstance(v, Ref) and v.target not in g.by_id and depth + 1 > max_depth
            for t in ("schema", "elementSchema")
            for v in cur.children.get(t, [])
        ):
            _err(g, "excessiveDepthWide", f"schema '{n.id}' nests deeper than {max_depth}", n)
            return
        for term, child in children(g, mm, cur):
            next_depth = depth + (1 if term in ("schema", "elementSchema") else 0)
            if child.id in path:
                if child is n and not allow_self:
                    _err(g, "recursiveStructureWide", f"schema '{n.id}' refers to itself", n, value=n.id)
                    return
                continue
            if max_depth is not None and next_depth > max_depth:
                _err(g, "excessiveDepthWide", f"schema '{n.id}' nests deeper than {max_depth}", n)
                return
            stack.append((child, next_depth, path | {child.id}))


def _check_unique(g: Graph, n: Node) -> None:
    for term, values in n.children.items():
        pdef = n.props.get(term)
        if pdef is None or not pdef.unique_properties or (term == "contents" and n.cls.partition):
            continue
        members = [v if isinstance(v, Node) else g.by_id.get(v.target) for v in values]
        for up in pdef.unique_properties:
            seen: dict[Any, Node] = {}
            for m in members:
                if m is None:
                    continue
                val = m.literals.get(up)
                if val is None or isinstance(val, (list, dict)):
                    continue
                key = (type(val).__name__, val)
                if key in seen:
                    _err(
                        g,
                        "nonUniquePropertyValue",
                        f"two elements in '{term}' share {up} '{val}'",
                        m,
                        prop=up,
                        value=val,
                        other=seen[key],
                    )
                    break
                seen[key] = m


def _check_enum(g: Graph, mm: Metamodel, n: Node) -> None:
    if _tail(n.cls.dtmi) != "Enum":
        return
    vs = n.children.get("valueSchema", [])
    if not vs or not isinstance(vs[0], Ref):
        return
    kind = _tail(vs[0].target)
    for _term, ev in children(g, mm, n, ("enumValues",)):
        val = ev.literals.get("enumValue")
        if val is None:
            continue
        if kind == "integer" and not (isinstance(val, int) and not isinstance(val, bool)):
            _err(
                g,
                "nonConformantDatatype",
                f"enumValue '{val}' must be an integer, as the Enum's valueSchema says",
                ev,
                prop="enumValue",
                value=val,
            )
        if kind == "string" and not isinstance(val, str):
            _err(
                g,
                "nonConformantDatatype",
                f"enumValue '{val}' must be a string, as the Enum's valueSchema says",
                ev,
                prop="enumValue",
                value=val,
            )


def _tail(dtmi: str) -> str:
    return dtmi.split(";")[0].rsplit(":", 1)[-1]


def check_partition_sizes(nodes: list[Node], texts: Mapping[int, str], mm: Metamodel) -> list[ParsingError]:
    """DTDL v3+: the JSON text of each Interface, less its nested Interfaces, is at most 1 MiB.

    Only documents larger than the limit can break it, so only those are mapped (mapping is slow).
    """
    limits = [g.partition_max_bytes for g in mm.globals.values() if g.partition_max_bytes]
    if not limits:
        return []
    smallest = min(limits)
    big = {d for d, t in texts.items() if len(t) > smallest // 4 and len(t.encode("utf-8")) > smallest}
    interfaces = [n for n in nodes if n.cls.partition and n.doc in big]
    if not interfaces:
        return []
    sizes: dict[int, int] = {}  # id(node) → bytes of its own text
    for n in interfaces:
        spans = value_spans(texts[n.doc])
        span = None if spans is None else spans.get(n.pointer)
        if span is not None:
            sizes[id(n)] = len(texts[n.doc][span[0] : span[1]].encode("utf-8"))
    for n in interfaces:
        outer = n.parent.partition if n.parent is not None else None
        if outer is not None and id(outer) in sizes and id(n) in sizes:
            sizes[id(outer)] -= sizes[id(n)]
    errors: list[ParsingError] = []
    for n in interfaces:
        limit = mm.globals[n.ctx.version].partition_max_bytes
        if limit and sizes.get(id(n), 0) > limit:
            errors.append(
                ParsingError(
                    "partitionTooLarge",
                    f"the JSON text of Interface '{n.id}' is {sizes[id(n)]:,} bytes; the limit "
                    f"is {limit:,} bytes (nested Interfaces not counted)",
                    primary_id=n.id,
                    location=_loc(n),
                )
            )
    return errors
