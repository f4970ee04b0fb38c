"""`retention audit lookup`: when a row was deleted or anonymised, by which rule and run,
found from its key through the trail's keyed hashes; across secret rotation; from an export."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from retention import api
from retention.audit_lookup import load_keyring, lookup
from retention.strategies import Secrets
from tests.conftest import SECRET, Database
from tests.conftest import run_cli as retention
from tests.test_sweep_end_to_end import NOW, build
from tests.test_sweep_end_to_end import POLICY as ORDERS_POLICY

pytestmark = pytest.mark.usefixtures("cli_env")

OTHER_SECRET = "another-secret-abcdefghijklmnopqrstuvwxyz"

POLICY = ORDERS_POLICY + """
  - id: old-notes
    category: history
    table: order_notes
    expires: {after: 1 year, from: created_at}
    action: delete
"""


def build_notes(db: Database) -> None:
    """Notes keyed by (order_id, line), two per order, order i's written 30*i days ago."""
    meta = sa.MetaData()
    notes = sa.Table("order_notes", meta,
                     sa.Column("order_id", sa.Integer, primary_key=True, autoincrement=False),
                     sa.Column("line", sa.String(16), primary_key=True),
                     sa.Column("body", sa.String(64)),
                     sa.Column("created_at", sa.DateTime, nullable=False))
    db.create(meta)
    db.insert(notes, [{"order_id": i, "line": line, "body": f"call Kari {i}",
                       "created_at": NOW - timedelta(days=30 * i)}
                      for i in range(1, 31) for line in ("billing", "shipping")])


def build_shop(db: Database) -> None:
    build(db)
    build_notes(db)


def export_trail(db: Database, path: Path) -> Path:
    """The trail exported as an operator keeps it: `retention audit export` (JSON Lines, or
    CSV for a *.csv path)."""
    fmt = ["--format", "csv"] if path.suffix == ".csv" else []
    assert retention("audit", "export", "-d", db.url, "--since", "2000-01-01", "-o", str(path),
                     *fmt) == 0
    return path


def keyring(*secrets: str) -> dict[str, Secrets]:
    env = {"RETENTION_SECRET": secrets[0]}
    if len(secrets) > 1:
        env["RETENTION_SECRET_PREVIOUS"] = secrets[1]
    return load_keyring(env)


def _sweep(db: Database, policies: Path, at: datetime = NOW) -> api.RunResult:
    with freeze_time(at):
        return api.sweep([policies], db.url, batch_size=7)


