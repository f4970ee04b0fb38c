"""Legal floors: a rule may never delete protected records before the period the law sets, and
`validate` says where and why, as one line per rule, before anything runs."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from retention import api
from retention.cli import main
from retention.durations import Cutoff, compute_cutoff, parse_duration
from retention.errors import PolicyError
from retention.floors import Floor, floor_release, outlasts, protected_tables
from retention.model import Expiry, LegalFloor
from tests.conftest import Database, order_schema

WritePolicy = Callable[..., Path]

FY_END = "financial_year_end"


def expiry(after: str, counted_from: str = "timestamp", clock: str = "created_at") -> Expiry:
    return Expiry.model_validate({"after": after, "from": clock, "counted_from": counted_from})


def floor(after: str, counted_from: str = "timestamp", **extra: object) -> LegalFloor:
    return LegalFloor.model_validate({"after": after, "counted_from": counted_from,
                                      "law": "Bookkeeping Act § 13", **extra})


# --------------------------------------------------------------------------- periods


@pytest.mark.parametrize(("after", "counted_from", "ok"), [
    ("5 years", FY_END, True),             # the floor itself
    ("60 months", FY_END, True),
    ("5 years 1 day", FY_END, True),
    ("4 years 11 months", FY_END, False),
    ("59 months 30 days", FY_END, False),  # 30 days can be shorter than the month it replaces
    ("3 years", "timestamp", False),
    ("5 years", "timestamp", False),       # a December row: its year ends days later
    ("5 years 11 months", "timestamp", False),
    ("6 years", "timestamp", True),        # the year's end is at most 12 months away
    ("2192 days", "timestamp", False),     # conservative: exact would accept (see outlasts)
    ("2193 days", "timestamp", True),      # 1827 days (5 years, two leap days) + 366
])
def test_rule_periods_against_a_financial_year_floor(after: str, counted_from: str,
                                                     ok: bool) -> None:
    """A floor of 5 years after the end of the financial year: 6 years from the timestamp
    always reach it, 5 years from the timestamp do not (a 31 December order)."""
    assert outlasts(expiry(after, counted_from), floor("5 years", FY_END)) is ok


@pytest.mark.parametrize(("after", "counted_from", "ok"), [
    ("5 years", "timestamp", True),
    ("4 years 12 months", "timestamp", True),
    ("1827 days", "timestamp", True),    # the longest 5 calendar years: 2024-01-01..2029-01-01
    ("1826 days", "timestamp", False),
    ("5 years", FY_END, True),           # counting from the year's end only adds time
    ("4 years", FY_END, False),          # a row of 31 December waits days, not a year
])
def test_rule_periods_against_a_timestamp_floor(after: str, counted_from: str, ok: bool) -> None:
    assert outlasts(expiry(after, counted_from), floor("5 years")) is ok


@pytest.mark.parametrize(("after", "ok"), [
    ("3 months", False),          # February to April: 89 days
    ("3 months 1 day", True),
    ("90 days", True),
    ("89 days 23 hours", False),
])
def test_calendar_months_against_a_floor_in_days(after: str, ok: bool) -> None:
    assert outlasts(expiry(after), floor("90 days")) is ok


@pytest.mark.parametrize("financial_year", [(1, 1), (7, 1)])
def test_outlasts_never_lets_a_rule_delete_a_row_the_floor_still_holds(
        financial_year: tuple[int, int]) -> None:
    """Checked against the cutoffs the sweeper really computes: for every accepted pair, on
    many run days, the latest row the rule makes due is one the floor has released."""
    rng = random.Random(5)
    periods = ["1 year", "3 years", "5 years", "6 years", "59 months", "61 months", "71 months",
               "72 months", "1826 days", "1827 days", "2193 days", "5 years 1 day", "90 days",
               "3 months", "4 years 12 months"]
    accepted = 0
    for rule_after in periods:
        for floor_after in ("5 years", "90 days", "3 months"):
            for rule_fy in (False, True):
                for floor_fy in (False, True):
                    rule = expiry(rule_after, FY_END if rule_fy else "timestamp")
                    law = floor(floor_after, FY_END if floor_fy else "timestamp")
                    if not outlasts(rule, law):
                        continue
                    accepted += 1
                    for _ in range(150):
                        now = datetime(2030, 1, 1, tzinfo=UTC) + timedelta(
                            seconds=rng.randrange(0, 3 * 366 * 86400))
                        latest = _latest_due(compute_cutoff(
                            now, rule.after, financial_year=financial_year if rule_fy else None))
                        held = compute_cutoff(now, law.after,
                                              financial_year=financial_year if floor_fy else None)
                        assert held.is_due(latest), (rule_after, rule_fy, floor_after, now)
    assert accepted > 20


def _latest_due(cutoff: Cutoff) -> datetime:
    return cutoff.moment - timedelta(microseconds=1) if cutoff.strict else cutoff.moment


def test_floor_release_is_the_first_moment_the_floor_lets_a_row_go() -> None:
    law = floor("5 years", FY_END)
    released = floor_release(datetime(2020, 6, 15, 12, 0), law, (1, 1))
    assert released == datetime(2026, 1, 1, tzinfo=UTC)
    row = datetime(2020, 6, 15, 12, 0, tzinfo=UTC)
    assert compute_cutoff(released, law.after, financial_year=(1, 1)).is_due(row)
    assert not compute_cutoff(released - timedelta(seconds=1), law.after,
                              financial_year=(1, 1)).is_due(row)
    assert floor_release(datetime(2020, 6, 15), floor("90 days"), (1, 1)) == \
        datetime(2020, 9, 13, tzinfo=UTC)
    assert parse_duration("5 years") == law.after


# --------------------------------------------------------------------------- policies

CATEGORIES = """
categories:
  - id: books
    title: Sales documentation
    legal_basis: Bookkeeping Act
    policy_clause: as long as necessary
    legal_floor:
      after: 5 years
      counted_from: financial_year_end
      from: created_at
      tables: [invoices]
      law: Bookkeeping Act § 13
  - id: history
    title: Purchase history
    legal_basis: Consumer Purchases Act
    policy_clause: we store purchase history for 3 years
