"""The shipped policy pack (policies/*.yaml): valid on its own and against the demo shop on
every backend, every rule tied to a documented category, no rule reading a clock that Magento
rewrites, and every Magento table and personal-data column of the fact file accounted for by a
rule or a reasoned keep entry."""

from __future__ import annotations

from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
import yaml

from retention import api
from retention.demo import build_demo_database
from retention.durations import parse_duration
from retention.floors import protected_tables
from retention.model import Anonymise, NotExistsCondition, Related, Rule
from retention.policy import Policy
from tests.conftest import Database

POLICIES = Path(__file__).resolve().parent.parent / "policies"
# Columns that Magento rewrites on every update of the row (ON UPDATE CURRENT_TIMESTAMP):
# an anonymisation would restart their clock, so no rule may count from them.
MOVING_CLOCKS = {"updated_at", "last_visit_at"}




def magento_tables() -> list[dict[str, Any]]:
    """The 40 tables of the fact file (retention/bundled/), written from Magento's
    db_schema.xml: keys, foreign keys and which columns hold personal data."""
    text = (files("retention") / "bundled" / "magento2-personal-data-tables.yaml").read_text(
        encoding="utf-8")
    tables: list[dict[str, Any]] = yaml.safe_load(text)["tables"]
    return tables


@pytest.fixture(scope="module")
def policy() -> Policy:
    return api.validate([POLICIES])


def test_pack_validates_without_a_database(policy: Policy) -> None:
    assert len(policy.files) >= 7
    assert {r.table for r in policy.rules} >= {
        "sales_order", "quote", "newsletter_subscriber", "customer_visitor", "customer_log",
        "login_as_customer", "customer_grid_flat", "report_event",
        "report_viewed_product_index", "customer_entity"}


def test_every_rule_has_a_documented_category(policy: Policy) -> None:
    for rule in policy.rules:
        category = policy.categories[rule.category]
        assert category.legal_basis.strip(), rule.id
        assert category.policy_clause.strip(), rule.id
        assert rule.description.strip(), rule.id


def test_no_rule_counts_from_a_moving_clock(policy: Policy) -> None:
    clocks = {r.id: r.expires.from_ for r in policy.rules if r.expires}
    assert not {rule: column for rule, column in clocks.items() if column in MOVING_CLOCKS}


def test_guest_and_deleted_account_orders_are_anonymised_alike(policy: Policy) -> None:
    """One anonymisation (a YAML anchor) serves both rules, and reaches every copy."""
    guest = policy.rule("guest-orders-anonymise")
    deleted = policy.rule("deleted-account-orders-anonymise")
    assert guest.action == deleted.action and guest.related == deleted.related
    assert {r.table for r in guest.related} >= {
        "sales_order_address", "sales_order_payment", "sales_order_grid", "sales_invoice_grid",
        "sales_shipment_grid", "sales_creditmemo_grid", "sales_shipment"}
    assert guest.expires is not None and str(guest.expires.after) == "3 years"
    assert deleted.expires is None


def test_orders_are_deleted_only_after_the_bookkeeping_floor(policy: Policy) -> None:
    """The floor (5 years after the financial year's end, Bookkeeping Act § 13) protects
    orders, invoices and credit memos; each is deleted by a rule counted from its own date, and
    an order only once no invoice or credit memo is left (the database would cascade to them)."""
    law = policy.categories["accounting-records"].legal_floor
    assert law is not None and law.after == parse_duration("5 years")
    assert law.counted_from == "financial_year_end" and law.from_ == "created_at"
    assert "§ 13" in law.law
    assert {"sales_order", "sales_invoice", "sales_creditmemo"} <= set(protected_tables(policy))
    rule = policy.rule("orders-delete-after-bookkeeping")
    assert rule.action == "delete" and rule.expires is not None
    assert str(rule.expires.after) == "5 years"
    assert rule.expires.counted_from == "financial_year_end"
    assert {r.table for r in rule.related} == {
        "sales_order_grid", "sales_invoice_grid", "sales_shipment_grid", "sales_creditmemo_grid"}
    guards = {c.not_exists.table for c in getattr(rule.where, "all", [])
              if isinstance(c, NotExistsCondition)}
    assert guards == {"sales_invoice", "sales_creditmemo"}
    for table in ("sales_invoice", "sales_creditmemo"):
        (document,) = [r for r in policy.rules if r.table == table and r.action == "delete"]
        assert document.expires == rule.expires
    # anonymising rules run first, and orders before their documents, so that a run's counts
    # equal the plan's for every rule
    order = [r.id for r in policy.rules]
    assert order.index("guest-orders-anonymise") < order.index(rule.id)
    assert order.index("deleted-account-orders-anonymise") < order.index(rule.id)
    assert order.index(rule.id) < order.index("invoices-delete-after-bookkeeping")
    assert order.index(rule.id) < order.index("creditmemos-delete-after-bookkeeping")


