"""`retention config show`: the settings a command would run with, and where each came from."""

from __future__ import annotations

import json
import os
import re
from typing import Any

import click
from click.core import ParameterSource

from .config import loaded_config, option_key
from .database import safe_url
from .errors import ConfigError
from .secrets import SECRET_ENV, SECRET_FILE_ENV, load_secrets

_CREDENTIALS = re.compile(r"(://[^:/@]*:)[^@/]*@")


@click.group("config")
def config_group() -> None:
    """Inspect the configuration (config file, environment, defaults).

    \b
    Examples:
      retention config show
      retention config show run --batch-size 500
    """


def _shown(name: str | None, value: Any) -> Any:
    if value is None or value == ():
        return None
    if name == "database":
        return safe_url(str(value))
    if isinstance(value, tuple | list):
        return [_shown(None, v) for v in value]
    if isinstance(value, str):
        return _CREDENTIALS.sub(r"\1***@", value)  # a Pushgateway URL with basic auth
    return value


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value).lower() if isinstance(value, bool) else str(value)


def _source(ctx: click.Context, param: click.Parameter, file: str | None,
            notes: dict[str, str]) -> str:
    source = ctx.get_parameter_source(str(param.name))
    if source is ParameterSource.COMMANDLINE:
        return "flag"
    if source is ParameterSource.ENVIRONMENT:
        envvar = param.envvar if isinstance(param.envvar, str) else next(
            (e for e in param.envvar or () if os.environ.get(e)), "?")
        return f"env ({envvar})"
    if source is ParameterSource.DEFAULT_MAP:
        return notes.get(str(param.name), f"file ({file})")
    return "default"


def _secret_status() -> tuple[str, str]:
    """Whether the run's secret is set and where from; never the secret itself."""
    origin = SECRET_FILE_ENV if os.environ.get(SECRET_FILE_ENV) else SECRET_ENV
    if not os.environ.get(origin):
        return "not set", "-"
    try:
        load_secrets()
    except ConfigError as err:
        return f"invalid: {err}", f"env ({origin})"
    return f"set (from {origin})", f"env ({origin})"


def _target(root: click.Context, words: list[str]) -> click.Context:
    """The context `retention WORDS...` would run in, options parsed, the command not run."""
    ctx, command = root, root.command
    while isinstance(command, click.Group):
        name = words.pop(0) if words else None
        sub = command.get_command(ctx, name) if name else None
        if sub is None:
            known = ", ".join(sorted(command.list_commands(ctx)))
            raise click.UsageError(f"no command {name!r} (commands: {known})" if name
                                   else f"name a command of {command.name}: {known}")
        if isinstance(sub, click.Group):  # resilient: a group without arguments shows help
            ctx = sub.make_context(name, [], parent=ctx, resilient_parsing=True)
        else:
            ctx = sub.make_context(name, words, parent=ctx)
        command = sub
    return ctx


@config_group.command("show", context_settings={"ignore_unknown_options": True,
                                                "allow_interspersed_args": False})
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@click.argument("words", nargs=-1, type=click.UNPROCESSED, metavar="[COMMAND [OPTIONS]...]")
@click.pass_context
def config_show(ctx: click.Context, fmt: str, words: tuple[str, ...]) -> int:
    """Print the settings COMMAND (default: schedule) would run with and where each came
    from: flag, env (VARIABLE), file (PATH) or default. Passwords and secrets are hidden.

    Options after COMMAND are read as that command would read them.

    \b
    Examples:
      retention config show
      retention config show run
      retention --config /etc/retention/retention.yaml config show run --batch-size 500
      retention config show --format json healthcheck
    """
    loaded = loaded_config(ctx)
    root = ctx.find_root()
    target = _target(root, list(words) or ["schedule"])
    rows: list[dict[str, Any]] = []
    for context in (root, target):
        for param in context.command.params:
            if not isinstance(param, click.Option) or param.name in ("version", "config_path"):
                continue
            rows.append({
                "setting": option_key(param), "value": _shown(param.name,
                                                              context.params.get(param.name)),
                "source": _source(context, param, loaded.path, loaded.notes),
                "env": param.envvar if isinstance(param.envvar, str) else None,
            })
    secret, secret_source = _secret_status()
    rows.append({"setting": "secret", "value": secret, "source": secret_source,
                 "env": f"{SECRET_ENV} or {SECRET_FILE_ENV}"})
    command = target.command_path.removeprefix(root.command_path).strip()
    if fmt == "json":
        click.echo(json.dumps({"command": command, "config_file": loaded.path,
                               "settings": rows}, indent=2))
        return 0
    click.echo(f"settings of `retention {command}` (config file: {loaded.path or 'none'}; "
               f"precedence: flag > env > file > default)")
    texts = [_text(r["value"]) for r in rows]
    width = max(len(r["setting"]) for r in rows)
    value_width = min(60, max(len(t) for t in texts))
    source_width = max(len(r["source"]) for r in rows)
    for row, text in zip(rows, texts, strict=True):
        env = f"  {row['env']}" if row["env"] else ""
        click.echo(f"  {row['setting']:<{width}}  {text:<{value_width}}  "
                   f"{row['source']:<{source_width}}{env}".rstrip())
    return 0
