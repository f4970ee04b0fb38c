"""The real run: keyset batches, one short transaction per batch holding every change of the
batch (related rows first, then the selected rows) and its audit record."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from . import statements, strategies, testhooks
from .audit import AuditWriter, key_hashes
from .compile import Cascade, CompiledRule, Node
from .database import error_label, is_transient, key_in
from .errors import RetentionError
from .selection import walk_cascades

log = structlog.get_logger("retention")

IN_CHUNK = 5000
RETRIES = 3


class ConcurrentChange(RetentionError):
    """Rows changed between selection and action inside a batch; the batch is redone, and the
    rule fails (the run goes on with the next rule) when that keeps happening."""


class KeyNotUnique(RetentionError):
    """More rows changed than keys were selected: the key columns do not identify one row."""


def _check_rowcount(node: Node, changed: int, expected: int) -> None:
    if changed > expected:
        raise KeyNotUnique(f"{node.label}: key ({', '.join(c.name for c in node.key)}) is "
                           "not unique; name columns that identify one row with 'key'")
    if changed < expected:
        # a row stopped matching (or its key changed) after it was selected
        raise ConcurrentChange(node.label)


@dataclass
class Count:
    table: str
    action: str
    rows: int = 0


@dataclass
class BatchResult:
    """What one batch changed; `keys` are the target rows deleted or anonymised."""

    last: tuple[Any, ...]
    keys: list[tuple[Any, ...]] = field(default_factory=list)
    counts: dict[str, Count] = field(default_factory=dict)

    def add(self, label: str, table: str, action: str, rows: int) -> None:
        self.counts.setdefault(label, Count(table, action)).rows += rows

    @property
    def changed(self) -> int:
        return sum(c.rows for c in self.counts.values())


@dataclass
class RuleResult:
    rule_id: str
    category: str
    table: str
    action: str
    cutoff: str | None
    counts: dict[str, Count] = field(default_factory=dict)
    batches: int = 0
    seconds: float = 0.0
    error: str | None = None
    remaining: int | None = None  # rows still due after the rule finished

    @property
    def rows(self) -> int:
        return sum(c.rows for c in self.counts.values())


OnBatch = Callable[[str, int], None]


def empty_counts(root: Node) -> dict[str, Count]:
    """Every table of the rule, database cascades included, in the order the plan lists them,
    with nothing counted yet (so that a run reports every table the plan does)."""
    counts: dict[str, Count] = {}

    def cascades(items: list[Cascade], label: str) -> None:
        for cascade in items:
            here = f"{label} > {cascade.table.name}"
            counts.setdefault(here, Count(cascade.table.name, cascade.action))
            cascades(cascade.children, here)

    for node in root.walk():
        counts.setdefault(node.label, Count(node.table.name, node.action))
        if node.action == "delete":
            cascades(node.cascades, node.label)
    return counts


def new_result(compiled: CompiledRule) -> RuleResult:
    rule = compiled.rule
    return RuleResult(rule.id, rule.category, rule.table, compiled.root.action,
                      compiled.cutoff.describe() if compiled.cutoff else None,
                      counts=empty_counts(compiled.root))


StopCheck = Callable[[], bool]


def sweep_rule(engine: Engine, compiled: CompiledRule, audit: AuditWriter, result: RuleResult,
               *, batch_size: int, secrets: strategies.Secrets,
               on_batch: OnBatch | None = None, should_stop: StopCheck | None = None,
               pause: float = 0.0) -> bool:
    """Process every due row of one rule, batch by batch, each batch in its own transaction.

    Adds what each committed batch changed to `result` as it goes, so that a failure leaves the
    counts of the batches already committed. Sleeps `pause` seconds after each batch that
    changed rows (so that a large first run does not starve the shop). Returns False when
    `should_stop` asked to stop between two batches, True when the rule is done.
    """
    root = compiled.root
    started = time.monotonic()
    last: tuple[Any, ...] | None = None
    try:
        while True:
            if should_stop is not None and should_stop():
                return False
            batch = _batch_with_retries(engine, compiled, last, batch_size, secrets, audit,
                                        result)
            if batch is None:
                return True
            last = batch.last
            if batch.changed:
                result.batches += 1
            for label, count in batch.counts.items():
                result.counts.setdefault(label, Count(count.table, count.action)).rows += \
                    count.rows
            if on_batch is not None:
                on_batch(result.rule_id, batch.counts[root.label].rows
                         if root.label in batch.counts else 0)
            if pause and batch.changed:
                time.sleep(pause)
    finally:
        result.seconds = time.monotonic() - started


def _batch_with_retries(engine: Engine, compiled: CompiledRule, last: tuple[Any, ...] | None,
                        batch_size: int, secrets: strategies.Secrets, audit: AuditWriter,
                        result: RuleResult) -> BatchResult | None:
    rule = compiled.rule

    def attempt() -> BatchResult | None:
        with engine.begin() as conn:
            batch = _batch(conn, compiled, last, batch_size, secrets)
            if batch is not None and batch.changed:
                testhooks.pause("changed")
                audit.append(
                    conn, "batch", rule_id=rule.id, category=rule.category,
                    table_name=rule.table, action=compiled.root.action,
                    cutoff=result.cutoff,
                    counts={k: vars(c) for k, c in batch.counts.items()},
                    key_hashes=key_hashes(secrets, rule.table, batch.keys),
                )
                testhooks.pause("audited")
            return batch

    return retrying(rule.id, attempt)


T = TypeVar("T")


def retrying(rule_id: str, attempt: Callable[[], T]) -> T:
    """Run one batch's transaction; redo it whole when rows changed under it or the database
    reports a deadlock, a lock-wait timeout or a dropped connection (the transaction is gone,
    so the batch starts again on a fresh connection), with bounded backoff; then give up."""
    for number in range(RETRIES + 1):
        try:
            return attempt()
        except ConcurrentChange:
            if number == RETRIES:
                raise
            time.sleep(0.05 * (number + 1))
        except DBAPIError as err:
            if not is_transient(err) or number == RETRIES:
                raise
            log.warning("batch_retried", rule=rule_id, attempt=number + 1,
                        error=error_label(err))
            time.sleep(min(0.5 * 2 ** number, 8.0))
    raise AssertionError("unreachable: the last attempt returns or raises")


def _batch(conn: Connection, compiled: CompiledRule, last: tuple[Any, ...] | None,
           batch_size: int, secrets: strategies.Secrets) -> BatchResult | None:
    root = compiled.root
    columns = root.fetch_columns()
    after = None if last is None else (last[0] if len(last) == 1 else sa.tuple_(*last))
    rows = conn.execute(statements.batch_select(root, columns, after, batch_size,
                                                conn.dialect)).all()
    if not rows:
        return None
    width = len(root.key)
    batch = BatchResult(last=tuple(rows[-1][:width]))
    batch.keys = apply_rows(conn, root, columns, rows, root.where, batch, secrets)
    return batch


def _values(columns: Sequence[sa.Column[Any]], rows: Sequence[Any],
            names: Sequence[str]) -> list[tuple[Any, ...]]:
    """Distinct non-NULL tuples of the named columns, in first-seen order."""
    index = [next(i for i, c in enumerate(columns) if c.name == n) for n in names]
    if len(index) == 1:  # the common case: one key or link column
        i = index[0]
        return [(v,) for v in dict.fromkeys(row[i] for row in rows) if v is not None]
    seen = dict.fromkeys(tuple(row[i] for i in index) for row in rows)
    return [value for value in seen if None not in value]


def _chunks(items: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), IN_CHUNK):
        yield items[start:start + IN_CHUNK]


def apply_rows(conn: Connection, node: Node, columns: list[sa.Column[Any]],
               rows: Sequence[Any], recheck: sa.ColumnElement[bool] | None, batch: BatchResult,
               secrets: strategies.Secrets) -> list[tuple[Any, ...]]:
    """Children first, then this node's own action on `rows` (selected and locked in this
    transaction). Returns the keys changed. The body of a batch, for runs and for replays of
    recorded erasures."""
    dialect = conn.dialect.name
    key_names = [c.name for c in node.key]
    keys = _values(columns, rows, key_names)
    for child in node.children:
        link = [p for _c, p in child.link]
        _child(conn, child, keys if link == key_names else _values(columns, rows, link), batch,
               secrets)
    if node.action == "anonymise":
        changed = _anonymise(conn, node, columns, rows, recheck, secrets)
        batch.add(node.label, node.table.name, "anonymise", len(changed))
        return changed
    for label, cascade, cond in _batch_cascades(node, columns, rows, dialect):
        n = conn.execute(sa.select(sa.func.count()).select_from(cascade.table)
                         .where(cond)).scalar_one()
        batch.add(label, cascade.table.name, cascade.action, int(n))
    deleted = 0
    for chunk in _chunks(keys):
        deleted += conn.execute(statements.delete(node, key_in(node.key, chunk, dialect),
                                                  recheck)).rowcount
    _check_rowcount(node, deleted, len(keys))
    batch.add(node.label, node.table.name, "delete", deleted)
    return keys


def _batch_cascades(node: Node, columns: list[sa.Column[Any]], rows: Sequence[Any],
                    dialect: str) -> Iterator[tuple[str, Cascade, sa.ColumnElement[bool]]]:
    for cascade in node.cascades:
        referred = list(cascade.fk.referred_columns)
        values = _values(columns, rows, referred)
        if values:
            own = key_in([node.table.c[c] for c in referred], values, dialect)
            yield from walk_cascades([cascade], node.table, own, node.label)


def _child(conn: Connection, node: Node, parent_values: list[tuple[Any, ...]],
           batch: BatchResult, secrets: strategies.Secrets) -> None:
    batch.add(node.label, node.table.name, node.action, 0)
    dialect = conn.dialect.name
    link_cols = [c for c, _p in node.link]
    for chunk in _chunks(parent_values):
        match = key_in(link_cols, chunk, dialect)
        if node.action == "delete" and not node.children and not node.cascades:
            n = conn.execute(statements.delete(node, match, node.where)).rowcount
            batch.add(node.label, node.table.name, "delete", n)
            continue
        columns = node.fetch_columns()
        rows = conn.execute(statements.child_select(node, columns, match, dialect)).all()
        if rows:
            apply_rows(conn, node, columns, rows, node.where, batch, secrets)


def _anonymise(conn: Connection, node: Node, columns: list[sa.Column[Any]],
               rows: Sequence[Any], recheck: sa.ColumnElement[bool] | None,
               secrets: strategies.Secrets) -> list[tuple[Any, ...]]:
    position = {c.name: i for i, c in enumerate(columns)}
    key_names = [c.name for c in node.key]
    changed: list[tuple[Any, ...]] = []
    params: list[dict[str, Any]] = []
    for row in rows:
        new_values = {}
        for name, spec in node.strategies.items():
            old = row[position[name]]
            changes = old is not None and strategies.changes(spec, old, secrets)
            new_values[name] = strategies.transform(spec, old, secrets) if changes else old
        if any(new_values[n] != row[position[n]] for n in node.strategies):
            key = tuple(row[position[k]] for k in key_names)
            changed.append(key)
            param = {f"k_{k}": v for k, v in zip(key_names, key, strict=True)}
            param.update({f"v_{n}": v for n, v in new_values.items()})
            params.append(param)
    if not changed:
        return changed
    dialect = conn.dialect.name
    updated = 0
    if statements.set_based(node):
        for chunk in _chunks(changed):
            updated += conn.execute(statements.set_update(node, key_in(node.key, chunk, dialect),
                                                          recheck)).rowcount
    else:
        stmt = statements.row_update(node, recheck)
        for chunk in _chunks(params):
            updated += conn.execute(stmt, chunk).rowcount
    _check_rowcount(node, updated, len(changed))
    return changed
