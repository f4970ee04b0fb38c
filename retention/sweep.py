"""The run: lock, recover from dead runs, then every rule's batches, with caps and clean stops.

`retention.api.sweep` is this module's `sweep`; the CLI, the demo and the scheduler call it.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from . import __version__, audit
from .compile import CompiledRule
from .database import database_clock, driver_reason, error_label, safe_url
from .errors import (
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_SIGINT,
    EXIT_SIGTERM,
    ConfigError,
    DatabaseUnavailable,
    RetentionError,
)
from .executor import OnBatch, RuleResult, new_result, sweep_rule
from .lock import LockLost, run_lock
from .model import Settings
from .planner import due_rows
from .strategies import Secrets

log = structlog.get_logger("retention")


class StopFlag:
    """Asks a run to stop between two batches: set from a signal handler, or by a time budget
    or a stop file, both checked before each batch."""

    def __init__(self, *, deadline: float | None = None, stop_file: Path | None = None) -> None:
        self.reason: str | None = None
        self.deadline = deadline  # a time.monotonic() value
        self.stop_file = stop_file

    def request(self, reason: str) -> None:
        self.reason = self.reason or reason

    def __call__(self) -> bool:
        if self.reason is None and self.deadline is not None and time.monotonic() >= self.deadline:
            self.request("time budget")
        if self.reason is None and self.stop_file is not None and self.stop_file.exists():
            self.request("stop file")
        return self.reason is not None


# A signal stops with the conventional 128 + signal number; a budget or stop file is a
# planned end of the night's work, not a failure.
STOP_EXIT_CODES = {"SIGINT": EXIT_SIGINT, "SIGTERM": EXIT_SIGTERM}


@dataclass
class RunResult:
    run_id: str
    started_at: datetime
    status: str  # completed | partial | stopped
    rules: list[RuleResult] = field(default_factory=list)
    seconds: float = 0.0
    head: tuple[int, str] | None = None
    stop_reason: str | None = None
    aborted_runs: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        if self.status == "stopped":
            return STOP_EXIT_CODES.get(self.stop_reason or "", EXIT_OK)
        return EXIT_OK if self.status == "completed" else EXIT_PARTIAL

    def totals(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for rule in self.rules:
            for count in rule.counts.values():
                out[count.action] = out.get(count.action, 0) + count.rows
        return out


@dataclass
class Sweep:
    """Everything one run needs, prepared by `retention.api.sweep`."""

    engine: Engine
    compiled: list[CompiledRule]
    settings: Settings
    policy_digest: str
    secrets: Secrets
    batch_size: int
    clock_tolerance: float = 300.0  # seconds
    force: bool = False
    pause: float = 0.0
    on_batch: OnBatch | None = None
    stop: StopFlag | None = None


def sweep(job: Sweep) -> RunResult:
    """Take the sweep lock, close runs that died, then process every rule in order."""
    engine = job.engine
    try:
        with run_lock(engine) as lock:
            _check_clock(engine, job.clock_tolerance)
            audit.ensure_tables(engine)
            return _run(job, lock.held)
    except OperationalError as err:
        raise DatabaseUnavailable(f"database error: {driver_reason(err)}") from None


def _check_clock(engine: Engine, tolerance: float) -> None:
    """Refuse to run when this host's clock and the database's disagree: cutoffs computed here
    are compared with timestamps the database wrote."""
    # the host's real clock, not datetime.now(): tests freeze that, the database's keeps going
    host = time.clock_gettime(time.CLOCK_REALTIME)
    with engine.connect() as conn:
        server = database_clock(conn)
        conn.rollback()
    if server is None:
        return
    drift = server - host
    if abs(drift) > tolerance:
        raise ConfigError(
            f"the database clock is {abs(drift):.1f} s {'ahead of' if drift > 0 else 'behind'} "
            f"this host's (tolerance {tolerance:.0f} s); refusing to run, since cutoffs would "
            "be off by as much: fix the clocks (NTP) or raise --clock-tolerance")


def _stop_check(job: Sweep, held: Callable[[], bool], run_id: str) -> Callable[[], bool]:
    """Asked before every batch: stop when the operator asks (signal, budget, stop file);
    end the run at once when the lock's session is gone, since another sweep may have
    started."""
    def should_stop() -> bool:
        if not held():
            raise LockLost(
                f"run {run_id} lost the sweep lock (its database session ended); stopped after "
                "the last committed batch, which is audited; the next run records this run as "
                "aborted and continues the work")
        return job.stop() if job.stop is not None else False

    return should_stop


def _run(job: Sweep, held: Callable[[], bool]) -> RunResult:
    engine, secrets = job.engine, job.secrets
    now = datetime.now(UTC)
    run_id = str(uuid.uuid4())
    writer = audit.AuditWriter(run_id, job.policy_digest, secrets.key_id)
    bound = log.bind(run_id=run_id, policy_sha256=job.policy_digest[:16], dry_run=False)
    result = RunResult(run_id, now, "completed")
    with engine.begin() as conn:
        # We hold the lock: a run that started and never finished is dead.
        for dead in audit.unfinished_runs(conn):
            audit.AuditWriter(dead, job.policy_digest, secrets.key_id).append(
                conn, "run_aborted", status="aborted",
                detail={"noticed_by": run_id, "reason": "no terminal record; its process "
                        "ended without finishing (killed or crashed)"})
            result.aborted_runs.append(dead)
        writer.append(conn, "run_started", detail={
            "tool_version": __version__, "as_of": now.isoformat(),
            "host": socket.gethostname(), "pid": os.getpid(),
            "rules": [c.rule.id for c in job.compiled], "dialect": engine.dialect.name,
            "force": job.force,
        })
    for dead in result.aborted_runs:
        bound.warning("run_marked_aborted", aborted_run=dead)
    bound.info("run_started", rules=len(job.compiled), database=safe_url(engine.url))
    started = time.monotonic()
    should_stop = _stop_check(job, held, run_id)
    for item in job.compiled:
        rule_result = new_result(item)
        result.rules.append(rule_result)
        if not _sweep_one(job, item, writer, rule_result, bound, should_stop):
            result.status = "stopped"
            result.stop_reason = job.stop.reason if job.stop else None
            break
    if result.status == "completed" and any(r.error for r in result.rules):
        result.status = "partial"
    result.seconds = time.monotonic() - started
    with engine.begin() as conn:
        seq = writer.append(conn, "run_finished", status=result.status, detail={
            "seconds": round(result.seconds, 3), "totals": result.totals(),
            "failed_rules": [r.rule_id for r in result.rules if r.error],
            "remaining": {r.rule_id: r.remaining for r in result.rules
                          if r.remaining is not None},
            "stop_reason": result.stop_reason,
            "rules_not_finished": [c.rule.id for c in job.compiled[len(result.rules) - 1:]]
            if result.status == "stopped" else [],
        })
        head = conn.execute(sa.select(audit.audit_table.c.hash)
                            .where(audit.audit_table.c.seq == seq)).scalar_one()
    result.head = (seq, head)
    bound.info("run_finished", status=result.status, seconds=round(result.seconds, 3),
               stop_reason=result.stop_reason, **result.totals())
    return result


def _sweep_one(job: Sweep, item: CompiledRule, writer: audit.AuditWriter,
               result: RuleResult, bound: Any, should_stop: Callable[[], bool]) -> bool:
    """One rule; a failure or a cap is recorded and does not stop the run.

    Returns False when asked to stop."""
    rule, engine = item.rule, job.engine
    bound = bound.bind(rule=rule.id, table=rule.table)
    try:
        capped = None if job.force else _cap_exceeded(engine, item, job.settings)
        if capped is not None:
            result.error = capped.pop("message")
            bound.warning("rule_capped", **capped)
            with engine.begin() as conn:
                writer.append(conn, "rule_capped", rule_id=rule.id, category=rule.category,
                              table_name=rule.table, action=item.root.action,
                              cutoff=result.cutoff, detail={**capped, "error": result.error})
            return True
        finished = sweep_rule(engine, item, writer, result,
                              batch_size=rule.batch_size or job.batch_size,
                              secrets=job.secrets, on_batch=job.on_batch,
                              should_stop=should_stop, pause=job.pause)
    except LockLost:
        raise
    except (SQLAlchemyError, RetentionError) as err:
        # Our own errors say what went wrong without row values; a database's message can
        # quote them, so only its class and code are kept.
        result.error = f"{type(err).__name__}: {err}" if isinstance(err, RetentionError) \
            else error_label(err)
        bound.error("rule_failed", error=result.error, **_rows(result))
        with engine.begin() as conn:
            writer.append(conn, "rule_failed", rule_id=rule.id, category=rule.category,
                          table_name=rule.table, action=item.root.action,
                          detail={"error": result.error})
        return True
    if finished:
        # Post-run proof: the selection again, at the same cutoff. Rows left are rows the
        # application held locked (skipped) or rows that became due during the run.
        with engine.connect() as conn:
            result.remaining = due_rows(conn, item)
            conn.rollback()
    event = "rule_finished" if finished else "rule_stopped"
    bound.info(event, batches=result.batches, seconds=round(result.seconds, 3),
               remaining=result.remaining, **_rows(result))
    return finished


def _cap_exceeded(engine: Engine, item: CompiledRule, settings: Settings) -> \
        dict[str, Any] | None:
    """The figures and a message when the rows due exceed the rule's caps, else None."""
    rule = item.rule
    max_rows = rule.max_rows if rule.max_rows is not None else settings.max_rows
    max_fraction = rule.max_fraction if rule.max_fraction is not None else settings.max_fraction
    if max_rows is None and max_fraction is None:
        return None
    with engine.connect() as conn:
        due = due_rows(conn, item)
        total = int(conn.execute(sa.select(sa.func.count())
                                 .select_from(item.root.table)).scalar_one())
        conn.rollback()
    figures: dict[str, Any] = {"due": due, "table_rows": total, "max_rows": max_rows,
                               "max_fraction": max_fraction}
    if max_rows is not None and due > max_rows:
        figures["message"] = (f"stopped by cap: {due:,} rows of {rule.table} due, max_rows is "
                              f"{max_rows:,}; nothing changed (check the expiry, or run with "
                              "--force once)")
        return figures
    if max_fraction is not None and total and due / total > max_fraction:
        figures["message"] = (f"stopped by cap: {due:,} of {total:,} rows of {rule.table} due "
                              f"({due / total:.0%}), max_fraction is {max_fraction:.0%}; nothing "
                              "changed (check the expiry, or run with --force once)")
        return figures
    return None


def _rows(result: RuleResult) -> dict[str, int]:
    return {label: c.rows for label, c in result.counts.items()}




