"""`retention check`: columns that look personal and that no rule or keep covers, found by name
and by sampled values; quiet on a shop's ordinary columns; values never shown."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from retention.coverage import check_coverage
from retention.demo import build_demo_database
from retention.personal_patterns import luhn_ok, name_reasons, value_reasons
from tests.conftest import CATEGORY_YAML, Database
from tests.conftest import run_cli as retention

pytestmark = pytest.mark.usefixtures("cli_env")

POLICIES = Path(__file__).resolve().parent.parent / "policies"

# --------------------------------------------------------------------------- name patterns

# (table, column, type) that hold personal data in Magento 2 (magento2-personal-data-tables)
PERSONAL: list[tuple[str, str, Any]] = [
    ("customer_entity", "email", sa.String(255)),
    ("customer_entity", "firstname", sa.String(255)),
    ("customer_entity", "dob", sa.Date()),
    ("customer_entity", "password_hash", sa.String(128)),
    ("customer_entity", "rp_token", sa.String(128)),
    ("customer_entity", "taxvat", sa.String(50)),
    ("customer_entity", "gender", sa.SmallInteger()),
    ("customer_entity", "prefix", sa.String(40)),
    ("customer_address_entity", "company", sa.String(255)),
    ("customer_address_entity", "region", sa.String(255)),
    ("customer_address_entity", "telephone", sa.String(255)),
    ("customer_address_entity", "street", sa.Text()),
    ("customer_grid_flat", "name", sa.Text()),
    ("customer_grid_flat", "billing_full", sa.Text()),
    ("customer_grid_flat", "billing_vat_id", sa.String(255)),
    ("quote", "customer_note", sa.String(255)),
    ("quote", "remote_ip", sa.String(45)),
    ("quote_address", "customer_notes", sa.Text()),
    ("quote_payment", "cc_cid_enc", sa.String(255)),
    ("quote_payment", "paypal_payer_id", sa.String(255)),
    ("sales_order", "customer_email", sa.String(128)),
    ("sales_order", "x_forwarded_for", sa.String(255)),
    ("sales_order", "protect_code", sa.String(255)),
    ("sales_order", "customer_dob", sa.DateTime()),
    ("sales_order_address", "postcode", sa.String(255)),
    ("sales_order_address", "fax", sa.String(255)),
    ("sales_order_item", "product_options", sa.Text()),
    ("sales_order_payment", "cc_owner", sa.String(128)),
    ("sales_order_payment", "cc_exp_year", sa.String(4)),
    ("sales_order_payment", "echeck_routing_number", sa.String(32)),
    ("sales_order_payment", "last_trans_id", sa.String(255)),
    ("sales_order_status_history", "comment", sa.Text()),
    ("sales_order_grid", "billing_name", sa.String(255)),
    ("sales_order_grid", "shipping_address", sa.String(255)),
    ("sales_shipment", "shipping_label", sa.LargeBinary()),
    ("sales_shipment_grid", "customer_name", sa.String(128)),
    ("sales_payment_transaction", "txn_id", sa.String(100)),
    ("customer_visitor", "session_id", sa.String(64)),
    ("login_as_customer", "secret", sa.String(64)),
    ("magento_login_as_customer_log", "customer_email", sa.String(40)),
    ("oauth_token", "token", sa.String(32)),
    ("newsletter_subscriber", "subscriber_email", sa.String(150)),
    ("newsletter_subscriber", "subscriber_confirm_code", sa.String(32)),
    ("vault_payment_token", "gateway_token", sa.String(255)),
    ("rating_option_vote", "remote_ip_long", sa.BigInteger()),
    ("sendfriend_log", "ip", sa.BigInteger()),
    ("review_detail", "nickname", sa.String(128)),
    ("callbacks", "customer_phone", sa.String(32)),
    ("quote_payment", "cc_type", sa.String(255)),
    ("persistent_session", "key", sa.String(50)),
    ("persistent_session", "info", sa.Text()),
    ("vault_payment_token", "details", sa.Text()),
    ("review_detail", "title", sa.String(255)),
    ("review_detail", "detail", sa.Text()),
    ("wishlist_item", "description", sa.Text()),
    ("gift_message", "sender", sa.String(255)),
    ("gift_message", "message", sa.Text()),
]

# Magento columns that hold no personal data: order numbers, states, amounts, product and store
# names, flags about e-mails, links (integer ids)
NOT_PERSONAL: list[tuple[str, str, Any]] = [
    ("sales_order", "status", sa.String(32)),
    ("sales_order", "state", sa.String(32)),
    ("sales_order", "increment_id", sa.String(50)),
    ("sales_order", "shipping_description", sa.String(255)),
    ("sales_order", "shipping_method", sa.String(120)),
    ("sales_order", "coupon_code", sa.String(255)),
    ("sales_order", "store_name", sa.String(255)),
    ("sales_order", "grand_total", sa.Numeric(20, 4)),
    ("sales_order", "customer_group_id", sa.Integer()),
    ("sales_order", "billing_address_id", sa.Integer()),
    ("sales_order", "email_sent", sa.SmallInteger()),
    ("sales_order", "send_email", sa.SmallInteger()),
    ("sales_order", "customer_note_notify", sa.SmallInteger()),
    ("sales_order", "customer_is_guest", sa.SmallInteger()),
    ("sales_order", "gift_message_id", sa.Integer()),
    ("sales_order", "created_at", sa.DateTime()),
    ("sales_order", "order_currency_code", sa.String(3)),
    ("sales_order_item", "name", sa.String(255)),  # the product's name
    ("sales_order_item", "sku", sa.String(255)),
    ("quote_item", "name", sa.String(255)),
    ("store", "name", sa.String(255)),
    ("store_website", "name", sa.String(64)),
    ("customer_group", "customer_group_code", sa.String(32)),
    ("sales_order_address", "address_type", sa.String(255)),
    ("sales_order_address", "region_id", sa.Integer()),
    ("sales_order_grid", "customer_group", sa.String(255)),
    ("sales_order_grid", "payment_method", sa.String(255)),
    ("sales_order_grid", "shipping_information", sa.String(255)),
    ("sales_order_status_history", "is_customer_notified", sa.Integer()),
    ("sales_invoice_grid", "order_increment_id", sa.String(50)),
    ("sales_payment_transaction", "txn_type", sa.String(15)),
    ("quote", "checkout_method", sa.String(255)),
    ("quote", "items_count", sa.Integer()),
    ("quote_payment", "method", sa.String(255)),
    ("quote_payment", "paypal_payer_status", sa.String(255)),
    ("customer_entity", "rp_token_created_at", sa.DateTime()),
    ("customer_entity", "created_in", sa.String(255)),
    ("customer_entity", "is_active", sa.SmallInteger()),
    ("newsletter_subscriber", "subscriber_status", sa.Integer()),
    ("newsletter_subscriber", "change_status_at", sa.DateTime()),
    ("report_event", "event_type_id", sa.SmallInteger()),
    ("sales_shipment", "packages", sa.Text()),
    ("vault_payment_token", "is_visible", sa.Boolean()),
    ("vault_payment_token", "type", sa.String(128)),
    ("sales_order_address", "country_id", sa.String(2)),  # a country identifies nobody
    ("catalog_product_entity_text", "value", sa.Text()),
    ("cms_page", "title", sa.String(255)),  # a title outside reviews and wish lists
    ("salesrule", "description", sa.Text()),
    ("sales_order", "discount_description", sa.String(255)),
    ("url_rewrite", "request_path", sa.String(255)),
    ("translation", "key_id", sa.Integer()),
    ("core_config_data", "path", sa.String(255)),
]


def _column(table: str, name: str, ctype: Any, **kwargs: Any) -> sa.Column[Any]:
    column = sa.Column(name, ctype, **kwargs)
    sa.Table(table, sa.MetaData(), column)
    return column


@pytest.mark.parametrize(("table", "name", "ctype"), PERSONAL,
                         ids=[f"{t}.{c}" for t, c, _ in PERSONAL])
def test_personal_magento_columns_are_flagged_by_name(table: str, name: str, ctype: Any) -> None:
    """Every kind of personal column Magento 2 has is recognised by its name and type."""
    assert name_reasons(table, _column(table, name, ctype))


@pytest.mark.parametrize(("table", "name", "ctype"), NOT_PERSONAL,
                         ids=[f"{t}.{c}" for t, c, _ in NOT_PERSONAL])
def test_ordinary_magento_columns_are_not_flagged(table: str, name: str, ctype: Any) -> None:
    """Order numbers, states, amounts, flags, links and product or store names are quiet."""
    assert name_reasons(table, _column(table, name, ctype)) == []


def test_integer_keys_are_identifiers_not_personal_data() -> None:
    """`transaction_id` as a text column is a payment reference; as an integer primary key
    (sales_payment_transaction) it is a surrogate key."""
    assert name_reasons("sales_invoice", _column("sales_invoice", "transaction_id",
                                                 sa.String(255)))
    key = _column("sales_payment_transaction", "transaction_id", sa.Integer(), primary_key=True)
    assert name_reasons("sales_payment_transaction", key) == []


@pytest.mark.parametrize("value", [
    "kari.hansen@example.no", "Contact: ola@example.com, thanks",
])
def test_email_values(value: str) -> None:
    """An e-mail address anywhere in a value counts; the report gives a count, not the value."""
    assert value_reasons([value]) == ["1 of 1 sampled values look like e-mail addresses"]


@pytest.mark.parametrize(("value", "kind"), [
    ("+47 926 97 477", "phone numbers"), ("0047 92697477", "phone numbers"),
    ("926 97 477", "phone numbers"), ("192.0.2.10", "IP addresses"),
    ("2001:db8::1", "IP addresses"), ("203.0.113.7, 198.51.100.2", "IP addresses"),
    ("Storgata 12B,Oslo,Oslo,0155", "postal addresses"),
    ("Karl Johans gate 1, 0154 Oslo", "postal addresses"),
    ("card 4111 1111 1111 1111 exp 12/29", "card numbers (Luhn-valid)"),
])
def test_value_kinds(value: str, kind: str) -> None:
    """Phone numbers, IP addresses (and lists of them), Norwegian postal addresses and
    Luhn-valid card numbers are recognised in sampled values."""
    assert value_reasons([value]) == [f"1 of 1 sampled values look like {kind}"]


@pytest.mark.parametrize("value", [
    "000000123", "MIG-TAG-MAG", "249.0000", "2026-03-31 12:00:00", "pending", "Flat Rate - Fixed",
    "Migenic navneskilt med magnet", "4111 1111 1111 1112", "12345678", "NOK", "vipps",
    '{"qty": 2, "options": []}', "1234567890123",
])
def test_ordinary_values_look_like_nothing(value: str) -> None:
    """Order numbers, SKUs, amounts, dates, states, product names, JSON, digit runs that fail
    the Luhn check and eight digits without a phone's spacing look like nothing."""
    assert value_reasons([value]) == []


