"""Cutoffs meet the database: a row exactly at the cutoff is due, one a second later is not,
whatever the column type, the backend or the host's time zone."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from retention import api
from tests.conftest import BACKENDS, CATEGORY_YAML, Database

SECOND = timedelta(seconds=1)
OSLO = ZoneInfo("Europe/Oslo")


@pytest.fixture(params=["UTC", "America/Los_Angeles"], ids=["host-utc", "host-los-angeles"])
def host_tz(request: pytest.FixtureRequest) -> Iterator[str]:
    """The host's local time zone (TZ), restored afterwards."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    try:
        yield request.param
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


def events_table(meta: sa.MetaData, name: str, column_type: Any) -> sa.Table:
    return sa.Table(
        name, meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("at", column_type, nullable=True),
    )


def rule(rule_id: str, table: str, expires: str) -> str:
    return f"""
  - id: {rule_id}
    category: history
    table: {table}
    expires: {expires}
    action: delete"""


def policy(*rules: str, settings: str = "") -> str:
    return CATEGORY_YAML + settings + "rules:" + "".join(rules) + "\n"


def sweep_at(db: Database, policies: Any, moment: datetime, *,
             check_plan: bool = True) -> dict[str, int]:
    """Sweep with the clock frozen at `moment` (UTC): rows deleted per table (checked against
    a plan at the same moment unless `check_plan` is off, to save time)."""
    with freeze_time(moment):
        planned = {r.table: r.rows for r in api.plan([policies], db.url).rules} \
            if check_plan else None
        result = api.sweep([policies], db.url)
    assert result.status == "completed"
    done = {r.table: r.rows for r in result.rules}
    assert planned is None or done == planned
    return done


def sweeper(db: Database, policies: Any) -> Callable[..., dict[str, int]]:
    """`at(2025, 3, 1)`: rows deleted by a sweep at that UTC moment; with `plan_only`, rows a
    plan finds due (cheaper where none are: the plan selects exactly as the run does)."""
    def at(*moment: int, plan_only: bool = False) -> dict[str, int]:
        if plan_only:
            with freeze_time(datetime(*moment)):
                return {r.table: r.rows for r in api.plan([policies], db.url).rules}
        return sweep_at(db, policies, datetime(*moment), check_plan=False)
    return at


def ids(db: Database, table: str) -> set[int]:
    return {r[0] for r in db.rows(table)}


# --------------------------------------------------------------------------- boundaries

NOW = datetime(2026, 7, 15, 12, 0, 0)  # UTC; Oslo is on summer time (UTC+2)
CUTOFF = datetime(2026, 6, 15, 12, 0, 0)  # NOW - 30 days, UTC
# id: offset from the cutoff (None: no timestamp)
OFFSETS: dict[int, timedelta | None] = {
    1: -SECOND,
    2: timedelta(0),
    3: SECOND,
    4: None,
    5: timedelta(days=-400),
    6: timedelta(days=20),
}
DUE = {1, 2, 5}
EXPIRES = "{after: 30 days, from: at}"


def test_a_row_at_the_cutoff_is_due_and_a_second_later_is_not(
        db: Database, write_policy, secret: str, host_tz: str) -> None:  # type: ignore[no-untyped-def]
    """DATETIME, Unix seconds and Oslo local time: due up to and including the cutoff second."""
    meta = sa.MetaData()
    naive = events_table(meta, "ev_datetime", sa.DateTime)
    epoch = events_table(meta, "ev_epoch", sa.BigInteger)
    oslo = events_table(meta, "ev_oslo", sa.DateTime)
    days = events_table(meta, "ev_date", sa.Date)
    db.create(meta)
    local_cutoff = CUTOFF.replace(tzinfo=UTC).astimezone(OSLO).replace(tzinfo=None)
    assert local_cutoff == datetime(2026, 6, 15, 14, 0, 0)
    rows = list(OFFSETS.items())
    db.insert(naive, [{"id": i, "at": None if o is None else CUTOFF + o} for i, o in rows])
    db.insert(epoch, [{"id": i, "at": None if o is None else
                       int((CUTOFF + o).replace(tzinfo=UTC).timestamp())} for i, o in rows])
    # 7: 13:00 in Oslo is 11:00 UTC, due; read as UTC it would not be
    db.insert(oslo, [{"id": i, "at": None if o is None else local_cutoff + o} for i, o in rows]
              + [{"id": 7, "at": datetime(2026, 6, 15, 13, 0, 0)}])
    # the cutoff 2026-06-15T12:00 is past the midnight of the 15th, not of the 16th
    db.insert(days, [{"id": 1, "at": date(2026, 6, 14)}, {"id": 2, "at": date(2026, 6, 15)},
                     {"id": 3, "at": date(2026, 6, 16)}, {"id": 4, "at": None}])
    policies = write_policy(policy(
        rule("naive", "ev_datetime", EXPIRES),
        rule("epoch", "ev_epoch", "{after: 30 days, from: at, epoch: seconds}"),
        rule("oslo", "ev_oslo", "{after: 30 days, from: at, timezone: Europe/Oslo}"),
        rule("days", "ev_date", EXPIRES),
    ))
    done = sweep_at(db, policies, NOW)
    assert done == {"ev_datetime": 3, "ev_epoch": 3, "ev_oslo": 4, "ev_date": 2}
    assert ids(db, "ev_date") == {3, 4}
    assert ids(db, "ev_datetime") == set(OFFSETS) - DUE
    assert ids(db, "ev_epoch") == set(OFFSETS) - DUE
    assert ids(db, "ev_oslo") == set(OFFSETS) - DUE


