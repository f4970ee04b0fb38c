"""`retention audit verify` / `export` and anchors: an untouched trail verifies; every kind of
tampering is found and named by its first sequence number, on every backend."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import structlog
from freezegun import freeze_time

from retention import api
from retention.audit import RECORD_FIELDS, AuditWriter, audit_table, chain_hash
from retention.audit_api import export, verify_database, verify_file
from retention.audit_export import append_anchor, read_anchors
from retention.audit_verify import Anchor, Report, verify
from retention.errors import EXIT_AUDIT, PolicyError
from retention.lock import run_lock
from retention.policy import load_policy
from tests.conftest import CATEGORY_YAML, VISITS_POLICY, Database, make_visits
from tests.conftest import run_cli as retention

DAY1 = datetime(2026, 3, 1, 2, 0, 0)
DAY2 = DAY1 + timedelta(days=1)


@pytest.fixture(autouse=True)
def reset_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()  # the CLI bound its logger to a test's captured stderr


def two_runs(db: Database, write_policy, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """Two sweeps a day apart: seq 1..6 (start, 4 batches, finish), then seq 7..10 (start,
    2 batches, finish); each run's head appended to an anchor file, which is returned."""
    policies = write_policy(VISITS_POLICY)
    anchors = tmp_path / "anchors.jsonl"
    with freeze_time(DAY1):
        visits = make_visits(db, old=10, now=DAY1)
        first = api.sweep([policies], db.url, batch_size=3)
    with freeze_time(DAY2):
        db.insert(visits, [{"id": 100 + i, "created_at": DAY2 - timedelta(days=400)}
                           for i in range(5)])
        second = api.sweep([policies], db.url, batch_size=3)
    with open(anchors, "a", encoding="utf-8") as file:
        for result in (first, second):
            assert result.head is not None
            append_anchor(file, *result.head, result.run_id)
    assert [first.head and first.head[0], second.head and second.head[0]] == [6, 10]
    return anchors


def records(db: Database) -> list[dict[str, Any]]:
    with db.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(audit_table)
                                              .order_by(audit_table.c.seq)).mappings()]


def update(db: Database, seq: int, **values: Any) -> None:
    with db.engine.begin() as conn:
        conn.execute(audit_table.update().where(audit_table.c.seq == seq).values(**values))


def first_fault(report: Report) -> tuple[int | None, str]:
    fault = report.first_fault()
    assert fault is not None, report.lines()
    return fault.seq, fault.kind


# --------------------------------------------------------------------------- the database


def test_untouched_trail_verifies_with_its_anchors(
        db: Database, write_policy, tmp_path: Path, secret: str) -> None:  # type: ignore[no-untyped-def]
    """Ten records in two closed runs, both anchors matching, the head named."""
    anchors = read_anchors(two_runs(db, write_policy, tmp_path))
    report = verify_database(db.url, anchors)
    assert report.ok, report.lines()
    head = records(db)[-1]
    assert report.summary() == (f"10/10 records valid, 2/2 runs closed, 2/2 anchors match, "
                                f"head seq=10 hash={head['hash']}")


def test_empty_database_verifies_as_an_empty_trail(db: Database) -> None:
    """No trail table yet: nothing to fault, and the summary says the trail is empty."""
    with db.engine.connect() as conn:  # SQLite: the file exists, empty
        conn.execute(sa.text("SELECT 1"))
    report = verify_database(db.url)
    assert report.ok
    assert report.summary() == ("0/0 records valid, 0/0 runs closed, no anchors given, "
                                "trail empty")


def test_edited_count_is_found_at_its_seq(
        db: Database, write_policy, tmp_path: Path, secret: str) -> None:  # type: ignore[no-untyped-def]
    """Changing the counts of batch seq 3 breaks that record's hash, and only that one."""
    two_runs(db, write_policy, tmp_path)
    update(db, 3, counts=records(db)[2]["counts"].replace('"rows":3', '"rows":1'))
    report = verify_database(db.url)
    assert first_fault(report) == (3, "edited")
    assert len(report.faults) == 1
    assert report.summary().startswith("9/10 records valid, 2/2 runs closed")


