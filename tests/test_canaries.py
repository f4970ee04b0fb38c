"""Secrets and personal data stay out of output: a canary database password, a canary secret
and a canary e-mail address, with a database error forced on the row that holds the e-mail (a
trigger that quotes the value in its message, where the database can), never appear in stdout,
stderr, the JSON logs or the audit trail."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from retention.database import create_engine
from tests.conftest import CATEGORY_YAML, Database

CANARY_EMAIL = "canary.7f3a9@example.org"
CANARY_PASSWORD = "Canary-Pw-4d1e8"
CANARY_SECRET = "Canary-Secret-5b2c0f6a91d84e7cab39"
MARIADB_USER = "retention_canary"

POLICY = CATEGORY_YAML + """
rules:
  - id: pseudonymise-people
    category: history
    table: people
    expires: {after: 30 days, from: created_at}
    action:
      anonymise:
        email: hmac
  - id: delete-guarded
    category: history
    table: guarded
    expires: {after: 30 days, from: created_at}
    action: delete
"""

# Deleting a `guarded` row fails in the database, with the row's e-mail in the error message.
TRIGGERS = {
    "postgresql": [
        """CREATE FUNCTION guarded_refuse() RETURNS trigger AS $$
           BEGIN RAISE EXCEPTION 'refusing to delete %%', OLD.email; END $$ LANGUAGE plpgsql""",
        """CREATE TRIGGER guarded_refuse BEFORE DELETE ON guarded
           FOR EACH ROW EXECUTE FUNCTION guarded_refuse()""",
    ],
    "mysql": [
        """CREATE TRIGGER guarded_refuse BEFORE DELETE ON guarded FOR EACH ROW
           SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = OLD.email""",
    ],
    # SQLite's RAISE takes a constant message only; the failure is forced all the same.
    "sqlite": [
        """CREATE TRIGGER guarded_refuse BEFORE DELETE ON guarded
           BEGIN SELECT RAISE(ABORT, 'refusing to delete'); END""",
    ],
}


def _schema(db: Database) -> None:
    meta = sa.MetaData()
    for name in ("people", "guarded"):
        sa.Table(name, meta, sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                 sa.Column("email", sa.String(64)),
                 sa.Column("created_at", sa.DateTime, nullable=False))
    db.create(meta)
    old = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=400)
    with db.engine.begin() as conn:
        for name in ("people", "guarded"):
            conn.execute(meta.tables[name].insert(), [
                {"id": 1, "email": CANARY_EMAIL, "created_at": old},
                {"id": 2, "email": "other@example.org", "created_at": old}])
        if db.backend == "postgresql":
            conn.exec_driver_sql("DROP FUNCTION IF EXISTS guarded_refuse() CASCADE")
        for statement in TRIGGERS[db.backend]:
            conn.exec_driver_sql(statement)


@pytest.fixture
def url_with_password(db: Database) -> Iterator[str]:
    """The test database's URL with the canary password in it (a role that needs it)."""
    url = sa.make_url(db.url)
    if db.backend == "sqlite":
        yield db.url
        return
    if db.backend == "postgresql":
        # trust authentication ignores the password, but the URL still carries it everywhere
        yield url.set(password=CANARY_PASSWORD).render_as_string(hide_password=False)
        return
    with db.engine.begin() as conn:
        conn.execute(sa.text(f"DROP USER IF EXISTS '{MARIADB_USER}'@'%'"))
        conn.execute(sa.text(
            f"CREATE USER '{MARIADB_USER}'@'%' IDENTIFIED BY '{CANARY_PASSWORD}'"))
        conn.execute(sa.text(f"GRANT ALL ON `{url.database}`.* TO '{MARIADB_USER}'@'%'"))
    try:
        yield url.set(username=MARIADB_USER, password=CANARY_PASSWORD) \
            .render_as_string(hide_password=False)
    finally:
        with db.engine.begin() as conn:
            conn.execute(sa.text(f"DROP USER IF EXISTS '{MARIADB_USER}'@'%'"))


def _retention(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RETENTION_SECRET": CANARY_SECRET}
    env.pop("RETENTION_SECRET_FILE", None)
    return subprocess.run([sys.executable, "-m", "retention", "--log-format", "json", *args],
                          capture_output=True, text=True, env=env, timeout=120)


def _trail(db: Database) -> str:
    with db.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT * FROM retention_audit")).all()
        holder = conn.execute(sa.text("SELECT * FROM retention_lock")).all() \
            if db.backend != "sqlite" else []
    return repr(rows) + repr(holder)


def _assert_clean(*texts: str) -> None:
    for text in texts:
        for canary in (CANARY_EMAIL, CANARY_PASSWORD, CANARY_SECRET):
            assert canary not in text


def test_canaries_never_reach_output_logs_or_the_audit_trail(
        db: Database, write_policy, url_with_password: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _schema(db)
    policies = str(write_policy(POLICY))
    if db.backend != "sqlite":
        # the forced error really carries the e-mail: the test would catch a leak
        with db.engine.begin() as conn, pytest.raises(sa.exc.DBAPIError) as forced:
            conn.execute(sa.text("DELETE FROM guarded WHERE id = 1"))
        assert CANARY_EMAIL in str(forced.value)

    outputs = [
        _retention("validate", "-p", policies, "-d", url_with_password),
        _retention("plan", "-p", policies, "-d", url_with_password, "--samples", "5", "--sql"),
        _retention("run", "-p", policies, "-d", url_with_password),
        _retention("run", "-p", policies, "-d", url_with_password, "--format", "json"),
        _retention("audit", "show", "-d", url_with_password, "--format", "json"),
    ]
    codes = [o.returncode for o in outputs]
    assert codes == [0, 0, 4, 4, 0], [o.stderr for o in outputs]
    assert "rule_failed" in outputs[2].stderr  # the forced failure happened, and was logged
    for o in outputs:
        _assert_clean(o.stdout, o.stderr)
    _assert_clean(_trail(db))
    with db.engine.connect() as conn:
        emails = {r[0] for r in conn.execute(sa.text("SELECT email FROM people"))}
    assert CANARY_EMAIL not in emails and all(e.startswith("pn:") for e in emails)

    # a connection that fails (wrong port) names the database, without the password
    unreachable = sa.make_url(url_with_password).set(port=1) \
        .render_as_string(hide_password=False) if db.backend != "sqlite" \
        else f"sqlite:///{tmp_path}/missing/dir/shop.db"
    refused = _retention("run", "-p", policies, "-d", unreachable)
    assert refused.returncode == 75, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    _assert_clean(refused.stdout, refused.stderr)


def test_the_canary_password_is_hidden_in_the_engine_url(url_with_password: str) -> None:
    """What the tool prints of a URL (logs, errors, plan headers) is the masked form."""
    engine = create_engine(url_with_password)
    try:
        from retention.database import safe_url

        _assert_clean(safe_url(engine.url), str(engine.url), repr(engine))
    finally:
        engine.dispose()
