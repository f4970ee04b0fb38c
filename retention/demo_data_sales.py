"""The demo shop's sales: orders with every copy Magento makes of them (addresses, payment and
its gateway transactions, grids, invoices, shipments, credit memos), the carts they came from,
abandoned carts, stored cards and coupon use."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from .demo_shop import (
    FIRST,
    LAST,
    NOTES,
    PAYMENTS,
    PRODUCTS,
    TITLES,
    Account,
    DemoShop,
    Person,
    money,
)

QUOTE_DAYS = 180  # older converted carts are gone: Magento's sales_clean_quotes removed them


def orders(shop: DemoShop, guests: int) -> None:
    rng = shop.rng
    specs: list[tuple[datetime, int, Person, Account | None]] = []
    for account in shop.accounts:
        for _ in range(rng.choices((0, 1, 2, 3, 4), (40, 35, 15, 7, 3))[0]):
            specs.append((shop.moment(account.created_at, shop.as_of), len(specs),
                          account.person, account))
    for _ in range(guests):
        specs.append((shop.moment(shop.start, shop.as_of), len(specs), shop.person(), None))
    specs.sort(key=lambda s: (s[0], s[1]))  # entity ids grow with time, as in a real shop
    for when, _index, person, buyer in specs:
        _order(shop, when, person, buyer)


@dataclass
class Sale:
    """One order being generated, with the figures that its copies repeat."""

    id: int
    when: datetime
    buyer: Person
    ship_to: Person
    account: Account | None
    lines: list[tuple[int, str, str, int, int, str | None]]  # product, sku, name, øre, qty, text
    fate: str  # new | complete | canceled | closed
    method: str

    @property
    def number(self) -> str:
        return f"{self.id:09d}"

    @property
    def gross(self) -> int:  # VAT included, before shipping and discount
        return sum(price * qty for _p, _s, _n, price, qty, _t in self.lines)

    @property
    def net(self) -> int:
        return round(self.gross / 1.25)

    @property
    def names(self) -> dict[str, str]:
        """The personal fields every grid copies from the order."""
        return {"customer_name": self.buyer.name, "customer_email": self.buyer.email,
                "billing_name": self.buyer.name, "billing_address": self.buyer.address,
                "shipping_address": self.ship_to.address}


def _order(shop: DemoShop, when: datetime, buyer: Person, account: Account | None) -> None:
    rng = shop.rng
    lines = []
    for _ in range(rng.choices((1, 2, 3), (60, 30, 10))[0]):
        pid, sku, name, price, personal = rng.choice(PRODUCTS)
        engraved = f"{rng.choice(FIRST)} {rng.choice(LAST)}" if rng.random() < 0.5 else buyer.name
        design = json.dumps({"options": [  # the nametag as the customer designed it
            {"label": "Tekst linje 1", "value": engraved},
            {"label": "Tekst linje 2", "value": rng.choice(TITLES)}]}, ensure_ascii=False)
        lines.append((pid, sku, name, price, rng.choice((1, 1, 1, 2, 5)),
                      design if personal else None))
    fate = "new" if shop.as_of - when < timedelta(days=2) else rng.choices(
        ("complete", "canceled", "closed"), (91, 5, 4))[0]
    gift = rng.random() < 0.1
    sale = Sale(shop.next_id("sales_order"), when, buyer, shop.person() if gift else buyer,
                 account, lines, fate, rng.choice(PAYMENTS))
    paid = fate in ("complete", "closed")
    refunded = fate == "closed"
    shipping = 0 if sale.gross >= 50000 else 4900
    coupon = "VELKOMMEN10" if rng.random() < 0.1 else None
    discount = -round(sale.gross / 10) if coupon else 0
    grand = money(sale.gross + shipping + discount)
    express = rng.random() < 0.2
    carrier = "FedEx - Express" if express else "FedEx - Standard"
    address_ids = [shop.add(
        "sales_order_address", entity_id=shop.next_id("sales_order_address"), parent_id=sale.id,
        customer_address_id=account.address_id if account and who is buyer else None,
        customer_id=account.id if account else None, address_type=kind, email=buyer.email,
        firstname=who.first, lastname=who.last, street=who.street, city=who.city,
        region=who.region, postcode=who.postcode, country_id="NO", telephone=who.phone)
        for kind, who in (("billing", buyer), ("shipping", sale.ship_to))]
    quote_id, ip = shop.next_id("quote"), shop.ip()
    totals = {"base_grand_total": grand, "grand_total": grand,
              "total_paid": grand if paid else None, "total_refunded": grand if refunded else None}
    shop.add(
        "sales_order", entity_id=sale.id, state=fate,
        status="pending" if fate == "new" else fate, coupon_code=coupon,
        protect_code=shop.hex(6), shipping_description=carrier, store_id=1,
        customer_id=account.id if account else None, subtotal=money(sale.net),
        tax_amount=money(sale.gross - sale.net), shipping_amount=money(shipping),
        discount_amount=money(discount), customer_is_guest=0 if account else 1,
        billing_address_id=address_ids[0], shipping_address_id=address_ids[1],
        quote_id=quote_id, customer_group_id=1 if account else 0,
        customer_dob=datetime.combine(buyer.dob, datetime.min.time())
        if buyer.dob and account else None,
        increment_id=sale.number, customer_email=buyer.email, customer_firstname=buyer.first,
        customer_lastname=buyer.last, customer_gender=rng.choice((None, 1, 2)) if account else None,
        remote_ip=ip, x_forwarded_for=f"{ip}, 203.0.113.7" if rng.random() < 0.1 else None,
        customer_note=rng.choice(NOTES) if rng.random() < 0.08 else None,
        shipping_method="fedex_express" if express else "fedex_standard", created_at=when,
        updated_at=min(when + timedelta(days=rng.randrange(0, 4)), shop.as_of), **totals)
    for pid, sku, name, price, qty, text in lines:
        row = price * qty
        shop.add("sales_order_item", item_id=shop.next_id("sales_order_item"), order_id=sale.id,
                 store_id=1, created_at=when, updated_at=when, product_id=pid,
                 product_options=text, sku=sku, name=name, qty_ordered=qty, price=money(price),
                 tax_amount=money(row - round(row / 1.25)), discount_amount=money(0),
                 row_total=money(row), amount_refunded=money(row) if refunded else None)
    card = sale.method == "itpays_card"
    info = {"method_title": sale.method.replace("_", " ").title()}
    if sale.method == "paypal_express":
        info["paypal_payer_email"] = buyer.email
    expiry = (when.year + rng.randrange(1, 5), rng.randrange(1, 13)) if card else None
    payment = shop.add(
        "sales_order_payment", entity_id=shop.next_id("sales_order_payment"),
             parent_id=sale.id, amount_ordered=grand, amount_paid=totals["total_paid"],
             amount_refunded=totals["total_refunded"], method=sale.method,
             cc_type=rng.choice(("VI", "MC")) if card else None,
             cc_last_4=f"{rng.randrange(10000):04d}" if card else None,
             cc_owner=buyer.name if card else None,
             cc_exp_month=str(expiry[1]) if expiry else None,
             cc_exp_year=str(expiry[0]) if expiry else None,
             last_trans_id=shop.hex(24) if paid else None,
             additional_information=json.dumps(info, ensure_ascii=False))
    if paid:
        _transactions(shop, sale, payment, info, refunded)
    if account is not None and expiry is not None and rng.random() < 0.6:
        _stored_card(shop, sale, payment, expiry)
    if account is not None and coupon:
        shop.coupon_uses[account.id] += 1
    if rng.random() < 0.12:  # a staff note; Magento's other history rows hold only a status
        shop.add("sales_order_status_history",
                 entity_id=shop.next_id("sales_order_status_history"), parent_id=sale.id,
                 is_customer_notified=0, is_visible_on_front=0, status="pending",
                 created_at=when, comment=f"{buyer.first} ringte: skiltet skal leveres til "
                                          f"{sale.ship_to.name}.")
    shop.add("sales_order_grid", entity_id=sale.id, status="pending" if fate == "new" else fate,
             store_id=1, customer_id=account.id if account else None, increment_id=sale.number,
             shipping_name=sale.ship_to.name, created_at=when, updated_at=when,
             shipping_information=carrier, payment_method=sale.method,
             customer_group="General" if account else "NOT LOGGED IN", **sale.names, **totals)
    if paid:
        _documents(shop, sale, grand, address_ids, carrier)
    if shop.as_of - when <= timedelta(days=QUOTE_DAYS):
        _quote(shop, quote_id, when - timedelta(minutes=rng.randrange(5, 3000)), buyer, account,
               lines=[line[:5] for line in lines], converted=when, ip=ip, number=sale.number,
               method=sale.method)


def _transactions(shop: DemoShop, sale: Sale, payment: int, info: dict[str, str],
                  refunded: bool) -> None:
    """The gateway's capture (and refund) of a paid order: transaction ids and the gateway's
    serialised answer, which repeats the payer's e-mail for PayPal."""
    capture_id = shop.hex(20)
    data = json.dumps({**info, "status": "captured"}, ensure_ascii=False).encode()
    capture = shop.add(
        "sales_payment_transaction", transaction_id=shop.next_id("sales_payment_transaction"),
        parent_id=None, order_id=sale.id, payment_id=payment, txn_id=capture_id,
        parent_txn_id=None, txn_type="capture", is_closed=1, additional_information=data,
        created_at=sale.when)
    if refunded:
        shop.add(
            "sales_payment_transaction",
            transaction_id=shop.next_id("sales_payment_transaction"), parent_id=capture,
            order_id=sale.id, payment_id=payment, txn_id=f"{capture_id}-refund",
            parent_txn_id=capture_id, txn_type="refund", is_closed=1,
            additional_information=None, created_at=sale.when + timedelta(days=7))


