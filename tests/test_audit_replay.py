"""`retention audit replay`: after a restore from backup, the recorded erasures are made again,
exactly: the data ends as it was after the sweeps, and rows the trail does not name stay
byte-identical, even rows that have become due since."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import structlog
from freezegun import freeze_time

from retention.audit import GENESIS, audit_table, chain_hash
from retention.audit_replay import replay
from retention.lock import LockHeld, run_lock
from tests.conftest import SECRET, Database
from tests.conftest import run_cli as retention
from tests.test_audit_lookup import (
    OTHER_SECRET,
    POLICY,
    _sweep,
    build_shop,
    export_trail,
    keyring,
)
from tests.test_sweep_end_to_end import NOW

TOOL_TABLES = ("retention_audit", "retention_lock")
SINCE = NOW - timedelta(days=1)
LATER = NOW + timedelta(days=400)  # replayed long after: many more rows are due by then


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("RETENTION_DATABASE_URL", "RETENTION_POLICIES", "RETENTION_SECRET_FILE",
                 "RETENTION_SECRET_PREVIOUS", "RETENTION_SECRET_PREVIOUS_FILE"):
        monkeypatch.delenv(name, raising=False)
    yield
    structlog.reset_defaults()


def data(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the shop's tables (the tool's own left out)."""
    snapshot = db.snapshot()
    return {name: rows for name, rows in snapshot.items() if name not in TOOL_TABLES}


def restore(db: Database, *, keep_trail: bool = False) -> None:
    """What restoring the backup taken before the sweeps does: the shop's tables (and the
    trail, unless kept apart) as they were."""
    meta = sa.MetaData()
    meta.reflect(db.engine)
    drop = [t for t in meta.sorted_tables if not (keep_trail and t.name in TOOL_TABLES)]
    meta.drop_all(db.engine, tables=drop)
    build_shop(db)


def trail(db: Database) -> list[dict[str, Any]]:
    if not sa.inspect(db.engine).has_table(audit_table.name):
        return []
    with db.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(audit_table)
                                              .order_by(audit_table.c.seq)).mappings()]


def _two_nights(db: Database, policies: Path) -> tuple[list[str], dict[str, int]]:
    """Two sweeps 100 days apart; their run ids and target rows changed per rule."""
    rows: dict[str, int] = {}
    runs = []
    for at in (NOW, NOW + timedelta(days=100)):
        result = _sweep(db, policies, at)
        runs.append(result.run_id)
        for rule in result.rules:
            rows[rule.rule_id] = rows.get(rule.rule_id, 0) + rule.counts[rule.table].rows
    return runs, rows


