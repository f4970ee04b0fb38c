"""Engines, sessions pinned to UTC, reflection of the user's schema, and dialect differences."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, NoSuchTableError, OperationalError
from sqlalchemy.exc import InterfaceError as SAInterfaceError

from .errors import ConfigError, DatabaseUnavailable

_DEFAULT_DRIVERS = {"postgresql": "psycopg", "postgres": "psycopg", "mysql": "pymysql",
                    "mariadb": "pymysql"}


def normalise_url(url: str) -> sa.URL:
    """Parse a URL, choosing the bundled driver when none is named (postgresql:// -> psycopg)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConfigError(f"database URL {_mask(url)!r} is not a valid SQLAlchemy URL "
                          "(e.g. sqlite:///shop.db, postgresql://user@host/db)") from None
    backend = parsed.get_backend_name()
    if backend == "postgres":
        parsed = parsed.set(drivername="postgresql")
        backend = "postgresql"
    if "+" not in parsed.drivername and backend in _DEFAULT_DRIVERS:
        parsed = parsed.set(drivername=f"{backend}+{_DEFAULT_DRIVERS[backend]}")
    return parsed


def _mask(url: str) -> str:
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def safe_url(url: str | sa.URL) -> str:
    """The URL with its password hidden, for messages and logs."""
    if isinstance(url, str):
        text = url
        try:
            url = make_url(text)
        except ArgumentError:
            return _mask(text)
    if url.get_backend_name() == "sqlite" and url.query.get("mode") == "ro":
        # shown as the user gave it, not in the read-only form create_engine opens
        database = (url.database or "").removeprefix("file:")
        url = url.set(database=database).difference_update_query(["mode", "uri"])
    return url.render_as_string(hide_password=True)


LOCK_TIMEOUT_S = 10  # waiting for a row lock held by the application
STATEMENT_TIMEOUT_S = 600  # one statement of one batch


