"""Row sets of a compiled rule as SQL: which rows of each table a run will touch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from .compile import Cascade, Node


def linked(columns: list[sa.Column[Any]], parent: sa.Select[Any]) -> sa.ColumnElement[bool]:
    """`columns IN (parent select)`, single or row-valued."""
    if len(columns) == 1:
        return columns[0].in_(parent)
    return sa.tuple_(*columns).in_(parent)


def node_condition(node: Node, parent: Node | None,
                   parent_condition: sa.ColumnElement[bool] | None) -> sa.ColumnElement[bool]:
    """Every row of `node.table` the whole run touches (parent rows given by their condition)."""
    parts: list[sa.ColumnElement[bool]] = []
    if parent is not None:
        parent_cols = [parent.table.c[p] for _c, p in node.link]
        sub = sa.select(*parent_cols)
        if parent_condition is not None:
            sub = sub.where(parent_condition)
        parts.append(linked([c for c, _p in node.link], sub))
    if node.where is not None:
        parts.append(node.where)
    return sa.and_(sa.true(), *parts) if parts else sa.true()


def walk_conditions(root: Node) -> Iterator[tuple[Node, sa.ColumnElement[bool]]]:
    """(node, condition) for the target and every related table, parents first."""
    def visit(node: Node, parent: Node | None,
              parent_cond: sa.ColumnElement[bool] | None) -> Iterator[tuple[Node, Any]]:
        cond = node_condition(node, parent, parent_cond)
        yield node, cond
        for child in node.children:
            yield from visit(child, node, cond)

    yield from visit(root, None, None)


def cascade_condition(cascade: Cascade, parent: sa.Table,
                      parent_condition: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
    sub = sa.select(*(parent.c[c] for c in cascade.fk.referred_columns)).where(parent_condition)
    return linked([cascade.table.c[c] for c in cascade.fk.columns], sub)


def walk_cascades(cascades: list[Cascade], parent: sa.Table,
                  parent_condition: sa.ColumnElement[bool], label: str,
                  ) -> Iterator[tuple[str, Cascade, sa.ColumnElement[bool]]]:
    for cascade in cascades:
        cond = cascade_condition(cascade, parent, parent_condition)
        here = f"{label} > {cascade.table.name}"
        yield here, cascade, cond
        yield from walk_cascades(cascade.children, cascade.table, cond, here)
