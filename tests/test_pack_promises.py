"""The privacy policy's promises, proven on the demo shop: after the shipped policies run at a
frozen date, every row of all 40 Magento tables is exactly what the policy says it should be.

The expectations are computed here from the generator's own ground truth (which accounts are
removed, each row's original customer id) and the policy's periods, not from the tool:

- rows of removed accounts, expired guest orders, old visits and other expired rows are gone,
  or every personal-data cell (role `personal` in the fact file) holds NULL or a placeholder,
  except the payment references the pack keeps for the books (its keep entries);
- every other row is byte-identical to before;
- amounts and dates of every order still in the database are intact, and nothing under the
  bookkeeping floor is deleted.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from freezegun import freeze_time

from retention import api
from retention.demo import build_demo_database
from retention.demo_data import generate
from retention.durations import add_months
from retention.policy import Policy
from tests.conftest import Database
from tests.test_shipped_policies import POLICIES, magento_tables

AS_OF = datetime(2026, 3, 31)  # the demo's last day (naive UTC); data from March 2020
NOW = datetime(2026, 3, 31, 3, 0, 0)
CUSTOMERS, SEED = 80, 7
DAY, DAYS_30, DAYS_90 = NOW - timedelta(days=1), NOW - timedelta(days=30), \
    NOW - timedelta(days=90)
YEAR, GUEST_EXPIRY = add_months(NOW, -12), add_months(NOW, -36)
FLOOR_START = datetime(2021, 1, 1)  # 5 years after the end of FY 2020 is 2026-01-01
PLACEHOLDERS = {None, "Anonymised", "anonymised@anonymised.invalid", "0.0.0.0", 0}
# The order and the tables that repeat it, by the column holding the order id.
ORDER_LINK = {
    "sales_order": "entity_id", "sales_order_address": "parent_id",
    "sales_order_item": "order_id", "sales_order_payment": "parent_id",
    "sales_order_status_history": "parent_id", "sales_order_grid": "entity_id",
    "sales_payment_transaction": "order_id", "sales_invoice": "order_id",
    "sales_invoice_grid": "order_id", "sales_shipment": "order_id",
    "sales_shipment_grid": "order_id", "sales_creditmemo": "order_id",
    "sales_creditmemo_grid": "order_id",
}
DOCUMENTS = {"sales_invoice": "sales_invoice_grid", "sales_creditmemo": "sales_creditmemo_grid"}
Rows = dict[str, dict[tuple[Any, ...], dict[str, Any]]]


def snapshot(db: Database, names: list[str]) -> Rows:
    meta = sa.MetaData()
    meta.reflect(db.engine, only=names)
    out: Rows = {}
    with db.engine.connect() as conn:
        for name in names:
            table = meta.tables[name]
            key = [c.name for c in table.primary_key.columns]
            out[name] = {tuple(r[k] for k in key): dict(r)
                         for r in conn.execute(sa.select(table)).mappings()}
    return out


class Truth:
    """What the policy says becomes of each row: 'same', 'anonymised' or 'gone'."""

    def __init__(self, before: Rows, removed: set[int], original: dict[str, list[dict[str, Any]]]):
        self.before, self.removed = before, removed
        owner = {o["entity_id"]: o["customer_id"] for o in original["sales_order"]}
        orders = before["sales_order"].values()
        self.expired_orders = {o["entity_id"] for o in orders
                               if (o["customer_is_guest"] == 1 and o["created_at"] <= GUEST_EXPIRY)
                               or owner[o["entity_id"]] in removed}
        accountless = {o["entity_id"] for o in orders if o["customer_id"] is None}
        self.gone_documents = {
            table: {k for k, d in before[table].items()
                    if d["order_id"] in accountless and d["created_at"] < FLOOR_START}
            for table in DOCUMENTS}
        last_document: dict[int, datetime] = {}
        for table in DOCUMENTS:
            for d in before[table].values():
                latest = last_document.get(d["order_id"], d["created_at"])
                last_document[d["order_id"]] = max(d["created_at"], latest)
        self.gone_orders = {o for o in accountless
                            if before["sales_order"][(o,)]["created_at"] < FLOOR_START
                            and last_document.get(o, datetime.min) < FLOOR_START}
        votes: defaultdict[int, set[Any]] = defaultdict(set)
        for v in before["rating_option_vote"].values():
            votes[v["review_id"]].add(v["customer_id"])
        self.gone_reviews = {r for r, who in votes.items() if who & removed}
        self.gone_quotes = {k[0] for k, q in before["quote"].items() if self._quote_gone(q)}
        self.gone_tokens = {k[0] for k, t in before["vault_payment_token"].items()
                            if not t["is_active"] or t["expires_at"] <= DAY}

    def _quote_gone(self, q: dict[str, Any]) -> bool:
        if q["customer_id"] in self.removed:
            return True
        return q["created_at"] <= (DAYS_30 if q["is_active"] == 0 else DAYS_90)

    def fate(self, table: str, key: tuple[Any, ...], row: dict[str, Any]) -> str:
        if table in ORDER_LINK:
            return self._order_fate(table, key, row)
        rule = self._rules().get(table)
        if rule is None:
            return "same"
        outcome = rule(row)
        return outcome if isinstance(outcome, str) else ("gone" if outcome else "same")

    def _order_fate(self, table: str, key: tuple[Any, ...], row: dict[str, Any]) -> str:
        order = row[ORDER_LINK[table]]
        if table in DOCUMENTS and key in self.gone_documents[table]:
            return "gone"
        grid_of = {grid: doc for doc, grid in DOCUMENTS.items()}
        if table in grid_of and key in self.gone_documents[grid_of[table]]:
            return "gone"  # the grid copy shares its document's entity_id
        if order in self.gone_orders:
            return "gone"
        return "anonymised" if order in self.expired_orders else "same"

    def _rules(self) -> dict[str, Callable[[dict[str, Any]], bool | str]]:
        removed = self.removed
        epoch_day = int(DAY.replace(tzinfo=UTC).timestamp())
        return {
            "customer_entity": lambda r: "anonymised" if r["rp_token"] is not None
            and r["rp_token_created_at"] <= DAY else "same",
            "customer_grid_flat": lambda r: r["entity_id"] in removed,
            "customer_visitor": lambda r: r["customer_id"] in removed
            or r["created_at"] <= DAYS_90,
            "customer_log": lambda r: r["customer_id"] in removed or r["last_login_at"] <= DAYS_90,
            "login_as_customer": lambda r: r["customer_id"] in removed or r["created_at"] <= DAY,
            "magento_login_as_customer_log": lambda r: r["customer_id"] in removed
            or r["time"] <= YEAR,
            "oauth_token": lambda r: r["customer_id"] is not None and r["created_at"] <= DAY,
            "quote": lambda r: r["entity_id"] in self.gone_quotes,
            "quote_address": lambda r: r["quote_id"] in self.gone_quotes,
            "quote_item": lambda r: r["quote_id"] in self.gone_quotes,
            "quote_payment": lambda r: r["quote_id"] in self.gone_quotes,
            "newsletter_subscriber": lambda r: r["customer_id"] in removed or (
                r["subscriber_status"] in (2, 3, 4) and r["change_status_at"] <= DAYS_30),
            "review": lambda r: r["review_id"] in self.gone_reviews,
            "review_detail": lambda r: r["review_id"] in self.gone_reviews,
            "rating_option_vote": lambda r: "gone" if r["review_id"] in self.gone_reviews
            else "anonymised",
            "report_event": lambda r: (r["subtype"] == 0 and r["subject_id"] in removed)
            or r["logged_at"] <= DAYS_90,
            "report_viewed_product_index": lambda r: r["added_at"] <= DAYS_90,
            "report_compared_product_index": lambda r: r["added_at"] <= DAYS_90,
            "sendfriend_log": lambda r: r["time"] <= epoch_day,
            "vault_payment_token": lambda r: r["entity_id"] in self.gone_tokens,
            "vault_payment_token_order_payment_link": lambda r: r["payment_token_id"]
            in self.gone_tokens,
        }


def personal_columns(policy: Policy) -> dict[str, set[str]]:
    """Per table, the cells an anonymised row must not hold any more: the fact file's
    personal columns, less those the pack keeps for the books (keep entries)."""
    exempt = {(k.table, c) for k in policy.keeps
              if k.category in ("accounting-records", "purchase-history")
              for c in k.columns or ()}
    out = {t["name"]: {c["name"] for c in t["columns"] if c["role"] == "personal"
                       and (t["name"], c["name"]) not in exempt} for t in magento_tables()}
    out["customer_entity"] = {"rp_token"}  # the account stays; its expired reset token goes
    return out


def sweep_as_planned(db: Database) -> dict[tuple[str, str], int]:
    """One run at NOW whose per-table counts equal its dry run's; returns them."""
    with freeze_time(NOW):
        plan = api.plan([POLICIES], db.url)
        result = api.sweep([POLICIES], db.url, batch_size=25)
    assert result.status == "completed"
    planned = {(r.rule_id, c.label): c.rows for r in plan.rules for c in r.counts}
    done = {(r.rule_id, label): c.rows for r in result.rules for label, c in r.counts.items()}
    assert done == planned
    return planned


