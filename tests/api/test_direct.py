"""Root-only fields get a direct resolver; every other field keeps strawberry's, and answers agree."""

from __future__ import annotations

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


@strawberry.type
class Item:
    raw: strawberry.Private[str]
    name: str = strawberry.field(resolver=_name)
    with_info: str = strawberry.field(resolver=_with_info)
    with_argument: str = strawberry.field(resolver=_with_argument)
    later: str = strawberry.field(resolver=_later)
    guarded: str | None = strawberry.field(resolver=_name, permission_classes=[Never])


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        return [Item(raw="a"), Item(raw="b")]


QUERY = '{ items { name withInfo withArgument(suffix: "!") later guarded } }'


def test_only_root_only_fields_are_resolved_directly() -> None:
    schema = strawberry.Schema(Query)
    before = schema.execute_sync(QUERY.replace(" later", ""))
    fields = schema._schema.type_map["Item"].fields  # type: ignore[union-attr]
    wrapped = {name: field.resolve for name, field in fields.items()}
    assert resolve_directly(schema._schema) == 1
    changed = {name for name, field in fields.items() if field.resolve is not wrapped[name]}
    assert changed == {"name"}
    after = schema.execute_sync(QUERY.replace(" later", ""))
    assert after.data == before.data
    assert after.data == {
        "items": [
            {"name": "A", "withInfo": "a:withInfo", "withArgument": "a!", "guarded": None},
            {"name": "B", "withInfo": "b:withInfo", "withArgument": "b!", "guarded": None},
        ]
    }
    assert [e.message for e in after.errors or []] == ["no", "no"]
