"""Clock agreement, rows locked by the application, and transient errors."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from retention import api
from retention.database import is_transient
from retention.errors import ConfigError
from tests.conftest import BACKENDS, VISITS_POLICY, Database, make_visits

SERVERS = [b for b in BACKENDS if b != "sqlite"]

POLICY = VISITS_POLICY


def _visits(db: Database, rows: int = 20, recent: int = 0) -> sa.Table:
    return make_visits(db, old=rows, recent=recent)


def test_a_run_refuses_when_the_database_clock_disagrees(
        db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    """With a tolerance the two clocks cannot meet (0 s), a server database run refuses to
    start with a policy/config error (exit 3) and changes nothing; SQLite shares the host's
    clock and runs."""
    _visits(db)
    policies = write_policy(POLICY)
    if db.backend == "sqlite":
        assert api.sweep([policies], db.url, clock_tolerance=0.0).status == "completed"
        return
    with pytest.raises(ConfigError, match=r"database clock is .* this host's") as info:
        api.sweep([policies], db.url, clock_tolerance=0.0)
    assert info.value.exit_code == 3
    assert db.count("visits") == 20
    assert api.sweep([policies], db.url).status == "completed"  # default tolerance: 5 minutes


# Row locks and server error codes exist on the database servers only: these tests are defined
# when a server is configured (as in CI), rather than collected and skipped elsewhere.
if SERVERS:

    @pytest.mark.parametrize("db", SERVERS, indirect=True)
    def test_rows_locked_by_the_application_are_skipped_and_counted(
            db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
        """While another session holds SELECT ... FOR UPDATE on two due rows, the run neither
        waits for them nor touches them: it deletes the others and reports two rows remaining;
        the next run, after the lock is gone, deletes them.

        (The table also holds rows that are not due, as a shop's does: MariaDB scans a table
        instead of using its key when a batch's keys are most of the table, and a scan waits for
        every locked row; a run then retries and fails the rule instead of skipping.)"""
        visits = _visits(db, rows=200, recent=5000)
        policies = write_policy(POLICY)
        holder = db.engine.connect()
        try:
            holder.execute(sa.select(visits).where(visits.c.id.in_([3, 4])).with_for_update())
            result = api.sweep([policies], db.url, batch_size=50)
            assert result.rules[0].error is None
            assert result.rules[0].counts["visits"].rows == 198
            assert result.rules[0].remaining == 2
            assert db.count("visits") == 5002
        finally:
            holder.rollback()
            holder.close()
        assert api.sweep([policies], db.url).rules[0].counts["visits"].rows == 2


    @pytest.mark.parametrize("db", SERVERS, indirect=True)
    def test_deadlocks_lock_timeouts_and_lost_connections_count_as_transient(db: Database) -> None:
        """The errors a batch retry can cure are recognised from the server's own codes."""
        sql = {
            "postgresql": ["SET lock_timeout = '1ms'; LOCK TABLE t IN ACCESS EXCLUSIVE MODE"],
            "mysql": ["SET SESSION innodb_lock_wait_timeout = 1", "SELECT * FROM t FOR UPDATE"],
        }[db.backend]
        meta = sa.MetaData()
        sa.Table("t", meta, sa.Column("id", sa.Integer, primary_key=True, autoincrement=False))
        db.create(meta)
        with db.engine.connect() as holder:
            holder.execute(sa.text("SELECT * FROM t FOR UPDATE" if db.backend == "mysql"
                                   else "LOCK TABLE t IN ACCESS EXCLUSIVE MODE"))
            if db.backend == "mysql":
                holder.execute(sa.text("INSERT INTO t VALUES (1)"))
            with db.engine.connect() as waiter:
                with pytest.raises(sa.exc.DBAPIError) as info:
                    for statement in sql:
                        waiter.execute(sa.text(statement))
                    if db.backend == "mysql":
                        waiter.execute(sa.text("INSERT INTO t VALUES (1)"))
                assert is_transient(info.value)
                waiter.rollback()
            holder.rollback()
        with pytest.raises(sa.exc.DBAPIError) as syntax, db.engine.connect() as conn:
            conn.execute(sa.text("SELEC 1"))
        assert not is_transient(syntax.value)