def test_the_pack_keeps_every_promise_on_every_table(db: Database, secret: str) -> None:
    build_demo_database(db.url, customers=CUSTOMERS, seed=SEED, as_of=AS_OF)
    shop, removed = generate(CUSTOMERS, SEED, AS_OF)
    facts = {t["name"]: t for t in magento_tables()}
    before = snapshot(db, sorted(facts))
    truth = Truth(before, set(removed), shop.rows)
    assert truth.expired_orders and truth.gone_orders and truth.gone_reviews

    first = sweep_as_planned(db)
    # orders wait for their invoices and credit memos: those go in the first run, the orders
    # in the next one (an order without documents goes at once)
    second = sweep_as_planned(db)
    assert first[("invoices-delete-after-bookkeeping", "sales_invoice")] > 0
    assert second[("orders-delete-after-bookkeeping", "sales_order")] > 0
    with freeze_time(NOW):
        assert sum(r.total for r in api.plan([POLICIES], db.url).rules) == 0

    after = snapshot(db, sorted(facts))
    policy = api.validate([POLICIES])
    personal = personal_columns(policy)
    fates: defaultdict[str, int] = defaultdict(int)
    for table, rows in before.items():
        # keys, amounts and the record's own dates (not a token's date, which is personal)
        kept = {c["name"] for c in facts[table]["columns"] if c["role"] in ("pk", "amount")
                or (c["role"] == "timestamp" and "category" not in c)}
        for key, old in rows.items():
            fate = truth.fate(table, key, old)
            fates[fate] += 1
            new = after[table].get(key)
            if fate == "gone":
                assert new is None, (table, key)
            elif fate == "same":
                assert new == old, (table, key)
            else:
                assert new is not None, (table, key)
                for column in personal[table]:
                    value = new[column]
                    assert value in PLACEHOLDERS or (column == "postcode" and len(value) <= 2), \
                        (table, key, column)
                assert {c: new[c] for c in kept} == {c: old[c] for c in kept}, (table, key)
    assert min(fates.values()) > 50, fates
    for table in before:
        assert set(after[table]) <= set(before[table]), table  # nothing is ever added


