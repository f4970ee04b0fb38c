"""Turn a rule into SQLAlchemy Core expressions against the reflected schema.

Identifiers come from the policy and are looked up in the reflected tables (never pasted into
SQL text); values are always bound parameters. The result, a tree of `Node`s, is shared by the
dry run (`planner`) and the real run (`executor`), so both select exactly the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from . import strategies
from .database import Catalog, ForeignKey
from .durations import Cutoff, compute_cutoff
from .model import (
    AllCondition,
    Anonymise,
    AnyCondition,
    ColumnCondition,
    Condition,
    ExistsCondition,
    Expiry,
    NotExistsCondition,
    Related,
    Rule,
    Strategy,
)

_OPS = {
    "=": lambda c, v: c == v,
    "!=": lambda c, v: c != v,
    "<": lambda c, v: c < v,
    "<=": lambda c, v: c <= v,
    ">": lambda c, v: c > v,
    ">=": lambda c, v: c >= v,
    "in": lambda c, v: c.in_(v),
    "not in": lambda c, v: c.not_in(v),
    "is null": lambda c, v: c.is_(None),
    "is not null": lambda c, v: c.is_not(None),
}


@dataclass
class Cascade:
    """Rows the database itself deletes (or sets NULL) when rows of the parent table go."""

    fk: ForeignKey
    table: sa.Table
    children: list[Cascade] = field(default_factory=list)

    @property
    def action(self) -> str:
        return "cascade delete" if self.fk.ondelete == "CASCADE" else "cascade set null"


@dataclass
class Node:
    """One table of a rule: the target, or a related table handled in the same batch."""

    label: str  # 'sales_order' or 'sales_order > sales_order_item'
    table: sa.Table
    key: list[sa.Column[Any]]
    action: str  # delete | anonymise
    strategies: dict[str, Strategy]
    # own filter: the full selection (filters + expiry + not-yet-anonymised) for the target
    where: sa.ColumnElement[bool] | None
    # for related nodes: this table's columns matched to the parent's columns
    link: list[tuple[sa.Column[Any], str]] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)
    cascades: list[Cascade] = field(default_factory=list)

    @property
    def exact(self) -> bool:
        """Whether SQL alone decides which rows change (no Python comparison needed)."""
        return self.action == "delete" or all(
            strategies.done(s, self.table.c[c], "sqlite") is not None
            for c, s in self.strategies.items()
        )

    def parent_columns(self) -> list[str]:
        """Columns of this table that the children's links read."""
        names: list[str] = []
        for child in self.children:
            for _col, parent_col in child.link:
                if parent_col not in names:
                    names.append(parent_col)
        return names

    def fetch_columns(self) -> list[sa.Column[Any]]:
        """Key, link columns for the children, the columns the database's cascades refer to,
        and the values anonymisation needs."""
        names = [c.name for c in self.key]
        names += self.parent_columns()
        for cascade in self.cascades:
            names += cascade.fk.referred_columns
        if self.action == "anonymise":
            names += self.strategies
        return [self.table.c[n] for n in dict.fromkeys(names)]

    def walk(self) -> list[Node]:
        return [self, *(n for child in self.children for n in child.walk())]


@dataclass
class CompiledRule:
    rule: Rule
    cutoff: Cutoff | None
    root: Node


def rule_cutoff(rule: Rule, now: datetime, financial_year: tuple[int, int]) -> Cutoff | None:
    if rule.expires is None:
        return None
    fy = financial_year if rule.expires.counted_from == "financial_year_end" else None
    return compute_cutoff(now, rule.expires.after, financial_year=fy)


def compile_rule(rule: Rule, catalog: Catalog, now: datetime,
                 financial_year: tuple[int, int]) -> CompiledRule:
    """Build the query tree of `rule` for a run at `now` (timezone-aware)."""
    dialect = catalog.dialect
    table = catalog.table(rule.table)
    cutoff = rule_cutoff(rule, now, financial_year)
    parts: list[sa.ColumnElement[bool]] = []
    if rule.where is not None:
        parts.append(condition(rule.where, table, catalog))
    if rule.expires is not None and cutoff is not None:
        parts.append(expiry_clause(rule.expires, table.c[rule.expires.from_], cutoff, dialect))
    root = _node(table.name, table, rule.key, rule.action, catalog)
    pending = not_done(root, dialect)
    if pending is not None:
        parts.append(pending)
    root.where = sa.and_(*parts) if parts else None
    root.children = [_related(rel, root, catalog) for rel in rule.related]
    _attach_cascades(root, catalog)
    return CompiledRule(rule, cutoff, root)


def _node(label: str, table: sa.Table, key: list[str] | None, action: Any,
          catalog: Catalog) -> Node:
    key_names = key or catalog.primary_key(table.name)
    if isinstance(action, Anonymise):
        return Node(label, table, [table.c[k] for k in key_names], "anonymise",
                    dict(action.anonymise), None)
    return Node(label, table, [table.c[k] for k in key_names], "delete", {}, None)


def _related(rel: Related, parent: Node, catalog: Catalog) -> Node:
    table = catalog.table(rel.table)
    node = _node(f"{parent.label} > {table.name}", table, rel.key, rel.action, catalog)
    node.link = [(table.c[child], parent_col) for child, parent_col in rel.on.items()]
    parts = []
    if rel.where is not None:
        parts.append(condition(rel.where, table, catalog))
    pending = not_done(node, catalog.dialect)
    if pending is not None:
        parts.append(pending)
    node.where = sa.and_(*parts) if parts else None
    node.children = [_related(child, node, catalog) for child in rel.related]
    return node