def _stored_card(shop: DemoShop, sale: Sale, payment: int, expiry: tuple[int, int]) -> None:
    """A card the customer chose to save at checkout (Magento_Vault). Removing it in "My
    account" only sets is_active = 0: the token stays in the table."""
    assert sale.account is not None
    year, month = expiry
    ends = datetime(year + month // 12, month % 12 + 1, 1)  # the card works through its month
    token = shop.add(
        "vault_payment_token", entity_id=shop.next_id("vault_payment_token"),
        customer_id=sale.account.id, public_hash=shop.hex(64), payment_method_code="itpays_card",
        type="card", created_at=sale.when, expires_at=ends, gateway_token=shop.hex(40),
        details=json.dumps({"type": "VI", "maskedCC": f"{shop.rng.randrange(10000):04d}",
                            "expirationDate": f"{month:02d}/{year}"}),
        is_active=shop.rng.random() < 0.8, is_visible=True)
    shop.add("vault_payment_token_order_payment_link", order_payment_id=payment,
             payment_token_id=token)


def coupon_use(shop: DemoShop) -> None:
    """Per customer, how often the welcome coupon and its cart rule were used."""
    if not shop.coupon_uses:
        return
    shop.add("salesrule", rule_id=1, name="Velkommen - 10 %")
    shop.add("salesrule_coupon", coupon_id=1, rule_id=1, code="VELKOMMEN10")
    for customer, times in sorted(shop.coupon_uses.items()):
        shop.add("salesrule_coupon_usage", coupon_id=1, customer_id=customer, times_used=times)
        shop.add("salesrule_customer", rule_customer_id=shop.next_id("salesrule_customer"),
                 rule_id=1, customer_id=customer, times_used=times)


def _documents(shop: DemoShop, sale: Sale, grand: Decimal, address_ids: list[int],
               carrier: str) -> None:
    """Invoice and shipment of a paid order, a credit memo if it was refunded, and the grid
    copies of each."""
    rng = shop.rng
    at = sale.when + timedelta(hours=rng.randrange(1, 30))
    common = {"store_id": 1, "increment_id": sale.number, "created_at": at, "updated_at": at}
    addresses = {"billing_address_id": address_ids[0], "shipping_address_id": address_ids[1]}
    of_order = {"order_id": sale.id, "order_created_at": sale.when}
    tax = money(sale.gross - sale.net)
    invoice = shop.add(
        "sales_invoice", entity_id=shop.next_id("sales_invoice"), order_id=sale.id,
        base_grand_total=grand, grand_total=grand, tax_amount=tax, subtotal=money(sale.net),
        state=2, transaction_id=shop.hex(24),
        customer_note=rng.choice(NOTES) if rng.random() < 0.03 else None, **addresses, **common)
    shop.add("sales_invoice_grid", entity_id=invoice, order_increment_id=sale.number,
             payment_method=sale.method, grand_total=grand, **of_order, **sale.names, **common)
    to = sale.ship_to
    label = f"%PDF-1.4 demo label\nTo: {to.name}\n{to.street}\n{to.postcode} {to.city}\n"
    shipment = shop.add(
        "sales_shipment", entity_id=shop.next_id("sales_shipment"), order_id=sale.id,
        customer_id=sale.account.id if sale.account else None,
        total_qty=sum(line[4] for line in sale.lines), packages="[]",
        shipping_label=label.encode() if rng.random() < 0.6 else None, **addresses, **common)
    shop.add("sales_shipment_grid", entity_id=shipment, order_increment_id=sale.number,
             shipping_name=to.name, shipping_information=carrier, **of_order, **sale.names,
             **common)
    if sale.fate == "closed":
        back = at + timedelta(days=rng.randrange(3, 40))
        common.update(created_at=back, updated_at=back)
        memo = shop.add(
            "sales_creditmemo", entity_id=shop.next_id("sales_creditmemo"), order_id=sale.id,
            base_grand_total=grand, grand_total=grand, adjustment_positive=money(0),
            adjustment_negative=money(0), tax_amount=tax, state=2,
            transaction_id=shop.hex(24),
            customer_note="Feil navn på skiltet." if rng.random() < 0.3 else None,
            **addresses, **common)
        shop.add("sales_creditmemo_grid", entity_id=memo, base_grand_total=grand, **of_order,
                 **sale.names, **common)


def _quote(shop: DemoShop, qid: int, created: datetime, p: Person | None, account: Account | None,
           *, lines: list[tuple[int, str, str, int, int]], converted: datetime | None,
           ip: str, number: str | None = None, method: str | None = None) -> None:
    total = sum(price * qty for _pid, _sku, _name, price, qty in lines)
    named = {"customer_email": p.email, "customer_firstname": p.first,
             "customer_lastname": p.last} if p else {}
    shop.add("quote", entity_id=qid, store_id=1, created_at=created,
             updated_at=converted or created, converted_at=converted,
             is_active=0 if converted else 1, items_count=len(lines),
             grand_total=money(total), base_grand_total=money(total),
             checkout_method="customer" if account else "guest" if converted else None,
             customer_id=account.id if account else None,
             customer_is_guest=1 if converted and not account else 0, remote_ip=ip,
             reserved_order_id=number, **named)
    if p is not None:
        for kind in ("billing", "shipping"):
            shop.add("quote_address", address_id=shop.next_id("quote_address"), quote_id=qid,
                     created_at=created, updated_at=created,
                     customer_id=account.id if account else None, address_type=kind,
                     email=p.email, firstname=p.first, lastname=p.last, street=p.street,
                     city=p.city, region=p.region, postcode=p.postcode, country_id="NO",
                     telephone=p.phone, grand_total=money(total if kind == "shipping" else 0))
    for pid, sku, name, price, qty in lines:
        shop.add("quote_item", item_id=shop.next_id("quote_item"), quote_id=qid,
                 created_at=created, updated_at=created, product_id=pid, store_id=1, sku=sku,
                 name=name, qty=qty, price=money(price), row_total=money(price * qty))
    if method is not None:
        shop.add("quote_payment", payment_id=shop.next_id("quote_payment"), quote_id=qid,
                 created_at=created, updated_at=created, method=method)


def abandoned_carts(shop: DemoShop, count: int) -> None:
    rng = shop.rng
    for _ in range(count):
        created = shop.moment(shop.as_of - timedelta(days=730), shop.as_of, recent=True)
        account = rng.choice(shop.accounts) if shop.accounts and rng.random() < 0.4 else None
        person = account.person if account else shop.person() if rng.random() < 0.4 else None
        lines = [(pid, sku, name, price, 1) for pid, sku, name, price, _personal in
                 rng.sample(PRODUCTS, rng.randrange(1, 3))]
        _quote(shop, shop.next_id("quote"), created, person, account, lines=lines,
               converted=None, ip=shop.ip())


