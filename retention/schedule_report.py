"""The retention schedule: the retention part of the record of processing activities (GDPR
Art. 30(1)(f), "the envisaged time limits for erasure of the different categories of data"),
written from the same policy files that `retention run` enforces.

A schedule kept by hand drifts from what the database does; this one cannot, since it is the
policy read aloud: per category its legal basis, the privacy-policy clause, the legal floor,
every rule with its tables, columns, period, clock and conditions in words, and the data kept
on purpose with the reason. `schedule_render` turns it into Markdown or one static HTML file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Literal

from .floors import Floor
from .model import (
    AllCondition,
    Anonymise,
    AnyCondition,
    ColumnCondition,
    Condition,
    EmailDomainStrategy,
    ExistsCondition,
    FixedStrategy,
    HmacStrategy,
    MaskStrategy,
    NotExistsCondition,
    NullStrategy,
    PostcodePrefixStrategy,
    Related,
    RoundStrategy,
    Rule,
    Strategy,
    TruncateDateStrategy,
)
from .policy import Policy, load_policy


@dataclass(frozen=True)
class TableAction:
    """What a rule does to one table: the target, or a table related to it."""

    table: str
    link: Words | None  # how a related table's rows belong to the parent row
    where: Words | None
    action: str  # delete | anonymise
    columns: tuple[tuple[str, str], ...]  # (column, what happens to it) for anonymise
    depth: int = 0


@dataclass(frozen=True)
class RuleEntry:
    id: str
    description: str
    period: Words  # when a row becomes due
    where: Words | None
    action: str
    tables: tuple[TableAction, ...]


@dataclass(frozen=True)
class KeepEntry:
    table: str
    columns: tuple[str, ...] | None
    reason: str


@dataclass(frozen=True)
class CategoryEntry:
    id: str
    title: str
    description: str
    legal_basis: str
    policy_clause: str
    legal_floor: str | None
    floor_tables: tuple[str, ...]
    rules: tuple[RuleEntry, ...]
    keeps: tuple[KeepEntry, ...]


@dataclass(frozen=True)
class Schedule:
    files: tuple[str, ...]
    policy_digest: str
    generated: date
    financial_year_start: str
    categories: tuple[CategoryEntry, ...]


def build_schedule(policies: Sequence[str | Path], *, generated: date | None = None) -> Schedule:
    """The schedule of the policies at `policies`; reads no database."""
    return schedule_of(load_policy(policies), generated=generated)


def schedule_of(policy: Policy, *, generated: date | None = None) -> Schedule:
    categories = []
    for category in policy.categories.values():
        rules = [r for r in policy.rules if r.category == category.id]
        floor = category.legal_floor
        floor_tables: tuple[str, ...] = ()
        if floor is not None:
            floor_tables = tuple(sorted({*floor.tables, *(r.table for r in rules)}))
        categories.append(CategoryEntry(
            id=category.id, title=category.title, description=category.description.strip(),
            legal_basis=category.legal_basis.strip(), policy_clause=category.policy_clause.strip(),
            legal_floor=Floor(category.id, floor).describe() if floor is not None else None,
            floor_tables=floor_tables,
            rules=tuple(_rule(r, policy.settings.financial_year_start) for r in rules),
            keeps=tuple(KeepEntry(k.table, k.columns, k.reason.strip())
                        for k in policy.keeps if k.category == category.id),
        ))
    return Schedule(policy.files, policy.digest, generated or datetime.now(UTC).date(),
                    policy.settings.financial_year_start, tuple(categories))


def _rule(rule: Rule, fy_start: str) -> RuleEntry:
    tables = [_table_action(rule.table, None, None, rule.action, 0)]
    for rel in rule.related:
        tables.extend(_related(rel, rule.table, 1))
    return RuleEntry(
        id=rule.id, description=rule.description.strip(), period=period_words(rule, fy_start),
        where=condition_words(rule.where) if rule.where is not None else None,
        action="delete" if rule.action == "delete" else "anonymise", tables=tuple(tables))


def _related(rel: Related, parent: str, depth: int) -> list[TableAction]:
    link = _joined(" and ", [words(Ident(f"{rel.table}.{child}"), " = ",
                                   Ident(f"{parent}.{col}")) for child, col in rel.on.items()])
    where = condition_words(rel.where) if rel.where is not None else None
    found = [_table_action(rel.table, link, where, rel.action, depth)]
    for child in rel.related:
        found.extend(_related(child, rel.table, depth + 1))
    return found


def _table_action(table: str, link: Words | None, where: Words | None,
                  action: Literal["delete"] | Anonymise, depth: int) -> TableAction:
    if not isinstance(action, Anonymise):
        return TableAction(table, link, where, "delete", (), depth)
    return TableAction(table, link, where, "anonymise",
                       tuple((c, strategy_words(s)) for c, s in action.anonymise.items()), depth)


# --------------------------------------------------------------------------- in words


class Ident(str):
    """A table or column name inside `Words`: set as code by the renderers."""

    __slots__ = ()


@dataclass(frozen=True)
class Words:
    """A sentence fragment whose identifiers are marked, so that Markdown and HTML can set
    them as code while the rest is escaped as text. `str()` gives the plain text."""

    parts: tuple[str, ...]

    def __str__(self) -> str:
        return "".join(self.parts)


def words(*items: str | Words) -> Words:
    parts: list[str] = []
    for item in items:
        parts.extend(item.parts if isinstance(item, Words) else (item,))
    return Words(tuple(p for p in parts if p))


def _joined(separator: str, items: list[Words]) -> Words:
    out: list[str | Words] = []
    for i, item in enumerate(items):
        out += [separator, item] if i else [item]
    return words(*out)


def period_words(rule: Rule, fy_start: str = "01-01") -> Words:
    """When a row becomes due: '3 years after created_at', or at once."""
    expires = rule.expires
    if expires is None:
        return words("as soon as the conditions hold (no waiting period)")
    note = ""
    if expires.epoch == "seconds":
        note = " (Unix seconds)"
    elif expires.timezone:
        note = f" (local time, {expires.timezone})"
    clock = words(Ident(expires.from_), note)
    if expires.counted_from == "financial_year_end":
        return words(f"{expires.after} after the end of the financial year (starting "
                     f"{fy_start}) in which ", clock, " falls")
    return words(f"{expires.after} after ", clock)


def _value(value: object) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def condition_words(cond: Condition) -> Words:
    """A filter as a sentence fragment: "customer_is_guest = 1 and no customer_entity row
    has entity_id = customer_id"."""
    if isinstance(cond, ColumnCondition):
        column = Ident(cond.column)
        if cond.op == "is null":
            return words(column, " is empty (NULL)")
        if cond.op == "is not null":
            return words(column, " is set")
        if cond.op in ("in", "not in") and isinstance(cond.value, list):
            values = ", ".join(_value(v) for v in cond.value)
            return words(column, f" is {'one' if cond.op == 'in' else 'none'} of {values}")
        return words(column, f" {cond.op} {_value(cond.value)}")
    if isinstance(cond, AllCondition):
        return _joined(" and ", [_grouped(c) for c in cond.all])
    if isinstance(cond, AnyCondition):
        return _joined(" or ", [_grouped(c) for c in cond.any])
    link = cond.exists if isinstance(cond, ExistsCondition) else cond.not_exists
    on = _joined(" and ", [words(Ident(other), " = ", Ident(this))
                           for other, this in link.on.items()])
    extra = words(" and ", _grouped(link.where)) if link.where is not None else words()
    head = "no " if isinstance(cond, NotExistsCondition) else "a "
    return words(head, Ident(link.table), " row has ", on, extra)


