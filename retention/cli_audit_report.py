"""`retention audit report | lookup | replay`: thin click commands over `audit_report`,
`audit_lookup` and `audit_replay`, attached to the `audit` group of `retention.cli`.

The options are declared here rather than imported from `retention.cli`, which imports this
module: a cycle would break whichever of the two is imported first.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from .audit_lookup import LookupResult, load_keyring, lookup
from .audit_render import html, markdown
from .audit_replay import ReplayResult, replay
from .audit_report import Period, build_report, parse_moment
from .cli_options import database_option, need_database, policies_option, policy_paths
from .cli_options import stdout_console as _stdout
from .errors import EXIT_OK, EXIT_PARTIAL, UsageError

export_option = click.option(
    "--from-export", "export", metavar="FILE.jsonl",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Read the records from this export of the trail (JSON lines) instead of the database.")


@click.command("report")
@click.option("--since", required=True, metavar="DATE", help="First day (UTC) of the period.")
@click.option("--until", metavar="DATE", help="Last day (UTC) of the period, included.")
@click.option("--format", "fmt", type=click.Choice(["md", "html"]), default="md",
              show_default=True, help="Markdown, or one self-contained HTML file.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), metavar="FILE",
              help="Write to FILE instead of stdout.")
@policies_option
@database_option
def audit_report(since: str, until: str | None, fmt: str, output: str | None,
                 policies: tuple[str, ...], database: str | None) -> int:
    """Report for auditors: per run, category and rule, the cutoffs, the rows deleted and
    anonymised per table, rules stopped by caps or failed, the policy versions in force, and
    each category's legal basis and privacy-policy clause (from the policy files).

    Runs are those that started in the period. Reads the trail only; needs no secret.

    \b
    Examples:
      retention audit report --since 2026-01-01 --until 2026-12-31 --format html -o 2026.html
      retention audit report --since 2026-11-01 > november.md
    """
    period = Period(parse_moment(since, "--since"),
                    parse_moment(until, "--until", end_of_day=True) if until else None)
    if period.until is not None and period.until <= period.since:
        raise UsageError(f"--until {until} is before --since {since}")
    report = build_report(need_database(database), period, policy_paths(policies))
    text = html(report) if fmt == "html" else markdown(report)
    if output:
        try:
            Path(output).write_text(text, encoding="utf-8")
        except OSError as err:
            raise UsageError(f"--output: cannot write {output}: {err.strerror}") from None
        click.echo(f"wrote {output}: {len(report.runs):,} run(s)", err=True)
    else:
        click.echo(text, nl=False)
    return EXIT_OK


@click.command("lookup")
@click.option("--table", required=True, metavar="TABLE", help="The table the row was in.")
@click.option("--key", "keys", multiple=True, required=True, metavar="VALUE",
              help="The row's key; repeat for each column of a composite key, in the order of "
                   "the rule's key columns.")
@database_option
@export_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def audit_lookup(table: str, keys: tuple[str, ...], database: str | None,
                 export: Path | None, fmt: str) -> int:
    """When was this row deleted or anonymised, by which rule and run?

    Needs RETENTION_SECRET: the trail holds keyed hashes of keys, never keys. Records made
    under an older secret are searched when it is given in RETENTION_SECRET_PREVIOUS (or one
    per line in RETENTION_SECRET_PREVIOUS_FILE). Only the rules' target rows are recorded by
    key: ask about a related row through its parent. Exits 0 with an answer, 4 when no record
    was found but some could not be searched (their secret is missing). The key is never
    printed.

    \b
    Examples:
      retention audit lookup --table sales_order --key 4711
      retention audit lookup --table order_addresses --key 42 --key billing --format json
      retention audit lookup --table sales_order --key 4711 --from-export trail.jsonl
    """
    if export is None:
        database = need_database(database)
    result = lookup(database, table, keys, load_keyring(), export=export)
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(_lookup_text(result), nl=False)
    return EXIT_PARTIAL if not result.matches and not result.complete else EXIT_OK


def _lookup_text(result: LookupResult) -> str:
    table = result.table
    if not result.has_trail:
        return "no audit trail in this database\n"
    lines = []
    if result.matches:
        lines.append(f"{table}: {len(result.matches)} record(s) of the trail hold this key:")
        for m in result.matches:
            verb = {"delete": "deleted", "anonymise": "anonymised"}.get(m.action, m.action)
            replay = f", replay of run {m.replay_of}" if m.replay_of else ""
            lines.append(f"  {m.recorded_at}  {verb} by rule {m.rule_id} (category "
                         f"{m.category}), run {m.run_id}{replay}, seq {m.seq}, cutoff "
                         f"{m.cutoff or '-'}")
    else:
        lines.append(f"{table}: no record in the trail for this key ({result.records:,} batch "
                     f"record(s) of {table} searched)")
    for key_id, count in result.unsearchable.items():
        lines.append(f"  not searched: {count:,} record(s) written under key id {key_id}, "
                     "which is not the current secret; give it in RETENTION_SECRET_PREVIOUS")
    for rule_id, parent in result.parents:
        lines.append(f"  note: rule {rule_id} changes rows of {table} as related rows of "
                     f"{parent}; the trail names only {parent} keys: look up the parent row "
                     f"(--table {parent} --key ...)")
    return "\n".join(lines) + "\n"


@click.command("replay")
@click.option("--since", required=True, metavar="DATE",
              help="Replay the erasures recorded from this day or moment (UTC) on.")
@database_option
@policies_option
@export_option
@click.option("--dry-run", is_flag=True, help="Count the rows it would erase; change nothing.")
@click.option("--batch-size", type=click.IntRange(1, 100_000), metavar="N",
              help="Keys per batch (default from the policy settings).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def audit_replay(since: str, database: str | None, policies: tuple[str, ...],
                 export: Path | None, dry_run: bool, batch_size: int | None, fmt: str) -> int:
    """After a restore from backup: erase again every row the trail records as deleted or
    anonymised since DATE, with the same rules of the current policy, and nothing else.

    Read the records from an export kept outside the database (--from-export): a restore
    rolls back the trail inside it too. Needs RETENTION_SECRET (and older secrets for older
    records). Takes the sweep lock; the replay is a run of its own in the trail. Exits 0, or
    4 when some rule could not be replayed (missing from the policy, changed, or records
    under an unknown key).

    \b
    Examples:
      retention audit replay --since 2026-11-01 --from-export trail.jsonl --dry-run
      retention audit replay --since 2026-11-01 --from-export trail.jsonl
    """
    moment = parse_moment(since, "--since")
    result = replay(policy_paths(policies), need_database(database), since=moment,
                    export=export, dry_run=dry_run, batch_size=batch_size,
                    keyring=load_keyring())
    if fmt == "json":
        click.echo(json.dumps(_replay_dict(result, dry_run), indent=2))
    else:
        _replay_table(result, dry_run, _stdout())
    return result.exit_code


def _replay_dict(result: ReplayResult, dry_run: bool) -> dict[str, object]:
    return {
        "run_id": result.run_id, "dry_run": dry_run, "since": result.since,
        "source": result.source, "replay_of": result.replay_of,
        "rules": [{
            "rule_id": r.rule_id, "table": r.table, "action": r.action,
            "recorded_keys": r.recorded, "rows_found": r.found, "rows_erased": r.rows,
            "counts": {k: vars(c) for k, c in r.result.counts.items()} if r.result else None,
            "error": r.error,
        } for r in result.rules]}


def _replay_table(result: ReplayResult, dry_run: bool, console: Console) -> None:
    title = "Replay (dry run: nothing changed)" if dry_run else f"Replay run {result.run_id}"
    table = Table(title=f"{title}, records since {result.since} from the {result.source}")
    for col in ("rule", "table", "action", "recorded keys", "rows found",
                "would erase" if dry_run else "erased", "problem"):
        table.add_column(col, justify="right" if col in ("recorded keys", "rows found",
                                                         "erased", "would erase") else "left")
    for r in result.rules:
        table.add_row(r.rule_id, r.table, r.action, f"{r.recorded:,}", f"{r.found:,}",
                      f"{r.rows:,}", r.error or "")
    console.print(table)
    if not result.rules:
        console.print("no erasures recorded since then")
