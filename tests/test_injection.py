"""Identifiers from a policy never reach SQL unchecked: odd names are refused before any
database access, and reserved-but-valid names are quoted and work."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import structlog
from freezegun import freeze_time

from retention import api, cli
from retention.errors import EXIT_INVALID, PolicyError
from tests.conftest import CATEGORY_YAML, Database, order_schema

RULE = """
rules:
  - id: hostile
    category: history
    table: {table}
    key: [{key}]
    where: {{column: {column}, op: "=", value: 1}}
    expires: {{after: 1 day, from: {clock}}}
    action: {{anonymise: {{{anonymised}: ~}}}}
    related:
      - table: {related}
        on: {{{child}: id}}
        action: delete
"""
SAFE = {"table": "orders", "key": "id", "column": "is_guest", "clock": "created_at",
        "anonymised": "email", "related": "order_items", "child": "order_id"}
HOSTILE = [
    pytest.param("table", '"orders; DROP TABLE orders"', id="table-statement"),
    pytest.param("table", "orders--", id="table-comment"),
    pytest.param("key", "'id) OR 1=1 --'", id="key"),
    pytest.param("column", "'email\" --'", id="column-double-quote"),
    pytest.param("column", "\"`is_guest`\"", id="column-backticks"),
    pytest.param("clock", "'created_at = created_at OR 1=1'", id="expiry-column"),
    pytest.param("anonymised", "'email`; DROP TABLE orders; --'", id="anonymised-column"),
    pytest.param("related", "'order_items WHERE 1=1; --'", id="related-table"),
    pytest.param("child", "'order_id]'", id="related-column"),
    pytest.param("table", "ordérs", id="non-ascii"),
    pytest.param("table", "o" * 65, id="too-long"),
]


def hostile_policy(write_policy, field: str, value: str) -> Path:  # type: ignore[no-untyped-def]
    return write_policy(CATEGORY_YAML + RULE.format(**{**SAFE, field: value}))


@pytest.mark.parametrize(("field", "value"), HOSTILE)
def test_hostile_identifiers_are_refused_before_the_database_is_opened(
        field: str, value: str, write_policy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The loader refuses the name (exit 3), even when the database URL leads nowhere."""
    policies = hostile_policy(write_policy, field, value)
    nowhere = f"sqlite:///{tmp_path / 'no-such-dir' / 'shop.db'}"  # opening it would fail
    for call in (lambda: api.validate([policies], database=nowhere),
                 lambda: api.plan([policies], nowhere),
                 lambda: api.sweep([policies], nowhere)):
        with pytest.raises(PolicyError) as caught:
            call()
        assert caught.value.exit_code == EXIT_INVALID
        assert len(caught.value.issues) == 1
        assert "is not a plain table/column name" in caught.value.issues[0].message


@pytest.fixture
def cli_logging() -> Iterator[None]:
    """The CLI configures structlog to print to the sys.stderr of the moment, which pytest
    closes after the test; restore the configuration so later tests can log."""
    config = structlog.get_config()
    try:
        yield
    finally:
        structlog.configure(**config)


@pytest.mark.parametrize(("field", "value"), [HOSTILE[0]])
def test_a_refused_policy_leaves_every_table_untouched(
        db: Database, write_policy, secret: str, field: str, value: str,
        capsys: pytest.CaptureFixture[str], cli_logging: None) -> None:  # type: ignore[no-untyped-def]
    """`retention run` with a hostile name exits 3; the orders table and its rows remain."""
    meta, tables = order_schema()
    db.create(meta)
    db.insert(tables["orders"], [{"id": 1, "is_guest": 1, "email": "a@example.com",
                                  "created_at": datetime(2000, 1, 1)}])
    before = db.snapshot()
    policies = hostile_policy(write_policy, field, value)
    with pytest.raises(SystemExit) as exited:
        cli.main(["run", "--policies", str(policies), "--database", db.url])
    assert exited.value.code == EXIT_INVALID
    assert "is not a plain table/column name" in capsys.readouterr().err
    assert db.snapshot() == before  # no audit table either: the database was not written
    assert db.rows("orders")[0][4] == "a@example.com"


# --------------------------------------------------------------------------- reserved words

NOW = datetime(2026, 3, 1, 12, 0, 0)


def reserved_schema(db: Database) -> None:
    """A table `order` keyed by `key`, with columns `group`, `select` and `from`, and a child
    table `desc` referring to it through a column `order`: reserved words in every dialect."""
    meta = sa.MetaData()
    order = sa.Table(
        "order", meta,
        sa.Column("key", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("group", sa.String(16), nullable=False),
        sa.Column("select", sa.String(64), nullable=True),
        sa.Column("from", sa.DateTime, nullable=True),
    )
    desc = sa.Table(
        "desc", meta,
        sa.Column("key", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("order", sa.Integer, sa.ForeignKey("order.key"), nullable=False),
        sa.Column("Index", sa.String(16), nullable=True),
    )
    db.create(meta)
    db.insert(order, [{"key": k, "group": "guest" if k % 2 else "member",
                       "select": f"p{k}@example.com", "from": NOW - timedelta(days=k)}
                      for k in range(1, 7)])
    db.insert(desc, [{"key": 10 * k + n, "order": k, "Index": f"i{n}"}
                     for k in range(1, 7) for n in (1, 2)])


RESERVED_POLICY = CATEGORY_YAML + """
rules:
  - id: old-guests
    category: history
    table: order
    where: {column: group, op: "=", value: guest}
    expires: {after: 2 days, from: from}
    action: delete
    related:
      - table: desc
        on: {order: key}
        where: {column: Index, op: "in", value: [i1, i2]}
        action: delete
  - id: members
    category: history
    table: order
    key: [key]
    where: {column: group, op: "=", value: member}
    action: {anonymise: {select: {strategy: hmac, length: 24}}}
    related:
      - table: desc
        on: {order: key}
        action: {anonymise: {Index: {strategy: fixed, value: x}}}
"""


@freeze_time(NOW)
def test_reserved_words_as_names_are_quoted_and_work(
        db: Database, write_policy, secret: str) -> None:  # type: ignore[no-untyped-def]
    """Tables and columns named `order`, `key`, `group`, `select`, `from`, `desc`, `Index`."""
    reserved_schema(db)
    policies = write_policy(RESERVED_POLICY)
    assert [r.id for r in api.validate([policies], database=db.url).rules] == \
        ["old-guests", "members"]
    plan = api.plan([policies], db.url, samples=2, with_sql=True)
    planned = {(r.rule_id, c.label): c.rows for r in plan.rules for c in r.counts}
    assert planned == {("old-guests", "order"): 2, ("old-guests", "order > desc"): 4,
                       ("members", "order"): 3, ("members", "order > desc"): 6}
    result = api.sweep([policies], db.url, batch_size=2)
    assert result.status == "completed"
    assert {(r.rule_id, label): c.rows for r in result.rules
            for label, c in r.counts.items()} == planned
    rows = db.rows("order")
    assert [k for k, *_ in rows] == [1, 2, 4, 6]  # guests 3 and 5 are older than 2 days
    for key, group, select, _from in rows:
        assert select.startswith("pn:") if group == "member" else select == f"p{key}@example.com"
    assert sorted({(r[1], r[2]) for r in db.rows("desc")}) == sorted(
        {(k, "x" if k % 2 == 0 else f"i{n}") for k in (1, 2, 4, 6) for n in (1, 2)})
