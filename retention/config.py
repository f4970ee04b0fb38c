"""Settings from a config file and the environment, merged by click itself.

click resolves every option from, in order, the command line, its environment variable, the
context's `default_map` and its default. The config file becomes the `default_map`, so the
precedence is flag > env > file > default without any merging code of ours. Secrets never come
from the file: a database URL holding a password is refused there, and the pseudonym secret has
no key at all.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import click
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from .durations import fixed_seconds
from .errors import ConfigError, Issue
from .yamlsource import Source, YamlIssues, load_source

CONFIG_ENV = "RETENTION_CONFIG"
DEFAULT_CONFIG = "retention.yaml"
DATABASE_URL_ENV = "RETENTION_DATABASE_URL"
DATABASE_URL_FILE_ENV = "RETENTION_DATABASE_URL_FILE"
ENV_PREFIX = "RETENTION"
META_KEY = "retention.config"
# One-off switches stay off the environment: RETENTION_RUN_FORCE=1 left in a container's
# environment would silently lift the caps of every night's run.
NO_ENVVAR = frozenset({"force", "version", "help"})
# Keys of the file that hold paths: relative ones are read from the file's directory.
PATH_KEYS = frozenset({"policies", "heartbeat_file", "stop_file", "metrics_textfile",
                       "anchor_file"})
# Top-level keys that every command having an option of that name takes.
SHARED_KEYS = ("database", "policies", "heartbeat_file")
SECRET_HINTS = {
    "secret": "secrets are never read from the config file: set RETENTION_SECRET or "
              "RETENTION_SECRET_FILE",
    "password": "passwords are never read from the config file: put the database URL in "
                "RETENTION_DATABASE_URL or RETENTION_DATABASE_URL_FILE",
}

def _duration(text: str) -> str:
    fixed_seconds(text)
    return text


def _cron(text: str) -> str:
    from .scheduler import cron_trigger

    cron_trigger(text, "UTC")
    return text


def _zone(text: str) -> str:
    from .scheduler import zone_info

    zone_info(text)
    return text


def _listed(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


FixedDuration = Annotated[str, AfterValidator(_duration)]
Format = Literal["table", "json"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _SweepSettings(_Section):
    batch_size: StrictInt | None = Field(None, ge=1, le=100_000)
    max_runtime: FixedDuration | None = None
    stop_file: str | None = None
    clock_tolerance: FixedDuration | None = None
    sleep: float | None = Field(None, ge=0, le=3600)
    anchor_file: str | None = None


class RunSettings(_SweepSettings):
    format: Format | None = None
    metrics_textfile: str | None = None
    pushgateway: str | None = None


class ScheduleSettings(_SweepSettings):
    cron: Annotated[str, AfterValidator(_cron)] | None = None
    timezone: Annotated[str, AfterValidator(_zone)] | None = None
    misfire_grace_time: FixedDuration | None = None
    run_now: StrictBool | None = None
    metrics_port: StrictInt | None = Field(None, ge=1, le=65535)


class PlanSettings(_Section):
    format: Format | None = None


class HealthcheckSettings(_Section):
    max_stale: FixedDuration | None = None
    max_age: FixedDuration | None = None


class ConfigFile(_Section):
    """The config file. Section names are command names; keys are option names with `_`."""

    database: str | None = None
    policies: Annotated[list[str], BeforeValidator(_listed)] | None = None
    heartbeat_file: str | None = None
    log_format: Literal["auto", "json", "console"] | None = None
    run: RunSettings | None = None
    schedule: ScheduleSettings | None = None
    plan: PlanSettings | None = None
    healthcheck: HealthcheckSettings | None = None

    @field_validator("database")
    @classmethod
    def _no_password(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("not a valid SQLAlchemy URL (e.g. postgresql://user@host/shop)") \
                from None
        if url.password:
            raise ValueError(
                "the URL holds a password, which a config file must not hold in clear: put the "
                f"URL in {DATABASE_URL_ENV} or {DATABASE_URL_FILE_ENV} (a file only the "
                "service can read), or use the driver's own password file (~/.pgpass)")
        return value


SECTIONS: dict[str, type[_Section]] = {"run": RunSettings, "schedule": ScheduleSettings,
                                       "plan": PlanSettings, "healthcheck": HealthcheckSettings}


@dataclass
class Loaded:
    """What the group callback found: the file (as shown to the user), click's `default_map`
    and, per parameter name, a source label for values not from the file itself."""

    path: str | None = None
    default_map: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- reading the file


def _issues(source: Source, err: ValidationError) -> list[Issue]:
    out: list[Issue] = []
    for error in err.errors(include_input=False, include_url=False):
        path = tuple(p for p in error["loc"] if isinstance(p, str | int))
        if error["type"] == "extra_forbidden":
            key = str(path[-1])
            model = SECTIONS.get(str(path[0])) if len(path) == 2 else ConfigFile
            known = ", ".join(sorted(model.model_fields)) if model else ""
            hint = next((h for word, h in SECRET_HINTS.items() if word in key.lower()), None)
            message = f"unknown key ({hint})" if hint else f"unknown key (known here: {known})"
            out.append(source.issue(path, message, at_key=True))
        elif error["type"] == "value_error":
            out.append(source.issue(path, str(error.get("ctx", {}).get("error", error["msg"]))))
        else:
            out.append(source.issue(path, error["msg"]))
    return sorted(out, key=lambda i: (i.line, i.column))


def read_config(path: Path, shown: str) -> ConfigFile:
    """Parse and validate one config file; ConfigError with one `file:line:col: ...` line per
    problem (exit 3)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
        raise ConfigError(f"{shown}: cannot read the config file: {reason}") from None
    try:
        source = load_source(text, shown)
    except YamlIssues as err:
        raise ConfigError("\n".join(map(str, err.issues))) from None
    data = source.data if source.data is not None else {}
    if not isinstance(data, dict):
        raise ConfigError(f"{shown}:1:1: the config file must be a mapping of settings")
    try:
        return ConfigFile.model_validate(data)
    except ValidationError as err:
        raise ConfigError("\n".join(map(str, _issues(source, err)))) from None


