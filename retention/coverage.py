"""`retention check`: columns that look like personal data and that no rule or keep covers.

A policy is only as good as its list of tables. This reflects the whole schema and asks, for
every column that looks personal (by its name, and with `sample` by a few of its values),
whether the policy accounts for it: a rule anonymises it, a rule (or the database, cascading
from a rule's delete) deletes its rows, or a `keep` entry says why it stays. The answer is a
list of questions for the policy author; values are never shown, only what they look like.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import OperationalError

from .compile import Cascade, compile_rule
from .database import Catalog, connect_check, create_engine, driver_reason, safe_url
from .errors import EXIT_INVALID, DatabaseUnavailable
from .personal_patterns import TEXT, column_kind, name_reasons, value_reasons
from .policy import Policy, load_policy
from .schemacheck import check_schema

# `check --strict` exits with this code when a column is not covered: the policy does not
# fit the database, as with a schema mismatch (exit 3), and nothing was changed.
EXIT_UNCOVERED = EXIT_INVALID
OWN_TABLE_PREFIX = "retention_"  # the tool's own tables (audit trail, lock) are not the shop's

Coverage = dict[str, dict[str | None, list[str]]]  # table -> column (None: every) -> by what


@dataclass(frozen=True)
class Finding:
    """A column that looks personal: why, and what covers it (nothing, if uncovered)."""

    table: str
    column: str
    reasons: tuple[str, ...]
    covered_by: tuple[str, ...] = ()

    @property
    def covered(self) -> bool:
        return bool(self.covered_by)


@dataclass(frozen=True)
class CoverageReport:
    database: str
    policy_digest: str
    tables: int
    columns: int
    sample_size: int
    sampled_columns: int
    findings: tuple[Finding, ...]

    @property
    def uncovered(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if not f.covered)

    @property
    def covered(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.covered)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("findings")
        data["uncovered"] = [_finding(f) for f in self.uncovered]
        data["covered"] = [_finding(f) for f in self.covered]
        return data


def _finding(finding: Finding) -> dict[str, Any]:
    data: dict[str, Any] = {"table": finding.table, "column": finding.column,
                            "reasons": list(finding.reasons)}
    if finding.covered_by:
        data["covered_by"] = list(finding.covered_by)
    return data


def check_coverage(policies: Sequence[str | Path], database: str, *,
                   sample: int = 0) -> CoverageReport:
    """Every column of the database that looks personal, with the rules and keep entries
    that cover it. Read-only; with `sample`, reads up to that many non-null values of each
    uncovered text column whose name says nothing."""
    policy = load_policy(policies)
    engine = create_engine(database, read_only=True)
    connect_check(engine)
    try:
        catalog = Catalog(engine)
        check_schema(policy, catalog)
        covered = coverage(policy, catalog)
        with engine.connect() as conn:
            return _scan(conn, catalog, covered, policy.digest, safe_url(engine.url), sample)
    except OperationalError as err:
        raise DatabaseUnavailable(f"database error during check: {driver_reason(err)}") from None
    finally:
        engine.dispose()


def coverage(policy: Policy, catalog: Catalog) -> Coverage:
    """Per table and column, what accounts for it: the policy's actions (a deleted row takes
    every column with it, the database's cascades included) and its keep entries."""
    found: Coverage = defaultdict(lambda: defaultdict(list))
    now = datetime.now(UTC)  # the cutoff plays no part: only which tables and columns change
    for rule in policy.rules:
        compiled = compile_rule(rule, catalog, now, policy.financial_year)
        for node in compiled.root.walk():
            if node.action == "delete":
                found[node.table.name][None].append(f"rows deleted by rule {rule.id}")
                _cascades(found, node.cascades, rule.id, node.table.name)
            else:
                for name in node.strategies:
                    found[node.table.name][name].append(f"anonymised by rule {rule.id}")
    for keep in policy.keeps:
        kept: tuple[str | None, ...] = keep.columns or (None,)
        for column in kept:
            found[keep.table][column].append(f"kept ({keep.category}): {keep.reason.strip()}")
    return found


def _cascades(found: Coverage, cascades: list[Cascade], rule_id: str, parent: str) -> None:
    for cascade in cascades:
        table = cascade.table.name
        if cascade.fk.ondelete == "CASCADE":
            found[table][None].append(
                f"rows deleted by the database with {parent} rows of rule {rule_id}")
            _cascades(found, cascade.children, rule_id, table)
        else:
            for name in cascade.fk.columns:
                found[table][name].append(
                    f"set to NULL by the database with {parent} rows of rule {rule_id}")


def _scan(conn: sa.Connection, catalog: Catalog, covered: Coverage, digest: str,
          database: str, sample: int) -> CoverageReport:
    findings: list[Finding] = []
    tables = columns = sampled = 0
    for name in sorted(catalog.table_names()):
        if name.startswith(OWN_TABLE_PREFIX):
            continue
        tables += 1
        table = catalog.table(name)
        by_table = covered.get(name, {})
        for column in table.columns:
            columns += 1
            by = tuple(by_table.get(None, ())) + tuple(by_table.get(column.name, ()))
            reasons = name_reasons(name, column)
            if not reasons and sample and not by and column_kind(column) == TEXT:
                sampled += 1
                values = conn.execute(sa.select(column).where(column.is_not(None))
                                      .limit(sample)).scalars().all()
                reasons = value_reasons(list(values))
            if reasons:
                findings.append(Finding(name, column.name, tuple(reasons), by))
    conn.rollback()
    return CoverageReport(database, digest, tables, columns, sample, sampled, tuple(findings))


def coverage_table(report: CoverageReport, console: Console) -> None:
    """The uncovered columns as a table, with a summary line."""
    console.print(f"Personal-data coverage of {report.database} (policy "
                  f"{report.policy_digest[:12]}): {report.tables} tables, {report.columns} "
                  "columns" + (f", values of {report.sampled_columns} sampled "
                               f"({report.sample_size} each)" if report.sample_size else ""))
    if report.uncovered:
        table = Table(title="Columns that look personal and that no rule or keep covers")
        for col in ("table", "column", "why flagged"):
            table.add_column(col)
        for finding in report.uncovered:
            table.add_row(finding.table, finding.column, "; ".join(finding.reasons))
        console.print(table)
    console.print(f"{len(report.findings)} columns look personal: {len(report.covered)} "
                  f"covered by a rule or keep entry, {len(report.uncovered)} not covered.")
