"""Prometheus metrics of runs, in a registry of their own: served by `retention schedule`,
written to a node-exporter textfile or pushed to a Pushgateway by a one-shot `retention run`.

Labels come from the policy only (category, rule id, action, table): their number is bounded
by the policy, and no key or column value ever becomes a label.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar
from wsgiref.simple_server import WSGIServer

import click
import structlog
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    disable_created_metrics,
    pushadd_to_gateway,
    start_http_server,
    write_to_textfile,
)
from sqlalchemy.exc import SQLAlchemyError

from .errors import RetentionError
from .sweep import RunResult

log = structlog.get_logger("retention")

JOB = "retention"


class RunMetrics:
    """The series of the sweeper; `run_finished` adds one run's figures."""

    def __init__(self) -> None:
        # No `*_created` series beside each counter: noise in a textfile and on a gateway.
        disable_created_metrics()  # type: ignore[no-untyped-call]  # unannotated upstream
        self._server: WSGIServer | None = None
        self.registry = CollectorRegistry()
        r = self.registry
        self.last_success = Gauge(
            "retention_last_success_timestamp_seconds",
            "Unix time at which the last run that completed every rule finished.", registry=r)
        self.duration = Gauge("retention_run_duration_seconds",
                              "Duration of the last run.", registry=r)
        self.in_progress = Gauge("retention_run_in_progress", "1 while a run is working.",
                                 registry=r)
        self.runs = Counter("retention_runs", "Runs by outcome: completed, partial, stopped, "
                            "skipped (another run held the lock) or failed.", ["status"],
                            registry=r)
        self.rows = Counter("retention_rows_processed",
                            "Rows deleted or anonymised, per category, action and table "
                            "(database cascades included).",
                            ["category", "action", "table"], registry=r)
        self.rule_failures = Counter("retention_rule_failures",
                                     "Rules that failed or were stopped by a cap.",
                                     ["category", "rule"], registry=r)
        self.rows_due = Gauge("retention_rows_due",
                              "Rows still due after the last run finished each rule (locked "
                              "by the shop, or due since the run began).",
                              ["category", "table"], registry=r)

    def run_started(self) -> None:
        self.in_progress.set(1)

    def run_finished(self, status: str, seconds: float, result: RunResult | None,
                     *, now: float | None = None) -> None:
        """One run's figures; `status` is the run's, or skipped / failed when it raised."""
        self.in_progress.set(0)
        self.runs.labels(status=status).inc()
        self.duration.set(round(result.seconds if result else seconds, 3))
        if result is None:
            return
        if status == "completed":
            self.last_success.set(time.time() if now is None else now)
        due: dict[tuple[str, str], int] = {}
        for rule in result.rules:
            for count in rule.counts.values():
                self.rows.labels(category=rule.category, action=count.action,
                                 table=count.table).inc(count.rows)
            # every rule's series exists from its first run on, at 0, so increase() works
            failures = self.rule_failures.labels(category=rule.category, rule=rule.rule_id)
            if rule.error:
                failures.inc()
            if rule.remaining is not None:
                key = (rule.category, rule.table)
                due[key] = due.get(key, 0) + rule.remaining
        self.rows_due.clear()
        for (category, table), rows in sorted(due.items()):
            self.rows_due.labels(category=category, table=table).set(rows)

    def set_last_success(self, moment: datetime | None) -> None:
        if moment is not None:
            self.last_success.set(moment.timestamp())

    def serve(self, port: int, addr: str = "0.0.0.0") -> int:
        """Serve /metrics from a daemon thread; returns the port bound (for port 0)."""
        self._server, _thread = start_http_server(port, addr=addr, registry=self.registry)
        return int(self._server.server_port)

    def close(self) -> None:
        """Stop serving (the process's end does it too)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def write_textfile(self, path: str) -> None:
        """Written to a temporary file beside `path`, then renamed over it: the node
        exporter never reads a half-written file."""
        write_to_textfile(path, self.registry)

    def push(self, gateway: str) -> None:
        """POST (push-add): series of this group that this run does not carry (another
        instance's labels) are kept; the ones it carries are replaced."""
        pushadd_to_gateway(gateway, job=JOB, registry=self.registry)


def seed_last_success(metrics: RunMetrics, database: str) -> None:
    """The last success from the audit trail (best effort: the database may be down)."""
    from .health import last_success

    try:
        metrics.set_last_success(last_success(database))
    except (RetentionError, SQLAlchemyError) as err:
        log.warning("metrics_last_success_unknown", error=type(err).__name__)


def export_run(result: RunResult, database: str, *, textfile: str | None,
               pushgateway: str | None) -> None:
    """Write and/or push one run's metrics. A failure to export is logged, never fatal: the
    run's changes are committed whatever happens to its metrics."""
    if not textfile and not pushgateway:
        return
    metrics = RunMetrics()
    metrics.run_finished(result.status, result.seconds, result)
    if result.status != "completed":
        # an unset gauge exports 0: carry the last success over from the audit trail
        seed_last_success(metrics, database)
    if textfile:
        try:
            metrics.write_textfile(textfile)
        except OSError as err:
            log.warning("metrics_export_failed", target="textfile", path=textfile,
                        error=err.strerror or type(err).__name__)
    if pushgateway:
        try:
            metrics.push(pushgateway)
        except OSError as err:  # urllib's URLError and HTTPError are OSErrors
            log.warning("metrics_export_failed", target="pushgateway",
                        error=f"{type(err).__name__}: {getattr(err, 'reason', err)}")


F = TypeVar("F", bound=Callable[..., Any])


def metrics_options(function: F) -> F:
    """`--metrics-textfile PATH` and `--pushgateway URL` for one-shot runs."""
    function = click.option(
        "--pushgateway", metavar="URL",
        help="Push the run's metrics to this Prometheus Pushgateway (job 'retention').")(function)
    return click.option(
        "--metrics-textfile", type=click.Path(dir_okay=False), metavar="PATH",
        help="Write the run's metrics for the node exporter's textfile collector "
             "(atomically; name it *.prom).")(function)