def test_a_replay_from_an_export_repeats_exactly_the_recorded_erasures(
        db: Database, write_policy, secret: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Restore the pre-sweep backup (data and trail roll back), replay from the export a year
    later: every table equals its post-sweep state, deleted related rows and pseudonyms
    included, and no row that became due since is touched. The replay is a run of its own
    whose batch records name the run they repeat, chained onto the restored trail."""
    build_shop(db)
    policies = write_policy(POLICY)
    before = data(db)
    runs, rows = _two_nights(db, policies)
    after = data(db)
    assert after != before
    export = export_trail(db, tmp_path / "trail.jsonl")
    restore(db)
    assert data(db) == before
    with freeze_time(LATER):
        result = replay([policies], db.url, since=SINCE, export=export)
    assert data(db) == after
    assert result.exit_code == 0 and result.replay_of == runs
    assert {r.rule_id: r.rows for r in result.rules} == {k: v for k, v in rows.items() if v}
    assert all(r.found == r.recorded for r in result.rules if r.action == "delete")
    records = trail(db)
    assert [r["kind"] for r in (records[0], records[-1])] == ["run_started", "run_finished"]
    assert json.loads(records[0]["detail"])["replay_of"] == runs
    assert {json.loads(r["detail"])["replay_of"] for r in records if r["kind"] == "batch"} == \
        set(runs)
    assert {r["run_id"] for r in records} == {result.run_id}
    previous = GENESIS
    for record in records:
        assert record["prev_hash"] == previous and record["hash"] == chain_hash(previous, record)
        previous = record["hash"]


def test_a_replay_from_the_database_trail_and_a_second_replay_changes_nothing(
        db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    """With the trail kept (only the shop's tables restored), the replay reads it from the
    database; run again, it finds the rows gone or anonymised and changes nothing."""
    build_shop(db)
    policies = write_policy(POLICY)
    _two_nights(db, policies)
    after = data(db)
    restore(db, keep_trail=True)
    first = replay([policies], db.url, since=SINCE)
    assert data(db) == after and first.exit_code == 0
    second = replay([policies], db.url, since=SINCE)
    assert data(db) == after
    assert sum(r.rows for r in second.rules) == 0


def test_a_dry_run_counts_what_the_replay_then_does_and_writes_nothing(
        db: Database, write_policy, secret: str, tmp_path: Path,  # type: ignore[no-untyped-def]
        capsys: pytest.CaptureFixture[str]) -> None:
    """The dry run (library and CLI) changes no table, the trail included, and counts per rule
    the rows the replay then erases."""
    build_shop(db)
    policies = write_policy(POLICY)
    _two_nights(db, policies)
    export = export_trail(db, tmp_path / "trail.jsonl")
    restore(db)
    untouched = db.snapshot()
    planned = replay([policies], db.url, since=SINCE, export=export, dry_run=True)
    assert db.snapshot() == untouched and planned.run_id is None
    capsys.readouterr()
    assert retention("audit", "replay", "-d", db.url, "-p", str(policies), "--since",
                     SINCE.date().isoformat(), "--from-export", str(export), "--dry-run") == 0
    out = capsys.readouterr().out
    assert "Replay (dry run: nothing changed)" in out and "would erase" in out
    assert db.snapshot() == untouched
    done = replay([policies], db.url, since=SINCE, export=export)
    assert {r.rule_id: r.rows for r in planned.rules} == {r.rule_id: r.rows for r in done.rules}
    assert sum(r.rows for r in done.rules) > 0


def test_since_leaves_earlier_erasures_alone(
        db: Database, write_policy, secret: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Replaying from the second night on repeats only that night's erasures."""
    build_shop(db)
    policies = write_policy(POLICY)
    first_night = _sweep(db, policies, NOW)
    second_night = _sweep(db, policies, NOW + timedelta(days=100))
    export = export_trail(db, tmp_path / "trail.jsonl")
    restore(db)
    result = replay([policies], db.url, since=NOW + timedelta(days=50), export=export)
    assert result.replay_of == [second_night.run_id]
    assert {r.rule_id: r.rows for r in result.rules} == {
        r.rule_id: r.counts[r.table].rows for r in second_night.rules if r.counts[r.table].rows}
    assert first_night.rules[0].counts["orders"].rows > 0
    assert db.count("orders") == 60 - result.rules[0].rows


def test_the_cli_reports_rules_missing_or_changed_in_the_policy_and_exits_4(
        db: Database, write_policy, secret: str, tmp_path: Path,  # type: ignore[no-untyped-def]
        capsys: pytest.CaptureFixture[str]) -> None:
    """A rule the trail names and the policy no longer has, or whose action changed, is
    reported and not replayed (exit 4); the other rules are."""
    build_shop(db)
    policies = write_policy(POLICY)
    _two_nights(db, policies)
    export = export_trail(db, tmp_path / "trail.jsonl")
    restore(db)
    notes = POLICY.split("  - id: old-notes")[1].replace("action: delete",
                                                          "action: {anonymise: {body: ~}}")
    # the policy as it is now: removed-accounts gone, old-notes anonymising instead
    other = write_policy(POLICY.split("  - id: removed-accounts")[0] + "  - id: old-notes"
                         + notes)
    capsys.readouterr()  # the sweeps' log lines
    assert retention("audit", "replay", "-d", db.url, "-p", str(other), "--since",
                     SINCE.date().isoformat(), "--from-export", str(export),
                     "--format", "json") == 4
    out = json.loads(capsys.readouterr().out)
    outcome = {r["rule_id"]: (r["rows_erased"] > 0, r["error"]) for r in out["rules"]}
    assert outcome["guest-orders"] == (True, None)
    assert outcome["removed-accounts"][1].startswith("no rule 'removed-accounts' in the "
                                                     "policy files")
    assert outcome["old-notes"] == (False, "rule 'old-notes' now does 'anonymise', the "
                                           "records say 'delete'; not replayed")
    assert db.count("orders") < 60 and db.count("order_notes") == 60


def test_records_under_an_unknown_secret_are_not_replayed_until_it_is_given(
        db: Database, write_policy, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
        tmp_path: Path) -> None:
    """After a rotation, records made under the old secret cannot be matched: the replay
    changes nothing and says why (exit 4); given the old secret as previous, it replays them
    with the pseudonyms the old secret made."""
    build_shop(db)
    policies = write_policy(POLICY)
    monkeypatch.setenv("RETENTION_SECRET", SECRET)
    _sweep(db, policies)
    after = data(db)
    export = export_trail(db, tmp_path / "trail.jsonl")
    restore(db)
    before = data(db)
    blind = replay([policies], db.url, since=SINCE, export=export,
                   keyring=keyring(OTHER_SECRET))
    assert blind.exit_code == 4 and data(db) == before
    assert all("not replayed: no secret loaded" in (r.error or "") for r in blind.rules)
    seeing = replay([policies], db.url, since=SINCE, export=export,
                    keyring=keyring(OTHER_SECRET, SECRET))
    assert seeing.exit_code == 0 and data(db) == after


def test_an_altered_export_or_a_held_lock_changes_nothing(
        db: Database, write_policy, secret: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """An export record altered (one erasure dropped from a batch) stops the replay before
    it reads the database; a sweep holding the lock makes it refuse (exit 5). Nothing
    changes either way."""
    from retention.errors import AuditTrailInvalid

    build_shop(db)
    policies = write_policy(POLICY)
    _sweep(db, policies)
    export = export_trail(db, tmp_path / "trail.jsonl")
    restore(db)
    untouched = data(db), trail(db)
    lines = export.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[1])
    record["key_hashes"] = record["key_hashes"].split()[0]  # one erasure dropped
    altered = tmp_path / "altered.jsonl"
    altered.write_text("\n".join([lines[0], json.dumps(record), *lines[2:]]) + "\n",
                       encoding="utf-8")
    with pytest.raises(AuditTrailInvalid, match=r"altered.jsonl: record seq 2 does not match"):
        replay([policies], db.url, since=SINCE, export=altered)
    with run_lock(db.engine), pytest.raises(LockHeld):
        replay([policies], db.url, since=SINCE, export=export)
    assert (data(db), trail(db)) == untouched
