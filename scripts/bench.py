#!/usr/bin/env python
"""Benchmark `retention run` against hand-written SQL on SQLite, PostgreSQL and MariaDB/MySQL.

The workload: an `orders` table of N rows with two `order_items` per order (foreign key
order_items.order_id -> orders.id, not cascading, indexed), created_at spread over six years,
60 % guest orders, so ~30 % of the orders (and their items) are guest orders older than three
years. Each variant purges exactly those, on a freshly built copy of the data:

  retention  retention.api.sweep() with a policy (delete orders, related order_items delete),
             audit trail on, logs configured as `retention run` does (JSON lines on stderr)
  (a)        the floor: one set-based DELETE per table in one transaction
             (items whose order is due, then the due orders)
  (b)        keyset-batched hand-written SQL on the DBAPI connection of the same driver, one
             transaction per batch: SELECT id ... WHERE guest AND created_at <= cutoff AND
             id > last ORDER BY id LIMIT n [FOR UPDATE]; DELETE items WHERE order_id <keys>;
             DELETE orders WHERE id <keys> AND <rule re-checked>; COMMIT. <keys> is the form
             the tool uses per dialect: `= ANY(%s::integer[])` (one array parameter) on
             PostgreSQL, an IN list of bind parameters elsewhere. FOR UPDATE where the tool
             takes row locks (not SQLite). No audit trail.

(b) sends the statements `retention plan --sql` shows for this rule (same FOR UPDATE, same
re-check of the rule in the orders DELETE), so retention/(b) measures what the tool adds on the
client side: SQLAlchemy Core, the audit trail (key hashes + one hash-chained record per batch)
and its own bookkeeping. retention's time also includes its fixed start-up work (policy load,
reflection, audit table check, run_started/run_finished records: ~0.1-0.3 s).

Each variant runs in its own subprocess (imports and driver import done before the clock
starts), so the peak RSS reported is that variant's own; the CPU time of that process is
reported too (the client side; on SQLite it includes the database engine, which runs
in-process). Data generation runs on the server (PostgreSQL generate_series, MariaDB's Sequence
engine `seq_1_to_N`, SQLite a recursive CTE) and is not timed. On PostgreSQL and MariaDB the
tables live in a separate database `retention_bench` (created if missing), never in the URL's
own database. --repeat R runs every variant R times, interleaved, each on fresh data, and
reports the fastest run.

    python scripts/bench.py --quick                      # 20,000 orders, seconds
    python scripts/bench.py                              # 1,000,000 orders on all three
    python scripts/bench.py --rows 1000000 --repeat 2 --backends sqlite,postgresql
    python scripts/bench.py --mysql-rows 200000          # fewer orders on MariaDB only
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from retention.database import create_engine, normalise_url

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_MYSQL = "mysql://root@127.0.0.1:3306/test"
BENCH_DB = "retention_bench"
SECRET = "bench-secret-0123456789abcdef0123456789abcdef"
DAYS_OF_DATA = 2191  # six years
VARIANTS = ("a", "b", "retention")
LABELS = {"a": "(a) set-based", "b": "(b) keyset raw SQL", "retention": "retention run"}

POLICY = """
version: 1
categories:
  - id: history
    title: Purchase history
    legal_basis: Consumer purchase complaints period
    policy_clause: we store purchase history for 3 years
rules:
  - id: guest-orders
    category: history
    table: orders
    where: [{column: customer_is_guest, op: "=", value: 1}]
    expires: {after: 3 years, from: created_at}
    action: delete
    related:
      - {table: order_items, on: {order_id: id}, action: delete}
