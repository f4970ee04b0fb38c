"""What personal data looks like: column-name and value patterns for `retention check`.

The patterns are data, not code, so that a reviewer can read the whole list in one place and
tests can hold each against columns that must, and must not, be flagged. They aim at the
columns a shop schema (Magento 2 first) uses for personal data; a flag is a question to the
policy author ("is this covered?"), not a verdict, and a `keep` entry answers it.

Column names are matched as `_`-separated words, lower-cased. Three precautions keep the
list quiet on the ordinary bookkeeping columns of a shop:

- a pattern applies only to the column types that can hold what it looks for (an e-mail is
  text; `email_sent` is a number and no e-mail);
- integer primary and foreign keys are identifiers, never flagged (`transaction_id` as the
  key of a transaction table), and names that describe data rather than hold it
  (`is_*`, `*_at`, `*_type`, `*_status`, `*_count`, ...) are skipped;
- bare `name`, `prefix`, `suffix`, `company` and `region` count only in tables about people
  (`customer_*`, `*_address*`, `*user*`, ...): `sales_order_item.name` and `store.name` are
  product and store names. Qualified forms (`customer_name`, `billing_company`) count
  everywhere. A few other generic names count only in tables of one kind: `key` and `info`
  of a session table, `details` of a payment table, `title` or `description` of a review or
  wish list.

`country_id` is not flagged: a country alone identifies nobody, and the street, postcode and
name beside it bring such a table to the policy author's attention anyway.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

# ------------------------------------------------------------------------- column kinds

TEXT, NUMBER, DATE, BINARY = "text", "number", "date", "binary"


def column_kind(column: sa.Column[Any]) -> str | None:
    """The kind of value a column holds; None for flags (booleans) and unknown types."""
    ctype = column.type
    if isinstance(ctype, sa.Boolean):
        return None
    if isinstance(ctype, sa.String | sa.JSON):
        return TEXT
    if isinstance(ctype, sa.Integer | sa.Numeric):
        return NUMBER
    if isinstance(ctype, sa.Date | sa.DateTime | sa.Time):
        return DATE
    if isinstance(ctype, sa.LargeBinary):
        return BINARY
    return None


# ------------------------------------------------------------------------- name patterns


def _words(*alternatives: str) -> str:
    """A regex matching any alternative as whole `_`-separated words of a column name."""
    return rf"(?:^|_)(?:{'|'.join(alternatives)})(?:_|$)"


# words that make a following `name`, `prefix`, ... a person's
_PERSON = ("customer", "billing", "shipping", "delivery", "recipient", "contact", "buyer",
           "payer", "card_?holder", "holder", "owner", "account", "member", "subscriber",
           "sender", "receiver", "user", "author", "person", "guest")
_Q = "|".join(_PERSON)


@dataclass(frozen=True)
class NamePattern:
    """Columns whose name says they hold one kind of personal data."""

    kind: str  # what the column holds, as the report says it
    regex: str  # searched in the lower-cased column name
    kinds: frozenset[str]  # column kinds it applies to
    person_tables_only: bool = False
    table_regex: str | None = None  # only in tables whose name this finds

    def matches(self, table: str, name: str, kind: str | None, person_table: bool) -> bool:
        if kind not in self.kinds or (self.person_tables_only and not person_table):
            return False
        if self.table_regex is not None and re.search(self.table_regex, table) is None:
            return False
        return re.search(self.regex, name) is not None


_T, _TN, _TB = frozenset({TEXT}), frozenset({TEXT, NUMBER}), frozenset({TEXT, BINARY})

NAME_PATTERNS: tuple[NamePattern, ...] = (
    NamePattern("a person's name", _words(
        "first_?name", "last_?name", "middle_?name", "sur_?name", "full_?name", "nick_?name",
        "maiden_?name", "given_?name", "family_?name"), _T),
    NamePattern("a person's name or title", rf"(?:^|_)(?:{_Q})_(?:name|prefix|suffix)$", _T),
    NamePattern("a person's name or title", r"^(?:name|prefix|suffix)$", _T,
                person_tables_only=True),
    NamePattern("a person's name or title", r"^(?:sender|recipient|receiver)$", _T),
    NamePattern("a company on an address", rf"(?:^|_)(?:{_Q})_company$", _T),
    NamePattern("a company on an address", r"^company$", _T, person_tables_only=True),
    NamePattern("an e-mail address", _words(r"e_?mail(?:_?address)?"), _T),
    NamePattern("a phone number", _words(r"(?:tele)?phone(?:_?number)?", "fax", "mobile",
                                         "cell_?phone", "msisdn"), _TN),
    NamePattern("a postal address", _words(
        "street", r"street_?address", "address", r"address_?line\d*", rf"(?:{_Q})_full"), _T),
    NamePattern("a region of an address", rf"(?:^|_)(?:{_Q})_region$", _T),
    NamePattern("a region of an address", r"^region$", _T, person_tables_only=True),
    NamePattern("a postcode or town", _words(
        r"post_?code", r"postal_?code", r"zip(?:_?code)?", "city", "town"), _TN),
    NamePattern("an IP address", _words(
        "ip", r"ip_?address", r"remote_?ip", r"remote_?addr", r"client_?ip",
        r"x_forwarded_for", r"forwarded_for"), frozenset({TEXT, NUMBER, BINARY})),
    NamePattern("a date of birth", _words(
        "dob", "birth", "birthday", r"birth_?date", "date_of_birth"), frozenset({TEXT, DATE})),
    NamePattern("a gender", _words("gender", "sex"), _TN),
    NamePattern("a tax, VAT or national id number", _words(
        "taxvat", r"vat_?id", r"vat_?number", r"tax_?id", r"tax_?number", "ssn",
        r"national_?id", r"personal_?number", "personnummer", "fodselsnummer",
        r"passport(?:_?number)?", r"id_?number"), _TN),
    NamePattern("free text (comments, notes, messages)", _words(
        "comments?", "notes?", "messages?", "remarks?", "feedback"), _T),
    NamePattern("serialised data with customer input", (
        r"^(?:additional_?data|additional_?information|product_?options|buy_?request|"
        r"custom_?options)$"), _TB),
    NamePattern("a secret, token or password", _words(
        "token", "password", "passwd", r"pass_?hash", "hash", "secret", "salt", r"api_?key",
        "otp", "protect_code", r"confirm_?code", r"confirmation(?:_?code)?",
        r"verification_?code", r"reset_?code", r"activation_?code"), _TB),
    NamePattern("payment details", r"^cc_" + "|" + _words(
        "card", r"card_?number", r"card_?holder", "pan", "iban", "bic", "swift",
        r"account_?number", r"account_?name", "bank", r"bank_?account", r"routing_?number",
        r"sort_?code", r"po_?number", "payer", r"payer_?id", r"txn_?id", r"trans_?id",
        r"transaction_?id", "cvv", "cvc"), frozenset({TEXT, NUMBER, BINARY})),
    NamePattern("a carrier label (recipient's name and address)", r"^shipping_label$", _TB),
    NamePattern("a browser's user agent", _words(r"user_?agent", "ua", "browser"), _T),
    NamePattern("a session or device identifier", _words(
        r"session_?id", "sessid", r"session_?key", "sid", "cookie", r"device_?id",
        "fingerprint", "imei", r"mac_?address"), _T),
    NamePattern("a location", _words("latitude", "longitude", r"geo_?location",
                                     "coordinates"), _TN),
    # generic names that hold personal data in some tables only
    NamePattern("a persistent session's key or data", r"^(?:key|info|data)$", _T,
                table_regex=_words("session", "sessions")),
    NamePattern("payment details", r"^details?$", _T,
                table_regex=_words("payment", "vault", "token", "card", "transaction")),
    NamePattern("free text written by a customer",
                r"^(?:title|details?|description|text|body|content)$", _T,
                table_regex=_words("reviews?", "wishlists?", "comments?", "feedback",
                                   "messages?", "inquiry", "inquiries", "tickets?")),
)

# names that describe personal data rather than hold it
METADATA_NAME = re.compile(
    r"^(?:is|has|can|allow|use|show|send|accepts?|enable|disable)_|"
    r"_(?:at|type|types|count|status|flag|sent|confirmed|notified|notify|enabled|format|"
    r"template|length|required|visible|version|mode|lifetime|attempts)$")

# table words that mark a table about people, and words that overrule them
PERSON_TABLE_WORDS = frozenset({
    "customer", "address", "contact", "person", "people", "user", "member", "subscriber",
    "account", "recipient", "buyer", "client", "employee", "guest", "profile", "admin"})
THING_TABLE_WORDS = frozenset({
    "item", "product", "catalog", "store", "website", "group", "attribute", "rule",
    "category", "option", "type", "status", "eav"})


def _singular(word: str) -> str:
    if word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("sses", "uses", "xes", "ches", "shes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us")):
        return word[:-1]
    return word


def is_person_table(table: str) -> bool:
    """A table about people: `customer_entity`, `quote_address`, `users`, but not
    `customer_group` or `sales_order_item`."""
    words = {_singular(w) for w in table.lower().split("_")}
    return bool(words & PERSON_TABLE_WORDS) and not words & THING_TABLE_WORDS


def name_reasons(table: str, column: sa.Column[Any]) -> list[str]:
    """What the column's name says it holds; empty when it looks like no personal data."""
    name = column.name.lower()
    kind = column_kind(column)
    if METADATA_NAME.search(name) and not name.startswith("cc_"):  # cc_type: the card brand
        return []
    if kind == NUMBER and (column.primary_key or column.foreign_keys):
        return []  # a surrogate key or a link: an identifier, not the data itself
    person = is_person_table(table)
    reasons: list[str] = []
    for pattern in NAME_PATTERNS:
        if pattern.kind not in reasons and pattern.matches(table.lower(), name, kind, person):
            reasons.append(pattern.kind)
    return reasons


