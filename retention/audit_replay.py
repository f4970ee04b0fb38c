"""Re-apply recorded erasures after a restore from backup: every row whose keyed hash a batch
record holds is deleted or anonymised again, by the same rule, and nothing else.

The trail names rows only by keyed hashes, so the rows are found the way a lookup finds one:
the keys of the rule's target table are read in keyset batches (keys only, never other
columns), hashed with the key that hashed the record, and matched. The matched keys then go
through the executor exactly as in a run (related rows, strategies, batches, an audit record
per batch, here with `{"replay_of": <run id>}`), with the rule's selection narrowed to those
keys: the rule's filters and expiry are not applied again, since the record already says the
row was erased. A replay is a run of its own (run_started ... run_finished) under the sweep
lock; `dry_run` counts instead, read-only.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, SQLAlchemyError

from . import __version__, audit
from .audit_lookup import load_keyring
from .audit_report import Period
from .audit_source import erasure_records_db, erasure_records_export
from .compile import CompiledRule, compile_rule, not_done
from .database import (
    Catalog,
    connect_check,
    create_engine,
    driver_reason,
    error_label,
    key_in,
    skip_locked,
    supports_for_update,
)
from .errors import EXIT_OK, EXIT_PARTIAL, DatabaseUnavailable, RetentionError
from .executor import (
    BatchResult,
    Count,
    RuleResult,
    apply_rows,  # the batch body; see erase_batch
    new_result,
    retrying,
)
from .lock import run_lock
from .planner import due_rows
from .policy import Policy, load_policy
from .schemacheck import check_schema
from .strategies import Secrets

log = structlog.get_logger("retention")


@dataclass
class Recorded:
    """What the trail says one rule erased: keyed hashes by the key id that made them."""

    rule_id: str
    table: str
    action: str
    runs: list[str] = field(default_factory=list)  # original runs, in trail order
    run_keys: list[str] = field(default_factory=list)  # the key id of each run
    hashes: dict[str, dict[bytes, int]] = field(default_factory=dict)  # key id -> hash -> run
    records: int = 0

    def add(self, record: Mapping[str, Any]) -> None:
        run, key_id = str(record["run_id"]), str(record["key_id"])
        if not self.runs or (self.runs[-1], self.run_keys[-1]) != (run, key_id):
            self.runs.append(run)
            self.run_keys.append(key_id)
        index = len(self.runs) - 1
        table = self.hashes.setdefault(key_id, {})
        for text in (record["key_hashes"] or "").split():
            table[bytes.fromhex(text)] = index  # 16 bytes each: a year of keys fits in memory
        self.records += 1


def collect(records: Iterable[Mapping[str, Any]]) -> tuple[dict[str, Recorded], list[str]]:
    """Recorded erasures per rule id, and the runs that made them, in trail order."""
    found: dict[str, Recorded] = {}
    runs: dict[str, None] = {}
    for record in records:
        rule_id = str(record["rule_id"])
        entry = found.setdefault(rule_id, Recorded(rule_id, str(record["table_name"]),
                                                   str(record["action"])))
        entry.add(record)
        runs[str(record["run_id"])] = None
    return found, list(runs)


@dataclass
class RuleReplay:
    rule_id: str
    table: str
    action: str
    recorded: int  # distinct keyed hashes in the trail
    found: int = 0  # rows of the table now whose hash is recorded
    rows: int = 0  # target rows erased again (dry run: that would be)
    remaining: int = 0  # matched rows still to erase after the replay (held locked)
    result: RuleResult | None = None  # per-table counts of a real replay
    error: str | None = None
    unsearchable: dict[str, int] = field(default_factory=dict)  # key id -> records


@dataclass
class ReplayResult:
    run_id: str | None  # None for a dry run
    since: str
    source: str
    replay_of: list[str]
    rules: list[RuleReplay] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_PARTIAL if any(r.error for r in self.rules) else EXIT_OK


def replay(policies: Sequence[str | Path], database: str, *, since: datetime,
           export: Path | None = None, dry_run: bool = False, batch_size: int | None = None,
           keyring: Mapping[str, Secrets] | None = None) -> ReplayResult:
    """Re-erase the rows recorded as erased since `since`, from the database's trail or from
    an export file. Rules are looked up by id in the current policy."""
    policy = load_policy(policies)
    keyring = dict(keyring) if keyring is not None else load_keyring()
    bounds = Period(since).bounds()[0]
    source = "database" if export is None else f"export {export.name}"
    collected = collect(erasure_records_export(export, bounds)) if export is not None \
        else None
    engine = create_engine(database, write=not dry_run, read_only=dry_run)
    try:
        connect_check(engine)
        if collected is None:
            with engine.connect() as conn:
                collected = collect(erasure_records_db(conn, bounds) if audit.has_trail(conn)
                                    else ())
                conn.rollback()
        recorded, replay_of = collected
        result = ReplayResult(None, bounds, source, replay_of)
        job = _Job(engine, policy, keyring, recorded, result,
                   batch_size or policy.settings.batch_size, Catalog(engine))
        job.check()
        if dry_run:
            job.run(None)
            return result
        with run_lock(engine):
            audit.ensure_tables(engine)
            job.run_recorded()
        return result
    except OperationalError as err:
        raise DatabaseUnavailable(f"database error during replay: {driver_reason(err)}") \
            from None
    finally:
        engine.dispose()


@dataclass
class _Job:
    engine: Engine
    policy: Policy
    keyring: dict[str, Secrets]
    recorded: dict[str, Recorded]
    result: ReplayResult
    batch_size: int
    catalog: Catalog

    def check(self) -> None:
        """The recorded rules of the policy must fit the schema, before anything is written."""
        check_schema(self.policy, self.catalog,
                     [r.id for r in self.policy.rules if r.id in self.recorded])

    @property
    def secrets(self) -> Secrets:
        return next(iter(self.keyring.values()))  # the current secret comes first

    def run_recorded(self) -> None:
        """A real replay: a run of its own, start and finish recorded."""
        run_id = str(uuid.uuid4())
        self.result.run_id = run_id
        writer = audit.AuditWriter(run_id, self.policy.digest, self.secrets.key_id)
        with self.engine.begin() as conn:
            writer.append(conn, "run_started", detail={
                "tool_version": __version__, "as_of": datetime.now(UTC).isoformat(),
                "host": socket.gethostname(), "pid": os.getpid(),
                "dialect": self.engine.dialect.name, "rules": list(self.recorded),
                "replay_of": self.result.replay_of,
                "replay": {"since": self.result.since, "source": self.result.source}})
        started = time.monotonic()
        self.run(writer)
        totals: dict[str, int] = {}
        for rule in self.result.rules:
            for count in (rule.result.counts.values() if rule.result else ()):
                totals[count.action] = totals.get(count.action, 0) + count.rows
        failed = [r.rule_id for r in self.result.rules if r.error]
        with self.engine.begin() as conn:
            writer.append(conn, "run_finished", status="partial" if failed else "completed",
                          detail={"seconds": round(time.monotonic() - started, 3),
                                  "totals": totals, "failed_rules": failed})

    def run(self, writer: audit.AuditWriter | None) -> None:
        """Every recorded rule: those of the policy in its order, then the missing ones."""
        known = [r for r in self.policy.rules if r.id in self.recorded]
        catalog = self.catalog
        now = datetime.now(UTC)
        for rule in known:
            rec = self.recorded[rule.id]
            entry = RuleReplay(rule.id, rec.table, rec.action,
                               sum(len(h) for h in rec.hashes.values()))
            self.result.rules.append(entry)
            compiled = compile_rule(rule, catalog, now, self.policy.financial_year)
            entry.error = _mismatch(compiled, rec)
            if entry.error is None:
                self._rule(compiled, rec, entry, writer)
        for rule_id, rec in self.recorded.items():
            if all(r.id != rule_id for r in known):
                self.result.rules.append(RuleReplay(
                    rule_id, rec.table, rec.action, sum(len(h) for h in rec.hashes.values()),
                    error=f"no rule {rule_id!r} in the policy files: its {rec.records} "
                          f"record(s) were not replayed (restore the policy version that "
                          "had it, or replay with its files)"))

    def _rule(self, compiled: CompiledRule, rec: Recorded, entry: RuleReplay,
              writer: audit.AuditWriter | None) -> None:
        searchable = {k: h for k, h in rec.hashes.items() if k in self.keyring}
        entry.unsearchable = {k: len(h) for k, h in rec.hashes.items() if k not in searchable}
        if writer is not None:
            entry.result = new_result(compiled)
            entry.result.cutoff = None  # a replay selects by recorded keys, not by a cutoff
        try:
            for run_index, keys in self._matches(compiled, searchable):
                entry.found += len(keys)
                entry.rows += self._erase(compiled, keys, rec.runs[run_index],
                                          self.keyring[rec.run_keys[run_index]], entry, writer)
        except (SQLAlchemyError, RetentionError) as err:
            entry.error = f"{type(err).__name__}: {err}" if isinstance(err, RetentionError) \
                else error_label(err)  # a database's message can quote row values
            log.error("replay_rule_failed", rule=entry.rule_id, error=entry.error)
            if writer is not None:
                with self.engine.begin() as conn:
                    writer.append(conn, "rule_failed", rule_id=entry.rule_id,
                                  category=compiled.rule.category, table_name=entry.table,
                                  action=entry.action, detail={"error": entry.error})
            return
        if entry.remaining:
            entry.error = (f"{entry.remaining:,} recorded row(s) were locked by the application "
                           "and skipped; run the replay again")
        if entry.unsearchable:
            ids = ", ".join(f"{k} ({n:,} keys)" for k, n in entry.unsearchable.items())
            entry.error = (f"records written under key id(s) {ids} were not replayed: no "
                           "secret loaded for them (set RETENTION_SECRET_PREVIOUS or "
                           "RETENTION_SECRET_PREVIOUS_FILE)")
        log.info("replay_rule_finished", rule=entry.rule_id, found=entry.found, rows=entry.rows)

    def _matches(self, compiled: CompiledRule, hashes: Mapping[str, Mapping[bytes, int]]) \
            -> Iterable[tuple[int, list[tuple[Any, ...]]]]:
        """Keys of the table's rows whose keyed hash is recorded, a scan batch at a time,
        grouped by the original run that recorded them."""
        root = compiled.root
        key = root.key[0] if len(root.key) == 1 else sa.tuple_(*root.key)
        last: Any = None
        while True:
            stmt = sa.select(*root.key).order_by(*root.key).limit(self.batch_size)
            if last is not None:
                stmt = stmt.where(key > last)
            with self.engine.connect() as conn:
                keys = [tuple(r) for r in conn.execute(stmt)]
                conn.rollback()
            if not keys:
                return
            last = keys[-1][0] if len(root.key) == 1 else sa.tuple_(*keys[-1])
            groups: dict[int, list[tuple[Any, ...]]] = {}
            matched: set[tuple[Any, ...]] = set()
            for key_id, recorded in hashes.items():
                digests = audit.key_hashes(self.keyring[key_id], root.table.name, keys).split()
                for values, digest in zip(keys, digests, strict=True):
                    run = recorded.get(bytes.fromhex(digest))
                    if run is not None and values not in matched:
                        matched.add(values)
                        groups.setdefault(run, []).append(values)
            yield from sorted(groups.items())

    def _erase(self, compiled: CompiledRule, keys: list[tuple[Any, ...]], replay_of: str,
               original: Secrets, entry: RuleReplay, writer: audit.AuditWriter | None) -> int:
        """The rule's action on exactly `keys`, in one transaction with its audit record
        (rows already anonymised are left alone); the target rows changed.

        Pseudonyms come from the secret of the original run, so a restored row gets the
        pseudonym it had; the new record is hashed with the current secret."""
        root = compiled.root
        dialect = self.engine.dialect.name
        pending = not_done(root, dialect)
        match = key_in(root.key, keys, dialect)
        root.where = match if pending is None else sa.and_(match, pending)
        if writer is None:
            return self._due(compiled)
        assert entry.result is not None
        current = self.secrets
        secrets = Secrets(original.pseudonym_key, current.audit_key, current.key_id)
        batch = erase_batch(self.engine, compiled, pending, secrets, writer, replay_of)
        if batch is not None:
            entry.result.batches += 1
            for label, count in batch.counts.items():
                entry.result.counts.setdefault(label, Count(count.table, count.action)).rows \
                    += count.rows
        entry.remaining += self._due(compiled)  # rows the application held locked (skipped)
        return 0 if batch is None else batch.counts[root.label].rows

    def _due(self, compiled: CompiledRule) -> int:
        with self.engine.connect() as conn:
            rows = due_rows(conn, compiled)
            conn.rollback()
        return rows


def erase_batch(engine: Engine, compiled: CompiledRule,
                recheck: sa.ColumnElement[bool] | None, secrets: Secrets,
                writer: audit.AuditWriter, replay_of: str) -> BatchResult | None:
    """One batch as the executor runs it (select and lock, related rows, the rows, the audit
    record), retried the same way, for the rows `compiled.root.where` selects.

    The action's own re-check is `recheck`, not the selection: an UPDATE run once per row
    (Python-computed values) cannot carry the key list MariaDB gets as an expanding IN."""
    root = compiled.root
    rule = compiled.rule
    columns = root.fetch_columns()
    stmt = sa.select(*columns).where(root.where if root.where is not None else sa.true()) \
        .order_by(*root.key)
    if supports_for_update(engine.dialect.name):
        stmt = stmt.with_for_update(skip_locked=skip_locked(engine.dialect))

    def attempt() -> BatchResult | None:
        with engine.begin() as conn:
            rows = conn.execute(stmt).all()
            if not rows:
                return None
            batch = BatchResult(last=tuple(rows[-1][:len(root.key)]))
            batch.keys = apply_rows(conn, root, columns, rows, recheck, batch, secrets)
            if batch.changed:
                writer.append(conn, "batch", rule_id=rule.id, category=rule.category,
                              table_name=rule.table, action=root.action,
                              counts={k: vars(c) for k, c in batch.counts.items()},
                              key_hashes=audit.key_hashes(secrets, rule.table, batch.keys),
                              detail={"replay_of": replay_of})
            return batch

    return retrying(rule.id, attempt)


def _mismatch(compiled: CompiledRule, rec: Recorded) -> str | None:
    """Why the current rule cannot repeat what the record did, or None."""
    if compiled.rule.table != rec.table:
        return (f"rule {rec.rule_id!r} now targets table {compiled.rule.table!r}, the records "
                f"are of {rec.table!r}; not replayed")
    if compiled.root.action != rec.action:
        return (f"rule {rec.rule_id!r} now does {compiled.root.action!r}, the records say "
                f"{rec.action!r}; not replayed")
    return None