"""


def rule(rule_id: str, category: str, table: str, expires: str | None,
         action: str = "delete", related: str = "") -> str:
    lines = [f"  - id: {rule_id}", f"    category: {category}", f"    table: {table}"]
    if expires:
        lines.append(f"    expires: {expires}")
    lines.append(f"    action: {action}")
    if related:
        lines.append(f"    related: {related}")
    return "\n".join(lines) + "\n"


def issues_of(write_policy, text: str) -> list[str]:
    directory = write_policy(CATEGORIES + "rules:\n" + text)
    with pytest.raises(PolicyError) as err:
        api.validate([directory])
    return [str(i) for i in err.value.issues]


def test_a_delete_before_the_floor_is_one_error_at_its_period(write_policy: WritePolicy,
                                                              tmp_path: Path) -> None:
    found = issues_of(write_policy, rule(
        "orders-early", "books", "orders",
        "{after: 3 years, from: created_at, counted_from: financial_year_end}"))
    assert len(found) == 1
    text = (CATEGORIES + "rules:\n").lstrip()
    line = text.count("\n") + 4  # the rule's fourth line: expires
    assert found[0].startswith(f"{tmp_path / 'policies' / 'policy.yaml'}:{line}:")
    assert "rules.orders-early.expires.after: deletes orders rows 3 years after the end of the " \
           "financial year of created_at, before the legal floor of category 'books': 5 years " \
           "after the end of the financial year of created_at (Bookkeeping Act § 13)" in found[0]


@pytest.mark.parametrize(("expires", "where"), [
    (None, "action: deletes invoices rows as soon as the filter matches"),
    ("{after: 6 years, from: issued_at}", "expires.from: deletes invoices rows counted from "
                                          "'issued_at', but the legal floor"),
    ("{after: 5 years, from: created_at}", "expires.after: deletes invoices rows 5 years after "
                                           "created_at"),
])
def test_a_listed_table_is_protected_from_every_category(
        write_policy: WritePolicy, expires: str | None, where: str) -> None:
    """`tables` extends the floor to rules of other categories: a purchase-history rule may
    not delete invoices early either."""
    found = issues_of(write_policy, rule("invoices-gone", "history", "invoices", expires))
    assert len(found) == 1 and f"rules.invoices-gone.{where}" in found[0], found


def test_a_related_delete_of_a_protected_table_is_refused(write_policy: WritePolicy) -> None:
    found = issues_of(write_policy, rule(
        "orders", "history", "orders", "{after: 6 years, from: created_at}",
        related="[{table: invoices, on: {order_id: id}, action: delete}]"))
    assert len(found) == 1
    assert "rules.orders.related[0].action: deletes invoices rows with their orders row" in found[0]
    assert "delete invoices in a rule of its own" in found[0]


def test_rules_that_respect_the_floor_pass(write_policy: WritePolicy) -> None:
    """Anonymising earlier is fine; deleting at the floor or later is fine; tables the floor
    does not protect are free; and the category's own targets are protected by default."""
    text = (rule("anonymise-early", "history", "invoices", "{after: 3 years, from: created_at}",
                 action="{anonymise: {email: null}}")
            + rule("at-the-floor", "books", "invoices",
                   "{after: 5 years, from: created_at, counted_from: financial_year_end}")
            + rule("six-years", "books", "orders", "{after: 6 years, from: created_at}")
            + rule("visits", "history", "visits", "{after: 30 days, from: created_at}"))
    policy = api.validate([write_policy(CATEGORIES + "rules:\n" + text)])
    protected = protected_tables(policy)
    assert set(protected) == {"invoices", "orders"}
    books = policy.categories["books"].legal_floor
    assert books is not None and protected["orders"] == [Floor("books", books)]


def test_validate_reports_the_floor_as_one_line_and_exit_3(
        write_policy: WritePolicy, capsys: pytest.CaptureFixture[str]) -> None:
    directory = write_policy(CATEGORIES + "rules:\n" + rule(
        "orders-early", "books", "orders", "{after: 3 years, from: created_at}"))
    assert exit_code("validate", str(directory)) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len([line for line in err if "legal floor" in line]) == 1
    assert "Traceback" not in "\n".join(err)


