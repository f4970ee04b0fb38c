"""`retention schedule` and `retention healthcheck`: thin click commands over
`retention.scheduler` and `retention.health`, registered by `retention.cli`.

The shared options are declared here rather than imported from `retention.cli`, which imports
this module: a cycle would break whichever of the two is imported first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import click

from . import api
from .cli_options import (
    F,
    database_option,
    need_database,
    policies_option,
    policy_paths,
    rule_option,
    seconds,
)
from .errors import ConfigError
from .health import DEFAULT_HEARTBEAT, check, touch
from .metrics import RunMetrics, seed_last_success
from .scheduler import ScheduleOptions, Scheduler, SweepOptions, cron_trigger, zone_info
from .secrets import load_secrets

heartbeat_option: Callable[[F], F] = click.option(
    "--heartbeat-file", envvar="RETENTION_HEARTBEAT_FILE", type=click.Path(dir_okay=False),
    default=DEFAULT_HEARTBEAT, show_default=True, metavar="PATH",
    help="File the scheduler touches every minute and after each run (env "
         "RETENTION_HEARTBEAT_FILE).")


def _check(check_value: Callable[[], object], option: str) -> None:
    try:
        check_value()
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint=option) from None


@click.command()
@policies_option
@database_option
@rule_option
@click.option("--cron", default="0 3 * * *", show_default=True, metavar="EXPR",
              help="When to run: minute hour day-of-month month day-of-week, as in crontab "
                   "(day of week 0 or 7 is Sunday).")
@click.option("--timezone", default="Europe/Oslo", show_default=True, metavar="ZONE",
              help="IANA time zone the cron expression is read in; DST changes are handled.")
@click.option("--misfire-grace-time", default="1 hour", show_default=True, metavar="DURATION",
              help="A run that could not start on time (busy host, restart) still starts "
                   "when at most this late; later, it waits for the next fire time.")
@click.option("--run-now", is_flag=True, help="Run once at start, then follow the schedule.")
@heartbeat_option
@click.option("--metrics-port", type=click.IntRange(1, 65535), metavar="PORT",
              help="Serve Prometheus metrics on this port at /metrics.")
@click.option("--batch-size", type=click.IntRange(1, 100_000), metavar="N",
              help="Rows per batch/transaction (default from the policy settings, 2000).")
@click.option("--max-runtime", metavar="DURATION",
              help="Stop each run after the batch that ends past this budget ('2 hours').")
@click.option("--stop-file", envvar="RETENTION_STOP_FILE", type=click.Path(dir_okay=False),
              metavar="PATH", help="A run stops after its current batch while this file "
                                   "exists (env RETENTION_STOP_FILE).")
@click.option("--clock-tolerance", default="5 minutes", show_default=True, metavar="DURATION",
              help="A run refuses to start when the database clock differs by more.")
@click.option("--sleep", "pause", type=click.FloatRange(0, 3600), default=0.0,
              metavar="SECONDS", help="Pause between batches, to spare the shop.")
@click.option("--anchor-file", type=click.Path(dir_okay=False, writable=True), metavar="PATH",
              help="After each run, append the audit trail's head (seq, hash) to this file "
                   "(JSON lines); `retention audit verify --anchors PATH` checks against it.")
def schedule(policies: tuple[str, ...], database: str | None, rules: tuple[str, ...],
             cron: str, timezone: str, misfire_grace_time: str, run_now: bool,
             heartbeat_file: str, metrics_port: int | None, batch_size: int | None,
             max_runtime: str | None, stop_file: str | None, clock_tolerance: str,
             pause: float, anchor_file: str | None) -> int:
    """Run the sweep on a schedule, in the foreground, until SIGTERM or SIGINT.

    Meant as a container's main process. Each run is `retention run` with these options; one
    at a time per database (a run that finds the lock taken is logged as skipped). SIGTERM or
    SIGINT lets the current batch finish, records the run as stopped and exits 0. Events are
    logged as JSON lines on stderr. Policies and RETENTION_SECRET are checked at start
    (exit 3).

    \b
    Examples:
      retention schedule --database postgresql://retention@db/shop
      retention schedule --cron '30 2 * * 1-5' --timezone UTC --run-now
      retention schedule --max-runtime '3 hours' --metrics-port 9464
    """
    _check(lambda: zone_info(timezone), "--timezone")
    _check(lambda: cron_trigger(cron, timezone), "--cron")
    grace = seconds(misfire_grace_time, "--misfire-grace-time")
    tolerance = seconds(clock_tolerance, "--clock-tolerance")
    sweep = SweepOptions(
        policies=policy_paths(policies), database=need_database(database),
        rule_ids=list(rules) or None, batch_size=batch_size, pause=pause,
        clock_tolerance=tolerance if tolerance is not None else 300.0,
        max_runtime=seconds(max_runtime, "--max-runtime"),
        stop_file=Path(stop_file) if stop_file else None,
        anchor_file=Path(anchor_file) if anchor_file else None)
    api.validate(sweep.policies)  # a broken policy fails now, not at 03:00
    load_secrets()
    # APScheduler logs through the standard library; its events are logged here instead
    apscheduler_log = logging.getLogger("apscheduler")
    apscheduler_log.addHandler(logging.NullHandler())
    apscheduler_log.propagate = False
    try:
        touch(Path(heartbeat_file))
    except OSError as err:
        raise ConfigError(f"--heartbeat-file: cannot write {heartbeat_file}: {err.strerror} "
                          "(point it at a writable place, e.g. /tmp)") from None
    metrics = RunMetrics()
    if metrics_port is not None:
        try:
            metrics.serve(metrics_port)
        except OSError as err:
            raise ConfigError(f"--metrics-port {metrics_port}: cannot listen: "
                              f"{err.strerror}") from None
        seed_last_success(metrics, sweep.database)  # a restart keeps the alert quiet
    scheduler = Scheduler(sweep, ScheduleOptions(
        cron=cron, timezone=timezone,
        misfire_grace_seconds=grace if grace is not None else 3600.0, run_now=run_now,
        heartbeat_file=Path(heartbeat_file) if heartbeat_file else None), metrics=metrics)
    return scheduler.serve()


@click.command()
@heartbeat_option
@click.option("--no-heartbeat", is_flag=True,
              help="Skip the heartbeat check (one-shot runs by cron or a CronJob).")
@click.option("--max-stale", default="5 minutes", show_default=True, metavar="DURATION",
              help="Unhealthy when the heartbeat is older ('5m', '90s').")
@click.option("--max-age", metavar="DURATION",
              help="Also unhealthy when the last completed run in the audit trail is older "
                   "('36h'); needs --database.")
@database_option
def healthcheck(heartbeat_file: str, no_heartbeat: bool, max_stale: str, max_age: str | None,
                database: str | None) -> int:
    """Exit 0 when the scheduler is alive and, with --max-age, the work gets done.

    Exit 1 (unhealthy) when the heartbeat file is missing or older than --max-stale, or the
    last run that completed every rule finished longer ago than --max-age (or never); 75 when
    the database cannot be read. One line per check on stdout.

    \b
    Examples:
      retention healthcheck
      retention healthcheck --max-stale 3m --max-age 36h --database "$URL"
      retention healthcheck --no-heartbeat --max-age 36h    # cron or CronJob deployments
    """
    stale = seconds(max_stale, "--max-stale")
    age = seconds(max_age, "--max-age")
    if no_heartbeat and age is None:
        raise click.UsageError("nothing to check: --no-heartbeat needs --max-age")
    result = check(heartbeat=None if no_heartbeat else Path(heartbeat_file),
                   max_stale=stale if stale is not None else 300.0,
                   database=need_database(database) if age is not None else None,
                   max_age=age)
    for line in result.lines:
        click.echo(line)
    return result.exit_code
