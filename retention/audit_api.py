"""The library functions behind `retention audit verify` and `retention audit export`: read the
trail from the database (or an export file), verify it, export a period of it.

The trail is read in keyset pages of sequence numbers, each a short statement, so a trail of
any length is verified in bounded memory and within the per-statement timeouts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from . import lock
from .audit import TERMINAL_KINDS, audit_table, has_trail
from .audit_export import RECORDED_AT_FORMAT, check_digest, read_export, write_export
from .audit_verify import Anchor, OpenRun, Report, verify
from .database import connect_check, create_engine, driver_reason
from .errors import DatabaseUnavailable, UsageError

PAGE = 500  # records per statement; a batch record can hold ~66 kB of key hashes


def verify_database(database: str, anchors: Sequence[Anchor] | None = None) -> Report:
    """Verify the whole trail in the database. A run without a terminal record is a fault
    unless it is the sweep running now (it holds the sweep lock) or it closed while we read."""
    engine = _engine(database)
    try:
        return verify(_records(engine), anchors=anchors, is_running=_running_check(engine))
    except OperationalError as err:
        raise DatabaseUnavailable(f"database error reading the audit trail: "
                                  f"{driver_reason(err)}") from None
    finally:
        engine.dispose()


def verify_file(path: Path, anchors: Sequence[Anchor] | None = None) -> Report:
    """Verify an export offline: its chain (from its first record's prev_hash, when it starts
    mid-trail), its runs, its `.sha256` sidecar and the anchors within its range."""
    report = verify(read_export(path), anchors=anchors, excerpt=True)
    check_digest(path, report)
    return report


@dataclass(frozen=True)
class Export:
    """What `export` wrote: `count` records, seq `first`..`last` (None when none)."""

    path: Path
    count: int
    first: int | None
    last: int | None


def export(database: str, output: Path, *, since: datetime, until: datetime | None = None,
           fmt: str = "jsonl") -> Export:
    """Write the records of a period, in sequence order, to `output` and `output.sha256`.

    The period selects a contiguous range of sequence numbers: from the first record recorded
    at or after `since` to the last one recorded before `until`, so the export is one unbroken
    piece of the chain even if the clock stepped back within it."""
    if output.exists():
        raise UsageError(f"{output} exists; give another --output (exports are never "
                         "overwritten)")
    engine = _engine(database)
    try:
        first, last = _seq_range(engine, since, until)
        if first is None or last is None or first > last:
            return Export(output, 0, None, None)
        count = write_export(_records(engine, first, last), fmt, output)
        return Export(output, count, first, last)
    except OperationalError as err:
        raise DatabaseUnavailable(f"database error reading the audit trail: "
                                  f"{driver_reason(err)}") from None
    finally:
        engine.dispose()


def _engine(database: str) -> Engine:
    engine = create_engine(database, read_only=True)
    connect_check(engine)
    return engine


def _seq_range(engine: Engine, since: datetime,
               until: datetime | None) -> tuple[int | None, int | None]:
    t = audit_table
    with engine.connect() as conn:
        if not has_trail(conn):
            return None, None
        first = conn.execute(sa.select(sa.func.min(t.c.seq)).where(
            t.c.recorded_at >= since.strftime(RECORDED_AT_FORMAT))).scalar()
        last_query = sa.select(sa.func.max(t.c.seq))
        if until is not None:
            last_query = last_query.where(t.c.recorded_at < until.strftime(RECORDED_AT_FORMAT))
        last = conn.execute(last_query).scalar()
        conn.rollback()
    return first, last


def _records(engine: Engine, first: int = 1, last: int | None = None) -> Iterator[dict[str, Any]]:
    """Records `first`..`last` (to the end when None) in sequence order, a page at a time."""
    t = audit_table
    with engine.connect() as conn:
        if not has_trail(conn):
            return
        after = first - 1
        while True:
            query = sa.select(t).where(t.c.seq > after).order_by(t.c.seq).limit(PAGE)
            if last is not None:
                query = query.where(t.c.seq <= last)
            rows = conn.execute(query).mappings().all()
            for row in rows:
                yield dict(row)
            if len(rows) < PAGE:
                break
            after = rows[-1]["seq"]
        conn.rollback()


# --------------------------------------------------------------------------- open runs


def _running_check(engine: Engine) -> Callable[[OpenRun], bool]:
    """Whether an open run is the sweep running now: the lock's holder is the host and
    process the run's start record names, or the run has closed since the trail was read."""
    def is_running(run: OpenRun) -> bool:
        holder = lock.current_holder(engine)
        if holder is not None and (holder.host, holder.pid) == (run.host, run.pid):
            return True
        with engine.connect() as conn:
            closed = conn.execute(sa.select(sa.func.count()).where(
                audit_table.c.run_id == run.run_id,
                audit_table.c.kind.in_(TERMINAL_KINDS))).scalar_one()
            conn.rollback()
        return bool(closed)

    return is_running


