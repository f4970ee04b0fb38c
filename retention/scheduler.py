"""The nightly sweep in one long-lived process: APScheduler 3 runs `retention.api.sweep` on a
cron expression read in a time zone, touches a heartbeat file, and stops cleanly on SIGTERM
and SIGINT (as PID 1 in a container the process gets no default handlers: they are installed
here explicitly).

APScheduler runs jobs in worker threads while its loop waits in the main thread; a signal
handler there only sets flags and asks the current run to stop after its batch, and the
scheduler is shut down from a helper thread, so no lock is ever taken inside the handler.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog

# APScheduler 3 ships no type information (no py.typed); its API is used through a few calls.
from apscheduler.events import (  # type: ignore[import-untyped]
    EVENT_JOB_ERROR,
    EVENT_JOB_EXECUTED,
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    EVENT_SCHEDULER_STARTED,
)
from apscheduler.executors.pool import ThreadPoolExecutor  # type: ignore[import-untyped]
from apscheduler.schedulers.blocking import BlockingScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]
from sqlalchemy.exc import SQLAlchemyError

from . import api, health
from .audit_export import append_anchor
from .database import error_label
from .errors import EXIT_OK, EXIT_SIGINT, RetentionError
from .lock import LockHeld
from .metrics import RunMetrics

log = structlog.get_logger("retention")

SWEEP_JOB = "sweep"
HEARTBEAT_JOB = "heartbeat"
HEARTBEAT_SECONDS = 60
CRON_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def zone_info(name: str) -> ZoneInfo:
    """The IANA time zone `name`; ValueError with a readable message otherwise."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as 'Europe/Oslo' or "
                         "'UTC')") from None


def _weekday(token: str) -> int:
    if token.isdigit() and 0 <= int(token) <= 7:
        return int(token) % 7
    if token.lower() in CRON_WEEKDAYS:
        return CRON_WEEKDAYS.index(token.lower())
    raise ValueError(f"{token!r} is not a weekday (0-7 or sun-sat; 0 and 7 are Sunday)")


def _weekdays(text: str) -> str:
    """A crontab weekday field as APScheduler weekday names.

    APScheduler 3 reads weekday numbers with 0 = Monday, crontab with 0 = Sunday: `1-5`
    would run Tuesday to Saturday. The field is expanded here to names, which both agree on."""
    if text == "*":
        return text
    days: set[int] = set()
    for part in text.split(","):
        span, slash, step_text = part.partition("/")
        if slash and (not step_text.isdigit() or int(step_text) == 0):
            raise ValueError(f"{part!r}: the step must be a positive number")
        step = int(step_text) if slash else 1
        if span == "*":
            first, last = 0, 7
        else:
            start, dash, end = span.partition("-")
            first = _weekday(start)
            if dash:
                last = _weekday(end)
                if last == 0 and first > 0:  # '5-0', 'fri-sun': Sunday ends the range
                    last = 7
                if last < first:
                    raise ValueError(f"{part!r}: a range must go forward (e.g. 1-5 for Monday "
                                     "to Friday)")
            else:
                last = 7 if slash else first  # cron reads 'N/step' as 'N-7/step'
        days.update(d % 7 for d in range(first, last + 1, step))
    return ",".join(CRON_WEEKDAYS[d] for d in sorted(days))


def cron_trigger(expr: str, timezone: str) -> CronTrigger:
    """A standard five-field crontab expression (minute hour day month weekday, weekday 0 or 7
    = Sunday) read in `timezone`, so 03:00 stays 03:00 local time across DST changes.

    Raises ValueError naming the problem."""
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"{expr!r} is not a cron expression: it needs 5 fields (minute hour "
                         "day-of-month month day-of-week), e.g. '0 3 * * *'")
    zone = zone_info(timezone)
    if fields[2] != "*" and fields[4] != "*":
        # cron runs when either field matches, APScheduler only when both do
        raise ValueError(f"{expr!r}: restrict the day of the month or the day of the week, "
                         "not both (cron and APScheduler read that combination differently)")
    try:
        fields[4] = _weekdays(fields[4])
        return CronTrigger.from_crontab(" ".join(fields), timezone=zone)
    except ValueError as err:
        raise ValueError(f"{expr!r} is not a valid cron expression: {err}") from None


