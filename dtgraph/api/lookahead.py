"""Look-ahead: the traversals a query asks for below the one being resolved, so that one store call
(``Store.neighbours_along``) reads every level of ``related { related { … } }`` at once.

Without it each level of a nested traversal is one store round trip (batched over the level by the
data loaders). A traversal field that finds exactly one traversal straight below it (a generic
``related`` of depth 1, or a typed relationship field), and so on down, reads all those levels
together and primes the data loaders with what the deeper levels will ask; ``twin(id)`` reads the
twin itself in that same call. What a query returns does
not change: the deeper resolvers still run and find their reads done; a selection the plan does not
cover (fragments, directives, two traversals side by side) is read as before.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Any

from graphql import (
    FieldNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLResolveInfo,
    VariableNode,
    get_named_type,
)
from graphql.execution.values import VariableValues, get_argument_values

from dtgraph.stores.base import Step

__all__ = ["MAX_STEPS", "RELATIONSHIP_FIELD", "steps_below"]

MAX_STEPS = 4  # levels read ahead in one store call
RELATIONSHIP_FIELD = "dtgraph_relationship"  # extension of a typed relationship field: its name

_NAME = re.compile(r"[A-Za-z](?:[A-Za-z0-9_]*[A-Za-z0-9])?")
_GENERIC_ARGS = frozenset({"name", "direction", "depth"})


def steps_below(info: GraphQLResolveInfo[Any]) -> tuple[Step, ...]:
    """The chain of traversals below the field ``info`` resolves, one per level, while each level
    selects exactly one, plainly (no directive, no fragment around it); empty if the next level does
    not. The answers are computed once per field of the query (``info.context`` keeps them)."""
    if len(info.field_nodes) != 1:
        return ()
    node = info.field_nodes[0]
    plans: dict[int, tuple[Step, ...]] = info.context.lookahead
    known = plans.get(id(node))
    if known is None:
        kept = _KEPT.get(id(node))
        if kept is not None and kept[0] is node and kept[1] is info.return_type:
            known = kept[2]
        else:
            variables: Any = info.variable_values
            if isinstance(variables, dict):  # strawberry hands resolvers the coerced values alone
                variables = VariableValues({}, variables)
            used: list[bool] = []
            known = _chain(node, info.return_type, variables, used)
            if not used:  # the same for every request of this document (a prepared one comes again)
                if len(_KEPT) >= _MAX_KEPT:
                    _KEPT.clear()
                _KEPT[id(node)] = (node, info.return_type, known)
        plans[id(node)] = known
    return known


# plans that depend on no variable, by field node (kept with the node and the field's type, which
# belongs to one schema, so that an id reused by another node or a rebuilt schema is not mistaken)
_KEPT: dict[int, tuple[FieldNode, Any, tuple[Step, ...]]] = {}
_MAX_KEPT = 4096


def _chain(
    node: FieldNode, return_type: Any, variables: VariableValues, used: list[bool]
) -> tuple[Step, ...]:
    """The chain below ``node``; ``used`` gets an entry when a variable's value decided it."""
    steps: list[Step] = []
    parent = get_named_type(return_type)
    while len(steps) < MAX_STEPS and node.selection_set is not None:
        if not isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            break
        found: list[tuple[FieldNode, GraphQLField, Step]] = []
        for selection in node.selection_set.selections:
            if not isinstance(selection, FieldNode) or selection.name.value not in parent.fields:
                continue
            field = parent.fields[selection.name.value]
            step = _step(selection, field, variables, used)
            if step is not None:
                found.append((selection, field, step))
        if len(found) != 1 or found[0][0].directives:
            break
        node, field, step = found[0]
        steps.append(step)
        parent = get_named_type(field.type)
    return tuple(steps)


def _step(node: FieldNode, field: GraphQLField, variables: VariableValues, used: list[bool]) -> Step | None:
    """The traversal ``node`` asks for, if it is one that reads one level of neighbours."""
    name = field.extensions.get(RELATIONSHIP_FIELD)
    if name is not None:
        return str(name), "out"
    if node.name.value != "related" or set(field.args) != _GENERIC_ARGS:
        return None
    if any(isinstance(argument.value, VariableNode) for argument in node.arguments or ()):
        used.append(True)
    try:
        args = get_argument_values(field, node, variables)
    except GraphQLError:  # the field's own resolution reports it
        return None
    name, direction = args.get("name"), args.get("direction")
    if args.get("depth") != 1 or (name is not None and not _NAME.fullmatch(name)):
        return None
    value = direction.value if isinstance(direction, Enum) else direction
    return (name, value) if value in ("out", "in", "both") else None
