"""Answer "was this row erased, when, by which rule?" from the trail, given the row's key.

The trail holds no keys, only their keyed hashes (`audit.key_hash`, HMAC with a key derived
from the operator's secret), so the question needs the secret: the key is hashed the way the
run hashed it and looked for in the batch records of that table. Only the target rows of a
rule are hashed; rows of related tables and database cascades are counted, not named, and
are answered through their parent row (the result names the parent tables to ask about).

Secrets rotate: each record carries the id of the key that hashed it. Older secrets can be
given beside the current one (`RETENTION_SECRET_PREVIOUS`, or one per line in the file named by
`RETENTION_SECRET_PREVIOUS_FILE`); records written under a key none of them matches are
reported as not searchable instead of silently answering "no record".
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .audit import audit_table, has_trail, key_hash
from .audit_source import read_export
from .database import connect_check, create_engine
from .errors import ConfigError
from .secrets import MIN_SECRET_BYTES, load_secrets
from .strategies import Secrets

PREVIOUS_ENV = "RETENTION_SECRET_PREVIOUS"
PREVIOUS_FILE_ENV = "RETENTION_SECRET_PREVIOUS_FILE"


def load_keyring(env: Mapping[str, str] | None = None) -> dict[str, Secrets]:
    """The current secret's keys and those of older secrets, by key id (current first)."""
    env = os.environ if env is None else env
    current = load_secrets(env)
    ring = {current.key_id: current}
    older: list[tuple[str, bytes]] = []
    if env.get(PREVIOUS_ENV):
        older.append((PREVIOUS_ENV, env[PREVIOUS_ENV].encode()))
    if env.get(PREVIOUS_FILE_ENV):
        path = Path(env[PREVIOUS_FILE_ENV])
        try:
            lines = path.read_bytes().splitlines()
        except OSError as err:
            raise ConfigError(f"{PREVIOUS_FILE_ENV}: cannot read {path}: {err.strerror}") \
                from None
        older += [(f"{PREVIOUS_FILE_ENV} ({path}) line {n}", line.rstrip(b"\r"))
                  for n, line in enumerate(lines, 1) if line.strip()]
    for source, secret in older:
        if len(secret) < MIN_SECRET_BYTES:
            raise ConfigError(f"{source}: the secret is {len(secret)} bytes long; at least "
                              f"{MIN_SECRET_BYTES} are required")
        keys = Secrets.from_secret(secret)
        ring.setdefault(keys.key_id, keys)
    return ring


@dataclass(frozen=True)
class Match:
    """A batch record holding the row's keyed hash."""

    seq: int
    recorded_at: str
    run_id: str
    rule_id: str
    category: str | None
    action: str  # delete | anonymise
    cutoff: str | None
    key_id: str | None
    replay_of: str | None = None


@dataclass
class LookupResult:
    table: str
    matches: list[Match] = field(default_factory=list)
    records: int = 0  # batch records of the table searched
    unsearchable: dict[str, int] = field(default_factory=dict)  # key id -> records
    # (rule, parent table) of batch records that changed rows of `table` as related rows
    parents: list[tuple[str, str]] = field(default_factory=list)
    has_trail: bool = True

    @property
    def complete(self) -> bool:
        """False when some records of the table could not be searched (unknown key)."""
        return not self.unsearchable

    def to_dict(self) -> dict[str, Any]:
        return {"table": self.table, "found": bool(self.matches), "complete": self.complete,
                "records_searched": self.records, "has_trail": self.has_trail,
                "matches": [vars(m) for m in self.matches],
                "unsearchable_key_ids": self.unsearchable,
                "related_through": [{"rule_id": r, "parent_table": p}
                                    for r, p in self.parents]}


def lookup(database: str | None, table: str, key: Sequence[str],
           keyring: Mapping[str, Secrets], *, export: Path | None = None) -> LookupResult:
    """Every batch record of `table` that changed the row with `key` (values in the order of
    the rule's key columns), from the database's trail or from an export file."""
    if export is not None:
        return lookup_records(read_export(export), table, key, keyring)
    if database is None:
        raise ConfigError("give a database (--database) or an export file (--from-export)")
    engine = create_engine(database, read_only=True)
    try:
        connect_check(engine)
        with engine.connect() as conn:
            if not has_trail(conn):
                return LookupResult(table, has_trail=False)
            result = _lookup_db(conn, table, key, keyring)
            conn.rollback()
            return result
    finally:
        engine.dispose()


