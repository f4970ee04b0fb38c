"""Invented data for the demo shop: six years of customers, orders, carts and traffic.

Everything comes from `random.Random(seed)` and `as_of` alone, so one seed always gives the same
shop. Every person is invented: Norwegian first and last names combined at random, e-mail
addresses on the reserved example.* domains, IP addresses from the documentation ranges
(RFC 5737, RFC 3849).
"""

from __future__ import annotations

import itertools
import json
import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from .demo_schema import demo_metadata
from .durations import add_months

DEMO_SECRET = "demo-only-secret--never-use-for-a-real-shop"
YEARS = 6
QUOTE_DAYS = 180  # older converted carts are gone: Magento's sales_clean_quotes removed them
CHUNK = 2000

FIRST = (
    "Ola", "Kari", "Nora", "Emma", "Jakob", "Lars", "Ingrid", "Sofie", "Henrik", "Sindre", "Marte",
    "Ida", "Magnus", "Eirik", "Thea", "Ane", "Håkon", "Øystein", "Åse", "Bjørn", "Sigrid", "Tone",
    "Kjersti", "Torbjørn", "Liv", "Solveig", "Mathias", "Jonas", "Sander", "Maja", "Frida", "Oda",
    "Tiril", "Vilde", "Aksel", "Filip", "Sverre", "Ragnhild", "Gunnar", "Hege"
)
LAST = (
    "Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen", "Kristiansen",
    "Jensen", "Karlsen", "Johnsen", "Pettersen", "Eriksen", "Berg", "Haugen", "Hagen",
    "Johannessen", "Andreassen", "Jacobsen", "Dahl", "Jørgensen", "Halvorsen", "Henriksen", "Lund",
    "Sørensen", "Moen", "Gundersen", "Iversen", "Strand", "Solberg", "Svendsen", "Eide", "Knutsen",
    "Martinsen", "Bakken", "Mathisen", "Lie", "Amundsen", "Nygård", "Sæther", "Aas"
)
STREETS = (
    "Storgata", "Kirkegata", "Skolegata", "Parkveien", "Skogveien", "Bjørkeveien", "Granveien",
    "Solbakken", "Fjordgata", "Havnegata", "Elvegata", "Lindeveien", "Møllebakken", "Eikeveien",
    "Sjøgata", "Torggata", "Bekkeveien", "Furuveien"
)
CITIES = (("Oslo", 150, "Oslo"), ("Bergen", 5003, "Vestland"), ("Trondheim", 7010, "Trøndelag"),
          ("Stavanger", 4006, "Rogaland"), ("Tromsø", 9008, "Troms"),
          ("Drammen", 3015, "Buskerud"), ("Kristiansand", 4610, "Agder"),
          ("Fredrikstad", 1606, "Østfold"), ("Hamar", 2317, "Innlandet"),
          ("Ålesund", 6002, "Møre og Romsdal"), ("Bodø", 8006, "Nordland"),
          ("Skien", 3724, "Telemark"), ("Lillestrøm", 2000, "Akershus"),
          ("Tønsberg", 3110, "Vestfold"))
DOMAINS = ("example.no", "example.com", "example.net", "example.org")
TITLES = ("Daglig leder", "Butikksjef", "Frisør", "Sykepleier", "Selger", "Kokk", "Lærer",
          "Resepsjonist", "Servitør", "Farmasøyt", "Frivillig")
NOTES = ("Kan leveres i postkassen.", "Ring før levering, takk.",
         "Gave - ikke legg ved kvittering.", "Leveres på jobb, resepsjonen i 2. etasje.")
# entity_id, sku, name, price in øre (VAT included), personalised
PRODUCTS = ((1, "MIG-TAG-MAG", "Migenic navneskilt med magnet", 24900, True),
            (2, "MIG-TAG-PIN", "Migenic navneskilt med nål", 19900, True),
            (3, "MIG-TAG-CLIP", "Migenic navneskilt med klips", 21900, True),
            (4, "MIG-TAG-LUX", "Migenic navneskilt i børstet messing", 34900, True),
            (5, "MIG-MAG-XTRA", "Ekstra magnet", 5900, False))
PAYMENTS = ("vipps", "klarna_kp", "walley_checkout", "afterpay_invoice", "paypal_express",
            "itpays_card")
_FOLD = str.maketrans({"æ": "ae", "ø": "o", "å": "aa", "Æ": "Ae", "Ø": "O", "Å": "Aa"})


def _money(ore: int) -> Decimal:
    return Decimal(ore).scaleb(-2)


