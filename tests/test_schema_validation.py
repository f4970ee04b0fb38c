"""`validate(..., database=url)` checks a policy against the reflected schema and reports every
misfit at once, each at the file:line:col of the YAML node it concerns."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from retention import api
from retention.errors import EXIT_INVALID, Issue, PolicyError
from tests.conftest import CATEGORY_YAML, Database


def build_schema(db: Database) -> None:
    meta = sa.MetaData()
    sa.Table(
        "orders", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("status", sa.String(32)),
        sa.Column("code", sa.String(16)),
        sa.Column("note", sa.String(8)),
        sa.Column("qty", sa.Integer, nullable=False),
        sa.Column("created_at", sa.DateTime),
        sa.Column("created_text", sa.String(32)),
        sa.Column("created_epoch", sa.BigInteger),
    )
    sa.Table(
        "order_items", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("order_id", sa.Integer, nullable=False),
    )
    sa.Table("order_log", meta, sa.Column("order_ref", sa.Integer), sa.Column("text", sa.Text))
    db.create(meta)


BROKEN = CATEGORY_YAML + """
rules:
  - id: missing-table
    category: history
    table: ordrs
    action: delete
  - id: missing-columns
    category: history
    table: orders
    where:
      - {column: status, op: "=", value: closed}
      - {column: stauts, op: "=", value: closed}
    expires: {after: 3 years, from: created}
    action: delete
  - id: missing-key-column
    category: history
    table: orders
    key: [id, nope]
    action: delete
  - id: no-primary-key
    category: history
    table: order_log
    action: delete
  - id: strategies-do-not-fit
    category: history
    table: orders
    action:
      anonymise:
        qty: ~
        code: hmac
        note: {strategy: fixed, value: far too long}
        created_epoch: {strategy: fixed, value: removed}
        emial: hmac
  - id: text-clock
    category: history
    table: orders
    expires: {after: 3 years, from: created_text}
    action: delete
  - id: epoch-on-datetime
    category: history
    table: orders
    expires: {after: 3 years, from: created_at, epoch: seconds}
    action: delete
  - id: related-links
    category: history
    table: orders
    action: delete
    related:
      - {table: order_items, on: {order_ref: id}, action: delete}
      - table: order_items
        on: {order_id: ident}
        action: delete
      - table: order_log
        on: {order_ref: id}
        action: delete
      - {table: order_lines, on: {order_id: id}, action: delete}
  - id: exists-links
    category: history
    table: orders
    where:
      all:
        - not_exists: {table: complaints, on: {order_id: id}}
        - exists: {table: order_items, on: {order_ref: id}, where: {column: skew, op: is null}}
        - exists: {table: order_items, on: {order_id: ident}}
    action: delete
