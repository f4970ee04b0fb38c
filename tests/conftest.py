"""Test fixtures: every database test runs on SQLite, and on PostgreSQL and MariaDB/MySQL when
RETENTION_TEST_POSTGRES_URL / RETENTION_TEST_MYSQL_URL name a server (CI sets both)."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import structlog

from retention.database import create_engine

SECRET = "test-secret-0123456789abcdef0123456789"

BACKENDS: list[Any] = ["sqlite"]
if os.environ.get("RETENTION_TEST_POSTGRES_URL"):
    BACKENDS.append("postgresql")
if os.environ.get("RETENTION_TEST_MYSQL_URL"):
    BACKENDS.append("mysql")


def _server_url(backend: str) -> str:
    return os.environ["RETENTION_TEST_POSTGRES_URL" if backend == "postgresql"
                      else "RETENTION_TEST_MYSQL_URL"]


def wipe(engine: sa.Engine) -> None:
    """Drop every table, whatever its foreign keys (even ones naming a missing table)."""
    names = sa.inspect(engine).get_table_names()
    with engine.begin() as conn:
        if engine.dialect.name in ("mysql", "mariadb"):
            conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 0")
            for name in names:
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS `{name}`")
            conn.exec_driver_sql("SET FOREIGN_KEY_CHECKS = 1")
        else:
            for name in names:
                conn.exec_driver_sql(f'DROP TABLE IF EXISTS "{name}" CASCADE')


@dataclass
class Database:
    """An empty database of one backend, with helpers to build and inspect tables."""

    backend: str
    url: str
    engine: sa.Engine

    def create(self, metadata: sa.MetaData) -> None:
        metadata.create_all(self.engine)

    def insert(self, table: sa.Table, rows: list[dict[str, Any]]) -> None:
        if rows:
            with self.engine.begin() as conn:
                conn.execute(table.insert(), rows)

    def rows(self, table: str, order_by: str | None = None) -> list[tuple[Any, ...]]:
        meta = sa.MetaData()
        t = sa.Table(table, meta, autoload_with=self.engine)
        stmt = sa.select(t)
        stmt = stmt.order_by(t.c[order_by]) if order_by else stmt.order_by(*t.primary_key.columns)
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(stmt)]

    def count(self, table: str) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one())

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table (the audit trail included), for before/after comparison."""
        meta = sa.MetaData()
        meta.reflect(self.engine)
        out: dict[str, list[tuple[Any, ...]]] = {}
        with self.engine.connect() as conn:
            for name, table in sorted(meta.tables.items()):
                rows = conn.execute(sa.select(table)).all()
                out[name] = sorted((tuple(r) for r in rows), key=repr)
        return out


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    backend = request.param
    url = f"sqlite:///{tmp_path / 'test.db'}" if backend == "sqlite" else _server_url(backend)
    engine = create_engine(url)
    if backend != "sqlite":
        wipe(engine)
    try:
        yield Database(backend, url, engine)
    finally:
        if backend != "sqlite":
            wipe(engine)
        engine.dispose()


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("RETENTION_SECRET", SECRET)
    monkeypatch.delenv("RETENTION_SECRET_FILE", raising=False)
    return SECRET


@pytest.fixture
def write_policy(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write a policy file from YAML text (dedented) and return its directory."""
    directory = tmp_path / "policies"
    directory.mkdir(exist_ok=True)

    def write(text: str, name: str = "policy.yaml") -> Path:
        (directory / name).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        return directory

    return write


CATEGORY_YAML = """
categories:
  - id: history
    title: Purchase history
    legal_basis: Consumer purchase complaints period
    policy_clause: we store purchase history for 3 years
"""


# --------------------------------------------------------------------------- an order schema


def order_schema(*, cascade_items: bool = False) -> tuple[sa.MetaData, dict[str, sa.Table]]:
    """customers, orders (with a grid copy without foreign key), items and invoices."""
    meta = sa.MetaData()
    customers = sa.Table(
        "customers", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("email", sa.String(255)),
    )
    orders = sa.Table(
        "orders", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("customer_id", sa.Integer,
                  sa.ForeignKey("customers.id", ondelete="SET NULL"), nullable=True),
        sa.Column("is_guest", sa.SmallInteger, nullable=False),
        sa.Column("status", sa.String(32)),
        sa.Column("email", sa.String(128)),
        sa.Column("firstname", sa.String(64)),
        sa.Column("postcode", sa.String(16)),
        sa.Column("dob", sa.Date),
        sa.Column("total", sa.Numeric(12, 4)),
        sa.Column("created_at", sa.DateTime, nullable=True),
    )
    items = sa.Table(
        "order_items", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("order_id", sa.Integer,
                  sa.ForeignKey("orders.id", ondelete="CASCADE" if cascade_items else None),
                  nullable=False),
        sa.Column("sku", sa.String(64)),
    )
    invoices = sa.Table(
        "invoices", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("order_id", sa.Integer, sa.ForeignKey("orders.id", ondelete="CASCADE"),
                  nullable=False),
    )
    grid = sa.Table(
        "order_grid", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("email", sa.String(128)),
        sa.Column("name", sa.String(128), nullable=False),
    )
    return meta, {"customers": customers, "orders": orders, "items": items,
                  "invoices": invoices, "grid": grid}


# --------------------------------------------------------------------------- a visits table

VISITS_POLICY = CATEGORY_YAML + """
rules:
  - id: old-visits
    category: history
    table: visits
    expires: {after: 30 days, from: created_at}
    action: delete
"""


def make_visits(db: Database, *, old: int, recent: int = 0,
                now: datetime | None = None) -> sa.Table:
    """`old` visits 400 days before `now` (due under VISITS_POLICY), then `recent` visits of
    the day before (not due); ids count from 1. `now` defaults to the real UTC time."""
    meta = sa.MetaData()
    visits = sa.Table("visits", meta,
                      sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                      sa.Column("created_at", sa.DateTime, nullable=False))
    db.create(meta)
    now = now or datetime.now(UTC).replace(tzinfo=None)
    db.insert(visits, [{"id": i, "created_at": now - timedelta(days=400)}
                       for i in range(1, old + 1)])
    db.insert(visits, [{"id": old + i, "created_at": now - timedelta(days=1)}
                       for i in range(1, recent + 1)])
    return visits


# --------------------------------------------------------------------------- the command line


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No RETENTION_* setting from the caller's environment (the test database URLs aside);
    logging reset afterwards (the CLI bound its logger to the test's captured stderr)."""
    for name in list(os.environ):
        if name.startswith("RETENTION_") and not name.startswith("RETENTION_TEST_"):
            monkeypatch.delenv(name)
    yield
    structlog.reset_defaults()


def run_cli(*args: str) -> int:
    """Run the command line in this process and return its exit status."""
    from retention.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    code = exit_info.value.code
    assert isinstance(code, int)
    return code
