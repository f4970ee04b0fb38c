"""`retention healthcheck` (heartbeat and last completed run) and the Prometheus metrics of
runs: the scheduler's endpoint, a one-shot run's textfile and Pushgateway push."""

from __future__ import annotations

import os
import threading
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa
from freezegun import freeze_time
from prometheus_client.parser import text_string_to_metric_families

from retention import api
from retention.metrics import RunMetrics
from retention.scheduler import ScheduleOptions, Scheduler, SweepOptions
from tests.conftest import VISITS_POLICY, Database, make_visits
from tests.conftest import run_cli as retention

WritePolicy = Callable[[str], Path]

T0 = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
LABELS = {"category", "action", "table", "rule", "status"}


@pytest.fixture(autouse=True)
def clean_environment(cli_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The shared clean environment, and the test's own working directory: no retention.yaml
    found by accident."""
    monkeypatch.chdir(tmp_path)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition as {(name, labels): value}, via prometheus_client's own
    parser."""
    out: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(found: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str,
          **labels: str) -> float:
    return found[(name, frozenset(labels.items()))]


# --------------------------------------------------------------------------- heartbeat


@pytest.mark.parametrize(("age", "code", "line"), [
    (timedelta(seconds=0), 0, "ok: heartbeat {path} touched 0s ago (limit 5m00s)"),
    (timedelta(minutes=5), 0, "ok: heartbeat {path} touched 5m00s ago (limit 5m00s)"),
    (timedelta(minutes=5, seconds=1), 1,
     "unhealthy: heartbeat {path} touched 5m01s ago (limit 5m00s)"),
    (None, 1, "unhealthy: heartbeat file {path} is missing (is `retention schedule` running, "
              "with the same --heartbeat-file?)"),
], ids=["fresh", "at-the-limit", "stale", "missing"])
def test_healthcheck_reads_the_heartbeat_age(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], age: timedelta | None, code: int,
        line: str) -> None:
    """Healthy up to and including --max-stale; one line on stdout either way."""
    path = tmp_path / "heartbeat"
    if age is not None:
        path.touch()
        os.utime(path, (T0.timestamp(), T0.timestamp()))
    with freeze_time(T0 + (age or timedelta())):
        assert retention("healthcheck", "--heartbeat-file", str(path), "--max-stale", "5m") \
            == code
    assert capsys.readouterr().out == line.format(path=path) + "\n"


def test_healthcheck_without_anything_to_check_is_a_usage_error(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert retention("healthcheck", "--no-heartbeat") == 2
    assert "nothing to check: --no-heartbeat needs --max-age" in capsys.readouterr().err


# --------------------------------------------------------------------------- last success


def _finished_at(db: Database, status: str = "completed") -> datetime:
    with db.engine.connect() as conn:
        text = conn.execute(sa.text(
            "SELECT MAX(recorded_at) FROM retention_audit WHERE kind = 'run_finished' "
            "AND status = :status"), {"status": status}).scalar_one()
    return datetime.fromisoformat(str(text))


def test_healthcheck_max_age_reads_the_last_completed_run_from_the_trail(
        db: Database, write_policy: WritePolicy, secret: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    """No trail: unhealthy. After a completed run: healthy up to --max-age after it finished,
    unhealthy past that. A stopped run does not count as a success."""
    make_visits(db, old=3)
    policies = write_policy(VISITS_POLICY)
    check = ["healthcheck", "--no-heartbeat", "--max-age", "36h", "--database", db.url]
    assert retention(*check) == 1
    assert capsys.readouterr().out == "unhealthy: no completed run in the audit trail\n"

    assert api.sweep([policies], db.url).status == "completed"
    finished = _finished_at(db)
    stopped = api.StopFlag()
    stopped.request("stop file")
    assert api.sweep([policies], db.url, stop=stopped).status == "stopped"
    with freeze_time(finished + timedelta(hours=36)):
        assert retention(*check) == 0
    assert capsys.readouterr().out.startswith("ok: last completed run finished 1d12h ago at "
                                              f"{finished:%Y-%m-%dT%H:%M:%SZ}")
    with freeze_time(finished + timedelta(hours=36, seconds=1)):
        assert retention(*check) == 1
    assert capsys.readouterr().out.startswith("unhealthy: last completed run finished 1d12h ago")


# --------------------------------------------------------------------------- metrics


def _assert_bounded_labels(found: dict[tuple[str, frozenset[tuple[str, str]]], float]) -> None:
    """Labels are policy names only: no key or row value can become a label."""
    for _name, labels in found:
        assert {key for key, _ in labels} <= LABELS


def test_a_run_writes_its_metrics_to_a_textfile(
        db: Database, write_policy: WritePolicy, secret: str, tmp_path: Path) -> None:
    """After a one-shot run the textfile holds every series with the run's figures."""
    make_visits(db, old=7, recent=2)
    textfile = tmp_path / "retention.prom"
    before = time.time()
    assert retention("run", "-p", str(write_policy(VISITS_POLICY)), "-d", db.url,
                     "--metrics-textfile", str(textfile), "--format", "json") == 0
    found = samples(textfile.read_text(encoding="utf-8"))
    assert before <= value(found, "retention_last_success_timestamp_seconds") <= time.time()
    assert value(found, "retention_run_duration_seconds") >= 0
    assert value(found, "retention_run_in_progress") == 0
    assert value(found, "retention_runs_total", status="completed") == 1
    assert value(found, "retention_rows_processed_total", category="history", action="delete",
                 table="visits") == 7
    assert value(found, "retention_rule_failures_total", category="history",
                 rule="old-visits") == 0
    assert value(found, "retention_rows_due", category="history", table="visits") == 0
    assert not any(name.endswith("_created") for name, _ in found)
    _assert_bounded_labels(found)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith("retention.prom")] == \
        ["retention.prom"]  # the temporary file was renamed, not left behind


def test_a_partial_run_keeps_the_last_success_from_the_trail(
        db: Database, write_policy: WritePolicy, secret: str, tmp_path: Path) -> None:
    """A capped run (exit 4) counts the rule failure, and its textfile carries the time of
    the last completed run over from the audit trail instead of 0."""
    visits = make_visits(db, old=3)
    policies = write_policy(VISITS_POLICY + "    max_rows: 5\n")
    textfile = tmp_path / "retention.prom"
    assert retention("run", "-p", str(policies), "-d", db.url, "--format", "json") == 0
    finished = _finished_at(db)
    old = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=400)
    db.insert(visits, [{"id": 100 + i, "created_at": old} for i in range(10)])
    assert retention("run", "-p", str(policies), "-d", db.url, "--metrics-textfile",
                     str(textfile), "--format", "json") == 4
    found = samples(textfile.read_text(encoding="utf-8"))
    assert value(found, "retention_last_success_timestamp_seconds") == pytest.approx(
        finished.timestamp(), abs=0.001)
    assert value(found, "retention_runs_total", status="partial") == 1
    assert value(found, "retention_rule_failures_total", category="history",
                 rule="old-visits") == 1
    assert value(found, "retention_rows_processed_total", category="history", action="delete",
                 table="visits") == 0


