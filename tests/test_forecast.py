"""`retention forecast`: day by day, the rows each rule will find due equal what `plan --as-of`
finds on that day, around a month end and a financial-year start, with filters, links, epoch
clocks, already anonymised rows and Python-judged strategies; day 0 is today's plan."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from retention import api
from retention.demo import build_demo_database
from retention.durations import add_months
from retention.forecast import Forecast, forecast
from tests.conftest import CATEGORY_YAML, Database
from tests.conftest import run_cli as retention

pytestmark = pytest.mark.usefixtures("cli_env")

# 2026-02-24 13:30 UTC + 10 days crosses the end of February and, with a financial year
# starting 1 March, a financial-year boundary.
START = datetime(2026, 2, 24, 13, 30, tzinfo=UTC)
DAYS = 10

POLICY = """
settings:
  financial_year_start: "03-01"
""" + CATEGORY_YAML + """
rules:
  - id: monthly-visits
    category: history
    table: visits
    where:
      any:
        - {column: customer_id, op: is null}
        - exists: {table: customers, on: {id: customer_id}}
    expires: {after: 1 month, from: created_at}
    action: delete
  - id: gone-customers-visits
    category: history
    table: visits
    where:
      - {column: customer_id, op: ">", value: 0}
      - not_exists: {table: customers, on: {id: customer_id}}
    action: delete
  - id: books
    category: history
    table: orders
    where:
      not_exists: {table: complaints, on: {order_id: id}, where: {column: open, op: "=", value: 1}}
    expires: {after: 1 year, from: created_at, counted_from: financial_year_end}
    action: delete
  - id: guest-emails
    category: history
    table: orders
    where: {column: is_guest, op: "=", value: 1}
    expires: {after: 10 days, from: created_at}
    action: {anonymise: {email: {strategy: fixed, value: gone}}}
  - id: events
    category: history
    table: events
    expires: {after: 2 weeks, from: happened_at, epoch: seconds}
    action: delete
  - id: masked-ips
    category: history
    table: logins
    expires: {after: 20 days, from: day}
    action: {anonymise: {ip: {strategy: mask, keep_first: 3}}}
"""


def make_tables(db: Database) -> dict[str, list[datetime | None]]:
    """Rows spread over the weeks whose cutoffs the next ten days pass; returns the visits'
    clocks for an independent count."""
    meta = sa.MetaData()
    pk = {"primary_key": True, "autoincrement": False}
    customers = sa.Table("customers", meta, sa.Column("id", sa.Integer, **pk))
    visits = sa.Table("visits", meta, sa.Column("id", sa.Integer, **pk),
                      sa.Column("customer_id", sa.Integer), sa.Column("created_at", sa.DateTime))
    orders = sa.Table("orders", meta, sa.Column("id", sa.Integer, **pk),
                      sa.Column("is_guest", sa.SmallInteger, nullable=False),
                      sa.Column("email", sa.String(64)),
                      sa.Column("created_at", sa.DateTime, nullable=False))
    complaints = sa.Table("complaints", meta, sa.Column("id", sa.Integer, **pk),
                          sa.Column("order_id", sa.Integer, nullable=False),
                          sa.Column("open", sa.SmallInteger, nullable=False))
    events = sa.Table("events", meta, sa.Column("id", sa.Integer, **pk),
                      sa.Column("happened_at", sa.BigInteger, nullable=False))
    logins = sa.Table("logins", meta, sa.Column("id", sa.Integer, **pk),
                      sa.Column("day", sa.Date, nullable=False), sa.Column("ip", sa.String(45)))
    db.create(meta)
    db.insert(customers, [{"id": i} for i in range(1, 6)])
    clocks: list[datetime | None] = []
    moment = datetime(2026, 1, 10, 1, 0)
    rows = []
    for i in range(1, 130):  # every 7 hours from 10 January to 16 February
        clock = None if i % 17 == 0 else moment
        rows.append({"id": i, "customer_id": [None, 1, 2, 9, 3][i % 5], "created_at": clock})
        clocks.append(clock if i % 5 != 3 else None)  # customer 9 does not exist
        moment += timedelta(hours=7)
    for i, clock in ((200, datetime(2026, 1, 27, 13, 30)), (201, datetime(2026, 2, 1, 13, 30))):
        rows.append({"id": i, "customer_id": None, "created_at": clock})  # exactly a cutoff
        clocks.append(clock)
    db.insert(visits, rows)
    orders_rows = []
    moment = datetime(2024, 1, 5, 12, 0)
    for i in range(1, 90):  # about every 6 days from January 2024 to mid-2025
        orders_rows.append({"id": i, "is_guest": int(i % 3 != 0), "email": f"o{i}@example.com",
                            "created_at": moment})
        moment += timedelta(days=6, hours=5)
    moment = datetime(2026, 2, 1, 0, 0)
    for i in range(90, 150):  # every 13 hours in February 2026; some already anonymised
        orders_rows.append({"id": i, "is_guest": int(i % 4 != 0),
                            "email": "gone" if i % 7 == 0 else f"o{i}@example.com",
                            "created_at": moment})
        moment += timedelta(hours=13)
    db.insert(orders, orders_rows)
    db.insert(complaints, [{"id": i, "order_id": i * 5, "open": i % 2} for i in range(1, 20)])
    base = int(datetime(2026, 2, 1, tzinfo=UTC).timestamp())
    db.insert(events, [{"id": i, "happened_at": base + i * 5 * 3600} for i in range(1, 130)])
    db.insert(logins, [{"id": i, "day": date(2026, 1, 25) + timedelta(days=i // 3),
                        "ip": "192*********" if i % 4 == 0 else f"192.0.2.{i}"}
                       for i in range(1, 85)])
    return {"visits": clocks}


def assert_matches_plan(result: Forecast, policies: list[str], url: str) -> None:
    for day in range(DAYS + 1):
        plan = api.plan(policies, url, as_of=result.moment(day))
        assert [(r.rule_id, r.rows) for r in plan.rules] == [
            (r.rule_id, r.due_by(day)) for r in result.rules], f"day {day}"


def test_each_day_equals_the_plan_of_that_day(db: Database, write_policy) -> None:  # type: ignore[no-untyped-def]
    """Day 0 plus days 1..d is what `plan --as-of` finds on day d, for every rule."""
    make_tables(db)
    policies = [str(write_policy(POLICY))]
    result = forecast(policies, db.url, days=DAYS, as_of=START)
    assert_matches_plan(result, policies, db.url)
    counts = {r.rule_id: r.counts for r in result.rules}
    # the test is not empty: every timed rule has rows becoming due on some later day
    assert all(sum(c[1:]) for rule, c in counts.items() if rule != "gone-customers-visits")
    assert counts["gone-customers-visits"][0] > 0 and not any(
        counts["gone-customers-visits"][1:])
    # a financial year's cutoff moves once: on 1 March, day 5
    assert [d for d, n in enumerate(counts["books"]) if n and d] == [5]


def test_a_month_end_as_an_independent_count(db: Database, write_policy) -> None:  # type: ignore[no-untyped-def]
    """1 month back from 28 February is 28 January, from 1 March it is 1 February: day 5
    takes four days of visits at once; counted here from the inserted clocks."""
    clocks = make_tables(db)["visits"]
    result = forecast([str(write_policy(POLICY))], db.url, days=DAYS, as_of=START)
    naive = START.replace(tzinfo=None)
    cutoffs = [add_months(naive + timedelta(days=d), -1) for d in range(DAYS + 1)]
    expected = [sum(1 for c in clocks if c is not None and c <= cutoffs[0])]
    expected += [sum(1 for c in clocks if c is not None and cutoffs[d - 1] < c <= cutoffs[d])
                 for d in range(1, DAYS + 1)]
    monthly = next(r for r in result.rules if r.rule_id == "monthly-visits")
    assert list(monthly.counts) == expected
    assert expected[5] > 2 * max(expected[1:5])


def test_day_zero_is_the_plan_of_today(db: Database, write_policy) -> None:  # type: ignore[no-untyped-def]
    """Without --as-of the forecast starts now, and its day 0 is today's plan."""
    make_tables(db)
    policies = [str(write_policy(POLICY))]
    with freeze_time(START):
        result = forecast(policies, db.url, days=3)
        plan = api.plan(policies, db.url)
    assert result.as_of == START
    assert [r.backlog for r in result.rules] == [r.rows for r in plan.rules]


