"""Retention periods: parsing ('3 years', 'P18M') and calendar-correct cutoff arithmetic."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

_UNITS = {
    "year": "years", "years": "years", "y": "years",
    "month": "months", "months": "months", "mo": "months",
    "week": "weeks", "weeks": "weeks", "w": "weeks",
    "day": "days", "days": "days", "d": "days",
    "hour": "hours", "hours": "hours", "h": "hours",
    "minute": "minutes", "minutes": "minutes", "min": "minutes",
}

# Longer periods cannot be subtracted from today within datetime's range (year 1..9999).
MAX_YEARS = 1000
_N = r"(\d{1,9})"  # nine digits at most: longer numbers are typos, not periods
_ISO = re.compile(
    rf"^P(?!$)(?:{_N}Y)?(?:{_N}M)?(?:{_N}W)?(?:{_N}D)?(?:T(?=\d)(?:{_N}H)?(?:{_N}M)?)?$"
)
_PART = re.compile(rf"{_N}\s*([a-z]+)")


@dataclass(frozen=True, order=True)
class Duration:
    """A retention period. Years and months are calendar units; the rest are fixed lengths."""

    years: int = 0
    months: int = 0
    days: int = 0
    hours: int = 0
    minutes: int = 0

    def is_zero(self) -> bool:
        return not (self.years or self.months or self.days or self.hours or self.minutes)

    def approx_days(self) -> float:
        """Length in days, months as 30.44 days; for comparing periods, never for cutoffs."""
        return (
            self.years * 365.25 + self.months * 30.44 + self.days
            + self.hours / 24 + self.minutes / 1440
        )

    def __str__(self) -> str:
        parts = [
            f"{n} {name if n != 1 else name[:-1]}"
            for name in ("years", "months", "days", "hours", "minutes")
            if (n := getattr(self, name))
        ]
        return " ".join(parts) or "0 days"

    def before(self, moment: datetime) -> datetime:
        """`moment` minus this duration; 2024-02-29 minus 1 year is 2023-02-28."""
        shifted = add_months(moment, -(self.years * 12 + self.months))
        return shifted - timedelta(days=self.days, hours=self.hours, minutes=self.minutes)

    def after(self, moment: datetime) -> datetime:
        shifted = add_months(moment, self.years * 12 + self.months)
        return shifted + timedelta(days=self.days, hours=self.hours, minutes=self.minutes)


def parse_duration(text: str) -> Duration:
    """Parse '90 days', '18 months', '1 year 6 months' or ISO-8601 'P3Y', 'P1Y6M', 'PT12H'.

    Raises ValueError with a message suitable for a policy error.
    """
    duration = _parse(text)
    if duration is None:
        raise ValueError(
            f"{text!r} is not a duration (try '3 years', '18 months', '90 days' or 'P3Y')"
        )
    if duration.approx_days() > MAX_YEARS * 365.25:
        raise ValueError(f"{text!r} is longer than {MAX_YEARS} years")
    return duration


def _parse(text: str) -> Duration | None:
    raw = text.strip()
    iso = _ISO.match(raw.upper())
    if iso:
        y, mo, w, d, h, mi = (int(g) if g else 0 for g in iso.groups())
        return Duration(years=y, months=mo, days=d + 7 * w, hours=h, minutes=mi)
    lowered = raw.lower().replace(",", " ").replace(" and ", " ")
    fields: dict[str, int] = {}
    pos = 0
    for match in _PART.finditer(lowered):
        if lowered[pos:match.start()].strip():
            break
        unit = _UNITS.get(match.group(2))
        if unit is None or unit in fields:
            break
        fields[unit] = int(match.group(1))
        pos = match.end()
    else:
        if fields and not lowered[pos:].strip():
            weeks = fields.pop("weeks", 0)
            fields["days"] = fields.get("days", 0) + 7 * weeks
            return Duration(**fields)
    return None


def add_months(moment: datetime, months: int) -> datetime:
    """Shift by whole calendar months, clamping the day to the target month's length."""
    index = moment.year * 12 + (moment.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def financial_year_start(moment: datetime, start_month: int, start_day: int) -> datetime:
    """Start (00:00 UTC) of the financial year that contains `moment`."""
    candidate = datetime(moment.year, start_month, start_day, tzinfo=UTC)
    if moment < candidate:
        candidate = candidate.replace(year=moment.year - 1)
    return candidate


@dataclass(frozen=True)
class Cutoff:
    """Rows whose clock column is `<= moment` (or `< moment` when strict) are due."""

    moment: datetime
    strict: bool

    def is_due(self, value: datetime) -> bool:
        return value < self.moment if self.strict else value <= self.moment

    def describe(self) -> str:
        op = "<" if self.strict else "<="
        return f"{op} {self.moment.isoformat()}"


def compute_cutoff(
    now: datetime,
    period: Duration,
    *,
    financial_year: tuple[int, int] | None = None,
) -> Cutoff:
    """The cutoff for rows that expire `period` after their timestamp.

    Without `financial_year` a row is due once `timestamp <= now - period`, the period taken
    back from `now` in calendar units. Around month ends this never expires a row earlier
    than `timestamp + period` but can expire it a little later: a 2024-02-29 row kept
    "1 year" is due from 2025-03-01T00:00, since 2025-02-28 minus 1 year is 2024-02-28.
    With `financial_year`, the period counts from the end of the financial year the timestamp
    falls in; the boundaries being instants, a row is due once `timestamp < S`, S being the
    last financial-year start at or before `now - period`.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    now = now.astimezone(UTC)
    limit = period.before(now)
    if financial_year is None:
        return Cutoff(limit, strict=False)
    return Cutoff(financial_year_start(limit, *financial_year), strict=True)


def parse_month_day(text: str) -> tuple[int, int]:
    """Parse a financial-year start like '01-01' or '07-01' (month-day)."""
    match = re.fullmatch(r"(\d{1,2})-(\d{1,2})", text.strip())
    if match:
        month, day = int(match.group(1)), int(match.group(2))
        try:
            date(2001, month, day)  # a non-leap year: 02-29 is not a usable year start
        except ValueError:
            pass
        else:
            return month, day
    raise ValueError(f"{text!r} is not a month-day like '01-01' or '07-01'")


_SHORT = re.compile(r"^\s*(\d{1,9})\s*(s|sec|secs|seconds?|m)\s*$", re.IGNORECASE)


def fixed_seconds(text: str) -> float:
    """Seconds of a fixed-length period: '90s', '5m', '5 minutes', '36h', '2 days', 'PT30M'.

    Raises ValueError: months and years have no fixed length."""
    short = _SHORT.match(text)
    if short:
        unit = short.group(2).lower()
        return float(int(short.group(1)) * (60 if unit == "m" else 1))
    period = parse_duration(text)
    if period.years or period.months:
        raise ValueError(f"{text!r}: give it in days, hours, minutes or seconds")
    return float(period.days * 86400 + period.hours * 3600 + period.minutes * 60)
