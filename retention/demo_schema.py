"""The demo shop's schema: the Magento 2 tables that hold personal data, declared with
SQLAlchemy Core so that one declaration builds on SQLite, PostgreSQL and MariaDB/MySQL.

Columns, nullability, string lengths and foreign keys (with their ON DELETE rules) follow
../shared/magento2-personal-data-tables.yaml, itself written from Magento's db_schema.xml. The
denormalised copies (grids, customer_grid_flat, customer_visitor, customer_log, quote, ...)
carry customer and order ids WITHOUT foreign keys, exactly as in Magento: that is what leaves
rows behind when an account is deleted, and what the shipped policies must clean up.

Every one of the 40 tables of the fact file is here. Sales tables are in `demo_schema_sales`,
column helpers in `demo_columns`.

Simplifications, none of which changes what the policies see:
- product/catalog, admin, OAuth consumer and EAV tables are left out, and so are foreign keys
  to them; `store`, `store_website` and the small parents whose ON DELETE CASCADE reaches a
  personal-data table (`salesrule`, `salesrule_coupon`, `review_entity`, `review_status`,
  `rating_option`) are kept with a few rows, so those foreign keys stay;
- unsigned integers are plain integers, and Magento's `timestamp ... ON UPDATE
  CURRENT_TIMESTAMP` columns are plain DATETIME (naive UTC): the policies never read them.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from .demo_columns import (
    BIGINT,
    created_updated,
    fk,
    integer,
    money,
    pk,
    ref,
    small,
    string,
    strings,
    table,
    text,
    ts,
)
from .demo_schema_sales import sales_tables


def demo_metadata() -> sa.MetaData:
    """A fresh MetaData holding every table of the demo shop."""
    meta = sa.MetaData()
    _stores(meta)
    _accounts(meta)
    _carts(meta)
    sales_tables(meta)
    _marketing_and_traffic(meta)
    _engagement(meta)
    return meta


def _stores(meta: sa.MetaData) -> None:
    table(meta, "store_website", pk("website_id", small=True, autoincrement=False),
          string("code", 32), string("name", 64))
    table(meta, "store", pk("store_id", small=True, autoincrement=False), string("code", 32),
          fk("website_id", "store_website.website_id", "CASCADE", nullable=False, small=True),
          string("name", 255, nullable=False))


def _accounts(meta: sa.MetaData) -> None:
    table(
        meta, "customer_entity", pk("entity_id"),
        fk("website_id", "store_website.website_id", "SET NULL", small=True),
        string("email", 255), small("group_id", nullable=False),
        fk("store_id", "store.store_id", "SET NULL", small=True),
        *created_updated(), small("is_active", nullable=False), string("created_in", 255),
        string("prefix", 40), *strings(255, "firstname", "middlename", "lastname"),
        string("suffix", 40), sa.Column("dob", sa.Date()), string("password_hash", 128),
        string("rp_token", 128), ts("rp_token_created_at"),
        ref("default_billing"), ref("default_shipping"), string("taxvat", 50),
        string("confirmation", 64), small("gender"), small("failures_num"),
        ts("first_failure"), ts("lock_expires"), ts("session_cutoff"),
        sa.UniqueConstraint("email", "website_id"),
    )
    table(
        meta, "customer_address_entity", pk("entity_id"),
        fk("parent_id", "customer_entity.entity_id", "CASCADE"), *created_updated(),
        small("is_active", nullable=False), string("city", 255, nullable=False),
        string("company", 255), string("country_id", 255, nullable=False), string("fax", 255),
        string("firstname", 255, nullable=False), string("lastname", 255, nullable=False),
        string("middlename", 255), string("postcode", 255), string("prefix", 40),
        string("region", 255),
        ref("region_id"), text("street", nullable=False), string("suffix", 40),
        string("telephone", 255, nullable=False), string("vat_id", 255),
    )
    # built by Magento's customer_grid indexer; entity_id copies customer_entity.entity_id
    table(
        meta, "customer_grid_flat", pk("entity_id", autoincrement=False), text("name"),
        string("email", 255), ts("created_at"), sa.Column("dob", sa.Date()), integer("gender"),
        string("taxvat", 255), ts("lock_expires"), text("shipping_full"), text("billing_full"),
        *strings(255, "billing_firstname", "billing_lastname", "billing_telephone",
               "billing_postcode", "billing_street", "billing_city", "billing_vat_id",
               "billing_company"),
    )
    table(meta, "customer_log", pk("log_id"),
          sa.Column("customer_id", sa.Integer(), nullable=False, unique=True),
          ts("last_login_at"), ts("last_logout_at"))
    table(
        meta, "persistent_session", pk("persistent_id"),
        # `key` is a reserved word in MySQL/MariaDB; SQLAlchemy quotes it
        sa.Column("key", sa.String(50), nullable=False, unique=True),
        fk("customer_id", "customer_entity.entity_id", "CASCADE", unique=True),
        fk("website_id", "store_website.website_id", "CASCADE", nullable=False, small=True),
        text("info"), ts("updated_at", nullable=False),
    )
    table(meta, "login_as_customer", sa.Column("secret", sa.String(64), primary_key=True),
          ref("customer_id", nullable=False), ref("admin_id", nullable=False),
          ts("created_at"))
    # the admin's audit log of those log-ins; the e-mail is copied and cut to 40 characters
    table(meta, "magento_login_as_customer_log", pk("log_id"), ts("time"), ref("user_id"),
          string("user_name", 40), ref("customer_id"), string("customer_email", 40))
    table(
        meta, "oauth_token", pk("entity_id"), ref("consumer_id"), ref("admin_id"),
        fk("customer_id", "customer_entity.entity_id", "CASCADE"),
        string("type", 16, nullable=False),
        sa.Column("token", sa.String(32), nullable=False, unique=True),
        string("secret", 32, nullable=False), small("revoked", nullable=False),
        integer("user_type"), ts("created_at", nullable=False),
    )


def _carts(meta: sa.MetaData) -> None:
    table(
        meta, "quote", pk("entity_id"),
        fk("store_id", "store.store_id", "CASCADE", nullable=False, small=True),
        *created_updated(), ts("converted_at"), small("is_active"), integer("items_count"),
        *money("grand_total", "base_grand_total"), string("checkout_method", 255),
        ref("customer_id", index=True), string("customer_email", 255),
        string("customer_prefix", 40), string("customer_firstname", 255),
        string("customer_middlename", 40), string("customer_lastname", 255),
        string("customer_suffix", 40), ts("customer_dob"), string("customer_note", 255),
        small("customer_is_guest"), string("remote_ip", 45), string("reserved_order_id", 64),
        *strings(255, "password_hash", "coupon_code", "customer_taxvat", "customer_gender"),
        small("is_persistent"), ref("gift_message_id"),
    )
    table(
        meta, "quote_address", pk("address_id"),
        fk("quote_id", "quote.entity_id", "CASCADE", nullable=False), *created_updated(),
        ref("customer_id"), ref("customer_address_id"), string("address_type", 10),
        string("email", 255), string("prefix", 40), string("firstname", 255),
        string("middlename", 40),
        string("lastname", 255), string("suffix", 40),
        *strings(255, "company", "street", "city", "region"), string("postcode", 20),
        string("country_id", 30), *strings(255, "telephone", "fax"), text("customer_notes"),
        text("vat_id"), *money("grand_total", nullable=False),
    )
    table(
        meta, "quote_item", pk("item_id"),
        fk("quote_id", "quote.entity_id", "CASCADE", nullable=False), *created_updated(),
        ref("product_id"), fk("store_id", "store.store_id", "SET NULL", small=True),
        fk("parent_item_id", "quote_item.item_id", "CASCADE"), *strings(255, "sku", "name"),
        sa.Column("qty", sa.Numeric(12, 4), nullable=False),
        sa.Column("price", sa.Numeric(12, 4), nullable=False),
        *money("row_total", nullable=False),
    )
    table(
        meta, "quote_payment", pk("payment_id"),
        fk("quote_id", "quote.entity_id", "CASCADE", nullable=False), *created_updated(),
        *strings(255, "method", "cc_type", "cc_number_enc", "cc_last_4", "cc_cid_enc",
               "cc_owner", "cc_exp_month"),
        small("cc_exp_year"), string("po_number", 255), text("additional_data"),
        text("additional_information"),
        *strings(255, "paypal_payer_id", "paypal_payer_status", "paypal_correlation_id"),
    )


def _marketing_and_traffic(meta: sa.MetaData) -> None:
    table(
        meta, "newsletter_subscriber", pk("subscriber_id"),
        fk("store_id", "store.store_id", "SET NULL", small=True), ts("change_status_at"),
        # 0 for a guest subscriber
        ref("customer_id", nullable=False, index=True), string("subscriber_email", 150),
        integer("subscriber_status", nullable=False), string("subscriber_confirm_code", 32),
    )
    table(meta, "customer_visitor", pk("visitor_id", big=True),
          ref("customer_id", index=True), string("session_id", 1),
          ts("created_at", nullable=False), ts("last_visit_at", nullable=False))
    table(
        meta, "report_event", pk("event_id", big=True), ts("logged_at", nullable=False),
        small("event_type_id", nullable=False), ref("object_id", nullable=False),
        # customer_id when subtype = 0, visitor_id when subtype = 1
        ref("subject_id", nullable=False, index=True), small("subtype", nullable=False),
        fk("store_id", "store.store_id", "CASCADE", nullable=False, small=True),
    )
    table(
        meta, "report_viewed_product_index", pk("index_id", big=True), ref("visitor_id"),
        fk("customer_id", "customer_entity.entity_id", "CASCADE"),
        ref("product_id", nullable=False),
        fk("store_id", "store.store_id", "SET NULL", small=True),
        ts("added_at", nullable=False),
        sa.UniqueConstraint("visitor_id", "product_id"),
        sa.UniqueConstraint("customer_id", "product_id"),
    )
    table(
        meta, "report_compared_product_index", pk("index_id", big=True), ref("visitor_id"),
        fk("customer_id", "customer_entity.entity_id", "CASCADE"),
        ref("product_id", nullable=False),
        fk("store_id", "store.store_id", "SET NULL", small=True),
        ts("added_at", nullable=False),
        sa.UniqueConstraint("visitor_id", "product_id"),
        sa.UniqueConstraint("customer_id", "product_id"),
    )
    # "email to a friend" rate limiter: an IPv4 address as an integer, Unix seconds
    table(meta, "sendfriend_log", pk("log_id"), sa.Column("ip", sa.BigInteger(), nullable=False),
          sa.Column("time", sa.Integer(), nullable=False, index=True),
          sa.Column("website_id", sa.SmallInteger(), nullable=False))


def _big_fk(name: str, target: str, *, nullable: bool) -> sa.Column[Any]:
    """A reference to a BIGINT key: MariaDB wants both sides of a foreign key alike."""
    return sa.Column(name, BIGINT, sa.ForeignKey(target, ondelete="CASCADE"), nullable=nullable,
                     index=True)


def _engagement(meta: sa.MetaData) -> None:
    """Discount use, reviews with their rating votes, and wish lists."""
    table(meta, "salesrule", pk("rule_id"), string("name", 255))
    table(meta, "salesrule_coupon", pk("coupon_id"),
          fk("rule_id", "salesrule.rule_id", "CASCADE", nullable=False),
          sa.Column("code", sa.String(255), unique=True))
    table(
        meta, "salesrule_coupon_usage",
        sa.Column("coupon_id", sa.Integer(),
                  sa.ForeignKey("salesrule_coupon.coupon_id", ondelete="CASCADE"),
                  primary_key=True, autoincrement=False),
        sa.Column("customer_id", sa.Integer(),
                  sa.ForeignKey("customer_entity.entity_id", ondelete="CASCADE"),
                  primary_key=True, autoincrement=False, index=True),
        integer("times_used", nullable=False),
    )
    table(meta, "salesrule_customer", pk("rule_customer_id"),
          fk("rule_id", "salesrule.rule_id", "CASCADE", nullable=False),
          fk("customer_id", "customer_entity.entity_id", "CASCADE", nullable=False),
          small("times_used", nullable=False))
    table(meta, "review_entity", pk("entity_id", small=True, autoincrement=False),
          string("entity_code", 32, nullable=False))
    table(meta, "review_status", pk("status_id", small=True, autoincrement=False),
          string("status_code", 32, nullable=False))
    table(
        meta, "review", pk("review_id", big=True), ts("created_at", nullable=False),
        fk("entity_id", "review_entity.entity_id", "CASCADE", nullable=False, small=True),
        ref("entity_pk_value", nullable=False),
        fk("status_id", "review_status.status_id", "NO ACTION", nullable=False, small=True),
    )
    table(
        meta, "review_detail", pk("detail_id", big=True),
        _big_fk("review_id", "review.review_id", nullable=False),
        fk("store_id", "store.store_id", "SET NULL", small=True),
        string("title", 255, nullable=False), text("detail", nullable=False),
        string("nickname", 128, nullable=False),
        fk("customer_id", "customer_entity.entity_id", "SET NULL"),
    )
    table(meta, "rating_option", pk("option_id"), string("code", 32, nullable=False),
          small("value", nullable=False))
    table(
        meta, "rating_option_vote", pk("vote_id", big=True),
        fk("option_id", "rating_option.option_id", "CASCADE", nullable=False),
        string("remote_ip", 16, nullable=False),
        sa.Column("remote_ip_long", sa.BigInteger(), nullable=False),
        ref("customer_id", index=True),
        sa.Column("entity_pk_value", sa.BigInteger(), nullable=False),
        _big_fk("review_id", "review.review_id", nullable=True),
        small("value", nullable=False),
    )
    table(meta, "wishlist", pk("wishlist_id"),
          fk("customer_id", "customer_entity.entity_id", "CASCADE", nullable=False, unique=True),
          small("shared", nullable=False), string("sharing_code", 32), ts("updated_at"))
    table(
        meta, "wishlist_item", pk("wishlist_item_id"),
        fk("wishlist_id", "wishlist.wishlist_id", "CASCADE", nullable=False),
        ref("product_id", nullable=False),
        fk("store_id", "store.store_id", "SET NULL", small=True), ts("added_at"),
        text("description"), sa.Column("qty", sa.Numeric(12, 4), nullable=False),
    )
