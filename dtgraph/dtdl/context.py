"""``@context`` handling: which DTDL version and which extensions are active for an element."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from dtgraph.dtdl.metamodel import Metamodel

__all__ = ["ActiveContext", "ContextProblem", "apply_context"]

_CONTEXT_RE = re.compile(r"^dtmi:dtdl:context;(\d+)(#[A-Za-z]+)?$")
_VERSIONED_DTMI = re.compile(
    r"^dtmi:[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?(?::[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?)*"
    r";[1-9][0-9]{0,8}(?:\.[1-9][0-9]{0,5})?(?:#[A-Za-z][A-Za-z0-9_]*)?$"
)
_IOTCENTRAL = "dtmi:iotcentral:context;2"


@dataclass(frozen=True)
class ContextProblem:
    code: str
    message: str
    value: str | None = None
    index: int | None = None


@dataclass(frozen=True)
class ActiveContext:
    """The combination of ``@context`` values of an element and its structural ancestors."""

    version: int
    by_stem: tuple[tuple[str, str], ...] = ()  # de-versioned DTMI → DTMI, for every non-DTDL context
    undefined: bool = False  # names an extension nobody defines (contextually incomplete)
    limitless: bool = False
    limits: tuple[str, ...] = ()
    terms: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    extensions: tuple[str, ...] = ()

    def resolve(self, term: str) -> str | None:
        return self.terms.get(term)


def _stem(dtmi: str) -> str:
    return dtmi.split(";", 1)[0]


def apply_context(
    value: object,
    parent: ActiveContext | None,
    mm: Metamodel,
    *,
    top_level: bool,
    allow_undefined: bool,
    limit_contexts: frozenset[str],
    report: Callable[[ContextProblem], None],
) -> ActiveContext | None:
    """Combine an element's ``@context`` value with its parent's active context.

    Returns None when the element cannot be interpreted (no DTDL version known).
    """
    if isinstance(value, str):
        items: list[object] = [value]
    elif isinstance(value, list):
        items = list(value)
    else:
        report(ContextProblem("invalidContextSpecifier", "@context must be a string or an array of strings"))
        return parent
    strings: list[str] = []
    for i, item in enumerate(items):
        if not isinstance(item, str):
            report(ContextProblem("invalidContextSpecifier", "each @context value must be a string", None, i))
            continue
        strings.append(item)
    version = parent.version if parent is not None else None
    dtdl_seen_at: int | None = None
    limitless = False
    limits: list[str] = []
    by_stem = dict(parent.by_stem) if parent is not None else {}
    undefined = parent.undefined if parent is not None else False
    first_other: int | None = None
    prev: str | None = None
    for i, s in enumerate(strings):
        m = _CONTEXT_RE.match(s)
        if m:
            v = int(m.group(1))
            frag = m.group(2)
            if v not in (2, 3, 4):
                report(
                    ContextProblem(
                        "unrecognizedContextVersion", f"DTDL context version {v} is not known", s, i
                    )
                )
                continue
            if frag is not None:
                if v != 4 or frag not in ("#limitless", "#limits"):
                    report(
                        ContextProblem(
                            "invalidContextFragment", f"context fragment '{frag}' is not allowed", s, i
                        )
                    )
                    continue
                if frag == "#limitless":
                    limitless = True
                    if first_other is not None:
                        report(
                            ContextProblem(
                                "localContextNotLast", "'#limitless' must precede extension contexts", s, i
                            )
                        )
                elif frag == "#limits":
                    if prev != "dtmi:dtdl:context;4#limitless":
                        report(
                            ContextProblem(
                                "dtdlContextFollowsAffiliate", "'#limits' must follow '#limitless'", s, i
                            )
                        )
                    limits.append(s)
            elif first_other is not None and not (
                v == 2
                and strings[first_other] == _IOTCENTRAL
                and all(x == _IOTCENTRAL or _CONTEXT_RE.match(x) for x in strings[:i])
            ):
                report(
                    ContextProblem(
                        "dtdlContextFollowsAffiliate",
                        "the DTDL context must come before any extension context",
                        s,
                        i,
                    )
                )
            version = v
            dtdl_seen_at = i
            prev = s
            continue
        if not _VERSIONED_DTMI.match(s):
            report(
                ContextProblem(
                    "invalidContextSpecifier",
                    f"'{s}' is not a DTMI with a version, as a context specifier must be",
                    s,
                    i,
                )
            )
            prev = s
            continue
        if "#" in s:
            report(ContextProblem("invalidContextFragment", f"context '{s}' may not have a fragment", s, i))
            prev = s
            continue
        if first_other is None:
            first_other = i
        ext = mm.extensions.get(s)
        if ext is not None and ext.is_limits:
            if prev != "dtmi:dtdl:context;4#limitless":
                report(
                    ContextProblem(
                        "misplacedLimitContext",
                        f"limit extension '{s}' must immediately follow 'dtmi:dtdl:context;4#limitless'",
                        s,
                        i,
                    )
                )
            if s.split(";")[0] not in {c.split(";")[0] for c in limit_contexts}:
                report(
                    ContextProblem(
                        "disallowedLimitContext",
                        f"limit extension '{s}' is not among the accepted ones",
                        s,
                        i,
                    )
                )
            limits.append(s)
        by_stem[_stem(s)] = s
        prev = s
    if limitless and not limits and not (strings and "dtmi:dtdl:context;4" in strings):
        idx = strings.index("dtmi:dtdl:context;4#limitless")
        nxt = strings[idx + 1] if idx + 1 < len(strings) else None
        if nxt is None or (nxt != "dtmi:dtdl:context;4" and nxt not in mm.extensions):
            report(
                ContextProblem(
                    "missingLimitContext", "'#limitless' must be followed by a limits context", None, idx
                )
            )
    elif limitless:
        idx = strings.index("dtmi:dtdl:context;4#limitless")
        nxt = strings[idx + 1] if idx + 1 < len(strings) else None
        if nxt is None or not (
            nxt == "dtmi:dtdl:context;4#limits"
            or nxt == "dtmi:dtdl:context;4"
            or (nxt in mm.extensions and mm.extensions[nxt].is_limits)
        ):
            report(
                ContextProblem(
                    "missingLimitContext", "'#limitless' must be followed by a limits context", None, idx
                )
            )
    if top_level and dtdl_seen_at is None:
        report(
            ContextProblem(
                "missingDtdlContext", "a top-level element's @context must include the DTDL context"
            )
        )
        return None
    if version is None:
        return None
    extensions: list[str] = []
    terms = dict(mm.vocabularies[version].terms)
    for dtmi in by_stem.values():
        if dtmi == _IOTCENTRAL and version == 2:
            continue
        ext = mm.extensions.get(dtmi)
        if ext is None or (version == 2) or (version not in ext.dtdl_versions and not ext.is_limits):
            if version == 2 and dtmi == _IOTCENTRAL:
                continue
            if allow_undefined:
                undefined = True
            else:
                report(
                    ContextProblem(
                        "unresolvableContextSpecifier",
                        f"context '{dtmi}' names an extension that is not defined",
                        dtmi,
                    )
                )
            continue
        extensions.append(dtmi)
        terms.update(ext.terms)
    return ActiveContext(
        version=version,
        by_stem=tuple(by_stem.items()),
        undefined=undefined,
        limitless=limitless or (parent.limitless if parent else False),
        limits=tuple(limits) or (parent.limits if parent else ()),
        terms=terms,
        extensions=tuple(extensions),
    )
