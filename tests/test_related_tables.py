"""Related tables: children before parents in the same batch, each with its own action and
filter; composite and declared keys; cascades the database performs, counted as planned."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from retention import api
from tests.conftest import CATEGORY_YAML, Database

ORDERS = range(1, 11)
CLOSED = {1, 3, 5, 7, 9, 10}


def shop_schema() -> tuple[sa.MetaData, dict[str, sa.Table]]:
    """Orders with shipments and their tracks (foreign keys without ON DELETE, so a parent
    deleted before its children fails), notes and a log without foreign keys, and tables the
    database itself cleans up (CASCADE two levels deep, SET NULL)."""
    meta = sa.MetaData()

    def pk() -> sa.Column[Any]:
        return sa.Column("id", sa.Integer, primary_key=True, autoincrement=False)

    def fk(name: str, target: str, ondelete: str | None = None, *,
           nullable: bool = False) -> sa.Column[Any]:
        return sa.Column(name, sa.Integer, sa.ForeignKey(target, ondelete=ondelete),
                         nullable=nullable)

    tables = {
        "orders": sa.Table("orders", meta, pk(), sa.Column("status", sa.String(16))),
        "shipments": sa.Table("shipments", meta, pk(), fk("order_id", "orders.id"),
                              sa.Column("carrier", sa.String(16))),
        "shipment_tracks": sa.Table("shipment_tracks", meta, pk(),
                                    fk("shipment_id", "shipments.id"),
                                    sa.Column("ping", sa.String(32))),
        "shipment_events": sa.Table("shipment_events", meta, pk(),
                                    fk("shipment_id", "shipments.id", "CASCADE")),
        "order_notes": sa.Table("order_notes", meta, pk(),
                                sa.Column("order_id", sa.Integer, nullable=False),
                                sa.Column("kind", sa.String(16)),
                                sa.Column("body", sa.String(64))),
        "order_addresses": sa.Table(
            "order_addresses", meta,
            sa.Column("order_id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("kind", sa.String(16), primary_key=True),
            sa.Column("street", sa.String(64), nullable=True),
            sa.Column("name", sa.String(64), nullable=True)),
        "order_log": sa.Table("order_log", meta,  # no primary key
                              sa.Column("order_ref", sa.Integer, nullable=False),
                              sa.Column("line", sa.Integer, nullable=False),
                              sa.Column("text", sa.String(64))),
        "invoices": sa.Table("invoices", meta, pk(), fk("order_id", "orders.id", "CASCADE")),
        "invoice_lines": sa.Table("invoice_lines", meta, pk(),
                                  fk("invoice_id", "invoices.id", "CASCADE")),
        "reviews": sa.Table("reviews", meta, pk(),
                            fk("order_id", "orders.id", "SET NULL", nullable=True)),
    }
    return meta, tables


def shop_rows() -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in shop_schema()[1]}
    for i in ORDERS:
        rows["orders"].append({"id": i, "status": "closed" if i in CLOSED else "open"})
        for n in (1, 2) if i % 3 else ():  # orders 3, 6 and 9 have no shipment
            s = 10 * i + n
            rows["shipments"].append({"id": s, "order_id": i, "carrier": "post"})
            for t in range(1, 4 - n):  # two tracks for the first shipment, one for the second
                rows["shipment_tracks"].append({"id": 10 * s + t, "shipment_id": s,
                                                "ping": f"59.9{s},10.7{t}"})
            if s % 2:
                rows["shipment_events"].append({"id": s, "shipment_id": s})
        rows["order_notes"] += [{"id": 2 * i, "order_id": i, "kind": "personal", "body": "call"},
                                {"id": 2 * i + 1, "order_id": i, "kind": "internal",
                                 "body": "fragile"}]
        rows["order_addresses"] += [{"order_id": i, "kind": k, "street": f"Gate {i}",
                                     "name": f"Kari {i}"} for k in ("billing", "shipping")]
        rows["order_log"] += [{"order_ref": i, "line": n, "text": f"placed by Kari {i}"}
                              for n in (1, 2)]
        if i in (1, 2, 5, 9):
            rows["invoices"].append({"id": i, "order_id": i})
            rows["invoice_lines"] += [{"id": 10 * i + n, "invoice_id": i} for n in (1, 2)]
        if i in (1, 4, 5):
            rows["reviews"].append({"id": i, "order_id": i})
    return rows


def build_shop(db: Database) -> dict[str, list[dict[str, Any]]]:
    meta, tables = shop_schema()
    db.create(meta)
    rows = shop_rows()
    for name in ("orders", "shipments", "shipment_tracks", "shipment_events", "order_notes",
                 "order_addresses", "order_log", "invoices", "invoice_lines", "reviews"):
        db.insert(tables[name], rows[name])
    return rows


SHOP_POLICY = CATEGORY_YAML + """
rules:
  - id: closed-orders
    category: history
    table: orders
    where: {column: status, op: "=", value: closed}
    action: delete
    related:
      - table: shipments
        on: {order_id: id}
        action: delete
        related:
          - {table: shipment_tracks, on: {shipment_id: id}, action: delete}
      - table: order_notes
        on: {order_id: id}
        where: {column: kind, op: "=", value: personal}
        action: delete
      - table: order_addresses
        on: {order_id: id}
        action: {anonymise: {street: ~, name: hmac}}
      - table: order_log
        key: [order_ref, line]
        on: {order_ref: id}
        action: {anonymise: {text: {strategy: fixed, value: removed}}}
