"""The dry run: what a run would change, per rule and table, computed read-only."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import strategies
from .compile import CompiledRule, Node
from .model import Rule
from .selection import walk_cascades, walk_conditions


@dataclass(frozen=True)
class TableCount:
    """Rows of one table that a rule changes: by its own action or by a database cascade."""

    label: str
    table: str
    action: str  # delete | anonymise | cascade delete | cascade set null
    rows: int


@dataclass(frozen=True)
class RulePlan:
    rule_id: str
    category: str
    table: str
    action: str
    expiry: str | None
    cutoff: str | None
    counts: tuple[TableCount, ...]
    sample_keys: tuple[tuple[Any, ...], ...] = ()
    sql: tuple[str, ...] = ()

    @property
    def rows(self) -> int:
        """Rows of the target table due."""
        return self.counts[0].rows

    @property
    def total(self) -> int:
        return sum(c.rows for c in self.counts)


@dataclass(frozen=True)
class Plan:
    as_of: datetime
    database: str
    policy_digest: str
    rules: tuple[RulePlan, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["as_of"] = self.as_of.isoformat()
        for rule in data["rules"]:
            rule["sample_keys"] = [list(k) for k in rule["sample_keys"]]
        return data


def describe_expiry(rule: Rule) -> str | None:
    if rule.expires is None:
        return None
    clock = rule.expires.from_
    if rule.expires.counted_from == "financial_year_end":
        return f"{rule.expires.after} after the end of the financial year of {clock}"
    return f"{rule.expires.after} after {clock}"


def plan_rule(conn: Connection, compiled: CompiledRule, *, samples: int = 0,
              sql: list[str] | None = None) -> RulePlan:
    rule = compiled.rule
    counts: list[TableCount] = []
    for node, cond in walk_conditions(compiled.root):
        counts.append(TableCount(node.label, node.table.name, node.action,
                                 _count(conn, node, cond)))
        if node.action == "delete":
            for label, cascade, ccond in walk_cascades(node.cascades, node.table, cond,
                                                       node.label):
                n = conn.execute(sa.select(sa.func.count()).select_from(cascade.table)
                                 .where(ccond)).scalar_one()
                counts.append(TableCount(label, cascade.table.name, cascade.action, int(n)))
    keys: tuple[tuple[Any, ...], ...] = ()
    if samples:
        root = compiled.root
        stmt = sa.select(*root.key).order_by(*root.key).limit(samples)
        if root.where is not None:
            stmt = stmt.where(root.where)
        if root.action == "anonymise" and not root.exact:
            stmt = stmt.limit(None)
            keys = tuple(_changing_keys(conn, root, stmt, samples))
        else:
            keys = tuple(tuple(r) for r in conn.execute(stmt))
    return RulePlan(
        rule_id=rule.id,
        category=rule.category,
        table=rule.table,
        action=compiled.root.action,
        expiry=describe_expiry(rule),
        cutoff=compiled.cutoff.describe() if compiled.cutoff else None,
        counts=tuple(counts),
        sample_keys=keys,
        sql=tuple(sql or ()),
    )


def _count(conn: Connection, node: Node, cond: sa.ColumnElement[bool]) -> int:
    if node.exact:
        return int(conn.execute(sa.select(sa.func.count()).select_from(node.table)
                                .where(cond)).scalar_one())
    stmt = sa.select(*node.key, *(node.table.c[c] for c in node.strategies)).where(cond)
    return sum(1 for _ in _changing_keys(conn, node, stmt, None))


def _changing_keys(conn: Connection, node: Node, stmt: sa.Select[Any],
                   limit: int | None) -> Any:
    """Keys of rows whose anonymised values differ from the stored ones (streamed)."""
    names = list(node.strategies)
    stmt = sa.select(*node.key, *(node.table.c[c] for c in names)).where(
        *([stmt.whereclause] if stmt.whereclause is not None else []))
    width = len(node.key)
    found = 0
    result = conn.execution_options(yield_per=2000).execute(stmt)
    for row in result:
        values = row[width:]
        if any(v is not None and strategies.changes(node.strategies[n], v, None)
               for n, v in zip(names, values, strict=True)):
            yield tuple(row[:width])
            found += 1
            if limit is not None and found >= limit:
                result.close()
                return


def due_rows(conn: Connection, compiled: CompiledRule) -> int:
    """Rows of the rule's target table that a run would change now."""
    root = compiled.root
    return _count(conn, root, root.where if root.where is not None else sa.true())
