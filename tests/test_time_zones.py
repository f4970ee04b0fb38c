"""The host's time zone (TZ) and the database server's default session zone change nothing: a
real `retention plan` and `retention run` process selects and deletes the same rows under
TZ=UTC, Europe/Oslo and America/Los_Angeles, with the server's default zone left at UTC or set
far from it, because the tool pins its sessions to UTC and reads naive columns as UTC unless
the policy names the zone the application wrote them in.

Rows sit half an hour on either side of the cutoff; a naive Oslo-time column read as UTC, or
a TIMESTAMP read in a non-UTC session, would move a row across it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

from tests.conftest import BACKENDS, CATEGORY_YAML, SECRET, Database

HOST_ZONES = ["UTC", "Europe/Oslo", "America/Los_Angeles"]
FAR_ZONE = {"postgresql": "Pacific/Auckland", "mysql": "+13:00"}
HALF_HOUR = timedelta(minutes=30)
OSLO = ZoneInfo("Europe/Oslo")

POLICY = CATEGORY_YAML + """
rules:
  - {id: naive, category: history, table: ev_naive, expires: {after: 30 days, from: at},
     action: delete}
  - {id: oslo, category: history, table: ev_oslo,
     expires: {after: 30 days, from: at, timezone: Europe/Oslo}, action: delete}
"""
AWARE_RULE = """
  - {id: aware, category: history, table: ev_aware, expires: {after: 30 days, from: at},
     action: delete}
"""


def _table(meta: sa.MetaData, name: str, column_type: sa.types.TypeEngine) -> sa.Table:  # type: ignore[type-arg]
    return sa.Table(name, meta,
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                    sa.Column("at", column_type, nullable=False))


def _build(db: Database) -> tuple[str, dict[str, int]]:
    """The tables, their rows around the cutoff (now - 30 days), the policy text and the rows
    due per table."""
    cutoff = datetime.now(UTC) - timedelta(days=30)
    meta = sa.MetaData()
    naive = _table(meta, "ev_naive", sa.DateTime)
    oslo = _table(meta, "ev_oslo", sa.DateTime)
    aware = None
    if db.backend == "postgresql":
        aware = _table(meta, "ev_aware", sa.DateTime(timezone=True))
    elif db.backend == "mysql":
        aware = _table(meta, "ev_aware", mysql.TIMESTAMP())
    db.create(meta)
    around = [(1, cutoff - HALF_HOUR), (2, cutoff + HALF_HOUR)]
    db.insert(naive, [{"id": i, "at": at.replace(tzinfo=None)} for i, at in around])
    # the application's Oslo wall-clock times; 3 is due only when read as Oslo time
    db.insert(oslo, [{"id": i, "at": at.astimezone(OSLO).replace(tzinfo=None)}
                     for i, at in around]
              + [{"id": 3, "at": (cutoff + HALF_HOUR).replace(tzinfo=None)}])
    due = {"ev_naive": 1, "ev_oslo": 2}
    policy = POLICY
    if aware is not None:
        # written by a session in a far zone, as a shop's application may: the instant counts
        with db.engine.connect() as conn:
            if db.backend == "postgresql":
                conn.exec_driver_sql("SET TIME ZONE 'Pacific/Auckland'")
            else:
                conn.exec_driver_sql("SET time_zone = '+13:00'")
            # the driver sends MariaDB a wall-clock time, read in the session's zone
            far = timezone(timedelta(hours=13))
            conn.execute(aware.insert(), [
                {"id": i, "at": at if db.backend == "postgresql"
                 else at.astimezone(far).replace(tzinfo=None)} for i, at in around])
            conn.commit()
        due["ev_aware"] = 1
        policy += AWARE_RULE
    return policy, due


@pytest.fixture
def server_zone(request: pytest.FixtureRequest, db: Database) -> Iterator[str]:
    """The server's default session zone for new connections: UTC or far from it."""
    zone = request.param
    if db.backend == "sqlite" or zone == "UTC":
        yield zone
        return
    name = sa.make_url(db.url).database
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if db.backend == "postgresql":
            conn.exec_driver_sql(
                f"ALTER DATABASE \"{name}\" SET timezone TO '{FAR_ZONE['postgresql']}'")
        else:
            old = conn.exec_driver_sql("SELECT @@global.time_zone").scalar_one()
            conn.exec_driver_sql(f"SET GLOBAL time_zone = '{FAR_ZONE['mysql']}'")
    try:
        yield zone
    finally:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            if db.backend == "postgresql":
                conn.exec_driver_sql(f"ALTER DATABASE \"{name}\" RESET timezone")
            else:
                conn.exec_driver_sql(f"SET GLOBAL time_zone = '{old}'")


def _retention(host_zone: str, *args: str) -> dict:  # type: ignore[type-arg]
    env = {**os.environ, "TZ": host_zone, "RETENTION_SECRET": SECRET}
    done = subprocess.run([sys.executable, "-m", "retention", *args, "--format", "json"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


# SQLite has no server, hence no server zone: one run per host zone is its whole matrix.
MATRIX = [(backend, zone) for backend in BACKENDS
          for zone in (["UTC"] if backend == "sqlite" else ["UTC", "far"])]


@pytest.mark.parametrize("host_zone", HOST_ZONES)
@pytest.mark.parametrize(("db", "server_zone"), MATRIX, indirect=True)
def test_the_same_rows_are_due_whatever_the_host_and_session_zones(
        db: Database, write_policy, server_zone: str, host_zone: str) -> None:  # type: ignore[no-untyped-def]
    if server_zone != "UTC":
        with db.engine.connect() as conn:  # the pinned session really is UTC
            query = "SHOW TIME ZONE" if db.backend == "postgresql" \
                else "SELECT @@session.time_zone"
            assert conn.exec_driver_sql(query).scalar_one() in ("UTC", "+00:00")
    policy, due = _build(db)
    policies = str(write_policy(policy))
    plan = _retention(host_zone, "plan", "-p", policies, "-d", db.url)
    assert {r["table"]: r["counts"][0]["rows"] for r in plan["rules"]} == due
    run = _retention(host_zone, "run", "-p", policies, "-d", db.url)
    assert {r["table"]: r["counts"][r["table"]]["rows"] for r in run["rules"]} == due
    assert {r[0] for r in db.rows("ev_naive")} == {2}
    assert {r[0] for r in db.rows("ev_oslo")} == {2}
    if "ev_aware" in due:
        assert {r[0] for r in db.rows("ev_aware")} == {2}