def test_a_deleted_and_an_anonymised_row_are_found_with_rule_run_and_time(
        db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    """Order 30 (a guest's, 1,200 days old) was deleted by guest-orders, order 1 anonymised by
    removed-accounts, in the run and at the time the trail says; order 3 (too recent) and a
    key that never existed have no record. The key typed as text finds an integer key."""
    build_shop(db)
    run = _sweep(db, write_policy(POLICY))
    ring = keyring(SECRET)
    deleted = lookup(db.url, "orders", ["30"], ring)
    assert [(m.rule_id, m.action, m.category, m.run_id) for m in deleted.matches] == [
        ("guest-orders", "delete", "history", run.run_id)]
    assert deleted.matches[0].recorded_at.startswith(NOW.date().isoformat())
    assert deleted.complete and deleted.records > 0
    anonymised = lookup(db.url, "orders", ["1"], ring)
    assert [(m.rule_id, m.action) for m in anonymised.matches] == [
        ("removed-accounts", "anonymise")]
    for key in ("3", "999", "30 "):
        missing = lookup(db.url, "orders", [key], ring)
        assert missing.matches == [] and missing.complete


def test_composite_keys_are_given_column_by_column(
        db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    """(20, 'billing') of order_notes was deleted; the same key in the other column order, or
    a key of a recent note, is not in the trail."""
    build_shop(db)
    _sweep(db, write_policy(POLICY))
    ring = keyring(SECRET)
    assert [m.rule_id for m in lookup(db.url, "order_notes", ["20", "billing"], ring).matches] \
        == ["old-notes"]
    assert lookup(db.url, "order_notes", ["billing", "20"], ring).matches == []
    assert lookup(db.url, "order_notes", ["2", "billing"], ring).matches == []


def test_related_rows_are_answered_through_their_parent_table(
        db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    """Only the rules' target rows are hashed: asking about a related table finds no record
    and names the rules and parent tables whose keys answer for it."""
    build_shop(db)
    _sweep(db, write_policy(POLICY))
    result = lookup(db.url, "order_grid", ["30"], keyring(SECRET))
    assert result.matches == [] and result.records == 0
    assert result.parents == [("guest-orders", "orders"), ("removed-accounts", "orders")]


def test_the_cli_answers_without_printing_the_key(
        db: Database, write_policy, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
        capsys: pytest.CaptureFixture[str]) -> None:
    """Text and JSON answers name time, rule, run and action but never the key's values;
    no record is exit 0 too; a missing secret exits 3 with one line."""
    build_shop(db)
    monkeypatch.setenv("RETENTION_SECRET", SECRET)
    run = _sweep(db, write_policy(POLICY))
    assert retention("audit", "lookup", "-d", db.url, "--table", "order_notes",
                     "--key", "20", "--key", "billing") == 0
    out = capsys.readouterr().out
    assert "deleted by rule old-notes (category history)" in out and run.run_id in out
    assert "billing" not in out
    assert retention("audit", "lookup", "-d", db.url, "--table", "order_notes", "--key", "2",
                     "--key", "shipping", "--format", "json") == 0
    answer = json.loads(capsys.readouterr().out)
    assert (answer["found"], answer["complete"], answer["matches"]) == (False, True, [])
    assert "shipping" not in json.dumps(answer)
    assert retention("audit", "lookup", "-d", db.url, "--table", "order_grid",
                     "--key", "30") == 0
    assert "look up the parent row (--table orders" in capsys.readouterr().out
    monkeypatch.delenv("RETENTION_SECRET")
    assert retention("audit", "lookup", "-d", db.url, "--table", "orders", "--key", "30") == 3
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: RETENTION_SECRET is not set") and \
        err.count("\n") == 1


def test_records_of_a_rotated_secret_need_the_previous_secret(
        db: Database, write_policy, monkeypatch: pytest.MonkeyPatch,  # type: ignore[no-untyped-def]
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run under the old secret, then one under a new one: with only the new secret the old
    run's row cannot be answered (exit 4, naming the old key id); with the old secret given
    as previous (variable or file), both are found."""
    build_shop(db)
    policies = write_policy(POLICY)
    monkeypatch.setenv("RETENTION_SECRET", SECRET)
    first = _sweep(db, policies)
    monkeypatch.setenv("RETENTION_SECRET", OTHER_SECRET)
    second = _sweep(db, policies, NOW + timedelta(days=200))  # guest order 24 is due by then
    old_id = Secrets.from_secret(SECRET.encode()).key_id
    new_only = lookup(db.url, "orders", ["30"], keyring(OTHER_SECRET))
    assert new_only.matches == [] and not new_only.complete
    assert list(new_only.unsearchable) == [old_id]
    assert [m.run_id for m in lookup(db.url, "orders", ["24"], keyring(OTHER_SECRET)).matches] \
        == [second.run_id]
    assert retention("audit", "lookup", "-d", db.url, "--table", "orders", "--key", "30") == 4
    assert f"written under key id {old_id}, which is not the current secret" in \
        capsys.readouterr().out
    both = keyring(OTHER_SECRET, SECRET)
    assert [m.run_id for m in lookup(db.url, "orders", ["30"], both).matches] == [first.run_id]
    secrets_file = tmp_path / "previous-secrets"
    secrets_file.write_text(f"{'x' * 40}\n\n{SECRET}\n", encoding="utf-8")
    monkeypatch.setenv("RETENTION_SECRET_PREVIOUS_FILE", str(secrets_file))
    assert retention("audit", "lookup", "-d", db.url, "--table", "orders", "--key", "30") == 0
    assert first.run_id in capsys.readouterr().out
    secrets_file.write_text(f"{SECRET}\nshort\n", encoding="utf-8")
    assert retention("audit", "lookup", "-d", db.url, "--table", "orders", "--key", "30") == 3
    err = capsys.readouterr().err
    assert f"{secrets_file}) line 2: the secret is 5 bytes long" in err and "short" not in err


def test_an_export_answers_like_the_database_and_an_altered_one_is_refused(
        db: Database, write_policy, secret: str, tmp_path: Path,  # type: ignore[no-untyped-def]
        capsys: pytest.CaptureFixture[str]) -> None:
    """--from-export (JSON Lines or CSV) needs no database and gives the same answer; a record
    whose content no longer matches its hash stops the lookup with exit 6 naming the file and
    the record."""
    build_shop(db)
    _sweep(db, write_policy(POLICY))
    path = export_trail(db, tmp_path / "trail.jsonl")
    as_csv = export_trail(db, tmp_path / "trail.csv")
    ring = keyring(SECRET)
    for key in (["30"], ["1"], ["3"]):
        assert lookup(None, "orders", key, ring, export=path).matches == \
            lookup(None, "orders", key, ring, export=as_csv).matches == \
            lookup(db.url, "orders", key, ring).matches
    lines = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[2])
    record["rule_id"] = "someone-else"
    lines[2] = json.dumps(record)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    capsys.readouterr()
    assert retention("audit", "lookup", "--from-export", str(path), "--table", "orders",
                     "--key", "30") == 6
    assert capsys.readouterr().err == (f"error: {path}: record seq 3 does not match its hash: "
                                       "the export was altered or is not a retention audit "
                                       "export; nothing was changed\n")