"""


def expected_counts(rows: dict[str, list[dict[str, Any]]]) -> dict[str, tuple[str, int]]:
    """Rows each table of the rule changes, by label, derived from the data by hand."""
    shipments = {s["id"] for s in rows["shipments"] if s["order_id"] in CLOSED}
    invoices = {v["id"] for v in rows["invoices"] if v["order_id"] in CLOSED}

    def count(table: str, test: Any) -> int:
        return sum(1 for r in rows[table] if test(r))

    return {
        "orders": ("delete", len(CLOSED)),
        "orders > shipments": ("delete", len(shipments)),
        "orders > shipments > shipment_tracks": (
            "delete", count("shipment_tracks", lambda r: r["shipment_id"] in shipments)),
        "orders > shipments > shipment_events": (
            "cascade delete", count("shipment_events", lambda r: r["shipment_id"] in shipments)),
        "orders > order_notes": ("delete", count(
            "order_notes", lambda r: r["order_id"] in CLOSED and r["kind"] == "personal")),
        "orders > order_addresses": ("anonymise", 2 * len(CLOSED)),
        "orders > order_log": ("anonymise", 2 * len(CLOSED)),
        "orders > invoices": ("cascade delete", len(invoices)),
        "orders > invoices > invoice_lines": (
            "cascade delete", count("invoice_lines", lambda r: r["invoice_id"] in invoices)),
        "orders > reviews": ("cascade set null", count("reviews",
                                                       lambda r: r["order_id"] in CLOSED)),
    }


@pytest.mark.parametrize("batch_size", [1, 2, 1000])
def test_related_rows_go_first_and_every_count_matches_the_plan(
        db: Database, write_policy, secret: str, batch_size: int) -> None:  # type: ignore[no-untyped-def]
    """Three levels deleted children first, with cascades counted; plan == run == expected."""
    rows = build_shop(db)
    policies = write_policy(SHOP_POLICY)
    expected = expected_counts(rows)
    assert all(n > 0 for _, n in expected.values())

    before = db.snapshot()
    plan = api.plan([policies], db.url, samples=3, with_sql=True)
    assert db.snapshot() == before
    planned = {c.label: (c.action, c.rows) for c in plan.rules[0].counts}
    assert planned == expected

    result = api.sweep([policies], db.url, batch_size=batch_size)
    assert result.status == "completed", result.rules[0].error
    done = {label: (c.action, c.rows) for label, c in result.rules[0].counts.items()}
    assert done == expected
    assert result.rules[0].batches == -(-len(CLOSED) // batch_size)

    assert_end_state(db, rows)


def assert_end_state(db: Database, rows: dict[str, list[dict[str, Any]]]) -> None:
    """Whatever the batch size, the database ends in exactly this state."""
    state = db.snapshot()  # one reflection instead of one per table: PostgreSQL's is slow

    def ids(table: str) -> set[int]:
        return {r[0] for r in state[table]}

    kept_shipments = {s["id"] for s in rows["shipments"] if s["order_id"] not in CLOSED}
    kept_invoices = {v["id"] for v in rows["invoices"] if v["order_id"] not in CLOSED}
    assert ids("orders") == set(ORDERS) - CLOSED
    assert ids("shipments") == kept_shipments
    assert ids("shipment_tracks") == {
        t["id"] for t in rows["shipment_tracks"] if t["shipment_id"] in kept_shipments}
    assert ids("shipment_events") == {
        e["id"] for e in rows["shipment_events"] if e["shipment_id"] in kept_shipments}
    assert ids("order_notes") == {n["id"] for n in rows["order_notes"]
                                  if n["order_id"] not in CLOSED or n["kind"] != "personal"}
    assert ids("invoices") == kept_invoices
    assert ids("invoice_lines") == {
        line["id"] for line in rows["invoice_lines"] if line["invoice_id"] in kept_invoices}
    assert sorted(state["reviews"]) == [(1, None), (4, 4), (5, None)]
    for order_id, _kind, street, name in state["order_addresses"]:
        if order_id in CLOSED:
            assert street is None and name.startswith("pn:") and len(name) == 32
        else:
            assert (street, name) == (f"Gate {order_id}", f"Kari {order_id}")
    assert len(state["order_log"]) == len(rows["order_log"])
    for order_ref, _line, text in state["order_log"]:
        assert text == ("removed" if order_ref in CLOSED else f"placed by Kari {order_ref}")


def test_related_anonymise_under_an_anonymised_parent(
        db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    """An anonymised parent's children take their own actions and filters, and plan == run."""
    meta = sa.MetaData()
    accounts = sa.Table(
        "accounts", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("closed", sa.SmallInteger, nullable=False),
        sa.Column("email", sa.String(64), nullable=True))
    addresses = sa.Table(
        "account_addresses", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("street", sa.String(64), nullable=True))
    sessions = sa.Table(
        "account_sessions", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("account_id", sa.Integer, sa.ForeignKey("accounts.id"), nullable=False))
    db.create(meta)
    db.insert(accounts, [{"id": i, "closed": int(i % 2 == 0), "email": f"a{i}@example.com"}
                         for i in range(1, 7)])
    db.insert(addresses, [{"id": 10 * i + n, "account_id": i, "kind": kind, "street": "Gate 1"}
                          for i in range(1, 7) for n, kind in ((1, "home"), (2, "work"))])
    db.insert(sessions, [{"id": 10 * i + n, "account_id": i}
                         for i in range(1, 7) for n in range(i % 3 + 1)])
    policies = write_policy(CATEGORY_YAML + """
rules:
  - id: closed-accounts
    category: history
    table: accounts
    where: {column: closed, op: "=", value: 1}
    action: {anonymise: {email: email_domain}}
    related:
      - table: account_addresses
        on: {account_id: id}
        where: {column: kind, op: "=", value: home}
        action: {anonymise: {street: {strategy: mask, keep_first: 1}}}
      - {table: account_sessions, on: {account_id: id}, action: delete}
""")
    closed = {2, 4, 6}
    expected = {"accounts": 3, "accounts > account_addresses": 3,
                "accounts > account_sessions": sum(i % 3 + 1 for i in closed)}
    before = db.snapshot()
    planned = {c.label: c.rows for c in api.plan([policies], db.url).rules[0].counts}
    assert db.snapshot() == before
    assert planned == expected
    result = api.sweep([policies], db.url, batch_size=2)
    assert {label: c.rows for label, c in result.rules[0].counts.items()} == expected
    assert [r[2] for r in db.rows("accounts")] == [
        "@example.com" if i in closed else f"a{i}@example.com" for i in range(1, 7)]
    assert {(r[1], r[2]): r[3] for r in db.rows("account_addresses")} == {
        (i, kind): "G*****" if i in closed and kind == "home" else "Gate 1"
        for i in range(1, 7) for kind in ("home", "work")}
    assert {r[1] for r in db.rows("account_sessions")} == {1, 3, 5}