def test_luhn() -> None:
    """The textbook Luhn example passes, one changed digit fails."""
    assert luhn_ok("79927398713") and not luhn_ok("79927398710")


# --------------------------------------------------------------------------- against a database


BASE_POLICY = CATEGORY_YAML + """
rules:
  - id: old-orders
    category: history
    table: orders
    expires: {after: 3 years, from: created_at}
    action: delete
  - id: forget-emails
    category: history
    table: customers
    where: {column: active, op: "=", value: 0}
    action: {anonymise: {email: ~}}
"""
KEEP_NAME = """
keep:
  - table: customers
    columns: [name]
    category: history
    reason: The account holder's name, kept while the account exists.
"""


def make_shop(db: Database) -> dict[str, sa.Table]:
    meta = sa.MetaData()
    tables = {
        "customers": sa.Table(
            "customers", meta, sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("email", sa.String(255)), sa.Column("name", sa.String(255)),
            sa.Column("active", sa.SmallInteger, nullable=False)),
        "orders": sa.Table(
            "orders", meta, sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("customer_id", sa.Integer,
                      sa.ForeignKey("customers.id", ondelete="SET NULL")),
            sa.Column("customer_email", sa.String(128)), sa.Column("status", sa.String(32)),
            sa.Column("increment_id", sa.String(50)), sa.Column("created_at", sa.DateTime)),
        # no rule names it: the database deletes its rows with the orders
        "items": sa.Table(
            "order_items", meta, sa.Column("id", sa.Integer, primary_key=True,
                                           autoincrement=False),
            sa.Column("order_id", sa.Integer, sa.ForeignKey("orders.id", ondelete="CASCADE"),
                      nullable=False),
            sa.Column("name", sa.String(255)), sa.Column("gift_message", sa.Text)),
        "misc": sa.Table(
            "misc", meta, sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("reference", sa.String(200))),
        "trail": sa.Table(  # the tool's own tables are not the shop's
            "retention_audit_copy", meta,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("email", sa.String(200))),
    }
    db.create(meta)
    db.insert(tables["misc"], [{"id": 1, "reference": "ORD-000001"},
                               {"id": 2, "reference": "ask Kari.Hansen@example.no first"},
                               {"id": 3, "reference": None}, {"id": 4, "reference": "ORD-2"}])
    return tables


