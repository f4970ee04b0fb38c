"""The demo shop: built deterministically on every backend, and what the shipped policies do to
it at a frozen date."""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from rich.console import Console

from retention import api
from retention.cli import cli
from retention.demo import build_demo_database, run_demo
from retention.demo_data import DEMO_SECRET, generate
from retention.durations import add_months
from retention.errors import ConfigError
from retention.secrets import SECRET_ENV, SECRET_FILE_ENV
from tests.conftest import Database
from tests.test_shipped_policies import magento_tables

POLICIES = Path(__file__).resolve().parent.parent / "policies"
# The demo data ends at AS_OF (naive UTC) and starts six years earlier, in March 2020: nine
# months of orders lie before 2021-01-01, past the bookkeeping floor when the sweep runs.
AS_OF = datetime(2026, 3, 31)
NOW = datetime(2026, 3, 31, 3, 0, 0)

# rows whose customer id no longer exists in customer_entity once an account is removed
DANGLING = {"quote": "customer_id", "newsletter_subscriber": "customer_id",
            "customer_visitor": "customer_id", "customer_log": "customer_id",
            "login_as_customer": "customer_id", "customer_grid_flat": "entity_id",
            "magento_login_as_customer_log": "customer_id", "rating_option_vote": "customer_id",
            "quote_address": "customer_id", "sales_order_address": "customer_id",
            "sales_shipment": "customer_id", "sales_order_grid": "customer_id"}


def rows_by_key(db: Database, table: str) -> dict[Any, dict[str, Any]]:
    t = sa.Table(table, sa.MetaData(), autoload_with=db.engine)
    key = next(iter(t.primary_key.columns)).name
    with db.engine.connect() as conn:
        return {r[key]: dict(r) for r in conn.execute(sa.select(t)).mappings()}


def dangling(db: Database) -> dict[str, int]:
    """Per table, rows pointing at an account that no longer exists."""
    out = {}
    with db.engine.connect() as conn:
        for table, column in DANGLING.items():
            out[table] = conn.execute(sa.text(
                f"SELECT COUNT(*) FROM {table} t WHERE t.{column} > 0 AND NOT EXISTS "
                f"(SELECT 1 FROM customer_entity c WHERE c.entity_id = t.{column})")).scalar_one()
        out["report_event"] = conn.execute(sa.text(
            "SELECT COUNT(*) FROM report_event t WHERE t.subtype = 0 AND NOT EXISTS "
            "(SELECT 1 FROM customer_entity c WHERE c.entity_id = t.subject_id)")).scalar_one()
    return out


