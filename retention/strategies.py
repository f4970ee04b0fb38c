"""Anonymisation strategies: the new value for a column, and how to recognise a done one.

Every strategy keeps NULL as NULL (nothing personal to hide) and is idempotent: applied to
its own output it returns that output unchanged, so a second run changes nothing. Where the
"already anonymised" state can be tested exactly in SQL, `done()` returns that test; the
selection then skips finished rows in the database instead of in Python.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa

from .database import char_length
from .model import (
    EmailDomainStrategy,
    FixedStrategy,
    HmacStrategy,
    MaskStrategy,
    NullStrategy,
    PostcodePrefixStrategy,
    RoundStrategy,
    Strategy,
    TruncateDateStrategy,
)


@dataclass(frozen=True)
class Secrets:
    """Keys derived from the operator's secret: one for pseudonyms, one for audit key hashes."""

    pseudonym_key: bytes
    audit_key: bytes
    key_id: str

    @classmethod
    def from_secret(cls, secret: bytes) -> Secrets:
        def derive(purpose: str) -> bytes:
            return hmac.new(secret, f"retention/{purpose}".encode(), hashlib.sha256).digest()

        return cls(derive("pseudonym"), derive("audit-key"), derive("key-id").hex()[:16])


def transform(spec: Strategy, value: Any, secrets: Secrets | None) -> Any:
    """The anonymised form of `value` (never called for NULL)."""
    if isinstance(spec, NullStrategy):
        return None
    if isinstance(spec, FixedStrategy):
        return spec.value
    if isinstance(spec, HmacStrategy):
        text = str(value)
        if text.startswith(spec.prefix):
            return text  # already a pseudonym: never hash twice
        if secrets is None:
            raise RuntimeError("hmac strategy needs the secret")
        digest = hmac.new(secrets.pseudonym_key, text.encode(), hashlib.sha256).hexdigest()
        return spec.prefix + digest[: spec.length - len(spec.prefix)]
    if isinstance(spec, MaskStrategy):
        return mask(str(value), spec.keep_first, spec.keep_last, spec.char)
    if isinstance(spec, EmailDomainStrategy):
        return email_domain(str(value))
    if isinstance(spec, TruncateDateStrategy):
        return truncate_date(value, spec.to)
    if isinstance(spec, RoundStrategy):
        return round_number(value, spec.digits)
    if isinstance(spec, PostcodePrefixStrategy):
        return str(value)[: spec.keep]
    raise TypeError(f"unknown strategy {spec!r}")  # pragma: no cover


def changes(spec: Strategy, value: Any, secrets: Secrets | None) -> bool:
    """Whether anonymising a non-NULL `value` changes it (decidable without the secret)."""
    if isinstance(spec, HmacStrategy):
        return not str(value).startswith(spec.prefix)
    return bool(transform(spec, value, secrets) != value)


def mask(text: str, keep_first: int, keep_last: int, char: str) -> str:
    """Replace all but the first/last characters; a value too short to keep any is all masked."""
    if len(text) <= keep_first + keep_last:
        return char * len(text)
    tail = text[len(text) - keep_last:] if keep_last else ""
    return text[:keep_first] + char * (len(text) - keep_first - keep_last) + tail


def email_domain(text: str) -> str:
    """'@domain' of an address; a value without '@' has no domain to keep and becomes '@'."""
    if text.startswith("@"):
        return text
    _local, at, domain = text.rpartition("@")
    # without '@' rpartition puts the whole value in `domain`: a name or a phone number
    return "@" + domain.strip() if at else "@"


def truncate_date(value: Any, to: str) -> Any:
    if isinstance(value, datetime):
        day = 1
        month = 1 if to == "year" else value.month
        return value.replace(month=month, day=day, hour=0, minute=0, second=0, microsecond=0)
    if isinstance(value, date):
        return value.replace(month=1 if to == "year" else value.month, day=1)
    raise TypeError(f"truncate_date needs a date or datetime, got {type(value).__name__}")