def _grouped(cond: Condition) -> Words:
    text = condition_words(cond)
    return words("(", text, ")") if isinstance(cond, AllCondition | AnyCondition) else text


def strategy_words(spec: Strategy) -> str:
    if isinstance(spec, NullStrategy):
        return "set to NULL"
    if isinstance(spec, FixedStrategy):
        return f"replaced by {_value(spec.value)}"
    if isinstance(spec, HmacStrategy):
        return "replaced by a keyed pseudonym (HMAC-SHA256)"
    if isinstance(spec, MaskStrategy):
        kept = [f"the first {spec.keep_first}" if spec.keep_first else "",
                f"the last {spec.keep_last}" if spec.keep_last else ""]
        shown = " and ".join(k for k in kept if k)
        return f"masked, keeping {shown} characters" if shown else "masked entirely"
    if isinstance(spec, EmailDomainStrategy):
        return "cut to its @domain"
    if isinstance(spec, TruncateDateStrategy):
        return f"truncated to the first day of its {spec.to}"
    if isinstance(spec, RoundStrategy):
        if spec.digits >= 0:
            return f"rounded to {spec.digits} decimal places"
        return f"rounded to the nearest {10 ** -spec.digits:,}"
    if isinstance(spec, PostcodePrefixStrategy):
        return f"cut to its first {spec.keep} characters"
    raise TypeError(f"unknown strategy {spec!r}")  # pragma: no cover
