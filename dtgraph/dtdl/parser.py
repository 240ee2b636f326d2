"""First pass of a parse: walk the JSON documents and build raw elements.

Each JSON object that stands for a DTDL element becomes a :class:`Node`: its identifier (given or
generated), its material class and co-types, and its member values checked against the metamodel.
Cross-element rules (references, inheritance, limits) run afterwards in :mod:`dtgraph.dtdl.checks`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from dtgraph.dtdl.context import ActiveContext, ContextProblem, apply_context
from dtgraph.dtdl.errors import Location, ParsingError
from dtgraph.dtdl.literals import localizable, representational
from dtgraph.dtdl.metamodel import ClassDef, Metamodel, PropertyDef
from dtgraph.dtdl.terms import IRRELEVANT, classify, code_for, message_for, suggest, tolerated

__all__ = ["Node", "Ref", "Walker"]

_KEYWORDS = ("@context", "@id", "@type")


@dataclass
class Ref:
    """A member value that names another element by DTMI (or a standard element by term)."""

    target: str
    pointer: str
    doc: int = 0


@dataclass
class Typing:
    """What an element's ``@type`` says: its one material class and its co-types."""

    cls: ClassDef
    cotypes: list[ClassDef] = field(default_factory=list)
    semantic_v2: list[str] = field(default_factory=list)  # DTDL v2 semantic types (DTMIs)
    apocryphal: bool = False  # has a co-type no active context defines


@dataclass
class Node:
    """One DTDL element as found in the documents."""

    id: str
    cls: ClassDef
    ctx: ActiveContext
    doc: int
    pointer: str
    parent: Node | None
    parent_prop: str | None
    top_level: bool
    id_given: bool
    cotypes: list[ClassDef] = field(default_factory=list)
    semantic_v2: list[str] = field(default_factory=list)
    apocryphal: bool = False
    literals: dict[str, Any] = field(default_factory=dict)  # term → decoded value
    children: dict[str, list[Node | Ref]] = field(default_factory=dict)  # term → object values
    props: dict[str, PropertyDef] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)
    undefined_members: dict[str, Any] = field(default_factory=dict)
    partition: Node | None = None

    def name(self) -> str | None:
        v = self.literals.get("name")
        return v if isinstance(v, str) else None