def not_done(node: Node, dialect: str) -> sa.ColumnElement[bool] | None:
    """For anonymise: rows where some column is not yet anonymised (None if not decidable)."""
    if node.action != "anonymise":
        return None
    tests = []
    for name, spec in node.strategies.items():
        test = strategies.done(spec, node.table.c[name], dialect)
        if test is None:
            return None
        tests.append(sa.not_(test))
    return sa.or_(*tests)


def _attach_cascades(node: Node, catalog: Catalog) -> None:
    for child in node.children:
        _attach_cascades(child, catalog)
    if node.action == "delete":
        # a foreign key handled as `related` is no cascade; `on` may list its pairs in any order
        covered = {(c.table.name, frozenset((col.name, p) for col, p in c.link))
                   for c in node.children}
        node.cascades = _cascades(node.table.name, catalog, covered, depth=0)


def _cascades(table: str, catalog: Catalog,
              covered: set[tuple[str, frozenset[tuple[str, str]]]], depth: int) -> list[Cascade]:
    found: list[Cascade] = []
    if depth > 10:  # a cycle of cascading keys; the plan lists the first ten levels
        return found
    for fk in catalog.referencing(table):
        if fk.ondelete not in ("CASCADE", "SET NULL", "SET DEFAULT"):
            continue
        pairs = frozenset(zip(fk.columns, fk.referred_columns, strict=True))
        if (fk.table, pairs) in covered or not catalog.has_table(fk.table):
            continue
        child_table = catalog.table(fk.table)
        cascade = Cascade(fk, child_table)
        if fk.ondelete == "CASCADE" and fk.table != table:
            cascade.children = _cascades(fk.table, catalog, set(), depth + 1)
        found.append(cascade)
    return found


# --------------------------------------------------------------------------- conditions


def condition(cond: Condition, table: sa.FromClause, catalog: Catalog,
              level: int = 1) -> sa.ColumnElement[bool]:
    """SQL for a structured filter; linked tables are aliased `<table>_<level>`."""
    if isinstance(cond, ColumnCondition):
        column = table.c[cond.column]
        return _OPS[cond.op](column, cond.value)  # type: ignore[no-any-return]
    if isinstance(cond, AllCondition):
        return sa.and_(*(condition(c, table, catalog, level) for c in cond.all))
    if isinstance(cond, AnyCondition):
        return sa.or_(*(condition(c, table, catalog, level) for c in cond.any))
    if isinstance(cond, ExistsCondition | NotExistsCondition):
        link = cond.exists if isinstance(cond, ExistsCondition) else cond.not_exists
        other = catalog.table(link.table).alias(f"{link.table}_{level}")
        parts = [other.c[o] == table.c[t] for o, t in link.on.items()]
        if link.where is not None:
            parts.append(condition(link.where, other, catalog, level + 1))
        exists = sa.exists().where(*parts)
        return exists if isinstance(cond, ExistsCondition) else sa.not_(exists)
    raise TypeError(f"unknown condition {cond!r}")  # pragma: no cover


def expiry_clause(expiry: Expiry, column: sa.Column[Any], cutoff: Cutoff,
                  dialect: str) -> sa.ColumnElement[bool]:
    """`column <= cutoff` (or `<`), with the cutoff in the form the column stores.

    NULL compares as unknown, so a row with no timestamp never expires.
    """
    value = cutoff_value(expiry, column, cutoff, dialect)
    bound = sa.bindparam("cutoff", value.value if isinstance(value, sa.BindParameter) else value,
                         type_=value.type if isinstance(value, sa.BindParameter) else column.type)
    return column < bound if cutoff.strict else column <= bound


def cutoff_value(expiry: Expiry, column: sa.Column[Any], cutoff: Cutoff, dialect: str) -> Any:
    moment = cutoff.moment.astimezone(UTC)
    ctype = column.type
    if expiry.epoch == "seconds":
        seconds = int(moment.timestamp()) if not cutoff.strict or moment.microsecond == 0 \
            else int(moment.timestamp()) + 1
        # BIGINT whatever the column: a 32-bit column compared with a cutoff past 2038 must
        # not overflow (PostgreSQL casts the parameter to the column type otherwise)
        return sa.bindparam(None, seconds, type_=sa.BigInteger())
    if isinstance(ctype, sa.DateTime):
        if getattr(ctype, "timezone", False):
            return moment
        local = moment.astimezone(ZoneInfo(expiry.timezone)) if expiry.timezone else moment
        naive = local.replace(tzinfo=None)
        if dialect == "sqlite":
            return sa.bindparam(None, _sqlite_datetime_text(naive, cutoff.strict),
                                type_=sa.String())
        return naive
    if isinstance(ctype, sa.Date):
        day = moment.date()
        if dialect == "sqlite":
            return sa.bindparam(None, day.isoformat(), type_=sa.String())
        return day
    raise TypeError(f"column {column.name!r} is not a date/time column")


def _sqlite_datetime_text(naive: datetime, strict: bool) -> str:
    """The cutoff as text that compares right with both forms SQLite columns hold:
    'YYYY-MM-DD HH:MM:SS' (CURRENT_TIMESTAMP, most applications) and
    'YYYY-MM-DD HH:MM:SS.ffffff' (SQLAlchemy).

    A shorter string sorts before its extensions, so `<=` takes the full six-digit fraction
    (a row at exactly the cutoff, in either form, is due) and `<` the shortest form (neither
    form of a row at exactly the cutoff is due).
    """
    text = naive.strftime("%Y-%m-%d %H:%M:%S")
    fraction = f"{naive.microsecond:06d}"
    if strict:
        fraction = fraction.rstrip("0")
    return f"{text}.{fraction}" if fraction else text