def test_nothing_under_the_bookkeeping_floor_is_deleted(db: Database, secret: str) -> None:
    """Until the last second of 2025, no order, invoice or credit memo of 2020 is deleted and
    their amounts are as booked; from 2026-01-01T00:00Z those of 2020 go (invoices first, the
    orders once their documents are gone), and those of 2021 stay."""
    build_demo_database(db.url, customers=CUSTOMERS, seed=SEED, as_of=AS_OF)
    names = sorted({"sales_order", "sales_invoice", "sales_creditmemo"})
    before = snapshot(db, names)
    for moment in (datetime(2025, 12, 31, 23, 59, 59), datetime(2026, 1, 1)):
        with freeze_time(moment):
            api.sweep([POLICIES], db.url)
            api.sweep([POLICIES], db.url)
        after = snapshot(db, names)
        for table in names:
            gone = {k for k in before[table] if k not in after[table]}
            if moment.year == 2025:
                assert gone == set(), table
            else:
                assert gone or table == "sales_creditmemo", table  # few memos in 2020
                assert all(before[table][k]["created_at"] < FLOOR_START
                           and before[table][k].get("customer_id") is None for k in gone), table
            amounts = [c["name"] for t in magento_tables() if t["name"] == table
                       for c in t["columns"] if c["role"] == "amount"]
            for key, row in after[table].items():
                assert {c: row[c] for c in amounts} == {c: before[table][key][c]
                                                        for c in amounts}, (table, key)
