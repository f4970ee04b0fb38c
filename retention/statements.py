"""The statements a run executes per batch, built in one place so that `plan --sql` shows
exactly what `run` sends."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from . import strategies
from .compile import Node
from .database import skip_locked, supports_for_update
from .model import NullStrategy


def _and(match: sa.ColumnElement[bool], recheck: sa.ColumnElement[bool] | None) -> \
        sa.ColumnElement[bool]:
    return match if recheck is None else sa.and_(match, recheck)


def batch_select(root: Node, columns: Sequence[sa.Column[Any]], last: Any, size: int,
                 dialect: Any) -> sa.Select[Any]:
    """Next keyset batch of the target: `WHERE <rule> AND key > :last ORDER BY key LIMIT n`,
    locking the rows where the database has row locks. Rows the application holds locked are
    skipped where the database can (`SKIP LOCKED`): the next run picks them up."""
    stmt = sa.select(*columns).order_by(*root.key).limit(size)
    if root.where is not None:
        stmt = stmt.where(root.where)
    if last is not None:
        key = root.key[0] if len(root.key) == 1 else sa.tuple_(*root.key)
        stmt = stmt.where(key > last)
    if supports_for_update(dialect.name):
        stmt = stmt.with_for_update(skip_locked=skip_locked(dialect))
    return stmt


def child_select(node: Node, columns: Sequence[sa.Column[Any]], match: sa.ColumnElement[bool],
                 dialect: str) -> sa.Select[Any]:
    stmt = sa.select(*columns).where(_and(match, node.where)).order_by(*node.key)
    if supports_for_update(dialect):
        stmt = stmt.with_for_update()
    return stmt


def delete(node: Node, match: sa.ColumnElement[bool],
           recheck: sa.ColumnElement[bool] | None) -> sa.Delete:
    return sa.delete(node.table).where(_and(match, recheck))


def set_based(node: Node) -> bool:
    """Anonymisation by null/fixed values only: one UPDATE for a whole batch."""
    return not any(strategies.needs_value(s) for s in node.strategies.values())


def set_update(node: Node, match: sa.ColumnElement[bool],
               recheck: sa.ColumnElement[bool] | None) -> sa.Update:
    values: dict[str, Any] = {}
    for name, spec in node.strategies.items():
        column = node.table.c[name]
        new = strategies.transform(spec, None, None) if isinstance(spec, NullStrategy) \
            else strategies.transform(spec, "", None)
        # NULL stays NULL: a fixed value replaces only values that are there
        values[name] = None if new is None else sa.case(
            (column.is_(None), None), else_=sa.literal(new, column.type))
    return sa.update(node.table).where(_and(match, recheck)).values(values)


def row_update(node: Node, recheck: sa.ColumnElement[bool] | None) -> sa.Update:
    """UPDATE of one row by key (run with many parameter sets): values computed in Python."""
    match = sa.and_(*(c == sa.bindparam(f"k_{c.name}") for c in node.key))
    return sa.update(node.table).where(_and(match, recheck)).values(
        {n: sa.bindparam(f"v_{n}", type_=node.table.c[n].type) for n in node.strategies})
