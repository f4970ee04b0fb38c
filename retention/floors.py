"""Legal floors: periods the law requires records to be kept, and the proof that no rule
deletes such records sooner.

A category's `legal_floor` protects the target tables of the category's own rules and the
tables it lists under `tables`, against every rule of every category. A rule may delete rows
of a protected table only

- as its own target, with an expiry that can never come before the floor: the same clock
  column when the floor names one (`from`), and a period that is at least the floor's for
  every possible timestamp (`outlasts`);
- never as a `related` entry, nor through an ON DELETE CASCADE of the database, because such
  rows would be counted from another row's clock. The one exception is a cascade that the
  rule's own filter proves empty: a top-level `not_exists` on the protected table through the
  foreign key's columns ("orders that have no invoice left"). The protected rows then go by a
  rule of their own, counted from their own date, and their parent follows on a later run.

`floor_problems` checks what the policy files say; `cascade_floor_problems` adds the cascades,
which only the reflected schema knows (`retention validate --database`, and every plan/run).
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING

from .durations import Duration, add_months, financial_year_start
from .errors import Issue
from .model import AllCondition, Condition, Expiry, LegalFloor, NotExistsCondition, Related, Rule

if TYPE_CHECKING:  # policy.py runs these checks while loading: no import cycle at run time
    from .database import Catalog, ForeignKey
    from .policy import Policy

_DAY = 86_400
_MAX_FINANCIAL_YEAR = 366 * _DAY  # the longest time from a timestamp to its year's end

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Floor:
    """A legal floor as it applies to one table."""

    category: str
    floor: LegalFloor

    def describe(self) -> str:
        f = self.floor
        count = ("after the end of the financial year of" if f.counted_from == "financial_year_end"
                 else "after")
        return f"{f.after} {count} {f.from_ or 'the clock'} ({f.law})"


def protected_tables(policy: Policy) -> dict[str, list[Floor]]:
    """Per table, the floors that protect it: a floored category's listed tables and the
    target tables of its rules."""
    found: dict[str, list[Floor]] = {}
    for category in policy.categories.values():
        if category.legal_floor is None:
            continue
        tables = {*category.legal_floor.tables,
                  *(r.table for r in policy.rules if r.category == category.id)}
        for table in sorted(tables):
            found.setdefault(table, []).append(Floor(category.id, category.legal_floor))
    return found


def floor_release(moment: datetime, floor: LegalFloor,
                  financial_year: tuple[int, int]) -> datetime:
    """The earliest moment (UTC) at which a row whose clock reads `moment` may be deleted."""
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    start = moment
    if floor.counted_from == "financial_year_end":
        start = add_months(financial_year_start(moment, *financial_year), 12)
    return floor.after.after(start)


# --------------------------------------------------------------------------- periods


def outlasts(rule: Expiry, floor: LegalFloor) -> bool:
    """Whether a row that `rule` makes due is always past `floor`, whatever its timestamp and
    the day the rule runs: sound (never True wrongly), exact for the usual calendar periods.

    Exact when the rule's months and fixed part each reach the floor's (same counting), or
    when a timestamp-counted rule has twelve months more than a financial-year floor given in
    whole months (the year's end lies at most twelve months after the timestamp). Otherwise
    it compares the shortest the rule's period can be with the longest the floor's can be,
    plus the longest a financial year can add.
    """
    r_months, r_fixed = _split(rule.after)
    f_months, f_fixed = _split(floor.after)
    rule_fy = rule.counted_from == "financial_year_end"
    floor_fy = floor.counted_from == "financial_year_end"
    if rule_fy or not floor_fy:  # the rule counts from a point no earlier than the floor's
        if r_months >= f_months and r_fixed >= f_fixed:
            return True
        slack = 0
    else:
        if f_fixed == 0 and r_months >= f_months + 12:
            return True
        slack = _MAX_FINANCIAL_YEAR
    shortest = _month_gap(r_months)[0] * _DAY + r_fixed
    longest = _month_gap(f_months)[1] * _DAY + f_fixed
    return shortest >= longest + slack


def _split(period: Duration) -> tuple[int, int]:
    """Calendar months, and the fixed part in seconds."""
    fixed = period.days * _DAY + period.hours * 3600 + period.minutes * 60
    return period.years * 12 + period.months, fixed


@lru_cache(maxsize=64)
def _month_gap(months: int) -> tuple[int, int]:
    """The fewest and most days between a moment and the same moment `months` calendar
    months earlier (the day clamped to the earlier month's length), over the 400-year cycle
    of the Gregorian calendar, which contains every case."""
    if months == 0:
        return 0, 0
    low, high = None, 0
    for index in range(2000 * 12, 2400 * 12):
        year, month = divmod(index, 12)
        back_year, back_month = divmod(index - months, 12)
        span = (datetime(year, month + 1, 1) - datetime(back_year, back_month + 1, 1)).days
        longer = calendar.monthrange(year, month + 1)[1] - \
            calendar.monthrange(back_year, back_month + 1)[1]
        low = span if low is None else min(low, span)
        high = max(high, span + max(0, longer))
    assert low is not None
    return low, high


# --------------------------------------------------------------------------- rules


def floor_problems(policy: Policy) -> list[Issue]:
    """Rules that delete protected rows as their target too early, or as related rows."""
    protected = protected_tables(policy)
    issues: list[Issue] = []
    for rule in policy.rules:
        for path, message in _rule_problems(rule, protected):
            issues.append(policy.issue(rule.id, path, message))
    return issues


def _rule_problems(rule: Rule, protected: dict[str, list[Floor]]) -> Iterator[tuple[Path, str]]:
    if rule.action == "delete":
        for floor in protected.get(rule.table, ()):
            problem = _expiry_problem(rule, floor)
            if problem is not None:
                yield problem
    yield from _related_problems(rule.related, rule.table, protected, ())


def _expiry_problem(rule: Rule, floor: Floor) -> tuple[Path, str] | None:
    """Why the rule's delete of its target can come before the floor, or None."""
    head = f"deletes {rule.table} rows"
    floor_text = f"the legal floor of category {floor.category!r}: {floor.describe()}"
    expires = rule.expires
    if expires is None:
        return ("action",), f"{head} as soon as the filter matches, before {floor_text}; add " \
                            "an expiry of at least the floor"
    if floor.floor.from_ is not None and expires.from_ != floor.floor.from_:
        return ("expires", "from"), f"{head} counted from {expires.from_!r}, but {floor_text} " \
                                    f"counts from {floor.floor.from_!r}"
    if not outlasts(expires, floor.floor):
        counted = "after the end of the financial year of" \
            if expires.counted_from == "financial_year_end" else "after"
        return ("expires", "after"), (
            f"{head} {expires.after} {counted} {expires.from_}, before {floor_text}; delete no "
            "sooner (anonymise earlier instead)")
    return None


def _related_problems(related: list[Related], parent: str, protected: dict[str, list[Floor]],
                      path: Path) -> Iterator[tuple[Path, str]]:
    for i, rel in enumerate(related):
        here = (*path, "related", i)
        if rel.action == "delete" and rel.table in protected:
            floor = protected[rel.table][0]
            yield (*here, "action"), (
                f"deletes {rel.table} rows with their {parent} row, but the legal floor of "
                f"category {floor.category!r} keeps them for {floor.describe()} from their own "
                f"date; delete {rel.table} in a rule of its own")
        yield from _related_problems(rel.related, rel.table, protected, here)


# --------------------------------------------------------------------------- cascades


def cascade_floor_problems(policy: Policy, catalog: Catalog,
                           rule_ids: list[str] | None = None) -> list[Issue]:
    """Rules whose deletes make the database cascade into protected tables."""
    protected = protected_tables(policy)
    if not protected:
        return []
    issues: list[Issue] = []
    for rule in policy.rules:
        if rule_ids is not None and rule.id not in rule_ids:
            continue
        reported: set[tuple[Path, str]] = set()
        for path, table, is_related in _deleted_tables(rule):
            for fk, child in _cascade_chains(table, catalog):
                if child not in protected or (path, child) in reported:
                    continue
                if not is_related and _proves_empty(rule.where, fk):
                    continue  # the rule keeps every parent that still has such rows
                reported.add((path, child))
                floor = protected[child][0]
                via = "" if fk.table == child else f" through {fk.table}"
                issues.append(policy.issue(rule.id, (*path, "action"), (
                    f"deleting {table} cascades to {child}{via} (ON DELETE CASCADE), which "
                    f"the legal floor of category {floor.category!r} keeps for "
                    f"{floor.describe()}; delete {child} in a rule of its own and keep the "
                    f"{table} rows that still have some: add not_exists: {{table: {fk.table}, "
                    f"on: {_on_text(fk)}}} to the rule's where")))
    return issues


def _on_text(fk: ForeignKey) -> str:
    pairs = ", ".join(f"{c}: {r}" for c, r in zip(fk.columns, fk.referred_columns, strict=True))
    return "{" + pairs + "}"


def _deleted_tables(rule: Rule) -> Iterator[tuple[Path, str, bool]]:
    """Tables the rule deletes rows of: (path of the entry, table, whether it is a related
    entry rather than the target)."""
    if rule.action == "delete":
        yield (), rule.table, False
    yield from _deleted_related(rule.related, ())


def _deleted_related(related: list[Related], path: Path) -> Iterator[tuple[Path, str, bool]]:
    for i, rel in enumerate(related):
        here = (*path, "related", i)
        if rel.action == "delete":
            yield here, rel.table, True
        yield from _deleted_related(rel.related, here)


def _cascade_chains(table: str, catalog: Catalog) -> Iterator[tuple[ForeignKey, str]]:
    """(first foreign key from `table`, table reached) for every table an ON DELETE CASCADE
    from `table` reaches, each once per first key (a walk, not every path)."""
    for first in catalog.referencing(table):
        if first.ondelete != "CASCADE" or first.table == table:
            continue
        seen = {table, first.table}
        todo = [first.table]
        yield first, first.table
        while todo:
            for fk in catalog.referencing(todo.pop()):
                if fk.ondelete == "CASCADE" and fk.table not in seen:
                    seen.add(fk.table)
                    todo.append(fk.table)
                    yield first, fk.table


def _proves_empty(where: Condition | None, fk: ForeignKey) -> bool:
    """Whether the rule's filter requires `not_exists` rows of the foreign key's table linked
    by exactly its columns, without a filter of its own: then the cascade deletes nothing."""
    items = where.all if isinstance(where, AllCondition) else [where] if where else []
    wanted = dict(zip(fk.columns, fk.referred_columns, strict=True))
    return any(isinstance(c, NotExistsCondition) and c.not_exists.table == fk.table
               and c.not_exists.where is None and dict(c.not_exists.on) == wanted
               for c in items)