# --------------------------------------------------------------------------- cascades

CASCADE_POLICY = CATEGORIES + """
rules:
  - id: orders-after-bookkeeping
    category: books
    table: orders
    where:
      - {column: is_guest, op: "=", value: 1}
WHERE
    expires: {after: 5 years, from: created_at, counted_from: financial_year_end}
    action: delete
"""


@pytest.mark.parametrize(("guard", "ok"), [
    ("", False),
    ("      - not_exists: {table: invoices, on: {order_id: id}}", True),
    # a guard with its own filter leaves some invoices to the cascade
    ("      - not_exists: {table: invoices, on: {order_id: id}, where: {column: id, op: '>', "
     "value: 5}}", False),
    ("      - not_exists: {table: invoices, on: {id: id}}", False),  # not the foreign key
])
def test_a_cascade_into_a_protected_table_needs_a_guard(
        db: Database, write_policy: WritePolicy, guard: str, ok: bool) -> None:
    """orders -> invoices is ON DELETE CASCADE: deleting an order would delete its invoices,
    counted from the order's date. Only a top-level not_exists on invoices through the foreign
    key's columns, without a filter, proves the cascade empty."""
    meta, _ = order_schema()
    db.create(meta)
    directory = write_policy(CASCADE_POLICY.replace("WHERE", guard) if guard
                             else CASCADE_POLICY.replace("WHERE\n", ""))
    api.validate([directory])  # the files alone cannot know the cascade
    if ok:
        api.validate([directory], db.url)
        return
    with pytest.raises(PolicyError) as err:
        api.validate([directory], db.url)
    (issue,) = err.value.issues
    assert "rules.orders-after-bookkeeping.action: deleting orders cascades to invoices (ON " \
           "DELETE CASCADE)" in str(issue)
    assert "add not_exists: {table: invoices, on: {order_id: id}}" in str(issue)


def test_the_guard_keeps_orders_with_invoices_through_a_run(
        db: Database, write_policy: WritePolicy, secret: str) -> None:
    """With the guard, a run deletes old orders without invoices and leaves the invoices and
    their orders alone."""
    meta, t = order_schema()
    db.create(meta)
    old = datetime(2019, 5, 1)
    db.insert(t["orders"], [{"id": i, "customer_id": None, "is_guest": 1, "created_at": old}
                            for i in (1, 2, 3)])
    db.insert(t["invoices"], [{"id": 10, "order_id": 2}])
    directory = write_policy(CASCADE_POLICY.replace(
        "WHERE", "      - not_exists: {table: invoices, on: {order_id: id}}"))
    with freeze_time(datetime(2026, 2, 1)):
        result = api.sweep([directory], db.url)
    assert result.status == "completed"
    assert [r[0] for r in db.rows("orders")] == [2]
    assert db.rows("invoices") == [(10, 2)]


def test_the_cli_checks_cascades_with_database(db: Database, write_policy: WritePolicy,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    meta, _ = order_schema()
    db.create(meta)
    directory = write_policy(CASCADE_POLICY.replace("WHERE\n", ""))
    assert exit_code("validate", str(directory), "--database", db.url) == 3
    err = capsys.readouterr().err.splitlines()
    assert "cascades to invoices" in err[0]
    assert err[1:] == ["1 problem(s) found; nothing was changed"]


def exit_code(*args: str) -> int:
    """Run the command line as a user does and return its exit status."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    assert isinstance(exit_info.value.code, int)
    return exit_info.value.code


def test_a_cascade_two_levels_down_is_found_and_named(db: Database,
                                                      write_policy: WritePolicy) -> None:
    """orders -> payments -> transactions, both ON DELETE CASCADE: protecting transactions
    protects them from deletes of orders too; a guard on the first step empties the chain."""
    meta = sa.MetaData()
    sa.Table("orders", meta, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("created_at", sa.DateTime))
    sa.Table("payments", meta, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("order_id", sa.Integer, sa.ForeignKey("orders.id", ondelete="CASCADE")))
    sa.Table("transactions", meta, sa.Column("id", sa.Integer, primary_key=True),
             sa.Column("payment_id", sa.Integer,
                       sa.ForeignKey("payments.id", ondelete="CASCADE")))
    db.create(meta)
    policy = CATEGORIES.replace("tables: [invoices]", "tables: [transactions]") + """
rules:
  - id: old-orders
    category: history
    table: orders
WHERE
    expires: {after: 6 years, from: created_at}
    action: delete
"""
    directory = write_policy(policy.replace("WHERE\n", ""))
    with pytest.raises(PolicyError) as err:
        api.validate([directory], db.url)
    (issue,) = err.value.issues
    assert "deleting orders cascades to transactions through payments" in issue.message
    assert "add not_exists: {table: payments, on: {order_id: id}}" in issue.message
    guarded = policy.replace("WHERE", "    where: [{not_exists: {table: payments, on: "
                                      "{order_id: id}}}]")
    api.validate([write_policy(guarded)], db.url)
