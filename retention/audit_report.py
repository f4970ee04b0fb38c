"""The audit report: what the trail says the sweeps did in a period, per run, category and rule,
next to the legal basis and privacy-policy clause of each category, for auditors.

The trail is streamed in sequence order without its key hashes (the bulk of it) and summed
as it goes, so a year of nightly runs costs one pass and memory in proportion to runs and
rules, not to batches. Rendering (Markdown, HTML with an SVG chart) is in `audit_render`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .audit import TERMINAL_KINDS, audit_table, has_trail
from .database import connect_check, create_engine, safe_url
from .errors import UsageError
from .policy import load_policy

RECORDED_AT_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # as audit.now_text writes it: sorts as text


@dataclass(frozen=True)
class Period:
    """`since <= recorded_at < until` (until None: open), as UTC datetimes."""

    since: datetime
    until: datetime | None = None

    def bounds(self) -> tuple[str, str | None]:
        """The bounds in the trail's text form, which compares in time order."""
        return (self.since.strftime(RECORDED_AT_FORMAT),
                None if self.until is None else self.until.strftime(RECORDED_AT_FORMAT))


def parse_moment(value: str, option: str, *, end_of_day: bool = False) -> datetime:
    """A date (YYYY-MM-DD: the day's start, or with `end_of_day` the next day's start, so that
    `--until 2026-12-31` includes that day) or an ISO datetime (UTC unless it names a zone)."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            return moment + timedelta(days=1) if end_of_day else moment
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{option}: {value!r} is not a date (YYYY-MM-DD) or ISO datetime") \
            from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@dataclass
class TableRows:
    """Rows of one table (a rule's target, a related table or a database cascade)."""

    label: str
    table: str
    action: str
    rows: int = 0


@dataclass
class RuleEntry:
    """What one rule did in one run: rows per table, or why it stopped."""

    rule_id: str
    category: str | None
    table: str | None
    action: str | None
    cutoff: str | None
    counts: dict[str, TableRows] = field(default_factory=dict)
    batches: int = 0
    problem: str | None = None  # capped | failed
    message: str | None = None

    def add(self, counts: Mapping[str, Any]) -> None:
        for label, c in counts.items():
            entry = self.counts.setdefault(label, TableRows(label, str(c.get("table", "")),
                                                            str(c.get("action", ""))))
            entry.rows += int(c.get("rows", 0))

    @property
    def rows(self) -> int:
        return sum(c.rows for c in self.counts.values())


@dataclass
class RunEntry:
    run_id: str
    started_at: str
    policy_digest: str
    ended_at: str | None = None
    status: str = "running or interrupted"
    replay_of: list[str] = field(default_factory=list)
    rules: dict[str, RuleEntry] = field(default_factory=dict)

    @property
    def night(self) -> str:
        """The UTC date the run started: the night it belongs to."""
        return self.started_at[:10]

    def totals(self) -> dict[str, int]:
        """Rows per action (delete, anonymise, cascade delete, ...)."""
        out: dict[str, int] = {}
        for rule in self.rules.values():
            for count in rule.counts.values():
                out[count.action] = out.get(count.action, 0) + count.rows
        return out


@dataclass(frozen=True)
class CategoryInfo:
    """A category as the current policy files describe it (None texts: not in them)."""

    id: str
    title: str | None = None
    description: str | None = None
    legal_basis: str | None = None
    policy_clause: str | None = None


@dataclass(frozen=True)
class DigestUse:
    digest: str
    first: str
    last: str
    runs: int
    current: bool


@dataclass
class Report:
    period: Period
    generated_at: datetime
    database: str
    policy_digest: str  # of the policy files given now
    policy_files: tuple[str, ...]
    categories: dict[str, CategoryInfo]
    runs: list[RunEntry]

    def digests(self) -> list[DigestUse]:
        """The policy versions in force, in order of first use."""
        uses: dict[str, list[RunEntry]] = {}
        for run in self.runs:
            uses.setdefault(run.policy_digest, []).append(run)
        return [DigestUse(d, runs[0].started_at, runs[-1].started_at, len(runs),
                          d == self.policy_digest) for d, runs in uses.items()]

    def category_totals(self) -> dict[str, dict[tuple[str, str], TableRows]]:
        """Per category, per (rule, table label): rows over the whole period."""
        out: dict[str, dict[tuple[str, str], TableRows]] = {c: {} for c in self.categories}
        for run in self.runs:
            for rule in run.rules.values():
                bucket = out.setdefault(rule.category or "?", {})
                for label, count in rule.counts.items():
                    total = bucket.setdefault((rule.rule_id, label),
                                              TableRows(label, count.table, count.action))
                    total.rows += count.rows
        return out

    def nightly(self) -> dict[str, dict[str, int]]:
        """Rows changed per night (UTC start date of the runs) per category."""
        out: dict[str, dict[str, int]] = {}
        for run in self.runs:
            night = out.setdefault(run.night, {})
            for rule in run.rules.values():
                if rule.rows:
                    key = rule.category or "?"
                    night[key] = night.get(key, 0) + rule.rows
        return out

    def problems(self) -> list[tuple[RunEntry, RuleEntry]]:
        return [(run, rule) for run in self.runs for rule in run.rules.values()
                if rule.problem]


# Everything but the key hashes: they are the bulk of the trail and a report never needs them.
_COLUMNS = [audit_table.c[n] for n in ("seq", "recorded_at", "run_id", "kind", "rule_id",
                                       "category", "table_name", "action", "cutoff", "counts",
                                       "policy_digest", "status", "detail")]


def read_runs(conn: Connection, period: Period) -> list[RunEntry]:
    """Every run that started in the period, with all its records (also those written after
    the period ends, such as a late finish or the `run_aborted` a later run wrote)."""
    t = audit_table
    since, until = period.bounds()
    started = sa.select(t.c.run_id).where(t.c.kind == "run_started", t.c.recorded_at >= since)
    if until is not None:
        started = started.where(t.c.recorded_at < until)
    stmt = sa.select(*_COLUMNS).where(t.c.run_id.in_(started)).order_by(t.c.seq)
    runs: dict[str, RunEntry] = {}
    for record in conn.execution_options(yield_per=2000).execute(stmt).mappings():
        _fold(runs, record)
    return list(runs.values())


def _fold(runs: dict[str, RunEntry], r: Mapping[Any, Any]) -> None:
    kind = r["kind"]
    if kind == "run_started":
        detail = _loads(r["detail"])
        replay = detail.get("replay_of")
        runs[r["run_id"]] = RunEntry(r["run_id"], r["recorded_at"], r["policy_digest"],
                                     replay_of=[str(x) for x in replay]
                                     if isinstance(replay, list) else [])
        return
    run = runs.get(r["run_id"])
    if run is None:  # pragma: no cover - a run's first record is its start
        return
    if kind in TERMINAL_KINDS:
        run.ended_at = r["recorded_at"]
        run.status = r["status"] or kind
        return
    if kind not in ("batch", "rule_failed", "rule_capped"):
        return
    rule = run.rules.get(r["rule_id"])
    if rule is None:
        rule = run.rules[r["rule_id"]] = RuleEntry(r["rule_id"], r["category"],
                                                   r["table_name"], r["action"], r["cutoff"])
    if kind == "batch":
        rule.batches += 1
        rule.add(_loads(r["counts"]))
    else:
        rule.problem = "capped" if kind == "rule_capped" else "failed"
        rule.message = str(_loads(r["detail"]).get("error") or "")
        rule.cutoff = rule.cutoff or r["cutoff"]


def _loads(text: str | None) -> dict[str, Any]:
    value = json.loads(text) if text else {}
    return value if isinstance(value, dict) else {}


def categories_of(policies: Sequence[str | Path] | None,
                  seen: Iterable[str]) -> tuple[dict[str, CategoryInfo], str, tuple[str, ...]]:
    """The categories of the policy files (their texts), plus bare entries for categories the
    trail names that the files do not; with the files' digest and names."""
    found: dict[str, CategoryInfo] = {}
    digest = ""
    files: tuple[str, ...] = ()
    if policies:
        policy = load_policy(policies)
        digest, files = policy.digest, policy.files
        for c in policy.categories.values():
            found[c.id] = CategoryInfo(c.id, c.title, c.description.strip() or None,
                                       c.legal_basis, c.policy_clause)
    for category in seen:
        found.setdefault(category, CategoryInfo(category))
    return found, digest, files


def build_report(database: str, period: Period,
                 policies: Sequence[str | Path] | None = None) -> Report:
    """Read the trail of `database` (read-only) for the runs that started in `period`."""
    engine = create_engine(database, read_only=True)
    try:
        connect_check(engine)
        with engine.connect() as conn:
            runs = read_runs(conn, period) if has_trail(conn) else []
            conn.rollback()
        where = safe_url(engine.url)
    finally:
        engine.dispose()
    seen = dict.fromkeys(rule.category or "?" for run in runs for rule in run.rules.values())
    categories, digest, files = categories_of(policies, seen)
    return Report(period, datetime.now(UTC), where, digest, files, categories, runs)
