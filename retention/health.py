"""Is the sweeper alive and doing its work? A heartbeat file the scheduler touches every minute,
and the time of the last completed run in the audit trail.

The heartbeat says the scheduler's loop is alive; it keeps beating while a run works (or
hangs). The audit trail says whether the work gets done: `--max-age` catches a run that fails,
is refused or never finishes, night after night.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from . import audit
from .database import connect_check, create_engine, driver_reason
from .errors import EXIT_OK, DatabaseUnavailable

DEFAULT_HEARTBEAT = "/tmp/retention-heartbeat"
# Docker's HEALTHCHECK reads 1 as unhealthy (and reserves 2); Kubernetes probes read any
# non-zero status as a failure.
EXIT_UNHEALTHY = 1


def touch(path: Path) -> None:
    """Create the file or set its modification time to now."""
    path.touch(exist_ok=True)


def heartbeat_age(path: Path) -> float | None:
    """Seconds since the heartbeat file was last touched; None when it does not exist."""
    try:
        return max(0.0, time.time() - path.stat().st_mtime)
    except FileNotFoundError:
        return None


def last_success(database: str) -> datetime | None:
    """When the last run that completed every rule finished (the `run_finished` record with
    status `completed`); None when there is none or no trail yet. Read-only."""
    engine = create_engine(database, read_only=True)
    try:
        connect_check(engine)
        t = audit.audit_table
        with engine.connect() as conn:
            if not audit.has_trail(conn):
                return None
            text = conn.execute(sa.select(sa.func.max(t.c.recorded_at)).where(
                t.c.kind == "run_finished", t.c.status == "completed")).scalar()
            conn.rollback()
    except OperationalError as err:
        raise DatabaseUnavailable(f"cannot read the audit trail: {driver_reason(err)}") \
            from None
    finally:
        engine.dispose()
    # recorded_at is UTC ISO 8601 with a Z, fixed width: the text maximum is the latest
    return None if text is None else datetime.fromisoformat(str(text)).astimezone(UTC)


def span(seconds: float) -> str:
    """A readable length of time: 45s, 7m12s, 3h05m, 2d04h."""
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


@dataclass
class Health:
    """The verdict and one line per check, each saying what was found."""

    lines: list[str] = field(default_factory=list)
    healthy: bool = True

    @property
    def exit_code(self) -> int:
        return EXIT_OK if self.healthy else EXIT_UNHEALTHY

    def add(self, ok: bool, line: str) -> None:
        self.healthy = self.healthy and ok
        self.lines.append(("ok: " if ok else "unhealthy: ") + line)


def check(*, heartbeat: Path | None, max_stale: float, database: str | None = None,
          max_age: float | None = None) -> Health:
    """Heartbeat fresh (touched at most `max_stale` seconds ago), and with `max_age` the last
    completed run at most that old. A value exactly at the limit is still healthy."""
    result = Health()
    if heartbeat is not None:
        age = heartbeat_age(heartbeat)
        if age is None:
            result.add(False, f"heartbeat file {heartbeat} is missing (is `retention "
                              "schedule` running, with the same --heartbeat-file?)")
        else:
            result.add(age <= max_stale, f"heartbeat {heartbeat} touched {span(age)} ago "
                                         f"(limit {span(max_stale)})")
    if max_age is not None and database is not None:
        last = last_success(database)
        if last is None:
            result.add(False, "no completed run in the audit trail")
        else:
            age = max(0.0, time.time() - last.timestamp())
            result.add(age <= max_age, f"last completed run finished {span(age)} ago at "
                                       f"{last.strftime('%Y-%m-%dT%H:%M:%SZ')} "
                                       f"(limit {span(max_age)})")
    return result
