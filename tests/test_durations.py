"""Retention periods: parsing, calendar arithmetic and the cutoffs rows are compared with."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from retention.durations import (
    Cutoff,
    Duration,
    compute_cutoff,
    financial_year_start,
    parse_duration,
    parse_month_day,
)

SECOND = timedelta(seconds=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


# --------------------------------------------------------------------------- parsing


@pytest.mark.parametrize(("text", "expected"), [
    ("90 days", Duration(days=90)),
    ("18 months", Duration(months=18)),
    ("3 years", Duration(years=3)),
    ("1 year", Duration(years=1)),
    ("1 year 6 months", Duration(years=1, months=6)),
    ("1 year, 6 months", Duration(years=1, months=6)),
    ("1 year and 6 months", Duration(years=1, months=6)),
    ("2 weeks", Duration(days=14)),
    ("1 week 2 days", Duration(days=9)),
    ("12 hours", Duration(hours=12)),
    ("3 Years", Duration(years=3)),
    ("  3 years  ", Duration(years=3)),
    ("P3Y", Duration(years=3)),
    ("P18M", Duration(months=18)),
    ("P1Y6M", Duration(years=1, months=6)),
    ("PT12H", Duration(hours=12)),
    ("PT30M", Duration(minutes=30)),
    ("P2W", Duration(days=14)),
    ("P1DT12H", Duration(days=1, hours=12)),
    ("p3y", Duration(years=3)),
])
def test_parse_duration_accepts_words_and_iso_8601(text: str, expected: Duration) -> None:
    """Periods are written in English units or as ISO 8601 durations; weeks become days."""
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", [
    "3 yeras",
    "",
    "   ",
    "P",
    "PT",
    "P1DT",
    "-3 days",
    "three years",
    "3",
    "years",
    "P3Y extra",
    "3 years extra",
    "3 years 2 years",
    "1 year 1 years",
    "2 weeks 1 week",
    "P1.5Y",
    "PT30S",
    "1234567890 days",
])
def test_parse_duration_rejects_anything_else_naming_the_text(text: str) -> None:
    """Misspelt, negative, unitless, trailing-garbage and repeated-unit periods are errors
    whose message quotes the offending text and shows a correct example."""
    with pytest.raises(ValueError, match=re.escape(repr(text))) as err:
        parse_duration(text)
    assert "'3 years'" in str(err.value)


def test_parse_duration_rejects_periods_no_cutoff_can_reach() -> None:
    """A period longer than 1000 years is refused when the policy is read, not when a run
    subtracts it from today and falls off the calendar."""
    assert parse_duration("1000 years") == Duration(years=1000)
    with pytest.raises(ValueError, match=r"'1001 years' is longer than 1000 years"):
        parse_duration("1001 years")
    with pytest.raises(ValueError, match=r"'P400000D' is longer than 1000 years"):
        parse_duration("P400000D")
    assert compute_cutoff(utc(2026, 1, 1), parse_duration("1000 years")).moment == \
        utc(1026, 1, 1)


@pytest.mark.parametrize("text", ["3 years", "1 year 6 months", "90 days", "12 hours",
                                  "1 day 30 minutes", "1 month"])
def test_duration_prints_as_text_that_parses_back(text: str) -> None:
    """str(duration) is readable English that parses to the same duration."""
    duration = parse_duration(text)
    assert str(duration) == text
    assert parse_duration(str(duration)) == duration


def test_zero_duration_reads_as_zero_days() -> None:
    """An empty period prints as '0 days' and reports itself as zero."""
    assert str(Duration()) == "0 days"
    assert Duration().is_zero()
    assert not Duration(minutes=1).is_zero()


# --------------------------------------------------------------------------- calendar arithmetic


@pytest.mark.parametrize(("duration", "moment", "expected"), [
    (Duration(years=1), utc(2024, 2, 29, 12), utc(2023, 2, 28, 12)),
    (Duration(years=4), utc(2024, 2, 29), utc(2020, 2, 29)),
    (Duration(months=1), utc(2024, 3, 31), utc(2024, 2, 29)),
    (Duration(months=1), utc(2023, 3, 31), utc(2023, 2, 28)),
    (Duration(months=1), utc(2024, 5, 31, 8, 30), utc(2024, 4, 30, 8, 30)),
    (Duration(months=18), utc(2025, 2, 15), utc(2023, 8, 15)),
    (Duration(months=18), utc(2024, 8, 31), utc(2023, 2, 28)),
    (Duration(years=1, months=6), utc(2026, 1, 31, 10), utc(2024, 7, 31, 10)),
    (Duration(months=13), utc(2026, 1, 1), utc(2024, 12, 1)),
    (Duration(days=90), utc(2026, 3, 1), utc(2025, 12, 1)),
    (Duration(hours=12), utc(2026, 1, 1, 6), utc(2025, 12, 31, 18)),
    # months first, then the fixed lengths
    (Duration(months=1, days=1), utc(2024, 3, 31), utc(2024, 2, 28)),
])
def test_before_subtracts_calendar_months_and_clamps_the_day(
        duration: Duration, moment: datetime, expected: datetime) -> None:
    """Years and months move the calendar date, clamping to the last day of a shorter month;
    days and hours are fixed lengths subtracted afterwards."""
    assert duration.before(moment) == expected


def test_after_is_the_calendar_inverse_where_no_clamping_happens() -> None:
    """Adding a period moves the calendar forward the same way subtracting moves it back."""
    assert Duration(years=1).after(utc(2024, 2, 29)) == utc(2025, 2, 28)
    assert Duration(months=18).after(utc(2023, 8, 15)) == utc(2025, 2, 15)
    assert Duration(days=90).after(utc(2025, 12, 1)) == utc(2026, 3, 1)


# --------------------------------------------------------------------------- plain cutoffs

NOW = utc(2026, 11, 29, 3, 0, 0)


def test_row_is_due_once_its_timestamp_plus_the_period_has_passed() -> None:
    """Without a financial year a row is due iff timestamp <= now - period: a second before
    and at the cutoff it is due, a second after it is not."""
    cutoff = compute_cutoff(NOW, parse_duration("3 years"))
    assert cutoff == Cutoff(utc(2023, 11, 29, 3, 0, 0), strict=False)
    assert cutoff.is_due(cutoff.moment - SECOND)
    assert cutoff.is_due(cutoff.moment)
    assert not cutoff.is_due(cutoff.moment + SECOND)
    assert cutoff.describe() == "<= 2023-11-29T03:00:00+00:00"


def test_cutoff_of_a_leap_day_run_uses_the_last_day_of_february() -> None:
    """Run on 2024-02-29 with a one-year period, rows of 2023-02-28 are due, of 03-01 not."""
    cutoff = compute_cutoff(utc(2024, 2, 29), parse_duration("1 year"))
    assert cutoff.is_due(utc(2023, 2, 28))
    assert not cutoff.is_due(utc(2023, 2, 28) + SECOND)


def test_compute_cutoff_refuses_a_naive_now() -> None:
    """A clock without a time zone is ambiguous, so computing a cutoff from it is an error."""
    with pytest.raises(ValueError, match="timezone-aware"):
        compute_cutoff(datetime(2026, 1, 1), Duration(years=1))


@pytest.mark.parametrize("financial_year", [None, (1, 1), (7, 1)])
@pytest.mark.parametrize("now", [
    datetime(2026, 1, 1, 0, 30, tzinfo=ZoneInfo("Europe/Oslo")),  # 2025-12-31T23:30Z
    datetime(2026, 7, 1, 1, 30, tzinfo=ZoneInfo("Europe/Oslo")),  # 2026-06-30T23:30Z
    datetime(2026, 3, 8, 22, 0, tzinfo=ZoneInfo("America/New_York")),
])
def test_non_utc_now_gives_the_cutoff_of_the_same_instant_in_utc(
        now: datetime, financial_year: tuple[int, int] | None) -> None:
    """Cutoffs depend on the instant only: a local `now` gives the cutoff of its UTC
    equivalent, expressed in UTC."""
    local = compute_cutoff(now, Duration(years=5), financial_year=financial_year)
    in_utc = compute_cutoff(now.astimezone(UTC), Duration(years=5),
                            financial_year=financial_year)
    assert local == in_utc
    assert local.moment.utcoffset() == timedelta(0)


# --------------------------------------------------------------------------- financial years

FIVE_YEARS = Duration(years=5)
CALENDAR_FY = (1, 1)
JULY_FY = (7, 1)


def test_financial_year_rows_of_2020_become_due_at_the_start_of_2026() -> None:
    """Five years after the end of financial year 2020 is 2026-01-01T00:00Z, not earlier."""
    due_now = compute_cutoff(utc(2026, 1, 1), FIVE_YEARS, financial_year=CALENDAR_FY)
    assert due_now == Cutoff(utc(2021, 1, 1), strict=True)
    for ts in (utc(2020, 1, 1), utc(2020, 6, 15, 12), utc(2020, 12, 31, 23, 59, 59)):
        assert due_now.is_due(ts)
    assert not due_now.is_due(utc(2021, 1, 1, 0, 0, 0))


def test_financial_year_end_row_is_not_due_a_second_before_the_new_year() -> None:
    """A row of 2020-12-31T23:59:59 is due at 2026-01-01T00:00Z but not at 2025-12-31T23:59:59."""
    row = utc(2020, 12, 31, 23, 59, 59)
    just_before = compute_cutoff(utc(2025, 12, 31, 23, 59, 59), FIVE_YEARS,
                                 financial_year=CALENDAR_FY)
    at = compute_cutoff(utc(2026, 1, 1), FIVE_YEARS, financial_year=CALENDAR_FY)
    just_after = compute_cutoff(utc(2026, 1, 1, 0, 0, 1), FIVE_YEARS,
                                financial_year=CALENDAR_FY)
    assert not just_before.is_due(row)
    assert not just_before.is_due(utc(2020, 1, 1))  # the whole year waits for its end
    assert at.is_due(row)
    assert just_after.is_due(row)


def test_financial_year_row_of_the_next_year_waits_another_year() -> None:
    """A row of 2021-01-01T00:00 belongs to financial year 2021: not due at 2026-01-01, due at
    2027-01-01."""
    row = utc(2021, 1, 1)
    assert not compute_cutoff(utc(2026, 1, 1), FIVE_YEARS, financial_year=CALENDAR_FY).is_due(row)
    assert not compute_cutoff(utc(2026, 12, 31, 23, 59, 59), FIVE_YEARS,
                              financial_year=CALENDAR_FY).is_due(row)
    assert compute_cutoff(utc(2027, 1, 1), FIVE_YEARS, financial_year=CALENDAR_FY).is_due(row)


def test_july_financial_year_ends_on_june_30() -> None:
    """With the financial year starting 07-01, a row of 2021-06-30T23:59:59 (year 2020/21) is
    due from 2026-07-01T00:00Z; a row of 2021-07-01T00:00 (year 2021/22) is not."""
    before = compute_cutoff(utc(2026, 6, 30, 23, 59, 59), FIVE_YEARS, financial_year=JULY_FY)
    at = compute_cutoff(utc(2026, 7, 1), FIVE_YEARS, financial_year=JULY_FY)
    assert at == Cutoff(utc(2021, 7, 1), strict=True)
    last_of_year = utc(2021, 6, 30, 23, 59, 59)
    assert not before.is_due(last_of_year)
    assert at.is_due(last_of_year)
    assert at.is_due(utc(2020, 7, 1))
    assert not at.is_due(utc(2021, 7, 1))
    assert at.describe() == "< 2021-07-01T00:00:00+00:00"


@pytest.mark.parametrize(("moment", "start", "expected"), [
    (utc(2026, 5, 17), (1, 1), utc(2026, 1, 1)),
    (utc(2026, 1, 1), (1, 1), utc(2026, 1, 1)),
    (utc(2025, 12, 31, 23, 59, 59), (1, 1), utc(2025, 1, 1)),
    (utc(2026, 5, 17), (7, 1), utc(2025, 7, 1)),
    (utc(2026, 7, 1), (7, 1), utc(2026, 7, 1)),
    (utc(2026, 6, 30, 23, 59, 59), (7, 1), utc(2025, 7, 1)),
])
def test_financial_year_start_is_the_last_start_at_or_before_the_moment(
        moment: datetime, start: tuple[int, int], expected: datetime) -> None:
    """The financial year containing a moment starts at 00:00 UTC of its start month-day."""
    assert financial_year_start(moment, *start) == expected


@pytest.mark.parametrize(("text", "expected"), [("01-01", (1, 1)), ("07-01", (7, 1)),
                                                 ("4-6", (4, 6)), ("12-31", (12, 31))])
def test_parse_month_day_reads_a_financial_year_start(text: str,
                                                      expected: tuple[int, int]) -> None:
    """A financial-year start is written month-day."""
    assert parse_month_day(text) == expected


@pytest.mark.parametrize("text", ["02-29", "13-01", "00-10", "04-31", "x", "", "0101",
                                  "01-01-2020", "1/7"])
def test_parse_month_day_rejects_impossible_or_malformed_dates(text: str) -> None:
    """Month-days that do not exist every year, and other text, are errors naming the text."""
    with pytest.raises(ValueError, match=re.escape(repr(text))):
        parse_month_day(text)