class Walker:
    """Walks documents and turns JSON objects into Nodes, collecting every error on the way."""

    def __init__(self, mm: Metamodel, *, allow_undefined: bool, limit_contexts: frozenset[str]) -> None:
        self.mm = mm
        self.allow_undefined = allow_undefined
        self.limit_contexts = limit_contexts
        self.errors: list[ParsingError] = []
        self.nodes: list[Node] = []
        self.doc = 0

    # --- reporting -----------------------------------------------------------------------------

    def error(
        self,
        code: str,
        message: str,
        pointer: str,
        *,
        primary_id: str | None = None,
        prop: str | None = None,
        value: Any = None,
    ) -> None:
        self.errors.append(
            ParsingError(
                code=code,
                message=message,
                primary_id=primary_id,
                property=prop,
                value=None if value is None else str(value)[:200],
                location=Location(document=self.doc, pointer=pointer),
            )
        )

    # --- documents -----------------------------------------------------------------------------

    def walk_document(self, doc_index: int, root: Any) -> None:
        self.doc = doc_index
        if isinstance(root, dict):
            self.top_level(root, "")
        elif isinstance(root, list) and all(isinstance(x, dict) for x in root):
            for i, obj in enumerate(root):
                self.top_level(obj, f"/{i}")
        else:
            self.error("notJsonObject", "a DTDL document must hold an object or an array of objects", "")

    def top_level(self, obj: dict[str, Any], pointer: str) -> None:
        if "@context" not in obj:
            self.error(
                "missingContext",
                "a top-level element needs an '@context' naming the DTDL version",
                pointer,
                primary_id=_str_or_none(obj.get("@id")),
            )
            return
        if "@graph" in obj:
            self.error("topLevelGraphDisallowed", "'@graph' is not allowed in DTDL", pointer + "/@graph")
            return
        self.element(
            obj,
            None,
            pointer,
            parent=None,
            prop=None,
            allowed=None,
            inferable=None,
            top_level=True,
            segment=None,
        )

    # --- elements ------------------------------------------------------------------------------

    def element(
        self,
        obj: dict[str, Any],
        parent_ctx: ActiveContext | None,
        pointer: str,
        *,
        parent: Node | None,
        prop: PropertyDef | None,
        allowed: tuple[str, ...] | None,
        inferable: str | None,
        top_level: bool,
        segment: str | None,
        index: int | None = None,
    ) -> Node | None:
        raw_id = obj.get("@id")
        pid = raw_id if isinstance(raw_id, str) else None
        ctx = self._context(obj, parent_ctx, pointer, pid, top_level)
        if ctx is None:
            return None
        typing = self._types(obj, ctx, pointer, pid, inferable)
        if typing is None:
            return None
        cls = typing.cls
        if allowed is None and not cls.partition:
            self.error(
                "typeNotRootable",
                f"a top-level element must be an Interface, not a {cls.term}",
                pointer + "/@type",
                primary_id=pid,
                prop="@type",
                value=cls.term,
            )
            return None
        if allowed is not None and not self.mm.conforms(cls.dtmi, allowed):
            self.error(
                "disallowedType",
                f"a {cls.term} is not allowed here",
                pointer + "/@type" if "@type" in obj else pointer,
                primary_id=pid,
                prop=prop.term if prop else None,
                value=cls.term,
            )
        if "@id" in obj:
            node_id = self._given_id(raw_id, cls, ctx, pointer)
            if node_id is None:
                return None
        elif cls.partition or (prop is not None and prop.term == "schemas"):
            self.error(
                "missingTopLevelId" if top_level else "missingRequiredId",
                f"an {cls.term} needs an '@id'",
                pointer,
                prop="@id",
            )
            return None
        else:
            node_id = _generated_id(parent, prop, segment, index)
        node = Node(
            id=node_id,
            cls=cls,
            ctx=ctx,
            doc=self.doc,
            pointer=pointer,
            parent=parent,
            parent_prop=prop.term if prop else None,
            top_level=top_level,
            id_given="@id" in obj,
            cotypes=typing.cotypes,
            semantic_v2=typing.semantic_v2,
            apocryphal=typing.apocryphal,
            raw=obj,
        )
        node.partition = node if (top_level or cls.partition or parent is None) else parent.partition
        if "@graph" in obj:
            self.error(
                "graphDisallowed", "'@graph' is not allowed in DTDL", pointer + "/@graph", primary_id=node_id
            )
        self._members(node, obj)
        self.nodes.append(node)
        return node

    # --- @context ------------------------------------------------------------------------------

    def _context(
        self,
        obj: dict[str, Any],
        parent_ctx: ActiveContext | None,
        pointer: str,
        pid: str | None,
        top_level: bool,
    ) -> ActiveContext | None:
        if "@context" not in obj:
            return parent_ctx
        value = obj["@context"]

        def report(p: ContextProblem) -> None:
            sub = (
                pointer
                + "/@context"
                + (f"/{p.index}" if p.index is not None and isinstance(value, list) else "")
            )
            self.error(p.code, p.message, sub, primary_id=pid, prop="@context", value=p.value)

        return apply_context(
            value,
            parent_ctx,
            self.mm,
            top_level=top_level,
            allow_undefined=self.allow_undefined,
            limit_contexts=self.limit_contexts,
            report=report,
        )

    # --- @type ---------------------------------------------------------------------------------

    def _types(
        self, obj: dict[str, Any], ctx: ActiveContext, pointer: str, pid: str | None, inferable: str | None
    ) -> Typing | None:
        """The element's class and co-types, or None (after reporting) when it has no usable class."""
        version = ctx.version
        where = pointer + "/@type"

        def type_error(code: str, message: str, value: Any = None, at: str = where) -> None:
            self.error(code, message, at, primary_id=pid, prop="@type", value=value)

        if "@type" not in obj:
            cls = self.mm.classes.get(self._class_for_version(inferable, version)) if inferable else None
            if cls is None:
                self.error(
                    "noTypeThatAllows", "the element has no '@type'", pointer, primary_id=pid, prop="@type"
                )
                return None
            return Typing(cls)
        type_value = obj["@type"]
        types = type_value if isinstance(type_value, list) else [type_value]
        if not types or not all(isinstance(t, str) for t in types):
            type_error("classNotString", "'@type' must be a string or an array of strings", type_value)
            return None
        glob = self.mm.globals[version]
        material: list[ClassDef] = []
        cotypes: list[ClassDef] = []
        semantic_v2: list[str] = []
        apocryphal = False
        for i, t in enumerate(types):
            term = classify(t, ctx)
            category = term.category
            if term.dtmi is not None:
                c = self.mm.classes.get(term.dtmi)
                if (
                    c is not None
                    and c.extension is None
                    and c.material
                    and not c.abstract
                    and not c.extensible
                    and c.version == version
                ):
                    if c not in material:
                        material.append(c)
                    continue
                if c is not None and c.extension in ctx.extensions and not c.abstract:
                    cotypes.append(c)
                    continue
                if version == 2 and term.dtmi in self.mm.semantic_types_v2:
                    semantic_v2.append(term.dtmi)
                    continue
                category = IRRELEVANT
            assert category is not None
            if tolerated(category, glob, ctx, as_member=False, cotyped=False):
                apocryphal = True  # an unknown co-type: the element is "informally co-typed"
            else:
                at = where + (f"/{i}" if isinstance(type_value, list) else "")
                type_error(
                    code_for("type", category),
                    message_for("type", category, t) + suggest(t, ctx.terms),
                    t,
                    at,
                )
        if len(material) != 1:
            if material:
                type_error("multipleMaterialTypes", "'@type' names more than one DTDL class", type_value)
            else:
                type_error("noTypeThatAllows", "'@type' names no DTDL class this element can be", type_value)
            return None
        cls = material[0]
        for c in cotypes:
            if c.cotype_of and not self.mm.conforms(cls.dtmi, c.cotype_of):
                type_error("invalidCotype", f"co-type {c.term} cannot be applied to a {cls.term}", c.term)
            for req in c.requires_cotypes:
                if not any(req in o.ancestors for o in cotypes):
                    type_error("missingCocotype", f"co-type {c.term} needs co-type {_tail(req)}", c.term)
            for excl in c.excludes_cotypes:
                if any(excl in o.ancestors for o in cotypes):
                    type_error(
                        "disallowedCocotype",
                        f"co-type {c.term} cannot be combined with {_tail(excl)}",
                        c.term,
                    )
        semantic = [c for c in cotypes if any("SemanticType" in a for a in c.ancestors)]
        if len(set(semantic_v2)) > 1 or len(semantic) > 1:
            type_error("conflictingSupplementalTypes", "more than one semantic type")
        if semantic_v2 and not any(
            _tail(a) in ("Property", "Telemetry", "Relationship") for a in cls.ancestors
        ):
            type_error("invalidCotype", f"a semantic type cannot be applied to a {cls.term}")
        return Typing(cls, cotypes, semantic_v2, apocryphal)

    # --- @id -----------------------------------------------------------------------------------

    def _given_id(self, raw_id: Any, cls: ClassDef, ctx: ActiveContext, pointer: str) -> str | None:
        glob = self.mm.globals[ctx.version]
        at = pointer + "/@id"
        if not isinstance(raw_id, str):
            self.error("idNotString", "'@id' must be a string DTMI", at, prop="@id", value=raw_id)
            return None
        if not glob.id_pattern.match(raw_id) or len(raw_id) > glob.id_max_length:
            self.error(
                "invalidId",
                f"'{raw_id}' is not a valid DTMI for DTDL v{ctx.version}",
                at,
                prop="@id",
                value=raw_id,
            )
            return None
        if any(raw_id.startswith(p) for p in glob.reserved_prefixes if p):
            self.error("reservedId", f"'{raw_id}' uses a reserved prefix", at, prop="@id", value=raw_id)
            return None
        limit = self.mm.effective_limit(ctx.limits, "id", cls.term, cls.id_max_length)
        if limit is not None and len(raw_id) > limit:
            self.error(
                "idTooLongForType",
                f"an {cls.term} '@id' may be at most {limit} characters",
                at,
                primary_id=raw_id,
                prop="@id",
                value=raw_id,
            )
        return raw_id

    # --- members -------------------------------------------------------------------------------

    def _members(self, node: Node, obj: dict[str, Any]) -> None:
        ctx, cls = node.ctx, node.cls
        glob = self.mm.globals[ctx.version]
        available: dict[str, PropertyDef] = dict(cls.properties_by_dtmi)
        for c in node.cotypes:
            available.update(c.properties_by_dtmi)
        seen_dtmis: dict[str, str] = {}
        pending: list[tuple[str, PropertyDef, Any]] = []
        for key, value in obj.items():
            if key in _KEYWORDS:
                continue
            mp = node.pointer + "/" + _escape(key)
            if key.startswith("@"):
                if glob.restrict_keywords:
                    self.error(
                        "keywordDisallowed",
                        f"keyword '{key}' is not allowed in a DTDL element",
                        mp,
                        primary_id=node.id,
                        prop=key,
                    )
                continue
            term = classify(key, ctx)
            pdef = available.get(term.dtmi) if term.dtmi is not None else None
            if pdef is None and node.semantic_v2 and term.dtmi == _UNIT_V2.dtmi:
                pdef = _UNIT_V2
            if pdef is None:
                category = term.category or IRRELEVANT
                if tolerated(category, glob, ctx, as_member=True, cotyped=node.apocryphal):
                    node.undefined_members[key] = value
                else:
                    self.error(
                        code_for("member", category),
                        message_for("member", category, key) + suggest(key, cls.properties),
                        mp,
                        primary_id=node.id,
                        prop=key,
                    )
                continue
            if pdef.dtmi in seen_dtmis:
                self.error(
                    "duplicatePropertyName",
                    f"member '{key}' repeats '{seen_dtmis[pdef.dtmi]}' (same property)",
                    mp,
                    primary_id=node.id,
                    prop=pdef.term,
                )
                continue
            seen_dtmis[pdef.dtmi] = key
            pending.append((key, pdef, value))
        node.props = {p.term: p for _, p, _ in pending}
        # literals first, so that children can use the segment (name) of their siblings
        for key, pdef, value in sorted(pending, key=lambda kpv: not _is_literal(kpv[1])):
            if _is_literal(pdef):
                self.literal(node, key, pdef, value)
            else:
                self.objects(node, key, pdef, value)
        for pdef in available.values():
            if pdef.min_count and pdef.dtmi not in seen_dtmis:
                self.error(
                    "missingLiteralProperty" if pdef.literal else "missingObjectProperty",
                    f"{cls.term} needs member '{pdef.term}'",
                    node.pointer,
                    primary_id=node.id,
                    prop=pdef.term,
                )
        if node.semantic_v2 and "unit" not in node.props:
            self.error(
                "missingObjectProperty",
                "an element with a semantic type needs a 'unit'",
                node.pointer,
                primary_id=node.id,
                prop="unit",
            )

    def _class_for_version(self, class_dtmi: str, version: int) -> str:
        stem, _, _v = class_dtmi.rpartition(";")
        return f"{stem};{version}" if stem.startswith("dtmi:dtdl:class:") else class_dtmi

    # --- literal members -----------------------------------------------------------------------

    def literal(self, node: Node, key: str, pdef: PropertyDef, value: Any) -> None:
        mp = node.pointer + "/" + _escape(key)
        if pdef.fixed_value is not None or pdef.max_count == 0:
            self.error(
                "notRequiredIntegerValue",
                f"member '{key}' is not allowed",
                mp,
                primary_id=node.id,
                prop=pdef.term,
            )
            return
        if pdef.datatype == "rdf:langString":
            texts, problems = localizable(
                value,
                self.mm.effective_limit(node.ctx.limits, "length", pdef.term, pdef.max_length),
                self.mm.globals[node.ctx.version].restrict_keywords,
            )
            for code, msg in problems:
                self.error(code, f"{key}: {msg}", mp, primary_id=node.id, prop=pdef.term, value=value)
            node.literals[pdef.term] = texts
            return
        kind = _kind_of(pdef)
        items = value if isinstance(value, list) else [value]
        if isinstance(value, list):
            # error codes are named after the value kind: stringMultipleValues, identifierCountBelowMin, …
            prefix = "identifier" if kind == "iri" else kind
            problem = None
            if pdef.max_count is not None and len(items) > pdef.max_count:
                problem = (
                    f"{prefix}MultipleValues",
                    f"member '{key}' may hold at most {pdef.max_count} value(s)",
                )
            elif pdef.min_count and len(items) < pdef.min_count:
                problem = (f"{prefix}CountBelowMin", f"member '{key}' needs a value")
            if problem is not None:
                self.error(problem[0], problem[1], mp, primary_id=node.id, prop=pdef.term, value=value)
                return
        decoded: list[Any] = []
        for i, item in enumerate(items):
            ip = mp + (f"/{i}" if isinstance(value, list) else "")
            if kind == "iri":
                v = item
                if not isinstance(v, str):
                    self.error(
                        "identifierNotString",
                        f"member '{key}' must be a DTMI string",
                        ip,
                        primary_id=node.id,
                        prop=pdef.term,
                        value=item,
                    )
                    continue
                if pdef.pattern is not None and not pdef.pattern.match(v):
                    self.error(
                        "identifierNotDtmi",
                        f"member '{key}' value '{v}' is not a valid DTMI",
                        ip,
                        primary_id=node.id,
                        prop=pdef.term,
                        value=v,
                    )
                    continue
                if pdef.max_length is not None and len(v) > pdef.max_length:
                    self.error(
                        "identifierTooLong",
                        f"member '{key}' is longer than {pdef.max_length} characters",
                        ip,
                        primary_id=node.id,
                        prop=pdef.term,
                        value=v,
                    )
                    continue
                decoded.append(v)
                continue
            v, problem = representational(kind, item, self.mm.globals[node.ctx.version].restrict_keywords)
            if problem is not None:
                self.error(
                    problem[0],
                    f"member '{key}': {problem[1]}",
                    ip,
                    primary_id=node.id,
                    prop=pdef.term,
                    value=item,
                )
                continue
            if isinstance(v, str):
                max_length = self.mm.effective_limit(node.ctx.limits, "length", pdef.term, pdef.max_length)
                if max_length is not None and len(v) > max_length:
                    self.error(
                        "stringTooLong",
                        f"member '{key}' is longer than {max_length} characters",
                        ip,
                        primary_id=node.id,
                        prop=pdef.term,
                        value=v,
                    )
                    continue
                if pdef.pattern is not None and not pdef.pattern.match(v):
                    desc = f" ({pdef.pattern_desc})" if pdef.pattern_desc else ""
                    self.error(
                        "stringInvalid",
                        f"member '{key}' value '{v}' does not match the rule{desc}",
                        ip,
                        primary_id=node.id,
                        prop=pdef.term,
                        value=v,
                    )
                    continue
            if isinstance(v, int) and not isinstance(v, bool):
                if pdef.min_inclusive is not None and v < pdef.min_inclusive:
                    self.error(
                        "valueBelowMin",
                        f"member '{key}' must be at least {pdef.min_inclusive}",
                        ip,
                        primary_id=node.id,
                        prop=pdef.term,
                        value=v,
                    )
                    continue
                if pdef.max_inclusive is not None and v > pdef.max_inclusive:
                    self.error(
                        "valueAboveMax",
                        f"member '{key}' must be at most {pdef.max_inclusive}",
                        ip,
                        primary_id=node.id,
                        prop=pdef.term,
                        value=v,
                    )
                    continue
                if kind == "integer" and not (-(2**31) <= v < 2**31):
                    self.error(
                        "integerNotInteger",
                        f"member '{key}' must fit in 4 bytes",
                        ip,
                        primary_id=node.id,
                        prop=pdef.term,
                        value=v,
                    )
                    continue
            decoded.append(v)
        if pdef.max_count == 1 or pdef is _UNIT_V2:
            node.literals[pdef.term] = decoded[0] if decoded else None
        else:
            node.literals[pdef.term] = decoded

    # --- object members ------------------------------------------------------------------------

    def objects(self, node: Node, key: str, pdef: PropertyDef, value: Any) -> None:
        mp = node.pointer + "/" + _escape(key)
        items = value if isinstance(value, list) else [value]
        if pdef.max_count is not None and len(items) > pdef.max_count:
            self.error(
                "objectCountAboveMax",
                f"member '{key}' may hold at most {pdef.max_count} value(s)",
                mp,
                primary_id=node.id,
                prop=pdef.term,
            )
            return
        if pdef.min_count and len(items) < pdef.min_count:
            self.error(
                "objectCountBelowMin",
                f"member '{key}' needs at least {pdef.min_count} value(s)",
                mp,
                primary_id=node.id,
                prop=pdef.term,
            )
            return
        out: list[Node | Ref] = []
        inferable = pdef.classes[0] if pdef.type_inferable and pdef.classes else None
        for i, item in enumerate(items):
            ip = mp + (f"/{i}" if isinstance(value, list) else "")
            if isinstance(item, dict):
                seg = None
                if pdef.dtmi_segment:
                    n = item.get(pdef.dtmi_segment)
                    seg = (
                        n
                        if isinstance(n, str) and re.match(r"^[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?$", n)
                        else None
                    )
                child = self.element(
                    item,
                    node.ctx,
                    ip,
                    parent=node,
                    prop=pdef,
                    allowed=pdef.classes,
                    inferable=inferable,
                    top_level=False,
                    segment=seg,
                    index=i if isinstance(value, list) else None,
                )
                if child is not None:
                    out.append(child)
            elif isinstance(item, str):
                target = classify(item, node.ctx).dtmi
                if target is None:
                    self.error(
                        "idRefBadDtmiOrTerm",
                        f"member '{key}' value '{item}' is neither a DTMI nor a known term"
                        + suggest(item, node.ctx.terms),
                        ip,
                        primary_id=node.id,
                        prop=pdef.term,
                        value=item,
                    )
                    continue
                if pdef.in_values is not None and target not in pdef.in_values:
                    self.error(
                        "nonConformantPropertyValue",
                        f"member '{key}' value '{item}' is not one of the allowed values",
                        ip,
                        primary_id=node.id,
                        prop=pdef.term,
                        value=item,
                    )
                    continue
                out.append(Ref(target, ip, self.doc))
            else:
                self.error(
                    "refNotStringOrObject",
                    f"member '{key}' must hold elements or DTMI references",
                    ip,
                    primary_id=node.id,
                    prop=pdef.term,
                    value=item,
                )
        node.children[pdef.term] = out