# ------------------------------------------------------------------------- value patterns

_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_PHONE = re.compile(r"(?:\+|00)[1-9](?:[ \-.()]?\d){6,14}|[2-9]\d{2} \d{2} \d{3}|"
                    r"[2-9]\d \d{2} \d{2} \d{2}")
# a Norwegian street (one word ending in a street word, or 'gate'/'vei' on its own) with a
# house number, and a four-digit postcode elsewhere in the same value
_STREET = re.compile(
    r"(?i)\b[\wæøå.\-]*(?:gata|gate|gaten|veien|vegen|vei|veg|allé|alle|plass|plassen|"
    r"stien|bakken|torget|brygge|stredet)\s+\d{1,4}\s?[a-z]?\b")
_POSTCODE = re.compile(r"(?<!\d)\d{4}(?!\d)")
_DIGITS = re.compile(r"(?<!\d)(?:\d[ \-]?){12,18}\d(?!\d)")


def _is_email(text: str) -> bool:
    return _EMAIL.search(text) is not None


def _is_phone(text: str) -> bool:
    return _PHONE.fullmatch(text.strip()) is not None


def _is_ip(text: str) -> bool:
    parts = [p.strip() for p in text.split(",")]
    if not parts or not all(parts):
        return False
    try:
        for part in parts:
            ipaddress.ip_address(part)
    except ValueError:
        return False
    return True