def test_deleted_record_is_named_by_its_missing_seq(
        db: Database, write_policy, tmp_path: Path, secret: str) -> None:  # type: ignore[no-untyped-def]
    """Deleting seq 4 leaves a gap: the fault names seq 4 as missing."""
    two_runs(db, write_policy, tmp_path)
    with db.engine.begin() as conn:
        conn.execute(audit_table.delete().where(audit_table.c.seq == 4))
    report = verify_database(db.url)
    assert first_fault(report) == (4, "missing")
    assert "seq 4 missing" in report.faults[0].message


def test_swapped_records_are_found_at_the_lower_seq(
        db: Database, write_policy, tmp_path: Path, secret: str) -> None:  # type: ignore[no-untyped-def]
    """Exchanging the contents of seq 3 and seq 5 (each keeping its seq) faults seq 3."""
    two_runs(db, write_policy, tmp_path)
    rows = records(db)
    content = [n for n in (*RECORD_FIELDS, "hash") if n != "seq"]
    update(db, 3, **{n: rows[4][n] for n in content})
    update(db, 5, **{n: rows[2][n] for n in content})
    assert first_fault(verify_database(db.url)) == (3, "edited")


def test_replaced_record_with_a_recomputed_hash_is_found(
        db: Database, write_policy, tmp_path: Path, secret: str) -> None:  # type: ignore[no-untyped-def]
    """A forged record put in place of seq 4, hashed over the true prev_hash, is consistent
    in itself; its successor's prev_hash gives it away, and seq 4 is named."""
    two_runs(db, write_policy, tmp_path)
    forged = records(db)[3]
    forged["counts"] = forged["counts"].replace('"rows":3', '"rows":30')
    update(db, 4, counts=forged["counts"], hash=chain_hash(forged["prev_hash"], forged))
    assert first_fault(verify_database(db.url)) == (4, "replaced")


@pytest.mark.parametrize("run", ["closed", "unknown"])
def test_forged_record_appended_at_the_tail_is_found_by_its_run(
        db: Database, write_policy, tmp_path: Path, secret: str, run: str) -> None:  # type: ignore[no-untyped-def]
    """A record appended after the head with a correct prev_hash and hash passes the chain;
    as a batch of a run that already finished, or of a run that never started, it is a
    fault at its own seq (11)."""
    anchors = read_anchors(two_runs(db, write_policy, tmp_path))
    last = records(db)[-1]
    run_id = last["run_id"] if run == "closed" else "00000000-0000-0000-0000-000000000000"
    with db.engine.begin() as conn:
        AuditWriter(run_id, last["policy_digest"], last["key_id"]).append(
            conn, "batch", rule_id="old-visits", table_name="visits", action="delete",
            counts={"visits": {"table": "visits", "action": "delete", "rows": 1}})
    report = verify_database(db.url, anchors)
    assert first_fault(report) == (11, "structure")
    assert "seq 11 after the last anchor (seq 10)" in report.notes[0]


def test_truncated_tail_passes_the_chain_and_fails_the_anchors(
        db: Database, write_policy, tmp_path: Path, secret: str) -> None:  # type: ignore[no-untyped-def]
    """Deleting the whole second run (seq 7..10) leaves a valid chain of closed runs; the
    anchor of seq 10 shows the cut, naming the first missing seq (7) and the anchor."""
    anchors = read_anchors(two_runs(db, write_policy, tmp_path))
    with db.engine.begin() as conn:
        conn.execute(audit_table.delete().where(audit_table.c.seq >= 7))
    assert verify_database(db.url).ok
    report = verify_database(db.url, anchors)
    assert first_fault(report) == (7, "anchor")
    assert "(seq 10) has no record: the trail ends at seq 6" in report.faults[0].message
    assert report.summary().startswith("6/6 records valid, 1/1 runs closed, 1/2 anchors match")