def create_engine(url: str, *, write: bool = False, read_only: bool = False,
                  echo: bool = False) -> Engine:
    """An engine whose sessions run in UTC; SQLite gets foreign keys on and, for writers,
    immediate (write-locking) transactions.

    `read_only` engines (the dry run, validation, reading the trail) cannot write at all: the
    database refuses it (read-only transactions; SQLite opened with mode=ro, which also keeps a
    mistyped path from creating an empty database file).
    """
    parsed = normalise_url(url)
    backend = parsed.get_backend_name()
    kwargs: dict[str, Any] = {"hide_parameters": True, "echo": echo}
    # Every statement is bounded: a row lock the shop holds, or a runaway statement, ends in
    # an error the run retries or records, never in a night-long hang.
    if backend == "postgresql":
        options = (f"-c timezone=UTC -c lock_timeout={LOCK_TIMEOUT_S}s "
                   f"-c statement_timeout={STATEMENT_TIMEOUT_S}s")
        if read_only:
            options += " -c default_transaction_read_only=on"
        kwargs["connect_args"] = {"options": options, "connect_timeout": 10}
    elif backend in ("mysql", "mariadb"):
        kwargs["connect_args"] = {
            "init_command": "SET time_zone = '+00:00', "
                            f"SESSION innodb_lock_wait_timeout = {LOCK_TIMEOUT_S}",
            "connect_timeout": 10, "charset": "utf8mb4"}
    elif backend == "sqlite" and read_only and parsed.database not in (None, "", ":memory:"):
        database = parsed.database or ""
        if not database.startswith("file:"):
            database = "file:" + database
        parsed = parsed.set(database=database).update_query_dict({"mode": "ro", "uri": "true"})
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ModuleNotFoundError) as err:
        raise ConfigError(f"no driver for {parsed.drivername!r}: {err}; install "
                          "'retention[postgres]' or 'retention[mysql]'") from None
    if backend == "sqlite":
        _sqlite_transactions(engine, immediate=write)
    elif backend in ("mysql", "mariadb"):
        @event.listens_for(engine, "connect")
        def _session(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT VERSION()")
            if "mariadb" in str(cursor.fetchone()[0]).lower():
                cursor.execute(f"SET SESSION max_statement_time = {STATEMENT_TIMEOUT_S}")
            else:  # MySQL bounds SELECTs only
                cursor.execute(f"SET SESSION max_execution_time = {STATEMENT_TIMEOUT_S * 1000}")
            if read_only:
                cursor.execute("SET SESSION TRANSACTION READ ONLY")
            cursor.close()
    return engine


def _sqlite_transactions(engine: Engine, *, immediate: bool) -> None:
    # pysqlite's own transaction handling defers BEGIN and cannot take the write lock up
    # front; take over as SQLAlchemy's documentation describes.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA busy_timeout = 10000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def connect_check(engine: Engine) -> None:
    """Open one connection, turning an unreachable server into DatabaseUnavailable (exit 75)."""
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except (OperationalError, SAInterfaceError) as err:
        raise DatabaseUnavailable(
            f"cannot connect to {safe_url(engine.url)}: {driver_reason(err)}"
        ) from None


def driver_reason(err: BaseException) -> str:
    """First line of a driver error, without SQL or parameters."""
    orig = getattr(err, "orig", None) or err
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
    return text[:300]


def error_label(err: BaseException) -> str:
    """Class and code of an error, never its message: a database's message can quote row
    values (a duplicate key, a value too long), which must not reach logs or the audit trail."""
    orig = getattr(err, "orig", None) or err
    code = getattr(orig, "sqlstate", None)
    if code is None and getattr(orig, "args", None) and isinstance(orig.args[0], int):
        code = orig.args[0]  # MySQL error number
    return type(orig).__name__ + (f" ({code})" if code else "")


# --------------------------------------------------------------------------- reflection


@dataclass(frozen=True)
class ForeignKey:
    """A declared foreign key: `table.columns` -> `referred_table.referred_columns`."""

    table: str
    columns: tuple[str, ...]
    referred_table: str
    referred_columns: tuple[str, ...]
    ondelete: str  # CASCADE, SET NULL, RESTRICT, NO ACTION


@dataclass
class Catalog:
    """The reflected schema, loaded lazily per table; foreign keys of all tables at once."""

    engine: Engine
    metadata: sa.MetaData = field(default_factory=sa.MetaData)
    _names: set[str] | None = None
    _fks: list[ForeignKey] | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def table_names(self) -> set[str]:
        if self._names is None:
            self._names = set(sa.inspect(self.engine).get_table_names())
        return self._names

    def has_table(self, name: str) -> bool:
        return name in self.table_names()

    def table(self, name: str) -> sa.Table:
        if name in self.metadata.tables:
            return self.metadata.tables[name]
        if not self.has_table(name):
            raise NoSuchTableError(name)
        return sa.Table(name, self.metadata, autoload_with=self.engine, resolve_fks=False)

    def primary_key(self, name: str) -> list[str]:
        return [c.name for c in self.table(name).primary_key.columns]

    def foreign_keys(self) -> list[ForeignKey]:
        """Every declared foreign key in the schema (for cascades the database performs)."""
        if self._fks is None and self.dialect == "sqlite":
            self._fks = self._sqlite_foreign_keys()
        if self._fks is None:
            found: list[ForeignKey] = []
            multi = sa.inspect(self.engine).get_multi_foreign_keys()
            for (_schema, table), fks in multi.items():
                for fk in fks:
                    options = fk.get("options") or {}
                    found.append(ForeignKey(
                        table=table,
                        columns=tuple(fk["constrained_columns"]),
                        referred_table=fk["referred_table"],
                        referred_columns=tuple(fk["referred_columns"]),
                        ondelete=str(options.get("ondelete") or "NO ACTION").upper(),
                    ))
            self._fks = found
        return self._fks

    def _sqlite_foreign_keys(self) -> list[ForeignKey]:
        # SQLAlchemy's SQLite reflection does not report ON DELETE of inline REFERENCES
        # clauses; the pragma does.
        found: list[ForeignKey] = []
        with self.engine.connect() as conn:
            for table in sorted(self.table_names()):
                quoted = table.replace('"', '""')
                rows = conn.exec_driver_sql(f'PRAGMA foreign_key_list("{quoted}")').all()
                groups: dict[int, list[Any]] = {}
                for row in rows:
                    groups.setdefault(row[0], []).append(row)
                for group in groups.values():
                    group.sort(key=lambda r: r[1])
                    referred = group[0][2]
                    to = [r[4] for r in group]
                    if any(t is None for t in to) and self.has_table(referred):
                        to = self.primary_key(referred)
                    found.append(ForeignKey(table, tuple(r[3] for r in group), referred,
                                            tuple(to), str(group[0][6] or "NO ACTION").upper()))
        return found

    def referencing(self, table: str) -> list[ForeignKey]:
        return [fk for fk in self.foreign_keys() if fk.referred_table == table]


# --------------------------------------------------------------------------- dialects


def key_in(columns: Sequence[sa.ColumnElement[Any]], keys: Sequence[tuple[Any, ...]],
           dialect: str) -> sa.ColumnElement[bool]:
    """`columns IN keys`, in the form each database executes fastest.

    A single column takes one parameter where the database can: an array on PostgreSQL
    (`= ANY(:keys)`), a JSON array on SQLite (`IN (SELECT value FROM json_each(:keys))`);
    MariaDB/MySQL get an expanding IN list. Composite keys use row-value IN, which all three
    support. Passing thousands of separate parameters costs more than the statement itself.
    """
    if len(columns) == 1:
        values = [k[0] for k in keys]
        return single_key_in(columns[0], dialect, values)
    return sa.tuple_(*columns).in_([tuple(k) for k in keys])


def single_key_in(column: sa.ColumnElement[Any], dialect: str, values: list[Any] | None = None,
                  name: str | None = None) -> sa.ColumnElement[bool]:
    """`column IN values` for one column; with `name` instead of values, the same form with a
    named placeholder (for showing the SQL)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        if values is not None and values and type(values[0]) is int:
            # integers go as one array literal '{1,2,3}': the driver would otherwise inspect
            # every element, which costs more than the statement itself
            text = "{" + ",".join(map(str, values)) + "}"
            literal = sa.bindparam(name, text, type_=sa.Text(), unique=name is None)
            return column == sa.any_(sa.cast(literal, ARRAY(column.type)))
        array = sa.bindparam(name, values, type_=ARRAY(column.type), unique=name is None)
        return column == sa.any_(array)
    # one column's values share one type: the first tells whether JSON carries them unchanged
    if dialect == "sqlite" and _SQLITE_JSON and (
            values is None or not values or type(values[0]) in (int, str)):
        document = sa.bindparam(name, None if values is None else json.dumps(values),
                                type_=sa.String(), unique=name is None)
        return column.in_(sa.select(sa.column("value")).select_from(
            sa.func.json_each(document)).scalar_subquery())
    return column.in_(sa.bindparam(name, values, expanding=True, type_=column.type,
                                   unique=name is None))


# json_each is built into SQLite from 3.38 (and into most earlier builds as JSON1)
_SQLITE_JSON = sqlite3.sqlite_version_info >= (3, 38, 0)


def char_length(column: sa.ColumnElement[Any], dialect: str) -> sa.ColumnElement[Any]:
    # MySQL's LENGTH counts bytes; SQLite has no CHAR_LENGTH.
    return sa.func.length(column) if dialect == "sqlite" else sa.func.char_length(column)


# Driver error codes of failures that a retry of the whole batch can cure.
_TRANSIENT_SQLSTATES = {"40001", "40P01", "55P03", "57P01", "08000", "08003", "08006"}
_TRANSIENT_MYSQL = {1205, 1213, 2006, 2013, 1927}  # lock wait, deadlock, gone away, lost, killed


def is_transient(err: BaseException) -> bool:
    """Deadlocks, lock-wait timeouts and dropped connections: worth another try."""
    if getattr(err, "connection_invalidated", False):
        return True
    orig = getattr(err, "orig", None)
    if orig is None:
        return False
    if getattr(orig, "sqlstate", None) in _TRANSIENT_SQLSTATES:
        return True
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int) and args[0] in _TRANSIENT_MYSQL:
        return True
    text = str(orig).lower()
    return "database is locked" in text or "server closed the connection" in text


def skip_locked(engine_dialect: Any) -> bool:
    """Whether `FOR UPDATE SKIP LOCKED` is there: PostgreSQL, MariaDB 10.6+, MySQL 8+."""
    name = engine_dialect.name
    version = getattr(engine_dialect, "server_version_info", None) or ()
    if name == "postgresql":
        return True
    if name in ("mysql", "mariadb"):
        if getattr(engine_dialect, "is_mariadb", False):
            return tuple(version[:2]) >= (10, 6)
        return tuple(version[:1]) >= (8,)
    return False


def database_clock(conn: Connection) -> float | None:
    """The database server's clock as Unix seconds (None for SQLite, which runs in this
    process and so shares its clock)."""
    name = conn.dialect.name
    if name == "postgresql":
        query = "SELECT EXTRACT(EPOCH FROM clock_timestamp())"
    elif name in ("mysql", "mariadb"):
        query = "SELECT UNIX_TIMESTAMP(NOW(6))"
    else:
        return None
    return float(conn.execute(sa.text(query)).scalar_one())


def supports_for_update(dialect: str) -> bool:
    # SQLite serialises writers with BEGIN IMMEDIATE instead of row locks.
    return dialect != "sqlite"
