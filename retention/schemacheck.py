"""Check a policy against the reflected database schema before anything runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa

from . import strategies
from .database import Catalog
from .errors import Issue, PolicyError
from .floors import cascade_floor_problems
from .model import (
    AllCondition,
    Anonymise,
    AnyCondition,
    ColumnCondition,
    Condition,
    ExistsCondition,
    Keep,
    NotExistsCondition,
    Related,
    Rule,
)
from .policy import Policy

Path = tuple[str | int, ...]


class KeyPath(tuple[str | int, ...]):
    """A path whose last step is a mapping key that is itself at fault (a missing column on the
    left of `on`, or under `anonymise`): reported at the key, not at its value."""


def check_schema(policy: Policy, catalog: Catalog, rule_ids: list[str] | None = None) -> None:
    """Raise PolicyError listing every way the policy does not fit the database."""
    issues: list[Issue] = []
    for rule in policy.rules:
        if rule_ids is not None and rule.id not in rule_ids:
            continue
        source, index = policy.origins[rule.id]
        for path, message in _rule_problems(rule, catalog):
            where = ("rules", index, *_as_written(source.data["rules"][index], path))
            issues.append(source.issue(where, message, at_key=isinstance(path, KeyPath)))
    if rule_ids is None:
        for index, keep in enumerate(policy.keeps):
            issues.extend(policy.keep_issue(index, path, message)
                          for path, message in _keep_problems(keep, catalog))
    if not issues:  # cascades are only known once the tables exist
        issues = cascade_floor_problems(policy, catalog, rule_ids)
    if issues:
        raise PolicyError(issues)


def _as_written(data: Any, path: Path) -> Path:
    """The model's path as the YAML spells it: a bare list of conditions is the model's
    `{all: [...]}`, so its 'all' step does not exist in the file."""
    out: list[str | int] = []
    node = data
    for step in path:
        if step == "all" and isinstance(node, list):
            continue
        out.append(step)
        if isinstance(node, dict):
            node = node.get(step)
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            node = node[step]
        else:
            node = None
    return tuple(out)


def _rule_problems(rule: Rule, catalog: Catalog) -> Iterator[tuple[Path, str]]:
    if not catalog.has_table(rule.table):
        yield ("table",), f"table {rule.table!r} does not exist in the database"
        return
    table = catalog.table(rule.table)
    yield from _key_problems(table, rule.key, catalog, ("key",))
    if rule.where is not None:
        yield from _condition_problems(rule.where, table, catalog, ("where",))
    if rule.expires is not None:
        name = rule.expires.from_
        if name not in table.c:
            yield ("expires", "from"), _no_column(table, name)
        else:
            ctype = table.c[name].type
            if rule.expires.epoch == "seconds":
                if not isinstance(ctype, sa.Integer):
                    yield ("expires", "epoch"), f"{name!r} is {ctype}, not an integer column"
            elif not isinstance(ctype, sa.Date | sa.DateTime):
                yield ("expires", "from"), (
                    f"{rule.table}.{name} is {ctype}, not a date/time column (for Unix "
                    "seconds add 'epoch: seconds')")
    yield from _action_problems(rule.action, table, ())
    yield from _related_problems(rule.related, table, catalog, ())


def _no_column(table: sa.Table | sa.Alias, name: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, [c.name for c in table.c], n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"column {name!r} does not exist in table {_name(table)!r}{hint}"


def _name(table: sa.Table | sa.Alias) -> str:
    return str(getattr(table, "name", table))


def _key_problems(table: sa.Table, key: list[str] | None, catalog: Catalog,
                  path: Path) -> Iterator[tuple[Path, str]]:
    if key is None:
        if not catalog.primary_key(table.name):
            yield (*path[:-1], "table"), (
                f"table {table.name!r} has no primary key; name its key columns with 'key'")
        return
    for i, name in enumerate(key):
        if name not in table.c:
            yield (*path, i), _no_column(table, name)


def _condition_problems(cond: Condition, table: sa.Table, catalog: Catalog,
                        path: Path) -> Iterator[tuple[Path, str]]:
    if isinstance(cond, ColumnCondition):
        if cond.column not in table.c:
            yield (*path, "column"), _no_column(table, cond.column)
    elif isinstance(cond, AllCondition | AnyCondition):
        items = cond.all if isinstance(cond, AllCondition) else cond.any
        key = "all" if isinstance(cond, AllCondition) else "any"
        for i, sub in enumerate(items):
            yield from _condition_problems(sub, table, catalog, (*path, key, i))
    elif isinstance(cond, ExistsCondition | NotExistsCondition):
        key = "exists" if isinstance(cond, ExistsCondition) else "not_exists"
        link = cond.exists if isinstance(cond, ExistsCondition) else cond.not_exists
        if not catalog.has_table(link.table):
            yield (*path, key, "table"), f"table {link.table!r} does not exist in the database"
            return
        other = catalog.table(link.table)
        for other_col, this_col in link.on.items():
            if other_col not in other.c:
                yield KeyPath((*path, key, "on", other_col)), _no_column(other, other_col)
            if this_col not in table.c:
                yield (*path, key, "on", other_col), _no_column(table, this_col)
        if link.where is not None:
            yield from _condition_problems(link.where, other, catalog, (*path, key, "where"))


def _action_problems(action: Any, table: sa.Table, path: Path) -> Iterator[tuple[Path, str]]:
    if not isinstance(action, Anonymise):
        return
    for name, spec in action.anonymise.items():
        where = (*path, "action", "anonymise", name)
        if name not in table.c:
            yield KeyPath(where), _no_column(table, name)
            continue
        for problem in strategies.fit_problems(spec, table.c[name]):
            yield where, problem
        if table.c[name].primary_key:
            yield where, f"{name!r} is part of the primary key; anonymise other columns"


def _related_problems(related: list[Related], parent: sa.Table, catalog: Catalog,
                      path: Path) -> Iterator[tuple[Path, str]]:
    for i, rel in enumerate(related):
        here = (*path, "related", i)
        if not catalog.has_table(rel.table):
            yield (*here, "table"), f"table {rel.table!r} does not exist in the database"
            continue
        table = catalog.table(rel.table)
        yield from _key_problems(table, rel.key, catalog, (*here, "key"))
        for child_col, parent_col in rel.on.items():
            if child_col not in table.c:
                yield KeyPath((*here, "on", child_col)), _no_column(table, child_col)
            if parent_col not in parent.c:
                yield (*here, "on", child_col), _no_column(parent, parent_col)
        if rel.where is not None:
            yield from _condition_problems(rel.where, table, catalog, (*here, "where"))
        yield from _action_problems(rel.action, table, here)
        yield from _related_problems(rel.related, table, catalog, here)


def _keep_problems(keep: Keep, catalog: Catalog) -> Iterator[tuple[Path, str]]:
    """A keep entry names a table and columns that exist: a typo would leave real personal
    data unaccounted for while the entry claims it."""
    if not catalog.has_table(keep.table):
        yield ("table",), f"table {keep.table!r} does not exist in the database"
        return
    table = catalog.table(keep.table)
    for i, name in enumerate(keep.columns or ()):
        if name not in table.c:
            yield ("columns", i), _no_column(table, name)