def uncovered(report: Any) -> set[tuple[str, str]]:
    return {(f.table, f.column) for f in report.uncovered}


def test_rules_keeps_and_cascades_cover_columns(db: Database, write_policy) -> None:  # type: ignore[no-untyped-def]
    """A deleting rule covers every column of its table and of the tables the database
    cascades to; an anonymising rule covers its columns; a keep entry its own."""
    make_shop(db)
    report = check_coverage([write_policy(BASE_POLICY)], db.url)
    assert uncovered(report) == {("customers", "name")}
    covered = {(f.table, f.column): f.covered_by for f in report.covered}
    assert covered[("orders", "customer_email")] == ("rows deleted by rule old-orders",)
    assert covered[("order_items", "gift_message")] == (
        "rows deleted by the database with orders rows of rule old-orders",)
    assert covered[("customers", "email")] == ("anonymised by rule forget-emails",)
    assert ("order_items", "name") not in covered  # a product name, not a person's
    assert not any(f.table.startswith("retention_") for f in report.findings)
    report = check_coverage([write_policy(BASE_POLICY + KEEP_NAME)], db.url)
    assert uncovered(report) == set()
    covered = {(f.table, f.column): f.covered_by for f in report.covered}
    assert covered[("customers", "name")] == (
        "kept (history): The account holder's name, kept while the account exists.",)