def test_anonymisation_never_blanks_accounting_columns(policy: Policy) -> None:
    kept = {"grand_total", "base_grand_total", "subtotal", "tax_amount", "shipping_amount",
            "discount_amount", "total_paid", "total_refunded", "increment_id", "created_at",
            "amount_ordered", "amount_paid", "last_trans_id", "transaction_id", "method"}

    def columns(items: list[Rule] | list[Related]) -> set[str]:
        found: set[str] = set()
        for item in items:
            if isinstance(item.action, Anonymise):
                found |= set(item.action.anonymise)
            found |= columns(item.related)
        return found

    assert not columns(list(policy.rules)) & kept


def test_pack_fits_the_demo_shop(db: Database) -> None:
    """Tables, columns, keep entries and cascades: the legal floor holds against the schema."""
    build_demo_database(db.url, customers=20, seed=1, as_of=datetime(2026, 1, 15))
    policy = api.validate([POLICIES], db.url)
    assert len(policy.rules) >= 30 and len(policy.keeps) >= 10


def _changes(items: list[Rule] | list[Related], anonymised: dict[str, set[str]],
             deleted: set[str]) -> None:
    """Collect, per table, the columns some rule anonymises and the tables some rule deletes
    rows of (as target or related table)."""
    for item in items:
        if isinstance(item.action, Anonymise):
            anonymised.setdefault(item.table, set()).update(item.action.anonymise)
        else:
            deleted.add(item.table)
        _changes(item.related, anonymised, deleted)


def test_every_magento_table_is_covered_by_a_rule_or_a_keep(policy: Policy) -> None:
    """Each of the 40 tables is a rule's target or related table, or kept with a reason."""
    anonymised: dict[str, set[str]] = {}
    deleted: set[str] = set()
    _changes(list(policy.rules), anonymised, deleted)
    ruled = set(anonymised) | deleted
    kept = {k.table for k in policy.keeps}
    names = [t["name"] for t in magento_tables()]
    assert len(names) == 40
    assert [n for n in names if n not in ruled | kept] == []
    assert kept <= set(names)


def test_every_personal_column_is_deleted_anonymised_or_kept(policy: Policy) -> None:
    """Every column the fact file marks `role: personal` is anonymised where its table is
    anonymised (the state an order lives in for years), or in a table rules only delete rows
    of, or named by a keep entry (or its whole table is kept)."""
    anonymised: dict[str, set[str]] = {}
    deleted: set[str] = set()
    _changes(list(policy.rules), anonymised, deleted)
    kept: dict[str, set[str] | None] = {}
    for keep in policy.keeps:
        kept[keep.table] = None if keep.columns is None else set(keep.columns)
    missing = []
    for table in magento_tables():
        name = table["name"]
        for column in table["columns"]:
            if column["role"] != "personal" or (name in kept and kept[name] is None):
                continue
            covered = anonymised.get(name, set()) | (kept.get(name) or set())
            if column["name"] in covered or (name in deleted and name not in anonymised):
                continue
            missing.append(f"{name}.{column['name']}")
    assert missing == []