"""


# --------------------------------------------------------------------------- helpers


def rss_now_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def peak_rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def cutoff_now() -> datetime:
    """The cutoff the tool computes: now (UTC) minus 3 calendar years, as naive UTC."""
    from retention.durations import compute_cutoff, parse_duration

    moment = compute_cutoff(datetime.now(UTC), parse_duration("3 years")).moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def server_urls(backend: str, base: str) -> tuple[str, str]:
    """(admin URL on the given database, URL of the benchmark database)."""
    url = normalise_url(base)
    return url.render_as_string(hide_password=False), \
        url.set(database=BENCH_DB).render_as_string(hide_password=False)


def ensure_database(backend: str, admin_url: str) -> None:
    engine = create_engine(admin_url)
    try:
        if backend == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                      {"n": BENCH_DB}).first()
                if not exists:
                    conn.exec_driver_sql(f'CREATE DATABASE "{BENCH_DB}"')
        else:
            with engine.begin() as conn:
                conn.exec_driver_sql(f"CREATE DATABASE IF NOT EXISTS `{BENCH_DB}`")
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- data


def build(backend: str, url: str, n: int, anchor: datetime) -> None:
    """Drop and regenerate orders / order_items (and the audit trail) on the server.

    created_at = anchor - floor((n - id) * 2191 / n) days, anchor being 12 hours after the
    benchmark started: increasing with id like a real shop, and never within hours of the
    cutoff whatever second a variant computes it in. Guest flag: (id * 7919) % 10 < 6 (60 %).
    """
    engine = create_engine(url)
    a = anchor.strftime("%Y-%m-%d %H:%M:%S")
    try:
        with engine.begin() as conn:
            if backend == "mysql":
                conn.exec_driver_sql("SET SESSION foreign_key_checks = 0")
                conn.exec_driver_sql("SET SESSION unique_checks = 0")
            for t in ("retention_audit", "order_items", "orders"):
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {t}")
            if backend == "postgresql":
                _build_postgresql(conn, n, a)
            elif backend == "mysql":
                _build_mysql(conn, n, a)
            else:
                _build_sqlite(conn, n, a)
        if backend == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE orders")
                conn.exec_driver_sql("VACUUM ANALYZE order_items")
                conn.exec_driver_sql("CHECKPOINT")
        elif backend == "mysql":
            with engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE TABLE orders, order_items").all()
        else:
            with engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()


def _build_postgresql(conn: sa.Connection, n: int, a: str) -> None:
    conn.exec_driver_sql("""
        CREATE TABLE orders (
            id integer PRIMARY KEY, customer_is_guest smallint NOT NULL,
            created_at timestamp NOT NULL, email varchar(255), name varchar(255),
            total numeric(12, 2))""")
    conn.exec_driver_sql(f"""
        INSERT INTO orders
        SELECT g, CASE WHEN mod(g::bigint * 7919, 10) < 6 THEN 1 ELSE 0 END,
               timestamp '{a}' - make_interval(days => ((({n} - g)::bigint * {DAYS_OF_DATA})
                                                        / {n})::int),
               'guest' || g || '@example.com', 'Guest Name ' || g, mod(g, 1000) + 0.99
        FROM generate_series(1, {n}) AS g""")
    conn.exec_driver_sql("""
        CREATE TABLE order_items (
            id integer PRIMARY KEY, order_id integer NOT NULL, sku varchar(64),
            price numeric(12, 2))""")
    conn.exec_driver_sql(f"""
        INSERT INTO order_items
        SELECT g, (g + 1) / 2, 'SKU-' || mod(g, 5000), mod(g, 100) + 0.5
        FROM generate_series(1, {2 * n}) AS g""")
    conn.exec_driver_sql("CREATE INDEX ix_order_items_order_id ON order_items (order_id)")
    conn.exec_driver_sql("ALTER TABLE order_items ADD CONSTRAINT fk_order_items_order "
                         "FOREIGN KEY (order_id) REFERENCES orders (id)")


def _build_mysql(conn: sa.Connection, n: int, a: str) -> None:
    # MariaDB's Sequence engine: seq_1_to_N is a virtual table of 1..N
    conn.exec_driver_sql("""
        CREATE TABLE orders (
            id int NOT NULL PRIMARY KEY, customer_is_guest smallint NOT NULL,
            created_at datetime NOT NULL, email varchar(255), name varchar(255),
            total decimal(12, 2)) ENGINE=InnoDB""")
    conn.exec_driver_sql(f"""
        INSERT INTO orders
        SELECT seq, IF(MOD(seq * 7919, 10) < 6, 1, 0),
               TIMESTAMP '{a}' - INTERVAL (({n} - seq) * {DAYS_OF_DATA}) DIV {n} DAY,
               CONCAT('guest', seq, '@example.com'), CONCAT('Guest Name ', seq),
               MOD(seq, 1000) + 0.99
        FROM seq_1_to_{n}""")
    conn.exec_driver_sql("""
        CREATE TABLE order_items (
            id int NOT NULL PRIMARY KEY, order_id int NOT NULL, sku varchar(64),
            price decimal(12, 2),
            KEY ix_order_items_order_id (order_id),
            CONSTRAINT fk_order_items_order FOREIGN KEY (order_id) REFERENCES orders (id)
        ) ENGINE=InnoDB""")
    conn.exec_driver_sql(f"""
        INSERT INTO order_items
        SELECT seq, (seq + 1) DIV 2, CONCAT('SKU-', MOD(seq, 5000)), MOD(seq, 100) + 0.5
        FROM seq_1_to_{2 * n}""")


def _build_sqlite(conn: sa.Connection, n: int, a: str) -> None:
    conn.exec_driver_sql("""
        CREATE TABLE orders (
            id INTEGER PRIMARY KEY, customer_is_guest SMALLINT NOT NULL,
            created_at DATETIME NOT NULL, email VARCHAR(255), name VARCHAR(255),
            total NUMERIC(12, 2))""")
    conn.exec_driver_sql(f"""
        WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {n})
        INSERT INTO orders
        SELECT g, CASE WHEN (g * 7919) % 10 < 6 THEN 1 ELSE 0 END,
               datetime('{a}', '-' || ((({n} - g) * {DAYS_OF_DATA}) / {n}) || ' days'),
               'guest' || g || '@example.com', 'Guest Name ' || g, (g % 1000) + 0.99
        FROM s""")
    conn.exec_driver_sql("""
        CREATE TABLE order_items (
            id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES orders (id),
            sku VARCHAR(64), price NUMERIC(12, 2))""")
    conn.exec_driver_sql(f"""
        WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < {2 * n})
        INSERT INTO order_items
        SELECT g, (g + 1) / 2, 'SKU-' || (g % 5000), (g % 100) + 0.5 FROM s""")
    conn.exec_driver_sql("CREATE INDEX ix_order_items_order_id ON order_items (order_id)")


def due_counts(url: str, cutoff: datetime) -> tuple[int, int, int, int]:
    """(orders, items, due orders, items of due orders) on the freshly built data."""
    engine = create_engine(url)
    c = cutoff_param(engine.dialect.name, cutoff)
    try:
        with engine.connect() as conn:
            orders = conn.exec_driver_sql("SELECT count(*) FROM orders").scalar_one()
            items = conn.exec_driver_sql("SELECT count(*) FROM order_items").scalar_one()
            due = conn.execute(sa.text(
                "SELECT count(*) FROM orders WHERE customer_is_guest = 1 AND created_at <= :c"),
                {"c": c}).scalar_one()
            due_items = conn.execute(sa.text(
                "SELECT count(*) FROM order_items WHERE order_id IN (SELECT id FROM orders "
                "WHERE customer_is_guest = 1 AND created_at <= :c)"), {"c": c}).scalar_one()
    finally:
        engine.dispose()
    return int(orders), int(items), int(due), int(due_items)


def cutoff_param(dialect: str, cutoff: datetime) -> Any:
    # SQLite stores DATETIME as text; compare in the form it was written (as the tool does)
    return cutoff.strftime("%Y-%m-%d %H:%M:%S") if dialect == "sqlite" else cutoff


# --------------------------------------------------------------------------- variants
# Each runs in a child process (see `child`); returns (orders deleted, items deleted).


def run_a(url: str, batch_size: int) -> tuple[int, int]:
    engine = create_engine(url, write=True)
    dialect = engine.dialect.name
    c = {"c": cutoff_param(dialect, cutoff_now())}
    due = "customer_is_guest = 1 AND created_at <= :c"
    try:
        with engine.begin() as conn:
            if dialect in ("mysql", "mariadb"):
                # MariaDB 10.x runs single-table DELETE ... IN (subquery) without semi-join;
                # the multi-table form is the idiomatic set-based delete there
                items = conn.execute(sa.text(
                    "DELETE i FROM order_items i JOIN orders o ON o.id = i.order_id "
                    "WHERE o.customer_is_guest = 1 AND o.created_at <= :c"), c).rowcount
            else:
                items = conn.execute(sa.text(
                    f"DELETE FROM order_items WHERE order_id IN "
                    f"(SELECT id FROM orders WHERE {due})"), c).rowcount
            orders = conn.execute(sa.text(f"DELETE FROM orders WHERE {due}"), c).rowcount
    finally:
        engine.dispose()
    return orders, items


def b_statements(dialect: str) -> tuple[str, str, str]:
    """(select, delete items, delete orders) of variant (b), in the driver's paramstyle."""
    if dialect == "postgresql":
        return (
            "SELECT id FROM orders WHERE customer_is_guest = 1 AND created_at <= %s "
            "AND id > %s ORDER BY id LIMIT %s FOR UPDATE",
            "DELETE FROM order_items WHERE order_id = ANY(%s::integer[])",
            "DELETE FROM orders WHERE id = ANY(%s::integer[]) "
            "AND customer_is_guest = 1 AND created_at <= %s",
        )
    if dialect in ("mysql", "mariadb"):
        return (
            "SELECT id FROM orders WHERE customer_is_guest = 1 AND created_at <= %s "
            "AND id > %s ORDER BY id LIMIT %s FOR UPDATE",
            "DELETE FROM order_items WHERE order_id IN ({marks})",
            "DELETE FROM orders WHERE id IN ({marks}) "
            "AND customer_is_guest = 1 AND created_at <= %s",
        )
    return (
        "SELECT id FROM orders WHERE customer_is_guest = 1 AND created_at <= ? "
        "AND id > ? ORDER BY id LIMIT ?",
        "DELETE FROM order_items WHERE order_id IN ({marks})",
        "DELETE FROM orders WHERE id IN ({marks}) AND customer_is_guest = 1 AND created_at <= ?",
    )