def _database_url_file(env: dict[str, str] | os._Environ[str]) -> str | None:
    name = env.get(DATABASE_URL_FILE_ENV)
    if not name:
        return None
    if env.get(DATABASE_URL_ENV):
        raise ConfigError(f"both {DATABASE_URL_ENV} and {DATABASE_URL_FILE_ENV} are set; "
                          "set one of them")
    try:
        url = Path(name).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) else "not UTF-8 text"
        raise ConfigError(f"{DATABASE_URL_FILE_ENV}: cannot read {name}: {reason}") from None
    if not url:
        raise ConfigError(f"{DATABASE_URL_FILE_ENV}: {name} is empty; put the database URL "
                          "in it")
    return url


# --------------------------------------------------------------------------- click wiring


def option_key(param: click.Parameter) -> str:
    """A parameter's key in the config file: its long option name with `_` (`--sleep` ->
    `sleep`), which need not be its Python name (`pause`)."""
    names = [o for o in param.opts if o.startswith("--")]
    return (names[0][2:] if names else str(param.name)).replace("-", "_")


def assign_envvars(command: click.Command, prefix: str = ENV_PREFIX) -> None:
    """Give every option without one an environment variable named after the command path and
    the option: `run --batch-size` reads RETENTION_RUN_BATCH_SIZE. Options that name their own
    (RETENTION_DATABASE_URL, RETENTION_POLICIES, ...) keep it.

    click's `auto_envvar_prefix` would name them after the Python parameter instead
    (RETENTION_RUN_PAUSE for `--sleep`); this keeps the names the user sees in `--help`."""
    for param in command.params:
        if isinstance(param, click.Option) and param.envvar is None \
                and param.name not in NO_ENVVAR:
            param.envvar = f"{prefix}_{option_key(param).upper()}"
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            assign_envvars(sub, f"{prefix}_{name.upper().replace('-', '_')}")