def test_weeks_add_up_the_days(db: Database, write_policy) -> None:  # type: ignore[no-untyped-def]
    """By week: the backlog, then seven days at a time, the last period shorter."""
    make_tables(db)
    result = forecast([str(write_policy(POLICY))], db.url, days=DAYS, as_of=START)
    weeks = result.table("week")
    assert [(p.first, p.last) for p, _ in weeks] == [(0, 0), (1, 7), (8, 10)]
    assert weeks[1][0].label == "2026-02-25 – 2026-03-03"
    for rule in result.rules:
        assert [per[rule.rule_id] for _p, per in weeks] == [
            rule.counts[0], sum(rule.counts[1:8]), sum(rule.counts[8:])]


def test_the_demo_shop_day_by_day(tmp_path: Path) -> None:
    """The shipped policies on the demo shop, across the end of March."""
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    build_demo_database(url, customers=150, seed=3, as_of=datetime(2026, 3, 31))
    policies = [str(Path(__file__).resolve().parent.parent / "policies")]
    result = forecast(policies, url, days=DAYS, as_of=datetime(2026, 3, 25, 3, tzinfo=UTC))
    assert_matches_plan(result, policies, url)
    assert sum(sum(r.counts[1:]) for r in result.rules) > 0


# --------------------------------------------------------------------------- the command


def test_command_formats(db: Database, write_policy, tmp_path: Path,  # type: ignore[no-untyped-def]
                         capsys: pytest.CaptureFixture[str]) -> None:
    """JSON on stdout alone; one static HTML file with an SVG chart and no script."""
    make_tables(db)
    before = db.snapshot()
    args = ["forecast", "-p", str(write_policy(POLICY)), "-d", db.url, "--days", "10",
            "--as-of", "2026-02-24T13:30:00Z"]
    assert retention(*args, "--format", "json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["as_of"] == "2026-02-24T13:30:00+00:00" and len(data["periods"]) == 11
    assert data["periods"][5]["label"] == "2026-03-01"
    assert data["periods"][5]["rules"]["books"] > 0
    page = tmp_path / "forecast.html"
    assert retention(*args, "--by", "week", "--format", "html", "--output", str(page)) == 0
    assert capsys.readouterr().out == ""
    html = page.read_text(encoding="utf-8")
    assert "<svg" in html and "<script" not in html and "http://" not in html.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    assert "2026-02-25 – 2026-03-03" in html
    assert retention(*args) == 0
    out = capsys.readouterr().out
    assert "due now (2026-02-24)" in out and "2026-03-01" in out
    assert db.snapshot() == before  # read-only


@pytest.mark.parametrize("days", ["0", "1831", "x"])
def test_bad_days_exit_2(days: str, capsys: pytest.CaptureFixture[str]) -> None:
    """--days outside 1..1830 is a usage error naming the option."""
    assert retention("forecast", "-d", "sqlite:///nowhere.db", "--days", days) == 2
    assert "--days" in capsys.readouterr().err
