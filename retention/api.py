"""The library API: every command of the CLI, the demo and the scheduler call these."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from . import audit
from .compile import CompiledRule, compile_rule
from .database import (
    Catalog,
    connect_check,
    create_engine,
    driver_reason,
    safe_url,
)
from .errors import (
    DatabaseUnavailable,
)
from .executor import OnBatch
from .planner import Plan, RulePlan, plan_rule
from .policy import Policy, load_policy
from .render_sql import rule_sql
from .schemacheck import check_schema
from .secrets import load_secrets
from .sweep import RunResult, StopFlag, Sweep
from .sweep import sweep as run_sweep

log = structlog.get_logger("retention")

PolicyPaths = Sequence[str | Path]

__all__ = ["Plan", "Policy", "RunResult", "StopFlag", "audit_show", "plan", "sweep", "validate"]


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


def sweep(policies: PolicyPaths, database: str, *, rule_ids: Sequence[str] | None = None,
          batch_size: int | None = None, on_batch: OnBatch | None = None,
          stop: StopFlag | None = None, force: bool = False, pause: float = 0.0,
          clock_tolerance: float = 300.0) -> RunResult:
    """Run the sweep: every due row purged or anonymised, every batch audited.

    One sweep at a time per database (LockHeld, exit 5, otherwise). A `stop` flag set during
    the run ends it after the current batch (status "stopped"); the next run picks up the
    rest, since it selects the due rows afresh. `force` ignores the rules' caps for this run;
    `pause` sleeps between batches. The run refuses to start (ConfigError) when the database's
    clock differs from this host's by more than `clock_tolerance` seconds.
    """
    policy = load_policy(policies)
    secrets = load_secrets()
    engine = _engine(database, write=True)
    try:
        compiled = _compile(policy, Catalog(engine), datetime.now(UTC), rule_ids)
        return run_sweep(Sweep(
            engine=engine, compiled=compiled, settings=policy.settings,
            policy_digest=policy.digest, secrets=secrets,
            batch_size=batch_size or policy.settings.batch_size, force=force, pause=pause,
            clock_tolerance=clock_tolerance,
            on_batch=on_batch, stop=stop,
        ))
    finally:
        engine.dispose()


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