@dataclass(frozen=True)
class Person:
    first: str
    last: str
    email: str
    phone: str
    street: str
    postcode: str
    city: str
    region: str
    dob: date | None

    @property
    def name(self) -> str:
        return f"{self.first} {self.last}"

    @property
    def address(self) -> str:  # the one-line form Magento's grids store
        return f"{self.street},{self.city},{self.region},{self.postcode}"


@dataclass
class Account:
    id: int
    person: Person
    created_at: datetime
    address_id: int


class DemoShop:
    """Accumulates generated rows per table, every row with every column of its table."""

    def __init__(self, meta: sa.MetaData, seed: int, as_of: datetime) -> None:
        self.rng = random.Random(seed)
        self.as_of = as_of
        self.start = add_months(as_of, -12 * YEARS)
        self.columns = {t.name: dict.fromkeys(t.c.keys()) for t in meta.sorted_tables}
        self.rows: dict[str, list[dict[str, Any]]] = {name: [] for name in self.columns}
        self.ids: defaultdict[str, itertools.count[int]] = defaultdict(lambda: itertools.count(1))
        self.emails = itertools.count(1)
        self.accounts: list[Account] = []

    def add(self, table: str, **values: Any) -> Any:
        """Append a row; returns its first value (the key, by convention of the callers)."""
        row = self.columns[table].copy()
        row.update(values)
        if len(row) != len(self.columns[table]):
            raise KeyError(f"{table}: unknown column among {sorted(values)}")
        self.rows[table].append(row)
        return next(iter(values.values()))

    def next_id(self, table: str) -> int:
        return next(self.ids[table])

    # ------------------------------------------------------------------ random values

    def moment(self, low: datetime, high: datetime, *, recent: bool = False) -> datetime:
        """A whole second in [low, high); `recent` makes later moments likelier (a growing
        shop)."""
        u = self.rng.random()
        return low + timedelta(seconds=int((high - low).total_seconds() * (u ** 0.5 if recent
                                                                            else u)))

    def hex(self, digits: int) -> str:
        return f"{self.rng.getrandbits(4 * digits):0{digits}x}"

    def ip(self) -> str:
        if self.rng.random() < 0.15:
            return f"2001:db8::{self.rng.randrange(1, 0xFFFF):x}"
        net = self.rng.choice(("192.0.2", "198.51.100", "203.0.113"))
        return f"{net}.{self.rng.randrange(1, 255)}"

    def person(self) -> Person:
        rng = self.rng
        first, last = rng.choice(FIRST), rng.choice(LAST)
        city, base, region = rng.choice(CITIES)
        digits = f"{rng.choice('49')}{rng.randrange(10 ** 7):07d}"
        local = f"{first}.{last}".translate(_FOLD).lower()
        born = date(1950, 1, 1) + timedelta(days=rng.randrange(55 * 365))
        return Person(
            first, last, f"{local}{next(self.emails)}@{rng.choice(DOMAINS)}",
            f"+47 {digits[:3]} {digits[3:5]} {digits[5:]}",
            f"{rng.choice(STREETS)} {rng.randrange(1, 120)}{rng.choice(['', '', 'B'])}",
            f"{base + rng.randrange(30):04d}", city, region,
            born if rng.random() < 0.6 else None)


