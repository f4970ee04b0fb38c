"""Where replay and lookup read audit records from: the trail in the database, or an export
file kept outside it.

After a restore from backup the trail inside the database is as old as the backup, so the
records of the erasures made since then survive only in an export (`retention audit export`:
JSON Lines or CSV, every field of `audit.RECORD_FIELDS` and its `hash`). An export is checked
as it is read: each record's hash must cover its content and link to the record before it
(when that one is in the file), so an altered record stops the command before anything
changes (exit 6, as `retention audit verify` does).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from . import audit_export as exports
from .audit import audit_table, chain_hash
from .errors import AuditTrailInvalid, ConfigError

ERASING_ACTIONS = ("delete", "anonymise")


def read_export(path: Path) -> Iterator[dict[str, Any]]:
    """The records of an export file (JSON Lines, or CSV by its name: `audit_export` reads
    both), each checked against its hash and its link to the record before it."""
    previous: tuple[int, str] | None = None
    try:
        for record in exports.read_export(path):
            seq = record["seq"]
            if chain_hash(record["prev_hash"], record) != record["hash"]:
                raise AuditTrailInvalid(f"{path}: record seq {seq} does not match its hash: "
                                        "the export was altered or is not a retention audit "
                                        "export; nothing was changed")
            if previous is not None and previous[0] + 1 == seq and \
                    previous[1] != record["prev_hash"]:
                raise AuditTrailInvalid(f"{path}: record seq {seq} does not follow seq "
                                        f"{seq - 1} (prev_hash differs): the chain is broken; "
                                        "nothing was changed")
            previous = (seq, record["hash"])
            yield record
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the export: {err.strerror}") from None


def erasure_records_db(conn: Connection, since: str, until: str | None = None) \
        -> Iterator[dict[str, Any]]:
    """Batch records that deleted or anonymised rows, recorded at or after `since` (the
    trail's text form), streamed in sequence order."""
    t = audit_table
    stmt = sa.select(t.c.seq, t.c.recorded_at, t.c.run_id, t.c.kind, t.c.rule_id,
                     t.c.table_name, t.c.action, t.c.key_hashes, t.c.key_id,
                     t.c.policy_digest).where(
        t.c.kind == "batch", t.c.action.in_(ERASING_ACTIONS), t.c.recorded_at >= since)
    if until is not None:
        stmt = stmt.where(t.c.recorded_at < until)
    for row in conn.execution_options(yield_per=500).execute(stmt.order_by(t.c.seq)).mappings():
        yield dict(row)


def erasure_records_export(path: Path, since: str, until: str | None = None) \
        -> Iterator[dict[str, Any]]:
    """The same records from an export file."""
    for record in read_export(path):
        if record["kind"] != "batch" or record["action"] not in ERASING_ACTIONS:
            continue
        at = str(record["recorded_at"])
        if at >= since and (until is None or at < until):
            yield record