def _resolve(key: str, value: Any, base: Path) -> Any:
    if key not in PATH_KEYS or value is None:
        return value
    if isinstance(value, list):
        return [str(base / v) for v in value]
    return str(base / value)


def build_default_map(root: click.Group, config: ConfigFile, base: Path,
                      shared_extra: dict[str, Any]) -> dict[str, Any]:
    """click's nested `default_map` for `root`: shared keys go to every command that has an
    option of that name, a section's keys to its command."""
    shared = {k: _resolve(k, getattr(config, k), base) for k in SHARED_KEYS
              if getattr(config, k) is not None}
    shared.update(shared_extra)

    def for_command(command: click.Command, section: _Section | None) -> dict[str, Any]:
        by_key = {option_key(p): p for p in command.params if p.name}
        out: dict[str, Any] = {str(by_key[k].name): v for k, v in shared.items() if k in by_key}
        if section is not None:
            for key, value in section.model_dump(exclude_none=True).items():
                if key not in by_key:  # a model key without its option: a bug, caught in tests
                    raise RuntimeError(f"config key {key!r} has no option --"
                                       f"{key.replace('_', '-')} in {command.name}")
                out[str(by_key[key].name)] = _resolve(key, value, base)
        if isinstance(command, click.Group):
            for name, sub in command.commands.items():
                out[name] = for_command(sub, None)
        return out

    result = for_command(root, None)
    if config.log_format is not None:
        result["log_format"] = config.log_format
    for name in SECTIONS:
        command = root.commands.get(name)
        section = getattr(config, name)
        if command is not None and section is not None:
            result[name] = for_command(command, section)
    return result


def load(value: str | None, root: click.Group) -> Loaded:
    """The config file named by `value` (--config / RETENTION_CONFIG), else ./retention.yaml if
    it exists, as click's `default_map` for `root`."""
    loaded = Loaded()
    if value:
        path = Path(value)
        if not path.is_file():
            raise ConfigError(f"{value}: config file not found (named by --config or "
                              f"{CONFIG_ENV})")
        loaded.path = value
    elif Path(DEFAULT_CONFIG).is_file():
        path = Path(DEFAULT_CONFIG)
        loaded.path = DEFAULT_CONFIG
    config = read_config(path, loaded.path) if loaded.path else ConfigFile()
    extra: dict[str, Any] = {}
    url = _database_url_file(os.environ)
    if url is not None:
        extra["database"] = url
        loaded.notes["database"] = f"env ({DATABASE_URL_FILE_ENV})"
    base = path.parent if loaded.path else Path()
    loaded.default_map = build_default_map(root, config, base, extra)
    return loaded


def _callback(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    root = ctx.command
    assert isinstance(root, click.Group)
    assign_envvars(root)
    loaded = load(value, root)
    ctx.default_map = {**(ctx.default_map or {}), **loaded.default_map}
    ctx.meta[META_KEY] = loaded


F = TypeVar("F", bound=Callable[..., Any])

# Eager: processed before the group's other options, so that `log_format` from the file
# reaches the group's own --log-format through the default_map too.
config_option: Callable[[F], F] = click.option(
    "--config", "config_path", envvar=CONFIG_ENV, metavar="PATH", is_eager=True,
    expose_value=False, callback=_callback, type=click.Path(dir_okay=False),
    help=f"Config file (env {CONFIG_ENV}; default ./{DEFAULT_CONFIG} if it exists). "
         "Precedence: option > environment > file > default.")


def loaded_config(ctx: click.Context) -> Loaded:
    """What the group callback loaded (an empty Loaded when the group was not invoked)."""
    value = ctx.find_root().meta.get(META_KEY)
    return value if isinstance(value, Loaded) else Loaded()