def test_archived_head_of_the_trail_is_vouched_for_by_its_anchor(
        db: Database, write_policy, tmp_path: Path, secret: str) -> None:  # type: ignore[no-untyped-def]
    """With seq 1..6 (the first run, up to its anchored head) archived and deleted, the rest
    verifies when the anchor of seq 6 matches seq 7's prev_hash; without anchors seq 1..6
    are missing."""
    anchors = read_anchors(two_runs(db, write_policy, tmp_path))
    with db.engine.begin() as conn:
        conn.execute(audit_table.delete().where(audit_table.c.seq <= 6))
    report = verify_database(db.url, anchors)
    assert report.ok, report.lines()
    assert "seq 1..6 are not here (archived)" in report.notes[0]
    assert report.summary().startswith("4/4 records valid, 1/1 runs closed, 2/2 anchors match")
    assert first_fault(verify_database(db.url)) == (1, "missing")
    forged = [Anchor(6, "f" * 64, source="anchors.jsonl", line=1)]
    assert first_fault(verify_database(db.url, forged)) == (1, "missing")


def test_cutting_a_runs_end_leaves_it_unclosed(
        db: Database, write_policy, tmp_path: Path, secret: str) -> None:  # type: ignore[no-untyped-def]
    """Deleting only the last record (run 2's run_finished) leaves run 2 never closed: the
    fault names its start, seq 7, even without anchors."""
    two_runs(db, write_policy, tmp_path)
    with db.engine.begin() as conn:
        conn.execute(audit_table.delete().where(audit_table.c.seq == 10))
    report = verify_database(db.url)
    assert first_fault(report) == (7, "unclosed")
    assert "1/2 runs closed" in report.summary()


def test_rechained_forgery_passes_without_anchors_and_fails_with_them(
        db: Database, write_policy, tmp_path: Path, secret: str) -> None:  # type: ignore[no-untyped-def]
    """Editing seq 3 and recomputing every hash after it leaves a valid chain; the first
    anchor at or after the edit (seq 6) no longer matches."""
    anchors = read_anchors(two_runs(db, write_policy, tmp_path))
    rows = records(db)
    rows[2]["counts"] = rows[2]["counts"].replace('"rows":3', '"rows":1')
    previous = rows[1]["hash"]
    for row in rows[2:]:
        row["prev_hash"] = previous
        row["hash"] = previous = chain_hash(previous, row)
        update(db, row["seq"], counts=row["counts"], prev_hash=row["prev_hash"],
               hash=row["hash"])
    assert verify_database(db.url).ok
    report = verify_database(db.url, anchors)
    assert first_fault(report) == (6, "anchor")
    assert "records between seq 1 and 6 were rewritten" in report.faults[0].message
    assert "0/2 anchors match" in report.summary()


def _start(db: Database, host: str, pid: int) -> str:
    """Append a run_started record as a sweep on `host`/`pid` writes it; no terminal."""
    last = records(db)[-1]
    run_id = "11111111-2222-3333-4444-555555555555"
    with db.engine.begin() as conn:
        AuditWriter(run_id, last["policy_digest"], last["key_id"]).append(
            conn, "run_started", detail={"host": host, "pid": pid})
    return run_id


def test_run_never_closed_is_a_fault_naming_its_start(
        db: Database, write_policy, tmp_path: Path, secret: str) -> None:  # type: ignore[no-untyped-def]
    """A run that started (seq 11) and has no terminal record, while nobody holds the sweep
    lock, died or lost its end: a fault at seq 11."""
    two_runs(db, write_policy, tmp_path)
    run_id = _start(db, "elsewhere", 4242)
    report = verify_database(db.url)
    assert first_fault(report) == (11, "unclosed")
    assert run_id in report.faults[0].message


def test_run_in_progress_is_not_a_fault(
        db: Database, write_policy, tmp_path: Path, secret: str) -> None:  # type: ignore[no-untyped-def]
    """The open run whose host and pid hold the sweep lock is running, not a fault; another
    open run is a fault even then."""
    two_runs(db, write_policy, tmp_path)
    engine = sa.create_engine(db.url) if db.backend == "sqlite" else db.engine
    _start(db, socket.gethostname(), os.getpid())
    with run_lock(engine):
        report = verify_database(db.url)
    assert report.ok, report.lines()
    assert report.running == ["11111111-2222-3333-4444-555555555555"]
    assert "2/3 runs closed (1 running)" in report.summary()
    update(db, 11, detail=json.dumps({"host": "elsewhere", "pid": 1}))
    update(db, 11, hash=chain_hash(records(db)[9]["hash"], records(db)[10]))
    with run_lock(engine):
        assert first_fault(verify_database(db.url)) == (11, "unclosed")