_UNIT_V2 = PropertyDef(
    term="unit", dtmi="dtmi:dtdl:property:unit;2", max_count=1, literal=True, datatype="iri"
)


def _is_literal(pdef: PropertyDef) -> bool:
    # IRI members without a class (Relationship.target) are non-dependent references: plain DTMI values
    return pdef.literal or pdef.datatype is not None or pdef is _UNIT_V2 or not pdef.classes


def _kind_of(pdef: PropertyDef) -> str:
    dt = pdef.datatype
    if dt == "xsd:boolean":
        return "boolean"
    if dt == "xsd:integer":
        return "integer"
    if dt in ("xsd:string", "xsd:duration"):
        return "string"
    if dt == "iri" or (not pdef.literal and dt is None):
        return "iri"
    return "literal"


def _generated_id(
    parent: Node | None, prop: PropertyDef | None, segment: str | None, index: int | None
) -> str:
    assert parent is not None and prop is not None
    stem, sep, ver = parent.id.partition(";")
    part = f":_{prop.term}"
    if segment is not None:
        part += f":__{segment}"
    elif index is not None:
        part += f":_{index}"
    return f"{stem}{part}{sep}{ver}"


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _str_or_none(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _tail(dtmi: str) -> str:
    return dtmi.split(";")[0].rsplit(":", 1)[-1]