def test_a_personal_column_added_later_is_found_until_covered(db: Database, write_policy) -> None:  # type: ignore[no-untyped-def]
    """A column added by ALTER TABLE and a new table are found; a rule or keep entry for
    them makes the check pass again."""
    make_shop(db)
    with db.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE customers ADD COLUMN customer_phone VARCHAR(32)")
        conn.exec_driver_sql("CREATE TABLE callbacks (id INTEGER PRIMARY KEY, "
                             "customer_phone VARCHAR(32), created_at DATE)")
    policy = BASE_POLICY + KEEP_NAME
    assert uncovered(check_coverage([write_policy(policy)], db.url)) == {
        ("customers", "customer_phone"), ("callbacks", "customer_phone")}
    policy = policy.replace("{anonymise: {email: ~}}",
                            "{anonymise: {email: ~, customer_phone: ~}}") + """
  - table: callbacks
    category: history
    reason: Call-back requests; deleted by the support system after each call.
"""
    assert uncovered(check_coverage([write_policy(policy)], db.url)) == set()


def test_sample_finds_an_email_in_an_innocent_column_and_never_prints_it(
        db: Database, write_policy, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    directory = str(write_policy(BASE_POLICY + KEEP_NAME))
    make_shop(db)
    assert retention("check", "-p", directory, "-d", db.url) == 0
    assert "misc" not in capsys.readouterr().out  # its name says nothing
    assert retention("check", "-p", directory, "-d", db.url, "--sample", "10") == 0
    out, err = capsys.readouterr()
    assert "misc" in out and "reference" in out
    assert "1 of 3 sampled values look like e-mail addresses" in out
    assert retention("check", "-p", directory, "-d", db.url, "--sample", "10",
                     "--format", "json") == 0
    out, err2 = capsys.readouterr()
    data = json.loads(out)
    assert data["uncovered"] == [{"table": "misc", "column": "reference", "reasons": [
        "1 of 3 sampled values look like e-mail addresses"]}]
    for text in (out, err, err2):
        assert "Kari.Hansen" not in text and "example.no" not in text


def test_strict_exits_3_when_a_column_is_not_covered(
        db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    make_shop(db)
    uncovered_policy = tmp_path / "uncovered.yaml"
    uncovered_policy.write_text(BASE_POLICY, encoding="utf-8")
    assert retention("check", "-p", str(uncovered_policy), "-d", db.url) == 0
    assert retention("check", "-p", str(uncovered_policy), "-d", db.url, "--strict") == 3
    out, err = capsys.readouterr()
    assert [line.split() for line in out.splitlines() if "customers" in line] == [
        ["│", "customers", "│", "name", "│", "a", "person's", "name", "or", "title", "│"]] * 2
    assert err.strip().endswith("1 column(s) look personal and no rule or keep entry covers "
                                "them (--strict)")
    covered_policy = tmp_path / "covered.yaml"
    covered_policy.write_text(BASE_POLICY + KEEP_NAME, encoding="utf-8")
    assert retention("check", "-p", str(covered_policy), "-d", db.url, "--strict") == 0


def test_a_policy_that_does_not_fit_the_schema_exits_3(
        db: Database, write_policy, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """Tables missing: the policy's problems are reported as by `validate`."""
    meta = sa.MetaData()
    sa.Table("other", meta, sa.Column("id", sa.Integer, primary_key=True))
    db.create(meta)
    assert retention("check", "-p", str(write_policy(BASE_POLICY)), "-d", db.url) == 3
    assert "table 'orders' does not exist in the database" in capsys.readouterr().err


@pytest.mark.parametrize(("table", "person"), [
    ("customer_entity", True), ("customers", True), ("quote_address", True),
    ("sales_order_addresses", True), ("users", True), ("admin_user", True),
    ("customer_group", False), ("sales_order_item", False), ("store", False),
    ("product_statuses", False), ("quote_items", False), ("sales_order", False),
])
def test_person_tables(table: str, person: bool) -> None:
    """Bare `name` counts only in tables about people, singular or plural."""
    assert bool(name_reasons(table, _column(table, "name", sa.String(64)))) is person


def test_the_shipped_pack_covers_every_personal_column_of_the_demo_shop(db: Database) -> None:
    """With the shipped policies, every column of the Magento-shaped demo shop that looks
    personal (by name, or by 20 sampled values) is anonymised, deleted or kept with a reason:
    `retention check --strict --sample 20` passes."""
    build_demo_database(db.url, customers=60, seed=5, as_of=datetime(2026, 3, 31))
    report = check_coverage([POLICIES], db.url, sample=20)
    assert [(f.table, f.column, f.reasons) for f in report.uncovered] == []
    assert report.tables >= 40 and len(report.covered) >= 150