def job_defaults(misfire_grace_seconds: float) -> dict[str, Any]:
    """One run at a time, missed fire times merged into one run, and a run that starts late
    (a busy host, a restart around 03:00) still runs within the grace. APScheduler's own
    default grace is 1 second, which silently skips a run that is a little late."""
    return {"coalesce": True, "max_instances": 1,
            "misfire_grace_time": max(1, math.ceil(misfire_grace_seconds))}


@dataclass(frozen=True)
class SweepOptions:
    """What every scheduled run passes to `retention.api.sweep` (as `retention run` does)."""

    policies: list[str]
    database: str
    rule_ids: list[str] | None = None
    batch_size: int | None = None
    pause: float = 0.0
    clock_tolerance: float = 300.0
    max_runtime: float | None = None  # seconds, counted from each run's start
    stop_file: Path | None = None
    anchor_file: Path | None = None  # each run's audit head is appended here


@dataclass(frozen=True)
class ScheduleOptions:
    cron: str = "0 3 * * *"
    timezone: str = "Europe/Oslo"
    misfire_grace_seconds: float = 3600.0
    run_now: bool = False
    heartbeat_file: Path | None = None


class Scheduler:
    """The sweep and the heartbeat as APScheduler jobs; `serve()` runs them until a signal."""

    def __init__(self, sweep: SweepOptions, schedule: ScheduleOptions, *,
                 metrics: RunMetrics | None = None,
                 scheduler_class: Callable[..., Any] = BlockingScheduler) -> None:
        self.sweep_options = sweep
        self.options = schedule
        self.metrics = metrics
        self.trigger = cron_trigger(schedule.cron, schedule.timezone)
        self._executor = ThreadPoolExecutor(max_workers=4)
        self.apscheduler = scheduler_class(
            timezone=zone_info(schedule.timezone),
            executors={"default": self._executor},
            job_defaults=job_defaults(schedule.misfire_grace_seconds))
        self.apscheduler.add_listener(self._on_event, EVENT_JOB_MISSED | EVENT_JOB_ERROR
                                      | EVENT_JOB_MAX_INSTANCES | EVENT_JOB_EXECUTED)
        self.apscheduler.add_listener(self._on_started, EVENT_SCHEDULER_STARTED)
        # reentrant: a second signal may interrupt the handler of the first on the main thread
        self._lock = threading.RLock()
        self._current: api.StopFlag | None = None
        self._idle = threading.Event()
        self._idle.set()
        self.stop_reason: str | None = None

    # ------------------------------------------------------------------ jobs

    def add_jobs(self, *, first_run: datetime | None = None) -> None:
        """The cron job (first at `first_run` when given, then on the schedule) and the
        heartbeat every minute, starting now."""
        extra = {"next_run_time": first_run} if first_run is not None else {}
        self.apscheduler.add_job(self.run_once, self.trigger, id=SWEEP_JOB, name="sweep",
                                 **extra)
        if self.options.heartbeat_file is not None:
            self.apscheduler.add_job(self.beat, IntervalTrigger(seconds=HEARTBEAT_SECONDS),
                                     id=HEARTBEAT_JOB, name="heartbeat",
                                     next_run_time=datetime.now(self.trigger.timezone))

    def beat(self) -> None:
        """Touch the heartbeat file: the scheduler's loop is alive."""
        if self.options.heartbeat_file is None:
            return
        try:
            health.touch(self.options.heartbeat_file)
        except OSError as err:
            log.error("heartbeat_failed", path=str(self.options.heartbeat_file),
                      error=err.strerror)

    def run_once(self) -> str:
        """One sweep; returns its outcome. Never raises: a failed run is logged, and the
        scheduler goes on to the next fire time."""
        options = self.sweep_options
        with self._lock:
            if self.stop_reason is not None:
                return "not started: stopping"
            stop = api.StopFlag(
                deadline=None if options.max_runtime is None
                else time.monotonic() + options.max_runtime,
                stop_file=options.stop_file)
            self._current = stop
            self._idle.clear()
        if self.metrics is not None:
            self.metrics.run_started()
        started = time.monotonic()
        result: api.RunResult | None = None
        outcome = "failed"
        try:
            result = api.sweep(options.policies, options.database, rule_ids=options.rule_ids,
                               batch_size=options.batch_size, stop=stop, pause=options.pause,
                               clock_tolerance=options.clock_tolerance)
            outcome = result.status
            self._anchor(result)
        except LockHeld as err:
            outcome = "skipped"
            log.warning("run_skipped", reason=str(err))
        except RetentionError as err:
            log.error("run_failed", error=str(err), exit_code=err.exit_code)
        except SQLAlchemyError as err:  # a database message can quote row values
            log.error("run_failed", error=error_label(err))
        except Exception as err:
            log.error("run_failed", error=f"{type(err).__name__}: {err}")
        finally:
            if self.metrics is not None:
                self.metrics.run_finished(outcome, time.monotonic() - started, result)
            self.beat()
            with self._lock:
                self._current = None
                self._idle.set()
        return outcome

    def _anchor(self, result: api.RunResult) -> None:
        """Log the run's audit head and append it to the anchor file; a file that cannot be
        written is logged (the run is recorded all the same) and never stops the schedule."""
        if result.head is None:
            return
        seq, head = result.head
        path = self.sweep_options.anchor_file
        if path is not None:
            try:
                with open(path, "a", encoding="utf-8") as file:
                    append_anchor(file, seq, head, result.run_id)
            except OSError as err:
                log.error("anchor_failed", anchor_file=str(path), error=err.strerror,
                          seq=seq, hash=head)
                return
        log.info("audit_head", seq=seq, hash=head, run_id=result.run_id,
                 anchor_file=None if path is None else str(path))

    def next_run(self) -> str | None:
        job = self.apscheduler.get_job(SWEEP_JOB)
        moment = getattr(job, "next_run_time", None) if job is not None else None
        return moment.isoformat() if moment is not None else None

    def _on_event(self, event: Any) -> None:
        job = event.job_id
        if event.code == EVENT_JOB_ERROR:  # run_once catches everything; the heartbeat may not
            log.error("job_failed", job=job, error=type(event.exception).__name__)
        elif job != SWEEP_JOB:
            return
        elif event.code == EVENT_JOB_MISSED:
            log.warning("run_missed", scheduled_for=event.scheduled_run_time.isoformat(),
                        misfire_grace_seconds=self.options.misfire_grace_seconds,
                        next_run=self.next_run())
        elif event.code == EVENT_JOB_MAX_INSTANCES:
            log.warning("run_skipped", reason="the previous run is still going",
                        scheduled_for=[t.isoformat() for t in event.scheduled_run_times])
        elif event.code == EVENT_JOB_EXECUTED:
            log.info("job_executed", job=job, outcome=event.retval,
                     scheduled_for=event.scheduled_run_time.isoformat(),
                     next_run=self.next_run())

    # ------------------------------------------------------------------ stopping

    def request_stop(self, reason: str) -> None:
        """Stop the current run after its batch and shut the scheduler down (thread-safe)."""
        first = False
        with self._lock:
            if self.stop_reason is None:
                self.stop_reason = reason
                first = True
            if self._current is not None:
                self._current.request(reason)
        if first:
            threading.Thread(target=self._shutdown, name="retention-shutdown",
                             daemon=True).start()

    def _shutdown(self) -> None:
        log.info("stop_requested", reason=self.stop_reason, run_in_progress=not
                 self._idle.is_set())
        if self.apscheduler.running:
            self.apscheduler.shutdown(wait=False)

    def _on_started(self, _event: Any) -> None:
        if self.stop_reason is not None:  # a signal came before the scheduler ran
            threading.Thread(target=self._shutdown, daemon=True).start()

    def _on_signal(self, signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.stop_reason is not None and signum == signal.SIGINT:
            # A second Ctrl-C: leave now; the database rolls the open batch back.
            os.write(2, b"second SIGINT: aborting the open batch\n")
            os._exit(EXIT_SIGINT)
        self.request_stop(name)

    def serve(self) -> int:
        """Run until SIGTERM or SIGINT, then let the current batch finish; exit 0."""
        first = datetime.now(self.trigger.timezone) if self.options.run_now else None
        self.add_jobs(first_run=first)
        self.beat()
        previous = {sig: signal.signal(sig, self._on_signal)
                    for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            next_fire = self.trigger.get_next_fire_time(None, datetime.now(self.trigger.timezone))
            log.info("scheduler_started", cron=self.options.cron, timezone=self.options.timezone,
                     run_now=self.options.run_now, next_scheduled_run=next_fire.isoformat(),
                     misfire_grace_seconds=self.options.misfire_grace_seconds,
                     heartbeat_file=str(self.options.heartbeat_file or ""))
            self.apscheduler.start()  # blocks until shut down
            self._idle.wait()
            # the job's thread still reports its end (job_executed) after run_once returned
            self._executor.shutdown(wait=True)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        log.info("scheduler_stopped", reason=self.stop_reason)
        return EXIT_OK
