"""Human-readable output of plans, runs and audit summaries (rich tables on stdout)."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.table import Table

from .audit import RunSummary
from .planner import Plan
from .sweep import RunResult


def plan_table(plan: Plan, console: Console) -> None:
    console.print(f"Plan as of [bold]{plan.as_of.isoformat()}[/] on {plan.database} "
                  f"(policy {plan.policy_digest[:12]}) — dry run, nothing is changed")
    table = Table(show_lines=False)
    for col in ("rule", "category", "table", "action", "cutoff", "rows"):
        table.add_column(col, justify="right" if col == "rows" else "left")
    for rule in plan.rules:
        for i, count in enumerate(rule.counts):
            table.add_row(
                rule.rule_id if i == 0 else "",
                rule.category if i == 0 else "",
                count.label if i == 0 else "  " + count.label.split(" > ", 1)[-1],
                count.action,
                (rule.cutoff or "no expiry (filters only)") if i == 0 else "",
                f"{count.rows:,}",
            )
    console.print(table)
    for rule in plan.rules:
        if rule.sample_keys:
            keys = ", ".join(_key(k) for k in rule.sample_keys)
            console.print(f"{rule.rule_id}: first keys due: {keys}")
        for statement in rule.sql:
            console.print(f"[dim]-- rule {rule.rule_id}[/]")
            console.print(statement, markup=False, highlight=False)
    total = sum(r.total for r in plan.rules)
    console.print(f"{total:,} rows in {len(plan.rules)} rules would change.")


def _key(key: tuple[Any, ...]) -> str:
    return str(key[0]) if len(key) == 1 else "(" + ", ".join(map(str, key)) + ")"


def plan_json(plan: Plan) -> str:
    return json.dumps(plan.to_dict(), indent=2, default=str)


def run_table(result: RunResult, console: Console) -> None:
    table = Table(title=f"Run {result.run_id} — {result.status}")
    for col in ("rule", "table", "action", "rows", "batches", "seconds", "error"):
        table.add_column(col, justify="right" if col in ("rows", "batches", "seconds") else "left")
    for rule in result.rules:
        first = True
        for label, count in rule.counts.items():
            table.add_row(rule.rule_id if first else "", label, count.action, f"{count.rows:,}",
                          str(rule.batches) if first else "",
                          f"{rule.seconds:.2f}" if first else "", "")
            first = False
        if rule.error:
            table.add_row(rule.rule_id, rule.table, rule.action, "0", "", "", rule.error)
    console.print(table)
    totals = ", ".join(f"{n:,} {a}" for a, n in result.totals().items()) or "nothing to do"
    console.print(f"{totals} in {result.seconds:.2f} s")
    for rule in result.rules:
        if rule.remaining:
            console.print(f"{rule.rule_id}: {rule.remaining:,} row(s) still due after the rule "
                          "(locked by the application, capped or failed); the next run "
                          "selects them again")
    for dead in result.aborted_runs:
        console.print(f"run {dead} never finished (killed or crashed); recorded as aborted")
    if result.head:
        console.print(f"audit head seq={result.head[0]} hash={result.head[1]}")


def run_json(result: RunResult) -> str:
    return json.dumps({
        "run_id": result.run_id,
        "status": result.status,
        "stop_reason": result.stop_reason,
        "started_at": result.started_at.isoformat(),
        "seconds": round(result.seconds, 3),
        "totals": result.totals(),
        "rules": [{
            "rule_id": r.rule_id, "category": r.category, "table": r.table, "action": r.action,
            "cutoff": r.cutoff, "batches": r.batches, "seconds": round(r.seconds, 3),
            "error": r.error, "remaining": r.remaining,
            "counts": {k: vars(c) for k, c in r.counts.items()},
        } for r in result.rules],
        "aborted_runs": result.aborted_runs,
        "audit_head": {"seq": result.head[0], "hash": result.head[1]} if result.head else None,
    }, indent=2)


def audit_summary(summary: RunSummary, console: Console) -> None:
    console.print(f"Run [bold]{summary.run_id}[/]: {summary.status}")
    console.print(f"  started {summary.started_at}, ended {summary.ended_at or '—'}, "
                  f"tool {summary.detail.get('tool_version', '?')}, "
                  f"policy {summary.policy_digest[:12]}")
    if "totals" in summary.detail:
        totals = ", ".join(f"{n:,} {a}" for a, n in summary.detail["totals"].items())
        console.print(f"  totals: {totals or 'nothing changed'}")
    table = Table()
    for col in ("rule", "category", "table", "action", "cutoff", "rows", "batches"):
        table.add_column(col, justify="right" if col in ("rows", "batches") else "left")
    for rule_id, entry in summary.rules.items():
        if entry["error"]:
            table.add_row(rule_id, entry["category"], entry["table"], entry["action"],
                          entry["cutoff"] or "", "failed: " + entry["error"], "")
        first = True
        for label, count in entry["counts"].items():
            table.add_row(rule_id if first else "", entry["category"] if first else "",
                          label, count["action"], (entry["cutoff"] or "") if first else "",
                          f"{count['rows']:,}", str(entry["batches"]) if first else "")
            first = False
    console.print(table)
