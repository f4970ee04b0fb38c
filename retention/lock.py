"""One sweep at a time per database: a lock the database (or, for SQLite, the OS) releases by
itself when its holder's session or process ends, so a killed run never needs a timeout guess.

PostgreSQL takes a session advisory lock and MariaDB/MySQL a named lock (`GET_LOCK`), each on a
connection of its own kept open for the run; the holder (host, pid, since) is written to the
table `retention_lock` so that a refused run can say who holds the lock. SQLite files cannot
hold advisory locks: an OS file lock (`flock`) on the sidecar file `<database>.retention-lock`
stands in, and holds the holder as JSON. Dry runs and other read-only commands take no lock:
they change nothing, so they may run beside a sweep.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import InterfaceError, OperationalError, ProgrammingError, SQLAlchemyError

from .database import driver_reason, safe_url
from .errors import (
    EXIT_LOCKED,
    EXIT_UNAVAILABLE,
    ConfigError,
    DatabaseUnavailable,
    RetentionError,
)

LOCK_NAME = "retention.sweep"
# PostgreSQL advisory locks take a 64-bit key (scoped to the current database by the server):
# the first 8 bytes of SHA-256("retention.sweep"), signed, i.e. -8722923376612146546.
PG_LOCK_KEY = int.from_bytes(hashlib.sha256(LOCK_NAME.encode()).digest()[:8], "big", signed=True)

metadata = sa.MetaData()

lock_table = sa.Table(
    "retention_lock",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("since", sa.String(32), nullable=False),
    # the holder's database session: a row whose session no longer holds the lock is stale
    sa.Column("session_id", sa.BigInteger, nullable=False),
)


@dataclass(frozen=True)
class LockInfo:
    """Who holds (or took) the sweep lock: `since` is UTC ISO 8601, `backend` the dialect.

    For the lock this process took, `held()` asks the database whether the lock's session
    still holds it: a session killed by an administrator (or a dropped connection) releases
    the lock, and another sweep may then start."""

    host: str
    pid: int
    since: str
    backend: str
    held: Callable[[], bool] = field(default=lambda: True, compare=False, repr=False)


class LockLost(RetentionError):
    """The sweep lock's database session ended during the run (killed, or the connection
    dropped): the run stops after its current batch, without closing itself in the audit
    trail, since another sweep may hold the lock by now; the next run records it aborted."""

    exit_code = EXIT_UNAVAILABLE


class LockHeld(RetentionError):
    """Another sweep holds the lock; the message names who holds it when that is known."""

    exit_code = EXIT_LOCKED

    def __init__(self, where: str, holder: LockInfo | None) -> None:
        self.holder = holder
        who = (f"host {holder.host}, pid {holder.pid}, since {holder.since}" if holder
               else "holder unknown")
        super().__init__(f"another sweep holds the lock on {where}: {who}")


@contextmanager
def run_lock(engine: Engine) -> Iterator[LockInfo]:
    """Take the database-level sweep lock for the whole block, on its own connection, or raise
    LockHeld at once (no waiting)."""
    backend = engine.dialect.name
    me = LockInfo(socket.gethostname(), os.getpid(),
                  datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), backend)
    if backend == "sqlite":
        with _file_lock(engine, me):
            yield me
    elif backend in ("postgresql", "mysql", "mariadb"):
        with _session_lock(engine, me) as held:
            yield replace(me, held=held)
    else:
        raise ConfigError(f"no sweep lock for {backend} databases "
                          "(supported: SQLite, PostgreSQL, MariaDB/MySQL)")


# --------------------------------------------------------------------------- PostgreSQL, MySQL


@dataclass(frozen=True)
class _Statements:
    take: sa.TextClause  # true when taken, false when held elsewhere (NULL: MySQL error)
    mine: sa.TextClause  # true while this session holds it
    release: sa.TextClause  # true when this session held it
    session: sa.TextClause  # this session's id
    holder: sa.TextClause  # the id of the session holding the lock, or NULL
    params: dict[str, Any]


def _statements(conn: Connection) -> _Statements:
    if conn.dialect.name == "postgresql":
        # how pg_locks shows a one-bigint advisory key: high and low 32 bits, objsubid 1
        unsigned = PG_LOCK_KEY & 0xFFFF_FFFF_FFFF_FFFF
        return _Statements(
            take=sa.text("SELECT pg_try_advisory_lock(:key)"),
            mine=sa.text(
                "SELECT COUNT(*) > 0 FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND pid = pg_backend_pid() AND classid = :high AND objid = :low"
                " AND objsubid = 1"),
            release=sa.text("SELECT pg_advisory_unlock(:key)"),
            session=sa.text("SELECT pg_backend_pid()"),
            holder=sa.text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                " AND classid = :high AND objid = :low AND objsubid = 1"),
            params={"key": PG_LOCK_KEY, "high": unsigned >> 32, "low": unsigned & 0xFFFF_FFFF},
        )
    # MariaDB/MySQL named locks are server-wide, not per database: the name carries the
    # database's, so sweeps of two databases on one server do not exclude each other.
    database = conn.execute(sa.text("SELECT DATABASE()")).scalar() or ""
    name = f"{LOCK_NAME}:{database}"
    if len(name) > 64:  # the servers' limit for lock names
        name = f"{LOCK_NAME}:{hashlib.sha256(database.encode()).hexdigest()[:40]}"
    return _Statements(
        take=sa.text("SELECT GET_LOCK(:name, 0)"),
        mine=sa.text("SELECT IS_USED_LOCK(:name) = CONNECTION_ID()"),
        release=sa.text("SELECT RELEASE_LOCK(:name)"),
        session=sa.text("SELECT CONNECTION_ID()"),
        holder=sa.text("SELECT IS_USED_LOCK(:name)"),
        params={"name": name},
    )


@contextmanager
def _session_lock(engine: Engine, me: LockInfo) -> Iterator[Callable[[], bool]]:
    where = safe_url(engine.url)
    try:
        # AUTOCOMMIT: the connection waits through the whole run, and must not wait inside
        # an open transaction (idle in transaction, an old snapshot holding back vacuum).
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    except (OperationalError, InterfaceError) as err:
        raise DatabaseUnavailable(f"cannot connect to {where}: {driver_reason(err)}") from None
    held = False
    try:
        sql = _statements(conn)
        taken = conn.execute(sql.take, sql.params).scalar()
        if taken is None:
            raise DatabaseUnavailable(f"cannot take the sweep lock on {where}: the server "
                                      "returned NULL (an error, or the session was killed)")
        if not taken:
            raise LockHeld(where, _read_holder(conn, sql, me.backend))
        held = True
        session_id = conn.execute(sql.session).scalar_one()
        _write_holder(engine, me, int(session_id))

        def still_held() -> bool:
            try:
                return bool(conn.execute(sql.mine, sql.params).scalar())
            except SQLAlchemyError:  # the session is gone, and with it the lock
                return False

        yield still_held
    finally:
        if held:
            _release(conn, sql)
        conn.close()


def _release(conn: Connection, sql: _Statements) -> None:
    try:
        released = conn.execute(sql.release, sql.params).scalar()
    except SQLAlchemyError:  # a dead session (or one awaiting rollback after it died)
        released = False
    if not released:
        # The session is gone or unsure; closing it for good frees whatever it still holds,
        # instead of handing a locked session back to the pool.
        conn.invalidate()


def _write_holder(engine: Engine, me: LockInfo, session_id: int) -> None:
    # Another connection: the lock's own runs in autocommit, and the row and its replacement
    # belong in one transaction. Only the holder writes, so creating the table cannot race.
    with engine.begin() as conn:
        metadata.create_all(conn, checkfirst=True)
        conn.execute(lock_table.delete().where(lock_table.c.name == "sweep"))
        conn.execute(lock_table.insert().values(
            name="sweep", host=me.host[:255], pid=me.pid, since=me.since, session_id=session_id))


def _read_holder(conn: Connection, sql: _Statements, backend: str) -> LockInfo | None:
    """The recorded holder, if the session that wrote the record holds the lock now: the row
    of a killed run stays behind until the next holder replaces it."""
    holder_session = conn.execute(sql.holder, sql.params).scalar()
    try:
        row = conn.execute(sa.select(lock_table).where(lock_table.c.name == "sweep")).first()
    except (ProgrammingError, OperationalError):  # no table yet: the holder has not written it
        return None
    if row is None or holder_session is None or int(holder_session) != row.session_id:
        return None
    return LockInfo(row.host, row.pid, row.since, backend)


# --------------------------------------------------------------------------- SQLite


@contextmanager
def _file_lock(engine: Engine, me: LockInfo) -> Iterator[None]:
    database = sqlite_file(engine.url)
    if database is None:  # an in-memory database lives and dies with this process
        yield
        return
    path = f"{database}.retention-lock"
    try:
        # no O_TRUNC: a refused run must not wipe the holder's record
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise ConfigError(f"cannot open the lock file {path}: {err.strerror}") from None
    try:
        try:
            # flock locks belong to the open file description: a second open() of the file,
            # even in this process, is refused too; the OS drops the lock when the process dies
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockHeld(safe_url(engine.url), _read_file_holder(fd)) from None
        # The file is never deleted: a run that opened it just before the unlink would lock
        # a file nobody else can see any more.
        record = json.dumps({"host": me.host, "pid": me.pid, "since": me.since}).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, record, 0)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _read_file_holder(fd: int) -> LockInfo | None:
    try:
        data = json.loads(os.pread(fd, 4096, 0))
        return LockInfo(str(data["host"]), int(data["pid"]), str(data["since"]), "sqlite")
    except (ValueError, KeyError, TypeError, OSError):  # empty while the holder writes it
        return None


def sqlite_file(url: sa.URL) -> Path | None:
    """The absolute path of an SQLite database file, None for an in-memory database; URI
    filenames (`file:path?mode=ro&uri=true`, as read-only engines use) included."""
    database = url.database or ""
    if url.query.get("uri") == "true" or database.startswith("file:"):
        if url.query.get("mode") == "memory":
            return None
        database = unquote(database.removeprefix("file:"))
        if database.startswith("//"):  # file://host/path: the authority is empty or localhost
            database = "/" + database[2:].partition("/")[2]
    if database in ("", ":memory:"):
        return None
    return Path(database).resolve()


def current_holder(engine: Engine) -> LockInfo | None:
    """Who holds the sweep lock now, when someone does and says who; never takes the lock
    for longer than a test on SQLite (a shared flock, released at once)."""
    backend = engine.dialect.name
    if backend == "sqlite":
        database = sqlite_file(engine.url)
        path = f"{database}.retention-lock"
        if database is None or not os.path.exists(path):
            return None
        fd = os.open(path, os.O_RDONLY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:  # an exclusive holder: a sweep is running
                return _read_file_holder(fd)
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)
    with engine.connect() as conn:
        try:
            return _read_holder(conn, _statements(conn), backend)
        except ProgrammingError:  # no lock statements for this backend
            return None
        finally:
            conn.rollback()
