"""Plan, run and audit on the order schema, on every backend."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from freezegun import freeze_time

from retention import api
from tests.conftest import CATEGORY_YAML, Database, order_schema

NOW = datetime(2026, 11, 29, 3, 0, 0)

POLICY = CATEGORY_YAML + """
rules:
  - id: guest-orders
    category: history
    table: orders
    where: [{column: is_guest, op: "=", value: 1}]
    expires: {after: 3 years, from: created_at}
    action: delete
    related:
      - {table: order_items, on: {order_id: id}, action: delete}
      - {table: order_grid, on: {id: id}, action: delete}
  - id: removed-accounts
    category: history
    table: orders
    where:
      - {column: is_guest, op: "=", value: 0}
      - {column: customer_id, op: is null}
    action:
      anonymise:
        email: hmac
        firstname: {strategy: mask, keep_first: 1}
        postcode: {strategy: postcode_prefix, keep: 2}
        dob: {strategy: truncate_date, to: year}
    related:
      - table: order_grid
        on: {id: id}
        action: {anonymise: {email: email_domain, name: {strategy: fixed, value: removed}}}
"""


def build(db: Database, n: int = 60) -> None:
    meta, t = order_schema(cascade_items=False)
    db.create(meta)
    db.insert(t["customers"], [{"id": i, "email": f"c{i}@example.com"} for i in range(1, 11)])
    orders, items, grid, invoices = [], [], [], []
    for i in range(1, n + 1):
        guest = i % 3 == 0
        orders.append({
            "id": i, "customer_id": None if guest or i % 3 == 1 else (i % 10) + 1,
            "is_guest": 1 if guest else 0, "status": "complete",
            "email": f"person{i}@example.com", "firstname": f"Name{i}",
            "postcode": "0752", "dob": datetime(1980, 5, 17).date(),
            "total": Decimal("199.5000"), "created_at": NOW - timedelta(days=40 * i),
        })
        items += [{"id": 2 * i, "order_id": i, "sku": "tag"},
                  {"id": 2 * i + 1, "order_id": i, "sku": "clip"}]
        grid.append({"id": i, "email": f"person{i}@example.com", "name": f"Name{i} Person"})
        if i % 5 == 0:
            invoices.append({"id": i, "order_id": i})
    db.insert(t["orders"], orders)
    db.insert(t["items"], items)
    db.insert(t["grid"], grid)
    db.insert(t["invoices"], invoices)


@freeze_time(NOW)
def test_plan_writes_nothing_and_its_counts_equal_the_run(
        db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    build(db)
    policies = write_policy(POLICY)
    before = db.snapshot()
    plan = api.plan([policies], db.url, samples=3, with_sql=True)
    assert db.snapshot() == before
    planned = {(r.rule_id, c.label): c.rows for r in plan.rules for c in r.counts}
    assert planned[("guest-orders", "orders")] > 0
    assert planned[("guest-orders", "orders > invoices")] > 0  # the database cascade is shown

    result = api.sweep([policies], db.url, batch_size=7)
    done = {(r.rule_id, label): c.rows for r in result.rules for label, c in r.counts.items()}
    assert done == planned
    assert result.status == "completed"


@freeze_time(NOW)
def test_second_run_changes_nothing(db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    build(db)
    policies = write_policy(POLICY)
    first = api.sweep([policies], db.url, batch_size=5)
    assert first.totals()["anonymise"] > 0
    after_first = db.snapshot()
    second = api.sweep([policies], db.url, batch_size=5)
    assert sum(r.rows for r in second.rules) == 0
    plan = api.plan([policies], db.url)
    assert sum(r.total for r in plan.rules) == 0
    snapshot = db.snapshot()
    for tool_table in ("retention_audit", "retention_lock"):  # the tool's own bookkeeping
        snapshot.pop(tool_table, None)
        after_first.pop(tool_table, None)
    assert snapshot == after_first


@freeze_time(NOW)
def test_anonymised_values_and_audit_hold_no_personal_data(
        db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    build(db)
    policies = write_policy(POLICY)
    api.sweep([policies], db.url)
    rows = {r[0]: r for r in db.rows("orders")}
    removed = rows[1]  # account order whose customer is gone
    assert removed[4].startswith("pn:") and len(removed[4]) == 32
    assert removed[5] == "N" + "*" * (len("Name1") - 1)
    assert removed[6] == "07"
    assert removed[7].isoformat() == "1980-01-01"
    assert removed[8] == Decimal("199.5000")  # amounts are kept
    kept = rows[2]  # account still exists
    assert kept[4] == "person2@example.com"
    grid = {r[0]: r for r in db.rows("order_grid")}
    assert grid[1][1:] == ("@example.com", "removed")
    assert 30 not in grid and 30 not in rows  # guest order of 1,200 days ago: gone
    assert 3 in grid and 3 in rows  # guest order of 120 days ago: kept
    trail = "\n".join(repr(r) for r in db.rows("retention_audit", order_by="seq"))
    for value in ("person1@example.com", "Name1", "0752", "example.com"):
        assert value not in trail


@freeze_time(NOW)
def test_audit_show_summarises_the_last_run(db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    build(db)
    policies = write_policy(POLICY)
    result = api.sweep([policies], db.url, batch_size=4)
    summary = api.audit_show(db.url)
    assert summary is not None and summary.run_id == result.run_id
    assert summary.status == "completed"
    deleted = summary.rules["guest-orders"]["counts"]["orders"]["rows"]
    assert deleted == result.rules[0].counts["orders"].rows


def test_run_refuses_to_start_without_secret(db: Database, write_policy,
                                             monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    from retention.errors import ConfigError

    build(db, n=6)
    monkeypatch.delenv("RETENTION_SECRET", raising=False)
    monkeypatch.delenv("RETENTION_SECRET_FILE", raising=False)
    before = db.snapshot()
    with pytest.raises(ConfigError, match="RETENTION_SECRET is not set"):
        api.sweep([write_policy(POLICY)], db.url)
    monkeypatch.setenv("RETENTION_SECRET", "short")
    with pytest.raises(ConfigError, match="at least 32"):
        api.sweep([write_policy(POLICY)], db.url)
    assert db.snapshot() == before