def _is_postal_address(text: str) -> bool:
    street = _STREET.search(text)
    if street is None:
        return False
    rest = text[:street.start()] + " " + text[street.end():]
    return _POSTCODE.search(rest) is not None


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = int(char)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _is_card_number(text: str) -> bool:
    for match in _DIGITS.finditer(text):
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn_ok(digits):
            return True
    return False


@dataclass(frozen=True)
class ValuePattern:
    kind: str  # plural, as in "2 of 5 sampled values look like e-mail addresses"
    test: Callable[[str], bool]


VALUE_PATTERNS: tuple[ValuePattern, ...] = (
    ValuePattern("e-mail addresses", _is_email),
    ValuePattern("phone numbers", _is_phone),
    ValuePattern("IP addresses", _is_ip),
    ValuePattern("postal addresses", _is_postal_address),
    ValuePattern("card numbers (Luhn-valid)", _is_card_number),
)


def value_reasons(values: list[Any]) -> list[str]:
    """What sampled values look like, as counts; never the values themselves."""
    texts = [v if isinstance(v, str) else str(v) for v in values if v is not None]
    reasons = []
    for pattern in VALUE_PATTERNS:
        hits = sum(1 for t in texts if pattern.test(t))
        if hits:
            reasons.append(f"{hits} of {len(texts)} sampled values look like {pattern.kind}")
    return reasons
