"""A run's database session cut from another session (PostgreSQL `pg_terminate_backend`,
MariaDB `KILL`) in the middle of a batch: the batch is redone on a new connection and every key
is recorded once; when the cut session is the lock's, the run stops (exit 75) without a second
sweep ever overlapping it, and the next run closes it as aborted and finishes the work.

Killing a session is a server fault: SQLite has no sessions to cut (its connection is part of
the process; the SIGKILL tests in test_crash_recovery.py cover it). These tests are defined
when a server is configured, as in CI, rather than collected and skipped elsewhere."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import BACKENDS, Database
from tests.test_crash_recovery import ROWS, _changed, _recorded, _run, paused_run

SERVERS = [b for b in BACKENDS if b != "sqlite"]


def _batch_session(db: Database) -> int:
    """The session of the run that has a transaction open (its paused batch)."""
    sql = {
        "postgresql": "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                      " AND state = 'idle in transaction' AND pid <> pg_backend_pid()",
        "mysql": "SELECT p.id FROM information_schema.processlist p"
                 " JOIN information_schema.innodb_trx t ON t.trx_mysql_thread_id = p.id"
                 " WHERE p.db = DATABASE() AND p.id <> CONNECTION_ID()",
    }[db.backend]
    with db.engine.connect() as conn:
        sessions = [int(r[0]) for r in conn.execute(sa.text(sql))]
    assert len(sessions) == 1, sessions
    return sessions[0]


def _lock_session(db: Database) -> int:
    with db.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT session_id FROM retention_lock")).scalar_one())


def _kill(db: Database, session: int) -> None:
    with db.engine.connect() as conn:
        if db.backend == "postgresql":
            assert conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": session}) \
                .scalar_one()
        else:
            conn.execute(sa.text(f"KILL {int(session)}"))


if SERVERS:

    @pytest.mark.parametrize("db", SERVERS, indirect=True)
    @pytest.mark.parametrize(("stage", "batch"), [("changed", 2), ("audited", 6)])
    def test_a_batch_whose_session_is_killed_is_redone_and_recorded_once(
            db: Database, write_policy, tmp_path: Path, stage: str,  # type: ignore[no-untyped-def]
            batch: int) -> None:
        process, marker, _policies = paused_run(db, write_policy, tmp_path, stage, batch)
        _kill(db, _batch_session(db))
        marker.unlink()  # let the run go on, on its dead connection
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        assert "batch_retried" in err
        result = json.loads(out)
        assert result["status"] == "completed"
        assert [r["error"] for r in result["rules"]] == [None, None]
        changed, recorded = _changed(db), _recorded(db)
        assert len(changed["people"]) == len(changed["visits"]) == ROWS
        for table in ("people", "visits"):
            assert sorted(recorded[table]) == sorted(changed[table])  # each key once

    @pytest.mark.parametrize("db", SERVERS, indirect=True)
    def test_a_run_whose_lock_session_is_killed_stops_and_the_next_run_closes_it(
            db: Database, write_policy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        process, marker, policies = paused_run(db, write_policy, tmp_path, "changed", 2)
        _kill(db, _lock_session(db))
        marker.unlink()
        out, err = process.communicate(timeout=120)
        assert process.returncode == 75, err
        assert "lost the sweep lock" in err
        assert "Traceback" not in err
        # batch 2 (in flight when the lock went) committed with its record; nothing after it
        changed, recorded = _changed(db), _recorded(db)
        for table in ("people", "visits"):
            assert sorted(recorded[table]) == sorted(changed[table])
        assert len(changed["people"]) == 2 * 5
        with db.engine.connect() as conn:
            kinds = [r[0] for r in conn.execute(sa.text(
                "SELECT kind FROM retention_audit ORDER BY seq"))]
        assert kinds == ["run_started", "batch", "batch"]

        rerun = _run(db, policies)
        out, err = rerun.communicate(timeout=120)
        assert rerun.returncode == 0, err
        assert len(json.loads(out)["aborted_runs"]) == 1
        changed, recorded = _changed(db), _recorded(db)
        assert len(changed["people"]) == len(changed["visits"]) == ROWS
        for table in ("people", "visits"):
            assert sorted(recorded[table]) == sorted(changed[table])