class _Gateway(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, str]]] = []

    def do_POST(self) -> None:  # the name http.server calls
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        self.received.append(("POST", self.path, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


def test_a_run_pushes_its_metrics_to_a_pushgateway(
        db: Database, write_policy: WritePolicy, secret: str) -> None:
    """--pushgateway POSTs the run's series under job 'retention' (a stand-in gateway on the
    loopback interface)."""
    make_visits(db, old=4)
    _Gateway.received = []
    server = HTTPServer(("127.0.0.1", 0), _Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert retention("run", "-p", str(write_policy(VISITS_POLICY)), "-d", db.url,
                         "--pushgateway", f"http://127.0.0.1:{server.server_port}",
                         "--format", "json") == 0
    finally:
        server.shutdown()
        server.server_close()
    [(method, path, body)] = _Gateway.received
    assert (method, path) == ("POST", "/metrics/job/retention")
    found = samples(body)
    assert value(found, "retention_rows_processed_total", category="history", action="delete",
                 table="visits") == 4
    assert value(found, "retention_runs_total", status="completed") == 1


def test_an_unreachable_pushgateway_does_not_fail_the_run(
        db: Database, write_policy: WritePolicy, secret: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The rows are deleted and committed: the run exits 0 and logs the failed export."""
    make_visits(db, old=2)
    assert retention("--log-format", "json", "run", "-p", str(write_policy(VISITS_POLICY)),
                     "-d", db.url, "--pushgateway", "http://127.0.0.1:1",
                     "--format", "json") == 0
    assert db.count("visits") == 0
    assert '"event": "metrics_export_failed"' in capsys.readouterr().err


def test_the_scheduler_serves_its_metrics_over_http(
        db: Database, write_policy: WritePolicy, secret: str) -> None:
    """The endpoint `schedule --metrics-port` serves reflects each run as it finishes."""
    make_visits(db, old=6)
    metrics = RunMetrics()
    port = metrics.serve(0, addr="127.0.0.1")
    try:
        scheduler = Scheduler(
            SweepOptions(policies=[str(write_policy(VISITS_POLICY))], database=db.url),
            ScheduleOptions(), metrics=metrics)
        url = f"http://127.0.0.1:{port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            found = samples(response.read().decode())
        assert value(found, "retention_run_in_progress") == 0
        assert value(found, "retention_last_success_timestamp_seconds") == 0
        assert scheduler.run_once() == "completed"
        with urllib.request.urlopen(url, timeout=10) as response:
            found = samples(response.read().decode())
    finally:
        metrics.close()
    assert value(found, "retention_rows_processed_total", category="history", action="delete",
                 table="visits") == 6
    assert value(found, "retention_last_success_timestamp_seconds") > 0
    assert value(found, "retention_runs_total", status="completed") == 1
    _assert_bounded_labels(found)
