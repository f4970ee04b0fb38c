"""`retention forecast`: how many rows each rule will find due, day by day, over the next days.

Day 0 is the backlog: what a run at `as_of` would change (the first run's work). Day d counts
the rows that become due between a run at `as_of + (d-1) days` and one at `as_of + d days`,
assuming no run and no new data in between, so day 0 plus days 1..d equals what `plan --as-of`
finds on day d.

The cutoffs come from the same code as a run's (`compile.rule_cutoff`, `cutoff_value`): they
are not linear in the day (calendar months, financial-year ends), so each day gets its own.
Counting uses the rule's compiled selection without its expiry (filters, links and "not yet
anonymised" included), with the clock put into day buckets by one CASE per rule: one scan of
the table per rule, not one per day. Rules whose anonymisation can only be judged in Python
(`mask`, `round`) are counted day by day with the planner's own count instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError

from .compile import CompiledRule, compile_rule, cutoff_value, rule_cutoff
from .database import Catalog, connect_check, create_engine, driver_reason, safe_url
from .durations import Cutoff
from .errors import DatabaseUnavailable, UsageError
from .model import Expiry, Rule
from .planner import describe_expiry, due_rows
from .policy import load_policy
from .schemacheck import check_schema

MAX_DAYS = 1830  # five years ahead


@dataclass(frozen=True)
class RuleForecast:
    rule_id: str
    category: str
    table: str
    action: str
    expiry: str | None
    counts: tuple[int, ...]  # [0]: due at as_of (the backlog); [d]: newly due on day d

    @property
    def backlog(self) -> int:
        return self.counts[0]

    def due_by(self, day: int) -> int:
        """What `plan --as-of` finds on `day`: the backlog and every day up to it."""
        return sum(self.counts[:day + 1])


@dataclass(frozen=True)
class Period:
    label: str
    first: int  # day indexes, inclusive
    last: int


@dataclass(frozen=True)
class Forecast:
    as_of: datetime
    days: int
    database: str
    policy_digest: str
    rules: tuple[RuleForecast, ...]

    def moment(self, day: int) -> datetime:
        return self.as_of + timedelta(days=day)

    def periods(self, by: str = "day") -> list[Period]:
        """Day 0 (the backlog), then each day or each 7 days (the last week may be shorter)."""
        found = [Period(f"due now ({self.as_of.date().isoformat()})", 0, 0)]
        step = 7 if by == "week" else 1
        for first in range(1, self.days + 1, step):
            last = min(first + step - 1, self.days)
            label = self.moment(first).date().isoformat()
            if last != first:
                label += f" – {self.moment(last).date().isoformat()}"
            found.append(Period(label, first, last))
        return found

    def table(self, by: str = "day") -> list[tuple[Period, dict[str, int]]]:
        """Per period, the rows due per rule."""
        return [(p, {r.rule_id: sum(r.counts[p.first:p.last + 1]) for r in self.rules})
                for p in self.periods(by)]

    def to_dict(self, by: str = "day") -> dict[str, Any]:
        rows = self.table(by)
        return {
            "as_of": self.as_of.isoformat(), "days": self.days, "by": by,
            "database": self.database, "policy_digest": self.policy_digest,
            "periods": [{
                "label": p.label, "first_day": p.first, "last_day": p.last,
                "from": self.moment(p.first).isoformat(), "to": self.moment(p.last).isoformat(),
                "total": sum(per.values()), "rules": per,
            } for p, per in rows],
            "rules": [{
                "rule_id": r.rule_id, "category": r.category, "table": r.table,
                "action": r.action, "expiry": r.expiry, "backlog": r.backlog,
                "total": sum(r.counts),
            } for r in self.rules],
        }


def forecast(policies: Sequence[str | Path], database: str, *, days: int,
             as_of: datetime | None = None,
             rule_ids: Sequence[str] | None = None) -> Forecast:
    """Rows due per rule at `as_of` and newly due on each of the next `days` days.
    Read-only, like `plan`."""
    if not 1 <= days <= MAX_DAYS:
        raise UsageError(f"--days must be 1 to {MAX_DAYS}, not {days}")
    policy = load_policy(policies)
    now = datetime.now(UTC) if as_of is None else (
        as_of.replace(tzinfo=UTC) if as_of.tzinfo is None else as_of.astimezone(UTC))
    engine = create_engine(database, read_only=True)
    connect_check(engine)
    try:
        catalog = Catalog(engine)
        rules = [policy.rule(r) for r in rule_ids] if rule_ids else list(policy.rules)
        check_schema(policy, catalog, [r.id for r in rules])
        with engine.connect() as conn:
            results = tuple(_rule_forecast(conn, rule, catalog, now, days,
                                           policy.financial_year) for rule in rules)
            conn.rollback()
        return Forecast(now, days, safe_url(engine.url), policy.digest, results)
    except OperationalError as err:
        raise DatabaseUnavailable(
            f"database error during forecast: {driver_reason(err)}") from None
    finally:
        engine.dispose()


def _rule_forecast(conn: Connection, rule: Rule, catalog: Catalog, now: datetime, days: int,
                   financial_year: tuple[int, int]) -> RuleForecast:
    counts = [0] * (days + 1)
    action = "delete" if rule.action == "delete" else "anonymise"
    result = RuleForecast(rule.id, rule.category, rule.table, action, describe_expiry(rule),
                          ())
    if rule.expires is None:  # due as soon as the filter matches: all of it now
        counts[0] = due_rows(conn, compile_rule(rule, catalog, now, financial_year))
        return replace(result, counts=tuple(counts))
    expires = rule.expires
    cutoffs: list[Cutoff] = []
    for d in range(days + 1):
        cutoff = rule_cutoff(rule, now + timedelta(days=d), financial_year)
        assert cutoff is not None  # the rule expires
        cutoffs.append(cutoff)
    # days whose cutoff moved: on the others nothing new becomes due (a financial year's
    # cutoff moves once a year, a month's stands still on the 29th-31st of some months)
    moved = [d for d in range(days + 1) if d == 0 or cutoffs[d] != cutoffs[d - 1]]
    base = compile_rule(rule.model_copy(update={"expires": None}), catalog, now,
                        financial_year)
    root = base.root
    column = root.table.c[expires.from_]
    due = {d: _due(expires, column, cutoffs[d], catalog.dialect) for d in moved}
    if root.exact:
        day = sa.case(*((due[d], sa.literal_column(str(d))) for d in moved))
        inner = sa.select(day.label("day")).select_from(root.table).where(due[moved[-1]])
        if root.where is not None:
            inner = inner.where(root.where)
        buckets = inner.subquery()
        for bucket, rows in conn.execute(sa.select(buckets.c.day, sa.func.count())
                                         .group_by(buckets.c.day)):
            counts[int(bucket)] = int(rows)
    else:
        previous: sa.ColumnElement[bool] | None = None
        for d in moved:
            window = due[d] if previous is None else sa.and_(due[d], sa.not_(previous))
            parts = [p for p in (root.where, window) if p is not None]
            node = replace(root, where=sa.and_(*parts))
            counts[d] = due_rows(conn, CompiledRule(rule, cutoffs[d], node))
            previous = due[d]
    return replace(result, counts=tuple(counts))


def _due(expiry: Expiry, column: sa.Column[Any], cutoff: Cutoff,
         dialect: str) -> sa.ColumnElement[bool]:
    """`column <= cutoff` (`<` when strict) as a run compares it, with its own parameter:
    several cutoffs share one statement here."""
    value = cutoff_value(expiry, column, cutoff, dialect)
    if not isinstance(value, sa.BindParameter):
        value = sa.bindparam(None, value, type_=column.type)
    return column < value if cutoff.strict else column <= value
