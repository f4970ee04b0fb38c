"""The demo shop's sales tables: orders with their copies, invoices, shipments, credit memos,
payment transactions and stored payment tokens (see `demo_schema` for the conventions)."""

from __future__ import annotations

import sqlalchemy as sa

from .demo_columns import (
    LONGTEXT,
    MEDIUMBLOB,
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


def sales_tables(meta: sa.MetaData) -> None:
    """Orders and everything that hangs off them."""
    _orders(meta)
    _documents(meta)
    _payments(meta)

def _orders(meta: sa.MetaData) -> None:
    table(
        meta, "sales_order", pk("entity_id"), string("state", 32), string("status", 32),
        *strings(255, "coupon_code", "protect_code", "shipping_description"),
        fk("store_id", "store.store_id", "SET NULL", small=True),
        fk("customer_id", "customer_entity.entity_id", "SET NULL"),
        *money("base_grand_total", "grand_total", "subtotal", "tax_amount", "shipping_amount",
                "discount_amount", "total_paid", "total_refunded"),
        small("customer_is_guest"), ref("billing_address_id"), ref("shipping_address_id"),
        ref("quote_id"), integer("customer_group_id"), ts("customer_dob"),
        string("increment_id", 50), *strings(128, "customer_email", "customer_firstname",
                                         "customer_lastname", "customer_middlename"),
        *strings(32, "customer_prefix", "customer_suffix", "customer_taxvat"),
        integer("customer_gender"), string("ext_customer_id", 32), string("remote_ip", 45),
        string("x_forwarded_for", 255), text("customer_note"), string("shipping_method", 120),
        ts("created_at", nullable=False, index=True), ts("updated_at", nullable=False),
        ref("gift_message_id"), sa.UniqueConstraint("increment_id", "store_id"),
    )
    table(
        meta, "sales_order_address", pk("entity_id"),
        fk("parent_id", "sales_order.entity_id", "CASCADE"), ref("customer_address_id"),
        ref("quote_address_id"), ref("customer_id"),
        *strings(255, "address_type", "email", "prefix", "firstname", "middlename", "lastname",
               "suffix", "company", "street", "city", "region", "postcode"),
        string("country_id", 2), *strings(255, "telephone", "fax"), text("vat_id"),
    )
    table(
        meta, "sales_order_item", pk("item_id"),
        fk("order_id", "sales_order.entity_id", "CASCADE", nullable=False),
        ref("parent_item_id"), fk("store_id", "store.store_id", "SET NULL", small=True),
        *created_updated(), ref("product_id"),
        sa.Column("product_options", LONGTEXT), *strings(255, "sku", "name"),
        sa.Column("qty_ordered", sa.Numeric(12, 4)), *money("price", nullable=False),
        *money("tax_amount", "discount_amount"), *money("row_total", nullable=False),
        *money("amount_refunded"),
    )
    table(
        meta, "sales_order_payment", pk("entity_id"),
        fk("parent_id", "sales_order.entity_id", "CASCADE", nullable=False),
        *money("amount_ordered", "amount_paid", "amount_refunded"), string("method", 128),
        string("cc_type", 32), string("cc_last_4", 100), string("cc_owner", 128),
        string("cc_exp_month", 12), string("cc_exp_year", 4), string("cc_number_enc", 128),
        string("cc_trans_id", 32), string("last_trans_id", 255), string("echeck_bank_name", 128),
        *strings(32, "echeck_account_name", "echeck_routing_number", "po_number"),
        text("additional_data"), text("additional_information"),
    )
    table(
        meta, "sales_order_status_history", pk("entity_id"),
        fk("parent_id", "sales_order.entity_id", "CASCADE", nullable=False),
        integer("is_customer_notified"), small("is_visible_on_front", nullable=False),
        text("comment"), string("status", 32), ts("created_at", nullable=False),
    )
    # a copy of the order for the admin grid: entity_id = sales_order.entity_id, NO foreign key
    table(
        meta, "sales_order_grid", pk("entity_id", autoincrement=False), string("status", 32),
        small("store_id"), ref("customer_id"),
        *money("base_grand_total", "grand_total", "total_paid", "total_refunded"),
        string("increment_id", 50), *strings(255, "shipping_name", "billing_name"),
        ts("created_at"), ts("updated_at"),
        *strings(255, "billing_address", "shipping_address", "shipping_information",
               "customer_email", "customer_group", "customer_name", "payment_method"),
        sa.UniqueConstraint("increment_id", "store_id"),
    )


def _documents(meta: sa.MetaData) -> None:
    """Invoices, shipments and credit memos (cascading from the order) and their grid copies
    (linked by order_id, without foreign keys)."""
    table(
        meta, "sales_invoice", pk("entity_id"),
        fk("store_id", "store.store_id", "SET NULL", small=True),
        fk("order_id", "sales_order.entity_id", "CASCADE", nullable=False),
        *money("base_grand_total", "grand_total", "tax_amount", "subtotal", "shipping_amount"),
        ref("billing_address_id"), ref("shipping_address_id"), integer("state"),
        string("transaction_id", 255), string("increment_id", 50), *created_updated(),
        text("customer_note"), sa.UniqueConstraint("increment_id", "store_id"),
    )
    table(
        meta, "sales_invoice_grid", pk("entity_id", autoincrement=False),
        string("increment_id", 50), small("store_id"), ref("order_id", nullable=False, index=True),
        string("order_increment_id", 50), ts("order_created_at"),
        *strings(255, "customer_name", "customer_email", "billing_name", "billing_address",
               "shipping_address"),
        string("payment_method", 128), *money("grand_total"), ts("created_at"), ts("updated_at"),
        sa.UniqueConstraint("increment_id", "store_id"),
    )
    table(
        meta, "sales_shipment", pk("entity_id"),
        fk("store_id", "store.store_id", "SET NULL", small=True),
        fk("order_id", "sales_order.entity_id", "CASCADE", nullable=False),
        ref("customer_id"), ref("shipping_address_id"), ref("billing_address_id"),
        sa.Column("total_qty", sa.Numeric(12, 4)), string("increment_id", 50), *created_updated(),
        text("packages"), sa.Column("shipping_label", MEDIUMBLOB), text("customer_note"),
        sa.UniqueConstraint("increment_id", "store_id"),
    )
    table(
        meta, "sales_shipment_grid", pk("entity_id", autoincrement=False),
        string("increment_id", 50), small("store_id"),
        string("order_increment_id", 32, nullable=False),
        ref("order_id", nullable=False, index=True), ts("order_created_at", nullable=False),
        string("customer_name", 128, nullable=False),
        *strings(255, "billing_address", "shipping_address"),
        *strings(128, "billing_name", "shipping_name", "customer_email"),
        string("shipping_information", 255), ts("created_at"), ts("updated_at"),
        sa.UniqueConstraint("increment_id", "store_id"),
    )
    table(
        meta, "sales_creditmemo", pk("entity_id"),
        fk("store_id", "store.store_id", "SET NULL", small=True),
        fk("order_id", "sales_order.entity_id", "CASCADE", nullable=False),
        *money("base_grand_total", "grand_total", "adjustment_positive", "adjustment_negative",
                "tax_amount"),
        integer("state"), ref("shipping_address_id"), ref("billing_address_id"),
        ref("invoice_id"), string("transaction_id", 255), string("increment_id", 50),
        *created_updated(), text("customer_note"),
        sa.UniqueConstraint("increment_id", "store_id"),
    )
    table(
        meta, "sales_creditmemo_grid", pk("entity_id", autoincrement=False),
        string("increment_id", 50), small("store_id"), ts("created_at"), ts("updated_at"),
        ref("order_id", nullable=False, index=True), ts("order_created_at"),
        *strings(255, "billing_name", "billing_address", "shipping_address"),
        string("customer_name", 128, nullable=False), string("customer_email", 128),
        *money("base_grand_total"), sa.UniqueConstraint("increment_id", "store_id"),
    )


def _payments(meta: sa.MetaData) -> None:
    """Gateway transactions of an order's payment and the customers' stored cards (vault)."""
    table(
        meta, "sales_payment_transaction", pk("transaction_id"),
        fk("parent_id", "sales_payment_transaction.transaction_id", "CASCADE"),
        fk("order_id", "sales_order.entity_id", "CASCADE", nullable=False),
        fk("payment_id", "sales_order_payment.entity_id", "CASCADE", nullable=False),
        *strings(100, "txn_id", "parent_txn_id"),
        string("txn_type", 15), small("is_closed", nullable=False),
        sa.Column("additional_information", sa.LargeBinary()),
        ts("created_at", nullable=False), sa.UniqueConstraint("order_id", "payment_id", "txn_id"),
    )
    table(
        meta, "vault_payment_token", pk("entity_id"),
        fk("customer_id", "customer_entity.entity_id", "CASCADE"),
        string("public_hash", 128, nullable=False),
        *[string(n, 128, nullable=False) for n in ("payment_method_code", "type")],
        ts("created_at", nullable=False), ts("expires_at"),
        string("gateway_token", 255, nullable=False), text("details"),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("is_visible", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("payment_method_code", "customer_id", "gateway_token"),
        sa.UniqueConstraint("public_hash"),
    )
    table(
        meta, "vault_payment_token_order_payment_link",
        sa.Column("order_payment_id", sa.Integer(),
                  sa.ForeignKey("sales_order_payment.entity_id", ondelete="CASCADE"),
                  primary_key=True, autoincrement=False),
        sa.Column("payment_token_id", sa.Integer(),
                  sa.ForeignKey("vault_payment_token.entity_id", ondelete="CASCADE"),
                  primary_key=True, autoincrement=False, index=True),
    )
