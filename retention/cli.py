"""The `retention` command: thin click commands over `retention.api`."""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import click
from rich.console import Console
from sqlalchemy import exc as sa_exc

from . import __version__, api, render
from .cli_audit_report import audit_lookup, audit_replay, audit_report
from .cli_audit_verify import audit_export, audit_verify, record_head
from .cli_config import config_group
from .cli_options import as_of as parse_as_of
from .cli_options import (
    database_option,
    need_database,
    policies_option,
    policy_paths,
    rule_option,
    seconds,
    stdout_console,
)
from .cli_report import check, forecast_command, schedule_report
from .cli_schedule import healthcheck, schedule
from .config import config_option
from .database import error_label
from .errors import (
    EXIT_BUG,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    PolicyError,
    RetentionError,
)
from .logconfig import configure
from .metrics import export_run, metrics_options


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="retention")
@config_option
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.option("--log-format", type=click.Choice(["auto", "json", "console"]), default="auto",
              show_default=True, help="Log lines on stderr: JSON when not on a terminal.")
def cli(debug: bool, log_format: str) -> None:
    """Enforce a privacy policy's retention periods in the shop database.

    \b
    Examples:
      retention demo
      retention validate policies/ --database sqlite:///shop.db
      retention plan --database sqlite:///shop.db --sql
      retention run --database sqlite:///shop.db
      retention audit show --database sqlite:///shop.db
    """
    configure(debug=debug, json_logs=None if log_format == "auto" else log_format == "json")


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
@policies_option
@database_option
def validate(paths: tuple[str, ...], policies: tuple[str, ...], database: str | None) -> int:
    """Check policy files; with --database also against the database schema.

    Prints every problem as `file:line:col: path: message` and exits 3 if there is any.

    \b
    Examples:
      retention validate policies/
      retention validate policies/orders.yaml --database sqlite:///shop.db
    """
    policy = api.validate(list(paths) or policy_paths(policies), database)
    checked = " and the database schema" if database else ""
    click.echo(f"ok: {len(policy.rules)} rules in {len(policy.categories)} categories "
               f"from {len(policy.files)} file(s){checked}", err=True)
    return EXIT_OK


@cli.command()
@policies_option
@database_option
@rule_option
@click.option("--as-of", "as_of", metavar="DATE", help="Evaluate as if run at this date/time.")
@click.option("--samples", type=click.IntRange(0, 1000), default=0,
              help="Show this many keys due per rule.")
@click.option("--sql", "with_sql", is_flag=True, help="Show the SQL a run would execute.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def plan(policies: tuple[str, ...], database: str | None, rules: tuple[str, ...],
         as_of: str | None, samples: int, with_sql: bool, fmt: str) -> int:
    """Dry run: per rule, the cutoff and the rows due in every table. Changes nothing.

    \b
    Examples:
      retention plan --database sqlite:///shop.db
      retention plan --as-of 2027-01-01 --samples 5 --sql
      retention plan --format json > plan.json
    """
    result = api.plan(policy_paths(policies), need_database(database), as_of=parse_as_of(as_of),
                      rule_ids=list(rules) or None, samples=samples, with_sql=with_sql)
    if fmt == "json":
        click.echo(render.plan_json(result))
    else:
        render.plan_table(result, stdout_console())
    return EXIT_OK


@cli.command()
@policies_option
@database_option
@rule_option
@click.option("--batch-size", type=click.IntRange(1, 100_000), metavar="N",
              help="Rows per batch/transaction (default from the policy settings, 2000).")
@click.option("--force", is_flag=True,
              help="Ignore the rules' max_rows / max_fraction caps for this run.")
@click.option("--max-runtime", metavar="DURATION",
              help="Stop after the batch that ends past this budget ('2 hours', 'PT30M'); "
                   "exit 0.")
@click.option("--stop-file", envvar="RETENTION_STOP_FILE", type=click.Path(dir_okay=False),
              metavar="PATH",
              help="Stop after the current batch once this file exists (env "
                   "RETENTION_STOP_FILE); exit 0.")