def run_b(url: str, batch_size: int) -> tuple[int, int]:
    engine = create_engine(url, write=True)
    dialect = engine.dialect.name
    cutoff = cutoff_param(dialect, cutoff_now())
    select, del_items, del_orders = b_statements(dialect)
    mark = "?" if dialect == "sqlite" else "%s"
    raw = engine.raw_connection()  # the same driver and connect-time setup as the tool
    dbapi = raw.driver_connection
    orders = items = 0
    last = 0
    try:
        cur = dbapi.cursor()
        while True:
            if dialect == "sqlite":
                # retention's engines put pysqlite in autocommit mode and BEGIN IMMEDIATE
                cur.execute("BEGIN IMMEDIATE")
            cur.execute(select, (cutoff, last, batch_size))
            keys = [r[0] for r in cur.fetchall()]
            if not keys:
                dbapi.commit() if dialect != "sqlite" else cur.execute("COMMIT")
                break
            if dialect == "postgresql":
                cur.execute(del_items, (keys,))
                items += cur.rowcount
                cur.execute(del_orders, (keys, cutoff))
            else:
                marks = ", ".join([mark] * len(keys))
                cur.execute(del_items.format(marks=marks), keys)
                items += cur.rowcount
                cur.execute(del_orders.format(marks=marks), [*keys, cutoff])
            if cur.rowcount != len(keys):
                raise RuntimeError("rows changed under the benchmark")
            orders += cur.rowcount
            if dialect == "sqlite":
                cur.execute("COMMIT")
            else:
                dbapi.commit()
            last = keys[-1]
        cur.close()
    finally:
        raw.close()
        engine.dispose()
    return orders, items


