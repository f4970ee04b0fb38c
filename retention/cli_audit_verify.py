"""`retention audit verify` and `retention audit export`, and the head a run anchors: thin
click commands over `retention.audit_api`, attached to the `audit` group by retention.cli.

The database option is declared here rather than imported from `retention.cli`, which imports
this module: a cycle would break whichever of the two is imported first.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import IO

import click
import structlog
from click.core import ParameterSource

from . import audit_api
from .audit_export import FORMATS, AnchorNotWritten, append_anchor, read_anchors
from .audit_report import parse_moment
from .cli_options import database_option, need_database
from .errors import EXIT_OK, AuditTrailInvalid
from .sweep import RunResult

log = structlog.get_logger("retention")

def record_head(result: RunResult, anchor_file: IO[str] | None) -> None:
    """After a run: log the trail's head (an `audit_head` event on stderr, a JSON line off a
    terminal like every stderr line) and append it to the anchor file."""
    if result.head is None:
        return
    seq, head = result.head
    anchored = None if anchor_file is None else str(anchor_file.name)
    if anchor_file is not None:
        try:
            append_anchor(anchor_file, seq, head, result.run_id)
        except OSError as err:
            raise AnchorNotWritten(
                f"cannot append the audit head to the anchor file {anchored}: {err.strerror}; "
                f"the run itself is recorded (audit head seq={seq} hash={head}): append that "
                "line by hand") from None
    log.info("audit_head", seq=seq, hash=head, run_id=result.run_id, anchor_file=anchored)


@click.command("verify")
@database_option
@click.option("--file", "export_file", metavar="EXPORT",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Verify an export file offline instead of the database (JSON Lines, or CSV "
                   "when named *.csv), and EXPORT.sha256 when present.")
@click.option("--anchors", "anchors_file", metavar="PATH",
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Anchor file written by `retention run --anchor-file`: every anchor's record "
                   "must exist with the anchored hash.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@click.pass_context
def audit_verify(ctx: click.Context, database: str | None, export_file: Path | None,
                 anchors_file: Path | None, fmt: str) -> int:
    """Recompute the audit trail's hash chain; check runs and anchors.

    Prints `N/N records valid, R/R runs closed, A/A anchors match, head seq=... hash=...`.
    Exits 6 naming the first sequence number at fault when a record was edited, deleted,
    reordered or forged, a run was never closed, an anchor does not match (the chain was
    rewritten or its tail cut), or an export file was changed. Reads only.

    \b
    Examples:
      retention audit verify --database sqlite:///shop.db
      retention audit verify --anchors /var/lib/retention/anchors.jsonl
      retention audit verify --file audit-2026.jsonl --anchors anchors.jsonl
    """
    if export_file is not None and \
            ctx.get_parameter_source("database") is ParameterSource.COMMANDLINE:
        raise click.UsageError("give --database or --file, not both")
    anchors = read_anchors(anchors_file) if anchors_file is not None else None
    if export_file is not None:
        report = audit_api.verify_file(export_file, anchors)
    else:
        report = audit_api.verify_database(need_database(database), anchors)
    if fmt == "json":
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        for line in report.lines():
            click.echo(line)
    first = report.first_fault()
    if first is not None:
        where = f"seq {first.seq}" if first.seq is not None else "the file"
        raise AuditTrailInvalid(f"audit trail failed verification: first fault at {where}: "
                                f"{first.message} ({len(report.faults)} fault(s))")
    return EXIT_OK


@click.command("export")
@database_option
@click.option("--since", required=True, metavar="DATE",
              help="From this day (YYYY-MM-DD, UTC) or ISO datetime.")
@click.option("--until", metavar="DATE",
              help="To this day, included (YYYY-MM-DD), or up to an ISO datetime, excluded "
                   "(default: to the end).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="jsonl",
              show_default=True)
@click.option("--output", "-o", required=True, metavar="FILE",
              type=click.Path(dir_okay=False, path_type=Path),
              help="The export; FILE.sha256 is written beside it. Never overwritten.")
def audit_export(database: str | None, since: str, until: str | None, fmt: str,
                 output: Path) -> int:
    """Write the audit records of a period, in sequence order, to FILE and FILE.sha256.

    Every hashed field and the hash are written, so `retention audit verify --file FILE`
    checks the export without a database. CSV files must be named *.csv, JSON Lines files
    not. Reads only.

    \b
    Examples:
      retention audit export --since 2026-01-01 --until 2026-12-31 -o audit-2026.jsonl
      retention audit export --since 2026-06-01 --format csv -o audit-june.csv
    """
    if (fmt == "csv") != (output.suffix.lower() == ".csv"):
        raise click.BadParameter("name a CSV export *.csv and a JSON Lines one otherwise "
                                 "(verify tells the format by the name)", param_hint="--output")
    start = _moment(since, "--since")
    end = _moment(until, "--until", next_day=True) if until is not None else None
    result = audit_api.export(need_database(database), output, since=start, until=end,
                              fmt=fmt)
    if result.count == 0:
        click.echo("no audit records in that period; nothing written", err=True)
    else:
        click.echo(f"exported {result.count:,} records (seq {result.first}..{result.last}) to "
                   f"{output}; checksum in {output}.sha256", err=True)
    return EXIT_OK


def _moment(value: str, option: str, *, next_day: bool = False) -> datetime:
    """A day (its start, or with `next_day` the next day's start, so that an --until day is
    included) or an ISO datetime, UTC unless it names a zone."""
    return parse_moment(value, option, end_of_day=next_day)
