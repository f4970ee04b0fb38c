"""`retention check | schedule-report | forecast`: thin click commands over `coverage`,
`schedule_report` and `forecast`, registered by `retention.cli`.

The options are declared here rather than imported from `retention.cli`, which imports this
module: a cycle would break whichever of the two is imported first.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import click
from rich.console import Console

from .cli_options import as_of as parse_as_of
from .cli_options import database_option, need_database, policies_option, policy_paths
from .coverage import EXIT_UNCOVERED, check_coverage, coverage_table
from .errors import EXIT_OK
from .forecast import MAX_DAYS, forecast
from .forecast_render import forecast_html, forecast_json, forecast_table
from .schedule_render import render_html, render_markdown
from .schedule_report import build_schedule

output_option = click.option("--output", "-o", type=click.Path(dir_okay=False), metavar="FILE",
                             help="Write to FILE (UTF-8) instead of stdout.")


def _emit(text: str, output: str | None) -> None:
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=not text.endswith("\n"))


def _console(output: str | None) -> Console:
    """A console for stdout, or one recording for a file (plain text, full width)."""
    if output:
        return Console(record=True, width=200, file=io.StringIO())
    return Console() if sys.stdout.isatty() else Console(width=200)


@click.command("check")
@policies_option
@database_option
@click.option("--sample", type=click.IntRange(0, 10_000), default=0, metavar="N",
              help="Also read up to N non-null values of each uncovered text column and "
                   "flag those that look like e-mail addresses, phone numbers, IP or postal "
                   "addresses or card numbers (values are never shown).")
@click.option("--strict", is_flag=True,
              help="Exit 3 when some column looks personal and nothing covers it.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def check(policies: tuple[str, ...], database: str | None, sample: int, strict: bool,
          fmt: str) -> int:
    """List columns that look like personal data and that no rule or keep entry covers.

    A column is covered when a rule anonymises it, when a rule deletes its table's rows (or
    the database cascades from a rule's delete), or when a `keep` entry explains it. Reads
    the whole schema but the tool's own retention_* tables; changes nothing.

    \b
    Examples:
      retention check --database sqlite:///shop.db
      retention check --sample 20 --strict     # in CI: exit 3 on an uncovered column
      retention check --format json > coverage.json
    """
    report = check_coverage(policy_paths(policies), need_database(database), sample=sample)
    if fmt == "json":
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        coverage_table(report, _console(None))
    if strict and report.uncovered:
        click.echo(f"{len(report.uncovered)} column(s) look personal and no rule or keep "
                   "entry covers them (--strict)", err=True)
        return EXIT_UNCOVERED
    return EXIT_OK


@click.command("schedule-report")
@policies_option
@click.option("--format", "fmt", type=click.Choice(["md", "html"]), default="md",
              show_default=True)
@output_option
def schedule_report(policies: tuple[str, ...], fmt: str, output: str | None) -> int:
    """The retention schedule for the record of processing (GDPR Art. 30(1)(f)).

    Per category: legal basis, privacy-policy clause, legal floor, every rule's tables,
    columns, period, clock and conditions in words, and the data kept on purpose. Written
    from the policy files that `run` enforces; needs no database.

    \b
    Examples:
      retention schedule-report > retention-schedule.md
      retention schedule-report --format html --output retention-schedule.html
    """
    schedule = build_schedule(policy_paths(policies))
    _emit(render_html(schedule) if fmt == "html" else render_markdown(schedule), output)
    return EXIT_OK


@click.command("forecast")
@policies_option
@database_option
@click.option("--rule", "rules", multiple=True, metavar="ID", help="Only this rule; repeatable.")
@click.option("--days", type=click.IntRange(1, MAX_DAYS), required=True, metavar="N",
              help=f"How many days ahead (1-{MAX_DAYS}).")
@click.option("--as-of", "as_of", metavar="DATE",
              help="Start from this date/time instead of now (day 0, the backlog).")
@click.option("--by", type=click.Choice(["day", "week"]), default="day", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "json", "html"]), default="table",
              show_default=True)
@output_option
def forecast_command(policies: tuple[str, ...], database: str | None, rules: tuple[str, ...],
                     days: int, as_of: str | None, by: str, fmt: str,
                     output: str | None) -> int:
    """Rows that become due per rule, day by day (or week by week), over the next N days.

    The first line is the backlog, what a run would change now; each later day counts the
    rows that become due since the day before, as `plan --as-of` that day would find them
    (assuming no run and no new rows in between). Read-only.

    \b
    Examples:
      retention forecast --database sqlite:///shop.db --days 30
      retention forecast --days 365 --by week --format html --output forecast.html
      retention forecast --days 14 --as-of 2027-01-01 --format json
    """
    result = forecast(policy_paths(policies), need_database(database), days=days,
                      as_of=parse_as_of(as_of), rule_ids=list(rules) or None)
    if fmt == "json":
        _emit(forecast_json(result, by) + "\n", output)
    elif fmt == "html":
        _emit(forecast_html(result, by), output)
    else:
        console = _console(output)
        forecast_table(result, by, console)
        if output:
            _emit(console.export_text(), output)
    return EXIT_OK