_FIELDS = ("seq", "recorded_at", "run_id", "rule_id", "category", "action", "cutoff", "key_id",
           "detail", "key_hashes")


def _match(record: Mapping[Any, Any]) -> Match:
    detail = record.get("detail")
    parsed = json.loads(detail) if isinstance(detail, str) and detail else detail or {}
    replay = parsed.get("replay_of") if isinstance(parsed, dict) else None
    return Match(int(record["seq"]), record["recorded_at"], record["run_id"],
                 record["rule_id"], record["category"], record["action"], record["cutoff"],
                 record["key_id"], None if replay is None else str(replay))


def _lookup_db(conn: Connection, table: str, key: Sequence[str],
               keyring: Mapping[str, Secrets]) -> LookupResult:
    t = audit_table
    result = LookupResult(table)
    of_table = sa.and_(t.c.kind == "batch", t.c.table_name == table)
    per_key = conn.execute(sa.select(t.c.key_id, sa.func.count()).where(of_table)
                           .group_by(t.c.key_id)).all()
    for key_id, records in per_key:
        secrets = keyring.get(key_id)
        if secrets is None:
            result.unsearchable[str(key_id)] = int(records)
            continue
        result.records += int(records)
        wanted = key_hash(secrets, table, key)
        # No index can serve this; an audit question may take a scan of the table's records.
        stmt = sa.select(*(t.c[n] for n in _FIELDS)).where(
            of_table, t.c.key_id == key_id, t.c.key_hashes.contains(wanted)).order_by(t.c.seq)
        for record in conn.execute(stmt).mappings():
            # LIKE found the text; the split rules out a match spanning two hashes
            if wanted in (record["key_hashes"] or "").split():
                result.matches.append(_match(record))
    result.matches.sort(key=lambda m: m.seq)
    related = sa.select(t.c.rule_id, t.c.table_name, t.c.counts).where(
        t.c.kind == "batch", t.c.table_name != table,
        t.c.counts.contains(_table_marker(table), autoescape=True)).distinct()
    result.parents = _parents(((r[0], r[1], r[2]) for r in conn.execute(related)), table)
    return result


def _table_marker(table: str) -> str:
    """How a table is named inside a record's counts (compact JSON, as `audit._json` writes)."""
    return '"table":' + json.dumps(table)


def _parents(rows: Iterable[tuple[str, str, str | None]], table: str) -> list[tuple[str, str]]:
    found: dict[tuple[str, str], None] = {}
    for rule_id, parent, counts in rows:
        parsed = json.loads(counts) if counts else {}
        if any(isinstance(c, dict) and c.get("table") == table for c in parsed.values()):
            found[(rule_id, parent)] = None
    return sorted(found)


def lookup_records(records: Iterable[Mapping[str, Any]], table: str, key: Sequence[str],
                   keyring: Mapping[str, Secrets]) -> LookupResult:
    """The same search over records read from an export (one pass)."""
    result = LookupResult(table)
    wanted: dict[str, str] = {}
    parents: list[tuple[str, str, str | None]] = []
    for record in records:
        if record.get("kind") != "batch":
            continue
        if record.get("table_name") != table:
            counts = record.get("counts")
            if counts and _table_marker(table) in counts:
                parents.append((record["rule_id"], record["table_name"], counts))
            continue
        key_id = str(record.get("key_id"))
        secrets = keyring.get(key_id)
        if secrets is None:
            result.unsearchable[key_id] = result.unsearchable.get(key_id, 0) + 1
            continue
        result.records += 1
        if key_id not in wanted:
            wanted[key_id] = key_hash(secrets, table, key)
        if wanted[key_id] in (record.get("key_hashes") or "").split():
            result.matches.append(_match(record))
    result.parents = _parents(parents, table)
    return result

