"""`retention demo`: the Magento-shaped demo shop built in a database, then the shipped
policies planned, run and audited against it.

Accounts are removed the way Magento removes them, by deleting the customer_entity row and
letting the database apply its foreign keys; the copies without foreign keys stay behind for
the policies to find.
"""

from __future__ import annotations

import itertools
import os
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

from . import api, render
from .audit import metadata as audit_metadata
from .database import connect_check, create_engine, safe_url
from .demo_data import CHUNK, DEMO_SECRET, generate
from .demo_schema import demo_metadata
from .errors import ConfigError
from .lock import metadata as lock_metadata
from .secrets import SECRET_ENV, SECRET_FILE_ENV


def _naive_utc(moment: datetime | None) -> datetime:
    """The moment as the demo's naive-UTC columns hold it; by default today at 00:00 UTC."""
    if moment is None:
        today = datetime.now(UTC).date()
        return datetime(today.year, today.month, today.day)
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def build_demo_database(url: str, *, customers: int = 3000, seed: int = 7,
                        as_of: datetime | None = None) -> dict[str, int]:
    """Create the demo schema at `url` (replacing an earlier demo) and fill it; returns the
    rows per table. Refuses a database holding any other table, so that a mistyped URL
    cannot drop a real shop's tables."""
    meta = demo_metadata()
    shop, removed = generate(customers, seed, _naive_utc(as_of))
    engine = create_engine(url, write=True)
    try:
        connect_check(engine)
        found = set(sa.inspect(engine).get_table_names())
        foreign = sorted(found - set(meta.tables) - set(audit_metadata.tables)
                         - set(lock_metadata.tables))
        if foreign:
            more = ", ..." if len(foreign) > 3 else ""
            raise ConfigError(f"{safe_url(engine.url)} holds tables the demo does not create "
                              f"({', '.join(foreign[:3])}{more}); build the demo in an empty "
                              "database")
        with engine.begin() as conn:
            audit_metadata.drop_all(conn)  # an old trail describes rows that are gone
            meta.drop_all(conn)
            meta.create_all(conn)
        with engine.begin() as conn:
            for table in meta.sorted_tables:
                rows = shop.rows[table.name]
                for start in range(0, len(rows), CHUNK):
                    conn.execute(table.insert(), rows[start:start + CHUNK])
        customer = meta.tables["customer_entity"]
        with engine.begin() as conn:  # removed as Magento does: the foreign keys do the rest
            conn.execute(customer.delete().where(customer.c.entity_id.in_(removed)))
        with engine.connect() as conn:
            return {t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t))
                                .scalar_one()) for t in meta.sorted_tables}
    finally:
        engine.dispose()


def run_demo(path: Path, *, customers: int, seed: int, policies: list[str] | None,
             console: Console) -> int:
    """Build the SQLite demo shop at `path`, then plan, run and audit the policies on it.

    Returns the run's exit code."""
    paths = policies or ["policies"]
    if not policies and not Path("policies").is_dir():
        raise ConfigError("no ./policies directory here: run the demo from the directory that "
                          "holds the shipped policies, or pass --policies PATH")
    api.validate(paths)  # a broken policy stops the demo before anything is built
    if not path.parent.is_dir():
        raise ConfigError(f"cannot create the demo database {path}: {path.parent} is not a "
                          "directory")
    secret_note = _ensure_secret()
    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    url = f"sqlite:///{path}"
    started = time.monotonic()
    counts = build_demo_database(url, customers=customers, seed=seed)
    console.rule("Demo shop")
    console.print(f"Built {path}: a Magento-2-shaped shop with {customers:,} invented customer "
                  f"accounts and six years of orders (seed {seed}), "
                  f"{sum(counts.values()):,} rows in {time.monotonic() - started:.1f} s.")
    console.print(_counts_table(counts))
    if secret_note:
        console.print(secret_note)
    console.rule("1. Plan (dry run)")
    render.plan_table(api.plan(paths, url), console)
    console.rule("2. Run")
    result = api.sweep(paths, url)
    render.run_table(result, console)
    console.rule("3. Audit trail")
    summary = api.audit_show(url, result.run_id)
    if summary is not None:
        render.audit_summary(summary, console)
    console.rule("Next")
    given = "".join(f" --policies {p}" for p in policies or ())
    next_year = f"{datetime.now(UTC).year + 1}-01-01"
    console.print("Try the commands yourself against the demo database:", highlight=False)
    for command in (f"retention validate{given} --database {url}",
                    f"retention plan{given} --database {url} --sql",
                    f"retention run{given} --database {url}    # orders whose documents went",
                    f"retention plan{given} --database {url} --as-of {next_year}",
                    f"retention audit show --database {url}"):
        console.print(f"  {command}", markup=False, highlight=False)
    if secret_note:
        console.print(f"  (run needs the secret: export {SECRET_ENV}={DEMO_SECRET} - demo "
                      "only)", markup=False, highlight=False)
    return result.exit_code


def _ensure_secret() -> str | None:
    if os.environ.get(SECRET_ENV) or os.environ.get(SECRET_FILE_ENV):
        return None
    os.environ[SECRET_ENV] = DEMO_SECRET
    return (f"{SECRET_ENV} is not set: this demo uses the fixed, public, demo-only secret "
            f"{DEMO_SECRET!r} for pseudonyms and audit hashes. Never use it for a real shop.")


def _counts_table(counts: dict[str, int]) -> Table:
    table = Table(show_header=True, box=None, padding=(0, 2))
    names = [n for n in sorted(counts) if not n.startswith("store")]
    half = (len(names) + 1) // 2
    for _ in range(2):
        table.add_column("table")
        table.add_column("rows", justify="right")
    for left, right in itertools.zip_longest(names[:half], names[half:]):
        table.add_row(left, f"{counts[left]:,}", right or "",
                      f"{counts[right]:,}" if right else "")
    return table
