"""`retention schedule`: cron times in a time zone across DST, late starts within the grace,
runs that fail or find the lock taken, and a clean stop on SIGTERM, on every backend."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import structlog
from apscheduler.events import (  # type: ignore[import-untyped]
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MISSED,
)
from apscheduler.schedulers.background import (  # type: ignore[import-untyped]
    BackgroundScheduler,
)
from structlog.testing import capture_logs

from retention.lock import run_lock
from retention.metrics import RunMetrics
from retention.scheduler import (
    SWEEP_JOB,
    ScheduleOptions,
    Scheduler,
    SweepOptions,
    cron_trigger,
)
from tests.conftest import SECRET, VISITS_POLICY, Database, make_visits
from tests.test_stop_signals import _batches

WritePolicy = Callable[[str], Path]

ROWS = 400
OSLO_WINTER = timedelta(hours=1)
OSLO_SUMMER = timedelta(hours=2)


@pytest.fixture(autouse=True)
def reset_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()


def _fire_times(expr: str, timezone: str, start: datetime, count: int) -> list[datetime]:
    trigger = cron_trigger(expr, timezone)
    times: list[datetime] = []
    previous = None
    now = start
    for _ in range(count):
        moment = trigger.get_next_fire_time(previous, now)
        times.append(moment)
        previous, now = moment, moment + timedelta(seconds=1)
    return times


# --------------------------------------------------------------------------- cron and DST


@pytest.mark.parametrize(("start", "expected"), [
    (datetime(2026, 3, 27, 12, tzinfo=UTC), [
        (datetime(2026, 3, 28, 2, tzinfo=UTC), OSLO_WINTER),
        (datetime(2026, 3, 29, 1, tzinfo=UTC), OSLO_SUMMER),  # clocks went forward at 02:00
        (datetime(2026, 3, 30, 1, tzinfo=UTC), OSLO_SUMMER),
    ]),
    (datetime(2026, 10, 23, 12, tzinfo=UTC), [
        (datetime(2026, 10, 24, 1, tzinfo=UTC), OSLO_SUMMER),
        (datetime(2026, 10, 25, 2, tzinfo=UTC), OSLO_WINTER),  # clocks went back at 03:00
        (datetime(2026, 10, 26, 2, tzinfo=UTC), OSLO_WINTER),
    ]),
], ids=["spring-2026-03-29", "autumn-2026-10-25"])
def test_the_default_schedule_is_0300_oslo_time_every_day_across_dst(
        start: datetime, expected: list[tuple[datetime, timedelta]]) -> None:
    """`0 3 * * *` in Europe/Oslo fires once a day at 03:00 local time, whose UTC offset
    follows the DST change of that night: 02:00 UTC in winter, 01:00 UTC in summer."""
    times = _fire_times("0 3 * * *", "Europe/Oslo", start, 3)
    assert [(t.astimezone(UTC), t.utcoffset()) for t in times] == expected
    assert all((t.hour, t.minute) == (3, 0) for t in times)


@pytest.mark.parametrize(("field", "days"), [
    ("1-5", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
    ("0", ["Sun"]),
    ("7", ["Sun"]),
    ("sat,0", ["Sun", "Sat"]),
    ("5-7", ["Sun", "Fri", "Sat"]),
    ("*/2", ["Sun", "Tue", "Thu", "Sat"]),
    ("mon-fri/2", ["Mon", "Wed", "Fri"]),
])
def test_weekday_numbers_mean_what_they_mean_in_crontab(field: str, days: list[str]) -> None:
    """0 and 7 are Sunday, 1 is Monday, as in crontab (APScheduler 3 alone reads 0 as
    Monday, which would shift every weekday schedule by a day)."""
    times = _fire_times(f"0 3 * * {field}", "UTC", datetime(2026, 6, 1, tzinfo=UTC), 14)
    assert sorted({t.strftime("%a") for t in times},
                  key=["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"].index) == days


@pytest.mark.parametrize(("expr", "zone", "message"), [
    ("0 3 * *", "UTC", "'0 3 * *' is not a cron expression: it needs 5 fields"),
    ("0 25 * * *", "UTC", "'0 25 * * *' is not a valid cron expression"),
    ("0 3 * * 8", "UTC", "'8' is not a weekday (0-7 or sun-sat; 0 and 7 are Sunday)"),
    ("0 3 * * 5-1", "UTC", "'5-1': a range must go forward"),
    ("0 3 1 * 1", "UTC", "restrict the day of the month or the day of the week, not both"),
    ("0 3 * * *", "Europe/Olso", "unknown time zone 'Europe/Olso'"),
])
def test_a_bad_schedule_is_refused_with_the_reason(expr: str, zone: str, message: str) -> None:
    with pytest.raises(ValueError, match="^.*" + message.replace("*", r"\*")
                       .replace("(", r"\(").replace(")", r"\)")):
        cron_trigger(expr, zone)


def test_a_bad_cron_option_exits_2_naming_it(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "retention", "schedule", "-d", "sqlite:///x.db", "--cron",
         "0 3 * * 9"], capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={**os.environ, "RETENTION_SECRET": SECRET})
    assert result.returncode == 2
    assert "Invalid value for --cron: '0 3 * * 9' is not a valid cron expression: '9' is not " \
           "a weekday (0-7 or sun-sat; 0 and 7 are Sunday)" in result.stderr


# --------------------------------------------------------------------------- runs in-process


def _scheduler(db: Database, policies: Path, **options: Any) -> Scheduler:
    return Scheduler(SweepOptions(policies=[str(policies)], database=db.url, batch_size=50),
                     ScheduleOptions(**options), metrics=RunMetrics(),
                     scheduler_class=BackgroundScheduler)


def _finished_runs(db: Database) -> list[tuple[str, str]]:
    with db.engine.connect() as conn:
        if not sa.inspect(conn).has_table("retention_audit"):
            return []
        return [(r[0], r[1]) for r in conn.execute(sa.text(
            "SELECT run_id, status FROM retention_audit WHERE kind = 'run_finished' "
            "ORDER BY seq"))]


def _wait_for(scheduler: Scheduler, mask: int) -> Any:
    seen: list[Any] = []
    done = threading.Event()

    def listener(event: Any) -> None:
        if event.job_id == SWEEP_JOB:
            seen.append(event)
            done.set()

    scheduler.apscheduler.add_listener(listener, mask)
    return seen, done


@pytest.mark.parametrize("late", [timedelta(minutes=50), timedelta(minutes=70)],
                         ids=["within-grace", "past-grace"])
def test_a_late_start_runs_within_the_grace_and_is_logged_as_missed_past_it(
        db: Database, write_policy: WritePolicy, secret: str, late: timedelta) -> None:
    """A fire time 50 minutes past (a restart around 03:00) still runs with the 1-hour grace;
    70 minutes past, the run is logged as missed and waits for the next fire time."""
    make_visits(db, old=20)
    scheduler = _scheduler(db, write_policy(VISITS_POLICY), misfire_grace_seconds=3600)
    seen, done = _wait_for(scheduler, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED)
    scheduler.add_jobs(first_run=datetime.now(UTC) - late)
    with capture_logs() as logs:
        scheduler.apscheduler.start()
        try:
            assert done.wait(60)
        finally:
            scheduler.apscheduler.shutdown(wait=True)
    events = [entry["event"] for entry in logs]
    if late < timedelta(hours=1):
        assert seen[0].code == EVENT_JOB_EXECUTED and seen[0].retval == "completed"
        assert [status for _run, status in _finished_runs(db)] == ["completed"]
        assert db.count("visits") == 0
        assert "job_executed" in events
    else:
        assert seen[0].code == EVENT_JOB_MISSED
        assert _finished_runs(db) == []
        assert db.count("visits") == 20
        missed = next(entry for entry in logs if entry["event"] == "run_missed")
        assert missed["log_level"] == "warning"
        assert missed["next_run"] is not None  # the job stays scheduled


def test_a_failing_run_is_logged_and_the_schedule_goes_on(
        tmp_path: Path, write_policy: WritePolicy, secret: str) -> None:
    """A run that raises (here: the database file's directory does not exist) is logged as
    run_failed, counted in the metrics, and the job keeps its next fire time."""
    policies = write_policy(VISITS_POLICY)
    scheduler = Scheduler(
        SweepOptions(policies=[str(policies)],
                     database=f"sqlite:///{tmp_path / 'missing' / 'shop.db'}"),
        ScheduleOptions(cron="0 3 * * *", timezone="Europe/Oslo"), metrics=RunMetrics(),
        scheduler_class=BackgroundScheduler)
    seen, done = _wait_for(scheduler, EVENT_JOB_EXECUTED)
    scheduler.add_jobs(first_run=datetime.now(UTC))
    with capture_logs() as logs:
        scheduler.apscheduler.start()
        try:
            assert done.wait(60)
            job = scheduler.apscheduler.get_job(SWEEP_JOB)
            assert job is not None and job.next_run_time > datetime.now(UTC)
            assert (job.next_run_time.hour, job.next_run_time.minute) == (3, 0)
        finally:
            scheduler.apscheduler.shutdown(wait=True)
    assert seen[0].retval == "failed"
    failed = next(entry for entry in logs if entry["event"] == "run_failed")
    assert failed["log_level"] == "error" and failed["exit_code"] == 75
    assert scheduler.metrics is not None
    assert scheduler.metrics.registry.get_sample_value(
        "retention_runs_total", {"status": "failed"}) == 1
    assert scheduler.metrics.registry.get_sample_value("retention_run_in_progress") == 0


def test_a_run_that_finds_the_lock_taken_is_skipped_not_crashed(
        db: Database, write_policy: WritePolicy, secret: str) -> None:
    """Another replica holds the lock: the run is logged as skipped, changes nothing, and the
    next run (lock free again) does the work."""
    make_visits(db, old=5)
    scheduler = _scheduler(db, write_policy(VISITS_POLICY))
    with capture_logs() as logs, run_lock(db.engine):
        assert scheduler.run_once() == "skipped"
    skipped = next(entry for entry in logs if entry["event"] == "run_skipped")
    assert skipped["log_level"] == "warning"
    assert "another sweep holds the lock" in skipped["reason"]
    assert db.count("visits") == 5
    assert scheduler.run_once() == "completed"
    assert db.count("visits") == 0
    assert scheduler.metrics is not None
    for status in ("skipped", "completed"):
        assert scheduler.metrics.registry.get_sample_value(
            "retention_runs_total", {"status": status}) == 1


# --------------------------------------------------------------------------- the real process


def _schedule(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("RETENTION_") or key.startswith("RETENTION_TEST_")}
    return subprocess.Popen(
        [sys.executable, "-m", "retention", "--log-format", "json", "schedule", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
        env={**env, "RETENTION_SECRET": SECRET})


def test_sigterm_during_a_run_stops_after_the_batch_and_exits_0(
        db: Database, write_policy: WritePolicy, tmp_path: Path) -> None:
    """`schedule --run-now` is mid-run when SIGTERM comes: the current batch commits, the run
    is recorded as stopped by SIGTERM, its audit head is appended to the anchor file, the
    scheduler exits 0 and every log line is JSON."""
    make_visits(db, old=ROWS)
    heartbeat = tmp_path / "heartbeat"
    anchors = tmp_path / "anchors.jsonl"
    process = _schedule(["--run-now", "-p", str(write_policy(VISITS_POLICY)), "-d", db.url,
                         "--batch-size", "1", "--heartbeat-file", str(heartbeat),
                         "--anchor-file", str(anchors)], tmp_path)
    deadline = time.monotonic() + 60
    while _batches(db) < 3 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    assert process.poll() is None, process.communicate()[1]
    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    left = db.count("visits")
    assert 0 < left < ROWS
    assert _batches(db) == ROWS - left
    with db.engine.connect() as conn:
        status, detail = conn.execute(sa.text(
            "SELECT status, detail FROM retention_audit WHERE kind = 'run_finished'")).one()
    assert status == "stopped"
    assert json.loads(detail)["stop_reason"] == "SIGTERM"
    events = [json.loads(line)["event"] for line in err.splitlines()]
    assert events[0] == "scheduler_started"
    assert events[-1] == "scheduler_stopped"
    assert {"stop_requested", "run_finished", "job_executed", "audit_head"} <= set(events)
    assert heartbeat.exists()
    with db.engine.connect() as conn:
        seq, head = conn.execute(sa.text(
            "SELECT seq, hash FROM retention_audit ORDER BY seq DESC LIMIT 1")).one()
    [anchor] = [json.loads(line) for line in anchors.read_text().splitlines()]
    assert (anchor["seq"], anchor["hash"]) == (seq, head)


def test_sigterm_while_waiting_for_the_next_run_exits_0_at_once(
        tmp_path: Path, write_policy: WritePolicy) -> None:
    """Between runs the scheduler stops at once; it never touched the database."""
    database = tmp_path / "shop.db"
    process = _schedule(["-p", str(write_policy(VISITS_POLICY)), "-d", f"sqlite:///{database}",
                         "--heartbeat-file", str(tmp_path / "hb")], tmp_path)
    deadline = time.monotonic() + 60
    while not (tmp_path / "hb").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert time.monotonic() - started < 10
    assert json.loads(err.splitlines()[-1])["event"] == "scheduler_stopped"
    assert not database.exists()


def test_schedule_refuses_to_start_without_the_secret(
        tmp_path: Path, write_policy: WritePolicy) -> None:
    """A missing secret fails at start (exit 3), not at 03:00."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("RETENTION_")}
    result = subprocess.run(
        [sys.executable, "-m", "retention", "schedule", "-p", str(write_policy(VISITS_POLICY)),
         "-d", "sqlite:///x.db", "--heartbeat-file", str(tmp_path / "hb")],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, env=env)
    assert result.returncode == 3
    assert result.stderr.startswith("error: RETENTION_SECRET is not set")
