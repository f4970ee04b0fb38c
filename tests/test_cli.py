"""The `retention` command: exit codes, stdout for data, stderr for one-line diagnostics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import click
import pytest
import sqlalchemy as sa
import structlog
from freezegun import freeze_time

from retention import __version__
from retention.cli import cli, main
from retention.errors import PolicyError
from retention.model import json_schema
from tests.conftest import CATEGORY_YAML
from tests.conftest import run_cli as retention

POLICY = CATEGORY_YAML + """
rules:
  - id: old-orders
    category: history
    table: orders
    expires: {after: 3 years, from: created_at}
    action: delete
"""
INVALID = CATEGORY_YAML + """
rules:
  - id: old-orders
    category: histroy
    table: orders
    expires: {after: 3 yeras, from: created_at}
    action: delete
"""
UNREACHABLE = "postgresql://user:s3cretpw@127.0.0.1:1/x"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No database, policies or secret from the caller's environment; logging reset after."""
    for name in ("RETENTION_DATABASE_URL", "RETENTION_POLICIES", "RETENTION_SECRET",
                 "RETENTION_SECRET_FILE"):
        monkeypatch.delenv(name, raising=False)
    yield
    structlog.reset_defaults()  # the CLI bound its logger to this test's captured stderr


@pytest.fixture
def shop(tmp_path: Path) -> str:
    """A SQLite shop with three orders: two older than three years on 2027-01-01."""
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    orders = sa.Table("orders", meta,
                      sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
                      sa.Column("created_at", sa.DateTime))
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(orders.insert(), [
            {"id": 1, "created_at": datetime(2020, 5, 1)},
            {"id": 2, "created_at": datetime(2023, 12, 31, 23, 59, 59)},
            {"id": 3, "created_at": datetime(2024, 1, 1, 0, 0, 1)},
        ])
    engine.dispose()
    return url


def order_ids(url: str) -> list[int]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        ids = [row[0] for row in conn.exec_driver_sql("SELECT id FROM orders ORDER BY id")]
    engine.dispose()
    return ids


# --------------------------------------------------------------------------- validate


