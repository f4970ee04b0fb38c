"""The fixtures reach every configured backend and sessions run in UTC."""

from __future__ import annotations

import sqlalchemy as sa

from tests.conftest import Database, order_schema


def test_empty_database_accepts_the_order_schema(db: Database) -> None:
    meta, tables = order_schema()
    db.create(meta)
    db.insert(tables["customers"], [{"id": 1, "email": "a@example.com"}])
    assert db.count("customers") == 1


def test_session_time_zone_is_utc(db: Database) -> None:
    query = {"postgresql": "SHOW TIME ZONE", "mysql": "SELECT @@session.time_zone"}
    if db.backend in query:
        with db.engine.connect() as conn:
            assert conn.execute(sa.text(query[db.backend])).scalar_one() in ("UTC", "+00:00")
