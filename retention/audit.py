"""The audit trail: tables the tool creates in the target database, and the records it writes.

Records hold no personal data: keys appear only as keyed hashes (HMAC with a key derived from
the operator's secret), never a column value. Each record carries a gap-free sequence number
and a SHA-256 hash over the previous record's hash and its own canonical JSON form, so the
trail can be verified as a chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Connection, Engine

from .database import supports_for_update
from .strategies import Secrets

metadata = sa.MetaData()

_LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")

audit_table = sa.Table(
    "retention_audit",
    metadata,
    sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
              autoincrement=False),
    sa.Column("recorded_at", sa.String(32), nullable=False),
    sa.Column("run_id", sa.String(36), nullable=False, index=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("rule_id", sa.String(100)),
    sa.Column("category", sa.String(100)),
    sa.Column("table_name", sa.String(64)),
    sa.Column("action", sa.String(16)),
    sa.Column("cutoff", sa.String(64)),
    sa.Column("counts", sa.Text()),
    sa.Column("key_hashes", _LONG_TEXT),
    sa.Column("key_id", sa.String(16)),
    sa.Column("policy_digest", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16)),
    sa.Column("detail", sa.Text()),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

GENESIS = "0" * 64
RECORD_FIELDS = tuple(c.name for c in audit_table.columns if c.name != "hash")


def ensure_tables(engine: Engine) -> None:
    metadata.create_all(engine, checkfirst=True)


def has_trail(conn: Connection) -> bool:
    return sa.inspect(conn).has_table(audit_table.name)


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def key_text(table: str, key: Sequence[Any]) -> str:
    """What is hashed for a row: the table and the key values as a compact JSON list of
    strings, `orders\\0["42"]`."""
    return table + "\0[" + ",".join(encode_basestring_ascii(str(v)) for v in key) + "]"


def key_hash(secrets: Secrets, table: str, key: Sequence[Any]) -> str:
    """HMAC-SHA256 of `key_text` with the audit key, 32 hex digits (128 bits)."""
    return hmac.new(secrets.audit_key, key_text(table, key).encode(), hashlib.sha256) \
        .hexdigest()[:32]


def key_hashes(secrets: Secrets, table: str, keys: Iterable[Sequence[Any]]) -> str:
    """The keyed hashes of many keys, space-separated: `key_hash` of each, computed from
    HMAC's inner and outer states prepared once (a run hashes every key it changes)."""
    block = 64  # SHA-256 block size
    key = secrets.audit_key
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    out = []
    for values in keys:
        if len(values) == 1 and type(values[0]) is int:
            text = f'{table}\0["{values[0]}"]'
        else:
            text = key_text(table, values)
        i = inner.copy()
        i.update(text.encode())
        o = outer.copy()
        o.update(i.digest())
        out.append(o.hexdigest()[:32])
    return " ".join(out)


def canonical(record: dict[str, Any]) -> bytes:
    """The hashed form of a record: sorted keys, compact, UTF-8."""
    body = {k: record.get(k) for k in RECORD_FIELDS}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(prev_hash: str, record: dict[str, Any]) -> str:
    return hashlib.sha256(prev_hash.encode() + canonical(record)).hexdigest()


@dataclass
class AuditWriter:
    """Appends records for one run; call inside the transaction that holds the change."""

    run_id: str
    policy_digest: str
    key_id: str | None

    def append(self, conn: Connection, kind: str, **fields: Any) -> int:
        head = sa.select(audit_table.c.seq, audit_table.c.hash).order_by(
            audit_table.c.seq.desc()).limit(1)
        if supports_for_update(conn.dialect.name):
            head = head.with_for_update()
        last = conn.execute(head).first()
        seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
        record: dict[str, Any] = {name: None for name in RECORD_FIELDS}
        record.update(
            seq=seq, recorded_at=now_text(), run_id=self.run_id, kind=kind,
            policy_digest=self.policy_digest, prev_hash=prev, key_id=self.key_id,
        )
        for name, value in fields.items():
            if name not in record:
                raise KeyError(name)
            record[name] = _json(value) if isinstance(value, dict | list) else value
        record["hash"] = chain_hash(prev, record)
        conn.execute(audit_table.insert(), record)  # parameters: the compiled form is cached
        return int(seq)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    started_at: str
    ended_at: str | None
    status: str
    policy_digest: str
    detail: dict[str, Any]
    rules: dict[str, dict[str, Any]]  # rule id -> {category, table, action, cutoff, counts,
    #                                    batches, error}


TERMINAL_KINDS = ("run_finished", "run_aborted")


def unfinished_runs(conn: Connection) -> list[str]:
    """Runs with a start record and no terminal record, oldest first."""
    t = audit_table
    closed = sa.select(t.c.run_id).where(t.c.kind.in_(TERMINAL_KINDS))
    rows = conn.execute(sa.select(t.c.run_id).where(t.c.kind == "run_started",
                                                    t.c.run_id.not_in(closed))
                        .order_by(t.c.seq)).all()
    return [str(r[0]) for r in rows]


def latest_run_id(conn: Connection) -> str | None:
    row = conn.execute(sa.select(audit_table.c.run_id).where(audit_table.c.kind == "run_started")
                       .order_by(audit_table.c.seq.desc()).limit(1)).first()
    return None if row is None else str(row[0])


def run_summary(conn: Connection, run_id: str) -> RunSummary | None:
    rows = conn.execute(sa.select(audit_table).where(audit_table.c.run_id == run_id)
                        .order_by(audit_table.c.seq)).mappings().all()
    if not rows:
        return None
    start = rows[0]
    finish = next((r for r in rows if r["kind"] in TERMINAL_KINDS), None)
    rules: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["kind"] not in ("batch", "rule_failed", "rule_capped"):
            continue
        entry = rules.setdefault(r["rule_id"], {
            "category": r["category"], "table": r["table_name"], "action": r["action"],
            "cutoff": r["cutoff"], "counts": {}, "batches": 0, "error": None,
        })
        if r["kind"] == "batch":
            entry["batches"] += 1
            for label, c in json.loads(r["counts"] or "{}").items():
                total = entry["counts"].setdefault(label, {**c, "rows": 0})
                total["rows"] += c["rows"]
        elif r["kind"] in ("rule_failed", "rule_capped"):
            entry["error"] = json.loads(r["detail"] or "{}").get("error")
    detail = json.loads(start["detail"] or "{}")
    if finish is not None:
        detail.update(json.loads(finish["detail"] or "{}"))
    return RunSummary(
        run_id=run_id,
        started_at=start["recorded_at"],
        ended_at=finish["recorded_at"] if finish else None,
        status=finish["status"] if finish else "running or interrupted",
        policy_digest=start["policy_digest"],
        detail=detail,
        rules=rules,
    )