# --------------------------------------------------------------------------- exports


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_export_round_trips_through_offline_verification(
        db: Database, write_policy, tmp_path: Path, secret: str, fmt: str) -> None:  # type: ignore[no-untyped-def]
    """An export holds every record in seq order, with a sha256sum-format sidecar; verifying
    it offline (no database) with the anchors passes."""
    anchors = read_anchors(two_runs(db, write_policy, tmp_path))
    output = tmp_path / f"trail.{fmt}"
    result = export(db.url, output, since=DAY1 - timedelta(days=1), fmt=fmt)
    assert (result.count, result.first, result.last) == (10, 1, 10)
    sidecar = (tmp_path / f"trail.{fmt}.sha256").read_text()
    assert sidecar.endswith(f"  trail.{fmt}\n") and len(sidecar.split()[0]) == 64
    db.engine.dispose()
    report = verify_file(output, anchors)
    assert report.ok, report.lines()
    assert report.summary().startswith("10/10 records valid, 2/2 runs closed, 2/2 anchors match")
    assert f"trail.{fmt} matches trail.{fmt}.sha256" in report.lines()[1:][-1]


def test_export_of_a_later_period_starts_mid_trail(
        db: Database, write_policy, tmp_path: Path, secret: str) -> None:  # type: ignore[no-untyped-def]
    """--since the second day exports seq 7..10: its first prev_hash is taken as given (and
    vouched for by the anchor of seq 6); an export until the first day holds seq 1..6."""
    anchors = read_anchors(two_runs(db, write_policy, tmp_path))
    later = export(db.url, tmp_path / "later.jsonl", since=DAY2)
    assert (later.first, later.last) == (7, 10)
    report = verify_file(tmp_path / "later.jsonl", anchors)
    assert report.ok and report.mid_trail
    assert "2/2 anchors match" in report.summary()
    assert "chain checked from seq 7" in "\n".join(report.lines())
    earlier = export(db.url, tmp_path / "earlier.jsonl", since=DAY1, until=DAY2)
    assert (earlier.first, earlier.last) == (1, 6)
    report = verify_file(tmp_path / "earlier.jsonl", anchors)
    assert report.ok, report.lines()
    assert "1/1 anchors match (1 outside these records, not checked)" in report.summary()


def _exported(db: Database, write_policy, tmp_path: Path) -> tuple[Path, list[str]]:  # type: ignore[no-untyped-def]
    two_runs(db, write_policy, tmp_path)
    output = tmp_path / "trail.jsonl"
    export(db.url, output, since=DAY1)
    return output, output.read_text(encoding="utf-8").splitlines(keepends=True)


def test_modified_export_line_fails_at_its_seq(
        db: Database, write_policy, tmp_path: Path, secret: str) -> None:  # type: ignore[no-untyped-def]
    """A count changed in line 5 of the export fails at seq 5, and the checksum no longer
    matches."""
    output, lines = _exported(db, write_policy, tmp_path)
    record = json.loads(lines[4])
    counts = json.loads(record["counts"])
    counts["visits"]["rows"] += 1
    record["counts"] = json.dumps(counts)
    lines[4] = json.dumps(record) + "\n"
    output.write_text("".join(lines), encoding="utf-8")
    report = verify_file(output)
    assert first_fault(report) == (5, "edited")
    assert [f.kind for f in report.faults] == ["edited", "file"]


def test_reordered_export_lines_fail_at_the_lower_seq(
        db: Database, write_policy, tmp_path: Path, secret: str) -> None:  # type: ignore[no-untyped-def]
    """Lines of seq 3 and 4 exchanged: seq 3 is out of order; nothing is reported missing."""
    output, lines = _exported(db, write_policy, tmp_path)
    lines[2], lines[3] = lines[3], lines[2]
    output.write_text("".join(lines), encoding="utf-8")
    report = verify_file(output)
    assert first_fault(report) == (3, "reordered")
    assert {f.kind for f in report.faults} == {"reordered", "file"}


