"""The DTDL metamodel: classes, properties, terms and standard elements of each language version.

The tables come from the machine-readable metamodel that is published with the DTDL specification
(``dtgraph/dtdl/metamodel/*.json``, CC BY 4.0), so the parser follows the specification's own data
instead of hand-copied rules. Everything here is built once and then only read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

__all__ = [
    "CORE_VERSIONS",
    "ClassDef",
    "Extension",
    "Global",
    "LimitOverrides",
    "Metamodel",
    "PropertyDef",
    "metamodel",
]

CORE_VERSIONS = (2, 3, 4)
_XSD = "http://www.w3.org/2001/XMLSchema#"


def _load(name: str) -> Any:
    text = (
        resources.files("dtgraph.dtdl").joinpath("metamodel").joinpath(name).read_text(encoding="utf-8-sig")
    )
    return json.loads(text)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


@dataclass
class PropertyDef:
    """One member a class may have, with the constraints the metamodel puts on it."""

    term: str
    dtmi: str
    min_count: int | None = None
    max_count: int | None = None
    datatype: str | None = None  # xsd:string, xsd:boolean, xsd:integer, rdf:langString, xsd:duration…
    literal: bool = False
    classes: tuple[str, ...] = ()  # allowed classes of object values (class DTMIs)
    in_values: frozenset[str] | None = None  # allowed instance DTMIs
    pattern: re.Pattern[str] | None = None
    pattern_desc: str | None = None
    max_length: int | None = None
    min_inclusive: int | None = None
    max_inclusive: int | None = None
    unique_properties: tuple[str, ...] = ()  # terms
    dtmi_segment: str | None = None  # term
    type_inferable: bool = False
    fixed_value: int | None = None
    child_of: str | None = None  # term of an Enum whose values are the allowed values (units)
    unique_value: bool = False
    defining_class: str = ""


@dataclass
class ClassDef:
    """A DTDL class (Interface;4, Property;2, an extension co-type, …)."""

    dtmi: str
    term: str
    version: int  # DTDL version of the class; extension classes carry the version they target
    abstract: bool = False
    material: bool = False
    partition: bool = False
    extensible: bool = False
    supers: tuple[str, ...] = ()
    own_properties: dict[str, PropertyDef] = field(default_factory=dict)
    property_overrides: list[dict[str, Any]] = field(default_factory=list)
    cotype_of: tuple[str, ...] = ()  # for adjunct/semantic types: classes they may co-type
    requires_cotypes: tuple[str, ...] = ()  # sh:and
    excludes_cotypes: tuple[str, ...] = ()  # sh:not
    descendants: list[dict[str, Any]] = field(default_factory=list)
    id_max_length: int | None = None
    instance: dict[str, Any] | None = None
    siblings: list[dict[str, Any]] = field(default_factory=list)
    extension: str | None = None  # the extension context that defines it
    # filled by Metamodel.finish
    ancestors: frozenset[str] = frozenset()
    properties: dict[str, PropertyDef] = field(default_factory=dict)  # by term, inherited included
    properties_by_dtmi: dict[str, PropertyDef] = field(default_factory=dict)


@dataclass
class Extension:
    """A language extension that a ``@context`` can name (QuantitativeTypes, Historization, …)."""

    context_id: str  # dtmi:dtdl:extension:quantitativeTypes;2
    terms: dict[str, str]
    dtdl_versions: frozenset[int]
    classes: list[str] = field(default_factory=list)
    is_limits: bool = False


@dataclass(frozen=True)
class LimitOverrides:
    """Limits a limit extension (``dtmi:dtdl:limits:onvif;1``) raises above the core language's."""

    length: dict[str, int]  # member term → maximum string length
    interface_id_length: int | None
    depth: dict[str, int]  # first member of a descendants rule ("extends", "elementSchema") → maxDepth
    count: dict[str, int]  # first member of a descendants rule ("extends", "contents") → maxCount