@click.option("--clock-tolerance", default="5 minutes", show_default=True, metavar="DURATION",
              help="Refuse to run when the database clock differs from this host's by more.")
@click.option("--sleep", "pause", type=click.FloatRange(0, 3600), default=0.0, metavar="SECONDS",
              help="Pause between batches, to spare the shop on a large first run.")
@click.option("--anchor-file", type=click.File("a", encoding="utf-8", lazy=False),
              metavar="PATH", help="Append the audit trail's head (seq, hash) to this file "
              "after the run, for `retention audit verify --anchors`; keep it off this host.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@metrics_options
def run(policies: tuple[str, ...], database: str | None, rules: tuple[str, ...],
        batch_size: int | None, force: bool, max_runtime: str | None, stop_file: str | None,
        clock_tolerance: str, pause: float, fmt: str, anchor_file: IO[str] | None,
        metrics_textfile: str | None, pushgateway: str | None) -> int:
    """Purge or anonymise every due row, in batches, recording each in the audit trail.

    Needs RETENTION_SECRET (at least 32 bytes) for pseudonyms and audit key hashes. One run at a
    time per database: a second one exits 5. Exits 0 when every rule completed (or the run
    stopped at its time budget or stop file), 4 when some rule failed or was stopped by a
    cap, 143/130 after SIGTERM/SIGINT (the current batch is finished first).

    \b
    Examples:
      retention run --database sqlite:///shop.db
      retention run --rule guest-orders-anonymise --batch-size 500
      retention run --max-runtime '2 hours' --sleep 0.5
      retention run --force    # once, after checking a capped rule's plan
    """
    budget = seconds(max_runtime, "--max-runtime")
    tolerance = seconds(clock_tolerance, "--clock-tolerance")
    stop = api.StopFlag(deadline=None if budget is None else time.monotonic() + budget,
                        stop_file=Path(stop_file) if stop_file else None)
    result = _run_with_progress(policy_paths(policies), need_database(database),
                                list(rules) or None, batch_size, stop, force, pause,
                                tolerance if tolerance is not None else 300.0)
    if fmt == "json":
        click.echo(render.run_json(result))
    else:
        render.run_table(result, stdout_console())
    if result.status == "stopped":
        click.echo(f"stopped at {result.stop_reason}; the next run continues from there",
                   err=True)
    # metrics first: an anchor file that cannot be written (exit 6) must not cost them
    export_run(result, need_database(database), textfile=metrics_textfile,
               pushgateway=pushgateway)
    record_head(result, anchor_file)
    return result.exit_code


def _run_with_progress(policies: list[str], database: str, rules: list[str] | None,
                       batch_size: int | None, stop: api.StopFlag, force: bool,
                       pause: float, clock_tolerance: float) -> api.RunResult:
    options: dict[str, Any] = {"rule_ids": rules, "batch_size": batch_size, "stop": stop,
                               "force": force, "pause": pause,
                               "clock_tolerance": clock_tolerance}
    with _stop_on_signals(stop):
        if not sys.stderr.isatty():
            return api.sweep(policies, database, **options)
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        with Progress(SpinnerColumn(), TextColumn("{task.description}"),
                      TextColumn("{task.completed:,} rows"), TimeElapsedColumn(),
                      console=Console(stderr=True), transient=True) as progress:
            tasks: dict[str, Any] = {}

            def on_batch(rule_id: str, rows: int) -> None:
                if rule_id not in tasks:
                    tasks[rule_id] = progress.add_task(rule_id, total=None)
                progress.advance(tasks[rule_id], rows)

            return api.sweep(policies, database, on_batch=on_batch, **options)


@contextmanager
def _stop_on_signals(stop: api.StopFlag) -> Iterator[None]:
    """SIGTERM / SIGINT finish the current batch, then end the run (exit 143 / 130).

    A second SIGINT interrupts at once; the open batch's transaction is rolled back.
    """
    def handler(signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        if stop() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.request(name)
        click.echo(f"{name} received: stopping after the current batch "
                   "(Ctrl-C again to abort it)", err=True)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@cli.group()
def audit() -> None:
    """Read, verify, export and report the audit trail; replay erasures after a restore.

    \b
    Examples:
      retention audit show --database sqlite:///shop.db
      retention audit verify --anchors /var/lib/retention/anchors.jsonl
      retention audit export --since 2026-01-01 --format jsonl -o trail-2026.jsonl
      retention audit report --since 2026-11-01 --format html -o november.html
      retention audit lookup --table sales_order --key 1042
      retention audit replay --since 2026-11-01 --from-export trail.jsonl --dry-run
    """


@audit.command("show")
@click.argument("run_id", required=False)
@database_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def audit_show(run_id: str | None, database: str | None, fmt: str) -> int:
    """Summary of the last run, or of RUN_ID.

    \b
    Examples:
      retention audit show --database sqlite:///shop.db
      retention audit show 5f0c...-... --format json
    """
    summary = api.audit_show(need_database(database), run_id)
    if summary is None:
        click.echo("no runs recorded" + (f" with id {run_id}" if run_id else ""), err=True)
        return EXIT_USAGE if run_id else EXIT_OK
    if fmt == "json":
        from dataclasses import asdict

        click.echo(json.dumps(asdict(summary), indent=2))
    else:
        render.audit_summary(summary, stdout_console())
    return EXIT_OK


@cli.command()
@click.option("--output", "-o", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write to FILE instead of stdout.")
def schema(output: str | None) -> int:
    """Print the JSON Schema of policy files (for editor completion and checks).

    \b
    Example:
      retention schema -o policies/schema.json
    """
    from .model import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)
    return EXIT_OK


@cli.command()
@click.option("--path", type=click.Path(dir_okay=False), default="retention-demo.db",
              show_default=True, help="Where to create the SQLite demo database.")
@click.option("--customers", type=click.IntRange(10, 1_000_000), default=3000, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@policies_option
def demo(path: str, customers: int, seed: int, policies: tuple[str, ...]) -> int:
    """Build a Magento-shaped SQLite shop, show the plan, run the sweep, show the audit.

    Offline and deterministic. Afterwards, point plan/run at the database yourself.

    \b
    Examples:
      retention demo
      retention demo --customers 10000 --path /tmp/shop.db
      retention plan --database sqlite:///retention-demo.db
    """
    from .demo import run_demo

    return int(run_demo(Path(path), customers=customers, seed=seed,
                    policies=list(policies) or None, console=stdout_console()))


# Commands defined in their own modules.
audit.add_command(audit_verify)
audit.add_command(audit_export)
audit.add_command(audit_report)
audit.add_command(audit_lookup)
audit.add_command(audit_replay)
cli.add_command(check)
cli.add_command(schedule_report)
cli.add_command(forecast_command)
cli.add_command(schedule)
cli.add_command(healthcheck)
cli.add_command(config_group)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    try:
        code = cli.main(args=args, prog_name="retention", standalone_mode=False)
    except click.exceptions.Exit as err:
        code = err.exit_code
    except click.ClickException as err:
        err.show()
        code = err.exit_code
    except click.Abort:
        click.echo("aborted", err=True)
        code = 130
    except PolicyError as err:
        if debug:
            raise
        for issue in err.issues:
            click.echo(str(issue), err=True)
        click.echo(f"{len(err.issues)} problem(s) found; nothing was changed", err=True)
        code = err.exit_code
    except RetentionError as err:
        if debug:
            raise
        click.echo(f"error: {err}", err=True)
        code = err.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        code = 130
    except sa_exc.OperationalError as err:
        if debug:
            raise
        click.echo(f"error: database unavailable: {error_label(err)}", err=True)
        code = EXIT_UNAVAILABLE
    except sa_exc.SQLAlchemyError as err:
        if debug:
            raise
        # A database message can quote row values; print the error's class and code only.
        click.echo(f"internal error: {error_label(err)} (rerun with --debug for details)",
                   err=True)
        code = EXIT_BUG
    except Exception as err:
        if debug:
            raise
        click.echo(f"internal error: {type(err).__name__}: {err} (rerun with --debug for the "
                   "traceback)", err=True)
        code = EXIT_BUG
    sys.exit(code if isinstance(code, int) else EXIT_OK)