def test_bad_checksum_file_fails(
        db: Database, write_policy, tmp_path: Path, secret: str) -> None:  # type: ignore[no-untyped-def]
    """An untouched export whose .sha256 does not match fails as a file fault."""
    output, _ = _exported(db, write_policy, tmp_path)
    (tmp_path / "trail.jsonl.sha256").write_text("0" * 64 + "  trail.jsonl\n")
    report = verify_file(output)
    assert [(f.seq, f.kind) for f in report.faults] == [(None, "file")]


# --------------------------------------------------------------------------- pure checks


def _chain(kinds: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Records (run id, kind) chained from the genesis, as the writer would."""
    out: list[dict[str, Any]] = []
    previous = "0" * 64
    for seq, (run_id, kind) in enumerate(kinds, 1):
        record = {name: None for name in RECORD_FIELDS}
        record.update(seq=seq, recorded_at="2026-03-01T02:00:00.000000Z", run_id=run_id,
                      kind=kind, policy_digest="d" * 64, prev_hash=previous)
        record["hash"] = previous = chain_hash(previous, record)
        out.append(record)
    return out


def test_runs_must_close_before_the_next_starts_and_close_once() -> None:
    """A run left open when the next starts faults at its start; a second terminal record
    faults at its own seq; a late batch after run_aborted is only a note."""
    trail = _chain([("a", "run_started"), ("a", "batch"), ("b", "run_started"),
                    ("b", "run_finished"), ("b", "run_finished")])
    report = verify(trail)
    assert [(f.seq, f.kind) for f in report.faults] == [(1, "unclosed"), (5, "structure")]
    late = _chain([("a", "run_started"), ("a", "run_aborted"), ("a", "batch"),
                   ("b", "run_started"), ("b", "run_finished")])
    report = verify(late)
    assert report.ok and "after the run_aborted at seq 2" in report.notes[0]


def test_an_excerpt_may_start_inside_a_run_the_whole_trail_may_not() -> None:
    """Records from seq 3 on: as an export, the run begun before them is accepted and must
    still close before the next run starts; as the whole trail, seq 1..2 are missing."""
    trail = _chain([("a", "run_started"), ("a", "batch"), ("a", "batch"), ("a", "run_finished"),
                    ("b", "run_started"), ("b", "run_finished")])[2:]
    report = verify(trail, excerpt=True)
    assert report.ok and report.mid_trail and report.first_seq == 3
    assert report.summary().startswith("4/4 records valid, 1/1 runs closed")
    assert first_fault(verify(trail)) == (1, "missing")
    unclosed = [r for r in trail if r["kind"] != "run_finished" or r["run_id"] != "a"]
    assert first_fault(verify(unclosed, excerpt=True)) == (3, "unclosed")


def test_anchor_file_edited_to_name_another_run_is_a_fault() -> None:
    """An anchor whose hash matches but whose run id was changed faults at its seq."""
    trail = _chain([("a", "run_started"), ("a", "run_finished")])
    anchor = Anchor(2, trail[1]["hash"], run_id="x", source="anchors.jsonl", line=1)
    assert [(f.seq, f.kind) for f in verify(trail, anchors=[anchor]).faults] == [(2, "anchor")]


# --------------------------------------------------------------------------- command line


def test_cli_run_anchors_and_verify_detects_an_edit(
        db: Database, write_policy, tmp_path: Path, secret: str,
        capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """`run --anchor-file` logs the head (a JSON event on stderr) and appends it; `audit
    verify` exits 0 with the summary on stdout, then 6 with one error line naming the edited
    seq."""
    make_visits(db, old=5)
    anchors = tmp_path / "anchors.jsonl"
    policies = str(write_policy(VISITS_POLICY))
    assert retention("run", "-p", policies, "-d", db.url, "--batch-size", "2",
                     "--anchor-file", str(anchors), "--format", "json") == 0
    out, err = capsys.readouterr()
    head = json.loads(out)["audit_head"]
    events = [json.loads(line) for line in err.splitlines()]
    logged = next(e for e in events if e["event"] == "audit_head")
    assert (logged["seq"], logged["hash"], logged["anchor_file"]) == (
        head["seq"], head["hash"], str(anchors))
    line = json.loads(anchors.read_text())
    assert (line["seq"], line["hash"], line["run_id"]) == (head["seq"], head["hash"],
                                                           json.loads(out)["run_id"])
    assert retention("audit", "verify", "-d", db.url, "--anchors", str(anchors)) == 0
    out, err = capsys.readouterr()
    assert out.startswith(f"5/5 records valid, 1/1 runs closed, 1/1 anchors match, "
                          f"head seq=5 hash={head['hash']}\n")
    update(db, 2, counts="{}")
    assert retention("audit", "verify", "-d", db.url, "--anchors", str(anchors)) == EXIT_AUDIT
    out, err = capsys.readouterr()
    assert "FAULT seq 2 (edited)" in out
    assert err.startswith("error: audit trail failed verification: first fault at seq 2: ")
    assert len(err.splitlines()) == 1


def test_cli_run_with_an_unwritable_anchor_file_exits_2_before_changing_anything(
        db: Database, write_policy, tmp_path: Path, secret: str,
        capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """The anchor file is opened before the run: a path that cannot be written is a usage
    error, and no row is deleted."""
    make_visits(db, old=3)
    assert retention("run", "-p", str(write_policy(VISITS_POLICY)), "-d", db.url,
                     "--anchor-file", str(tmp_path / "missing-dir" / "anchors.jsonl")) == 2
    assert "Invalid value for '--anchor-file'" in capsys.readouterr().err
    assert db.count("visits") == 3


def test_cli_export_and_verify_file(
        db: Database, write_policy, tmp_path: Path, secret: str,
        capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """`audit export` writes FILE and FILE.sha256; `verify --file` checks it offline (json
    output); a second export to the same name is refused (2); --database with --file is
    a usage error (2); a broken anchor file exits 6 naming its line."""
    two_runs(db, write_policy, tmp_path)
    output = tmp_path / "audit-2026.jsonl"
    assert retention("audit", "export", "-d", db.url, "--since", "2026-03-01", "--until",
                     "2026-03-01", "-o", str(output)) == 0
    assert "exported 6 records (seq 1..6)" in capsys.readouterr().err
    assert retention("audit", "verify", "--file", str(output), "--format", "json") == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["ok"], result["records"], result["head"]["seq"]) == (True, 6, 6)
    assert retention("audit", "export", "-d", db.url, "--since", "2026-03-01",
                     "-o", str(output)) == 2
    assert "exists" in capsys.readouterr().err
    assert retention("audit", "verify", "-d", db.url, "--file", str(output)) == 2
    capsys.readouterr()
    bad = tmp_path / "bad-anchors.jsonl"
    bad.write_text('{"seq": 6, "hash": "nope"}\n')
    assert retention("audit", "verify", "--file", str(output), "--anchors", str(bad)) == 6
    assert f"{bad}:1: not an anchor" in capsys.readouterr().err


@pytest.mark.parametrize(("fmt", "name"), [("csv", "x.jsonl"), ("jsonl", "x.csv")])
def test_cli_export_name_must_tell_the_format(
        fmt: str, name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """verify tells CSV from JSON Lines by the name, so export refuses a misleading one."""
    assert retention("audit", "export", "-d", f"sqlite:///{tmp_path / 'x.db'}", "--since",
                     "2026-01-01", "--format", fmt, "-o", str(tmp_path / name)) == 2
    assert "name a CSV export *.csv" in capsys.readouterr().err
    assert not (tmp_path / name).exists()


# --------------------------------------------------------------------------- policies


@pytest.mark.parametrize("yaml", [
    "rules:\n  - {id: r, category: history, table: retention_audit, action: delete}\n",
    "rules:\n  - id: r\n    category: history\n    table: visits\n    action: delete\n"
    "    related: [{table: RETENTION_LOCK, on: {id: id}, action: delete}]\n",
])
def test_no_rule_may_change_the_tools_own_tables(write_policy, yaml: str) -> None:  # type: ignore[no-untyped-def]
    """A rule or related table naming retention_audit or retention_lock is a policy error,
    found without a database."""
    with pytest.raises(PolicyError) as info:
        load_policy([write_policy(CATEGORY_YAML + yaml)])
    assert len(info.value.issues) == 1
    assert "is the tool's own table; no rule may change it" in str(info.value)