def test_validate_ok_exits_0_and_keeps_stdout_empty(
        write_policy, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """A valid policy exits 0 with a one-line summary on stderr and nothing on stdout."""
    assert retention("validate", str(write_policy(POLICY))) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "ok: 1 rules in 1 categories from 1 file(s)\n"


def test_validate_invalid_policy_exits_3_with_every_issue_on_stderr(
        write_policy, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """Each problem is one `file:line:col: path: message` line on stderr, then a count; no
    traceback, nothing on stdout."""
    directory = write_policy(INVALID)
    assert retention("validate", str(directory)) == 3
    out, err = capsys.readouterr()
    assert out == ""
    file = directory / "policy.yaml"
    assert err.splitlines() == [
        f"{file}:9:15: rules.old-orders.category: unknown category 'histroy' "
        "(did you mean 'history'?)",
        f"{file}:11:22: rules.old-orders.expires.after: '3 yeras' is not a duration "
        "(try '3 years', '18 months', '90 days' or 'P3Y')",
        "2 problem(s) found; nothing was changed",
    ]
    assert "Traceback" not in err


def test_policies_option_and_environment_variable_name_the_policies(
        write_policy, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """Policies come from arguments, --policies, or RETENTION_POLICIES (':'-separated)."""
    directory = write_policy(POLICY)
    assert retention("validate", "--policies", str(directory)) == 0
    monkeypatch.setenv("RETENTION_POLICIES", f"{directory / 'nope.yaml'}:{directory}")
    assert retention("validate") == 3
    assert "nope.yaml:1:1: no such policy file or directory" in capsys.readouterr().err
    monkeypatch.setenv("RETENTION_POLICIES", str(directory))
    assert retention("validate") == 0


def test_debug_reraises_the_error_with_its_traceback(write_policy) -> None:  # type: ignore[no-untyped-def]
    """--debug lets the error propagate instead of printing one line."""
    with pytest.raises(PolicyError):
        main(["--debug", "validate", str(write_policy(INVALID))])


# --------------------------------------------------------------------------- usage errors


@pytest.mark.parametrize("command", ["plan", "run"])
def test_plan_and_run_without_database_exit_2(
        command: str, write_policy, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """Without --database or RETENTION_DATABASE_URL a command that needs one is a usage error."""
    assert retention(command, "--policies", str(write_policy(POLICY))) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "no database given: use --database URL or set RETENTION_DATABASE_URL" in err


@pytest.mark.parametrize("args", [
    ["plan", "--as-of", "2027-13-01"],
    ["plan", "--as-of", "next tuesday"],
    ["run", "--batch-size", "0"],
    ["plan", "--format", "xml"],
    ["frobnicate"],
])
def test_bad_options_exit_2_naming_the_problem(
        args: list[str], write_policy, shop: str,
        capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """An invalid option value or unknown command is a usage error; nothing runs."""
    assert retention(*args, *(["-p", str(write_policy(POLICY)), "-d", shop]
                              if args[0] != "frobnicate" else [])) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert "Error:" in err
    assert order_ids(shop) == [1, 2, 3]


def test_bad_as_of_names_the_option(write_policy, shop: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """A date that is not ISO 8601 is refused, quoting it."""
    assert retention("plan", "-p", str(write_policy(POLICY)), "-d", shop,
                     "--as-of", "2027-13-01") == 2
    assert "'2027-13-01' is not a date (YYYY-MM-DD) or ISO datetime" in capsys.readouterr().err


def test_unknown_rule_exits_3_listing_the_rules(write_policy, shop: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """--rule with an id the policy does not define names the known ids."""
    assert retention("plan", "-p", str(write_policy(POLICY)), "-d", shop, "--rule", "nope") == 3
    assert "no rule 'nope' (rules: old-orders)" in capsys.readouterr().err


# --------------------------------------------------------------------------- database errors


@pytest.mark.parametrize("args", [
    ["plan"],
    ["validate"],
    ["run"],
    ["audit", "show"],
])
@pytest.mark.parametrize("url", [UNREACHABLE, "mysql://user:s3cretpw@127.0.0.1:1/x"])
def test_unreachable_database_exits_75_with_one_line_hiding_the_password(
        args: list[str], url: str, write_policy, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """A database that cannot be reached is 'retry later' (75): one line on stderr, naming
    the server but not the password."""
    monkeypatch.setenv("RETENTION_SECRET", "x" * 40)
    policies = [] if args[0] == "audit" else ["-p", str(write_policy(POLICY))]
    assert retention(*args, *policies, "--database", url) == 75
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("error: cannot connect to ")
    assert "user:***@127.0.0.1:1/x" in err
    assert "s3cretpw" not in out + err


@pytest.mark.parametrize("command", ["plan", "validate"])
def test_read_only_commands_do_not_create_a_missing_sqlite_file(
        command: str, write_policy, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A mistyped SQLite path is an error, not a new empty database left behind."""
    missing = tmp_path / "typo.db"
    assert retention(command, "-p", str(write_policy(POLICY)), "-d", f"sqlite:///{missing}") != 0
    assert not missing.exists()


def test_database_url_from_the_environment(write_policy, shop: str,
                                           monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """RETENTION_DATABASE_URL stands in for --database."""
    monkeypatch.setenv("RETENTION_DATABASE_URL", shop)
    assert retention("plan", "-p", str(write_policy(POLICY)), "--as-of", "2027-01-01",
                     "--format", "json") == 0
    assert json.loads(capsys.readouterr().out)["database"] == shop


# --------------------------------------------------------------------------- plan and run


def test_plan_json_writes_only_json_to_stdout(write_policy, shop: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """`plan --format json` prints one JSON document: the cutoff and the rows due as of the
    given date; the database is not changed."""
    assert retention("plan", "-p", str(write_policy(POLICY)), "-d", shop,
                     "--as-of", "2027-01-01", "--format", "json") == 0
    out, _err = capsys.readouterr()
    plan = json.loads(out)
    assert plan["as_of"] == "2027-01-01T00:00:00+00:00"
    [rule] = plan["rules"]
    assert rule["rule_id"] == "old-orders"
    assert rule["cutoff"] == "<= 2024-01-01T00:00:00+00:00"
    assert [(c["label"], c["rows"]) for c in rule["counts"]] == [("orders", 2)]
    assert order_ids(shop) == [1, 2, 3]


@pytest.mark.parametrize(("as_of", "rows"), [
    ("2026-12-31T23:59:58Z", 1),   # order 2 is due a second later
    ("2026-12-31T23:59:59Z", 2),
    ("2027-01-01T00:00:00+00:00", 2),
    ("2027-01-01T00:00:01", 3),    # no offset: UTC
    ("2027-01-01T01:00:01+01:00", 3),
])
def test_plan_as_of_accepts_dates_and_iso_datetimes(
        as_of: str, rows: int, write_policy, shop: str,
        capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """--as-of takes a date or an ISO datetime (UTC unless an offset is given) and moves the
    cutoff with it, to the second."""
    assert retention("plan", "-p", str(write_policy(POLICY)), "-d", shop,
                     "--as-of", as_of, "--format", "json") == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["rules"][0]["counts"][0]["rows"] == rows


def test_plan_table_says_it_is_a_dry_run(write_policy, shop: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """The table form of the plan names the rule, its cutoff and states that nothing changes."""
    assert retention("plan", "-p", str(write_policy(POLICY)), "-d", shop,
                     "--as-of", "2027-01-01") == 0
    out = capsys.readouterr().out
    assert "dry run" in out
    assert "old-orders" in out
    assert "<= 2024-01-01T00:00:00+00:00" in out
    assert order_ids(shop) == [1, 2, 3]


def test_run_without_secret_exits_3_and_changes_nothing(
        write_policy, shop: str, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """`run` refuses to start without RETENTION_SECRET, saying how to make one."""
    assert retention("run", "-p", str(write_policy(POLICY)), "-d", shop) == 3
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: RETENTION_SECRET is not set")
    assert "openssl rand -hex 32" in err
    assert order_ids(shop) == [1, 2, 3]


def test_run_json_reports_on_stdout_and_logs_json_lines_on_stderr(
        write_policy, shop: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    """`run --format json` prints the result as JSON on stdout; off a terminal every stderr
    line is a JSON log event; the audit trail then shows the run."""
    monkeypatch.setenv("RETENTION_SECRET", "x" * 40)
    with freeze_time("2027-01-01T00:00:00Z"):
        assert retention("run", "-p", str(write_policy(POLICY)), "-d", shop,
                         "--format", "json") == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    events = [json.loads(line)["event"] for line in err.splitlines()]
    assert "run_started" in events and "run_finished" in events
    assert order_ids(shop) == [3]  # the orders due as of 2027-01-01 are gone
    run_id = result["run_id"]

    assert retention("audit", "show", "-d", shop, "--format", "json") == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["run_id"] == run_id
    assert summary["status"] == "completed"
    assert retention("audit", "show", "not-a-run", "-d", shop) == 2


def test_audit_show_on_a_database_without_runs_says_so(
        shop: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Without an audit trail `audit show` reports that no run is recorded and exits 0."""
    assert retention("audit", "show", "-d", shop) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "no runs recorded\n"


# --------------------------------------------------------------------------- schema, help, version


def test_schema_prints_the_json_schema_of_policy_files(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`schema` prints the policy JSON Schema on stdout, or writes the same text to -o FILE."""
    assert retention("schema") == 0
    out = capsys.readouterr().out
    schema = json.loads(out)
    assert schema == json_schema()
    assert {"rules", "categories", "settings"} <= set(schema["properties"])
    target = tmp_path / "schema.json"
    assert retention("schema", "-o", str(target)) == 0
    assert capsys.readouterr().out == ""
    assert target.read_text(encoding="utf-8") == out


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        yield (*prefix, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


@pytest.mark.parametrize("path", [(), *_commands(cli)],
                         ids=lambda p: " ".join(p) or "retention")
def test_every_command_has_help_with_examples(path: tuple[str, ...],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """`--help` of the tool and of every command exits 0 and shows examples."""
    assert retention(*path, "--help") == 0
    out = capsys.readouterr().out
    assert out.startswith(f"Usage: retention {' '.join(path)}".rstrip())
    assert "Example" in out


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    """--version prints 'retention, version X' and exits 0."""
    assert retention("--version") == 0
    assert capsys.readouterr().out == f"retention, version {__version__}\n"
