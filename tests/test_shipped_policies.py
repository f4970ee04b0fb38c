"""The shipped policy pack (policies/*.yaml): valid on its own and against the demo shop on
every backend, every rule tied to a documented category, and no rule reading a clock that
Magento rewrites."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from retention import api
from retention.demo import build_demo_database
from retention.model import Anonymise, Related, Rule
from retention.policy import Policy
from tests.conftest import Database

POLICIES = Path(__file__).resolve().parent.parent / "policies"
# Columns that Magento rewrites on every update of the row (ON UPDATE CURRENT_TIMESTAMP):
# an anonymisation would restart their clock, so no rule may count from them.
MOVING_CLOCKS = {"updated_at", "last_visit_at"}


@pytest.fixture(scope="module")
def policy() -> Policy:
    return api.validate([POLICIES])


def test_pack_validates_without_a_database(policy: Policy) -> None:
    assert len(policy.files) >= 5
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
    rule = policy.rule("orders-delete-after-bookkeeping")
    assert rule.action == "delete" and rule.expires is not None
    assert str(rule.expires.after) == "5 years"
    assert rule.expires.counted_from == "financial_year_end"
    assert {r.table for r in rule.related} == {
        "sales_order_grid", "sales_invoice_grid", "sales_shipment_grid", "sales_creditmemo_grid"}
    # anonymising rules run first, so a run's counts equal the plan's for both
    order = [r.id for r in policy.rules]
    assert order.index("guest-orders-anonymise") < order.index(rule.id)
    assert order.index("deleted-account-orders-anonymise") < order.index(rule.id)


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
    build_demo_database(db.url, customers=20, seed=1, as_of=datetime(2026, 1, 15))
    policy = api.validate([POLICIES], db.url)
    assert len(policy.rules) >= 15
