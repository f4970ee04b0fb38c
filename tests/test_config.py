"""Configuration: a file, the environment and flags, merged flag > env > file > default, with
secrets kept out of the file and out of every output."""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import pytest
import sqlalchemy as sa

from retention.cli import cli
from retention.config import NO_ENVVAR, SECTIONS, option_key, read_config
from tests.conftest import SECRET, VISITS_POLICY
from tests.conftest import run_cli as retention

WritePolicy = Callable[[str], Path]

PASSWORD = "hunter2-Secret"


@pytest.fixture(autouse=True)
def clean_environment(cli_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The shared clean environment, and the test's own working directory: no retention.yaml
    found by accident."""
    monkeypatch.chdir(tmp_path)


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def settings(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, dict[str, Any]]:
    """`retention [args] config show --format json ...` as {setting: row}."""
    assert retention(*args) == 0, capsys.readouterr().err
    shown = json.loads(capsys.readouterr().out)
    return {row["setting"]: row for row in shown["settings"]}


# --------------------------------------------------------------------------- precedence


@pytest.mark.parametrize(("file", "env", "flag", "value", "source"), [
    (None, None, None, None, "default"),
    ("10", None, None, 10, "file (retention.yaml)"),
    ("10", "20", None, 20, "env (RETENTION_RUN_BATCH_SIZE)"),
    ("10", "20", "30", 30, "flag"),
    (None, "20", None, 20, "env (RETENTION_RUN_BATCH_SIZE)"),
], ids=["default", "file", "env-over-file", "flag-over-env", "env"])
def test_a_setting_comes_from_flag_then_env_then_file_then_default(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        file: str | None, env: str | None, flag: str | None, value: int | None,
        source: str) -> None:
    """`config show` reports the value a command would use and where it came from."""
    if file:
        write(tmp_path / "retention.yaml", f"run:\n  batch_size: {file}\n")
    if env:
        monkeypatch.setenv("RETENTION_RUN_BATCH_SIZE", env)
    args = ["config", "show", "--format", "json", "run"] + (["--batch-size", flag] if flag
                                                            else [])
    row = settings(capsys, *args)["batch_size"]
    assert (row["value"], row["source"]) == (value, source)
    assert row["env"] == "RETENTION_RUN_BATCH_SIZE"


def test_the_file_is_found_by_config_option_env_or_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """--config beats RETENTION_CONFIG, which beats ./retention.yaml."""
    write(tmp_path / "retention.yaml", "schedule:\n  cron: '0 1 * * *'\n")
    write(tmp_path / "env.yaml", "schedule:\n  cron: '0 2 * * *'\n")
    write(tmp_path / "flag.yaml", "schedule:\n  cron: '0 4 * * *'\n")
    assert settings(capsys, "config", "show", "--format", "json")["cron"]["value"] \
        == "0 1 * * *"
    monkeypatch.setenv("RETENTION_CONFIG", "env.yaml")
    row = settings(capsys, "config", "show", "--format", "json")["cron"]
    assert (row["value"], row["source"]) == ("0 2 * * *", "file (env.yaml)")
    row = settings(capsys, "--config", "flag.yaml", "config", "show", "--format", "json")["cron"]
    assert (row["value"], row["source"]) == ("0 4 * * *", "file (flag.yaml)")


def test_a_named_config_file_that_does_not_exist_exits_3(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert retention("--config", "missing.yaml", "config", "show") == 3
    assert capsys.readouterr().err == ("error: missing.yaml: config file not found (named by "
                                       "--config or RETENTION_CONFIG)\n")


def test_the_file_configures_the_commands_it_names(
        tmp_path: Path, write_policy: WritePolicy, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Top-level `database` and `policies` reach every command; relative paths are read from
    the file's directory; `log_format` reaches the group's own option."""
    write_policy(VISITS_POLICY)  # tmp_path/policies
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'shop.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE visits (id INTEGER PRIMARY KEY, created_at DATETIME)")
    engine.dispose()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    conf = tmp_path / "conf"
    conf.mkdir()
    write(conf / "retention.yaml", f"""
        database: sqlite:///{tmp_path / 'shop.db'}
        policies: ../policies
        log_format: json
        plan:
          format: json
        """)
    monkeypatch.chdir(elsewhere)
    assert retention("--config", str(tmp_path / "conf" / "retention.yaml"), "plan") == 0
    plan = json.loads(capsys.readouterr().out)
    assert [rule["rule_id"] for rule in plan["rules"]] == ["old-visits"]
    rows = settings(capsys, "--config", str(tmp_path / "conf" / "retention.yaml"), "config",
                    "show", "--format", "json", "plan")
    assert rows["policies"]["value"] == [str(tmp_path / "conf" / ".." / "policies")]
    assert rows["log_format"]["source"].startswith("file (")


def test_shared_keys_reach_nested_commands(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`database` in the file is the default of `audit show` too (a group's subcommand)."""
    write(tmp_path / "retention.yaml", "database: sqlite:///trail.db\n")
    row = settings(capsys, "config", "show", "--format", "json", "audit", "show")["database"]
    assert (row["value"], row["source"]) == ("sqlite:///trail.db", "file (retention.yaml)")


def test_the_example_in_the_scheduling_docs_is_a_valid_config_file(tmp_path: Path) -> None:
    """docs/scheduling.md's retention.yaml example passes the checks it describes."""
    docs = (Path(__file__).parent.parent / "docs" / "scheduling.md").read_text(encoding="utf-8")
    example = re.search(r"```yaml\n(# retention.yaml.*?)```", docs, re.DOTALL)
    assert example is not None
    config = read_config(write(tmp_path / "example.yaml", example.group(1)), "example.yaml")
    assert config.schedule is not None and config.schedule.cron == "0 3 * * *"
    assert config.run is not None and config.run.batch_size == 2000


# --------------------------------------------------------------------------- secrets


def test_config_show_hides_the_password_and_the_secret(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The URL's password becomes ***, the secret is only said to be set, and from where."""
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    monkeypatch.setenv("RETENTION_DATABASE_URL", f"postgresql://sweeper:{PASSWORD}@db/shop")
    monkeypatch.setenv("RETENTION_SECRET_FILE", str(secret_file))
    assert retention("config", "show", "run", "--pushgateway",
                     f"https://push:{PASSWORD}@gateway:9091") == 0
    out, err = capsys.readouterr()
    assert PASSWORD not in out + err
    assert SECRET not in out + err
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "postgresql://sweeper:***@db/shop" in lines["database"]
    assert "env (RETENTION_DATABASE_URL)" in lines["database"]
    assert "https://push:***@gateway:9091" in lines["pushgateway"]
    assert "set (from RETENTION_SECRET_FILE)" in lines["secret"]


def test_the_database_url_may_come_from_a_file_named_in_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """RETENTION_DATABASE_URL_FILE holds the URL (a container secret); it beats the config
    file, is shown as its source, and may not be combined with RETENTION_DATABASE_URL."""
    url_file = tmp_path / "url"
    url_file.write_text(f"mysql://sweeper:{PASSWORD}@db/magento\n", encoding="utf-8")
    write(tmp_path / "retention.yaml", "database: mysql://sweeper@other/magento\n")
    monkeypatch.setenv("RETENTION_DATABASE_URL_FILE", str(url_file))
    row = settings(capsys, "config", "show", "--format", "json", "run")["database"]
    assert row["value"] == "mysql://sweeper:***@db/magento"
    assert row["source"] == "env (RETENTION_DATABASE_URL_FILE)"
    monkeypatch.setenv("RETENTION_DATABASE_URL", "sqlite:///x.db")
    assert retention("config", "show") == 3
    assert capsys.readouterr().err == (
        "error: both RETENTION_DATABASE_URL and RETENTION_DATABASE_URL_FILE are set; set one "
        "of them\n")


def test_a_config_file_with_a_database_password_is_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Exit 3, one line naming the file and line, never the password; nothing runs."""
    write(tmp_path / "retention.yaml", f"""
        # production
        database: postgresql://sweeper:{PASSWORD}@db/shop
        """)
    assert retention("run") == 3
    out, err = capsys.readouterr()
    assert out == ""
    assert PASSWORD not in err
    assert len(err.splitlines()) == 1
    assert err.startswith("error: retention.yaml:2:11: database: the URL holds a password, "
                          "which a config file must not hold in clear: put the URL in "
                          "RETENTION_DATABASE_URL or RETENTION_DATABASE_URL_FILE")


@pytest.mark.parametrize(("text", "line"), [
    ("run:\n  batch_size: 10\n  batch_sise: 20\n",
     "retention.yaml:3:3: run.batch_sise: unknown key (known here: anchor_file, batch_size, "
     "clock_tolerance, format, max_runtime, metrics_textfile, pushgateway, sleep, stop_file)"),
    ("databse: sqlite:///x.db\n",
     "retention.yaml:1:1: databse: unknown key (known here: database, healthcheck, "
     "heartbeat_file, log_format, plan, policies, run, schedule)"),
    ("secret: abc\n",
     "retention.yaml:1:1: secret: unknown key (secrets are never read from the config file: "
     "set RETENTION_SECRET or RETENTION_SECRET_FILE)"),
    ("run:\n  batch_size: many\n",
     "retention.yaml:2:15: run.batch_size: Input should be a valid integer"),
    ("schedule:\n  cron: '0 3 * *'\n",
     "retention.yaml:2:9: schedule.cron: '0 3 * *' is not a cron expression: it needs 5 fields "
     "(minute hour day-of-month month day-of-week), e.g. '0 3 * * *'"),
    ("schedule:\n  timezone: Europe/Olso\n",
     "retention.yaml:2:13: schedule.timezone: unknown time zone 'Europe/Olso' (an IANA name "
     "such as 'Europe/Oslo' or 'UTC')"),
    ("healthcheck:\n  max_age: 2 months\n",
     "retention.yaml:2:12: healthcheck.max_age: '2 months': give it in days, hours, minutes or "
     "seconds"),
    ("run:\n  batch_size: 1\n  batch_size: 2\n",
     "retention.yaml:3:3: run.batch_size: duplicate key 'batch_size' (first given on line 2); "
     "remove one of them"),
    ("- run\n", "retention.yaml:1:1: the config file must be a mapping of settings"),
], ids=["unknown-key", "unknown-top-key", "secret-key", "type", "cron", "timezone", "months",
        "duplicate", "not-a-mapping"])
def test_a_bad_config_file_is_one_line_naming_file_line_and_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, line: str) -> None:
    """Exit 3 with `error: FILE:LINE:COL: KEY: what is wrong`, for any command."""
    write(tmp_path / "retention.yaml", text)
    assert retention("plan") == 3
    assert capsys.readouterr().err == f"error: {line}\n"


# --------------------------------------------------------------------------- the option tree


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[
        tuple[tuple[str, ...], click.Command]]:
    for name, command in sorted(group.commands.items()):
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))


def test_every_option_has_an_environment_variable_and_explicit_ones_are_kept(
        capsys: pytest.CaptureFixture[str]) -> None:
    """After the group has run, every option (one-off switches aside) reads RETENTION_...;
    the names that existed before (RETENTION_DATABASE_URL, ...) are unchanged."""
    assert retention("config", "show") == 0
    capsys.readouterr()
    seen: dict[str, str] = {}
    for path, command in [((), cli), *_commands(cli)]:
        for param in command.params:
            if not isinstance(param, click.Option) or param.name in NO_ENVVAR:
                continue
            assert isinstance(param.envvar, str), (path, param.name)
            if param.name == "database":
                assert param.envvar == "RETENTION_DATABASE_URL"
            elif param.name == "policies":
                assert param.envvar == "RETENTION_POLICIES"
            elif param.name == "stop_file":
                assert param.envvar == "RETENTION_STOP_FILE"
            elif param.name == "config_path":
                assert param.envvar == "RETENTION_CONFIG"
            elif param.name != "heartbeat_file":
                expected = "_".join(["RETENTION", *(p.upper().replace("-", "_") for p in path),
                                     option_key(param).upper()])
                assert param.envvar == expected
            seen.setdefault(param.envvar, " ".join(path))
    assert seen["RETENTION_SCHEDULE_CRON"] == "schedule"
    assert seen["RETENTION_RUN_SLEEP"] == "run"  # named after --sleep, not its Python name


def test_an_environment_variable_sets_an_option(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RETENTION_SCHEDULE_RUN_NOW", "1")
    monkeypatch.setenv("RETENTION_LOG_FORMAT", "json")
    rows = settings(capsys, "config", "show", "--format", "json", "schedule")
    assert (rows["run_now"]["value"], rows["run_now"]["source"]) == (
        True, "env (RETENTION_SCHEDULE_RUN_NOW)")
    assert rows["log_format"]["value"] == "json"


def test_force_is_never_read_from_the_environment(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A forgotten RETENTION_RUN_FORCE=1 would lift every night's caps."""
    monkeypatch.setenv("RETENTION_RUN_FORCE", "1")
    row = settings(capsys, "config", "show", "--format", "json", "run")["force"]
    assert (row["value"], row["source"]) == (False, "default")


def test_every_key_of_the_config_file_is_an_option_of_its_command() -> None:
    """A key the model accepts but no option reads would be silently ignored."""
    for name, model in SECTIONS.items():
        command = cli.commands[name]
        keys = {option_key(p) for p in command.params}
        assert set(model.model_fields) <= keys, name


def test_every_command_has_help_and_is_in_the_readme(
        capsys: pytest.CaptureFixture[str]) -> None:
    """`--help` of the tool and of every command, nested ones included, exits 0, and the
    README mentions every command as `retention PATH`."""
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    missing = []
    assert retention("--help") == 0
    assert capsys.readouterr().out.startswith("Usage: retention [OPTIONS] COMMAND")
    for path, _command in _commands(cli):
        assert retention(*path, "--help") == 0
        assert capsys.readouterr().out.startswith(f"Usage: retention {' '.join(path)}")
        # `retention schedule` must be there on its own, not only as `retention schedule-report`
        if not re.search(rf"retention {re.escape(' '.join(path))}(?![\w-])", readme):
            missing.append(" ".join(path))
    assert missing == [], f"README.md does not mention: {', '.join(missing)}"
