"""The demo shop's schema: the Magento 2 tables that hold personal data, declared with
SQLAlchemy Core so that one declaration builds on SQLite, PostgreSQL and MariaDB/MySQL.

Columns, nullability, string lengths and foreign keys (with their ON DELETE rules) follow
../shared/magento2-personal-data-tables.yaml, itself written from Magento's db_schema.xml. The
denormalised copies (grids, customer_grid_flat, customer_visitor, customer_log, quote, ...)
carry customer and order ids WITHOUT foreign keys, exactly as in Magento: that is what leaves
rows behind when an account is deleted, and what the shipped policies must clean up.

Simplifications, none of which changes what the policies see:
- product/catalog, admin, rating and EAV tables are left out, and so are foreign keys to them;
  `store` and `store_website` are kept (two rows each) so the store foreign keys stay;
- unsigned integers are plain integers, and Magento's `timestamp ... ON UPDATE
  CURRENT_TIMESTAMP` columns are plain DATETIME (naive UTC): the policies never read them.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite rowid keys
_LONGTEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
_MEDIUMBLOB = sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb")


def _table(meta: sa.MetaData, name: str, *items: Any) -> sa.Table:
    return sa.Table(name, meta, *items, mysql_engine="InnoDB", mysql_charset="utf8mb4")


def _pk(name: str, *, big: bool = False, small: bool = False,
        autoincrement: bool = True) -> sa.Column[Any]:
    kind: Any = _BIGINT if big else sa.SmallInteger() if small else sa.Integer()
    return sa.Column(name, kind, primary_key=True, autoincrement=autoincrement)


def _fk(name: str, target: str, ondelete: str, *, nullable: bool = True,
        small: bool = False, unique: bool = False) -> sa.Column[Any]:
    # every referencing column gets an index: PostgreSQL and SQLite do not add one, and
    # without it each cascading delete scans the whole child table
    kind = sa.SmallInteger() if small else sa.Integer()
    return sa.Column(name, kind, sa.ForeignKey(target, ondelete=ondelete), nullable=nullable,
                     index=not unique, unique=unique or None)


def _ref(name: str, *, nullable: bool = True, index: bool = False) -> sa.Column[Any]:
    """An id of another table that Magento does not declare as a foreign key."""
    return sa.Column(name, sa.Integer(), nullable=nullable, index=index)


def _str(name: str, length: int, *, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.String(length), nullable=nullable)


def _strs(length: int, *names: str) -> list[sa.Column[Any]]:
    return [_str(n, length) for n in names]


def _text(name: str, *, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.Text(), nullable=nullable)


def _ts(name: str, *, nullable: bool = True, index: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(), nullable=nullable, index=index)


def _money(*names: str, nullable: bool = True) -> list[sa.Column[Any]]:
    return [sa.Column(n, sa.Numeric(20, 4), nullable=nullable) for n in names]


def _small(name: str, *, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.SmallInteger(), nullable=nullable)


def _int(name: str, *, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.Integer(), nullable=nullable)


def _created_updated() -> list[sa.Column[Any]]:
    return [_ts("created_at", nullable=False), _ts("updated_at", nullable=False)]


def demo_metadata() -> sa.MetaData:
    """A fresh MetaData holding every table of the demo shop."""
    meta = sa.MetaData()
    _stores(meta)
    _accounts(meta)
    _carts(meta)
    _orders(meta)
    _documents(meta)
    _marketing_and_traffic(meta)
    return meta


def _stores(meta: sa.MetaData) -> None:
    _table(meta, "store_website", _pk("website_id", small=True, autoincrement=False),
           _str("code", 32), _str("name", 64))
    _table(meta, "store", _pk("store_id", small=True, autoincrement=False), _str("code", 32),
           _fk("website_id", "store_website.website_id", "CASCADE", nullable=False, small=True),
           _str("name", 255, nullable=False))


def _accounts(meta: sa.MetaData) -> None:
    _table(
        meta, "customer_entity", _pk("entity_id"),
        _fk("website_id", "store_website.website_id", "SET NULL", small=True),
        _str("email", 255), _small("group_id", nullable=False),
        _fk("store_id", "store.store_id", "SET NULL", small=True),
        *_created_updated(), _small("is_active", nullable=False), _str("created_in", 255),
        _str("prefix", 40), *_strs(255, "firstname", "middlename", "lastname"),
        _str("suffix", 40), sa.Column("dob", sa.Date()), _str("password_hash", 128),
        _str("rp_token", 128), _ts("rp_token_created_at"),
        _ref("default_billing"), _ref("default_shipping"), _str("taxvat", 50),
        _str("confirmation", 64), _small("gender"), _small("failures_num"),
        _ts("first_failure"), _ts("lock_expires"), _ts("session_cutoff"),
        sa.UniqueConstraint("email", "website_id"),
    )
    _table(
        meta, "customer_address_entity", _pk("entity_id"),
        _fk("parent_id", "customer_entity.entity_id", "CASCADE"), *_created_updated(),
        _small("is_active", nullable=False), _str("city", 255, nullable=False),
        _str("company", 255), _str("country_id", 255, nullable=False), _str("fax", 255),
        _str("firstname", 255, nullable=False), _str("lastname", 255, nullable=False),
        _str("middlename", 255), _str("postcode", 255), _str("prefix", 40), _str("region", 255),
        _ref("region_id"), _text("street", nullable=False), _str("suffix", 40),
        _str("telephone", 255, nullable=False), _str("vat_id", 255),
    )
    # built by Magento's customer_grid indexer; entity_id copies customer_entity.entity_id
    _table(
        meta, "customer_grid_flat", _pk("entity_id", autoincrement=False), _text("name"),
        _str("email", 255), _ts("created_at"), sa.Column("dob", sa.Date()), _int("gender"),
        _str("taxvat", 255), _ts("lock_expires"), _text("shipping_full"), _text("billing_full"),
        *_strs(255, "billing_firstname", "billing_lastname", "billing_telephone",
               "billing_postcode", "billing_street", "billing_city", "billing_vat_id",
               "billing_company"),
    )
    _table(meta, "customer_log", _pk("log_id"),
           sa.Column("customer_id", sa.Integer(), nullable=False, unique=True),
           _ts("last_login_at"), _ts("last_logout_at"))
    _table(
        meta, "persistent_session", _pk("persistent_id"),
        # `key` is a reserved word in MySQL/MariaDB; SQLAlchemy quotes it
        sa.Column("key", sa.String(50), nullable=False, unique=True),
        _fk("customer_id", "customer_entity.entity_id", "CASCADE", unique=True),
        _fk("website_id", "store_website.website_id", "CASCADE", nullable=False, small=True),
        _text("info"), _ts("updated_at", nullable=False),
    )
    _table(meta, "login_as_customer", sa.Column("secret", sa.String(64), primary_key=True),
           _ref("customer_id", nullable=False), _ref("admin_id", nullable=False),
           _ts("created_at"))


def _carts(meta: sa.MetaData) -> None:
    _table(
        meta, "quote", _pk("entity_id"),
        _fk("store_id", "store.store_id", "CASCADE", nullable=False, small=True),
        *_created_updated(), _ts("converted_at"), _small("is_active"), _int("items_count"),
        *_money("grand_total", "base_grand_total"), _str("checkout_method", 255),
        _ref("customer_id", index=True), _str("customer_email", 255),
        _str("customer_prefix", 40), _str("customer_firstname", 255),
        _str("customer_middlename", 40), _str("customer_lastname", 255),
        _str("customer_suffix", 40), _ts("customer_dob"), _str("customer_note", 255),
        _small("customer_is_guest"), _str("remote_ip", 45), _str("reserved_order_id", 64),
        *_strs(255, "password_hash", "coupon_code", "customer_taxvat", "customer_gender"),
        _small("is_persistent"), _ref("gift_message_id"),
    )
    _table(
        meta, "quote_address", _pk("address_id"),
        _fk("quote_id", "quote.entity_id", "CASCADE", nullable=False), *_created_updated(),
        _ref("customer_id"), _ref("customer_address_id"), _str("address_type", 10),
        _str("email", 255), _str("prefix", 40), _str("firstname", 255), _str("middlename", 40),
        _str("lastname", 255), _str("suffix", 40),
        *_strs(255, "company", "street", "city", "region"), _str("postcode", 20),
        _str("country_id", 30), *_strs(255, "telephone", "fax"), _text("customer_notes"),
        _text("vat_id"), *_money("grand_total", nullable=False),
    )
    _table(
        meta, "quote_item", _pk("item_id"),
        _fk("quote_id", "quote.entity_id", "CASCADE", nullable=False), *_created_updated(),
        _ref("product_id"), _fk("store_id", "store.store_id", "SET NULL", small=True),
        _fk("parent_item_id", "quote_item.item_id", "CASCADE"), *_strs(255, "sku", "name"),
        sa.Column("qty", sa.Numeric(12, 4), nullable=False),
        sa.Column("price", sa.Numeric(12, 4), nullable=False),
        *_money("row_total", nullable=False),
    )
    _table(
        meta, "quote_payment", _pk("payment_id"),
        _fk("quote_id", "quote.entity_id", "CASCADE", nullable=False), *_created_updated(),
        *_strs(255, "method", "cc_type", "cc_number_enc", "cc_last_4", "cc_cid_enc",
               "cc_owner", "cc_exp_month"),
        _small("cc_exp_year"), _str("po_number", 255), _text("additional_data"),
        _text("additional_information"),
        *_strs(255, "paypal_payer_id", "paypal_payer_status", "paypal_correlation_id"),
    )


def _orders(meta: sa.MetaData) -> None:
    _table(
        meta, "sales_order", _pk("entity_id"), _str("state", 32), _str("status", 32),
        *_strs(255, "coupon_code", "protect_code", "shipping_description"),
        _fk("store_id", "store.store_id", "SET NULL", small=True),
        _fk("customer_id", "customer_entity.entity_id", "SET NULL"),
        *_money("base_grand_total", "grand_total", "subtotal", "tax_amount", "shipping_amount",
                "discount_amount", "total_paid", "total_refunded"),
        _small("customer_is_guest"), _ref("billing_address_id"), _ref("shipping_address_id"),
        _ref("quote_id"), _int("customer_group_id"), _ts("customer_dob"),
        _str("increment_id", 50), *_strs(128, "customer_email", "customer_firstname",
                                         "customer_lastname", "customer_middlename"),
        *_strs(32, "customer_prefix", "customer_suffix", "customer_taxvat"),
        _int("customer_gender"), _str("ext_customer_id", 32), _str("remote_ip", 45),
        _str("x_forwarded_for", 255), _text("customer_note"), _str("shipping_method", 120),
        _ts("created_at", nullable=False, index=True), _ts("updated_at", nullable=False),
        _ref("gift_message_id"), sa.UniqueConstraint("increment_id", "store_id"),
    )
    _table(
        meta, "sales_order_address", _pk("entity_id"),
        _fk("parent_id", "sales_order.entity_id", "CASCADE"), _ref("customer_address_id"),
        _ref("quote_address_id"), _ref("customer_id"),
        *_strs(255, "address_type", "email", "prefix", "firstname", "middlename", "lastname",
               "suffix", "company", "street", "city", "region", "postcode"),
        _str("country_id", 2), *_strs(255, "telephone", "fax"), _text("vat_id"),
    )
    _table(
        meta, "sales_order_item", _pk("item_id"),
        _fk("order_id", "sales_order.entity_id", "CASCADE", nullable=False),
        _ref("parent_item_id"), _fk("store_id", "store.store_id", "SET NULL", small=True),
        *_created_updated(), _ref("product_id"),
        sa.Column("product_options", _LONGTEXT), *_strs(255, "sku", "name"),
        sa.Column("qty_ordered", sa.Numeric(12, 4)), *_money("price", nullable=False),
        *_money("tax_amount", "discount_amount"), *_money("row_total", nullable=False),
        *_money("amount_refunded"),
    )
    _table(
        meta, "sales_order_payment", _pk("entity_id"),
        _fk("parent_id", "sales_order.entity_id", "CASCADE", nullable=False),
        *_money("amount_ordered", "amount_paid", "amount_refunded"), _str("method", 128),
        _str("cc_type", 32), _str("cc_last_4", 100), _str("cc_owner", 128),
        _str("cc_exp_month", 12), _str("cc_exp_year", 4), _str("cc_number_enc", 128),
        _str("cc_trans_id", 32), _str("last_trans_id", 255), _str("echeck_bank_name", 128),
        *_strs(32, "echeck_account_name", "echeck_routing_number", "po_number"),
        _text("additional_data"), _text("additional_information"),
    )
    _table(
        meta, "sales_order_status_history", _pk("entity_id"),
        _fk("parent_id", "sales_order.entity_id", "CASCADE", nullable=False),
        _int("is_customer_notified"), _small("is_visible_on_front", nullable=False),
        _text("comment"), _str("status", 32), _ts("created_at", nullable=False),
    )
    # a copy of the order for the admin grid: entity_id = sales_order.entity_id, NO foreign key
    _table(
        meta, "sales_order_grid", _pk("entity_id", autoincrement=False), _str("status", 32),
        _small("store_id"), _ref("customer_id"),
        *_money("base_grand_total", "grand_total", "total_paid", "total_refunded"),
        _str("increment_id", 50), *_strs(255, "shipping_name", "billing_name"),
        _ts("created_at"), _ts("updated_at"),
        *_strs(255, "billing_address", "shipping_address", "shipping_information",
               "customer_email", "customer_group", "customer_name", "payment_method"),
        sa.UniqueConstraint("increment_id", "store_id"),
    )


def _documents(meta: sa.MetaData) -> None:
    """Invoices, shipments and credit memos (cascading from the order) and their grid copies
    (linked by order_id, without foreign keys)."""
    _table(
        meta, "sales_invoice", _pk("entity_id"),
        _fk("store_id", "store.store_id", "SET NULL", small=True),
        _fk("order_id", "sales_order.entity_id", "CASCADE", nullable=False),
        *_money("base_grand_total", "grand_total", "tax_amount", "subtotal", "shipping_amount"),
        _ref("billing_address_id"), _ref("shipping_address_id"), _int("state"),
        _str("transaction_id", 255), _str("increment_id", 50), *_created_updated(),
        _text("customer_note"), sa.UniqueConstraint("increment_id", "store_id"),
    )
    _table(
        meta, "sales_invoice_grid", _pk("entity_id", autoincrement=False),
        _str("increment_id", 50), _small("store_id"), _ref("order_id", nullable=False, index=True),
        _str("order_increment_id", 50), _ts("order_created_at"),
        *_strs(255, "customer_name", "customer_email", "billing_name", "billing_address",
               "shipping_address"),
        _str("payment_method", 128), *_money("grand_total"), _ts("created_at"), _ts("updated_at"),
        sa.UniqueConstraint("increment_id", "store_id"),
    )
    _table(
        meta, "sales_shipment", _pk("entity_id"),
        _fk("store_id", "store.store_id", "SET NULL", small=True),
        _fk("order_id", "sales_order.entity_id", "CASCADE", nullable=False),
        _ref("customer_id"), _ref("shipping_address_id"), _ref("billing_address_id"),
        sa.Column("total_qty", sa.Numeric(12, 4)), _str("increment_id", 50), *_created_updated(),
        _text("packages"), sa.Column("shipping_label", _MEDIUMBLOB), _text("customer_note"),
        sa.UniqueConstraint("increment_id", "store_id"),
    )
    _table(
        meta, "sales_shipment_grid", _pk("entity_id", autoincrement=False),
        _str("increment_id", 50), _small("store_id"),
        _str("order_increment_id", 32, nullable=False),
        _ref("order_id", nullable=False, index=True), _ts("order_created_at", nullable=False),
        _str("customer_name", 128, nullable=False),
        *_strs(255, "billing_address", "shipping_address"),
        *_strs(128, "billing_name", "shipping_name", "customer_email"),
        _str("shipping_information", 255), _ts("created_at"), _ts("updated_at"),
        sa.UniqueConstraint("increment_id", "store_id"),
    )
    _table(
        meta, "sales_creditmemo", _pk("entity_id"),
        _fk("store_id", "store.store_id", "SET NULL", small=True),
        _fk("order_id", "sales_order.entity_id", "CASCADE", nullable=False),
        *_money("base_grand_total", "grand_total", "adjustment_positive", "adjustment_negative",
                "tax_amount"),
        _int("state"), _ref("shipping_address_id"), _ref("billing_address_id"),
        _ref("invoice_id"), _str("transaction_id", 255), _str("increment_id", 50),
        *_created_updated(), _text("customer_note"),
        sa.UniqueConstraint("increment_id", "store_id"),
    )
    _table(
        meta, "sales_creditmemo_grid", _pk("entity_id", autoincrement=False),
        _str("increment_id", 50), _small("store_id"), _ts("created_at"), _ts("updated_at"),
        _ref("order_id", nullable=False, index=True), _ts("order_created_at"),
        *_strs(255, "billing_name", "billing_address", "shipping_address"),
        _str("customer_name", 128, nullable=False), _str("customer_email", 128),
        *_money("base_grand_total"), sa.UniqueConstraint("increment_id", "store_id"),
    )


def _marketing_and_traffic(meta: sa.MetaData) -> None:
    _table(
        meta, "newsletter_subscriber", _pk("subscriber_id"),
        _fk("store_id", "store.store_id", "SET NULL", small=True), _ts("change_status_at"),
        # 0 for a guest subscriber
        _ref("customer_id", nullable=False, index=True), _str("subscriber_email", 150),
        _int("subscriber_status", nullable=False), _str("subscriber_confirm_code", 32),
    )
    _table(meta, "customer_visitor", _pk("visitor_id", big=True),
           _ref("customer_id", index=True), _str("session_id", 1),
           _ts("created_at", nullable=False), _ts("last_visit_at", nullable=False))
    _table(
        meta, "report_event", _pk("event_id", big=True), _ts("logged_at", nullable=False),
        _small("event_type_id", nullable=False), _ref("object_id", nullable=False),
        # customer_id when subtype = 0, visitor_id when subtype = 1
        _ref("subject_id", nullable=False, index=True), _small("subtype", nullable=False),
        _fk("store_id", "store.store_id", "CASCADE", nullable=False, small=True),
    )
    _table(
        meta, "report_viewed_product_index", _pk("index_id", big=True), _ref("visitor_id"),
        _fk("customer_id", "customer_entity.entity_id", "CASCADE"),
        _ref("product_id", nullable=False),
        _fk("store_id", "store.store_id", "SET NULL", small=True),
        _ts("added_at", nullable=False),
        sa.UniqueConstraint("visitor_id", "product_id"),
        sa.UniqueConstraint("customer_id", "product_id"),
    )