def run_retention(url: str, batch_size: int) -> tuple[int, int]:
    from retention import api
    from retention.logconfig import configure

    os.environ["RETENTION_SECRET"] = SECRET
    os.environ.pop("RETENTION_SECRET_FILE", None)
    configure(json_logs=True)  # what `retention run` does when stderr is not a terminal
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_text(textwrap.dedent(POLICY).lstrip(), encoding="utf-8")
        result = api.sweep([path], url, batch_size=batch_size)
    if result.status != "completed":
        raise RuntimeError(f"sweep {result.status}: {[r.error for r in result.rules]}")
    counts = result.rules[0].counts
    return counts["orders"].rows, counts["orders > order_items"].rows


RUNNERS = {"a": run_a, "b": run_b, "retention": run_retention}


def child(variant: str, url: str, batch_size: int, profile: str | None) -> None:
    """Run one variant in this (fresh) process and print one JSON line of measurements."""
    import retention.api  # noqa: F401  (imports are not part of the measured time)

    scheme = normalise_url(url).drivername
    __import__({"postgresql+psycopg": "psycopg", "mysql+pymysql": "pymysql",
                "mariadb+pymysql": "pymysql"}.get(scheme, "sqlite3"))
    baseline = rss_now_kb()
    started = time.perf_counter()
    cpu_started = time.process_time()
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
        orders, items = RUNNERS[variant](url, batch_size)
        profiler.disable()
        profiler.dump_stats(profile)
    else:
        orders, items = RUNNERS[variant](url, batch_size)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    print(json.dumps({"variant": variant, "seconds": seconds, "cpu": cpu,
                      "orders": orders, "items": items,
                      "peak_rss_kb": peak_rss_kb(), "baseline_rss_kb": baseline}))


