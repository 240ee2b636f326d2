"""Fields get a direct resolver where strawberry's wrapper would do nothing; answers agree."""

from __future__ import annotations

import asyncio
from enum import Enum
from typing import Any

import strawberry
from strawberry.permission import BasePermission
from strawberry.types import Info

from dtgraph.api.direct import resolve_directly


class Never(BasePermission):
    message = "no"

    def has_permission(self, source: Any, info: Info[Any, Any], **kwargs: Any) -> bool:
        return False


def _name(root: Item) -> str:
    return root.raw.upper()


def _with_info(root: Item, info: Info[Any, Any]) -> str:
    return f"{root.raw}:{info.field_name}"


def _with_argument(root: Item, suffix: str) -> str:
    return root.raw + suffix


async def _later(root: Item) -> str:
    return root.raw


@strawberry.enum
class Case(Enum):
    UPPER = "upper"
    LOWER = "lower"


async def _cased(root: Item, info: Info[Any, Any], case: Case = Case.UPPER, times: int | None = None) -> str:
    text = root.raw.upper() if case is Case.UPPER else root.raw.lower()
    return f"{text * (times or 1)}:{info.path.key}"


@strawberry.input
class Suffix:
    text: str


def _with_input(root: Item, suffix: Suffix) -> str:
    return root.raw + suffix.text


@strawberry.type
class Item:
    raw: strawberry.Private[str]
    name: str = strawberry.field(resolver=_name)
    with_info: str = strawberry.field(resolver=_with_info)
    with_argument: str = strawberry.field(resolver=_with_argument)
    later: str = strawberry.field(resolver=_later)
    cased: str = strawberry.field(resolver=_cased)
    with_input: str = strawberry.field(resolver=_with_input)
    guarded: str | None = strawberry.field(resolver=_name, permission_classes=[Never])


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        return [Item(raw="a"), Item(raw="b")]


QUERY = """query($times: Int) { items { name withInfo withArgument(suffix: "!") later guarded
    cased lower: cased(case: LOWER, times: $times) withInput(suffix: {text: "?"}) } }"""


def test_fields_are_resolved_directly_where_the_wrapper_does_nothing() -> None:
    schema = strawberry.Schema(Query)
    before = asyncio.run(schema.execute(QUERY, variable_values={"times": 2}))
    fields = schema._schema.type_map["Item"].fields  # type: ignore[union-attr]
    wrapped = {name: field.resolve for name, field in fields.items()}
    assert resolve_directly(schema._schema) == 5
    changed = {name for name, field in fields.items() if field.resolve is not wrapped[name]}
    # not the guarded field (a permission is a field extension), nor one taking an input object
    assert changed == {"name", "withInfo", "withArgument", "later", "cased"}
    after = asyncio.run(schema.execute(QUERY, variable_values={"times": 2}))
    assert after.data == before.data
    assert after.data == {
        "items": [
            {
                "name": "A",
                "withInfo": "a:withInfo",
                "withArgument": "a!",
                "later": "a",
                "guarded": None,
                "cased": "A:cased",
                "lower": "aa:lower",
                "withInput": "a?",
            },
            {
                "name": "B",
                "withInfo": "b:withInfo",
                "withArgument": "b!",
                "later": "b",
                "guarded": None,
                "cased": "B:cased",
                "lower": "bb:lower",
                "withInput": "b?",
            },
        ]
    }
    assert [e.message for e in after.errors or []] == ["no", "no"]
