"""Options and argument helpers shared by every command module of the CLI."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import click
from rich.console import Console

from .durations import fixed_seconds

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_POLICIES = "policies"

database_option: Callable[[F], F] = click.option(
    "--database", "-d", envvar="RETENTION_DATABASE_URL", metavar="URL",
    help="SQLAlchemy URL of the shop database (env RETENTION_DATABASE_URL or "
         "RETENTION_DATABASE_URL_FILE), e.g. sqlite:///shop.db, postgresql://user@host/shop, "
         "mysql://user@host/shop.")
policies_option: Callable[[F], F] = click.option(
    "--policies", "-p", "policies", envvar="RETENTION_POLICIES", multiple=True, metavar="PATH",
    help="Policy file or directory; repeatable (env RETENTION_POLICIES; default ./policies).")
rule_option: Callable[[F], F] = click.option(
    "--rule", "rules", multiple=True, metavar="ID", help="Only this rule; repeatable.")


def stdout_console() -> Console:
    # Off a terminal (a pipe, a file, cron mail) tables keep their full width.
    return Console() if sys.stdout.isatty() else Console(width=200)


def policy_paths(values: tuple[str, ...]) -> list[str]:
    """The policy paths given; RETENTION_POLICIES may hold several joined by ':'."""
    out = [p for value in values for p in value.split(os.pathsep) if p]
    return out or [DEFAULT_POLICIES]


def need_database(database: str | None) -> str:
    if not database:
        raise click.UsageError("no database given: use --database URL or set "
                               "RETENTION_DATABASE_URL")
    return database


def as_of(value: str | None, option: str = "--as-of") -> datetime | None:
    """A date (midnight UTC) or an ISO datetime (UTC unless it names an offset)."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD) or ISO datetime",
                                 param_hint=option) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def seconds(value: str | None, option: str) -> float | None:
    """Seconds of a fixed-length period given to an option ('90s', '5m', '2 hours', 'PT30M');
    a usage error naming the option otherwise."""
    if value is None:
        return None
    try:
        return fixed_seconds(value)
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint=option) from None