# --------------------------------------------------------------------------- driver


@dataclass
class Measure:
    backend: str
    variant: str
    seconds: float
    cpu: float  # CPU time of the variant's process (the client side)
    orders: int
    items: int
    peak_rss_kb: int
    baseline_rss_kb: int

    @property
    def rows(self) -> int:
        return self.orders + self.items

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def run_child(variant: str, url: str, batch_size: int, profile: str | None,
              stderr_path: Path) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", variant, "--url", url,
           "--batch-size", str(batch_size)]
    if profile:
        cmd += ["--profile", profile]
    with stderr_path.open("w") as err:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=err, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{variant} failed (exit {proc.returncode}); see {stderr_path}:\n"
                         + stderr_path.read_text()[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_backend(backend: str, url: str, n: int, batch_size: int, variants: list[str],
                  repeat: int, anchor: datetime, workdir: Path, profile_dir: Path | None,
                  log: Any) -> list[Measure]:
    """Every variant `repeat` times (rounds interleaved), each on freshly built data;
    returns the best (shortest) run of each variant."""
    runs: dict[str, list[Measure]] = {v: [] for v in variants}
    for round_ in range(repeat):
        for variant in variants:
            t0 = time.perf_counter()
            build(backend, url, n, anchor)
            orders, items, due, due_items = due_counts(url, cutoff_now())
            log(f"  built {orders:,} orders / {items:,} items in "
                f"{time.perf_counter() - t0:.1f}s; due: {due:,} orders ({due / orders:.1%}) "
                f"+ {due_items:,} items")
            profile = str(profile_dir / f"{backend}-{variant}.prof") \
                if profile_dir and variant == "retention" else None
            data = run_child(variant, url, batch_size, profile,
                             workdir / f"{backend}-{variant}.stderr")
            m = Measure(backend, variant, data["seconds"], data["cpu"], data["orders"],
                        data["items"], data["peak_rss_kb"], data["baseline_rss_kb"])
            if (m.orders, m.items) != (due, due_items):
                raise SystemExit(f"{backend} {variant}: deleted {m.orders} orders / "
                                 f"{m.items} items, expected {due} / {due_items}")
            log(f"  [{round_ + 1}/{repeat}] {LABELS[variant]:<20} {m.seconds:8.2f}s wall "
                f"{m.cpu:7.2f}s cpu {m.rate:>10,.0f} rows/s  peak RSS "
                f"{m.peak_rss_kb / 1024:6.1f} MB")
            runs[variant].append(m)
    counts = {(m.orders, m.items) for ms in runs.values() for m in ms}
    if len(counts) != 1:
        raise SystemExit(f"{backend}: variants deleted different row counts: {counts}")
    log(f"  verified: every variant deleted the same {counts.pop()} (orders, items)")
    best = []
    for ms in runs.values():
        m = min(ms, key=lambda x: x.seconds)
        m.peak_rss_kb = max(x.peak_rss_kb for x in ms)
        best.append(m)
    return best


def report(all_results: list[Measure], n_by_backend: dict[str, int], batch_size: int,
           repeat: int) -> str:
    lines = [
        f"batch size {batch_size}; best of {repeat} run(s) per variant; rows = orders + "
        "order_items deleted; cpu = CPU seconds of the variant's own process (client side); "
        "peak RSS = ru_maxrss of that process (in brackets: its RSS before the variant "
        "started, i.e. Python with the libraries imported)",
        "",
        f"{'backend':<11} {'orders':>9} {'variant':<20} {'deleted':>9} {'wall s':>8} "
        f"{'cpu s':>7} {'rows/s':>10} {'peak RSS MB':>16} {'vs (b)':>7} {'vs (a)':>7}",
    ]
    for backend in dict.fromkeys(m.backend for m in all_results):
        ms = {m.variant: m for m in all_results if m.backend == backend}
        for variant in VARIANTS:
            if variant not in ms:
                continue
            m = ms[variant]
            vs_b = f"{m.seconds / ms['b'].seconds:.2f}x" if "b" in ms else "-"
            vs_a = f"{m.seconds / ms['a'].seconds:.2f}x" if "a" in ms else "-"
            lines.append(
                f"{backend:<11} {n_by_backend[backend]:>9,} {LABELS[variant]:<20} "
                f"{m.rows:>9,} {m.seconds:>8.2f} {m.cpu:>7.2f} {m.rate:>10,.0f} "
                f"{m.peak_rss_kb / 1024:>7.1f} ({m.baseline_rss_kb / 1024:5.1f}) "
                f"{vs_b:>7} {vs_a:>7}")
    lines.append("")
    for backend in dict.fromkeys(m.backend for m in all_results):
        ms = {m.variant: m for m in all_results if m.backend == backend}
        if "retention" in ms and "b" in ms:
            ratio = ms["retention"].seconds / ms["b"].seconds
            mem = ms["retention"].peak_rss_kb / 1024
            lines.append(f"{backend}: retention/(b) = {ratio:.2f}x "
                         f"[{'ok' if ratio <= 1.3 else 'MISSES'} target <= 1.3x], "
                         f"retention peak RSS {mem:.0f} MB "
                         f"[{'ok' if mem < 200 else 'MISSES'} target < 200 MB]")
    return "\n".join(lines)


def describe_b() -> str:
    out = ["(a) = one set-based DELETE per table, one transaction (the floor).",
           "(b) = keyset batches of hand-written SQL on the DBAPI connection, one transaction "
           "per batch, no audit trail:"]
    for dialect, name in (("postgresql", "PostgreSQL"), ("mysql", "MariaDB"),
                          ("sqlite", "SQLite")):
        sel, items, orders = b_statements(dialect)
        out.append(f"    {name}: {sel}; {items.format(marks='...')}; "
                   f"{orders.format(marks='...')}; COMMIT")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="orders per backend")
    p.add_argument("--quick", action="store_true", help="20,000 orders: a sanity check")
    p.add_argument("--backends", default="sqlite,postgresql,mysql")
    p.add_argument("--batch-size", type=int, default=2000)
    p.add_argument("--postgres-url", default=os.environ.get("RETENTION_BENCH_POSTGRES_URL",
                                                            DEFAULT_POSTGRES),
                   help=f"a server URL; the benchmark creates and uses database {BENCH_DB}")
    p.add_argument("--mysql-url", default=os.environ.get("RETENTION_BENCH_MYSQL_URL",
                                                         DEFAULT_MYSQL))
    p.add_argument("--mysql-rows", type=int, default=None,
                   help="orders on MariaDB/MySQL when different from --rows")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--repeat", type=int, default=1,
                   help="runs per variant (interleaved, each on fresh data); best is reported")
    p.add_argument("--profile-dir", type=Path, default=None,
                   help="cProfile the retention variant; write <backend>-retention.prof here")
    p.add_argument("--child", choices=VARIANTS, help=argparse.SUPPRESS)
    p.add_argument("--url", help=argparse.SUPPRESS)
    p.add_argument("--profile", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.child:
        child(args.child, args.url, args.batch_size, args.profile)
        return 0

    n = 20_000 if args.quick else args.rows
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    anchor = datetime.now(UTC).replace(tzinfo=None, microsecond=0) + timedelta(hours=12)

    def log(msg: str) -> None:
        print(msg, flush=True)

    log(describe_b())
    log("")
    all_results: list[Measure] = []
    n_by_backend: dict[str, int] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="retention-bench-") as tmp:
        workdir = Path(tmp)
        if args.profile_dir:
            args.profile_dir.mkdir(parents=True, exist_ok=True)
        for backend in backends:
            if backend == "sqlite":
                url = f"sqlite:///{workdir / 'bench.db'}"
            elif backend == "postgresql":
                admin, url = server_urls(backend, args.postgres_url)
                ensure_database(backend, admin)
            elif backend in ("mysql", "mariadb"):
                backend = "mysql"
                admin, url = server_urls(backend, args.mysql_url)
                ensure_database(backend, admin)
            else:
                raise SystemExit(f"unknown backend {backend!r}")
            rows = args.mysql_rows if backend == "mysql" and args.mysql_rows and not args.quick \
                else n
            n_by_backend[backend] = rows
            log(f"{backend}: {rows:,} orders, batch size {args.batch_size}")
            all_results += bench_backend(backend, url, rows, args.batch_size, variants,
                                         args.repeat, anchor, workdir, args.profile_dir, log)
            if backend == "sqlite":
                Path(workdir / "bench.db").unlink(missing_ok=True)
    log("")
    log(report(all_results, n_by_backend, args.batch_size, args.repeat))
    log(f"\ntotal benchmark time (builds included) {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
