"""SIGTERM and SIGINT end a run after the current batch, with exit 143 / 130, on every backend."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import SECRET, VISITS_POLICY, Database, make_visits

ROWS = 400

POLICY = VISITS_POLICY


def _visits(db: Database) -> None:
    make_visits(db, old=ROWS)


def _start_run(db: Database, policies: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "RETENTION_SECRET": SECRET}
    return subprocess.Popen(
        [sys.executable, "-m", "retention", "--log-format", "json", "run", "-p", str(policies),
         "-d", db.url, "--batch-size", "1", "--format", "json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _batches(db: Database) -> int:
    with db.engine.connect() as conn:
        if not sa.inspect(conn).has_table("retention_audit"):
            return 0
        return int(conn.execute(sa.text(
            "SELECT COUNT(*) FROM retention_audit WHERE kind = 'batch'")).scalar_one())


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)],
                         ids=["SIGTERM", "SIGINT"])
def test_a_signal_stops_the_run_after_the_current_batch(
        db: Database, write_policy, signum: int, code: int) -> None:  # type: ignore[no-untyped-def]
    """The run exits 143/130, every committed batch is whole and audited, the run is recorded
    as stopped, and the next run deletes the rest."""
    _visits(db)
    policies = write_policy(POLICY)
    process = _start_run(db, policies)
    deadline = time.monotonic() + 60
    while _batches(db) < 3 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it could be signalled"
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    result = json.loads(out)
    assert result["status"] == "stopped"
    left = db.count("visits")
    assert 0 < left < ROWS
    # every deleted row is in exactly one committed batch record, and no record lacks its change
    assert _batches(db) == ROWS - left == result["totals"]["delete"]
    with db.engine.connect() as conn:
        finished = conn.execute(sa.text(
            "SELECT status FROM retention_audit WHERE kind = 'run_finished'")).scalar_one()
    assert finished == "stopped"

    rerun = subprocess.run(
        [sys.executable, "-m", "retention", "run", "-p", str(policies), "-d", db.url,
         "--format", "json"],
        capture_output=True, text=True, env={**os.environ, "RETENTION_SECRET": SECRET},
        timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert db.count("visits") == 0


def test_two_runs_started_together_one_works_the_other_exits_5(
        db: Database, write_policy) -> None:  # type: ignore[no-untyped-def]
    """Of two `retention run` processes started at the same moment, exactly one changes rows;
    the other exits 5 at once, names the holder and changes nothing."""
    _visits(db)
    policies = write_policy(POLICY)
    env = {**os.environ, "RETENTION_SECRET": SECRET}
    command = [sys.executable, "-m", "retention", "--log-format", "json", "run", "-p",
               str(policies), "-d", db.url, "--batch-size", "20", "--sleep", "0.2",
               "--format", "json"]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env)
    second = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env)
    results = [(*p.communicate(timeout=120), p.returncode) for p in (first, second)]
    codes = sorted(code for _out, _err, code in results)
    assert codes == [0, 5], [err for _out, err, _code in results]
    winner = next(out for out, _err, code in results if code == 0)
    loser_err = next(err for _out, err, code in results if code == 5)
    assert json.loads(winner)["totals"]["delete"] == ROWS
    # the holder is named once it has written its record; a loser that comes within that
    # instant says "holder unknown" (tests/test_lock.py covers the message itself)
    assert "another sweep holds the lock" in loser_err
    assert db.count("visits") == 0
    with db.engine.connect() as conn:
        started = conn.execute(sa.text(
            "SELECT COUNT(*) FROM retention_audit WHERE kind = 'run_started'")).scalar_one()
    assert started == 1  # the refused run wrote nothing
