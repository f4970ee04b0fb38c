"""Caps, time budgets, stop files, pauses and the recovery of dead runs."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from retention import api, audit, executor
from retention.cli import main
from retention.strategies import Secrets
from tests.conftest import SECRET, VISITS_POLICY, Database, make_visits

NOW = datetime(2026, 11, 29, 3, 0, 0)


def _visits(db: Database, old: int = 30, new: int = 10) -> None:
    make_visits(db, old=old, recent=new, now=NOW)


def _policy(extra: str = "", settings: str = "") -> str:
    return settings + VISITS_POLICY + extra


def _records(db: Database, kind: str) -> list[dict[str, object]]:
    with db.engine.connect() as conn:
        t = sa.Table("retention_audit", sa.MetaData(), autoload_with=conn)
        return [dict(r) for r in conn.execute(sa.select(t).where(t.c.kind == kind)
                                              .order_by(t.c.seq)).mappings()]


@freeze_time(NOW)
@pytest.mark.parametrize(("caps", "settings"), [
    ("    max_rows: 29\n", ""),
    ("    max_fraction: 0.5\n", ""),
    ("", "settings: {max_rows: 10}\n"),
], ids=["max_rows", "max_fraction", "settings default"])
def test_a_cap_exceeded_changes_nothing_and_is_recorded(
        db: Database, write_policy, secret: str, caps: str, settings: str) -> None:  # type: ignore[no-untyped-def]
    """30 of 40 rows due against a cap: zero rows change, the trail says why with the figures,
    the run is partial (exit 4), and --force proceeds."""
    _visits(db)
    policies = write_policy(_policy(caps, settings))
    result = api.sweep([policies], db.url)
    assert (result.status, result.exit_code) == ("partial", 4)
    assert result.rules[0].error is not None and "stopped by cap: 30" in result.rules[0].error
    assert db.count("visits") == 40
    capped = _records(db, "rule_capped")
    assert len(capped) == 1
    detail = json.loads(str(capped[0]["detail"]))
    assert (detail["due"], detail["table_rows"]) == (30, 40)
    assert _records(db, "batch") == []

    forced = api.sweep([policies], db.url, force=True)
    assert forced.status == "completed" and db.count("visits") == 10


@freeze_time(NOW)
def test_rows_within_the_cap_run(db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    """A cap equal to the rows due lets the rule run."""
    _visits(db)
    result = api.sweep([write_policy(_policy("    max_rows: 30\n    max_fraction: 0.75\n"))],
                       db.url)
    assert result.status == "completed" and db.count("visits") == 10


def test_a_stop_file_ends_the_run_before_the_next_batch(
        db: Database, write_policy, secret: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """With the stop file present from the start, no batch runs; the run is recorded as stopped
    by the stop file and exits 0; without it the next run does the work."""
    with freeze_time(NOW):
        _visits(db)
    stop_file = tmp_path / "stop"
    stop_file.touch()
    with freeze_time(NOW):
        result = api.sweep([write_policy(_policy())], db.url, batch_size=5,
                           stop=api.StopFlag(stop_file=stop_file))
    assert (result.status, result.stop_reason, result.exit_code) == ("stopped", "stop file", 0)
    assert db.count("visits") == 40
    finished = _records(db, "run_finished")[-1]
    assert finished["status"] == "stopped"
    assert json.loads(str(finished["detail"]))["rules_not_finished"] == ["old-visits"]
    stop_file.unlink()
    with freeze_time(NOW):
        assert api.sweep([write_policy(_policy())], db.url).status == "completed"
    assert db.count("visits") == 10


def test_a_spent_time_budget_stops_after_the_current_batch(
        db: Database, write_policy, secret: str, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """The budget is checked before each batch: once it is spent, the batch under way is
    finished and committed and the run stops with exit 0."""
    with freeze_time(NOW):
        _visits(db)
    stop = api.StopFlag(deadline=float("inf"))
    seen: list[int] = []

    def spend_budget(rule_id: str, rows: int) -> None:
        seen.append(rows)
        stop.deadline = 0.0  # spent after the first batch

    with freeze_time(NOW):
        result = api.sweep([write_policy(_policy())], db.url, batch_size=7, stop=stop,
                           on_batch=spend_budget)
    assert (result.status, result.stop_reason, result.exit_code) == ("stopped", "time budget", 0)
    assert seen == [7]
    assert db.count("visits") == 33
    assert len(_records(db, "batch")) == 1


def test_pause_sleeps_between_batches_that_changed_rows(
        db: Database, write_policy, secret: str, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """--sleep pauses after each batch that changed rows (not after the final empty select)."""
    with freeze_time(NOW):
        _visits(db)
    pauses: list[float] = []
    monkeypatch.setattr(executor.time, "sleep", pauses.append)
    with freeze_time(NOW):
        api.sweep([write_policy(_policy())], db.url, batch_size=10, pause=0.25)
    assert pauses == [0.25, 0.25, 0.25]


@freeze_time(NOW)
def test_a_run_that_died_is_marked_aborted_by_the_next_run(
        db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    """A run with a start record and no terminal record (its process was killed) gets a
    run_aborted record from the next run, which then completes the work."""
    _visits(db)
    audit.ensure_tables(db.engine)
    dead = audit.AuditWriter("dead-run", "0" * 64, Secrets.from_secret(SECRET.encode()).key_id)
    with db.engine.begin() as conn:
        dead.append(conn, "run_started", detail={"pid": 1})
    result = api.sweep([write_policy(_policy())], db.url)
    assert result.aborted_runs == ["dead-run"]
    aborted = _records(db, "run_aborted")
    assert [(r["run_id"], r["status"]) for r in aborted] == [("dead-run", "aborted")]
    summary = api.audit_show(db.url, "dead-run")
    assert summary is not None and summary.status == "aborted"
    assert db.count("visits") == 10
    assert api.sweep([write_policy(_policy())], db.url).aborted_runs == []


@freeze_time(NOW)
def test_cli_run_reports_a_capped_rule_with_exit_4(
        db: Database, write_policy, secret: str, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """`retention run` exits 4 and names the cap; `--force` exits 0."""
    _visits(db)
    policies = write_policy(_policy("    max_rows: 5\n"))
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "-p", str(policies), "-d", db.url, "--format", "json"])
    assert exit_info.value.code == 4
    out = json.loads(capsys.readouterr().out)
    assert "stopped by cap" in out["rules"][0]["error"]
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "-p", str(policies), "-d", db.url, "--force", "--format", "json"])
    assert exit_info.value.code == 0


def test_cli_rejects_a_bad_time_budget(capsys: pytest.CaptureFixture[str]) -> None:
    """--max-runtime takes days, hours or minutes; anything else is a usage error (exit 2)."""
    for bad in ("soon", "1 year"):
        with pytest.raises(SystemExit) as exit_info:
            main(["run", "-d", "sqlite://", "--max-runtime", bad])
        assert exit_info.value.code == 2
    assert "--max-runtime" in capsys.readouterr().err


