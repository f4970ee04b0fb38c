"""The library API: every command of the CLI, the demo and the scheduler call these."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from . import __version__, audit
from .compile import CompiledRule, compile_rule
from .database import (
    Catalog,
    connect_check,
    create_engine,
    driver_reason,
    error_label,
    safe_url,
)
from .errors import (
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_SIGINT,
    EXIT_SIGTERM,
    DatabaseUnavailable,
    RetentionError,
)
from .executor import OnBatch, RuleResult, new_result, sweep_rule
from .planner import Plan, RulePlan, plan_rule
from .policy import Policy, load_policy
from .render_sql import rule_sql
from .schemacheck import check_schema
from .secrets import load_secrets
from .strategies import Secrets

log = structlog.get_logger("retention")

PolicyPaths = Sequence[str | Path]


def validate(policies: PolicyPaths, database: str | None = None) -> Policy:
    """Load and check policies, and with a database URL their fit to its schema."""
    policy = load_policy(policies)
    if database is not None:
        engine = _engine(database)
        try:
            check_schema(policy, Catalog(engine))
        finally:
            engine.dispose()
    return policy


def _engine(database: str, *, write: bool = False) -> Engine:
    engine = create_engine(database, write=write, read_only=not write)
    connect_check(engine)
    return engine


def _compile(policy: Policy, catalog: Catalog, now: datetime,
             rule_ids: Sequence[str] | None) -> list[CompiledRule]:
    rules = [policy.rule(r) for r in rule_ids] if rule_ids else list(policy.rules)
    check_schema(policy, catalog, [r.id for r in rules])
    return [compile_rule(r, catalog, now, policy.financial_year) for r in rules]


def plan(policies: PolicyPaths, database: str, *, as_of: datetime | None = None,
         rule_ids: Sequence[str] | None = None, samples: int = 0,
         with_sql: bool = False) -> Plan:
    """The dry run: per rule, the cutoff and the rows due in every table. Never writes."""
    policy = load_policy(policies)
    now = _aware(as_of) if as_of else datetime.now(UTC)
    engine = _engine(database)
    try:
        catalog = Catalog(engine)
        compiled = _compile(policy, catalog, now, rule_ids)
        results: list[RulePlan] = []
        with engine.connect() as conn:
            for item in compiled:
                sql = rule_sql(item, engine.dialect, policy.settings.batch_size) \
                    if with_sql else None
                results.append(plan_rule(conn, item, samples=samples, sql=sql))
            conn.rollback()
        return Plan(now, safe_url(engine.url), policy.digest, tuple(results))
    except OperationalError as err:
        raise DatabaseUnavailable(f"database error during plan: {driver_reason(err)}") from None
    finally:
        engine.dispose()


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class StopFlag:
    """Set (from a signal handler, say) to stop a run between two batches."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def request(self, reason: str) -> None:
        self.reason = self.reason or reason

    def __call__(self) -> bool:
        return self.reason is not None


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


def sweep(policies: PolicyPaths, database: str, *, rule_ids: Sequence[str] | None = None,
          batch_size: int | None = None, on_batch: OnBatch | None = None,
          stop: StopFlag | None = None) -> RunResult:
    """Run the sweep: every due row purged or anonymised, every batch audited.

    A `stop` flag set during the run ends it after the current batch (status "stopped"); the
    next run picks up the rest, since it selects the due rows afresh.
    """
    policy = load_policy(policies)
    secrets = load_secrets()
    now = datetime.now(UTC)
    engine = _engine(database, write=True)
    try:
        catalog = Catalog(engine)
        compiled = _compile(policy, catalog, now, rule_ids)
        audit.ensure_tables(engine)
        run_id = str(uuid.uuid4())
        writer = audit.AuditWriter(run_id, policy.digest, secrets.key_id)
        bound = log.bind(run_id=run_id, policy_sha256=policy.digest[:16], dry_run=False)
        with engine.begin() as conn:
            writer.append(conn, "run_started", detail={
                "tool_version": __version__, "as_of": now.isoformat(),
                "host": socket.gethostname(), "pid": os.getpid(),
                "rules": [c.rule.id for c in compiled], "dialect": engine.dialect.name,
                "policy_files": [Path(f).name for f in policy.files],
            })
        bound.info("run_started", rules=len(compiled), database=safe_url(engine.url))
        result = RunResult(run_id, now, "completed")
        started = time.monotonic()
        size = batch_size or policy.settings.batch_size
        for item in compiled:
            rule_result = new_result(item)
            result.rules.append(rule_result)
            finished = _sweep_one(engine, item, writer, rule_result, size, secrets, on_batch,
                                  stop, bound)
            if not finished:
                result.status, result.stop_reason = "stopped", stop.reason if stop else None
                break
        if result.status == "completed" and any(r.error for r in result.rules):
            result.status = "partial"
        result.seconds = time.monotonic() - started
        with engine.begin() as conn:
            seq = writer.append(conn, "run_finished", status=result.status, detail={
                "seconds": round(result.seconds, 3), "totals": result.totals(),
                "failed_rules": [r.rule_id for r in result.rules if r.error],
                "stop_reason": result.stop_reason,
                "rules_not_finished": [c.rule.id for c in compiled[len(result.rules) - 1:]]
                if result.status == "stopped" else [],
            })
            head = conn.execute(sa.select(audit.audit_table.c.hash)
                                .where(audit.audit_table.c.seq == seq)).scalar_one()
        result.head = (seq, head)
        bound.info("run_finished", status=result.status, seconds=round(result.seconds, 3),
                   stop_reason=result.stop_reason, **result.totals())
        return result
    except OperationalError as err:
        raise DatabaseUnavailable(f"database error: {driver_reason(err)}") from None
    finally:
        engine.dispose()


def _sweep_one(engine: Engine, item: CompiledRule, writer: audit.AuditWriter,
               result: RuleResult, size: int, secrets: Secrets, on_batch: OnBatch | None,
               stop: StopFlag | None, bound: structlog.typing.FilteringBoundLogger) -> bool:
    """One rule; a failure is recorded and does not stop the run. False if asked to stop."""
    rule = item.rule
    bound = bound.bind(rule=rule.id, table=rule.table)
    try:
        finished = sweep_rule(engine, item, writer, result, batch_size=rule.batch_size or size,
                              secrets=secrets, on_batch=on_batch, should_stop=stop)
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
    event = "rule_finished" if finished else "rule_stopped"
    bound.info(event, batches=result.batches, seconds=round(result.seconds, 3), **_rows(result))
    return finished


def _rows(result: RuleResult) -> dict[str, int]:
    return {label: c.rows for label, c in result.counts.items()}


def audit_show(database: str, run_id: str | None = None) -> audit.RunSummary | None:
    """Summary of the given run, or of the latest one; None when the trail is empty."""
    engine = _engine(database)
    try:
        with engine.connect() as conn:
            if not audit.has_trail(conn):
                return None
            run_id = run_id or audit.latest_run_id(conn)
            return audit.run_summary(conn, run_id) if run_id else None
    finally:
        engine.dispose()