@pytest.fixture
def no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither secret variable set; whatever the demo sets is undone after the test."""
    for name in (SECRET_ENV, SECRET_FILE_ENV):
        monkeypatch.setenv(name, "placeholder")  # records the original state for undo
        monkeypatch.delenv(name)


def test_same_seed_and_date_give_the_same_shop(tmp_path: Path) -> None:
    """Generation depends on the seed and as_of only, and so does the database built."""
    first, removed = generate(60, 7, AS_OF)
    again, removed_again = generate(60, 7, AS_OF)
    assert first.rows == again.rows and removed == removed_again
    other, _ = generate(60, 8, AS_OF)
    assert other.rows != first.rows

    snapshots = []
    for name in ("a.db", "b.db"):
        url = f"sqlite:///{tmp_path / name}"
        build_demo_database(url, customers=30, seed=7, as_of=AS_OF)
        engine = sa.create_engine(url)
        snapshots.append(Database("sqlite", url, engine).snapshot())
        engine.dispose()
    assert snapshots[0] == snapshots[1]


def test_demo_data_is_invented() -> None:
    """E-mail addresses use reserved example domains and IPs the documentation ranges."""
    shop, _ = generate(60, 7, AS_OF)
    emails = [r["customer_email"] for r in shop.rows["sales_order"]]
    assert emails and all(e.split("@")[1].startswith("example.") for e in emails)
    ips = [r["remote_ip"] for r in shop.rows["sales_order"]]
    assert all(ip.startswith(("192.0.2.", "198.51.100.", "203.0.113.", "2001:db8:"))
               for ip in ips)


def test_build_covers_six_years_and_removes_accounts_as_magento_does(db: Database) -> None:
    counts = build_demo_database(db.url, customers=60, seed=7, as_of=AS_OF)
    assert {t["name"] for t in magento_tables()} <= set(counts)  # all 40 Magento tables
    assert counts["customer_entity"] < 60 < counts["sales_order"]
    assert counts["customer_grid_flat"] == 60  # the index keeps stale rows
    assert all(n > 0 for n in counts.values()), counts
    orders = rows_by_key(db, "sales_order").values()
    oldest = min(o["created_at"] for o in orders)
    assert add_months(AS_OF, -72) <= oldest < add_months(AS_OF, -60)
    assert max(o["created_at"] for o in orders) < AS_OF
    # ON DELETE SET NULL on the orders of removed accounts; no foreign key elsewhere
    assert any(o["customer_is_guest"] == 0 and o["customer_id"] is None for o in orders)
    left = dangling(db)
    assert all(left[t] > 0 for t in ("quote", "customer_grid_flat", "rating_option_vote",
                                     "magento_login_as_customer_log", "sales_order_address")), left
    with db.engine.connect() as conn:  # ON DELETE SET NULL: the review text stays
        assert conn.execute(sa.text(
            "SELECT COUNT(*) FROM review_detail d JOIN rating_option_vote v ON v.review_id = "
            "d.review_id WHERE d.customer_id IS NULL AND v.customer_id > 0")).scalar_one() > 0
    with db.engine.connect() as conn:  # ON DELETE CASCADE: no address outlives its account
        assert conn.execute(sa.text(
            "SELECT COUNT(*) FROM customer_address_entity a WHERE NOT EXISTS "
            "(SELECT 1 FROM customer_entity c WHERE c.entity_id = a.parent_id)")).scalar_one() == 0


def test_build_refuses_a_database_with_other_tables(db: Database) -> None:
    meta = sa.MetaData()
    sa.Table("catalog_product_entity", meta, sa.Column("entity_id", sa.Integer, primary_key=True))
    db.create(meta)
    with pytest.raises(ConfigError, match="catalog_product_entity"):
        build_demo_database(db.url, customers=10, as_of=AS_OF)
    assert db.count("catalog_product_entity") == 0


def test_demo_command_plans_runs_and_audits(tmp_path: Path, no_secret: None) -> None:
    path = tmp_path / "demo.db"
    result = CliRunner().invoke(cli, ["demo", "--path", str(path), "--customers", "100",
                                      "--policies", str(POLICIES)], standalone_mode=False)
    assert result.exception is None, result.output
    assert result.return_value == 0
    out = result.output
    for heading in ("Demo shop", "1. Plan (dry run)", "2. Run", "3. Audit trail", "Next"):
        assert heading in out
    assert "guest-orders-anonymise" in out and "completed" in out
    assert "demo-only secret" in out and os.environ[SECRET_ENV] == DEMO_SECRET
    assert f"retention plan --policies {POLICIES} --database sqlite:///{path}" in out
    summary = api.audit_show(f"sqlite:///{path}")
    assert summary is not None and summary.status == "completed"
    ran_at = datetime.fromisoformat(summary.detail["as_of"])
    leftover = api.plan([POLICIES], f"sqlite:///{path}", as_of=ran_at)
    # the run did everything it planned; only orders whose invoices and credit memos it
    # deleted are due now, for the next run (they wait for their documents)
    assert {r.rule_id for r in leftover.rules if r.total} <= {"orders-delete-after-bookkeeping"}


def test_demo_keeps_a_secret_that_is_set(tmp_path: Path, secret: str) -> None:
    with open(os.devnull, "w") as sink:
        code = run_demo(tmp_path / "d.db", customers=20, seed=3, policies=[str(POLICIES)],
                        console=Console(file=sink))
    assert code == 0 and os.environ[SECRET_ENV] == secret


def test_demo_needs_the_policies_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           secret: str) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"no \./policies directory"):
        run_demo(tmp_path / "d.db", customers=20, seed=7, policies=None, console=Console())
    assert not (tmp_path / "d.db").exists()


@pytest.mark.slow
def test_every_rule_has_due_rows_in_the_default_demo(tmp_path: Path) -> None:
    """The default demo shows every rule of the pack at work: each has rows due on its last
    day (at its 40 tables, 3,000 customers)."""
    url = f"sqlite:///{tmp_path / 'd.db'}"
    build_demo_database(url, customers=3000, seed=7, as_of=AS_OF)
    plan = api.plan([POLICIES], url, as_of=NOW)
    assert [r.rule_id for r in plan.rules if r.counts[0].rows == 0] == []
    assert len(plan.rules) >= 30


@pytest.mark.slow
def test_full_demo_runs_within_twenty_seconds(tmp_path: Path, no_secret: None) -> None:
    """The default demo (3,000 customers, 40 tables) stays under 20 s. CPU time, not wall
    time: SQLite runs in this process, and a busy test machine must not make the test flaky."""
    started = time.process_time()
    with open(os.devnull, "w") as sink:
        code = run_demo(tmp_path / "d.db", customers=3000, seed=7,
                        policies=[str(POLICIES)], console=Console(file=sink, width=200))
    assert code == 0
    assert time.process_time() - started < 20
