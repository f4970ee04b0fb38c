"""A run killed with SIGKILL inside a batch leaves every change matched by its audit record and
no record without its change; the next run marks the dead run aborted and finishes the work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from retention.audit import key_hash
from retention.secrets import load_secrets
from tests.conftest import CATEGORY_YAML, SECRET, Database

ROWS = 20
BATCH = 5

POLICY = CATEGORY_YAML + """
rules:
  - id: people-anonymise
    category: history
    table: people
    expires: {after: 30 days, from: created_at}
    action:
      anonymise:
        email: null
  - id: visits-delete
    category: history
    table: visits
    expires: {after: 30 days, from: created_at}
    action: delete
"""


def _tables(db: Database) -> None:
    meta = sa.MetaData()
    people = sa.Table("people", meta,
                      sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                      sa.Column("email", sa.String(64)),
                      sa.Column("created_at", sa.DateTime, nullable=False))
    visits = sa.Table("visits", meta,
                      sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                      sa.Column("created_at", sa.DateTime, nullable=False))
    db.create(meta)
    old = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=400)
    db.insert(people, [{"id": i, "email": f"p{i}@example.com", "created_at": old}
                       for i in range(1, ROWS + 1)])
    db.insert(visits, [{"id": i, "created_at": old} for i in range(1, ROWS + 1)])


def _recorded(db: Database, run_id: str | None = None) -> dict[str, list[str]]:
    """Key hashes in the batch records, per table (a list: duplicates would show)."""
    out: dict[str, list[str]] = {"people": [], "visits": []}
    sql = "SELECT table_name, key_hashes, run_id FROM retention_audit WHERE kind = 'batch'"
    with db.engine.connect() as conn:
        for table, hashes, run in conn.execute(sa.text(sql)):
            if run_id is None or run == run_id:
                out[table].extend(hashes.split())
    return out


def _changed(db: Database) -> dict[str, set[str]]:
    """Key hashes of the rows that were anonymised or deleted."""
    secrets = load_secrets({"RETENTION_SECRET": SECRET})
    with db.engine.connect() as conn:
        anonymised = [r[0] for r in conn.execute(sa.text(
            "SELECT id FROM people WHERE email IS NULL"))]
        left = {r[0] for r in conn.execute(sa.text("SELECT id FROM visits"))}
    deleted = [i for i in range(1, ROWS + 1) if i not in left]
    return {"people": {key_hash(secrets, "people", (i,)) for i in anonymised},
            "visits": {key_hash(secrets, "visits", (i,)) for i in deleted}}


def _run(db: Database, policies: Path, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "retention", "--log-format", "json", "run", "-p", str(policies),
         "-d", db.url, "--batch-size", str(BATCH), "--format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "RETENTION_SECRET": SECRET, **env})


def paused_run(db: Database, write_policy, tmp_path: Path, stage: str,  # type: ignore[no-untyped-def]
               batch: int) -> tuple[subprocess.Popen[str], Path, Path]:
    """A `retention run` over fresh tables, held inside its `batch`-th batch at `stage`
    (retention/testhooks.py) until the marker file it wrote is removed."""
    _tables(db)
    policies = write_policy(POLICY)
    marker = tmp_path / "inside-batch"
    process = _run(db, policies, RETENTION_TEST_PAUSE=f"{stage}:{batch}:{marker}")
    deadline = time.monotonic() + 60
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert marker.exists(), process.communicate(timeout=5)[1]
    return process, marker, policies


@pytest.mark.parametrize(("stage", "batch"), [
    ("changed", 2),   # people anonymised in the open transaction, no audit record yet
    ("audited", 3),   # record written, transaction not committed
    ("changed", 6),   # second rule: rows deleted, no record yet
    ("audited", 7),
])
def test_sigkill_inside_a_batch_leaves_changes_and_records_matched(
        db: Database, write_policy, tmp_path: Path, stage: str,  # type: ignore[no-untyped-def]
        batch: int) -> None:
    process, _marker, policies = paused_run(db, write_policy, tmp_path, stage, batch)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert process.returncode == -signal.SIGKILL

    # The open batch is gone: the batches committed before it, whole, and their records.
    committed = batch - 1
    changed, recorded = _changed(db), _recorded(db)
    for table in ("people", "visits"):
        assert set(recorded[table]) == changed[table]
        assert len(recorded[table]) == len(changed[table])
    assert len(changed["people"]) + len(changed["visits"]) == committed * BATCH
    with db.engine.connect() as conn:
        kinds = [r[0] for r in conn.execute(sa.text(
            "SELECT kind FROM retention_audit ORDER BY seq"))]
        dead = conn.execute(sa.text(
            "SELECT run_id FROM retention_audit WHERE kind = 'run_started'")).scalar_one()
    assert kinds == ["run_started"] + ["batch"] * committed  # no terminal record

    # The database released the dead run's lock: the next run starts, closes the dead run and
    # finishes the work, recording every key exactly once over both runs.
    rerun = _run(db, policies)
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    changed, recorded = _changed(db), _recorded(db)
    assert len(changed["people"]) == len(changed["visits"]) == ROWS
    for table in ("people", "visits"):
        assert sorted(recorded[table]) == sorted(changed[table])
    with db.engine.connect() as conn:
        aborted = conn.execute(sa.text(
            "SELECT run_id, status FROM retention_audit WHERE kind = 'run_aborted'")).all()
        finished = conn.execute(sa.text(
            "SELECT status FROM retention_audit WHERE kind = 'run_finished'")).scalar_one()
    assert [tuple(r) for r in aborted] == [(dead, "aborted")]
    assert finished == "completed"
    assert '"aborted_runs"' in out and dead in out