@dataclass
class Global:
    version: int
    id_pattern: re.Pattern[str]
    id_max_length: int
    reserved_prefixes: tuple[str, ...]
    partition_max_bytes: int | None
    allow_undefined_by_default: bool
    restrict_keywords: bool
    always_allow_cotype: frozenset[str]
    always_allow_property: frozenset[str]
    never_allow_cotype: frozenset[str]
    never_allow_property: frozenset[str]


@dataclass
class Vocabulary:
    """Terms of one core context: term → DTMI, and the set of reserved strings."""

    version: int
    terms: dict[str, str]
    reserved: frozenset[str]
    dtmi_to_term: dict[str, str]


class Metamodel:
    """Every class, property, term and standard element of DTDL v2, v3 and v4 and their extensions."""

    def __init__(self) -> None:
        self.classes: dict[str, ClassDef] = {}
        self.vocabularies: dict[int, Vocabulary] = {}
        self.globals: dict[int, Global] = {}
        self.extensions: dict[str, Extension] = {}
        # standard elements: DTMI → (class DTMI, raw JSON object or None)
        self.instances: dict[str, str] = {}
        self.standard_elements: dict[str, dict[str, Any]] = {}
        self.limit_overrides: dict[str, LimitOverrides] = {}
        self.enum_of: dict[str, str] = {}  # standard EnumValue DTMI → its Enum's DTMI (unit tables)
        self.semantic_types_v2: dict[str, set[str]] = {}  # type DTMI → allowed unit DTMIs
        self.semantic_unit_dtmis_v2: set[str] = set()
        self._build()

    # --- loading -------------------------------------------------------------------------------

    def _build(self) -> None:
        for v in CORE_VERSIONS:
            ctx = _load(f"DTDL.v{v}.context.json")
            terms = {k: (e["@id"] if isinstance(e, dict) else e) for k, e in ctx.items() if _is_term(k, e)}
            reserved = frozenset(terms) | frozenset(terms.values())
            self.vocabularies[v] = Vocabulary(v, terms, reserved, {d: t for t, d in terms.items()})
            self._load_graph(_load(f"DTDL.v{v}.ModelRDF-SHACL.json"), v, None, terms)
            for el in _load(f"DTDL.v{v}.ModelElements.json"):
                types = [t for t in _as_list(el["@type"]) if t != "Alias"]
                self.instances[el["@id"]] = terms[types[0]]
        self._load_extensions()
        self._load_semantic_types_v2()
        self._add_standard_schemas()
        self._finish()

    def _load_graph(
        self, doc: dict[str, Any], version: int, extension: str | None, terms: dict[str, str]
    ) -> None:
        def expand(name: str) -> str:
            if name.startswith("dtmi:"):
                return name
            return terms.get(name, name)

        for node in doc["@graph"]:
            types = _as_list(node.get("@type"))
            if "dtmm:Global" in types:
                if extension is None:
                    self.globals[version] = _global(node, version)
                continue
            if "rdfs:Class" not in types:
                if node["@id"] in self.classes:  # a limit extension superseding core limits
                    continue
                continue
            dtmi = node["@id"]
            cls = ClassDef(
                dtmi=dtmi,
                term=_term_of(dtmi, terms),
                version=int(node.get("dtmm:dtdlVersion", version)),
                abstract="dtmm:Abstract" in types,
                material="dtmm:Material" in types,
                partition="dtmm:Partition" in types,
                extensible="dtmm:Extensible" in types,
                supers=tuple(expand(s) for s in _as_list(node.get("rdfs:subClassOf"))),
                cotype_of=tuple(
                    expand(o["sh:class"]) for o in _as_list(node.get("sh:or")) if "sh:class" in o
                ),
                requires_cotypes=tuple(expand(o["sh:class"]) for o in _as_list(node.get("sh:and"))),
                excludes_cotypes=tuple(
                    expand(o["sh:class"]) for o in _as_list(node.get("sh:not")) if isinstance(o, dict)
                ),
                descendants=_as_list(node.get("dtmm:descendants")),
                id_max_length=(node.get("dtmm:identifier") or {}).get("sh:maxLength"),
                instance=node.get("dtmm:instance"),
                siblings=_as_list(node.get("dtmm:siblings")),
                extension=extension,
            )
            declared = {p["@id"]: p for p in _as_list(node.get("dtmm:property"))}
            for shape in _as_list(node.get("sh:property")):
                path = shape["sh:path"]
                if isinstance(path, dict):  # inverse paths (mqtt) are structural notes, not members
                    continue
                pdtmi = expand(path)
                if pdtmi not in declared and not pdtmi.startswith("dtmi:"):
                    # an extension constraint naming a property by term (e.g. "unit" childOf)
                    match = [d for d in declared if d.rsplit(":", 1)[-1] == path]
                    if match:
                        pdtmi = match[0]
                if pdtmi in declared or "sh:nodeKind" in shape or "sh:datatype" in shape:
                    cls.own_properties[pdtmi] = _property(shape, pdtmi, _term_of(pdtmi, terms), expand, dtmi)
                else:
                    cls.property_overrides.append({"path": pdtmi, "shape": shape})
            for pdtmi in declared:
                if pdtmi not in cls.own_properties:
                    cls.own_properties[pdtmi] = PropertyDef(
                        term=_term_of(pdtmi, terms), dtmi=pdtmi, defining_class=dtmi
                    )
            self.classes[dtmi] = cls

    def _load_extensions(self) -> None:
        catalogue = [
            ("dtmi:dtdl:extension:quantitativeTypes;1", "quantitativeTypes.v1", 3),
            ("dtmi:dtdl:extension:historization;1", "historization.v1", 3),
            ("dtmi:dtdl:extension:annotation;1", "annotation.v1", 3),
            ("dtmi:dtdl:extension:overriding;1", "overriding.v1", 3),
            ("dtmi:dtdl:extension:mqtt;1", "mqtt.v1", 3),
            ("dtmi:dtdl:extension:quantitativeTypes;2", "quantitativeTypes.v2", 4),
            ("dtmi:dtdl:extension:historization;2", "historization.v2", 4),
            ("dtmi:dtdl:extension:annotation;2", "annotation.v2", 4),
            ("dtmi:dtdl:extension:overriding;2", "overriding.v2", 4),
            ("dtmi:dtdl:extension:mqtt;2", "mqtt.v2", 4),
            ("dtmi:dtdl:extension:mqtt;3", "mqtt.v3", 4),
            ("dtmi:dtdl:extension:requirement;1", "requirement.v1", 4),
        ]
        for context_id, stem, core in catalogue:
            ctx = _load(f"DTDL.FeatureExtension.{stem}.context.json")
            terms = {k: (e["@id"] if isinstance(e, dict) else e) for k, e in ctx.items() if _is_term(k, e)}
            core_terms = self.vocabularies[core].terms
            before = set(self.classes)
            graph = _load(f"DTDL.FeatureExtension.{stem}.RDF-SHACL.json")
            # extension graphs use core terms and their own; later ones may name earlier extensions' terms
            all_terms = {**core_terms, **self._all_extension_terms(), **terms}
            self._load_graph(graph, core, context_id, all_terms)
            ext = Extension(context_id, terms, frozenset({core} if core == 4 else {3, 4}))
            # unit enums are named by term (e.g. AccelerationUnit) in childOf constraints
            for el in self._elements_of(stem):
                if isinstance(el, dict) and "@id" in el:
                    tail = el["@id"].rsplit(":", 1)[-1]
                    ext.terms.setdefault(tail, el["@id"])
            ext.classes = [c for c in self.classes if c not in before]
            self.extensions[context_id] = ext
            for el in self._elements_of(stem):
                self._add_element_tree(el, {**core_terms, **terms})
        limits = Extension("dtmi:dtdl:limits:onvif;1", {}, frozenset({4}), is_limits=True)
        self.extensions[limits.context_id] = limits
        self.limit_overrides[limits.context_id] = _limit_overrides(
            _load("DTDL.LimitExtension.onvif.v1.RDF-SHACL.json")
        )

    @staticmethod
    def _elements_of(stem: str) -> list[Any]:
        try:
            return list(_load(f"DTDL.FeatureExtension.{stem}.Elements.json"))
        except FileNotFoundError:
            return []

    def _all_extension_terms(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for ext in self.extensions.values():
            out.update(ext.terms)
        return out

    def _add_element_tree(self, el: dict[str, Any], terms: dict[str, str]) -> None:
        """Register standard elements (unit enums and their values) so references to them resolve."""
        types = [terms.get(t, t) for t in _as_list(el.get("@type"))]
        if "@id" in el and types:
            self.instances[el["@id"]] = types[0]
            self.standard_elements[el["@id"]] = el
        for child in _as_list(el.get("enumValues")):
            if isinstance(child, dict):
                self._add_element_tree(child, terms)
                if "@id" in child and "@id" in el:
                    self.enum_of[child["@id"]] = el["@id"]

    def _load_semantic_types_v2(self) -> None:
        rows = _load("DTDL.v2.SemanticTypes.json")["rows"]
        for _type_term, type_dtmi, _unit_term, unit_dtmi in rows:
            self.semantic_types_v2.setdefault(type_dtmi, set()).add(unit_dtmi)
            self.semantic_unit_dtmis_v2.add(unit_dtmi)

    def _add_standard_schemas(self) -> None:
        # Geospatial schemas and scaledDecimal are standard Objects defined by the language itself.
        names = ["point", "multiPoint", "lineString", "multiLineString", "polygon", "multiPolygon"]
        for v in CORE_VERSIONS:
            for n in names:
                self.instances[f"dtmi:standard:schema:geospatial:{n};{v}"] = f"dtmi:dtdl:class:Object;{v}"
        self.instances["dtmi:standard:schema:scaledDecimal;4"] = "dtmi:dtdl:class:Object;4"

    def _finish(self) -> None:
        def ancestors(dtmi: str, seen: frozenset[str] = frozenset()) -> frozenset[str]:
            cls = self.classes.get(dtmi)
            if cls is None or dtmi in seen:
                return frozenset({dtmi})
            out = {dtmi}
            for s in cls.supers:
                out |= ancestors(s, seen | {dtmi})
            return frozenset(out)

        for cls in self.classes.values():
            cls.ancestors = ancestors(cls.dtmi)
        for cls in self.classes.values():
            merged: dict[str, PropertyDef] = {}
            chain = sorted(
                (a for a in cls.ancestors if a in self.classes), key=lambda a: len(self.classes[a].ancestors)
            )
            for a in chain:
                for p in self.classes[a].own_properties.values():
                    merged[p.dtmi] = p
            cls.properties_by_dtmi = merged
            cls.properties = {p.term: p for p in merged.values()}

    # --- queries -------------------------------------------------------------------------------

    def effective_limit(
        self, limits: tuple[str, ...], kind: str, key: str, default: int | None
    ) -> int | None:
        """A limit as raised by the active limit extensions (``kind``: length, id, depth or count)."""
        for context_id in limits:
            o = self.limit_overrides.get(context_id)
            if o is None:
                continue
            table = {"length": o.length, "depth": o.depth, "count": o.count}.get(kind)
            if kind == "id" and o.interface_id_length is not None:
                return o.interface_id_length
            if table is not None and key in table:
                return table[key]
        return default

    def is_subclass(self, cls: str, of: str) -> bool:
        c = self.classes.get(cls)
        return c is not None and of in c.ancestors

    def conforms(self, cls: str, allowed: tuple[str, ...]) -> bool:
        c = self.classes.get(cls)
        if c is None:
            return False
        return any(a in c.ancestors for a in allowed)


def _is_term(key: str, entry: Any) -> bool:
    if key.startswith("@") or ":" in key:
        return False
    target = entry["@id"] if isinstance(entry, dict) else entry
    return isinstance(target, str) and target.startswith("dtmi:")


def _term_of(dtmi: str, terms: dict[str, str]) -> str:
    for t, d in terms.items():
        if d == dtmi:
            return t
    tail = dtmi.split(";")[0].rsplit(":", 1)[-1]
    return tail


def _global(node: dict[str, Any], version: int) -> Global:
    ident = node["dtmm:identifier"]
    apo = node.get("dtmm:apocrypha", {})
    always = apo.get("dtmm:alwaysAllow", {})
    never = apo.get("dtmm:neverAllow", {})
    return Global(
        version=version,
        id_pattern=re.compile(ident["sh:pattern"]),
        id_max_length=int(ident["sh:maxLength"]),
        reserved_prefixes=tuple(ident["dtmm:reservedPrefix"]),
        partition_max_bytes=(node.get("dtmm:partition") or {}).get("dtmm:maxBytes"),
        allow_undefined_by_default=bool(node.get("dtmm:allowUndefinedExtensionsByDefault")),
        restrict_keywords=bool(node.get("dtmm:restrictKeywords")),
        always_allow_cotype=frozenset(_strip(always.get("dtmm:asCotype"))),
        always_allow_property=frozenset(_strip(always.get("dtmm:asProperty"))),
        never_allow_cotype=frozenset(_strip(never.get("dtmm:asCotype"))),
        never_allow_property=frozenset(_strip(never.get("dtmm:asProperty"))),
    )


def _strip(values: Any) -> list[str]:
    return [v.removeprefix("dtmm:") for v in _as_list(values)]


def _property(shape: dict[str, Any], pdtmi: str, term: str, expand: Any, owner: str) -> PropertyDef:
    classes: list[str] = []
    if "sh:class" in shape:
        classes.append(expand(shape["sh:class"]))
    for alt in _as_list(shape.get("sh:or")):
        if "sh:class" in alt:
            classes.append(expand(alt["sh:class"]))
    pattern = shape.get("sh:pattern")
    in_values = shape.get("sh:in")
    datatype = shape.get("sh:datatype")
    return PropertyDef(
        term=term,
        dtmi=pdtmi,
        min_count=shape.get("sh:minCount"),
        max_count=shape.get("sh:maxCount"),
        datatype=datatype,
        literal=shape.get("sh:nodeKind") == "sh:Literal",
        classes=tuple(classes),
        in_values=frozenset(expand(v) for v in in_values) if in_values else None,
        pattern=re.compile(pattern) if pattern else None,
        pattern_desc=(shape.get("dtmm:patternDesc") or {}).get("en-US"),
        max_length=shape.get("sh:maxLength"),
        min_inclusive=shape.get("sh:minInclusive"),
        max_inclusive=shape.get("sh:maxInclusive"),
        unique_properties=tuple(_term_tail(expand(u)) for u in _as_list(shape.get("dtmm:uniqueProperties"))),
        dtmi_segment=_term_tail(expand(shape["dtmm:dtmiSegment"])) if "dtmm:dtmiSegment" in shape else None,
        type_inferable=bool(shape.get("dtmm:typeInferable")),
        fixed_value=shape.get("dtmm:value"),
        child_of=expand(shape["dtmm:childOf"]) if "dtmm:childOf" in shape else None,
        unique_value=bool(shape.get("dtmm:uniqueValue")),
        defining_class=owner,
    )


def _limit_overrides(doc: dict[str, Any]) -> LimitOverrides:
    length: dict[str, int] = {}
    depth: dict[str, int] = {}
    count: dict[str, int] = {}
    interface_id: int | None = None
    for node in doc["@graph"]:
        for shape in _as_list(node.get("sh:property")):
            if "sh:maxLength" in shape:
                length[_term_tail(shape["sh:path"])] = int(shape["sh:maxLength"])
        for rule in _as_list(node.get("dtmm:descendants")):
            first = _term_tail(_as_list(rule.get("dtmm:properties"))[0])
            if "dtmm:maxDepth" in rule:
                depth[first] = int(rule["dtmm:maxDepth"])
            if "dtmm:maxCount" in rule:
                count[first] = int(rule["dtmm:maxCount"])
        if node["@id"].startswith("dtmi:dtdl:class:Interface;") and "dtmm:identifier" in node:
            interface_id = int(node["dtmm:identifier"]["sh:maxLength"])
    return LimitOverrides(length, interface_id, depth, count)


def _term_tail(dtmi: str) -> str:
    return dtmi.split(";")[0].rsplit(":", 1)[-1]


@cache
def metamodel() -> Metamodel:
    """The metamodel, built on first use and shared by every parse."""
    return Metamodel()
