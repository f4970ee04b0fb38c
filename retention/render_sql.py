"""`plan --sql`: the statements a run executes for each batch, compiled for the database."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

from . import statements
from .compile import CompiledRule, Node
from .database import single_key_in


def _render(stmt: sa.ClauseElement, dialect: Dialect) -> str:
    # The database's own SQL, with named placeholders (:cutoff) instead of the driver's ? or %s
    # so that the parameter list below can be read against it.
    named = type(dialect)(paramstyle="named")  # type: ignore[call-arg]  # every dialect takes it
    named.server_version_info = dialect.server_version_info
    compiled = stmt.compile(dialect=named)
    params = {k: v for k, v in compiled.params.items() if v is not None}
    text = re.sub(r"__\[POSTCOMPILE_(\w+)\]", r":\1", str(compiled).strip())
    if params:
        text += "\n-- parameters: " + ", ".join(f"{k}={v!r}" for k, v in params.items())
    return text + ";"


def _in(columns: list[sa.Column[Any]], name: str, dialect: str) -> sa.ColumnElement[bool]:
    """The key-list condition a batch uses, with a named placeholder for the values."""
    if len(columns) == 1:
        return single_key_in(columns[0], dialect, name=name)
    return sa.tuple_(*columns).in_(sa.bindparam(name, expanding=True))


def rule_sql(compiled: CompiledRule, dialect: Dialect, batch_size: int) -> list[str]:
    """The keyset SELECT of the target, then each table's statements, children first."""
    root = compiled.root
    size = compiled.rule.batch_size or batch_size
    select = statements.batch_select(root, root.fetch_columns(), sa.bindparam("last_key"), size,
                                     dialect)
    out = [f"-- {root.label}: next batch of {size} (the first batch has no last_key condition)\n"
           + _render(select, dialect)]
    out.extend(_node_sql(root, dialect, None))
    return out


def _node_sql(node: Node, dialect: Dialect, parent: Node | None) -> list[str]:
    out: list[str] = []
    if parent is None:
        match = _in(node.key, "keys", dialect.name)
        source = "the batch keys"
    else:
        match = _in([c for c, _p in node.link], "parent_values", dialect.name)
        source = "parent values of " + ", ".join(p for _c, p in node.link)
        needs_rows = node.action != "delete" or node.children or node.cascades
        if needs_rows:
            out.append(f"-- {node.label}: select rows matching {source}\n" + _render(
                statements.child_select(node, node.fetch_columns(), match, dialect.name),
                dialect))
            match = _in(node.key, "keys", dialect.name)
            source = "the selected keys"
    for child in node.children:
        out.extend(_node_sql(child, dialect, node))
    recheck = node.where
    if node.action == "delete":
        stmt: Any = statements.delete(node, match, recheck)
        verb = "delete"
    elif statements.set_based(node):
        stmt = statements.set_update(node, match, recheck)
        verb = "anonymise"
    else:
        stmt = statements.row_update(node, recheck)
        verb = "anonymise (one parameter set per changed row, values computed by the tool)"
        source = "each key"
    out.append(f"-- {node.label}: {verb}, rows matching {source}\n" + _render(stmt, dialect))
    return out