def generate(customers: int, seed: int, as_of: datetime) -> tuple[DemoShop, list[int]]:
    """All rows of the demo shop, and the ids of the accounts to remove afterwards."""
    shop = DemoShop(demo_metadata(), seed, as_of)
    shop.add("store_website", website_id=0, code="admin", name="Admin")
    shop.add("store_website", website_id=1, code="base", name="Main Website")
    shop.add("store", store_id=0, code="admin", website_id=0, name="Admin")
    shop.add("store", store_id=1, code="default", website_id=1, name="Default Store View")
    for _ in range(customers):
        _account(shop)
    _orders(shop, guests=customers // 2)
    _abandoned_carts(shop, customers // 4)
    _newsletter_guests(shop, customers // 7)
    _traffic(shop, visits=customers)
    _admin_logins(shop, max(4, customers // 100) if customers else 0)
    # 7% of the accounts (at least 3) are deleted after their data is in place
    removed = sorted(shop.rng.sample(range(1, customers + 1),
                                     min(customers // 2, max(3, customers * 7 // 100))))
    return shop, removed


def _account(shop: DemoShop) -> None:
    rng, p = shop.rng, shop.person()
    cid = shop.next_id("customer_entity")
    created = shop.moment(shop.start, shop.as_of - timedelta(days=1), recent=True)
    address_id = shop.add(
        "customer_address_entity", entity_id=shop.next_id("customer_address_entity"),
        parent_id=cid, created_at=created, updated_at=created, is_active=1, city=p.city,
        country_id="NO", firstname=p.first, lastname=p.last, postcode=p.postcode,
        region=p.region, street=p.street, telephone=p.phone)
    token = rng.random() < 0.04
    token_at = (shop.as_of - timedelta(minutes=rng.randrange(10, 1200)) if rng.random() < 0.5
                else shop.moment(created, shop.as_of - timedelta(days=2)))
    gender = rng.choice((None, 1, 2))
    shop.add("customer_entity", entity_id=cid, website_id=1, email=p.email, group_id=1,
             store_id=1, created_at=created, updated_at=created, is_active=1,
             created_in="Default Store View", firstname=p.first, lastname=p.last, dob=p.dob,
             password_hash=f"{shop.hex(64)}:{shop.hex(32)}:3_32_2_67108864",
             rp_token=shop.hex(32) if token else None,
             rp_token_created_at=token_at if token else None, default_billing=address_id,
             default_shipping=address_id, gender=gender, failures_num=0)
    shop.add("customer_grid_flat", entity_id=cid, name=p.name, email=p.email, created_at=created,
             dob=p.dob, gender=gender, shipping_full=p.address, billing_full=p.address,
             billing_firstname=p.first, billing_lastname=p.last, billing_telephone=p.phone,
             billing_postcode=p.postcode, billing_street=p.street, billing_city=p.city)
    if rng.random() < 0.8:
        login = shop.moment(created, shop.as_of, recent=True)
        logout = login + timedelta(minutes=rng.randrange(2, 90)) if rng.random() < 0.5 else None
        shop.add("customer_log", log_id=shop.next_id("customer_log"), customer_id=cid,
                 last_login_at=login, last_logout_at=logout)
    if rng.random() < 0.35:
        shop.add("newsletter_subscriber", subscriber_id=shop.next_id("newsletter_subscriber"),
                 store_id=1, change_status_at=shop.moment(created, shop.as_of), customer_id=cid,
                 subscriber_email=p.email, subscriber_status=rng.choice((1, 1, 1, 3)),
                 subscriber_confirm_code=shop.hex(32))
    if rng.random() < 0.04:
        shop.add("persistent_session", persistent_id=shop.next_id("persistent_session"),
                 key=shop.hex(50), customer_id=cid, website_id=1, info='{"remember_me": true}',
                 updated_at=shop.moment(created, shop.as_of))
    shop.accounts.append(Account(cid, p, created, address_id))


def _orders(shop: DemoShop, guests: int) -> None:
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
class _Sale:
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
    sale = _Sale(shop.next_id("sales_order"), when, buyer, shop.person() if gift else buyer,
                 account, lines, fate, rng.choice(PAYMENTS))
    paid = fate in ("complete", "closed")
    refunded = fate == "closed"
    shipping = 0 if sale.gross >= 50000 else 4900
    coupon = "VELKOMMEN10" if rng.random() < 0.1 else None
    discount = -round(sale.gross / 10) if coupon else 0
    grand = _money(sale.gross + shipping + discount)
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
        customer_id=account.id if account else None, subtotal=_money(sale.net),
        tax_amount=_money(sale.gross - sale.net), shipping_amount=_money(shipping),
        discount_amount=_money(discount), customer_is_guest=0 if account else 1,
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
                 product_options=text, sku=sku, name=name, qty_ordered=qty, price=_money(price),
                 tax_amount=_money(row - round(row / 1.25)), discount_amount=_money(0),
                 row_total=_money(row), amount_refunded=_money(row) if refunded else None)
    card = sale.method == "itpays_card"
    info = {"method_title": sale.method.replace("_", " ").title()}
    if sale.method == "paypal_express":
        info["paypal_payer_email"] = buyer.email
    shop.add("sales_order_payment", entity_id=shop.next_id("sales_order_payment"),
             parent_id=sale.id, amount_ordered=grand, amount_paid=totals["total_paid"],
             amount_refunded=totals["total_refunded"], method=sale.method,
             cc_type=rng.choice(("VI", "MC")) if card else None,
             cc_last_4=f"{rng.randrange(10000):04d}" if card else None,
             cc_owner=buyer.name if card else None,
             cc_exp_month=str(rng.randrange(1, 13)) if card else None,
             cc_exp_year=str(when.year + rng.randrange(1, 5)) if card else None,
             last_trans_id=shop.hex(24) if paid else None,
             additional_information=json.dumps(info, ensure_ascii=False))
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


def _documents(shop: DemoShop, sale: _Sale, grand: Decimal, address_ids: list[int],
               carrier: str) -> None:
    """Invoice and shipment of a paid order, a credit memo if it was refunded, and the grid
    copies of each."""
    rng = shop.rng
    at = sale.when + timedelta(hours=rng.randrange(1, 30))
    common = {"store_id": 1, "increment_id": sale.number, "created_at": at, "updated_at": at}
    addresses = {"billing_address_id": address_ids[0], "shipping_address_id": address_ids[1]}
    of_order = {"order_id": sale.id, "order_created_at": sale.when}
    tax = _money(sale.gross - sale.net)
    invoice = shop.add(
        "sales_invoice", entity_id=shop.next_id("sales_invoice"), order_id=sale.id,
        base_grand_total=grand, grand_total=grand, tax_amount=tax, subtotal=_money(sale.net),
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
            base_grand_total=grand, grand_total=grand, adjustment_positive=_money(0),
            adjustment_negative=_money(0), tax_amount=tax, state=2,
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
             grand_total=_money(total), base_grand_total=_money(total),
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
                     telephone=p.phone, grand_total=_money(total if kind == "shipping" else 0))
    for pid, sku, name, price, qty in lines:
        shop.add("quote_item", item_id=shop.next_id("quote_item"), quote_id=qid,
                 created_at=created, updated_at=created, product_id=pid, store_id=1, sku=sku,
                 name=name, qty=qty, price=_money(price), row_total=_money(price * qty))
    if method is not None:
        shop.add("quote_payment", payment_id=shop.next_id("quote_payment"), quote_id=qid,
                 created_at=created, updated_at=created, method=method)


def _abandoned_carts(shop: DemoShop, count: int) -> None:
    rng = shop.rng
    for _ in range(count):
        created = shop.moment(shop.as_of - timedelta(days=730), shop.as_of, recent=True)
        account = rng.choice(shop.accounts) if shop.accounts and rng.random() < 0.4 else None
        person = account.person if account else shop.person() if rng.random() < 0.4 else None
        lines = [(pid, sku, name, price, 1) for pid, sku, name, price, _personal in
                 rng.sample(PRODUCTS, rng.randrange(1, 3))]
        _quote(shop, shop.next_id("quote"), created, person, account, lines=lines,
               converted=None, ip=shop.ip())


def _newsletter_guests(shop: DemoShop, count: int) -> None:
    for _ in range(count):
        shop.add("newsletter_subscriber", subscriber_id=shop.next_id("newsletter_subscriber"),
                 store_id=1, change_status_at=shop.moment(shop.start, shop.as_of),
                 customer_id=0, subscriber_email=shop.person().email, subscriber_status=1,
                 subscriber_confirm_code=shop.hex(32))


def _traffic(shop: DemoShop, *, visits: int) -> None:
    """Visitor sessions of the last 400 days with their product views: the shop's Magento
    cron (visitor_clean) is assumed broken, which is common and what makes a backstop useful."""
    rng = shop.rng
    seen: set[tuple[str, int, int]] = set()
    starts = sorted(shop.moment(shop.as_of - timedelta(days=400), shop.as_of)
                    for _ in range(visits))
    for start in starts:
        vid = shop.next_id("customer_visitor")
        account = rng.choice(shop.accounts) if shop.accounts and rng.random() < 0.25 else None
        cid = account.id if account else None
        shop.add("customer_visitor", visitor_id=vid, customer_id=cid, created_at=start,
                 last_visit_at=start + timedelta(minutes=rng.randrange(1, 120)))
        for n in range(rng.randrange(1, 3)):
            product = rng.randrange(1, 41)
            at = start + timedelta(seconds=30 * n + rng.randrange(30))
            shop.add("report_event", event_id=shop.next_id("report_event"), logged_at=at,
                     event_type_id=rng.choice((1, 1, 1, 4)), object_id=product,
                     subject_id=cid or vid, subtype=0 if cid else 1, store_id=1)
            who = ("customer", cid) if cid else ("visitor", vid)
            if (*who, product) not in seen:
                seen.add((*who, product))
                shop.add("report_viewed_product_index",
                         index_id=shop.next_id("report_viewed_product_index"),
                         visitor_id=None if cid else vid, customer_id=cid, product_id=product,
                         store_id=1, added_at=at)


def _admin_logins(shop: DemoShop, count: int) -> None:
    """"Login as customer" secrets written when support staff opened a customer's account."""
    for i in range(count):
        at = shop.as_of - timedelta(minutes=shop.rng.randrange(5, 700)) if i % 2 else \
            shop.moment(shop.as_of - timedelta(days=60), shop.as_of - timedelta(days=2))
        shop.add("login_as_customer", secret=shop.hex(64),
                 customer_id=shop.rng.choice(shop.accounts).id, admin_id=1, created_at=at)


# --------------------------------------------------------------------------- database
