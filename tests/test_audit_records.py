"""Audit records: keyed hashes of keys, and the hash chain over records."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
import sqlalchemy as sa
from freezegun import freeze_time

from retention import api
from retention.audit import GENESIS, chain_hash, key_hash, key_hashes
from retention.strategies import Secrets
from tests.conftest import SECRET, Database
from tests.test_sweep_end_to_end import NOW, POLICY, build

SECRETS = Secrets.from_secret(SECRET.encode())


def _reference(table: str, key: tuple[object, ...]) -> str:
    text = table + "\0" + json.dumps([str(v) for v in key], separators=(",", ":"))
    return hmac.new(SECRETS.audit_key, text.encode(), hashlib.sha256).hexdigest()[:32]


@pytest.mark.parametrize("key", [(1,), (42,), (-7,), ("abc",), ("Å \"quoted\" \\ x",), (1, "a"),
                                 (True,), (3.5,), ("",)], ids=repr)
def test_key_hashes_are_hmac_sha256_of_table_and_key_as_json(key: tuple[object, ...]) -> None:
    """A row is recorded as HMAC-SHA256(audit key, table NUL json([str(key)...])), 32 hex
    digits; the batch form gives the same hash as the single form."""
    expected = _reference("sales_order", key)
    assert key_hash(SECRETS, "sales_order", key) == expected
    assert key_hashes(SECRETS, "sales_order", [key, key]) == f"{expected} {expected}"


def test_key_hashes_depend_on_the_secret_and_the_table() -> None:
    """Another secret or another table gives another hash for the same key."""
    other = Secrets.from_secret(b"another secret of more than 32 bytes!!")
    assert key_hash(other, "orders", (1,)) != key_hash(SECRETS, "orders", (1,))
    assert key_hash(SECRETS, "orders", (1,)) != key_hash(SECRETS, "items", (1,))


@freeze_time(NOW)
def test_records_form_a_chain_and_hold_the_hashes_of_changed_keys(
        db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    """Sequence numbers are gap-free, each hash covers the previous one, and the batch records
    hold exactly the keyed hashes of the target rows they changed."""
    build(db)
    due = {r[0] for r in db.rows("orders") if r[2] == 1 and r[9] <= NOW.replace(year=2023)}
    api.sweep([write_policy(POLICY)], db.url, batch_size=4)
    meta = sa.MetaData()
    trail = sa.Table("retention_audit", meta, autoload_with=db.engine)
    with db.engine.connect() as conn:
        records = [dict(r) for r in conn.execute(sa.select(trail).order_by(trail.c.seq))
                   .mappings()]
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    previous = GENESIS
    for record in records:
        assert record["prev_hash"] == previous
        assert record["hash"] == chain_hash(previous, record)
        previous = record["hash"]
    recorded = " ".join(r["key_hashes"] for r in records
                        if r["kind"] == "batch" and r["rule_id"] == "guest-orders").split()
    assert sorted(recorded) == sorted(key_hash(SECRETS, "orders", (k,)) for k in due)