def round_number(value: Any, digits: int) -> Any:
    quantum = Decimal(1).scaleb(-digits)
    rounded = Decimal(str(value)).quantize(quantum, rounding=ROUND_HALF_UP) if digits >= 0 else \
        (Decimal(str(value)) / quantum).quantize(Decimal(1), rounding=ROUND_HALF_UP) * quantum
    if isinstance(value, int) and not isinstance(value, bool):
        return int(rounded)
    if isinstance(value, float):
        return float(rounded)
    return rounded


def done(spec: Strategy, column: sa.ColumnElement[Any], dialect: str) -> \
        sa.ColumnElement[bool] | None:
    """An exact SQL test for "this column is already anonymised", or None if there is none."""
    if isinstance(spec, NullStrategy):
        return column.is_(None)
    if isinstance(spec, FixedStrategy):
        return sa.or_(column.is_(None), column == spec.value)
    if isinstance(spec, HmacStrategy):
        return sa.or_(column.is_(None), column.startswith(spec.prefix, autoescape=True))
    if isinstance(spec, EmailDomainStrategy):
        return sa.or_(column.is_(None), column.startswith("@", autoescape=True))
    if isinstance(spec, PostcodePrefixStrategy):
        return sa.or_(column.is_(None), char_length(column, dialect) <= spec.keep)
    if isinstance(spec, TruncateDateStrategy):
        parts = [sa.extract("day", column) == 1]
        if spec.to == "year":
            parts.append(sa.extract("month", column) == 1)
        if isinstance(column.type, sa.DateTime):
            parts += [sa.extract(p, column) == 0 for p in ("hour", "minute", "second")]
        return sa.or_(column.is_(None), sa.and_(*parts))
    return None  # mask, round: decided in Python


def needs_value(spec: Strategy) -> bool:
    """Whether the new value depends on the old one (else one set-based UPDATE does)."""
    return not isinstance(spec, NullStrategy | FixedStrategy)


# --------------------------------------------------------------------------- schema fit

_STRING = (sa.String, sa.Text)
_NUMBER = (sa.Integer, sa.Numeric, sa.Float)


def output_length(spec: Strategy) -> int | None:
    """The longest value the strategy writes, where it does not depend on the input."""
    if isinstance(spec, HmacStrategy):
        return spec.length
    if isinstance(spec, FixedStrategy) and isinstance(spec.value, str):
        return len(spec.value)
    return None


def fit_problems(spec: Strategy, column: sa.Column[Any]) -> list[str]:
    """Why `spec` cannot be written to `column` (empty when it fits)."""
    ctype = column.type
    name = type(spec).__name__.removesuffix("Strategy").lower()
    problems: list[str] = []
    if isinstance(spec, NullStrategy):
        if not column.nullable:
            problems.append(f"column {column.name!r} is NOT NULL; the null strategy cannot be "
                            "used (try {strategy: fixed, value: ...})")
        return problems
    is_string = isinstance(ctype, _STRING)
    if isinstance(spec, HmacStrategy | MaskStrategy | EmailDomainStrategy
                  | PostcodePrefixStrategy) and not is_string:
        problems.append(f"strategy {name!r} needs a text column; {column.name!r} is {ctype}")
    if isinstance(spec, TruncateDateStrategy) and not isinstance(ctype, sa.Date | sa.DateTime):
        problems.append(f"truncate_date needs a date/time column; {column.name!r} is {ctype}")
    if isinstance(spec, RoundStrategy) and not isinstance(ctype, _NUMBER):
        problems.append(f"round needs a numeric column; {column.name!r} is {ctype}")
    if isinstance(spec, FixedStrategy):
        if isinstance(spec.value, str) and not is_string:
            problems.append(f"fixed value {spec.value!r} is text; {column.name!r} is {ctype}")
        if not isinstance(spec.value, str) and not isinstance(ctype, _NUMBER):
            problems.append(f"fixed value {spec.value!r} is a number; {column.name!r} is {ctype}")
    length = getattr(ctype, "length", None) if is_string else None
    needed = output_length(spec)
    if length is not None and needed is not None and needed > length:
        what = "pseudonym" if isinstance(spec, HmacStrategy) else "fixed value"
        problems.append(f"{what} is {needed} characters; column {column.name!r} holds {length}"
                        + (" (set a smaller 'length')" if isinstance(spec, HmacStrategy) else ""))
    return problems