# --------------------------------------------------------------------------- keys


def test_composite_keys_batch_through_every_row(db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    """Keyset batches over (warehouse, sku), as target and as composite link, miss no row."""
    meta = sa.MetaData()
    stock = sa.Table(
        "stock", meta,
        sa.Column("warehouse", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("sku", sa.String(16), primary_key=True),
        sa.Column("qty", sa.Integer, nullable=False),
        sa.Column("supplier_email", sa.String(64), nullable=True))
    moves = sa.Table(
        "stock_moves", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("warehouse", sa.Integer, nullable=False),
        sa.Column("sku", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(["warehouse", "sku"], ["stock.warehouse", "stock.sku"]))
    db.create(meta)
    skus = ["a", "b", "c", "d"]
    db.insert(stock, [{"warehouse": w, "sku": s, "qty": 0 if (w + i) % 2 else 500,
                       "supplier_email": f"buyer{w}{s}@example.com"}
                      for w in (1, 2, 3) for i, s in enumerate(skus)])
    db.insert(moves, [{"id": 100 * w + 10 * i + n, "warehouse": w, "sku": s}
                      for w in (1, 2, 3) for i, s in enumerate(skus) for n in (1, 2)])
    empty = {(w, s) for w in (1, 2, 3) for i, s in enumerate(skus) if (w + i) % 2}
    policies = write_policy(CATEGORY_YAML + """
rules:
  - id: empty-stock
    category: history
    table: stock
    where: {column: qty, op: "=", value: 0}
    action: delete
    related:
      - {table: stock_moves, on: {warehouse: warehouse, sku: sku}, action: delete}
  - id: big-suppliers
    category: history
    table: stock
    where: {column: qty, op: ">", value: 100}
    action: {anonymise: {supplier_email: {strategy: hmac, length: 20}}}
""")
    plan = api.plan([policies], db.url, with_sql=True)
    planned = {(r.rule_id, c.label): c.rows for r in plan.rules for c in r.counts}
    assert planned == {("empty-stock", "stock"): 6, ("empty-stock", "stock > stock_moves"): 12,
                       ("big-suppliers", "stock"): 6}
    result = api.sweep([policies], db.url, batch_size=2)
    done = {(r.rule_id, label): c.rows for r in result.rules for label, c in r.counts.items()}
    assert done == planned
    assert [r.batches for r in result.rules] == [3, 3]
    left = db.rows("stock")
    assert {(w, s) for w, s, _q, _e in left} == {(w, s) for w in (1, 2, 3) for s in skus} - empty
    assert all(e.startswith("pn:") and len(e) == 20 for _w, _s, _q, e in left)
    assert {(w, s) for _i, w, s in db.rows("stock_moves")} == {
        (w, s) for w in (1, 2, 3) for s in skus} - empty


def test_declared_key_stands_in_for_a_missing_primary_key(
        db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    """A table without primary key is swept by the `key` the policy names, in several batches."""
    meta = sa.MetaData()
    visits = sa.Table(
        "visits", meta,
        sa.Column("session", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("ip", sa.String(45), nullable=True),
        sa.Column("bot", sa.SmallInteger, nullable=False))
    db.create(meta)
    db.insert(visits, [{"session": f"s{k}", "seq": n, "ip": f"10.0.{k}.{n}", "bot": n % 2}
                       for k in range(3) for n in range(4)])
    policies = write_policy(CATEGORY_YAML + """
rules:
  - id: bot-visits
    category: history
    table: visits
    key: [session, seq]
    where: {column: bot, op: "=", value: 1}
    action: delete
  - id: visitor-ips
    category: history
    table: visits
    key: [session, seq]
    action: {anonymise: {ip: {strategy: mask, keep_first: 3}}}
""")
    plan = api.plan([policies], db.url)
    assert [r.rows for r in plan.rules] == [6, 12]  # the plan runs before the deletion
    result = api.sweep([policies], db.url, batch_size=4)
    assert [r.rows for r in result.rules] == [6, 6]
    rows = db.rows("visits", order_by="ip")
    assert sorted((s, n) for s, n, _ip, _bot in rows) == [
        (f"s{k}", n) for k in range(3) for n in (0, 2)]
    assert all(ip.startswith("10.") and set(ip[3:]) == {"*"} for _s, _n, ip, _b in rows)


def test_a_declared_key_that_is_not_unique_fails_its_rule_not_the_run(
        db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    """A `key` matching several rows stops its rule untouched (exit 4); later rules still run."""
    meta = sa.MetaData()
    visits = sa.Table("visits", meta, sa.Column("session", sa.String(32), nullable=False),
                      sa.Column("seq", sa.Integer, nullable=False))
    other = sa.Table("other", meta,
                     sa.Column("id", sa.Integer, primary_key=True, autoincrement=False))
    db.create(meta)
    db.insert(visits, [{"session": "a", "seq": 1}, {"session": "a", "seq": 2},
                       {"session": "b", "seq": 1}])
    db.insert(other, [{"id": 1}])
    policies = write_policy(CATEGORY_YAML + """
rules:
  - {id: by-session, category: history, table: visits, key: [session], action: delete}
  - {id: other, category: history, table: other, action: delete}
""")
    result = api.sweep([policies], db.url, batch_size=1)
    assert (result.status, result.exit_code) == ("partial", 4)
    assert [r.rule_id for r in result.rules] == ["by-session", "other"]
    assert result.rules[0].error == ("KeyNotUnique: visits: key (session) is not unique; name "
                                     "columns that identify one row with 'key'")
    assert result.rules[1].error is None
    assert len(db.rows("visits", order_by="seq")) == 3
    assert db.rows("other") == []


def test_a_cascade_declared_as_related_with_its_columns_reordered_is_not_counted_twice(
        db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    """A composite ON DELETE CASCADE key handled as `related` (pairs in any order) is one table
    in the plan, not a related table plus a database cascade."""
    meta = sa.MetaData()
    stock = sa.Table(
        "stock", meta,
        sa.Column("warehouse", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("sku", sa.String(16), primary_key=True),
        sa.Column("qty", sa.Integer, nullable=False))
    moves = sa.Table(
        "stock_moves", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("warehouse", sa.Integer, nullable=False),
        sa.Column("sku", sa.String(16), nullable=False),
        sa.ForeignKeyConstraint(["warehouse", "sku"], ["stock.warehouse", "stock.sku"],
                                ondelete="CASCADE"))
    db.create(meta)
    db.insert(stock, [{"warehouse": 1, "sku": s, "qty": q} for s, q in (("a", 0), ("b", 5))])
    db.insert(moves, [{"id": n, "warehouse": 1, "sku": s} for n, s in enumerate("aab")])
    policies = write_policy(CATEGORY_YAML + """
rules:
  - id: empty-stock
    category: history
    table: stock
    where: {column: qty, op: "=", value: 0}
    action: delete
    related:
      - {table: stock_moves, on: {sku: sku, warehouse: warehouse}, action: delete}
""")
    planned = [(c.label, c.action, c.rows) for c in api.plan([policies], db.url).rules[0].counts]
    assert planned == [("stock", "delete", 1), ("stock > stock_moves", "delete", 2)]
    result = api.sweep([policies], db.url)
    assert [(label, c.action, c.rows) for label, c in result.rules[0].counts.items()] == planned


def test_run_reports_every_planned_table_even_when_none_of_its_rows_are_due(
        db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    """A run lists the plan's tables in the plan's order, cascades included, with 0 where
    nothing was due: below orders without shipments, and on a second run."""
    build_shop(db)
    # orders 3 and 9 are closed and have neither shipments nor reviews
    policies = write_policy(SHOP_POLICY.replace(
        'where: {column: status, op: "=", value: closed}',
        'where: {column: id, op: "in", value: [3, 9]}'))
    plan = api.plan([policies], db.url)
    planned = [(c.label, c.action, c.rows) for c in plan.rules[0].counts]
    assert ("orders > shipments > shipment_events", "cascade delete", 0) in planned
    assert ("orders > reviews", "cascade set null", 0) in planned
    assert ("orders > invoices", "cascade delete", 1) in planned
    result = api.sweep([policies], db.url)
    assert [(label, c.action, c.rows) for label, c in result.rules[0].counts.items()] == planned

    again = api.sweep([policies], db.url)
    assert [(label, c.action, c.rows) for label, c in again.rules[0].counts.items()] == [
        (label, action, 0) for label, action, _n in planned]


def failing_shop(db: Database, write_policy) -> Any:  # type: ignore[no-untyped-def]
    """The shop with only shipments by post declared: order 5's courier shipment 52 then
    blocks the deletion of order 5 (a foreign key without ON DELETE)."""
    build_shop(db)
    with db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE shipments SET carrier = 'courier' WHERE id = 52"))
    return write_policy(SHOP_POLICY.replace(
        "        on: {order_id: id}\n        action: delete\n",
        "        on: {order_id: id}\n        where: {column: carrier, op: \"=\", value: post}\n"
        "        action: delete\n"))


def test_a_batch_that_fails_is_rolled_back_whole(db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    """Children deleted in a batch whose parent then fails a foreign key are restored (so a
    parent deleted before its children would fail on every backend)."""
    policies = failing_shop(db, write_policy)
    result = api.sweep([policies], db.url, batch_size=1)
    assert result.status == "partial"
    assert result.rules[0].error is not None
    assert {r[0] for r in db.rows("orders")} == set(ORDERS) - {1, 3}  # went before 5 failed
    assert {r[0] for r in db.rows("shipments") if r[1] == 5} == {51, 52}
    assert len([t for t in db.rows("shipment_tracks") if t[1] in (51, 52)]) == 3
    assert next(r for r in db.rows("order_notes") if r[1] == 5)[2] == "personal"
    assert sorted(r for r in db.rows("order_log") if r[0] == 5) == [
        (5, 1, "placed by Kari 5"), (5, 2, "placed by Kari 5")]
    assert [r[0] for r in db.rows("invoices")] == [2, 5, 9]  # order 1's invoice went


@pytest.mark.parametrize("db", ["sqlite"], indirect=True)  # the API, not the backend, is at fault
def test_a_failed_rule_still_reports_what_its_committed_batches_changed(
        db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    """Orders 1 and 3 were deleted in committed batches before order 5 failed: the run says so."""
    policies = failing_shop(db, write_policy)
    result = api.sweep([policies], db.url, batch_size=1)
    assert result.status == "partial"
    assert result.rules[0].counts["orders"].rows == 2