"""


def locate(text: str, needle: str, *, nth: int = 1) -> tuple[int, int]:
    """1-based line and column of the `nth` occurrence of `needle` in the policy text."""
    text = textwrap.dedent(text).lstrip()
    start = -1
    for _ in range(nth):
        start = text.index(needle, start + 1)
    line = text.count("\n", 0, start) + 1
    return line, start - (text.rfind("\n", 0, start) + 1) + 1


def at(needle: str, *, nth: int = 1) -> str:
    line, col = locate(BROKEN, needle, nth=nth)
    return f"{line}:{col}"


# (where, path, words the message holds), in the order the rules list them
EXPECTED = [
    (at("ordrs"), "rules.missing-table.table", ["'ordrs' does not exist"]),
    (at("stauts"), "rules.missing-columns.where[1].column",
     ["'stauts' does not exist", "did you mean 'status'?"]),
    (at("created}"), "rules.missing-columns.expires.from",
     ["'created' does not exist", "did you mean 'created_at'?"]),
    (at("nope"), "rules.missing-key-column.key[1]", ["'nope' does not exist"]),
    (at("order_log", nth=1), "rules.no-primary-key.table",
     ["'order_log' has no primary key", "'key'"]),
    (at("~"), "rules.strategies-do-not-fit.action.anonymise.qty", ["NOT NULL", "null"]),
    (at("hmac", nth=1), "rules.strategies-do-not-fit.action.anonymise.code",
     ["pseudonym is 32 characters", "holds 16"]),
    (at("{strategy: fixed, value: far"), "rules.strategies-do-not-fit.action.anonymise.note",
     ["fixed value is 12 characters", "holds 8"]),
    (at("{strategy: fixed, value: removed}"),
     "rules.strategies-do-not-fit.action.anonymise.created_epoch",
     ["'removed' is text", "'created_epoch'"]),
    (at("emial"), "rules.strategies-do-not-fit.action.anonymise.emial",
     ["'emial' does not exist"]),
    (at("created_text}"), "rules.text-clock.expires.from",
     ["created_text", "not a date/time column", "epoch: seconds"]),
    (at("seconds}"), "rules.epoch-on-datetime.expires.epoch", ["'created_at'", "not an integer"]),
    (at("order_ref: id}, action"), "rules.related-links.related[0].on.order_ref",
     ["'order_ref' does not exist in table 'order_items'"]),
    (at("ident}\n"), "rules.related-links.related[1].on.order_id",
     ["'ident' does not exist in table 'orders'"]),
    (at("order_log", nth=2), "rules.related-links.related[2].table",
     ["'order_log' has no primary key"]),
    (at("order_lines"), "rules.related-links.related[3].table",
     ["'order_lines' does not exist"]),
    (at("complaints,"), "rules.exists-links.where.all[0].not_exists.table",
     ["'complaints' does not exist"]),
    (at("order_ref: id}, where"), "rules.exists-links.where.all[1].exists.on.order_ref",
     ["'order_ref' does not exist in table 'order_items'"]),
    (at("skew"), "rules.exists-links.where.all[1].exists.where.column",
     ["'skew' does not exist in table 'order_items'"]),
    (at("ident}}"), "rules.exists-links.where.all[2].exists.on.order_id",
     ["'ident' does not exist in table 'orders'"]),
]


def test_every_misfit_is_reported_at_once_with_its_location(
        db: Database, write_policy) -> None:  # type: ignore[no-untyped-def]
    """One PolicyError lists every problem, each at the exact line and column of its node."""
    build_schema(db)
    policies = write_policy(BROKEN)
    with pytest.raises(PolicyError) as caught:
        api.validate([policies], database=db.url)
    assert caught.value.exit_code == EXIT_INVALID
    file = str(policies / "policy.yaml")
    got = [(f"{i.line}:{i.column}", i.path) for i in caught.value.issues]
    assert got == [(where, path) for where, path, _ in EXPECTED]
    for issue, (_, _, words) in zip(caught.value.issues, EXPECTED, strict=True):
        assert issue.file == file
        for word in words:
            assert word in issue.message, str(issue)
        assert str(issue).startswith(f"{file}:{issue.line}:{issue.column}: ")


def test_positions_are_where_the_text_says(db: Database, write_policy) -> None:  # type: ignore[no-untyped-def]
    """Spot check with literal numbers: the misspelt table is on line 10, column 12."""
    build_schema(db)
    assert at("ordrs") == "10:12"
    assert at("stauts") == "17:18"
    with pytest.raises(PolicyError) as caught:
        api.validate([write_policy(BROKEN)], database=db.url)
    first: Issue = caught.value.issues[0]
    assert (first.line, first.column) == (10, 12)


def test_schema_problems_are_found_only_with_a_database(write_policy) -> None:  # type: ignore[no-untyped-def]
    """Without a database URL the same file is a valid policy: the misfits are schema facts."""
    policy = api.validate([write_policy(BROKEN)])
    assert len(policy.rules) == 9


def test_a_policy_that_fits_passes(db: Database, write_policy) -> None:  # type: ignore[no-untyped-def]
    """A policy using every checked feature correctly validates without an issue."""
    build_schema(db)
    policies = write_policy(CATEGORY_YAML + """
rules:
  - id: fits
    category: history
    table: orders
    where:
      - {column: status, op: "=", value: closed}
      - not_exists: {table: order_items, on: {order_id: id}, where: {column: id, op: ">", value: 0}}
    expires: {after: 3 years, from: created_at}
    action:
      anonymise:
        code: {strategy: hmac, length: 16}
        note: {strategy: fixed, value: removed}
        created_epoch: {strategy: fixed, value: 0}
        qty: {strategy: round, digits: -1}
    related:
      - {table: order_items, on: {order_id: id}, action: delete}
      - {table: order_log, key: [order_ref], on: {order_ref: id}, action: delete}
  - id: epoch-clock
    category: history
    table: orders
    expires: {after: 3 years, from: created_epoch, epoch: seconds}
    action: delete
  - id: text-log
    category: history
    table: order_log
    key: [order_ref]
    expires: {after: 1 year, from: created_at, timezone: Europe/Oslo}
    action: delete
""")
    with pytest.raises(PolicyError) as caught:  # the last rule's table has no created_at
        api.validate([policies], database=db.url)
    assert [i.path for i in caught.value.issues] == ["rules.text-log.expires.from"]
    text = (policies / "policy.yaml").read_text(encoding="utf-8")
    (policies / "policy.yaml").write_text(text[:text.index("  - id: text-log")],
                                          encoding="utf-8")
    policy = api.validate([policies], database=db.url)
    assert [r.id for r in policy.rules] == ["fits", "epoch-clock"]


def test_an_unreachable_database_is_not_a_policy_error(write_policy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Validation against a database that cannot be opened fails as unavailable (exit 75)."""
    from retention.errors import DatabaseUnavailable

    missing = tmp_path / "no-such-dir" / "shop.db"
    with pytest.raises(DatabaseUnavailable) as caught:
        api.validate([write_policy(BROKEN)], database=f"sqlite:///{missing}")
    assert caught.value.exit_code == 75
