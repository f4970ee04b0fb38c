"""The demo shop's building blocks: invented people, the row accumulator and random values.

Every person is invented: Norwegian first and last names combined at random, e-mail addresses
on the reserved example.* domains, IP addresses from the documentation ranges (RFC 5737,
RFC 3849).
"""

from __future__ import annotations

import itertools
import random
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from .durations import add_months

YEARS = 6
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
FOLD = str.maketrans({"æ": "ae", "ø": "o", "å": "aa", "Æ": "Ae", "Ø": "O", "Å": "Aa"})


def money(ore: int) -> Decimal:
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
        self.coupon_uses: Counter[int] = Counter()
        self.removed: set[int] = set()  # accounts deleted once the shop is built

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

    def some_account(self, *, removed: bool = False) -> Account:
        """A random account; with `removed`, one that will be deleted (when there is one), so
        that even a small shop has rows of each kind left behind by a removed account."""
        gone = [a for a in self.accounts if a.id in self.removed] if removed else []
        return self.rng.choice(gone or self.accounts)

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
        local = f"{first}.{last}".translate(FOLD).lower()
        born = date(1950, 1, 1) + timedelta(days=rng.randrange(55 * 365))
        return Person(
            first, last, f"{local}{next(self.emails)}@{rng.choice(DOMAINS)}",
            f"+47 {digits[:3]} {digits[3:5]} {digits[5:]}",
            f"{rng.choice(STREETS)} {rng.randrange(1, 120)}{rng.choice(['', '', 'B'])}",
            f"{base + rng.randrange(30):04d}", city, region,
            born if rng.random() < 0.6 else None)
