"""What a string in ``@type`` or in a member name stands for, and how strictly unknown ones are treated.

The specification sorts every string an element uses as a type or a member name into: a term or DTMI
that DTDL or an active extension defines, or one of four "apocryphal" categories (undefined term, a DTMI
or reserved term irrelevant here, neither DTMI nor term, invalid DTMI). Each language version says which
categories it always allows, never allows, or allows only when the model is contextually incomplete.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass

from dtgraph.dtdl.context import ActiveContext
from dtgraph.dtdl.dtmi import is_valid_dtmi
from dtgraph.dtdl.metamodel import Global

__all__ = ["IRRELEVANT", "Term", "classify", "code_for", "message_for", "suggest", "tolerated"]

IRRELEVANT = "irrelevantDtmiOrTerm"

_PREFIX = {"type": "type", "member": "property"}
_SUFFIX = {
    "invalidDtmi": "InvalidDtmi",
    "notDtmiNorTerm": "NotDtmiNorTerm",
    "undefinedTerm": "UndefinedTerm",
    IRRELEVANT: "IrrelevantDtmiOrTerm",
}
_MESSAGES = {
    ("type", "invalidDtmi"): "'@type' value '{s}' starts with 'dtmi:' but is not a valid DTMI",
    ("type", "notDtmiNorTerm"): "'@type' value '{s}' is neither a DTMI nor a term",
    ("type", "undefinedTerm"): "'@type' value '{s}' is not defined by DTDL or any extension in the context",
    ("type", IRRELEVANT): "'@type' value '{s}' cannot be a type of this element",
    ("member", "invalidDtmi"): "member name '{s}' starts with 'dtmi:' but is not a valid DTMI",
    ("member", "notDtmiNorTerm"): "member name '{s}' is neither a DTMI nor a term",
    ("member", "undefinedTerm"): "member '{s}' is not defined for this element",
    ("member", IRRELEVANT): "member '{s}' does not belong to this kind of element",
}


@dataclass(frozen=True, slots=True)
class Term:
    """The DTMI a string resolves to, or the apocryphal category it falls in (exactly one is set)."""

    dtmi: str | None
    category: str | None = None


def classify(text: str, ctx: ActiveContext) -> Term:
    dtmi = ctx.resolve(text)
    if dtmi is not None:
        return Term(dtmi)
    if text.startswith("dtmi:"):
        return Term(text) if is_valid_dtmi(text, 4) else Term(None, "invalidDtmi")
    return Term(None, "notDtmiNorTerm" if ":" in text else "undefinedTerm")


def tolerated(category: str, glob: Global, ctx: ActiveContext, *, as_member: bool, cotyped: bool) -> bool:
    """Whether an apocryphal type or member is allowed rather than an error.

    A member needs the element to carry an apocryphal co-type itself (the metamodel's propertyNeedsCotype).
    """
    never = glob.never_allow_property if as_member else glob.never_allow_cotype
    always = glob.always_allow_property if as_member else glob.always_allow_cotype
    if category in never or (as_member and not cotyped):
        return False
    return category in always or ctx.undefined


def code_for(where: str, category: str) -> str:
    """The reference parser's code: typeUndefinedTerm, propertyInvalidDtmi, …"""
    return _PREFIX[where] + _SUFFIX[category]


def message_for(where: str, category: str, text: str) -> str:
    return _MESSAGES[(where, category)].format(s=text)


def suggest(word: str, known: Iterable[str]) -> str:
    # a misspelt term is the commonest modelling slip: name the closest known one
    close = difflib.get_close_matches(word, list(known), n=1, cutoff=0.75)
    return f"; did you mean '{close[0]}'?" if close else ""
