"""First pass of a parse: walk the JSON documents and build raw elements.

Each JSON object that stands for a DTDL element becomes a :class:`Node`: its identifier (given or
generated), its material class and co-types, and its member values checked against the metamodel.
Cross-element rules (references, inheritance, limits) run afterwards in :mod:`dtgraph.dtdl.checks`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dtgraph.dtdl.context import ActiveContext, ContextProblem, apply_context
from dtgraph.dtdl.dtmi import is_valid_dtmi
from dtgraph.dtdl.errors import Location, ParsingError
from dtgraph.dtdl.literals import localizable, representational
from dtgraph.dtdl.metamodel import ClassDef, Metamodel, PropertyDef

__all__ = ["Node", "Ref", "Walker"]

_KEYWORDS = ("@context", "@id", "@type")


@dataclass
class Ref:
    """A member value that names another element by DTMI (or a standard element by term)."""

    target: str
    pointer: str
    doc: int = 0


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
        ctx = parent_ctx
        raw_id = obj.get("@id")
        pid = raw_id if isinstance(raw_id, str) else None
        if "@context" in obj:

            def report(p: ContextProblem) -> None:
                sub = (
                    pointer
                    + "/@context"
                    + (f"/{p.index}" if p.index is not None and isinstance(obj["@context"], list) else "")
                )
                self.error(p.code, p.message, sub, primary_id=pid, prop="@context", value=p.value)

            ctx = apply_context(
                obj["@context"],
                parent_ctx,
                self.mm,
                top_level=top_level,
                allow_undefined=self.allow_undefined,
                limit_contexts=self.limit_contexts,
                report=report,
            )
        if ctx is None:
            return None
        version = ctx.version
        glob = self.mm.globals[version]

        # @type -----------------------------------------------------------------------------
        material: list[ClassDef] = []
        cotypes: list[ClassDef] = []
        semantic_v2: list[str] = []
        apocryphal = False
        type_value = obj.get("@type")
        if "@type" not in obj:
            if inferable is None:
                self.error(
                    "noTypeThatAllows", "the element has no '@type'", pointer, primary_id=pid, prop="@type"
                )
                return None
            cls = self.mm.classes.get(self._class_for_version(inferable, version))
            if cls is None:
                return None
            material.append(cls)
        else:
            types = type_value if isinstance(type_value, list) else [type_value]
            if (
                not types
                or not all(isinstance(t, str) for t in types)
                or (isinstance(type_value, list) and not types)
            ):
                self.error(
                    "classNotString",
                    "'@type' must be a string or an array of strings",
                    pointer + "/@type",
                    primary_id=pid,
                    prop="@type",
                    value=type_value,
                )
                return None
            for i, t in enumerate(types):
                tp = pointer + "/@type" + (f"/{i}" if isinstance(type_value, list) else "")
                dtmi = ctx.resolve(t)
                category: str | None = None
                if dtmi is None:
                    if t.startswith("dtmi:"):
                        if is_valid_dtmi(t, 4):
                            dtmi = t
                        else:
                            category = "invalidDtmi"
                    elif ":" in t:
                        category = "notDtmiNorTerm"
                    else:
                        category = "undefinedTerm"
                if dtmi is not None:
                    c = self.mm.classes.get(dtmi)
                    if (
                        c is not None
                        and c.extension is None
                        and not c.abstract
                        and c.material
                        and c.version == version
                        and not c.extensible
                    ):
                        if c not in material:
                            material.append(c)
                        continue
                    if (
                        c is not None
                        and c.extension is not None
                        and c.extension in ctx.extensions
                        and not c.abstract
                    ):
                        cotypes.append(c)
                        continue
                    if version == 2 and dtmi in self.mm.semantic_types_v2:
                        semantic_v2.append(dtmi)
                        continue
                    category = "irrelevantDtmiOrTerm"
                assert category is not None
                tolerated = category in glob.always_allow_cotype or ctx.undefined
                if tolerated and category not in glob.never_allow_cotype:
                    apocryphal = True  # an unknown co-type: the element is "informally co-typed"
                else:
                    self.error(
                        _type_code(category),
                        _type_message(category, t) + _suggest(t, ctx.terms),
                        tp,
                        primary_id=pid,
                        prop="@type",
                        value=t,
                    )
            if len(material) != 1:
                if not material:
                    self.error(
                        "noTypeThatAllows",
                        "'@type' names no DTDL class this element can be",
                        pointer + "/@type",
                        primary_id=pid,
                        prop="@type",
                        value=type_value,
                    )
                else:
                    self.error(
                        "multipleMaterialTypes",
                        "'@type' names more than one DTDL class",
                        pointer + "/@type",
                        primary_id=pid,
                        prop="@type",
                        value=type_value,
                    )
                return None
        cls = material[0]
        if allowed is not None and not self.mm.conforms(cls.dtmi, allowed):
            self.error(
                "disallowedType",
                f"a {cls.term} is not allowed here",
                pointer + "/@type" if "@type" in obj else pointer,
                primary_id=pid,
                prop=prop.term if prop else None,
                value=cls.term,
            )
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
        for c in cotypes:
            if c.cotype_of and not self.mm.conforms(cls.dtmi, c.cotype_of):
                self.error(
                    "invalidCotype",
                    f"co-type {c.term} cannot be applied to a {cls.term}",
                    pointer + "/@type",
                    primary_id=pid,
                    prop="@type",
                    value=c.term,
                )
        for c in cotypes:
            for req in c.requires_cotypes:
                if not any(req in o.ancestors for o in cotypes):
                    self.error(
                        "missingCocotype",
                        f"co-type {c.term} needs co-type {_tail(req)}",
                        pointer + "/@type",
                        primary_id=pid,
                        prop="@type",
                        value=c.term,
                    )
            for excl in c.excludes_cotypes:
                if any(excl in o.ancestors for o in cotypes):
                    self.error(
                        "disallowedCocotype",
                        f"co-type {c.term} cannot be combined with {_tail(excl)}",
                        pointer + "/@type",
                        primary_id=pid,
                        prop="@type",
                        value=c.term,
                    )
        semantic_like = [c for c in cotypes if any("SemanticType" in a for a in c.ancestors)]
        if len(set(semantic_v2)) > 1 or len(semantic_like) > 1:
            self.error(
                "conflictingSupplementalTypes",
                "more than one semantic type",
                pointer + "/@type",
                primary_id=pid,
                prop="@type",
            )
        if semantic_v2 and not any(
            _tail(a) in ("Property", "Telemetry", "Relationship") for a in cls.ancestors
        ):
            self.error(
                "invalidCotype",
                f"a semantic type cannot be applied to a {cls.term}",
                pointer + "/@type",
                primary_id=pid,
                prop="@type",
            )

        # @id -------------------------------------------------------------------------------
        if "@id" in obj:
            if not isinstance(raw_id, str):
                self.error(
                    "idNotString", "'@id' must be a string DTMI", pointer + "/@id", prop="@id", value=raw_id
                )
                return None
            if not glob.id_pattern.match(raw_id) or len(raw_id) > glob.id_max_length:
                self.error(
                    "invalidId",
                    f"'{raw_id}' is not a valid DTMI for DTDL v{version}",
                    pointer + "/@id",
                    prop="@id",
                    value=raw_id,
                )
                return None
            if any(raw_id.startswith(p) for p in glob.reserved_prefixes if p):
                self.error(
                    "reservedId",
                    f"'{raw_id}' uses a reserved prefix",
                    pointer + "/@id",
                    prop="@id",
                    value=raw_id,
                )
                return None
            limit = cls.id_max_length
            if limit is not None and not ctx.limitless and len(raw_id) > limit:
                self.error(
                    "idTooLongForType",
                    f"an {cls.term} '@id' may be at most {limit} characters",
                    pointer + "/@id",
                    primary_id=raw_id,
                    prop="@id",
                    value=raw_id,
                )
            node_id = raw_id
            id_given = True
        else:
            if cls.partition or (prop is not None and prop.term == "schemas"):
                self.error(
                    "missingTopLevelId" if top_level else "missingRequiredId",
                    f"an {cls.term} needs an '@id'",
                    pointer,
                    prop="@id",
                )
                return None
            node_id = _generated_id(parent, prop, segment, index)
            id_given = False

        node = Node(
            id=node_id,
            cls=cls,
            ctx=ctx,
            doc=self.doc,
            pointer=pointer,
            parent=parent,
            parent_prop=prop.term if prop else None,
            top_level=top_level,
            id_given=id_given,
            cotypes=cotypes,
            semantic_v2=semantic_v2,
            apocryphal=apocryphal,
            raw=obj,
        )
        node.partition = node if (top_level or cls.partition or parent is None) else parent.partition
        if "@graph" in obj:
            self.error(
                "graphDisallowed", "'@graph' is not allowed in DTDL", pointer + "/@graph", primary_id=node_id
            )

        # members ---------------------------------------------------------------------------
        available: dict[str, PropertyDef] = dict(cls.properties_by_dtmi)
        for c in cotypes:
            available.update(c.properties_by_dtmi)
        seen_dtmis: dict[str, str] = {}
        pending: list[tuple[str, PropertyDef, Any]] = []
        for key, value in obj.items():
            if key in _KEYWORDS:
                continue
            mp = pointer + "/" + _escape(key)
            if key.startswith("@"):
                if glob.restrict_keywords:
                    self.error(
                        "keywordDisallowed",
                        f"keyword '{key}' is not allowed in a DTDL element",
                        mp,
                        primary_id=node_id,
                        prop=key,
                    )
                continue
            pdtmi = ctx.resolve(key)
            category = None
            if pdtmi is None:
                if key.startswith("dtmi:"):
                    if is_valid_dtmi(key, 4):
                        pdtmi = key
                    else:
                        category = "invalidDtmi"
                elif ":" in key:
                    category = "notDtmiNorTerm"
                else:
                    category = "undefinedTerm"
            pdef = available.get(pdtmi) if pdtmi is not None else None
            if pdef is None and version == 2 and semantic_v2 and pdtmi == "dtmi:dtdl:property:unit;2":
                pdef = _UNIT_V2
            if pdef is None:
                if category is None:
                    category = "irrelevantDtmiOrTerm"
                if (
                    category in glob.never_allow_property
                    or not apocryphal
                    or not (category in glob.always_allow_property or ctx.undefined)
                ):
                    self.error(
                        _prop_code(category),
                        _prop_message(category, key) + _suggest(key, cls.properties),
                        mp,
                        primary_id=node_id,
                        prop=key,
                    )
                else:
                    node.undefined_members[key] = value
                continue
            if pdef.dtmi in seen_dtmis:
                self.error(
                    "duplicatePropertyName",
                    f"member '{key}' repeats '{seen_dtmis[pdef.dtmi]}' (same property)",
                    mp,
                    primary_id=node_id,
                    prop=pdef.term,
                )
                continue
            seen_dtmis[pdef.dtmi] = key
            pending.append((key, pdef, value))
        node.props = {p.term: p for _, p, _ in pending}
        # literals first, so that children can use the segment (name) of their siblings
        for key, pdef, value in pending:
            if _is_literal(pdef):
                self.literal(node, key, pdef, value)
        for key, pdef, value in pending:
            if not _is_literal(pdef):
                self.objects(node, key, pdef, value)
        for pdef in available.values():
            if pdef.min_count and pdef.min_count > 0 and pdef.term not in node.props:
                if pdef.dtmi in seen_dtmis:
                    continue
                self.error(
                    "missingLiteralProperty" if pdef.literal else "missingObjectProperty",
                    f"{cls.term} needs member '{pdef.term}'",
                    pointer,
                    primary_id=node_id,
                    prop=pdef.term,
                )
        if version == 2 and semantic_v2 and "unit" not in node.props:
            self.error(
                "missingObjectProperty",
                "an element with a semantic type needs a 'unit'",
                pointer,
                primary_id=node_id,
                prop="unit",
            )
        self.nodes.append(node)
        return node

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
                value, pdef.max_length, self.mm.globals[node.ctx.version].restrict_keywords
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
                if pdef.max_length is not None and len(v) > pdef.max_length and not node.ctx.limitless:
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
                if pdef.max_length is not None and not node.ctx.limitless and len(v) > pdef.max_length:
                    self.error(
                        "stringTooLong",
                        f"member '{key}' is longer than {pdef.max_length} characters",
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
                if pdef.max_inclusive is not None and v > pdef.max_inclusive and not node.ctx.limitless:
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
        if pdef.max_count is not None and len(items) > pdef.max_count and not node.ctx.limitless:
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
                target = node.ctx.resolve(item)
                if target is None:
                    if item.startswith("dtmi:") and is_valid_dtmi(item, 4):
                        target = item
                    else:
                        code = "idRefBadDtmiOrTerm"
                        self.error(
                            code,
                            f"member '{key}' value '{item}' is neither a DTMI nor a known term"
                            + _suggest(item, node.ctx.terms),
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


def _suggest(word: str, known: Iterable[str]) -> str:
    # a misspelt term is the commonest modelling slip: name the closest known one
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.75)
    return f"; did you mean '{close[0]}'?" if close else ""


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _str_or_none(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _tail(dtmi: str) -> str:
    return dtmi.split(";")[0].rsplit(":", 1)[-1]


def _type_code(category: str) -> str:
    return {
        "invalidDtmi": "typeInvalidDtmi",
        "notDtmiNorTerm": "typeNotDtmiNorTerm",
        "undefinedTerm": "typeUndefinedTerm",
        "irrelevantDtmiOrTerm": "typeIrrelevantDtmiOrTerm",
    }[category]


def _type_message(category: str, t: str) -> str:
    return {
        "invalidDtmi": f"'@type' value '{t}' starts with 'dtmi:' but is not a valid DTMI",
        "notDtmiNorTerm": f"'@type' value '{t}' is neither a DTMI nor a term",
        "undefinedTerm": f"'@type' value '{t}' is not defined by DTDL or any extension in the context",
        "irrelevantDtmiOrTerm": f"'@type' value '{t}' cannot be a type of this element",
    }[category]


def _prop_code(category: str) -> str:
    return {
        "invalidDtmi": "propertyInvalidDtmi",
        "notDtmiNorTerm": "propertyNotDtmiNorTerm",
        "undefinedTerm": "propertyUndefinedTerm",
        "irrelevantDtmiOrTerm": "propertyIrrelevantDtmiOrTerm",
    }[category]


def _prop_message(category: str, key: str) -> str:
    return {
        "invalidDtmi": f"member name '{key}' starts with 'dtmi:' but is not a valid DTMI",
        "notDtmiNorTerm": f"member name '{key}' is neither a DTMI nor a term",
        "undefinedTerm": f"member '{key}' is not defined for this element",
        "irrelevantDtmiOrTerm": f"member '{key}' does not belong to this kind of element",
    }[category]
