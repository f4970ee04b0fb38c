"""Column helpers for the demo schema: Magento's column kinds, one line each."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite rowid keys
LONGTEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")
MEDIUMBLOB = sa.LargeBinary().with_variant(mysql.MEDIUMBLOB(), "mysql", "mariadb")


def table(meta: sa.MetaData, name: str, *items: Any) -> sa.Table:
    return sa.Table(name, meta, *items, mysql_engine="InnoDB", mysql_charset="utf8mb4")


def pk(name: str, *, big: bool = False, small: bool = False,
       autoincrement: bool = True) -> sa.Column[Any]:
    kind: Any = BIGINT if big else sa.SmallInteger() if small else sa.Integer()
    return sa.Column(name, kind, primary_key=True, autoincrement=autoincrement)


def fk(name: str, target: str, ondelete: str, *, nullable: bool = True,
       small: bool = False, unique: bool = False) -> sa.Column[Any]:
    # every referencing column gets an index: PostgreSQL and SQLite do not add one, and
    # without it each cascading delete scans the whole child table
    kind = sa.SmallInteger() if small else sa.Integer()
    return sa.Column(name, kind, sa.ForeignKey(target, ondelete=ondelete), nullable=nullable,
                     index=not unique, unique=unique or None)


def ref(name: str, *, nullable: bool = True, index: bool = False) -> sa.Column[Any]:
    """An id of another table that Magento does not declare as a foreign key."""
    return sa.Column(name, sa.Integer(), nullable=nullable, index=index)


def string(name: str, length: int, *, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.String(length), nullable=nullable)


def strings(length: int, *names: str) -> list[sa.Column[Any]]:
    return [string(n, length) for n in names]


def text(name: str, *, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.Text(), nullable=nullable)


def ts(name: str, *, nullable: bool = True, index: bool = False) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(), nullable=nullable, index=index)


def money(*names: str, nullable: bool = True) -> list[sa.Column[Any]]:
    return [sa.Column(n, sa.Numeric(20, 4), nullable=nullable) for n in names]


def small(name: str, *, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.SmallInteger(), nullable=nullable)


def integer(name: str, *, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.Integer(), nullable=nullable)


def created_updated() -> list[sa.Column[Any]]:
    return [ts("created_at", nullable=False), ts("updated_at", nullable=False)]