def test_a_date_column_is_due_from_the_midnight_it_names(
        db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    """A DATE is its midnight (UTC): due exactly when the cutoff reaches that midnight."""
    meta = sa.MetaData()
    days = events_table(meta, "ev_date", sa.Date)
    db.create(meta)
    db.insert(days, [{"id": 1, "at": date(2026, 6, 14)}, {"id": 2, "at": date(2026, 6, 15)},
                     {"id": 3, "at": date(2026, 6, 16)}, {"id": 4, "at": None}])
    policies = write_policy(policy(rule("days", "ev_date", EXPIRES)))
    # cutoff 2026-06-14 23:59:59: the 14th is due, the 15th not yet
    assert sweep_at(db, policies, datetime(2026, 7, 14, 23, 59, 59)) == {"ev_date": 1}
    assert ids(db, "ev_date") == {2, 3, 4}
    # cutoff 2026-06-15 00:00:00: the 15th is due
    assert sweep_at(db, policies, datetime(2026, 7, 15, 0, 0, 0)) == {"ev_date": 1}
    assert ids(db, "ev_date") == {3, 4}
    # cutoff 2026-06-15 23:59:59: the 16th is still a second away
    assert sweep_at(db, policies, datetime(2026, 7, 15, 23, 59, 59)) == {"ev_date": 0}


# timestamptz exists on PostgreSQL only: the test is defined only when PostgreSQL is configured
# (as it is in CI), rather than collected and skipped elsewhere.
if "postgresql" in BACKENDS:

    @pytest.mark.parametrize("db", ["postgresql"], indirect=True)
    def test_timestamptz_boundaries_hold_whatever_offset_the_row_was_written_in(
            db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
        """PostgreSQL timestamptz: the instant counts, not the offset it was written with."""
        meta = sa.MetaData()
        table = events_table(meta, "ev_tstz", sa.DateTime(timezone=True))
        db.create(meta)
        cutoff = CUTOFF.replace(tzinfo=UTC)
        plus5, minus7 = timezone(timedelta(hours=5)), timezone(timedelta(hours=-7))
        db.insert(table, [
            {"id": 1, "at": (cutoff - SECOND).astimezone(plus5)},
            {"id": 2, "at": cutoff.astimezone(minus7)},
            {"id": 3, "at": (cutoff + SECOND).astimezone(plus5)},
            {"id": 4, "at": None},
            {"id": 5, "at": (cutoff + timedelta(hours=1)).astimezone(minus7)},
        ])
        policies = write_policy(policy(rule("tstz", "ev_tstz", EXPIRES)))
        assert sweep_at(db, policies, NOW) == {"ev_tstz": 2}
        assert ids(db, "ev_tstz") == {3, 4, 5}


def test_null_timestamps_never_expire(db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    """A row without a timestamp is kept however far the clock moves."""
    meta = sa.MetaData()
    naive = events_table(meta, "ev_datetime", sa.DateTime)
    epoch = events_table(meta, "ev_epoch", sa.Integer)
    db.create(meta)
    db.insert(naive, [{"id": 1, "at": None}, {"id": 2, "at": datetime(1990, 1, 1)}])
    db.insert(epoch, [{"id": 1, "at": None}, {"id": 2, "at": 0}])
    policies = write_policy(policy(
        rule("naive", "ev_datetime", "{after: 1 day, from: at}"),
        rule("epoch", "ev_epoch", "{after: 1 day, from: at, epoch: seconds}"),
    ))
    assert sweep_at(db, policies, datetime(2099, 1, 1)) == {"ev_datetime": 1, "ev_epoch": 1}
    assert ids(db, "ev_datetime") == {1}
    assert ids(db, "ev_epoch") == {1}


# --------------------------------------------------------------------------- calendar


def test_financial_year_expiry_counts_from_the_end_of_the_year(
        db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    """Five years after the financial year ends: 2020's last second goes at 2026-01-01T00:00Z."""
    meta = sa.MetaData()
    moments = events_table(meta, "ledger", sa.DateTime)
    days = events_table(meta, "ledger_days", sa.Date)
    epoch = events_table(meta, "ledger_epoch", sa.Integer)
    db.create(meta)
    db.insert(moments, [
        {"id": 1, "at": datetime(2020, 12, 31, 23, 59, 59)},
        {"id": 2, "at": datetime(2021, 1, 1, 0, 0, 0)},
        {"id": 3, "at": datetime(2020, 1, 1, 0, 0, 0)},
        {"id": 4, "at": None},
    ])
    db.insert(days, [{"id": 1, "at": date(2020, 12, 31)}, {"id": 2, "at": date(2021, 1, 1)}])
    new_year = int(datetime(2021, 1, 1, tzinfo=UTC).timestamp())
    db.insert(epoch, [{"id": 1, "at": new_year - 1}, {"id": 2, "at": new_year}])
    expires = "{after: 5 years, from: at, counted_from: financial_year_end}"
    policies = write_policy(policy(
        rule("ledger", "ledger", expires),
        rule("ledger-days", "ledger_days", expires),
        rule("ledger-epoch", "ledger_epoch", expires[:-1] + ", epoch: seconds}")))
    assert sweep_at(db, policies, datetime(2025, 12, 31, 23, 59, 59)) == \
        {"ledger": 0, "ledger_days": 0, "ledger_epoch": 0}
    assert sweep_at(db, policies, datetime(2026, 1, 1, 0, 0, 0)) == \
        {"ledger": 2, "ledger_days": 1, "ledger_epoch": 1}
    assert ids(db, "ledger") == {2, 4}
    assert ids(db, "ledger_days") == {2}
    assert ids(db, "ledger_epoch") == {2}


def test_financial_year_follows_the_configured_start(
        db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    """With the year starting 07-01, 2020-06-30 23:59:59 is due at 2025-07-01T00:00Z."""
    meta = sa.MetaData()
    moments = events_table(meta, "ledger", sa.DateTime)
    db.create(meta)
    db.insert(moments, [{"id": 1, "at": datetime(2020, 6, 30, 23, 59, 59)},
                        {"id": 2, "at": datetime(2020, 7, 1, 0, 0, 0)}])
    policies = write_policy(policy(
        rule("ledger", "ledger", "{after: 5 years, from: at, counted_from: financial_year_end}"),
        settings='settings: {financial_year_start: "07-01"}\n'))
    at = sweeper(db, policies)
    assert at(2025, 6, 30, 23, 59, 59, plan_only=True) == {"ledger": 0}
    assert at(2025, 7, 1, 0, 0, 0) == {"ledger": 1}
    assert at(2026, 6, 30, 23, 59, 59, plan_only=True) == {"ledger": 0}
    assert at(2026, 7, 1, 0, 0, 0) == {"ledger": 1}


def test_leap_day_rows_wait_for_the_cutoff_to_pass_them(
        db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    """Now minus one year clamps 2025-02-28 to 2024-02-28, so 2024-02-29 is due on 2025-03-01.

    The cutoff is Duration.before(now): 2025-02-28T23:59:59 gives 2024-02-28T23:59:59 and
    2025-03-01T00:00:00 gives 2024-03-01T00:00:00; no instant gives a cutoff on the leap day.
    """
    meta = sa.MetaData()
    table = events_table(meta, "ev", sa.DateTime)
    db.create(meta)
    db.insert(table, [
        {"id": 1, "at": datetime(2024, 2, 28, 0, 0, 0)},
        {"id": 2, "at": datetime(2024, 2, 28, 23, 59, 59)},
        {"id": 3, "at": datetime(2024, 2, 29, 0, 0, 0)},
        {"id": 4, "at": datetime(2024, 2, 29, 23, 59, 59)},
        {"id": 5, "at": datetime(2024, 3, 1, 0, 0, 0)},
        {"id": 6, "at": datetime(2024, 3, 1, 0, 0, 1)},
    ])
    policies = write_policy(policy(rule("leap", "ev", "{after: 1 year, from: at}")))
    at = sweeper(db, policies)
    assert at(2025, 2, 27, 23, 59, 59, plan_only=True) == {"ev": 0}
    assert at(2025, 2, 28, 0, 0, 0) == {"ev": 1}
    assert at(2025, 2, 28, 23, 59, 58, plan_only=True) == {"ev": 0}
    assert at(2025, 2, 28, 23, 59, 59) == {"ev": 1}
    assert ids(db, "ev") == {3, 4, 5, 6}
    assert at(2025, 3, 1, 0, 0, 0) == {"ev": 3}
    assert ids(db, "ev") == {6}
    assert at(2025, 3, 1, 0, 0, 1) == {"ev": 1}


def test_month_ends_clamp_to_the_shorter_month(db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    """One month before 2025-02-28 is 2025-01-28; the 29th to 31st are due on 2025-03-01."""
    meta = sa.MetaData()
    table = events_table(meta, "ev", sa.DateTime)
    db.create(meta)
    db.insert(table, [
        {"id": 1, "at": datetime(2025, 1, 28, 0, 0, 0)},
        {"id": 2, "at": datetime(2025, 1, 31, 23, 59, 59)},
        {"id": 3, "at": datetime(2025, 3, 31, 12, 0, 0)},
        {"id": 4, "at": datetime(2025, 4, 30, 12, 0, 0)},
    ])
    policies = write_policy(policy(rule("month", "ev", "{after: 1 month, from: at}")))
    at = sweeper(db, policies)
    assert at(2025, 2, 27, 23, 59, 59, plan_only=True) == {"ev": 0}
    assert at(2025, 2, 28, 23, 59, 59) == {"ev": 1}
    assert at(2025, 3, 1, 0, 0, 0) == {"ev": 1}
    assert ids(db, "ev") == {3, 4}
    # one month before 2025-04-30T12:00 is 2025-03-30T12:00: 03-31 waits for 05-01
    assert at(2025, 4, 30, 23, 59, 59, plan_only=True) == {"ev": 0}
    assert at(2025, 5, 1, 0, 0, 0) == {"ev": 1}
    # one month before 2025-05-30T12:00 is 2025-04-30T12:00, exactly row 4
    assert at(2025, 5, 30, 11, 59, 59, plan_only=True) == {"ev": 0}
    assert at(2025, 5, 30, 12, 0, 0) == {"ev": 1}
    assert ids(db, "ev") == set()


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)
def test_sqlite_text_timestamps_with_and_without_fraction_meet_the_same_cutoff(
        db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    """SQLite text 'YYYY-MM-DD HH:MM:SS' (CURRENT_TIMESTAMP) and '....ffffff' (SQLAlchemy)
    rows at exactly the cutoff are due with `<=` and kept with a strict financial-year `<`."""
    meta = sa.MetaData()
    events_table(meta, "ev", sa.DateTime)
    events_table(meta, "ledger", sa.DateTime)
    db.create(meta)
    texts = {1: "2026-06-15 11:59:59", 2: "2026-06-15 12:00:00", 3: "2026-06-15 12:00:00.000000",
             4: "2026-06-15 12:00:00.000001", 5: "2026-06-15 12:00:01"}
    year_end = {1: "2020-12-31 23:59:59", 2: "2020-12-31 23:59:59.999999",
                3: "2021-01-01 00:00:00", 4: "2021-01-01 00:00:00.000000"}
    with db.engine.begin() as conn:
        for table, rows in (("ev", texts), ("ledger", year_end)):
            for i, text in rows.items():
                conn.exec_driver_sql(f"INSERT INTO {table} (id, at) VALUES (?, ?)", (i, text))
    policies = write_policy(policy(
        rule("naive", "ev", EXPIRES),
        rule("ledger", "ledger", "{after: 5 years, from: at, counted_from: financial_year_end}"),
    ))
    assert sweep_at(db, policies, datetime(2026, 1, 1, 0, 0, 0)) == {"ev": 0, "ledger": 2}
    assert ids(db, "ledger") == {3, 4}
    assert sweep_at(db, policies, datetime(2026, 7, 15, 12, 0, 0)) == {"ev": 3, "ledger": 0}
    assert ids(db, "ev") == {4, 5}
