"""One sweep at a time per database: the lock refuses a second holder at once, names the first,
and is released by the database or the OS when its holder dies, on every backend."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from retention.database import create_engine, safe_url
from retention.errors import EXIT_LOCKED
from retention.lock import PG_LOCK_KEY, LockHeld, LockInfo, lock_table, run_lock, sqlite_file
from tests.conftest import BACKENDS, Database

SERVERS = [b for b in BACKENDS if b != "sqlite"]

HOLDER = """
import sys
from retention.database import create_engine
from retention.lock import run_lock

with run_lock(create_engine(sys.argv[1], write=True)):
    print("locked", flush=True)
    sys.stdin.readline()
"""


@pytest.fixture
def holder(db: Database) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the lock until a line arrives on its stdin (or it is killed)."""
    process = subprocess.Popen([sys.executable, "-c", HOLDER, db.url], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        assert process.stdout.readline() == "locked\n"
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


def _release(process: subprocess.Popen[str]) -> None:
    process.communicate("\n", timeout=10)
    assert process.returncode == 0


def _refusal(db: Database) -> tuple[LockHeld, float]:
    started = time.monotonic()
    with pytest.raises(LockHeld) as refused, run_lock(db.engine):
        pytest.fail("the lock was taken twice")
    return refused.value, time.monotonic() - started


def _recorded_holders(db: Database) -> list[tuple[str, int]]:
    """(host, pid) of every holder record the lock left behind."""
    if db.backend == "sqlite":
        lock_file = sqlite_file(db.engine.url)
        assert lock_file is not None
        files = list(lock_file.parent.glob("*.retention-lock"))
        records = [json.loads(f.read_text()) for f in files]
        return [(r["host"], r["pid"]) for r in records]
    with db.engine.connect() as conn:
        rows = conn.execute(sa.select(lock_table.c.host, lock_table.c.pid)).all()
    return [(host, pid) for host, pid in rows]


def test_a_second_sweep_is_refused_at_once_naming_the_holder(
        db: Database, holder: subprocess.Popen[str]) -> None:
    """While another process holds the lock, run_lock raises LockHeld without waiting (exit 5),
    naming the database and the holder's host, pid and start time."""
    error, seconds = _refusal(db)
    assert seconds < 2
    assert error.exit_code == EXIT_LOCKED == 5
    message = str(error)
    assert message.startswith(f"another sweep holds the lock on {safe_url(db.engine.url)}: ")
    assert f"host {socket.gethostname()}, pid {holder.pid}, since 20" in message
    assert error.holder is not None and error.holder.pid == holder.pid
    _release(holder)
    with run_lock(db.engine) as info:
        assert info.pid == os.getpid()


def test_a_killed_holder_leaves_no_lock_behind(
        db: Database, holder: subprocess.Popen[str]) -> None:
    """SIGKILL gives the holder no chance to unlock: the database (its session ends) or the OS
    (the process's files close) releases the lock, with no timeout to wait out."""
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    killed = time.monotonic()
    # the server ends the dead client's session asynchronously, within milliseconds
    while True:
        try:
            with run_lock(db.engine) as info:
                assert info.pid == os.getpid()
            break
        except LockHeld:
            assert time.monotonic() - killed < 2, "the dead holder's lock was not released"
            time.sleep(0.02)
    assert _recorded_holders(db) == [(socket.gethostname(), os.getpid())]


def test_take_release_and_take_again_in_one_process(db: Database) -> None:
    """The lock can be taken again once released; LockInfo describes this process."""
    for _ in range(2):
        with run_lock(db.engine) as info:
            assert info == LockInfo(socket.gethostname(), os.getpid(), info.since,
                                    db.engine.dialect.name)
            assert info.since.endswith("Z")


def test_a_nested_take_in_the_same_process_is_refused(db: Database) -> None:
    """Each run_lock has its own session (or open file description), so the same process
    cannot take the lock twice: PostgreSQL and MariaDB locks would otherwise be re-entrant."""
    with run_lock(db.engine):
        error, seconds = _refusal(db)
        assert seconds < 2
        assert f"pid {os.getpid()}" in str(error)
        other_engine = create_engine(db.url, write=True)
        try:
            with pytest.raises(LockHeld), run_lock(other_engine):
                pytest.fail("the lock was taken twice")
        finally:
            other_engine.dispose()
    with run_lock(db.engine):
        pass


def test_the_next_holder_replaces_the_record(db: Database,
                                             holder: subprocess.Popen[str]) -> None:
    """The lock leaves one holder record (a row, or the sidecar file), which the next holder
    overwrites."""
    assert _recorded_holders(db) == [(socket.gethostname(), holder.pid)]
    _release(holder)
    with run_lock(db.engine):
        assert _recorded_holders(db) == [(socket.gethostname(), os.getpid())]
    assert _recorded_holders(db) == [(socket.gethostname(), os.getpid())]


def test_a_missing_record_gives_holder_unknown(
        db: Database, holder: subprocess.Popen[str]) -> None:
    """Without a holder record (not yet written, or removed) the refusal says 'holder unknown'."""
    if db.backend == "sqlite":
        Path(f"{sqlite_file(db.engine.url)}.retention-lock").write_text("")
    else:
        with db.engine.begin() as conn:
            conn.execute(lock_table.delete())
    error, _ = _refusal(db)
    assert str(error).endswith(": holder unknown")
    assert error.holder is None


# A sidecar file is written only by the process holding its flock, so only the servers' table
# can keep a record of an earlier holder.
if SERVERS:

    @pytest.mark.parametrize("db", SERVERS, indirect=True)
    def test_a_record_left_by_an_earlier_holder_is_not_reported(
            db: Database, holder: subprocess.Popen[str]) -> None:
        """A record whose database session no longer holds the lock (its run was killed, and
        the lock was taken again before the record was replaced) names nobody."""
        with db.engine.begin() as conn:
            conn.execute(lock_table.update().values(
                host="elsewhere", pid=1, session_id=lock_table.c.session_id + 1))
        error, _ = _refusal(db)
        assert str(error).endswith(": holder unknown")


def test_pg_key_is_fixed() -> None:
    """The PostgreSQL key never changes: releases that disagreed on it would run together."""
    assert PG_LOCK_KEY == -8722923376612146546


@pytest.mark.parametrize(("url", "expected"), [
    ("sqlite:///shop.db", Path("shop.db").resolve()),
    ("sqlite:////srv/shop.db", Path("/srv/shop.db")),
    ("sqlite:///file:/srv/shop.db?mode=ro&uri=true", Path("/srv/shop.db")),
    ("sqlite:///file:///srv/my%20shop.db?mode=ro&uri=true", Path("/srv/my shop.db")),
    ("sqlite://", None),
    ("sqlite:///:memory:", None),
    ("sqlite:///file:mem?mode=memory&uri=true", None),
])
def test_sqlite_lock_file_location(url: str, expected: Path | None) -> None:
    """The sidecar lock file sits beside the database file, whatever form the URL takes."""
    assert sqlite_file(sa.make_url(url)) == expected


def test_read_only_and_write_engines_share_the_sqlite_lock(tmp_path: Path) -> None:
    """A read-only engine's `file:...?mode=ro` URL names the same file as the plain one."""
    path = tmp_path / "shop.db"
    writer, reader = create_engine(f"sqlite:///{path}", write=True), create_engine(
        f"sqlite:///{path}", read_only=True)
    assert sqlite_file(reader.url) == sqlite_file(writer.url) == path.resolve()
    with run_lock(writer), pytest.raises(LockHeld), run_lock(reader):
        pytest.fail("the lock was taken twice")


def test_an_in_memory_database_needs_no_lock() -> None:
    """Nothing outside this process can reach an in-memory database."""
    engine = create_engine("sqlite://")
    with run_lock(engine) as outer, run_lock(engine) as inner:
        assert outer.backend == inner.backend == "sqlite"


if SERVERS:

    @pytest.mark.parametrize("db", SERVERS, indirect=True)
    def test_a_lock_session_ended_by_the_server_does_not_fail_the_release(db: Database) -> None:
        """If an administrator (or a restart) ends the lock's session, the lock is gone with it:
        leaving the block raises nothing and the lock can be taken again."""
        with run_lock(db.engine), db.engine.connect() as conn:
            session_id = int(conn.execute(sa.select(lock_table.c.session_id)).scalar_one())
            if db.backend == "postgresql":
                conn.execute(sa.text("SELECT pg_terminate_backend(:id)"), {"id": session_id})
            else:
                conn.execute(sa.text(f"KILL {session_id}"))
            conn.commit()
        with run_lock(db.engine):
            pass
